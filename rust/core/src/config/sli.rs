//! The `[[sli]]` tables of a pipeline file (see [`crate::sli`]).
//!
//! ```toml
//! [[sli]]
//! name = "memcached_p99"           # signals sli.memcached_p99, slo_slack.memcached_p99
//! executors = ["memcached"]        # the production executor(s) it measures
//! objective = 0.7                  # in `unit`, after `scale`
//! unit = "ms"
//! direction = "at_most"            # or "at_least" (throughput)
//! source = "prometheus"            # or "json", "file"
//! url = "http://127.0.0.1:9500/metrics"
//! metric = "request_duration_seconds"
//! quantile = 0.99                  # a histogram: quantile of its _bucket increase
//! window_secs = 5.0                # ... over the last 5 s (default: since the previous fetch)
//! labels = { job = "memcached" }
//! scale = 1000.0                   # seconds → ms
//! interval_secs = 1.0              # fetch period (default: the pipeline's)
//! timeout_secs = 0.5
//! max_age_secs = 3.0               # default: 3 × interval_secs
//! ```

use super::error::ConfigError;
use super::reader::{self, ParamReader};
use super::source::Source;
use crate::signal::SignalNames;
use crate::sli::{SliDirection, SliSource, SliSpec};
use toml::de::{DeTable, DeValue};

fn name_ok(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn url_ok(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(
            "must be an http:// URL (https is not supported: SLI endpoints are node-local)".into(),
        );
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err("has no host".into());
    }
    Ok(())
}

/// Reads every `[[sli]]` table, declaring its two signals.
pub(super) fn read_slis(
    source: &Source<'_>,
    doc: &DeTable<'_>,
    errors: &mut Vec<ConfigError>,
    signals: &mut SignalNames,
    interval_secs: f64,
) -> Vec<SliSpec> {
    let Some((key, value)) = doc.iter().find(|(k, _)| k.get_ref() == "sli") else {
        return Vec::new();
    };
    let DeValue::Array(items) = value.get_ref() else {
        errors.push(ConfigError {
            origin: source.origin(key.span().start),
            stage: None,
            key: Some("sli".into()),
            value: Some(source.snippet(value.span())),
            message: "must be an array of tables, written [[sli]]".into(),
        });
        return Vec::new();
    };
    let mut out: Vec<SliSpec> = Vec::new();
    for item in items.iter() {
        let DeValue::Table(table) = item.get_ref() else {
            errors.push(ConfigError {
                origin: source.origin(item.span().start),
                stage: None,
                key: Some("sli".into()),
                value: Some(source.snippet(item.span())),
                message: "each entry must be a table, written [[sli]]".into(),
            });
            continue;
        };
        let mut r = ParamReader {
            source,
            table,
            overrides: Vec::new(),
            stage: None,
            table_origin: source.origin(item.span().start),
            used: Vec::new(),
            errors,
            signals,
            section: Some("sli"),
        };
        if let Some(spec) = read_one(&mut r, interval_secs, &out) {
            out.push(spec);
        }
        r.finish(&[]);
    }
    out
}

fn read_url(r: &mut ParamReader<'_, '_>) -> Option<String> {
    let url = r.opt_string("url");
    match &url {
        None => r.problem(None, "missing `url` for this source"),
        Some(u) => {
            if let Err(m) = url_ok(u) {
                r.problem(Some("url"), m);
            }
        }
    }
    url
}

fn read_one(r: &mut ParamReader<'_, '_>, interval: f64, earlier: &[SliSpec]) -> Option<SliSpec> {
    let name = r.opt_string("name");
    match &name {
        None => r.problem(None, "missing `name`: every [[sli]] needs one"),
        Some(n) if !name_ok(n) => r.problem(
            Some("name"),
            "must be letters, digits and `_` only (it names the signals sli.<name> and slo_slack.<name>)",
        ),
        Some(n) if earlier.iter().any(|s| &s.name == n) => {
            r.problem(Some("name"), "is used by an earlier [[sli]]; names must be unique")
        }
        _ => {}
    }
    let executors = r.strings("executors").unwrap_or_default();
    if executors.is_empty() {
        r.problem(
            Some("executors"),
            "must name at least one executor id: the production work this SLI measures (missing or empty)",
        );
    }
    let objective = r.opt_f64("objective", reader::positive);
    if objective.is_none() {
        r.problem(None, "missing `objective`: the value the SLI must stay within (e.g. objective = 2.0 with unit = \"ms\")");
    }
    let direction = match r.choice("direction", "at_most", &["at_most", "at_least"]) {
        "at_least" => SliDirection::AtLeast,
        _ => SliDirection::AtMost,
    };
    let unit = r.opt_string("unit").unwrap_or_default();
    let scale = r.f64("scale", 1.0, reader::positive);
    let interval_secs = r.f64("interval_secs", interval, reader::positive);
    let timeout_secs = r.f64("timeout_secs", 0.5, reader::positive);
    let max_age_secs = r.f64("max_age_secs", 3.0 * interval_secs, reader::positive);
    let kind = r.opt_string("source");
    let mut window_secs = 0.0;
    let source = match kind.as_deref() {
        Some("prometheus") => {
            let url = read_url(r);
            let metric = r.opt_string("metric");
            if metric.is_none() {
                r.problem(None, "missing `metric`: the Prometheus metric name to read");
            }
            let labels = r.string_table("labels").unwrap_or_default();
            let quantile = r.opt_f64("quantile", |q| {
                if q > 0.0 && q < 1.0 {
                    Ok(())
                } else {
                    Err("must be between 0 and 1 (exclusive), e.g. 0.99".into())
                }
            });
            if quantile.is_some() {
                window_secs = r.opt_f64("window_secs", reader::positive).unwrap_or(0.0);
                if window_secs > 0.0 && window_secs < interval_secs {
                    r.problem(
                        Some("window_secs"),
                        format!("must be at least interval_secs ({interval_secs}): the quantile is taken between two fetches at least"),
                    );
                }
            }
            Some(SliSource::Prometheus {
                url: url?,
                metric: metric?,
                labels,
                quantile,
            })
        }
        Some("json") => {
            let url = read_url(r);
            let pointer = r.opt_string("pointer");
            match &pointer {
                None => r.problem(
                    None,
                    "missing `pointer`: the JSON pointer to the value, e.g. \"/latency/p99\"",
                ),
                Some(p) if !p.starts_with('/') => {
                    r.problem(Some("pointer"), "must be a JSON pointer starting with `/`")
                }
                _ => {}
            }
            Some(SliSource::Json {
                url: url?,
                pointer: pointer?,
            })
        }
        Some("file") => {
            let path = r.opt_string("path");
            match &path {
                None => r.problem(None, "missing `path`: the file the service rewrites"),
                Some(p) if !p.starts_with('/') => {
                    r.problem(Some("path"), "must be an absolute path")
                }
                _ => {}
            }
            let pointer = r.opt_string("pointer");
            if let Some(p) = &pointer {
                if !p.starts_with('/') {
                    r.problem(Some("pointer"), "must be a JSON pointer starting with `/`");
                }
            }
            Some(SliSource::File {
                path: path?,
                pointer,
            })
        }
        Some(_) => {
            r.problem(
                Some("source"),
                "must be \"prometheus\", \"json\" or \"file\"",
            );
            None
        }
        None => {
            r.problem(
                None,
                "missing `source`: \"prometheus\", \"json\" or \"file\"",
            );
            None
        }
    };
    let name = name.filter(|n| name_ok(n))?;
    let value_signal = r.signals.declare(&format!("sli.{name}"));
    let slack_signal = r.signals.declare(&format!("slo_slack.{name}"));
    Some(SliSpec {
        name,
        executors,
        objective: objective?,
        direction,
        unit,
        scale,
        interval_secs,
        window_secs,
        timeout_secs,
        max_age_secs,
        source: source?,
        value_signal,
        slack_signal,
    })
}
