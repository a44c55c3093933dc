//! `serenity bench`: the per-tick cost of the module's hot path.
//!
//! Each tick, a synthetic `ResourceUsage` of N executors (a share of them
//! best-effort, all with cumulative CPU counters and perf counters) is
//! encoded to protobuf bytes outside the timed region, then timed:
//! 1. decode (`decode_usage_into` over the previous tick's message), as the
//!    C ABI does with the agent's bytes;
//! 2. the snapshot view (`Snapshot::rebuild`) and every pipeline's tick.
//!
//! Reported: mean and percentiles of decode and decode + pipelines per
//! tick, the cost per executor, the ratio (decode + pipelines) / decode,
//! the process's peak resident memory (VmHWM) and how much the resident set
//! grew during the second half of the run (it should not: per-executor
//! state is bounded).

use crate::cli::{BenchArgs, ReportFormat};
use anyhow::Context;
use prost::Message;
use serde::Serialize;
use serenity_core::model::proto;
use serenity_core::{build_pipeline, decode_usage_into, BuildOptions, Pipeline, Snapshot};
use std::process::ExitCode;
use std::time::Instant;

/// The estimator used when no `--pipeline` is given.
pub const DEFAULT_ESTIMATOR: &str = r#"kind = "estimator"
description = "bench: valve, production only, EMA of CPU usage, slack"
[[stage]]
type = "valve"
[[stage]]
type = "pr_only"
[[stage]]
type = "ema"
input = "cpu_usage"
alpha = 0.2
[[stage]]
type = "slack"
usage = "cpu_usage_ema"
fraction = 0.8
"#;

/// The QoS pipeline used when no `--pipeline` is given.
pub const DEFAULT_QOS: &str = r#"kind = "qos"
description = "bench: EMA of CPU usage and IPC, kill_all"
[[stage]]
type = "ema"
input = "cpu_usage"
[[stage]]
type = "ema"
input = "ipc"
[[stage]]
type = "kill_all"
"#;

fn scalar(name: &str, v: f64, revocable: bool) -> proto::Resource {
    proto::Resource {
        name: Some(name.into()),
        r#type: Some(0),
        scalar: Some(proto::Scalar { value: Some(v) }),
        revocable: revocable.then_some(proto::RevocableInfo {}),
        ..Default::default()
    }
}

/// A deterministic synthetic snapshot of `n` executors at tick `t`.
pub fn synthetic_usage(n: usize, t: usize, best_effort_share: f64) -> proto::ResourceUsage {
    let be_every = if best_effort_share > 0.0 {
        (1.0 / best_effort_share).round().max(1.0) as usize
    } else {
        usize::MAX
    };
    let time = 1_700_000_000.0 + t as f64;
    let executors = (0..n)
        .map(|i| {
            let revocable = i % be_every == be_every - 1;
            // A slowly varying load per executor, no randomness needed.
            let load = 0.5 + 0.4 * ((i as f64 * 0.37 + t as f64 * 0.05).sin());
            let cpu_seconds = t as f64 * 0.5 + i as f64 * 0.01 + load * 0.1;
            let cycles = (load * 2.5e9) as u64;
            proto::Executor {
                executor_info: Some(proto::ExecutorInfo {
                    executor_id: Some(proto::ExecutorId {
                        value: Some(format!("executor-{i:05}")),
                    }),
                    framework_id: Some(proto::FrameworkId {
                        value: Some(
                            if revocable {
                                "be-framework"
                            } else {
                                "prod-framework"
                            }
                            .into(),
                        ),
                    }),
                    name: Some(format!("executor {i}")),
                    ..Default::default()
                }),
                allocated: vec![
                    scalar("cpus", 1.0, revocable),
                    scalar("mem", 512.0, revocable),
                ],
                statistics: Some(proto::ResourceStatistics {
                    timestamp: Some(time),
                    cpus_user_time_secs: Some(cpu_seconds * 0.8),
                    cpus_system_time_secs: Some(cpu_seconds * 0.2),
                    cpus_limit: Some(1.0),
                    mem_rss_bytes: Some(256 << 20),
                    mem_limit_bytes: Some(512 << 20),
                    perf: Some(proto::PerfStatistics {
                        timestamp: Some(time - 1.0),
                        duration: Some(1.0),
                        cycles: Some(cycles),
                        instructions: Some((cycles as f64 * 1.4) as u64),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                container_id: Some(proto::ContainerId {
                    value: Some(format!("container-{i:05}")),
                    parent: None,
                }),
                tasks: Vec::new(),
            }
        })
        .collect();
    proto::ResourceUsage {
        executors,
        total: vec![
            scalar("cpus", n as f64 * 1.2, false),
            scalar("mem", n as f64 * 700.0, false),
        ],
    }
}

/// Resident memory figures from /proc/self/status, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Memory {
    /// Current resident set (VmRSS).
    pub rss_kib: Option<u64>,
    /// Peak resident set (VmHWM).
    pub hwm_kib: Option<u64>,
}

/// Reads VmRSS and VmHWM (Linux; `None` elsewhere).
pub fn memory() -> Memory {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    }
}

/// Summary statistics of per-tick durations, microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timing {
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Mean per executor, nanoseconds.
    pub per_executor_ns: f64,
}

fn timing(mut us: Vec<f64>, executors: usize) -> Timing {
    if us.is_empty() {
        return Timing::default();
    }
    us.sort_by(f64::total_cmp);
    let pick = |q: f64| us[((us.len() - 1) as f64 * q).round() as usize];
    let mean = us.iter().sum::<f64>() / us.len() as f64;
    Timing {
        mean_us: mean,
        p50_us: pick(0.5),
        p99_us: pick(0.99),
        per_executor_ns: mean * 1000.0 / executors.max(1) as f64,
    }
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// Executors per snapshot.
    pub executors: usize,
    /// Ticks measured.
    pub ticks: usize,
    /// Pipelines run.
    pub pipelines: Vec<String>,
    /// Bytes of one encoded snapshot (the last).
    pub snapshot_bytes: usize,
    /// Decode alone.
    pub decode: Timing,
    /// Snapshot view and pipelines alone.
    pub pipelines_only: Timing,
    /// Decode, snapshot view and pipelines.
    pub decode_and_pipelines: Timing,
    /// mean(decode + pipelines) / mean(decode).
    pub ratio: f64,
    /// median(decode + pipelines) / median(decode): steadier on a busy machine.
    pub ratio_p50: f64,
    /// Peak resident memory, KiB.
    pub peak_rss_kib: Option<u64>,
    /// Resident memory growth over the second half of the run, KiB.
    pub rss_growth_second_half_kib: Option<i64>,
}

/// Builds the pipelines to measure: the given files, or the defaults.
fn pipelines(args: &BenchArgs) -> anyhow::Result<Vec<Pipeline>> {
    if args.pipelines.is_empty() {
        let e = build_pipeline(
            "bench-estimator.toml",
            DEFAULT_ESTIMATOR,
            &[],
            BuildOptions::default(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let q = build_pipeline("bench-qos.toml", DEFAULT_QOS, &[], BuildOptions::default())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        return Ok(vec![e, q]);
    }
    Ok(crate::replay::build_pipelines(&args.pipelines, &[])?)
}

/// Measures; `ticks` and `executors` must be positive.
pub fn measure(args: &BenchArgs) -> anyhow::Result<BenchReport> {
    anyhow::ensure!(
        args.executors > 0 && args.ticks > 0,
        "--executors and --ticks must be at least 1"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.best_effort_share),
        "--best-effort-share must be between 0 and 1"
    );
    let mut pipelines = pipelines(args)?;
    let names = pipelines.iter().map(|p| p.name().to_owned()).collect();
    // Filled up front so that touching their pages does not show as RSS growth.
    let mut decode_us = vec![0.0; args.ticks];
    let mut pipe_us = vec![0.0; args.ticks];
    let mut total_us = vec![0.0; args.ticks];
    let mut bytes = Vec::new();
    let mut snapshot = Snapshot::new(proto::ResourceUsage::default());
    let mut rss_half = None;
    for t in 0..args.ticks {
        bytes.clear();
        synthetic_usage(args.executors, t, args.best_effort_share)
            .encode(&mut bytes)
            .context("encoding the synthetic snapshot")?;
        let t0 = Instant::now();
        decode_usage_into(&bytes, &mut snapshot.usage)
            .map_err(|e| anyhow::anyhow!("decoding: {e}"))?;
        let t1 = Instant::now();
        snapshot.rebuild();
        for p in pipelines.iter_mut() {
            let outcome = p.tick(&snapshot);
            std::hint::black_box(outcome.slack);
        }
        let t2 = Instant::now();
        decode_us[t] = (t1 - t0).as_secs_f64() * 1e6;
        pipe_us[t] = (t2 - t1).as_secs_f64() * 1e6;
        total_us[t] = (t2 - t0).as_secs_f64() * 1e6;
        if t + 1 == args.ticks / 2 {
            rss_half = memory().rss_kib;
        }
    }
    let end = memory();
    let decode = timing(decode_us, args.executors);
    let decode_and_pipelines = timing(total_us, args.executors);
    Ok(BenchReport {
        executors: args.executors,
        ticks: args.ticks,
        pipelines: names,
        snapshot_bytes: bytes.len(),
        ratio: if decode.mean_us > 0.0 {
            decode_and_pipelines.mean_us / decode.mean_us
        } else {
            0.0
        },
        ratio_p50: if decode.p50_us > 0.0 {
            decode_and_pipelines.p50_us / decode.p50_us
        } else {
            0.0
        },
        decode,
        pipelines_only: timing(pipe_us, args.executors),
        decode_and_pipelines,
        peak_rss_kib: end.hwm_kib,
        rss_growth_second_half_kib: match (rss_half, end.rss_kib) {
            (Some(a), Some(b)) => Some(b as i64 - a as i64),
            _ => None,
        },
    })
}

/// Table rows of a report (also used for Markdown).
fn rows(r: &BenchReport) -> Vec<(String, String)> {
    let t = |x: &Timing| {
        format!(
            "{:.1} µs mean, {:.1} p50, {:.1} p99 ({:.0} ns/executor)",
            x.mean_us, x.p50_us, x.p99_us, x.per_executor_ns
        )
    };
    vec![
        (
            "executors × ticks".into(),
            format!("{} × {}", r.executors, r.ticks),
        ),
        ("pipelines".into(), r.pipelines.join(", ")),
        (
            "snapshot size".into(),
            format!("{} bytes", r.snapshot_bytes),
        ),
        ("decode".into(), t(&r.decode)),
        ("snapshot + pipelines".into(), t(&r.pipelines_only)),
        ("decode + pipelines".into(), t(&r.decode_and_pipelines)),
        (
            "ratio (decode + pipelines) / decode".into(),
            format!("{:.2}", r.ratio),
        ),
        (
            "peak RSS (VmHWM)".into(),
            r.peak_rss_kib.map_or("unknown".into(), |k| {
                format!("{:.1} MiB", k as f64 / 1024.0)
            }),
        ),
        (
            "RSS growth, second half".into(),
            r.rss_growth_second_half_kib
                .map_or("unknown".into(), |k| format!("{k} KiB")),
        ),
    ]
}

/// Runs `serenity bench`.
pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let report = measure(args)?;
    let text = match args.output {
        ReportFormat::Json => format!("{}\n", serde_json::to_string_pretty(&report)?),
        ReportFormat::Markdown => {
            let mut s = String::from("| measure | value |\n|---|---|\n");
            for (k, v) in rows(&report) {
                s.push_str(&format!("| {k} | {v} |\n"));
            }
            s
        }
        ReportFormat::Table => {
            let mut t = crate::output::Table::new(vec!["measure".into(), "value".into()]);
            for (k, v) in rows(&report) {
                t.push(vec![k, v]);
            }
            t.render()
        }
    };
    crate::output::emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_snapshots_decode_and_mark_best_effort_work() {
        let u = synthetic_usage(10, 3, 0.3);
        let bytes = u.encode_to_vec();
        let back = serenity_core::decode_usage(&bytes).unwrap();
        assert_eq!(back, u);
        let snap = Snapshot::new(back);
        assert_eq!(snap.executors.len(), 10);
        assert_eq!(snap.executors.iter().filter(|e| e.revocable).count(), 3);
    }

    #[test]
    fn percentiles_come_from_the_sorted_samples() {
        let t = timing(vec![5.0, 1.0, 3.0, 2.0, 4.0], 2);
        assert_eq!((t.mean_us, t.p50_us, t.p99_us), (3.0, 3.0, 5.0));
        assert_eq!(t.per_executor_ns, 1500.0);
    }

    #[test]
    fn the_default_pipelines_build() {
        assert!(build_pipeline("e.toml", DEFAULT_ESTIMATOR, &[], BuildOptions::default()).is_ok());
        assert!(build_pipeline("q.toml", DEFAULT_QOS, &[], BuildOptions::default()).is_ok());
    }
}
