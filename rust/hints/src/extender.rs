//! The Kubernetes scheduler extender v1 wire format, as kube-scheduler
//! speaks it.
//!
//! Checked against `k8s.io/kube-scheduler/extender/v1/types.go` and its
//! `types_test.go` (kubernetes/kubernetes, staging, as of v1.33; unchanged
//! since the package moved to staging in v1.19, PR #88540). Those types
//! carry **no json tags**, so Go's encoding/json writes the Go field names:
//! kube-scheduler sends `{"Pod": {...}, "Nodes": {...}, "NodeNames": [...]}`
//! and decodes answers case-insensitively (upstream's TestCompatibility
//! checks that lowercased JSON decodes the same). So this module
//!
//! - reads `ExtenderArgs` keys case-insensitively, as Go does (an exact
//!   match first: `Pod`, `Nodes`, `NodeNames`; then any casing, so the
//!   lowercase `pod`, `nodes`, `nodenames` of many examples work too);
//! - writes the Go field names upstream's own marshalling produces:
//!   `ExtenderFilterResult` {`Nodes`, `NodeNames`, `FailedNodes`,
//!   `FailedAndUnresolvableNodes`, `Error`} and `HostPriorityList`
//!   `[{"Host", "Score"}]`, score 0..=10 (`MaxExtenderPriority`).
//!
//! The pod and nodes inside are core API objects (`v1.Pod`, `v1.NodeList`)
//! with their usual lowercase json keys (`metadata.name`, `items`,
//! `status.qosClass`); they are kept as JSON and passed back untouched.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What kube-scheduler asked about (`ExtenderArgs`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExtenderArgs {
    /// The pod being scheduled (a `v1.Pod`).
    pub pod: Value,
    /// `Nodes` (nodeCacheCapable = false): the `v1.NodeList` object, whose
    /// `items` are in `node_items`.
    pub nodes: Option<Map<String, Value>>,
    /// The `items` of `Nodes`, each with its `metadata.name`.
    pub node_items: Vec<(String, Value)>,
    /// `NodeNames` (nodeCacheCapable = true).
    pub node_names: Option<Vec<String>>,
}

impl ExtenderArgs {
    /// The candidate node names: `NodeNames` when given, else the names of
    /// `Nodes`' items.
    pub fn names(&self) -> Vec<&str> {
        match &self.node_names {
            Some(names) => names.iter().map(String::as_str).collect(),
            None => self.node_items.iter().map(|(n, _)| n.as_str()).collect(),
        }
    }
}

/// The value of `key` in `object` the way Go's encoding/json finds a field:
/// the exact name first, else the first key equal to it ignoring case.
fn field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Parses an `ExtenderArgs` body; the error names the field and what was
/// wrong with it.
pub fn parse_args(body: &[u8]) -> Result<ExtenderArgs, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the body is not JSON (ExtenderArgs expected): {e}"))?;
    let Value::Object(object) = value else {
        return Err(format!(
            "ExtenderArgs must be a JSON object, not {}",
            kind(&value)
        ));
    };
    let pod = match field(&object, "Pod") {
        Some(p @ Value::Object(_)) => p.clone(),
        Some(other) => {
            return Err(format!(
                "ExtenderArgs.Pod must be a v1.Pod object, not {}",
                kind(other)
            ))
        }
        None => return Err("ExtenderArgs has no `Pod`".into()),
    };
    let (nodes, node_items) = match field(&object, "Nodes") {
        None | Some(Value::Null) => (None, Vec::new()),
        Some(Value::Object(list)) => {
            let items = match list.get("items") {
                Some(Value::Array(items)) => items,
                None | Some(Value::Null) => &Vec::new(),
                Some(other) => {
                    return Err(format!(
                        "ExtenderArgs.Nodes.items must be an array, not {}",
                        kind(other)
                    ))
                }
            };
            let mut named = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let name = item
                    .get("metadata")
                    .and_then(|m| m.get("name"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        format!("ExtenderArgs.Nodes.items[{i}] has no string `metadata.name`")
                    })?;
                named.push((name.to_owned(), item.clone()));
            }
            (Some(list.clone()), named)
        }
        Some(other) => {
            return Err(format!(
                "ExtenderArgs.Nodes must be a v1.NodeList object, not {}",
                kind(other)
            ))
        }
    };
    let node_names = match field(&object, "NodeNames") {
        None | Some(Value::Null) => None,
        Some(Value::Array(names)) => {
            let mut out = Vec::with_capacity(names.len());
            for (i, n) in names.iter().enumerate() {
                match n {
                    Value::String(s) => out.push(s.clone()),
                    other => {
                        return Err(format!(
                            "ExtenderArgs.NodeNames[{i}] must be a string, not {}",
                            kind(other)
                        ))
                    }
                }
            }
            Some(out)
        }
        Some(other) => {
            return Err(format!(
                "ExtenderArgs.NodeNames must be an array of names, not {}",
                kind(other)
            ))
        }
    };
    if nodes.is_none() && node_names.is_none() {
        return Err(
            "ExtenderArgs has neither `Nodes` (nodeCacheCapable: false) nor `NodeNames` \
             (nodeCacheCapable: true)"
                .into(),
        );
    }
    Ok(ExtenderArgs {
        pod,
        nodes,
        node_items,
        node_names,
    })
}

/// A JSON value's kind, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `ExtenderFilterResult`, with the field names Go writes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtenderFilterResult {
    /// The nodes that passed, as a `v1.NodeList` (when asked with `Nodes`).
    #[serde(rename = "Nodes")]
    pub nodes: Option<Map<String, Value>>,
    /// The names that passed (when asked with `NodeNames`).
    #[serde(rename = "NodeNames")]
    pub node_names: Option<Vec<String>>,
    /// Filtered-out nodes and why.
    #[serde(rename = "FailedNodes")]
    pub failed_nodes: BTreeMap<String, String>,
    /// Filtered-out nodes that preemption would not help (none here:
    /// revoking best-effort work can cure contention).
    #[serde(rename = "FailedAndUnresolvableNodes")]
    pub failed_and_unresolvable_nodes: BTreeMap<String, String>,
    /// An error for the whole request (empty when there is none).
    #[serde(rename = "Error")]
    pub error: String,
}

impl ExtenderFilterResult {
    /// The answer to `args` where `passed[i]` says whether the i-th
    /// candidate passed and `failed` holds the reasons of those that did
    /// not.
    pub fn of(
        args: &ExtenderArgs,
        passed: &[bool],
        failed: BTreeMap<String, String>,
    ) -> ExtenderFilterResult {
        let node_names = args.node_names.as_ref().map(|names| {
            names
                .iter()
                .zip(passed)
                .filter(|(_, p)| **p)
                .map(|(n, _)| n.clone())
                .collect()
        });
        let nodes = args.nodes.as_ref().map(|list| {
            // With both forms, `passed` follows `NodeNames`; the items are
            // filtered by name.
            let items: Vec<Value> = args
                .node_items
                .iter()
                .enumerate()
                .filter(|(i, (name, _))| match &args.node_names {
                    Some(_) => !failed.contains_key(name),
                    None => passed.get(*i).copied().unwrap_or(true),
                })
                .map(|(_, (_, item))| item.clone())
                .collect();
            let mut list = list.clone();
            list.insert("items".into(), Value::Array(items));
            list
        });
        ExtenderFilterResult {
            nodes,
            node_names,
            failed_nodes: failed,
            failed_and_unresolvable_nodes: BTreeMap::new(),
            error: String::new(),
        }
    }
}

/// One `HostPriority`, with the field names Go writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPriority {
    /// The node name.
    #[serde(rename = "Host")]
    pub host: String,
    /// 0..=10.
    #[serde(rename = "Score")]
    pub score: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_go_field_names_of_kube_scheduler_and_lowercase_ones_both_parse() {
        let upstream = br#"{"Pod":{"metadata":{"name":"p"}},"Nodes":{"metadata":{},"items":[{"metadata":{"name":"n1"}}]},"NodeNames":["n1"]}"#;
        let a = parse_args(upstream).unwrap();
        assert_eq!(a.names(), vec!["n1"]);
        assert_eq!(a.node_items[0].0, "n1");
        let lower = br#"{"pod":{"metadata":{"name":"p"}},"nodenames":["n1","n2"]}"#;
        let b = parse_args(lower).unwrap();
        assert_eq!(b.names(), vec!["n1", "n2"]);
        assert!(b.nodes.is_none());
    }

    #[test]
    fn malformed_args_name_the_field_and_what_was_wrong() {
        let cases: [(&[u8], &str); 8] = [
            (b"{", "the body is not JSON (ExtenderArgs expected): EOF while parsing an object at line 1 column 1"),
            (b"[]", "ExtenderArgs must be a JSON object, not an array"),
            (br#"{"NodeNames":[]}"#, "ExtenderArgs has no `Pod`"),
            (br#"{"Pod":"p","NodeNames":[]}"#, "ExtenderArgs.Pod must be a v1.Pod object, not a string"),
            (br#"{"Pod":{}}"#, "ExtenderArgs has neither `Nodes` (nodeCacheCapable: false) nor `NodeNames` (nodeCacheCapable: true)"),
            (br#"{"Pod":{},"NodeNames":["a",3]}"#, "ExtenderArgs.NodeNames[1] must be a string, not a number"),
            (br#"{"Pod":{},"Nodes":{"items":[{"metadata":{}}]}}"#, "ExtenderArgs.Nodes.items[0] has no string `metadata.name`"),
            (br#"{"Pod":{},"Nodes":{"items":{}}}"#, "ExtenderArgs.Nodes.items must be an array, not an object"),
        ];
        for (body, message) in cases {
            assert_eq!(parse_args(body).unwrap_err(), message);
        }
    }

    #[test]
    fn results_use_the_go_field_names_and_keep_node_objects_whole() {
        let args = parse_args(
            br#"{"Pod":{},"Nodes":{"kind":"NodeList","items":[{"metadata":{"name":"a"},"spec":{"x":1}},{"metadata":{"name":"b"}}]}}"#,
        )
        .unwrap();
        let failed = BTreeMap::from([("b".to_owned(), "in contention".to_owned())]);
        let result = ExtenderFilterResult::of(&args, &[true, false], failed);
        assert_eq!(
            serde_json::to_value(&result).unwrap(),
            json!({
                "Nodes": {"kind": "NodeList", "items": [{"metadata": {"name": "a"}, "spec": {"x": 1}}]},
                "NodeNames": null,
                "FailedNodes": {"b": "in contention"},
                "FailedAndUnresolvableNodes": {},
                "Error": ""
            })
        );
        let p = HostPriority {
            host: "a".into(),
            score: 7,
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"Host":"a","Score":7}"#
        );
    }
}
