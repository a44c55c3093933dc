//! `serenity score`: grade pipelines against a simulated trace's truth.
//!
//! Closed loop (the default): each TRACE is a closed-loop simulation whose
//! records carry what every pipeline did (`actions`). Open loop: one TRACE
//! and `--result`, the replay of that trace. The definitions are in
//! `serenity_sim::score` and docs/replay.md; this module reads files and
//! prints tables.

use crate::cli::{ReportFormat, ScoreArgs};
use anyhow::Context;
use serenity_sim::score::{aggregate, score_run, Loop, PipelineScore, ScoreOptions};
use serenity_sim::truth::Labels;
use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;

pub use serenity_sim::actions::TickLine;

/// Reads a replay result (JSON Lines of [`TickLine`]).
pub fn read_result(text: &str) -> anyhow::Result<Vec<TickLine>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("result line {}", i + 1)))
        .collect()
}

/// Reads the replay result file `path` a line at a time (what
/// [`read_result`] reads from its text).
pub fn read_result_file(path: &Path) -> anyhow::Result<Vec<TickLine>> {
    let cannot = || format!("cannot read result {}", path.display());
    let file = std::fs::File::open(path).with_context(cannot)?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(cannot)?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line)
                .with_context(|| format!("result line {}", i + 1))
                .with_context(|| format!("result {}", path.display()))?,
        );
    }
    Ok(out)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".into(), |v| format!("{v:.digits$}"))
}

/// The Markdown header of closed-loop QoS rows ([`markdown_row`]).
pub const MARKDOWN_HEADER_QOS: &str = "| scenario | pipeline | episodes | detected | missed | mean delay (ticks) | max delay (ticks) | kills | false kills | false kills / 10k ticks |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|";

/// The Markdown header of open-loop QoS rows (with excused kills).
pub const MARKDOWN_HEADER_QOS_OPEN: &str = "| scenario | pipeline | episodes | detected | missed | mean delay (ticks) | max delay (ticks) | kills | false kills | false kills / 10k ticks | excused kills |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

/// The Markdown header of estimator rows ([`markdown_row`]).
pub const MARKDOWN_HEADER_ESTIMATOR: &str = "| scenario | pipeline | mean slack (CPUs) | mean idle over the period (CPUs) | slack / idle | over-lending ticks | over-lent CPU·s | revocations (CPUs) |\n|---|---|---:|---:|---:|---:|---:|---:|";

/// One Markdown row, in the layout of the pipeline's kind and loop.
pub fn markdown_row(label: &str, s: &PipelineScore) -> String {
    if s.kind == "qos" {
        let mut row = format!(
            "| {label} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
            s.pipeline,
            s.episodes,
            s.detected,
            s.missed,
            opt(s.mean_delay, 1),
            s.max_delay.map_or("—".into(), |d| d.to_string()),
            s.kills,
            s.false_kills,
            s.false_kills_per_10k_ticks,
        );
        if s.loop_kind == "open" {
            row.push_str(&format!(" {} |", s.excused_kills));
        }
        row
    } else {
        format!(
            "| {label} | {} | {} | {} | {} | {} | {:.1} | {} ({:.1}) |",
            s.pipeline,
            opt(s.mean_slack, 2),
            opt(s.mean_idle, 2),
            opt(s.slack_over_idle, 2),
            s.over_lending_ticks,
            s.over_lent_cpu_seconds,
            s.revocations,
            s.revoked_cpus,
        )
    }
}

fn label_of(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Scores one trace (closed loop, or open loop with `result`). The trace is
/// read one record at a time; only each record's truth and actions are kept.
pub fn score_file(
    trace: &Path,
    result: Option<&Path>,
    opts: &ScoreOptions,
) -> anyhow::Result<Vec<PipelineScore>> {
    // The trace is read and checked as replay reads it, so that a bad record
    // is named the same way; only each record's truth and actions are kept,
    // and of each truth's lent executors only those a correction names.
    let result_lines = result.map(read_result_file).transpose()?;
    let mut labels = match &result_lines {
        Some(lines) => Labels::for_open_loop_score(lines),
        None => Labels::for_closed_loop_score(),
    };
    crate::replay::stream_trace_file(trace, |record| {
        if let Some(text) = record.text {
            labels
                .push_line(record.line.unwrap_or_default(), text)
                .map_err(|e| anyhow::anyhow!("trace {}: {e}", trace.display()))?;
        }
        Ok(())
    })?;
    let Labels { truth, actions, .. } = labels;
    if !truth.iter().any(Option::is_some) {
        anyhow::bail!(
            "trace {} has no ground truth (`truth` keys); score needs a trace from `serenity simulate`",
            trace.display()
        );
    }
    match result_lines {
        Some(lines) => Ok(score_run(&lines, &truth, Loop::Open, opts)),
        None => {
            if actions.is_empty() {
                anyhow::bail!(
                    "trace {} has no actions: it is an open-loop trace; simulate with --pipeline (closed loop) or give the replay with --result",
                    trace.display()
                );
            }
            Ok(score_run(&actions, &truth, Loop::Closed, opts))
        }
    }
}

/// Runs `serenity score`.
pub fn run(args: &ScoreArgs) -> anyhow::Result<ExitCode> {
    if args.result.is_some() && args.traces.len() != 1 {
        anyhow::bail!("--result scores one open-loop trace; give exactly one TRACE");
    }
    if !(args.grace_fraction >= 0.0 && args.grace_fraction.is_finite()) {
        anyhow::bail!("--grace-fraction must be a number ≥ 0");
    }
    let opts = ScoreOptions {
        grace_fraction: args.grace_fraction,
        max_grace_ticks: args.grace_ticks,
        period_ticks: args.period_ticks.max(1),
    };
    let mut per_trace: Vec<(String, Vec<PipelineScore>)> = Vec::new();
    for trace in &args.traces {
        let scores = score_file(trace, args.result.as_deref(), &opts)?;
        let label = match (&args.label, args.traces.len()) {
            (Some(l), 1) => l.clone(),
            _ => label_of(trace),
        };
        per_trace.push((label, scores));
    }
    let mut aggregates: Vec<PipelineScore> = Vec::new();
    if args.aggregate {
        let mut names: Vec<String> = Vec::new();
        for (_, scores) in &per_trace {
            for s in scores {
                if !names.contains(&s.pipeline) {
                    names.push(s.pipeline.clone());
                }
            }
        }
        for n in names {
            let all: Vec<&PipelineScore> = per_trace
                .iter()
                .flat_map(|(_, s)| s.iter().filter(|s| s.pipeline == n))
                .collect();
            aggregates.extend(aggregate(&all));
        }
    }
    let loop_kind = if args.result.is_some() {
        "open"
    } else {
        "closed"
    };
    let mut text = String::new();
    match args.output {
        ReportFormat::Json => {
            let traces: Vec<serde_json::Value> = per_trace
                .iter()
                .map(|(label, scores)| serde_json::json!({"label": label, "pipelines": scores}))
                .collect();
            let doc = if traces.len() == 1 && !args.aggregate {
                let mut d = traces[0].clone();
                d["loop"] = loop_kind.into();
                d["options"] = serde_json::json!(opts);
                d
            } else {
                serde_json::json!({"loop": loop_kind, "options": opts, "traces": traces, "aggregate": aggregates})
            };
            text = serde_json::to_string_pretty(&doc)?;
            text.push('\n');
        }
        ReportFormat::Markdown => {
            let want = args.kind.map(|k| k.as_str());
            if args.header {
                text.push_str(match (args.kind, loop_kind) {
                    (Some(crate::cli::ScoreKind::Estimator), _) => MARKDOWN_HEADER_ESTIMATOR,
                    (_, "open") => MARKDOWN_HEADER_QOS_OPEN,
                    _ => MARKDOWN_HEADER_QOS,
                });
                text.push('\n');
            }
            for (label, scores) in &per_trace {
                for s in scores.iter().filter(|s| want.is_none_or(|k| s.kind == k)) {
                    text.push_str(&markdown_row(label, s));
                    text.push('\n');
                }
            }
            for s in aggregates
                .iter()
                .filter(|s| want.is_none_or(|k| s.kind == k))
            {
                text.push_str(&markdown_row("**all**", s));
                text.push('\n');
            }
        }
        ReportFormat::Table => {
            let mut t = crate::output::Table::new(
                [
                    "scenario",
                    "pipeline",
                    "kind",
                    "ticks",
                    "episodes",
                    "detected",
                    "missed",
                    "mean delay",
                    "max delay",
                    "kills",
                    "false",
                    "false/10k",
                    "excused",
                    "slack/idle",
                    "over-lent ticks",
                    "over-lent CPU·s",
                    "revoked",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            );
            let rows = per_trace
                .iter()
                .flat_map(|(l, s)| s.iter().map(move |s| (l.as_str(), s)))
                .chain(aggregates.iter().map(|s| ("all", s)));
            for (label, s) in rows {
                t.push(vec![
                    label.to_owned(),
                    s.pipeline.clone(),
                    s.kind.clone(),
                    s.ticks.to_string(),
                    s.episodes.to_string(),
                    s.detected.to_string(),
                    s.missed.to_string(),
                    opt(s.mean_delay, 1),
                    s.max_delay.map_or("—".into(), |d| d.to_string()),
                    s.kills.to_string(),
                    s.false_kills.to_string(),
                    format!("{:.1}", s.false_kills_per_10k_ticks),
                    if s.loop_kind == "open" {
                        s.excused_kills.to_string()
                    } else {
                        "—".into()
                    },
                    opt(s.slack_over_idle, 2),
                    s.over_lending_ticks.to_string(),
                    format!("{:.1}", s.over_lent_cpu_seconds),
                    format!("{} ({:.1} CPUs)", s.revocations, s.revoked_cpus),
                ]);
            }
            text = t.render();
        }
    }
    crate::output::emit(&text)?;
    Ok(ExitCode::SUCCESS)
}
