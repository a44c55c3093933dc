//! Check shared by the `valve` fuzz target and the corpus replay test: any
//! bytes as a `/valve` request's query string and body (split at the first
//! NUL byte of the input; without one, all of it is the body). The parser
//! answers a switch position only for exactly one `enabled=true|false`,
//! otherwise a sentence; it never panics.

use serenity_core::parse_valve_request;

/// Panics when an invariant breaks.
pub fn check(data: &[u8]) {
    let (query, body) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (&data[..0], data),
    };
    match parse_valve_request(query, body) {
        Ok(open) => {
            let form = if query.split(|&b| b == b'&').any(|s| !s.is_empty()) {
                query
            } else {
                body
            };
            // An accepted form holds `enabled` once (in some encoding) and
            // nothing else but empty segments.
            let parameters = form.split(|&b| b == b'&').filter(|s| !s.is_empty()).count();
            assert_eq!(parameters, 1, "accepted {form:?} as {open}");
        }
        Err(e) => {
            let text = e.to_string();
            assert!(text.ends_with('.'), "{text}");
            assert!(
                text.len() < 400,
                "an error quotes at most a short value: {text}"
            );
        }
    }
}
