//! What `serenity replay` prints: the stable JSON Lines record (one per tick
//! and pipeline, documented in docs/replay.md) and the readable table.

pub use serenity_sim::actions::{ContentionLine, CorrectionLine, SlackLine, TickLine};
use std::fmt::Write as _;
use std::io::Write as _;

/// Writes `text` to stdout. A closed pipe (`serenity ... | head`) ends the
/// output quietly instead of failing.
pub fn emit(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

/// Totals per pipeline, printed under the table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// The pipeline's name.
    pub pipeline: String,
    /// Ticks run.
    pub ticks: u64,
    /// Ticks stopped by a stage.
    pub stopped: u64,
    /// Ticks with slack, and the Σ of their CPUs (estimators).
    pub slack_ticks: u64,
    /// Σ slack CPUs over those ticks.
    pub slack_cpus_sum: f64,
    /// Largest slack seen.
    pub slack_cpus_max: f64,
    /// Contentions raised.
    pub contentions: u64,
    /// Corrections decided (every tick counted).
    pub corrections: u64,
    /// Distinct executors named by corrections.
    pub killed: std::collections::BTreeSet<String>,
}

impl Summary {
    /// Adds one tick.
    pub fn add(&mut self, line: &TickLine) {
        self.ticks += 1;
        if line.stopped_by.is_some() {
            self.stopped += 1;
        }
        if let Some(s) = line.slack {
            self.slack_ticks += 1;
            self.slack_cpus_sum += s.cpus;
            self.slack_cpus_max = self.slack_cpus_max.max(s.cpus);
        }
        self.contentions += line.contentions.len() as u64;
        self.corrections += line.corrections.len() as u64;
        for c in &line.corrections {
            self.killed.insert(c.executor_id.clone());
        }
    }

    /// One readable line.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{}: {} ticks, {} stopped",
            self.pipeline, self.ticks, self.stopped
        );
        if self.slack_ticks > 0 {
            let _ = write!(
                s,
                ", mean slack {:.3} cpus (max {:.3})",
                self.slack_cpus_sum / self.slack_ticks as f64,
                self.slack_cpus_max
            );
        }
        let _ = write!(
            s,
            ", {} contention{}, {} correction{}",
            self.contentions,
            plural(self.contentions as usize),
            self.corrections,
            plural(self.corrections as usize)
        );
        if !self.killed.is_empty() {
            let names: Vec<&str> = self.killed.iter().map(String::as_str).collect();
            let _ = write!(s, " (executors: {})", names.join(", "));
        }
        s
    }
}

/// Formats table rows: a header, then one row per tick with one column per
/// pipeline. Column widths follow the content.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: Vec<String>) -> Self {
        Table {
            header,
            rows: Vec::new(),
        }
    }

    /// Adds a row (as many cells as titles).
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Renders the table; the last column is not padded.
    pub fn render(&self) -> String {
        let cols = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut l = String::new();
            for (i, c) in cells.iter().enumerate().take(cols) {
                if i + 1 == cols {
                    l.push_str(c);
                } else {
                    let pad = widths[i] - c.chars().count();
                    l.push_str(c);
                    l.extend(std::iter::repeat_n(' ', pad + 2));
                }
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        line(&self.header);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&rule);
        for r in &self.rows {
            line(r);
        }
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> TickLine {
        TickLine {
            tick: 3,
            timestamp: Some(10.5),
            pipeline: "qos".into(),
            slack: None,
            contentions: vec![ContentionLine {
                framework_id: None,
                executor_id: None,
                signal: "cpu_usage_ema".into(),
                severity: Some(1.5),
            }],
            corrections: vec![CorrectionLine {
                framework_id: "fw".into(),
                executor_id: "be-1".into(),
                container_id: None,
                reason: "r".into(),
            }],
            stopped_by: None,
        }
    }

    #[test]
    fn json_line_has_exactly_the_documented_keys() {
        let v: serde_json::Value = serde_json::to_value(line()).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "contentions",
                "corrections",
                "pipeline",
                "slack",
                "stopped_by",
                "tick",
                "timestamp"
            ]
        );
        assert!(v["slack"].is_null());
        assert!(v["contentions"][0]["framework_id"].is_null());
    }

    #[test]
    fn cell_names_contentions_and_kills() {
        assert_eq!(line().cell(), "1 contention (cpu_usage_ema); kill be-1");
    }

    #[test]
    fn summary_counts_distinct_killed_executors() {
        let mut s = Summary {
            pipeline: "qos".into(),
            ..Default::default()
        };
        s.add(&line());
        s.add(&line());
        assert_eq!(s.corrections, 2);
        assert_eq!(s.killed.len(), 1);
        assert!(
            s.line().contains("2 corrections (executors: be-1)"),
            "{}",
            s.line()
        );
    }

    #[test]
    fn table_pads_all_but_the_last_column() {
        let mut t = Table::new(vec!["a".into(), "bb".into()]);
        t.push(vec!["long".into(), "x".into()]);
        assert_eq!(t.render(), "a     bb\n----  --\nlong  x\n");
    }
}
