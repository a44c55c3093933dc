//! What a `/valve` request asks for: the one parser of the operator's valve
//! requests, used by both Mesos modules' `/valve` routes (through the C
//! ABI's `serenity_valve_request_parse`) and fuzzed (fuzz/checks/valve.rs).
//!
//! A request carries one parameter, `enabled=true` or `enabled=false`,
//! form-urlencoded in the query string or, when the query has no
//! parameters, in the body (as the original read it). Anything else is
//! refused with a sentence saying what is wrong: an unknown parameter, a
//! missing or repeated `enabled`, a value other than `true`/`false`, bad
//! percent-encoding or bytes that are not UTF-8.

use std::fmt;

/// Why a valve request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValveRequestError {
    /// The form could not be decoded (bad `%`-escape, not UTF-8).
    Undecodable {
        /// `query string` or `request body`.
        part: &'static str,
        /// What is wrong, with the byte offset.
        why: String,
    },
    /// A parameter other than `enabled`.
    UnknownParameter(String),
    /// No `enabled` parameter.
    Missing,
    /// `enabled` given more than once.
    Repeated(usize),
    /// `enabled` is neither `true` nor `false`.
    BadValue(String),
}

impl fmt::Display for ValveRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValveRequestError::Undecodable { part, why } => {
                write!(f, "Unable to decode the {part}: {why}.")
            }
            ValveRequestError::UnknownParameter(key) => write!(
                f,
                "Unknown parameter '{key}'. The only parameter is 'enabled' (true / false)."
            ),
            ValveRequestError::Missing => write!(
                f,
                "Missing the 'enabled' parameter. Possible values: true / false."
            ),
            ValveRequestError::Repeated(n) => write!(
                f,
                "The 'enabled' parameter is given {n} times; give it once (true / false)."
            ),
            ValveRequestError::BadValue(value) => write!(
                f,
                "Unknown value '{value}' of 'enabled'. Possible values: true / false."
            ),
        }
    }
}

impl std::error::Error for ValveRequestError {}

/// Longest value quoted back in an error message, in characters.
const QUOTE_CHARS: usize = 64;

fn quoted(s: &str) -> String {
    if s.chars().count() <= QUOTE_CHARS {
        s.to_owned()
    } else {
        let head: String = s.chars().take(QUOTE_CHARS).collect();
        format!("{head}...")
    }
}

/// Decodes one form-urlencoded component (`+` is a space, `%XX` a byte);
/// `offset` is where it starts in the whole form, for messages.
fn decode_component(raw: &[u8], offset: usize) -> Result<String, String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).and_then(|h| {
                    let h = std::str::from_utf8(h).ok()?;
                    u8::from_str_radix(h, 16).ok()
                });
                let Some(byte) = hex else {
                    return Err(format!(
                        "'%' at byte {} is not followed by two hex digits",
                        offset + i
                    ));
                };
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|e| {
        format!(
            "the text starting at byte {offset} is not UTF-8 once decoded (invalid byte {} of it)",
            e.utf8_error().valid_up_to()
        )
    })
}

/// The `(key, value)` pairs of a form, in order (empty segments skipped).
fn decode_form(form: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut offset = 0;
    for segment in form.split(|&b| b == b'&') {
        if !segment.is_empty() {
            let (key, value) = match segment.iter().position(|&b| b == b'=') {
                Some(eq) => (&segment[..eq], &segment[eq + 1..]),
                None => (segment, &segment[segment.len()..]),
            };
            pairs.push((
                decode_component(key, offset)?,
                decode_component(value, offset + key.len() + 1)?,
            ));
        }
        offset += segment.len() + 1;
    }
    Ok(pairs)
}

/// The switch position a `/valve` request asks for: `true` to open, `false`
/// to close. `query` is the URL's query string without `?` (form-encoded);
/// `body` the request body, read only when the query has no parameters.
pub fn parse_valve_request(query: &[u8], body: &[u8]) -> Result<bool, ValveRequestError> {
    let mut pairs = decode_form(query).map_err(|why| ValveRequestError::Undecodable {
        part: "query string",
        why,
    })?;
    if pairs.is_empty() {
        pairs = decode_form(body).map_err(|why| ValveRequestError::Undecodable {
            part: "request body",
            why,
        })?;
    }
    if let Some((key, _)) = pairs.iter().find(|(k, _)| k != "enabled") {
        return Err(ValveRequestError::UnknownParameter(quoted(key)));
    }
    match pairs.as_slice() {
        [] => Err(ValveRequestError::Missing),
        [(_, value)] => match value.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(ValveRequestError::BadValue(quoted(other))),
        },
        many => Err(ValveRequestError::Repeated(many.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enabled_true_or_false_in_the_query_or_the_body_sets_the_switch() {
        assert_eq!(parse_valve_request(b"enabled=true", b""), Ok(true));
        assert_eq!(parse_valve_request(b"enabled=false", b""), Ok(false));
        assert_eq!(parse_valve_request(b"", b"enabled=false"), Ok(false));
        assert_eq!(parse_valve_request(b"", b"enabled=%74rue"), Ok(true));
    }

    #[test]
    fn a_query_with_parameters_wins_over_the_body() {
        assert_eq!(
            parse_valve_request(b"enabled=true", b"enabled=false"),
            Ok(true)
        );
        assert_eq!(
            parse_valve_request(b"&&", b"enabled=false"),
            Ok(false),
            "a query of empty segments has no parameters"
        );
    }

    #[test]
    fn everything_but_one_enabled_true_or_false_is_refused_with_a_reason() {
        let refused = |q: &[u8], b: &[u8]| parse_valve_request(q, b).unwrap_err().to_string();
        assert_eq!(
            refused(b"", b""),
            "Missing the 'enabled' parameter. Possible values: true / false."
        );
        assert_eq!(
            refused(b"enabled=yes", b""),
            "Unknown value 'yes' of 'enabled'. Possible values: true / false."
        );
        assert_eq!(
            refused(b"enabled", b""),
            "Unknown value '' of 'enabled'. Possible values: true / false."
        );
        assert_eq!(
            refused(b"enabled=true&force=1", b""),
            "Unknown parameter 'force'. The only parameter is 'enabled' (true / false)."
        );
        assert_eq!(
            refused(b"enabled=true&enabled=false", b""),
            "The 'enabled' parameter is given 2 times; give it once (true / false)."
        );
        assert_eq!(
            refused(b"", b"enabled=%zztrue"),
            "Unable to decode the request body: '%' at byte 8 is not followed by two hex digits."
        );
        assert_eq!(
            refused(b"enabled=%ff", b""),
            "Unable to decode the query string: the text starting at byte 8 is not UTF-8 once decoded (invalid byte 0 of it)."
        );
        assert!(refused(b"", b"{\"enabled\": true}")
            .starts_with("Unknown parameter '{\"enabled\": true}'"));
    }

    #[test]
    fn a_long_value_is_quoted_shortened() {
        let long = format!("enabled={}", "x".repeat(1000));
        let message = parse_valve_request(long.as_bytes(), b"")
            .unwrap_err()
            .to_string();
        assert!(message.len() < 200, "{message}");
        assert!(message.contains("xxx..."), "{message}");
    }

    #[test]
    fn a_percent_at_the_very_end_is_refused_not_read_past() {
        assert!(parse_valve_request(b"enabled=tru%", b"").is_err());
        assert!(parse_valve_request(b"enabled=tru%6", b"").is_err());
    }
}
