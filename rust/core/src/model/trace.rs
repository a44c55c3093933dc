//! Decoding usage snapshots: protobuf bytes (the C ABI path) and the three
//! JSON trace layouts (the original fixture file, one ResourceUsage object,
//! JSON Lines of ResourceUsage).

use super::proto::ResourceUsage;
use prost::Message;
use std::fmt;

/// Why a usage snapshot or trace could not be read. The message names the
/// record and the path of the bad field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Which record (0-based) of a trace failed, when the input is a trace.
    pub record: Option<usize>,
    /// 1-based line of the failure, when known (JSON inputs).
    pub line: Option<usize>,
    /// Path of the offending field, e.g. `executors[2].statistics.timestamp`.
    pub path: String,
    /// What was wrong there.
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = self.record {
            write!(f, "record {r}")?;
            if let Some(l) = self.line {
                write!(f, " (line {l})")?;
            }
            f.write_str(": ")?;
        } else if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
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
            record: None,
            line: None,
            path,
            message,
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

/// Loads a JSON trace, recognising its layout: JSON Lines when the first
/// non-empty line is a complete JSON object by itself (and not a one-line
/// fixture file), else one JSON document
/// that is either a fixture file (has `resource_usage`) or a single
/// ResourceUsage. Snake_case field names; unknown keys are skipped.
pub fn load_trace(text: &str) -> Result<(TraceFormat, Vec<ResourceUsage>), DecodeError> {
    let first = text.lines().enumerate().find(|(_, l)| !l.trim().is_empty());
    let Some((first_line, first_text)) = first else {
        return Err(DecodeError {
            record: None,
            line: None,
            path: String::new(),
            message: "the trace is empty".into(),
        });
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
            let mut de = serde_json::Deserializer::from_str(line);
            let usage: ResourceUsage =
                serde_path_to_error::deserialize(&mut de).map_err(|e| DecodeError {
                    record: Some(record),
                    line: Some(i + 1),
                    path: e.path().to_string(),
                    message: e.inner().to_string(),
                })?;
            out.push(usage);
        }
        return Ok((TraceFormat::JsonLines, out));
    }

    #[derive(serde::Deserialize)]
    struct Fixture {
        resource_usage: Vec<ResourceUsage>,
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| DecodeError {
        record: None,
        line: Some(e.line()),
        path: String::new(),
        message: e.to_string(),
    })?;
    let is_fixture = value.get("resource_usage").is_some();
    let to_err = |e: serde_path_to_error::Error<serde_json::Error>| {
        let path = e.path().to_string();
        // "resource_usage[3].executors..." -> record 3
        let record = path
            .strip_prefix("resource_usage[")
            .and_then(|r| r.split(']').next())
            .and_then(|n| n.parse().ok());
        DecodeError {
            record,
            line: None,
            path,
            message: e.inner().to_string(),
        }
    };
    if is_fixture {
        let f: Fixture = serde_path_to_error::deserialize(value).map_err(to_err)?;
        Ok((TraceFormat::Fixture, f.resource_usage))
    } else {
        let u: ResourceUsage = serde_path_to_error::deserialize(value).map_err(to_err)?;
        Ok((TraceFormat::Single, vec![u]))
    }
}
