//! Soak of the node agent's run loop: many ticks of executor churn fed to
//! `Agent::tick_sampled` (replay-driven, so no cgroup files are read and it
//! is fast), through the shipped `qos-agent.toml` and `estimator.toml`, in
//! dry run. Over the second half, resident memory grows by at most 1 MiB
//! (allocator noise), the pipelines hold no more per-executor slots than in
//! the first half, the metrics hold only the live groups' signals, and no
//! window logs more than the busiest window of the first half plus 10 %
//! (every window sees the same load).
//!
//! `SERENITY_SOAK_TICKS` sets the length (default 20 000, a CI-sized run);
//! the figures of docs/benchmarks.md come from
//! `SERENITY_SOAK_TICKS=1000000 cargo test --release -p serenity-agent --test soak -- --nocapture`;
//! with `SERENITY_SOAK_SHOW=1` every 97th log line is printed, to see which
//! sentences make up the rate.

mod support;

use serenity_agent::groups::{Group, GroupKind};
use serenity_agent::sampling::Sampled;
use serenity_core::model::build::{usage, ExecutorSpec};
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use support::replay_agent;

/// Counts every log record (the soak's only logger).
struct Counter;

static LINES: AtomicU64 = AtomicU64::new(0);
static COUNTER: Counter = Counter;

impl log::Log for Counter {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.level() <= log::Level::Info {
            let n = LINES.fetch_add(1, Ordering::Relaxed);
            if std::env::var_os("SERENITY_SOAK_SHOW").is_some() && n.is_multiple_of(97) {
                eprintln!("{}: {}", record.level(), record.args());
            }
        }
    }
    fn flush(&self) {}
}

fn rss_kib() -> u64 {
    let statm = fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4
}

fn group(kind: GroupKind, id: u64) -> Group {
    let (parent, name) = match kind {
        GroupKind::Production => ("prod", format!("pr-{id}")),
        GroupKind::BestEffort => ("be", format!("be-{id}")),
    };
    Group {
        kind,
        path: Path::new(parent).join(&name),
        name,
    }
}

/// The sample of tick `t`: 6 production groups (one replaced every 50
/// ticks), 4 best-effort groups (one replaced every tick), one group without
/// statistics every 25th tick, and an overload (production at its full 3
/// CPUs each) in the last 20 of every 1000 ticks; otherwise production's
/// load follows a sine of period 1000 ticks, so every window of a multiple
/// of 1000 ticks sees the same load.
struct Node {
    groups: Vec<(Group, f64)>,
    next_id: u64,
}

impl Node {
    fn new() -> Node {
        let mut node = Node {
            groups: Vec::new(),
            next_id: 0,
        };
        for i in 0..10 {
            let kind = if i < 6 {
                GroupKind::Production
            } else {
                GroupKind::BestEffort
            };
            node.next_id += 1;
            node.groups.push((group(kind, node.next_id), 0.0));
        }
        node
    }

    fn sample(&mut self, t: u64) -> Sampled {
        if t > 0 {
            self.next_id += 1;
            self.groups[6 + (t % 4) as usize] = (group(GroupKind::BestEffort, self.next_id), 0.0);
            if t.is_multiple_of(50) {
                self.next_id += 1;
                self.groups[(t / 50 % 6) as usize] =
                    (group(GroupKind::Production, self.next_id), 0.0);
            }
        }
        let time = 1_700_000_000.0 + t as f64;
        let rate = if t % 1000 >= 980 {
            3.0
        } else {
            2.0 * (0.5 + 0.4 * (t as f64 * std::f64::consts::TAU / 1000.0).sin())
        };
        let mut specs = Vec::with_capacity(self.groups.len());
        for (i, (g, cpu)) in self.groups.iter_mut().enumerate() {
            let best_effort = g.kind == GroupKind::BestEffort;
            *cpu += if best_effort { 0.8 } else { rate };
            let spec = ExecutorSpec::new(
                g.kind.framework_id(),
                &g.name,
                best_effort,
                if best_effort { 1.0 } else { 3.0 },
                512.0,
            );
            let spec = ExecutorSpec {
                container_id: Some(g.path_str()),
                ..spec
            };
            specs.push(if (t + i as u64).is_multiple_of(25) {
                spec
            } else {
                spec.cpu(time, *cpu)
            });
        }
        Sampled {
            usage: usage(24.0, 32768.0, &specs),
            groups: self.groups.iter().map(|(g, _)| g.clone()).collect(),
            errors: 0,
            unreadable: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Window {
    end_tick: u64,
    rss_kib: u64,
    max_slots: usize,
    signals: usize,
    log_lines: u64,
}

#[test]
fn memory_state_and_log_stay_flat_under_long_churn_through_the_agents_run_loop() {
    let ticks: u64 = std::env::var("SERENITY_SOAK_TICKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    const WINDOWS: u64 = 10;
    assert!(
        ticks >= WINDOWS * 1000 && ticks.is_multiple_of(WINDOWS * 1000),
        "a soak is a multiple of {} ticks (whole load periods per window)",
        WINDOWS * 1000
    );
    let _ = log::set_logger(&COUNTER);
    log::set_max_level(log::LevelFilter::Info);
    let dir = std::env::temp_dir().join(format!("serenity-soak-{}", std::process::id()));
    let mut agent = replay_agent(&dir, 24, 32768);
    let mut node = Node::new();
    let (mut windows, mut max_slots, mut logged_before) = (Vec::new(), 0usize, 0u64);
    let (mut decisions, mut stopped) = (0usize, 0usize);
    for t in 0..ticks {
        let report = agent.tick_sampled(node.sample(t));
        if let Some(slack) = report.slack {
            assert!(
                slack.cpus.is_finite() && slack.cpus >= 0.0,
                "tick {t}: {slack:?}"
            );
        }
        assert!(
            report.decisions.iter().all(|d| d.group.starts_with("be")),
            "tick {t}: a decision outside the best-effort prefix: {:?}",
            report.decisions
        );
        decisions += report.decisions.len();
        stopped += usize::from(report.qos_stopped.is_some());
        // As the run loop does: the next tick builds in this one's buffers.
        agent.recycle(report);
        max_slots = max_slots
            .max(agent.qos().unwrap().registry().slot_count())
            .max(agent.estimator().unwrap().registry().slot_count());
        if (t + 1).is_multiple_of(ticks / WINDOWS) {
            let logged = LINES.load(Ordering::Relaxed);
            windows.push(Window {
                end_tick: t + 1,
                rss_kib: rss_kib(),
                max_slots,
                signals: agent.metrics().lock().signals.len(),
                log_lines: logged - logged_before,
            });
            logged_before = logged;
            max_slots = 0;
        }
    }
    drop(agent);
    let _ = fs::remove_dir_all(&dir);
    eprintln!(
        "agent soak: {ticks} ticks, {} groups seen, {decisions} dry-run decisions, {stopped} stopped QoS ticks",
        node.next_id
    );
    eprintln!(
        "agent soak: {:>10} {:>10} {:>10} {:>10} {:>10}",
        "tick", "rss KiB", "max slots", "signals", "log lines"
    );
    for w in &windows {
        eprintln!(
            "agent soak: {:>10} {:>10} {:>10} {:>10} {:>10}",
            w.end_tick, w.rss_kib, w.max_slots, w.signals, w.log_lines
        );
    }
    assert!(
        decisions > 0,
        "the overloads were never corrected: the soak missed the QoS path"
    );
    let (first, second) = windows.split_at(windows.len() / 2);
    let (rss_half, rss_end) = (
        first.last().unwrap().rss_kib,
        second.last().unwrap().rss_kib,
    );
    assert!(
        rss_end <= rss_half + 1024,
        "resident memory grew over the second half: {rss_half} -> {rss_end} KiB"
    );
    let slots = |ws: &[Window]| ws.iter().map(|w| w.max_slots).max().unwrap();
    assert!(
        slots(second) <= slots(first),
        "per-executor state grew: {} -> {} slots",
        slots(first),
        slots(second)
    );
    let signals = |ws: &[Window]| ws.iter().map(|w| w.signals).max().unwrap();
    assert!(
        signals(second) <= signals(first),
        "the metrics' signals grew: {} -> {}",
        signals(first),
        signals(second)
    );
    let logs = |ws: &[Window]| ws.iter().map(|w| w.log_lines).max().unwrap();
    // The same load every window: the log may vary by a few lines (ids,
    // window edges), never grow.
    assert!(
        logs(second) <= logs(first) + logs(first) / 10 + 2,
        "the log grows with time: {} -> {} lines per window",
        logs(first),
        logs(second)
    );
}
