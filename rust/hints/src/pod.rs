//! Which pods are best-effort: the configurable rule, applied to the full
//! `v1.Pod` kube-scheduler sends (its JSON keys are the core API's own:
//! `metadata.labels`, `spec.priorityClassName`, `status.qosClass`).

use serde_json::Value;

/// A pod is best-effort when any configured rule matches it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BestEffortRule {
    /// `status.qosClass` is `BestEffort` (no requests or limits at all).
    pub qos_class: bool,
    /// `spec.priorityClassName` is one of these.
    pub priority_classes: Vec<String>,
    /// `metadata.labels` has one of these (key, value) pairs.
    pub labels: Vec<(String, String)>,
}

impl BestEffortRule {
    /// Whether `pod` (a `v1.Pod` as JSON) is best-effort, and by which rule.
    pub fn matches(&self, pod: &Value) -> Option<&'static str> {
        let text = |path: &[&str]| {
            let mut v = pod;
            for key in path {
                v = v.get(key)?;
            }
            v.as_str()
        };
        if self.qos_class && text(&["status", "qosClass"]) == Some("BestEffort") {
            return Some("status.qosClass");
        }
        if let Some(class) = text(&["spec", "priorityClassName"]) {
            if self.priority_classes.iter().any(|c| c == class) {
                return Some("spec.priorityClassName");
            }
        }
        let labels = pod.get("metadata").and_then(|m| m.get("labels"));
        if let Some(labels) = labels.and_then(Value::as_object) {
            for (k, v) in &self.labels {
                if labels.get(k).and_then(Value::as_str) == Some(v.as_str()) {
                    return Some("metadata.labels");
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule() -> BestEffortRule {
        BestEffortRule {
            qos_class: true,
            priority_classes: vec!["batch-low".into()],
            labels: vec![("serenity.io/best-effort".into(), "true".into())],
        }
    }

    #[test]
    fn each_rule_matches_its_own_field_of_a_v1_pod() {
        let r = rule();
        let qos = json!({"metadata": {"name": "p"}, "status": {"qosClass": "BestEffort"}});
        let class = json!({"spec": {"priorityClassName": "batch-low"}, "status": {"qosClass": "Burstable"}});
        let label = json!({"metadata": {"labels": {"serenity.io/best-effort": "true"}}});
        assert_eq!(r.matches(&qos), Some("status.qosClass"));
        assert_eq!(r.matches(&class), Some("spec.priorityClassName"));
        assert_eq!(r.matches(&label), Some("metadata.labels"));
    }

    #[test]
    fn other_pods_and_odd_shapes_do_not_match() {
        let r = rule();
        for pod in [
            json!({}),
            json!({"status": {"qosClass": "Guaranteed"}}),
            json!({"status": "BestEffort"}),
            json!({"metadata": {"labels": {"serenity.io/best-effort": "false"}}}),
            json!({"metadata": {"labels": ["serenity.io/best-effort"]}}),
            json!({"spec": {"priorityClassName": 7}}),
        ] {
            assert_eq!(r.matches(&pod), None, "{pod}");
        }
        let off = BestEffortRule::default();
        assert_eq!(
            off.matches(&json!({"status": {"qosClass": "BestEffort"}})),
            None
        );
    }
}
