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

/// The error for an object of none of the ResourceUsage keys (`other` are its keys).
fn not_a_usage<E: de::Error>(other: &[String]) -> E {
    let mut keys: Vec<String> = other.iter().take(4).map(|k| format!("`{k}`")).collect();
    if other.len() > 4 {
        keys.push("...".into());
    }
    E::custom(format!(
        "{NOT_A_USAGE}: the object has none of the keys {} (its keys: {}); {TRACE_SHAPES}",
        USAGE_KEYS
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(" and "),
        keys.join(", ")
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
            return Err(not_a_usage(&other));
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
    // The layout is known from the first key; a document that does not parse
    // is reported by the single-record reader (which names wrong shapes).
    let is_fixture = matches!(
        serde_json::from_str::<serde_json::Value>(text),
        Ok(serde_json::Value::Object(ref map)) if map.contains_key("resource_usage")
    );
    if is_fixture {
        let f: Fixture = parse(text).map_err(document_error)?;
        Ok((
            TraceFormat::Fixture,
            f.resource_usage.into_iter().map(|r| r.0).collect(),
        ))
    } else {
        let Record(u) = parse(text).map_err(document_error)?;
        Ok((TraceFormat::Single, vec![u]))
    }
}

/// One record of a trace read by [`stream_trace`], handed over as soon as
/// it is decoded.
#[derive(Debug)]
pub struct TraceRecord<'a> {
    /// The record's number (0-based, in trace order).
    pub index: usize,
    /// JSON Lines: the record's 1-based line.
    pub line: Option<usize>,
    /// JSON Lines: the record's line, for keys other than the usage's (a
    /// simulated trace's `truth` and `actions`).
    pub text: Option<&'a str>,
    /// The decoded usage.
    pub usage: ResourceUsage,
}

/// Why [`stream_trace`] stopped before the end of the trace.
#[derive(Debug)]
pub enum TraceError<E> {
    /// The input could not be read.
    Io(std::io::Error),
    /// The input is not a trace, or a record is bad (the same error, record,
    /// line and path as [`load_trace_bytes`] reports for it).
    Decode(DecodeError),
    /// The callback returned this error.
    Stopped(E),
}

impl<E> From<std::io::Error> for TraceError<E> {
    fn from(e: std::io::Error) -> Self {
        TraceError::Io(e)
    }
}

impl<E> From<DecodeError> for TraceError<E> {
    fn from(e: DecodeError) -> Self {
        TraceError::Decode(e)
    }
}

impl<E: fmt::Display> fmt::Display for TraceError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Io(e) => write!(f, "{e}"),
            TraceError::Decode(e) => write!(f, "{e}"),
            TraceError::Stopped(e) => write!(f, "{e}"),
        }
    }
}

/// Reads a JSON trace one record at a time, calling `each` with every record
/// as soon as it is decoded, in trace order; returns the layout and the number
/// of records. The layouts, the way they are told apart and every error
/// message are those of [`load_trace_bytes`], but memory does not grow with
/// the trace: JSON Lines are read a line at a time, and a fixture file's
/// `resource_usage` array (or a single object) is decoded from the stream, one
/// element at a time.
///
/// Records before a bad one have been handed to `each` when the error is
/// returned (the error is the first problem in file order; [`load_trace_bytes`]
/// reports bytes that are not UTF-8 before any other problem).
pub fn stream_trace<R, E, F>(
    mut reader: R,
    mut each: F,
) -> Result<(TraceFormat, usize), TraceError<E>>
where
    R: std::io::BufRead,
    F: FnMut(TraceRecord<'_>) -> Result<(), E>,
{
    // Bytes read before the layout is known (blank lines, and a first line
    // that does not start JSON Lines), replayed to the document reader.
    let mut consumed: Vec<u8> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut offset = 0usize;
    let mut line_no = 0usize;
    loop {
        if starts_a_document(reader.fill_buf()?) {
            return stream_document(consumed, reader, &mut each);
        }
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Err(TraceError::Decode(DecodeError::new(format!(
                "the trace is empty; {TRACE_SHAPES}"
            ))));
        }
        line_no += 1;
        let text = line_text(&buf, offset, line_no)?;
        offset += n;
        if text.trim().is_empty() {
            consumed.extend_from_slice(&buf);
            continue;
        }
        if is_usage_line(text) {
            break;
        }
        consumed.extend_from_slice(&buf);
        return stream_document(consumed, reader, &mut each);
    }
    drop(consumed);
    // JSON Lines: `buf` holds the first record's line.
    let mut records = 0usize;
    loop {
        let text = line_text(&buf, offset - buf.len(), line_no)?;
        if !text.trim().is_empty() {
            let Record(usage) = parse(text).map_err(|(path, e)| {
                let message = json_message(&e);
                TraceError::Decode(DecodeError {
                    record: Some(records),
                    line: Some(line_no),
                    column: column_of(&e, &message),
                    path,
                    ..DecodeError::new(message)
                })
            })?;
            each(TraceRecord {
                index: records,
                line: Some(line_no),
                text: Some(text),
                usage,
            })
            .map_err(TraceError::Stopped)?;
            records += 1;
        }
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok((TraceFormat::JsonLines, records));
        }
        offset += n;
        line_no += 1;
    }
}

/// One line read from a trace (with its `\n` or `\r\n`), as text: an error
/// naming the offset, line and column of its first byte that is not UTF-8,
/// as [`trace_text`] names it.
fn line_text(line: &[u8], start: usize, line_no: usize) -> Result<&str, DecodeError> {
    let text = std::str::from_utf8(line).map_err(|e| {
        let valid = e.valid_up_to();
        let column = String::from_utf8_lossy(&line[..valid]).chars().count() + 1;
        not_utf8(line[valid], start + valid, line_no, column)
    })?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    Ok(text.strip_suffix('\r').unwrap_or(text))
}

fn not_utf8(byte: u8, offset: usize, line: usize, column: usize) -> DecodeError {
    DecodeError {
        line: Some(line),
        column: Some(column),
        offset: Some(offset),
        ..DecodeError::new(format!(
            "byte 0x{byte:02x} is not UTF-8: a trace is JSON text (is this a binary or compressed file?)"
        ))
    }
}

/// Whether the buffered start of a line shows, without reading the whole
/// line, that it does not start JSON Lines: it starts (after blanks) with a
/// printable ASCII character other than `{`, or with `{"resource_usage"`
/// (a fixture file, or a line that is not a whole object: either way one
/// document). Undecided (false) when the buffer ends first; the line is then
/// read and told apart by [`is_usage_line`].
fn starts_a_document(buf: &[u8]) -> bool {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c);
    let Some(i) = buf.iter().position(|b| !blank(b)) else {
        return false;
    };
    match buf[i] {
        b'{' => {
            let rest = &buf[i + 1..];
            let j = rest
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\r'))
                .unwrap_or(rest.len());
            rest[j..].starts_with(b"\"resource_usage\"")
        }
        c => c.is_ascii_graphic(),
    }
}

/// Whether a (non-blank) first line is a whole JSON object by itself without
/// a `resource_usage` key: the start of a JSON Lines trace. Values are
/// skipped, not built.
fn is_usage_line(text: &str) -> bool {
    struct Probe;
    impl<'de> Visitor<'de> for Probe {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut fixture = false;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                fixture |= key == "resource_usage";
                map.next_value::<IgnoredAny>()?;
            }
            Ok(!fixture)
        }
    }
    struct Line(bool);
    impl<'de> serde::Deserialize<'de> for Line {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(Probe).map(Line)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    matches!(
        <Line as serde::Deserialize>::deserialize(&mut de).and_then(|l| de.end().map(|_| l)),
        Ok(Line(true))
    )
}

/// Reads one JSON document (a fixture file or a single ResourceUsage) from
/// `prefix` then `rest`, streaming the fixture's records to `each`.
///
/// serde_json reports positions of a reader one byte later than those of a
/// string when it has peeked a byte, so every record is first delimited on
/// the stream (skipped, its bytes kept) and then decoded from its bytes as
/// [`load_trace`] decodes it: the same errors at the same lines and columns.
fn stream_document<R, E, F>(
    prefix: Vec<u8>,
    rest: R,
    each: &mut F,
) -> Result<(TraceFormat, usize), TraceError<E>>
where
    R: std::io::BufRead,
    F: FnMut(TraceRecord<'_>) -> Result<(), E>,
{
    let tape = std::rc::Rc::new(std::cell::RefCell::new(Tape {
        top: Some(Vec::new()),
        ..Tape::default()
    }));
    let mut input = Utf8Reader::new(prefix, rest, tape.clone());
    let mut stopped: Option<E> = None;
    let mut failed: Option<DecodeError> = None;
    let mut records = 0usize;
    let mut fixture = false;
    let mut single: Option<ResourceUsage> = None;
    let outcome = {
        let mut de = serde_json::Deserializer::from_reader(&mut input);
        let mut track = serde_path_to_error::Track::new();
        let seed = DocumentSeed {
            each,
            stopped: &mut stopped,
            failed: &mut failed,
            records: &mut records,
            fixture: &mut fixture,
            single: &mut single,
            tape: &tape,
        };
        match de::DeserializeSeed::deserialize(
            seed,
            serde_path_to_error::Deserializer::new(&mut de, &mut track),
        ) {
            Ok(format) => de.end().map(|_| format).map_err(|e| (String::new(), e)),
            Err(e) => Err((track.path().to_string(), e)),
        }
    };
    let (path, e) = match outcome {
        Ok(format) => {
            if let Some(usage) = single {
                let record = TraceRecord {
                    index: 0,
                    line: None,
                    text: None,
                    usage,
                };
                each(record).map_err(TraceError::Stopped)?;
                records = 1;
            }
            return Ok((format, records));
        }
        Err(failure) => failure,
    };
    if let Some(stopped) = stopped {
        return Err(TraceError::Stopped(stopped));
    }
    if let Some(failed) = failed.or_else(|| input.error.take()) {
        return Err(TraceError::Decode(failed));
    }
    if e.is_io() {
        return Err(TraceError::Io(std::io::Error::from(e)));
    }
    // Before any record was handed over, the document read so far is kept:
    // decode it as load_trace does, for its error at its position.
    if records == 0 {
        let tape = tape.borrow();
        if let Some(top) = &tape.top {
            if let Ok(text) = std::str::from_utf8(top) {
                #[derive(serde::Deserialize)]
                struct Fixture {
                    #[allow(dead_code)]
                    resource_usage: Vec<Record>,
                }
                let again = if fixture && e.classify() == serde_json::error::Category::Data {
                    parse::<Fixture>(text).map(|_| ())
                } else {
                    parse::<Record>(text).map(|_| ())
                };
                if let Err(failure) = again {
                    return Err(TraceError::Decode(document_error(failure)));
                }
            }
        }
    }
    Err(TraceError::Decode(document_error((path, e))))
}

/// A document's error as load_trace reports it.
fn document_error((path, e): (String, serde_json::Error)) -> DecodeError {
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
}

/// The bytes of a document being kept while it is read: everything before
/// the first record (`top`, until a record has been handed over), and the
/// record being delimited (`element`, from its position `start`).
#[derive(Default)]
struct Tape {
    top: Option<Vec<u8>>,
    element: Option<Vec<u8>>,
    start: (usize, usize),
    /// 1-based line and 0-based byte column of the next byte.
    line: usize,
    column: usize,
}

/// The top-level value of a document: a fixture file (its records go to
/// `each` one at a time) or a single ResourceUsage (record 0).
struct DocumentSeed<'a, E, F> {
    each: &'a mut F,
    stopped: &'a mut Option<E>,
    failed: &'a mut Option<DecodeError>,
    records: &'a mut usize,
    fixture: &'a mut bool,
    single: &'a mut Option<ResourceUsage>,
    tape: &'a std::rc::Rc<std::cell::RefCell<Tape>>,
}

impl<'de, E, F> de::DeserializeSeed<'de> for DocumentSeed<'_, E, F>
where
    F: FnMut(TraceRecord<'_>) -> Result<(), E>,
{
    type Value = TraceFormat;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<TraceFormat, D::Error> {
        d.deserialize_any(self)
    }
}

impl<E, F> DocumentSeed<'_, E, F>
where
    F: FnMut(TraceRecord<'_>) -> Result<(), E>,
{
    fn hand<Er: de::Error>(&mut self, usage: ResourceUsage) -> Result<(), Er> {
        let index = *self.records;
        *self.records += 1;
        // From now on an error is reported where it is met.
        self.tape.borrow_mut().top = None;
        (self.each)(TraceRecord {
            index,
            line: None,
            text: None,
            usage,
        })
        .map_err(|e| {
            *self.stopped = Some(e);
            Er::custom("stopped by the caller")
        })
    }

    fn reborrow(&mut self) -> DocumentSeed<'_, E, F> {
        DocumentSeed {
            each: &mut *self.each,
            stopped: &mut *self.stopped,
            failed: &mut *self.failed,
            records: &mut *self.records,
            fixture: &mut *self.fixture,
            single: &mut *self.single,
            tape: self.tape,
        }
    }
}

impl<'de, E, F> Visitor<'de> for DocumentSeed<'_, E, F>
where
    F: FnMut(TraceRecord<'_>) -> Result<(), E>,
{
    type Value = TraceFormat;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        RecordVisitor.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<TraceFormat, A::Error> {
        let mut usage = ResourceUsage::default();
        let (mut executors, mut total) = (false, false);
        let mut other: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "resource_usage" if *self.fixture => {
                    return Err(de::Error::duplicate_field("resource_usage"))
                }
                "resource_usage" => {
                    *self.fixture = true;
                    map.next_value_seed(RecordsSeed {
                        doc: self.reborrow(),
                    })?;
                }
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
                    other.push(key);
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if *self.fixture {
            return Ok(TraceFormat::Fixture);
        }
        if !executors && !total && !other.is_empty() {
            return Err(not_a_usage(&other));
        }
        // Handed over once the document is known to end here.
        *self.single = Some(usage);
        Ok(TraceFormat::Single)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, s: A) -> Result<TraceFormat, A::Error> {
        RecordVisitor.visit_seq(s).map(|_| TraceFormat::Single)
    }
    fn visit_str<Er: de::Error>(self, v: &str) -> Result<TraceFormat, Er> {
        RecordVisitor.visit_str(v).map(|_| TraceFormat::Single)
    }
    fn visit_bool<Er: de::Error>(self, v: bool) -> Result<TraceFormat, Er> {
        RecordVisitor.visit_bool(v).map(|_| TraceFormat::Single)
    }
    fn visit_i64<Er: de::Error>(self, v: i64) -> Result<TraceFormat, Er> {
        RecordVisitor.visit_i64(v).map(|_| TraceFormat::Single)
    }
    fn visit_u64<Er: de::Error>(self, v: u64) -> Result<TraceFormat, Er> {
        RecordVisitor.visit_u64(v).map(|_| TraceFormat::Single)
    }
    fn visit_f64<Er: de::Error>(self, v: f64) -> Result<TraceFormat, Er> {
        RecordVisitor.visit_f64(v).map(|_| TraceFormat::Single)
    }
    fn visit_unit<Er: de::Error>(self) -> Result<TraceFormat, Er> {
        RecordVisitor.visit_unit().map(|_| TraceFormat::Single)
    }
}

/// A fixture file's `resource_usage` array, element by element: each is
/// delimited on the stream, then decoded from its bytes.
struct RecordsSeed<'a, E, F> {
    doc: DocumentSeed<'a, E, F>,
}

impl<'de, E, F> de::DeserializeSeed<'de> for RecordsSeed<'_, E, F>
where
    F: FnMut(TraceRecord<'_>) -> Result<(), E>,
{
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, E, F> Visitor<'de> for RecordsSeed<'_, E, F>
where
    F: FnMut(TraceRecord<'_>) -> Result<(), E>,
{
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        loop {
            {
                let mut tape = self.doc.tape.borrow_mut();
                tape.start = (tape.line, tape.column);
                tape.element = Some(Vec::new());
            }
            let more = seq.next_element::<IgnoredAny>()?;
            let (bytes, (mut line, mut column)) = {
                let mut tape = self.doc.tape.borrow_mut();
                (tape.element.take().unwrap_or_default(), tape.start)
            };
            if more.is_none() {
                return Ok(());
            }
            // The separator and blanks before the element, and after an
            // object anything serde_json peeked past its end.
            let skip = bytes
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b','))
                .unwrap_or(bytes.len());
            for &b in &bytes[..skip] {
                if b == b'\n' {
                    (line, column) = (line + 1, 0);
                } else {
                    column += 1;
                }
            }
            let mut element = &bytes[skip..];
            if element.first() == Some(&b'{') {
                if let Some(end) = element.iter().rposition(|b| *b == b'}') {
                    element = &element[..=end];
                }
            }
            let text = std::str::from_utf8(element)
                .map_err(|_| de::Error::custom("a record is not UTF-8"))?;
            match parse::<Record>(text) {
                Ok(Record(usage)) => self.doc.hand(usage)?,
                Err((path, e)) => {
                    let index = *self.doc.records;
                    let message = json_message(&e);
                    let on_first = e.line() == 1;
                    *self.doc.failed = Some(DecodeError {
                        record: Some(index),
                        line: (e.line() > 0).then(|| line + e.line() - 1),
                        column: column_of(&e, &message)
                            .map(|c| if on_first { column + c } else { c }),
                        path: if path.is_empty() || path == "." {
                            format!("resource_usage[{index}]")
                        } else {
                            format!("resource_usage[{index}].{path}")
                        },
                        ..DecodeError::new(message)
                    });
                    return Err(de::Error::custom("a bad record"));
                }
            }
        }
    }
}

/// Bytes of `prefix` then `rest`, checked to be UTF-8 on the way: the
/// first bad byte stops reading with an error (kept in `error`) naming its
/// offset, line and column as [`trace_text`] does. Bytes passed on are
/// added to the [`Tape`]'s open recordings.
struct Utf8Reader<R> {
    prefix: Vec<u8>,
    at: usize,
    rest: R,
    tape: std::rc::Rc<std::cell::RefCell<Tape>>,
    /// Bytes passed on so far.
    offset: usize,
    /// 1-based line and characters before the current byte on it.
    line: usize,
    chars: usize,
    /// Continuation bytes still expected, and the bounds of the next one.
    need: u8,
    lo: u8,
    hi: u8,
    /// Where the current multi-byte character started: byte, offset, line,
    /// characters before it.
    lead: (u8, usize, usize, usize),
    error: Option<DecodeError>,
}

impl<R: std::io::BufRead> Utf8Reader<R> {
    fn new(prefix: Vec<u8>, rest: R, tape: std::rc::Rc<std::cell::RefCell<Tape>>) -> Self {
        tape.borrow_mut().line = 1;
        Utf8Reader {
            prefix,
            at: 0,
            rest,
            tape,
            offset: 0,
            line: 1,
            chars: 0,
            need: 0,
            lo: 0x80,
            hi: 0xbf,
            lead: (0, 0, 1, 0),
            error: None,
        }
    }

    /// Checks one byte; false (with `error` set) when it is not UTF-8.
    fn check(&mut self, b: u8) -> bool {
        if self.need > 0 {
            if b < self.lo || b > self.hi {
                let (byte, offset, line, chars) = self.lead;
                self.error = Some(not_utf8(byte, offset, line, chars + 1));
                return false;
            }
            self.need -= 1;
            (self.lo, self.hi) = (0x80, 0xbf);
        } else {
            let (need, lo, hi) = match b {
                0x00..=0x7f => (0, 0x80, 0xbf),
                0xc2..=0xdf => (1, 0x80, 0xbf),
                0xe0 => (2, 0xa0, 0xbf),
                0xe1..=0xec | 0xee | 0xef => (2, 0x80, 0xbf),
                0xed => (2, 0x80, 0x9f),
                0xf0 => (3, 0x90, 0xbf),
                0xf1..=0xf3 => (3, 0x80, 0xbf),
                0xf4 => (3, 0x80, 0x8f),
                _ => {
                    self.error = Some(not_utf8(b, self.offset, self.line, self.chars + 1));
                    return false;
                }
            };
            self.lead = (b, self.offset, self.line, self.chars);
            (self.need, self.lo, self.hi) = (need, lo, hi);
            if b == b'\n' {
                self.line += 1;
                self.chars = 0;
            } else {
                self.chars += 1;
            }
        }
        self.offset += 1;
        true
    }
}

impl<R: std::io::BufRead> std::io::Read for Utf8Reader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8");
        if self.error.is_some() {
            return Err(bad());
        }
        let from_prefix = self.at < self.prefix.len();
        let chunk: &[u8] = if from_prefix {
            &self.prefix[self.at..]
        } else {
            self.rest.fill_buf()?
        };
        if chunk.is_empty() {
            if self.need > 0 {
                let (byte, offset, line, chars) = self.lead;
                self.error = Some(not_utf8(byte, offset, line, chars + 1));
                return Err(bad());
            }
            return Ok(0);
        }
        let n = chunk.len().min(out.len());
        out[..n].copy_from_slice(&chunk[..n]);
        let mut good = 0;
        while good < n && self.check(out[good]) {
            good += 1;
        }
        if from_prefix {
            self.at += good;
        } else {
            self.rest.consume(good);
        }
        {
            let mut tape = self.tape.borrow_mut();
            let passed = &out[..good];
            for &b in passed {
                if b == b'\n' {
                    tape.line += 1;
                    tape.column = 0;
                } else {
                    tape.column += 1;
                }
            }
            let Tape { top, element, .. } = &mut *tape;
            if let Some(e) = element {
                e.extend_from_slice(passed);
            }
            if let Some(t) = top {
                t.extend_from_slice(passed);
            }
        }
        if good == 0 && n > 0 {
            return Err(bad());
        }
        Ok(good)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `stream_trace` hands over, collected, or its error.
    fn streamed(bytes: &[u8]) -> Result<(TraceFormat, Vec<ResourceUsage>), DecodeError> {
        let mut out = Vec::new();
        // A small buffer, so that records and lines span many refills.
        let reader = std::io::BufReader::with_capacity(7, bytes);
        match stream_trace(reader, |r| {
            assert_eq!(r.index, out.len());
            out.push(r.usage);
            Ok::<(), ()>(())
        }) {
            Ok((format, n)) => {
                assert_eq!(n, out.len());
                Ok((format, out))
            }
            Err(TraceError::Decode(e)) => Err(e),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    #[test]
    fn streaming_reads_every_shipped_trace_as_load_trace_does() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if !matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("json" | "jsonl")
            ) {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(
                streamed(&bytes),
                load_trace_bytes(&bytes),
                "{}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 5, "only {seen} traces in {}", dir.display());
    }

    #[test]
    fn streaming_reports_every_bad_trace_as_load_trace_does() {
        let cases: &[&[u8]] = &[
            b"",
            b"\n  \n\t\n",
            b"{\"executors\": []}\n{\"executors\": [{\"statistics\": {\"timestamp\": \"noon\"}}]}\n",
            b"{\"executors\": []}\n{\"tick\": 0, \"pipeline\": \"qos\"}\n",
            b"[1,2,3]\n",
            b"42\n",
            b"\"executors\"\n",
            b"{\"executors\": []}\nnull\n",
            b"{\"executors\": []}\n[1, 2]\n",
            b"{\"executors\": []}\n{\"executors\": [\xff]}\n",
            b"{\"executors\": [\"\xe2\x82\"]}\n",
            b"{\n\"executors\": [\"\xe2\x82\"]}\n",
            b"{\n\"executors\": [\"\xf0\x9f\x98\"",
            b"{\"resource_usage\": [{\"executors\": []}, {\"executors\": 5}]}",
            b"{\n\"resource_usage\": [{\"executors\": []},\n {\"total\": 5}]\n}\n",
            b"{\n  \"resource_usage\": [\n    {\"executors\": []},\n    {\"executors\": [{\"statistics\": {\"timestamp\": \"soon\"}}]}\n  ]\n}\n",
            b"{\"resource_usage\": [{\"executors\": []}, {\"foo\": 1}]}",
            b"{\"resource_usage\": [{\"executors\": []}, 7]}",
            b"{\n\"resource_usage\": 5\n}\n",
            b"{\n\"resource_usage\": null\n}\n",
            b"{\n\"executors\": [], \"x\": 1\n} trailing\n",
            b"{\n\"executors\": 5\n}\n",
            b"{\n\"executors\": [{\"statistics\": {\"timestamp\": true}}]\n}\n",
            b"{\n  \"foo\": 1\n}\n",
            b"{\n\"resource_usage\": [{\"executors\": []}]",
            b"{\n\"resource_usage\": [{\"executors\": [}]\n}\n",
            b"{\"executors\": [], \"executors\": []}\n",
            b"{\n\"executors\": [], \"executors\": []\n}\n",
            b"{\n\"resource_usage\": [], \"resource_usage\": []\n}\n",
            b"\xef\xbb\xbf{\"executors\": []}\n",
            b"{\"executors\": []}\r\n{\"executors\": {}}\r\n{\"total\": 1}\r\n",
        ];
        let mut differ = Vec::new();
        for bytes in cases {
            let old = load_trace_bytes(bytes);
            assert!(
                old.is_err(),
                "{:?} is not a bad trace",
                String::from_utf8_lossy(bytes)
            );
            let new = streamed(bytes);
            if new != old {
                differ.push(format!(
                    "{:?}:\n  old {old:?}\n  new {new:?}",
                    String::from_utf8_lossy(bytes)
                ));
            }
        }
        assert!(differ.is_empty(), "{}", differ.join("\n"));
    }

    #[test]
    fn garbage_after_a_fixture_file_is_reported_as_trailing_characters() {
        // load_trace calls this document (not valid JSON, so not a fixture
        // file) "not a ResourceUsage"; streaming has read its records by then.
        let bytes = b"{\n\"resource_usage\": [{\"executors\": []}]\n}\n}";
        let err = streamed(bytes).unwrap_err();
        assert_eq!(err.to_string(), "line 4, column 1: trailing characters");
        assert!(load_trace_bytes(bytes).is_err());
    }

    #[test]
    fn streaming_reads_good_traces_of_every_layout_as_load_trace_does() {
        let cases: &[&[u8]] = &[
            b"{}",
            b"{}\n\n{\"executors\": []}\n",
            b"\n\n{\"executors\": [{\"executor_info\": {\"executor_id\": {\"value\": \"\xc3\xa9\"}}}], \"truth\": {}}\r\n",
            b"{\n  \"executors\": [],\n  \"total\": [{\"name\": \"cpus\", \"scalar\": {\"value\": 4}}]\n}\n",
            b"{\"resource_usage\": [{\"executors\": []}, {\"total\": []}]}",
            b"  {\"resource_usage\": []}\n",
            b"{\n\"meta\": {\"a\": [1, 2]},\n\"resource_usage\": [\n{\"executors\": []}\n,\n{}\n]\n, \"z\": 0}\n\n",
        ];
        for bytes in cases {
            let old = load_trace_bytes(bytes);
            assert!(old.is_ok(), "{:?}: {old:?}", String::from_utf8_lossy(bytes));
            assert_eq!(streamed(bytes), old, "{:?}", String::from_utf8_lossy(bytes));
        }
    }
}
