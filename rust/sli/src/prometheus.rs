//! The Prometheus text exposition format (version 0.0.4), read by hand, and
//! what an SLI takes from it: one sample, or a quantile of a histogram's
//! increase between two scrapes.
//!
//! Format (<https://prometheus.io/docs/instrumenting/exposition_formats/>):
//! one sample a line, `name{label="value",...} value [timestamp_ms]`; label
//! values escape `\\`, `\"` and `\n`; values are floats including `NaN`,
//! `+Inf` and `-Inf`; lines starting with `#` are comments (`# HELP`,
//! `# TYPE` among them); blank lines are ignored. A line that does not read
//! is skipped and counted with its line number, so that one bad line
//! elsewhere does not hide the metric an SLI wants.
//!
//! Histogram quantiles follow Prometheus's `histogram_quantile`
//! (promql/quantile.go, `bucketQuantile`) over the per-bucket increase since
//! the previous scrape: the rank q × total is located in the cumulative
//! buckets and interpolated linearly inside its bucket, whose lower bound is
//! the previous bucket's upper bound (0 for the first bucket, unless its
//! upper bound is ≤ 0, when that bound is the answer); a rank in the `+Inf`
//! bucket answers the highest finite upper bound. As Prometheus does, the
//! increases are made monotone (running maximum) against a scrape taken
//! while the service was half-way through updating its buckets.

use std::fmt;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name.
    pub name: String,
    /// The labels, in the order written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
    /// The optional timestamp (milliseconds since the Unix epoch).
    pub timestamp_ms: Option<i64>,
    /// The 1-based line number.
    pub line: usize,
}

impl Sample {
    /// The value of `label`, `""` when absent (as Prometheus matches).
    pub fn label(&self, label: &str) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == label)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Whether every matcher equals (an absent label equals `""`).
    pub fn matches(&self, name: &str, matchers: &[(String, String)]) -> bool {
        self.name == name && matchers.iter().all(|(k, v)| self.label(k) == v)
    }
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if !self.labels.is_empty() {
            write!(f, "{{")?;
            for (i, (k, v)) in self.labels.iter().enumerate() {
                if i > 0 {
                    write!(f, ",")?;
                }
                write!(f, "{k}={v:?}")?;
            }
            write!(f, "}}")?;
        }
        Ok(())
    }
}

/// A line that did not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A parsed exposition: the samples that read, and the lines that did not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    /// Every sample line that read, in order.
    pub samples: Vec<Sample>,
    /// Every line skipped, in order.
    pub errors: Vec<LineError>,
}

impl Exposition {
    /// A sentence on the skipped lines, `None` when none was: their count
    /// and the first one.
    pub fn skipped_note(&self) -> Option<String> {
        let first = self.errors.first()?;
        Some(format!(
            "{} line(s) could not be read and were skipped (first: {first})",
            self.errors.len()
        ))
    }
}

/// Longest text quoted back in a message.
const QUOTE_MAX: usize = 80;

/// `text` quoted for a message, cut at [`QUOTE_MAX`] characters.
pub(crate) fn quote(text: &str) -> String {
    if text.chars().count() <= QUOTE_MAX {
        format!("{text:?}")
    } else {
        let cut: String = text.chars().take(QUOTE_MAX).collect();
        format!("{cut:?}…")
    }
}

/// Parses an exposition text. Never fails: bad lines land in `errors`.
pub fn parse(text: &str) -> Exposition {
    let mut out = Exposition::default();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let n = i + 1;
        let trimmed = line.trim_start_matches([' ', '\t']);
        if trimmed.trim_end_matches([' ', '\t']).is_empty() {
            continue;
        }
        let result = if let Some(comment) = trimmed.strip_prefix('#') {
            check_comment(comment).map(|()| None)
        } else {
            parse_sample(trimmed, n).map(Some)
        };
        match result {
            Ok(Some(sample)) => out.samples.push(sample),
            Ok(None) => {}
            Err(message) => out.errors.push(LineError {
                line: n,
                message: format!("{message} in {}", quote(line)),
            }),
        }
    }
    out
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn is_label_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `# HELP name ...` and `# TYPE name type` must name a metric (and a known
/// type); any other comment is free text.
fn check_comment(comment: &str) -> Result<(), String> {
    let mut words = comment.split([' ', '\t']).filter(|w| !w.is_empty());
    let keyword = words.next();
    let (Some(keyword @ ("HELP" | "TYPE")), true) = (keyword, comment.starts_with([' ', '\t']))
    else {
        return Ok(());
    };
    let Some(name) = words.next() else {
        return Err(format!("# {keyword} names no metric"));
    };
    if !name.starts_with(is_name_start) || !name.chars().all(is_name_char) {
        return Err(format!(
            "# {keyword} names an invalid metric {}",
            quote(name)
        ));
    }
    if keyword == "TYPE" {
        match words.next() {
            Some("counter" | "gauge" | "histogram" | "summary" | "untyped") => {}
            Some(t) => {
                return Err(format!(
                    "# TYPE {name} has an unknown type {} (counter, gauge, histogram, summary or untyped)",
                    quote(t)
                ))
            }
            None => return Err(format!("# TYPE {name} has no type")),
        }
    }
    Ok(())
}

/// A cursor over one line.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.rest = &self.rest[c.len_utf8()..];
        Some(c)
    }

    fn skip_blanks(&mut self) -> bool {
        let before = self.rest.len();
        self.rest = self.rest.trim_start_matches([' ', '\t']);
        self.rest.len() != before
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let end = self
            .rest
            .char_indices()
            .find(|&(_, c)| !f(c))
            .map_or(self.rest.len(), |(i, _)| i);
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        taken
    }

    fn word(&mut self) -> &'a str {
        self.take_while(|c| c != ' ' && c != '\t')
    }
}

fn parse_sample(line: &str, n: usize) -> Result<Sample, String> {
    let mut c = Cursor { rest: line };
    if !c.peek().is_some_and(is_name_start) {
        return Err("expected a metric name".into());
    }
    let name = c.take_while(is_name_char).to_owned();
    let mut blank = c.skip_blanks();
    let mut labels: Vec<(String, String)> = Vec::new();
    if c.peek() == Some('{') {
        c.bump();
        loop {
            c.skip_blanks();
            match c.peek() {
                Some('}') => {
                    c.bump();
                    break;
                }
                Some(ch) if is_label_start(ch) => {}
                Some(ch) => return Err(format!("expected a label name or `}}`, found {ch:?}")),
                None => return Err("the label set is not closed with `}`".into()),
            }
            let label = c.take_while(is_label_char).to_owned();
            c.skip_blanks();
            if c.bump() != Some('=') {
                return Err(format!("expected `=` after label {label}"));
            }
            c.skip_blanks();
            if c.bump() != Some('"') {
                return Err(format!("expected `\"` opening the value of label {label}"));
            }
            let value = label_value(&mut c, &label)?;
            if labels.iter().any(|(k, _)| *k == label) {
                return Err(format!("label {label} is repeated"));
            }
            labels.push((label, value));
            c.skip_blanks();
            match c.bump() {
                Some(',') => {}
                Some('}') => break,
                Some(ch) => {
                    return Err(format!(
                        "expected `,` or `}}` after a label value, found {ch:?}"
                    ))
                }
                None => return Err("the label set is not closed with `}`".into()),
            }
        }
        blank = c.skip_blanks();
    }
    match c.peek() {
        None => return Err(format!("{name} has no value")),
        Some(ch) if !blank => {
            return Err(format!(
                "expected a blank before the value of {name}, found {ch:?}"
            ))
        }
        Some(_) => {}
    }
    let word = c.word();
    let value =
        parse_value(word).ok_or_else(|| format!("{name} has an invalid value {}", quote(word)))?;
    c.skip_blanks();
    let timestamp_ms = if c.peek().is_some() {
        let word = c.word();
        let ts = word
            .parse::<i64>()
            .map_err(|_| format!("{name} has an invalid timestamp {}", quote(word)))?;
        c.skip_blanks();
        if c.peek().is_some() {
            return Err(format!("unexpected {} after the timestamp", quote(c.rest)));
        }
        Some(ts)
    } else {
        None
    };
    Ok(Sample {
        name,
        labels,
        value,
        timestamp_ms,
        line: n,
    })
}

/// Reads a label value after its opening quote, through its closing quote.
fn label_value(c: &mut Cursor<'_>, label: &str) -> Result<String, String> {
    let mut value = String::new();
    loop {
        match c.bump() {
            None => return Err(format!("the value of label {label} is not closed with `\"`")),
            Some('"') => return Ok(value),
            Some('\\') => match c.bump() {
                Some('\\') => value.push('\\'),
                Some('"') => value.push('"'),
                Some('n') => value.push('\n'),
                Some(e) => {
                    return Err(format!(
                        "the value of label {label} has an unknown escape \\{e} (only \\\\, \\\" and \\n)"
                    ))
                }
                None => return Err(format!("the value of label {label} is not closed with `\"`")),
            },
            Some(ch) => value.push(ch),
        }
    }
}

/// A sample value: a float as Go's `strconv.ParseFloat` reads it for the
/// usual spellings (`1`, `-2.5e-3`, `NaN`, `+Inf`, `-Inf`).
pub fn parse_value(word: &str) -> Option<f64> {
    match word {
        "NaN" | "nan" => return Some(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => return Some(f64::INFINITY),
        "-Inf" | "-inf" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    // Rust also reads `infinity` and `nan` in any case; only digits,
    // signs, a point and an exponent are accepted beyond the words above.
    if !word
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'))
    {
        return None;
    }
    word.parse::<f64>().ok()
}

/// Why a wanted value could not be taken from an exposition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectError(pub String);

/// `name{matchers}` for messages.
pub fn selector(metric: &str, matchers: &[(String, String)]) -> String {
    if matchers.is_empty() {
        return metric.to_owned();
    }
    let inner: Vec<String> = matchers.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{metric}{{{}}}", inner.join(","))
}

fn with_skipped(message: String, exposition: &Exposition) -> SelectError {
    match exposition.skipped_note() {
        Some(note) => SelectError(format!("{message}; {note}")),
        None => SelectError(message),
    }
}

fn list(samples: &[&Sample]) -> String {
    const SHOWN: usize = 5;
    let mut parts: Vec<String> = samples
        .iter()
        .take(SHOWN)
        .map(|s| format!("{s} (line {})", s.line))
        .collect();
    if samples.len() > SHOWN {
        parts.push(format!("and {} more", samples.len() - SHOWN));
    }
    parts.join(", ")
}

/// The one sample named `metric` whose labels match.
pub fn select_one<'e>(
    exposition: &'e Exposition,
    metric: &str,
    matchers: &[(String, String)],
) -> Result<&'e Sample, SelectError> {
    let found: Vec<&Sample> = exposition
        .samples
        .iter()
        .filter(|s| s.matches(metric, matchers))
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => {
            let named: Vec<&Sample> = exposition
                .samples
                .iter()
                .filter(|s| s.name == metric)
                .collect();
            let message = if named.is_empty() {
                format!(
                    "no series named {metric} (the text has {} sample(s))",
                    exposition.samples.len()
                )
            } else {
                format!(
                    "no series matches {}; series named {metric}: {}",
                    selector(metric, matchers),
                    list(&named)
                )
            };
            Err(with_skipped(message, exposition))
        }
        many => Err(SelectError(format!(
            "{} series match {}, one is needed (add label matchers): {}",
            many.len(),
            selector(metric, matchers),
            list(many)
        ))),
    }
}

/// Cumulative bucket counts of one histogram at one scrape, sorted by upper
/// bound, the last one `+Inf`.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    /// (upper bound `le`, cumulative count).
    pub counts: Vec<(f64, f64)>,
}

/// Reads the `<metric>_bucket` series of the one histogram the matchers
/// select.
pub fn select_buckets(
    exposition: &Exposition,
    metric: &str,
    matchers: &[(String, String)],
) -> Result<Buckets, SelectError> {
    let bucket_name = format!("{metric}_bucket");
    let found: Vec<&Sample> = exposition
        .samples
        .iter()
        .filter(|s| s.matches(&bucket_name, matchers))
        .collect();
    if found.is_empty() {
        let named = exposition.samples.iter().any(|s| s.name == bucket_name);
        let message = if named {
            format!(
                "no {bucket_name} series matches {}",
                selector(&bucket_name, matchers)
            )
        } else {
            format!("no series named {bucket_name} (is {metric} a histogram?)")
        };
        return Err(with_skipped(message, exposition));
    }
    // One histogram: every series must have the same labels apart from `le`.
    let identity = |s: &Sample| -> Vec<(String, String)> {
        let mut l: Vec<(String, String)> = s
            .labels
            .iter()
            .filter(|(k, _)| k != "le")
            .cloned()
            .collect();
        l.sort();
        l
    };
    let first = identity(found[0]);
    if let Some(other) = found.iter().find(|s| identity(s) != first) {
        return Err(SelectError(format!(
            "{} selects more than one histogram ({} on line {} and {} on line {}): add label matchers",
            selector(&bucket_name, matchers),
            found[0],
            found[0].line,
            other,
            other.line
        )));
    }
    let mut counts: Vec<(f64, f64)> = Vec::with_capacity(found.len());
    for s in &found {
        let le_text = s.label("le");
        if le_text.is_empty() {
            return Err(SelectError(format!(
                "{s} on line {} has no `le` label",
                s.line
            )));
        }
        let le = parse_value(le_text)
            .filter(|v| !v.is_nan())
            .ok_or_else(|| {
                SelectError(format!(
                    "{s} on line {} has an invalid `le` {}",
                    s.line,
                    quote(le_text)
                ))
            })?;
        if !s.value.is_finite() || s.value < 0.0 {
            return Err(SelectError(format!(
                "{s} on line {} has count {}, not a count",
                s.line, s.value
            )));
        }
        if counts.iter().any(|&(l, _)| l == le) {
            return Err(SelectError(format!(
                "{s} on line {} repeats the bucket le={le_text:?}",
                s.line
            )));
        }
        counts.push((le, s.value));
    }
    counts.sort_by(|a, b| a.0.total_cmp(&b.0));
    if counts.last().map(|&(le, _)| le) != Some(f64::INFINITY) {
        return Err(SelectError(format!(
            "{} has no le=\"+Inf\" bucket",
            selector(&bucket_name, matchers)
        )));
    }
    if counts.len() < 2 {
        return Err(SelectError(format!(
            "{} has only the +Inf bucket: no quantile can be located",
            selector(&bucket_name, matchers)
        )));
    }
    for w in counts.windows(2) {
        if w[1].1 < w[0].1 {
            return Err(SelectError(format!(
                "{} is not cumulative: the bucket le={} counts {} but le={} counts {}",
                selector(&bucket_name, matchers),
                w[0].0,
                w[0].1,
                w[1].0,
                w[1].1
            )));
        }
    }
    Ok(Buckets { counts })
}

/// What the increase between two scrapes of a histogram gives.
#[derive(Debug, Clone, PartialEq)]
pub enum Increase {
    /// The quantile of the observations between the scrapes.
    Quantile(f64),
    /// No observation between the scrapes.
    Nothing,
    /// A counter went down or the buckets changed: the histogram restarted,
    /// this scrape is the new base (the reason says which).
    Restarted(String),
}

/// The quantile `q` of the observations between `previous` and `current`.
pub fn quantile_of_increase(q: f64, previous: &Buckets, current: &Buckets) -> Increase {
    if previous.counts.len() != current.counts.len()
        || previous
            .counts
            .iter()
            .zip(&current.counts)
            .any(|(a, b)| a.0 != b.0)
    {
        return Increase::Restarted("its buckets changed".into());
    }
    let mut deltas: Vec<(f64, f64)> = Vec::with_capacity(current.counts.len());
    let mut max = 0.0f64;
    for (&(le, before), &(_, now)) in previous.counts.iter().zip(&current.counts) {
        if now < before {
            return Increase::Restarted(format!(
                "the bucket le={le} went down from {before} to {now} (a counter reset)"
            ));
        }
        max = max.max(now - before);
        deltas.push((le, max));
    }
    match deltas.last() {
        Some(&(_, total)) if total > 0.0 => Increase::Quantile(bucket_quantile(q, &deltas)),
        _ => Increase::Nothing,
    }
}

/// Prometheus's `bucketQuantile` over cumulative, monotone counts whose last
/// bucket is `+Inf` (at least two buckets, total > 0).
pub fn bucket_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    let n = buckets.len();
    if n < 2 {
        return f64::NAN;
    }
    let total = buckets[n - 1].1;
    let mut rank = q * total;
    let b = buckets[..n - 1]
        .iter()
        .position(|&(_, count)| count >= rank)
        .unwrap_or(n - 1);
    if b == n - 1 {
        return buckets[n - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let end = buckets[b].0;
    let mut count = buckets[b].1;
    let mut start = 0.0;
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    if count <= 0.0 {
        return end;
    }
    start + (end - start) * (rank / count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TEXT: &str = "# HELP http_requests_total The total number of HTTP requests.\n\
# TYPE http_requests_total counter\n\
http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n\
\n\
# Escaping in label values:\n\
msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n\
\n\
# Minimalistic line:\n\
metric_without_timestamp_and_labels 12.47\n\
\n\
# A weird metric from before the epoch:\n\
something_weird{problem=\"division by zero\"} +Inf -3982045\n\
\n\
# A histogram, which has a pretty complex representation in the text format:\n\
# TYPE http_request_duration_seconds histogram\n\
http_request_duration_seconds_bucket{le=\"0.05\"} 24054\n\
http_request_duration_seconds_bucket{le=\"0.1\"} 33444\n\
http_request_duration_seconds_bucket{le=\"0.2\"} 100392\n\
http_request_duration_seconds_bucket{le=\"0.5\"} 129389\n\
http_request_duration_seconds_bucket{le=\"1\"} 133988\n\
http_request_duration_seconds_bucket{le=\"+Inf\"} 144320\n\
http_request_duration_seconds_sum 53423\n\
http_request_duration_seconds_count 144320\n\
\n\
# Finally a summary, which has a complex representation, too:\n\
# TYPE rpc_duration_seconds summary\n\
rpc_duration_seconds{quantile=\"0.01\"} 3102\n\
rpc_duration_seconds{quantile=\"0.5\"} 4773\n\
rpc_duration_seconds{quantile=\"0.99\"} 76656\n\
rpc_duration_seconds_sum 1.7560473e+07\n\
rpc_duration_seconds_count 2693\n";

    fn m(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_documentation_example_reads_without_a_bad_line() {
        let e = parse(TEXT);
        assert_eq!(e.errors, vec![]);
        assert_eq!(e.samples.len(), 18);
        let weird = &e.samples[4];
        assert_eq!(weird.name, "something_weird");
        assert_eq!(weird.value, f64::INFINITY);
        assert_eq!(weird.timestamp_ms, Some(-3982045));
        assert_eq!(weird.line, 13);
        let dos = &e.samples[2];
        assert_eq!(dos.label("path"), "C:\\DIR\\FILE.TXT");
        assert_eq!(dos.label("error"), "Cannot find file:\n\"FILE.TXT\"");
        assert_eq!(e.samples[1].timestamp_ms, Some(1395066363000));
        assert_eq!(e.samples[1].value, 3.0);
    }

    #[test]
    fn a_summary_quantile_is_selected_by_its_label() {
        let e = parse(TEXT);
        let s = select_one(&e, "rpc_duration_seconds", &m(&[("quantile", "0.99")])).unwrap();
        assert_eq!(s.value, 76656.0);
    }

    #[test]
    fn several_matching_series_are_an_error_naming_them() {
        let e = parse(TEXT);
        let err = select_one(&e, "http_requests_total", &[]).unwrap_err();
        assert_eq!(
            err.0,
            "2 series match http_requests_total, one is needed (add label matchers): \
http_requests_total{method=\"post\",code=\"200\"} (line 3), \
http_requests_total{method=\"post\",code=\"400\"} (line 4)"
        );
    }

    #[test]
    fn no_matching_series_is_an_error_listing_the_named_ones() {
        let e = parse(TEXT);
        let err = select_one(&e, "http_requests_total", &m(&[("code", "500")])).unwrap_err();
        assert!(err.0.starts_with("no series matches http_requests_total{code=\"500\"}; series named http_requests_total: "), "{}", err.0);
        let err = select_one(&e, "nope", &[]).unwrap_err();
        assert_eq!(err.0, "no series named nope (the text has 18 sample(s))");
    }

    #[test]
    fn an_absent_label_matches_the_empty_value() {
        let e = parse("a{x=\"1\"} 1\na{x=\"1\",y=\"2\"} 2\n");
        assert_eq!(select_one(&e, "a", &m(&[("y", "")])).unwrap().value, 1.0);
    }

    #[test]
    fn nan_and_infinities_are_values() {
        let e = parse("a NaN\nb -Inf\nc +Inf\nd 1e-3\n");
        assert!(e.samples[0].value.is_nan());
        assert_eq!(e.samples[1].value, f64::NEG_INFINITY);
        assert_eq!(e.samples[2].value, f64::INFINITY);
        assert_eq!(e.samples[3].value, 0.001);
        assert!(e.errors.is_empty());
    }

    #[test]
    fn garbage_lines_are_skipped_and_named_by_line_number() {
        let text = "good 1\n}{ garbage\nx{a=\"b} 1\ny{a=\"\\q\"} 2\nz 1 2 3\nw abc\n# TYPE w bogus\nv{a=\"1\",a=\"2\"} 3\nafter 2\r\n";
        let e = parse(text);
        let names: Vec<&str> = e.samples.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["good", "after"]);
        let lines: Vec<usize> = e.errors.iter().map(|l| l.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            e.errors[0].to_string(),
            "line 2: expected a metric name in \"}{ garbage\""
        );
        assert_eq!(
            e.errors[2].to_string(),
            "line 4: the value of label a has an unknown escape \\q (only \\\\, \\\" and \\n) in \"y{a=\\\"\\\\q\\\"} 2\""
        );
        assert_eq!(
            e.errors[4].to_string(),
            "line 6: w has an invalid value \"abc\" in \"w abc\""
        );
        assert_eq!(
            e.skipped_note().unwrap(),
            "7 line(s) could not be read and were skipped (first: line 2: expected a metric name in \"}{ garbage\")"
        );
        // The wanted metric still reads.
        assert_eq!(select_one(&e, "after", &[]).unwrap().value, 2.0);
    }

    #[test]
    fn a_missing_metric_mentions_the_skipped_lines() {
        let e = parse("wanted{ 1\n");
        let err = select_one(&e, "wanted", &[]).unwrap_err();
        assert_eq!(err.0, "no series named wanted (the text has 0 sample(s)); 1 line(s) could not be read and were skipped (first: line 1: expected a label name or `}`, found '1' in \"wanted{ 1\")");
    }

    #[test]
    fn labels_allow_blanks_and_a_trailing_comma() {
        let e = parse("a{ x = \"1\" , y=\"2\", } 5\n");
        assert!(e.errors.is_empty(), "{:?}", e.errors);
        assert_eq!(e.samples[0].labels, m(&[("x", "1"), ("y", "2")]));
    }

    fn buckets(counts: &[(f64, f64)]) -> Buckets {
        Buckets {
            counts: counts.to_vec(),
        }
    }

    #[test]
    fn the_quantile_interpolates_inside_its_bucket() {
        // 100 observations: 50 ≤ 0.1, 40 in (0.1, 0.2], 10 in (0.2, 0.5].
        let b = [
            (0.1, 50.0),
            (0.2, 90.0),
            (0.5, 100.0),
            (f64::INFINITY, 100.0),
        ];
        // p50: rank 50, in the first bucket, from 0: 0.1 × 50/50.
        assert!((bucket_quantile(0.5, &b) - 0.1).abs() < 1e-12);
        // p25: rank 25 of 50 in [0, 0.1].
        assert!((bucket_quantile(0.25, &b) - 0.05).abs() < 1e-12);
        // p70: rank 70, in (0.1, 0.2]: 0.1 + 0.1 × 20/40.
        assert!((bucket_quantile(0.7, &b) - 0.15).abs() < 1e-12);
        // p99: rank 99, in (0.2, 0.5]: 0.2 + 0.3 × 9/10.
        assert!((bucket_quantile(0.99, &b) - 0.47).abs() < 1e-12);
    }

    #[test]
    fn a_quantile_in_the_inf_bucket_is_the_highest_finite_bound() {
        let b = [(0.1, 10.0), (0.2, 20.0), (f64::INFINITY, 100.0)];
        assert_eq!(bucket_quantile(0.99, &b), 0.2);
    }

    #[test]
    fn a_first_bucket_at_or_below_zero_answers_its_bound() {
        let b = [(-1.0, 10.0), (1.0, 20.0), (f64::INFINITY, 20.0)];
        assert_eq!(bucket_quantile(0.25, &b), -1.0);
    }

    #[test]
    fn the_quantile_of_the_documented_histogram_matches_prometheus() {
        let e = parse(TEXT);
        let b = select_buckets(&e, "http_request_duration_seconds", &[]).unwrap();
        // rank 0.99 × 144320 = 142876.8 > 133988: the +Inf bucket → 1.
        assert_eq!(bucket_quantile(0.99, &b.counts), 1.0);
        // rank 0.5 × 144320 = 72160 in (0.1, 0.2]:
        // 0.1 + 0.1 × (72160 − 33444) / (100392 − 33444).
        let want = 0.1 + 0.1 * (72160.0 - 33444.0) / (100392.0 - 33444.0);
        assert!((bucket_quantile(0.5, &b.counts) - want).abs() < 1e-12);
    }

    #[test]
    fn the_increase_between_scrapes_is_what_counts() {
        let before = buckets(&[(0.1, 1000.0), (0.5, 1000.0), (f64::INFINITY, 1000.0)]);
        // 10 new observations, all in (0.1, 0.5].
        let after = buckets(&[(0.1, 1000.0), (0.5, 1010.0), (f64::INFINITY, 1010.0)]);
        match quantile_of_increase(0.5, &before, &after) {
            Increase::Quantile(v) => assert!((v - 0.3).abs() < 1e-12, "{v}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(quantile_of_increase(0.5, &after, &after), Increase::Nothing);
    }

    #[test]
    fn a_counter_reset_restarts_from_this_scrape() {
        let before = buckets(&[(0.1, 10.0), (f64::INFINITY, 20.0)]);
        let after = buckets(&[(0.1, 2.0), (f64::INFINITY, 25.0)]);
        assert_eq!(
            quantile_of_increase(0.5, &before, &after),
            Increase::Restarted(
                "the bucket le=0.1 went down from 10 to 2 (a counter reset)".into()
            )
        );
        let other = buckets(&[(0.2, 10.0), (f64::INFINITY, 20.0)]);
        assert!(matches!(
            quantile_of_increase(0.5, &before, &other),
            Increase::Restarted(_)
        ));
    }

    #[test]
    fn bad_histograms_are_errors_naming_what_is_wrong() {
        let no_inf = parse("h_bucket{le=\"0.1\"} 1\nh_bucket{le=\"1\"} 2\n");
        assert_eq!(
            select_buckets(&no_inf, "h", &[]).unwrap_err().0,
            "h_bucket has no le=\"+Inf\" bucket"
        );
        let not_monotone =
            parse("h_bucket{le=\"0.1\"} 5\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 5\n");
        assert_eq!(
            select_buckets(&not_monotone, "h", &[]).unwrap_err().0,
            "h_bucket is not cumulative: the bucket le=0.1 counts 5 but le=1 counts 2"
        );
        let two = parse("h_bucket{a=\"1\",le=\"+Inf\"} 1\nh_bucket{a=\"2\",le=\"+Inf\"} 1\n");
        assert!(select_buckets(&two, "h", &[])
            .unwrap_err()
            .0
            .contains("selects more than one histogram"));
        let bad_le = parse("h_bucket{le=\"x\"} 1\n");
        assert_eq!(
            select_buckets(&bad_le, "h", &[]).unwrap_err().0,
            "h_bucket{le=\"x\"} on line 1 has an invalid `le` \"x\""
        );
        let none = parse("h_count 1\n");
        assert_eq!(
            select_buckets(&none, "h", &[]).unwrap_err().0,
            "no series named h_bucket (is h a histogram?)"
        );
    }

    #[test]
    fn matchers_select_one_histogram_of_several() {
        let text = "h_bucket{job=\"a\",le=\"1\"} 1\nh_bucket{job=\"a\",le=\"+Inf\"} 2\n\
h_bucket{job=\"b\",le=\"1\"} 5\nh_bucket{job=\"b\",le=\"+Inf\"} 9\n";
        let e = parse(text);
        let b = select_buckets(&e, "h", &m(&[("job", "b")])).unwrap();
        assert_eq!(b.counts, vec![(1.0, 5.0), (f64::INFINITY, 9.0)]);
    }

    /// Deterministic mutations of the example text: byte flips, cuts,
    /// insertions of the format's special characters.
    #[test]
    fn mutated_expositions_never_panic() {
        let specials = [
            "{", "}", "\"", "\\", "=", ",", " ", "\n", "#", "é", "\r", "+Inf", "le",
        ];
        let base = TEXT.as_bytes();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut previous: Option<Buckets> = None;
        for _ in 0..3000 {
            let mut text = base.to_vec();
            for _ in 0..(next() % 8 + 1) {
                let at = (next() as usize) % (text.len() + 1);
                match next() % 3 {
                    0 if at < text.len() => text[at] = (next() % 128) as u8,
                    1 => text.truncate(at),
                    _ => {
                        let s = specials[(next() as usize) % specials.len()];
                        text.splice(at..at, s.bytes());
                    }
                }
            }
            let text = String::from_utf8_lossy(&text);
            let e = parse(&text);
            let _ = select_one(&e, "rpc_duration_seconds", &m(&[("quantile", "0.99")]));
            if let Ok(b) = select_buckets(&e, "http_request_duration_seconds", &[]) {
                assert_eq!(quantile_of_increase(0.99, &b, &b), Increase::Nothing);
                // Against the previous mutant that read, as two scrapes.
                if let Some(p) = &previous {
                    let _ = quantile_of_increase(0.99, p, &b);
                    let _ = quantile_of_increase(0.5, &b, p);
                }
                previous = Some(b);
            }
        }
    }

    proptest! {
        #[test]
        fn any_text_parses_without_panic(text in "\\PC{0,200}") {
            let e = parse(&text);
            for err in &e.errors {
                prop_assert!(err.line >= 1);
            }
        }

        #[test]
        fn sample_lines_of_the_grammar_round_trip(
            name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}",
            labels in proptest::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,8}", "[ -~\n]{0,10}"), 0..4),
            value in proptest::num::f64::NORMAL | proptest::num::f64::ZERO,
            ts in proptest::option::of(any::<i64>()),
        ) {
            let mut seen = std::collections::HashSet::new();
            let labels: Vec<(String, String)> = labels.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect();
            let mut line = name.clone();
            if !labels.is_empty() {
                let parts: Vec<String> = labels.iter().map(|(k, v)| {
                    let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                    format!("{k}=\"{v}\"")
                }).collect();
                line.push_str(&format!("{{{}}}", parts.join(",")));
            }
            line.push_str(&format!(" {value:e}"));
            if let Some(ts) = ts {
                line.push_str(&format!(" {ts}"));
            }
            let e = parse(&line);
            prop_assert!(e.errors.is_empty(), "{:?}", e.errors);
            prop_assert_eq!(e.samples.len(), 1);
            let s = &e.samples[0];
            prop_assert_eq!(&s.name, &name);
            prop_assert_eq!(&s.labels, &labels);
            prop_assert_eq!(s.value, value);
            prop_assert_eq!(s.timestamp_ms, ts);
        }

        #[test]
        fn quantiles_stay_inside_the_finite_bounds(
            counts in proptest::collection::vec(0.0f64..1000.0, 1..8),
            q in 0.001f64..0.999,
        ) {
            let mut cumulative = 0.0;
            let mut b: Vec<(f64, f64)> = counts.iter().enumerate().map(|(i, c)| {
                cumulative += c;
                ((i + 1) as f64 * 0.1, cumulative)
            }).collect();
            b.push((f64::INFINITY, cumulative + 1.0));
            let v = bucket_quantile(q, &b);
            prop_assert!(v.is_finite());
            prop_assert!((0.0..=b[b.len() - 2].0 + 1e-12).contains(&v), "{v}");
        }
    }
}
