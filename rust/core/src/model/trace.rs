//! Decoding usage snapshots: protobuf bytes (the C ABI path) and the three
//! JSON trace layouts (the original fixture file, one ResourceUsage object,
//! JSON Lines of ResourceUsage).
//!
//! Every record of a JSON trace must be a ResourceUsage: a JSON object whose
//! keys include `executors` or `total` (an empty object `{}` is the
//! protobuf-JSON of an empty ResourceUsage and is accepted too). Valid JSON of
//! another shape (an array, a number, an object of other keys such as a
//! replay's output line) is an error naming the record and its line, never a
//! silent empty tick.

use super::json_de;
use super::proto::{Executor, Resource, ResourceUsage};
use prost::Message;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;

/// What a trace must look like, for messages about input of the wrong shape.
pub const TRACE_SHAPES: &str = "a trace record is a JSON object with `executors` (a Mesos \
ResourceUsage); a trace is JSON Lines of them (one object per line, what `serenity record` \
and `serenity simulate` write), a single ResourceUsage object, or an original Serenity \
fixture file ({\"resource_usage\": [ResourceUsage, ...]})";

/// How the message about an object that is not a ResourceUsage starts. The
/// error is raised at the object's end, so its column is not reported.
const NOT_A_USAGE: &str = "not a ResourceUsage";

/// The 1-based column of `e`, when it points at the problem.
fn column_of(e: &serde_json::Error, message: &str) -> Option<usize> {
    (e.line() > 0 && !message.starts_with(NOT_A_USAGE)).then(|| e.column())
}

/// The keys of a `mesos.ResourceUsage` object.
const USAGE_KEYS: &[&str] = &["executors", "total"];

/// Why a usage snapshot or trace could not be read. The message names the
/// record and the path of the bad field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Which record (0-based) of a trace failed, when the input is a trace.
    pub record: Option<usize>,
    /// 1-based line of the failure, when known (JSON inputs).
    pub line: Option<usize>,
    /// 1-based column of the failure on its line, when known (JSON inputs).
    pub column: Option<usize>,
    /// Byte offset of the failure from the start of the input, when known
    /// (bytes that are not UTF-8).
    pub offset: Option<usize>,
    /// Path of the offending field, e.g. `executors[2].statistics.timestamp`.
    pub path: String,
    /// What was wrong there.
    pub message: String,
}

impl DecodeError {
    fn new(message: impl Into<String>) -> Self {
        DecodeError {
            record: None,
            line: None,
            column: None,
            offset: None,
            path: String::new(),
            message: message.into(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut at = Vec::new();
        if let Some(l) = self.line {
            at.push(format!("line {l}"));
        }
        if let Some(c) = self.column {
            at.push(format!("column {c}"));
        }
        if let Some(o) = self.offset {
            at.push(format!("byte offset {o}"));
        }
        match (self.record, at.is_empty()) {
            (Some(r), true) => write!(f, "record {r}: ")?,
            (Some(r), false) => write!(f, "record {r} ({}): ", at.join(", "))?,
            (None, false) => write!(f, "{}: ", at.join(", "))?,
            (None, true) => {}
        }
        if self.path.is_empty() || self.path == "." {
            write!(f, "{}", self.message)
        } else {
            write!(f, "at `{}`: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one serialized `mesos.ResourceUsage` (as `SerializeToString` in the
/// agent writes it). Unknown fields are skipped; a malformed message is an
/// error naming the message and field where decoding stopped.
pub fn decode_usage(bytes: &[u8]) -> Result<ResourceUsage, DecodeError> {
    ResourceUsage::decode(bytes).map_err(|e| {
        // prost's message reads "failed to decode Protobuf message: Msg.field: Msg.field: reason".
        let text = e.to_string();
        let text = text
            .strip_prefix("failed to decode Protobuf message: ")
            .unwrap_or(&text)
            .to_owned();
        let (path, message) = match text.rsplit_once(": ") {
            Some((p, m)) => (p.replace(": ", "/"), m.to_owned()),
            None => (String::new(), text),
        };
        DecodeError {
            path,
            ..DecodeError::new(message)
        }
    })
}

/// The layout a JSON trace was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    /// The original Serenity fixture file: `{"resource_usage": [ResourceUsage, ...]}`.
    Fixture,
    /// A single ResourceUsage object.
    Single,
    /// One ResourceUsage object per line (also what `serenity record` writes).
    JsonLines,
}

/// A repeated field read as [`json_de::vec_or_null`] reads it.
struct Listed<T>(Vec<T>);

impl<'de, T: DeserializeOwned> serde::Deserialize<'de> for Listed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        json_de::vec_or_null(d).map(Listed)
    }
}

/// One trace record: a ResourceUsage that must be a JSON object with at least
/// one ResourceUsage key (or no keys at all).
struct Record(ResourceUsage);

/// "a JSON array" for messages about a value of the wrong shape.
fn shape_error<E: de::Error>(what: &str) -> E {
    E::custom(format!(
        "this is {what}, not a trace record: {TRACE_SHAPES}"
    ))
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object (a ResourceUsage)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let mut usage = ResourceUsage::default();
        let (mut executors, mut total) = (false, false);
        let mut other: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "executors" if executors => return Err(de::Error::duplicate_field("executors")),
                "total" if total => return Err(de::Error::duplicate_field("total")),
                "executors" => {
                    executors = true;
                    usage.executors = map.next_value::<Listed<Executor>>()?.0;
                }
                "total" => {
                    total = true;
                    usage.total = map.next_value::<Listed<Resource>>()?.0;
                }
                _ => {
                    other.push(key.into_owned());
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !executors && !total && !other.is_empty() {
            let mut keys: Vec<String> = other.iter().take(4).map(|k| format!("`{k}`")).collect();
            if other.len() > 4 {
                keys.push("...".into());
            }
            return Err(de::Error::custom(format!(
                "{NOT_A_USAGE}: the object has none of the keys {} (its keys: {}); {TRACE_SHAPES}",
                USAGE_KEYS
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(" and "),
                keys.join(", ")
            )));
        }
        Ok(Record(usage))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Record, A::Error> {
        Err(shape_error("a JSON array"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Record, E> {
        Err(shape_error("a JSON string"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Record, E> {
        Err(shape_error("a JSON boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Record, E> {
        Err(shape_error("a JSON number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Record, E> {
        Err(shape_error("a JSON number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Record, E> {
        Err(shape_error("a JSON number"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Record, E> {
        Err(shape_error("`null`"))
    }
}

impl<'de> serde::Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RecordVisitor)
    }
}

/// serde_json's message without its " at line L column C" suffix (the
/// position is reported in fields of its own).
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

/// Deserializes one JSON document of `text` (trailing whitespace allowed),
/// with the path of a bad field.
fn parse<T: DeserializeOwned>(text: &str) -> Result<T, (String, serde_json::Error)> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| (e.path().to_string(), e.into_inner()))?;
    de.end().map_err(|e| (String::new(), e))?;
    Ok(value)
}

/// Loads a JSON trace from bytes: [`load_trace`], after checking that the
/// bytes are UTF-8 (the first bad byte is reported with its offset and line).
pub fn load_trace_bytes(bytes: &[u8]) -> Result<(TraceFormat, Vec<ResourceUsage>), DecodeError> {
    load_trace(trace_text(bytes)?)
}

/// `bytes` as text, or an error naming the offset and line of the first byte
/// that is not UTF-8.
pub fn trace_text(bytes: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let before = &bytes[..offset];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        // Columns count characters; everything before `offset` is valid UTF-8.
        let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
        let byte = bytes.get(offset).copied().unwrap_or_default();
        DecodeError {
            line: Some(line),
            column: Some(column),
            offset: Some(offset),
            ..DecodeError::new(format!(
                "byte 0x{byte:02x} is not UTF-8: a trace is JSON text (is this a binary or compressed file?)"
            ))
        }
    })
}

/// Loads a JSON trace, recognising its layout: JSON Lines when the first
/// non-empty line is a complete JSON object by itself (and not a one-line
/// fixture file), else one JSON document
/// that is either a fixture file (has `resource_usage`) or a single
/// ResourceUsage. Snake_case field names; unknown keys are skipped, but a
/// record that is not a ResourceUsage at all (see the module docs) is an error.
pub fn load_trace(text: &str) -> Result<(TraceFormat, Vec<ResourceUsage>), DecodeError> {
    let first = text.lines().enumerate().find(|(_, l)| !l.trim().is_empty());
    let Some((first_line, first_text)) = first else {
        return Err(DecodeError::new(format!(
            "the trace is empty; {TRACE_SHAPES}"
        )));
    };
    // A line that is a whole JSON object by itself starts a JSON Lines trace,
    // unless it is a fixture file written on one line.
    let is_lines = match serde_json::from_str::<serde_json::Value>(first_text) {
        Ok(serde_json::Value::Object(map)) => !map.contains_key("resource_usage"),
        _ => false,
    };
    if is_lines {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate().skip(first_line) {
            if line.trim().is_empty() {
                continue;
            }
            let record = out.len();
            let Record(usage) = parse(line).map_err(|(path, e)| {
                let message = json_message(&e);
                DecodeError {
                    record: Some(record),
                    line: Some(i + 1),
                    column: column_of(&e, &message),
                    path,
                    ..DecodeError::new(message)
                }
            })?;
            out.push(usage);
        }
        return Ok((TraceFormat::JsonLines, out));
    }

    #[derive(serde::Deserialize)]
    struct Fixture {
        resource_usage: Vec<Record>,
    }
    let to_err = |(path, e): (String, serde_json::Error)| {
        // "resource_usage[3].executors..." -> record 3
        let record = path
            .strip_prefix("resource_usage[")
            .and_then(|r| r.split(']').next())
            .and_then(|n| n.parse().ok());
        let message = json_message(&e);
        DecodeError {
            record,
            line: (e.line() > 0).then(|| e.line()),
            column: column_of(&e, &message),
            path,
            ..DecodeError::new(message)
        }
    };
    // The layout is known from the first key; a document that does not parse
    // is reported by the single-record reader (which names wrong shapes).
    let is_fixture = matches!(
        serde_json::from_str::<serde_json::Value>(text),
        Ok(serde_json::Value::Object(ref map)) if map.contains_key("resource_usage")
    );
    if is_fixture {
        let f: Fixture = parse(text).map_err(to_err)?;
        Ok((
            TraceFormat::Fixture,
            f.resource_usage.into_iter().map(|r| r.0).collect(),
        ))
    } else {
        let Record(u) = parse(text).map_err(to_err)?;
        Ok((TraceFormat::Single, vec![u]))
    }
}
