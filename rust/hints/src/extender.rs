//! The Kubernetes scheduler extender v1 wire format, as kube-scheduler
//! speaks it.
//!
//! Checked against `k8s.io/kube-scheduler/extender/v1/types.go` and its
//! `types_test.go` (kubernetes/kubernetes, staging, the copy at commit
//! 2d58ef7868e6; the package moved to staging in 2020, PR #88540, and json
//! tags were deferred to a future v2, issue #88634). Those types
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

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;
use serenity_core::model::json_kind;
use std::collections::{BTreeMap, HashMap};

/// A `v1.NodeList` as kube-scheduler sent it: its items kept as raw JSON
/// (parsed only for `metadata.name`, written back verbatim), its other keys
/// (`kind`, `metadata`, ...) too.
#[derive(Debug)]
pub struct NodeList {
    /// The list's keys other than `items`.
    pub other: BTreeMap<String, Box<RawValue>>,
    /// Each item's `metadata.name` and the item itself.
    pub items: Vec<(String, Box<RawValue>)>,
}

/// What kube-scheduler asked about (`ExtenderArgs`).
#[derive(Debug)]
pub struct ExtenderArgs {
    /// The pod being scheduled (a `v1.Pod`).
    pub pod: Value,
    /// `Nodes` (nodeCacheCapable = false).
    pub nodes: Option<NodeList>,
    /// `NodeNames` (nodeCacheCapable = true).
    pub node_names: Option<Vec<String>>,
}

impl ExtenderArgs {
    /// The candidate node names: `NodeNames` when given, else the names of
    /// `Nodes`' items.
    pub fn names(&self) -> Vec<&str> {
        match (&self.node_names, &self.nodes) {
            (Some(names), _) => names.iter().map(String::as_str).collect(),
            (None, Some(list)) => list.items.iter().map(|(n, _)| n.as_str()).collect(),
            (None, None) => Vec::new(),
        }
    }
}

type RawObject = HashMap<String, Box<RawValue>>;

/// The value of `key` in `object` the way Go's encoding/json finds a field:
/// the exact name first, else a key equal to it ignoring case (the first
/// in name order, so the choice does not depend on hashing).
fn field<'a>(object: &'a RawObject, key: &str) -> Option<&'a RawValue> {
    if let Some(v) = object.get(key) {
        return Some(v);
    }
    let mut matching: Vec<(&String, &Box<RawValue>)> = object
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(key))
        .collect();
    matching.sort_by(|a, b| a.0.cmp(b.0));
    matching.first().map(|(_, v)| &***v)
}

/// The kind of the JSON text `raw`, for messages.
fn kind_of(raw: &str) -> &'static str {
    serde_json::from_str::<Value>(raw).map_or("invalid JSON", |v| json_kind(&v))
}

fn is_null(raw: &RawValue) -> bool {
    raw.get().trim() == "null"
}

#[derive(Deserialize)]
struct ItemName<'a> {
    #[serde(borrow)]
    metadata: Option<ItemMeta<'a>>,
}

#[derive(Deserialize)]
struct ItemMeta<'a> {
    #[serde(borrow)]
    name: Option<std::borrow::Cow<'a, str>>,
}

fn node_list(raw: &RawValue) -> Result<NodeList, String> {
    let object: RawObject = serde_json::from_str(raw.get()).map_err(|_| {
        format!(
            "ExtenderArgs.Nodes must be a v1.NodeList object, not {}",
            kind_of(raw.get())
        )
    })?;
    let mut other = BTreeMap::new();
    let mut raw_items = None;
    for (k, v) in object {
        if k == "items" {
            raw_items = Some(v);
        } else {
            other.insert(k, v);
        }
    }
    let raw_items: Vec<Box<RawValue>> = match raw_items {
        None => Vec::new(),
        Some(r) if is_null(&r) => Vec::new(),
        Some(r) => serde_json::from_str(r.get()).map_err(|_| {
            format!(
                "ExtenderArgs.Nodes.items must be an array, not {}",
                kind_of(r.get())
            )
        })?,
    };
    let mut items = Vec::with_capacity(raw_items.len());
    for (i, item) in raw_items.into_iter().enumerate() {
        let name = serde_json::from_str::<ItemName<'_>>(item.get())
            .ok()
            .and_then(|n| n.metadata?.name.map(|n| n.into_owned()))
            .ok_or_else(|| {
                format!("ExtenderArgs.Nodes.items[{i}] has no string `metadata.name`")
            })?;
        items.push((name, item));
    }
    Ok(NodeList { other, items })
}

/// Parses an `ExtenderArgs` body; the error names the field and what was
/// wrong with it.
pub fn parse_args(body: &[u8]) -> Result<ExtenderArgs, String> {
    let text = std::str::from_utf8(body)
        .map_err(|e| format!("the body is not UTF-8 JSON (ExtenderArgs expected): {e}"))?;
    let object: RawObject = match serde_json::from_str(text) {
        Ok(o) => o,
        Err(_) => {
            // Slow path, for the message only.
            let value: Value = serde_json::from_str(text)
                .map_err(|e| format!("the body is not JSON (ExtenderArgs expected): {e}"))?;
            return Err(format!(
                "ExtenderArgs must be a JSON object, not {}",
                json_kind(&value)
            ));
        }
    };
    let pod = match field(&object, "Pod") {
        None => return Err("ExtenderArgs has no `Pod`".into()),
        Some(raw) => match serde_json::from_str::<Value>(raw.get()) {
            Ok(p @ Value::Object(_)) => p,
            Ok(other) => {
                return Err(format!(
                    "ExtenderArgs.Pod must be a v1.Pod object, not {}",
                    json_kind(&other)
                ))
            }
            Err(e) => return Err(format!("ExtenderArgs.Pod: {e}")),
        },
    };
    let nodes = match field(&object, "Nodes") {
        None => None,
        Some(raw) if is_null(raw) => None,
        Some(raw) => Some(node_list(raw)?),
    };
    let node_names = match field(&object, "NodeNames") {
        None => None,
        Some(raw) if is_null(raw) => None,
        Some(raw) => {
            let names: Vec<Value> = serde_json::from_str(raw.get()).map_err(|_| {
                format!(
                    "ExtenderArgs.NodeNames must be an array of names, not {}",
                    kind_of(raw.get())
                )
            })?;
            let mut out = Vec::with_capacity(names.len());
            for (i, n) in names.into_iter().enumerate() {
                match n {
                    Value::String(s) => out.push(s),
                    other => {
                        return Err(format!(
                            "ExtenderArgs.NodeNames[{i}] must be a string, not {}",
                            json_kind(&other)
                        ))
                    }
                }
            }
            Some(out)
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
        node_names,
    })
}

/// The passing part of a [`NodeList`], written back as a `v1.NodeList`.
#[derive(Debug)]
pub struct NodeListOut<'a> {
    list: &'a NodeList,
    keep: Vec<bool>,
}

impl Serialize for NodeListOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let items: Vec<&RawValue> = self
            .list
            .items
            .iter()
            .zip(&self.keep)
            .filter(|(_, keep)| **keep)
            .map(|((_, item), _)| &**item)
            .collect();
        let mut map = serializer.serialize_map(Some(self.list.other.len() + 1))?;
        for (k, v) in &self.list.other {
            map.serialize_entry(k, v)?;
        }
        map.serialize_entry("items", &items)?;
        map.end()
    }
}

/// `ExtenderFilterResult`, with the field names Go writes.
#[derive(Debug, Serialize)]
pub struct ExtenderFilterResult<'a> {
    /// The nodes that passed, as a `v1.NodeList` (when asked with `Nodes`).
    #[serde(rename = "Nodes")]
    pub nodes: Option<NodeListOut<'a>>,
    /// The names that passed (when asked with `NodeNames`).
    #[serde(rename = "NodeNames")]
    pub node_names: Option<Vec<&'a str>>,
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

impl<'a> ExtenderFilterResult<'a> {
    /// The answer to `args` where `passed[i]` says whether the i-th
    /// candidate of [`ExtenderArgs::names`] passed and `failed` holds the
    /// reasons of those that did not.
    pub fn of(
        args: &'a ExtenderArgs,
        passed: &[bool],
        failed: BTreeMap<String, String>,
    ) -> ExtenderFilterResult<'a> {
        let node_names = args.node_names.as_ref().map(|names| {
            names
                .iter()
                .zip(passed)
                .filter(|(_, p)| **p)
                .map(|(n, _)| n.as_str())
                .collect()
        });
        let nodes = args.nodes.as_ref().map(|list| {
            // With both forms, `passed` follows `NodeNames`; the items are
            // then kept by name.
            let keep = match &args.node_names {
                Some(_) => list
                    .items
                    .iter()
                    .map(|(name, _)| !failed.contains_key(name))
                    .collect(),
                None => (0..list.items.len())
                    .map(|i| passed.get(i).copied().unwrap_or(true))
                    .collect(),
            };
            NodeListOut { list, keep }
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
        assert_eq!(a.nodes.as_ref().unwrap().items[0].0, "n1");
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
        let text = serde_json::to_string(&result).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
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
