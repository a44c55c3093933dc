//! The memcached text protocol, as far as the load needs it: `get` of one
//! key and `set` with a fixed-size value (memcached's doc/protocol.txt).

/// What a request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `get <key>`.
    Get,
    /// `set <key> 0 0 <bytes>`.
    Set,
}

/// The key of index `i`.
pub fn key(i: u64) -> String {
    format!("serenity:{i:010}")
}

/// Appends the request's bytes to `out`.
pub fn encode(out: &mut Vec<u8>, op: Op, key: &str, value: &[u8]) {
    match op {
        Op::Get => {
            out.extend_from_slice(b"get ");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Op::Set => {
            out.extend_from_slice(format!("set {key} 0 0 {}\r\n", value.len()).as_bytes());
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// How a complete response ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A `get` that found its key.
    Hit,
    /// A `get` that did not.
    Miss,
    /// A `set` answered `STORED`.
    Stored,
    /// An `ERROR`, `CLIENT_ERROR`, `SERVER_ERROR` or other answer the
    /// request does not expect (the line, for the log).
    Error(String),
}

/// A parse of the front of the receive buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// One response of `len` bytes.
    Complete {
        /// Bytes the response took.
        len: usize,
        /// What it said.
        outcome: Outcome,
    },
    /// Bytes that cannot start a response to `op`: the stream is lost.
    Garbage(String),
}

/// The longest response line accepted before the stream is declared lost.
const MAX_LINE: usize = 4096;

fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    Some((&buf[..end], end + 2))
}

fn error_line(l: &[u8]) -> Option<Outcome> {
    let s = String::from_utf8_lossy(l);
    (s == "ERROR" || s.starts_with("CLIENT_ERROR") || s.starts_with("SERVER_ERROR"))
        .then(|| Outcome::Error(s.into_owned()))
}

/// Parses the response to `op` at the front of `buf`.
pub fn parse(op: Op, buf: &[u8]) -> Parsed {
    let Some((first, first_len)) = line(buf) else {
        if buf.len() > MAX_LINE {
            return Parsed::Garbage(format!("a {}-byte line without CRLF", buf.len()));
        }
        return Parsed::Incomplete;
    };
    if let Some(outcome) = error_line(first) {
        return Parsed::Complete {
            len: first_len,
            outcome,
        };
    }
    match op {
        Op::Set => {
            let s = String::from_utf8_lossy(first);
            let outcome = if s == "STORED" {
                Outcome::Stored
            } else if s == "NOT_STORED" || s == "EXISTS" || s == "NOT_FOUND" {
                Outcome::Error(s.into_owned())
            } else {
                return Parsed::Garbage(format!("`{s}` in answer to a set"));
            };
            Parsed::Complete {
                len: first_len,
                outcome,
            }
        }
        Op::Get => {
            if first == b"END" {
                return Parsed::Complete {
                    len: first_len,
                    outcome: Outcome::Miss,
                };
            }
            let s = String::from_utf8_lossy(first);
            let fields: Vec<&str> = s.split(' ').collect();
            let bytes = match fields.as_slice() {
                ["VALUE", _key, _flags, bytes] | ["VALUE", _key, _flags, bytes, _] => {
                    bytes.parse::<usize>().ok()
                }
                _ => None,
            };
            let Some(bytes) = bytes else {
                return Parsed::Garbage(format!("`{s}` in answer to a get"));
            };
            // data, CRLF, "END", CRLF
            let total = first_len + bytes + 2 + 5;
            if buf.len() < total {
                return Parsed::Incomplete;
            }
            if &buf[first_len + bytes..total] != b"\r\nEND\r\n" {
                return Parsed::Garbage("a value not followed by END".into());
            }
            Parsed::Complete {
                len: total,
                outcome: Outcome::Hit,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_encode_as_the_text_protocol() {
        let mut out = Vec::new();
        encode(&mut out, Op::Get, "k1", b"");
        encode(&mut out, Op::Set, "k2", b"abc");
        assert_eq!(out, b"get k1\r\nset k2 0 0 3\r\nabc\r\n");
        assert_eq!(key(42), "serenity:0000000042");
    }

    #[test]
    fn a_hit_is_complete_only_with_its_value_and_end() {
        let full = b"VALUE k 0 3\r\nabc\r\nEND\r\nSTORED\r\n";
        for cut in 0..23 {
            assert_eq!(
                parse(Op::Get, &full[..cut]),
                Parsed::Incomplete,
                "cut {cut}"
            );
        }
        assert_eq!(
            parse(Op::Get, full),
            Parsed::Complete {
                len: 23,
                outcome: Outcome::Hit
            }
        );
        // A value that itself contains CRLF is skipped by its length.
        assert_eq!(
            parse(Op::Get, b"VALUE k 0 4\r\na\r\nb\r\nEND\r\n"),
            Parsed::Complete {
                len: 24,
                outcome: Outcome::Hit
            }
        );
    }

    #[test]
    fn misses_stores_and_errors_are_told_apart() {
        assert_eq!(
            parse(Op::Get, b"END\r\n"),
            Parsed::Complete {
                len: 5,
                outcome: Outcome::Miss
            }
        );
        assert_eq!(
            parse(Op::Set, b"STORED\r\nEND\r\n"),
            Parsed::Complete {
                len: 8,
                outcome: Outcome::Stored
            }
        );
        assert_eq!(
            parse(Op::Get, b"SERVER_ERROR out of memory\r\n"),
            Parsed::Complete {
                len: 28,
                outcome: Outcome::Error("SERVER_ERROR out of memory".into())
            }
        );
        assert_eq!(
            parse(Op::Set, b"NOT_STORED\r\n"),
            Parsed::Complete {
                len: 12,
                outcome: Outcome::Error("NOT_STORED".into())
            }
        );
    }

    #[test]
    fn garbage_loses_the_stream() {
        assert!(matches!(parse(Op::Get, b"STORED\r\n"), Parsed::Garbage(_)));
        assert!(matches!(
            parse(Op::Set, b"VALUE k 0 1\r\n"),
            Parsed::Garbage(_)
        ));
        assert!(matches!(
            parse(Op::Get, b"VALUE k 0 3\r\nabcXXEND\r\n"),
            Parsed::Garbage(_)
        ));
        assert!(matches!(parse(Op::Get, &[b'x'; 5000]), Parsed::Garbage(_)));
    }
}
