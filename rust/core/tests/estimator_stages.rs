//! The estimator-side stages, driven through real pipelines built from TOML
//! text on snapshots with sample timestamps (spec/serenity.md §2.2–2.5,
//! §2.7, §2.13 and the new stages).

mod support;

use serenity_core::model::MIB;
use serenity_core::signal::SignalId;
use serenity_core::{Pipeline, Slack, Snapshot};
use support::*;

/// What one tick answered, owned.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    /// The estimate handed to the agent.
    slack: Slack,
    /// The slack before allocated revocable resources were subtracted.
    total: Slack,
    /// The reason, when a stage stopped the tick.
    stopped: Option<String>,
}

fn tick(p: &mut Pipeline, s: &Snapshot) -> Answer {
    let o = p.tick(s);
    Answer {
        slack: o.slack.unwrap_or_default(),
        total: o.slack_total.unwrap_or_default(),
        stopped: o.stopped.map(|s| s.reason),
    }
}

fn signal(p: &Pipeline, name: &str) -> SignalId {
    p.signals()
        .lookup(name)
        .unwrap_or_else(|| panic!("no signal {name}"))
}

fn estimator(stages: &str) -> Pipeline {
    pipeline(&format!("kind = \"estimator\"\n{stages}"))
}

// ---------------------------------------------------------------------------
// utilization_threshold (§2.2)

const UTILIZATION: &str = "[[stage]]\ntype = \"utilization_threshold\"\n";

#[test]
fn utilization_counts_a_new_executor_at_its_allocated_cpus() {
    let mut p = estimator(UTILIZATION);
    let at = |t: f64| node(20.0, 1024.0, &[pr("a").alloc(19.0, 64.0).busy(0.0).at(t)]);
    // First sample: no usage yet, so the 19 allocated cpus count: 19/20 = 95 %.
    assert_eq!(
        tick(&mut p, &at(10.0)).stopped.as_deref(),
        Some("node CPU utilization 95% is at or above the 95% threshold")
    );
    // Second sample: the measured usage (idle) counts instead.
    assert_eq!(tick(&mut p, &at(20.0)).stopped, None);

    let mut p = estimator(UTILIZATION);
    let below = node(20.0, 1024.0, &[pr("a").alloc(18.9, 64.0).at(10.0)]);
    assert_eq!(tick(&mut p, &below).stopped, None);
}

#[test]
fn utilization_threshold_is_inclusive() {
    let stages = "[[stage]]\ntype = \"utilization_threshold\"\nthreshold = 0.5\n";
    let run = |busy: f64| {
        let mut p = estimator(stages);
        let at = |t: f64| node(4.0, 1024.0, &[pr("a").alloc(4.0, 64.0).busy(busy).at(t)]);
        tick(&mut p, &at(10.0));
        tick(&mut p, &at(20.0)).stopped
    };
    assert_eq!(
        run(2.0).as_deref(),
        Some("node CPU utilization 50% is at or above the 50% threshold")
    );
    assert_eq!(run(1.9), None);
}

#[test]
fn utilization_counts_best_effort_work_whatever_was_selected_and_skips_empty_allocations() {
    let stages = format!("[[stage]]\ntype = \"pr_only\"\n{UTILIZATION}");
    let run = |be_busy: f64| {
        let mut p = estimator(&stages);
        let at = |t: f64| {
            node(
                4.0,
                4096.0,
                &[
                    pr("web").alloc(2.0, 512.0).busy(1.0).at(t),
                    be("batch").alloc(3.0, 512.0).busy(be_busy).at(t),
                    // No allocation: left out although it reports 10 busy CPUs.
                    pr("ghost").busy(10.0).at(t),
                ],
            )
        };
        tick(&mut p, &at(10.0));
        tick(&mut p, &at(20.0)).stopped
    };
    // 1 + 2.9 = 3.9 of 4 cpus: the best-effort usage counts.
    assert_eq!(
        run(2.9).as_deref(),
        Some("node CPU utilization 97.5% is at or above the 95% threshold")
    );
    assert_eq!(run(2.7), None);
}

#[test]
fn executors_without_statistics_count_their_allocation() {
    let run = |total: f64| {
        let mut p = estimator(UTILIZATION);
        let at = |t: f64| {
            node(
                total,
                1024.0,
                &[
                    pr("silent").alloc(2.0, 64.0).no_stats(),
                    pr("b").alloc(2.0, 64.0).busy(1.0).at(t),
                ],
            )
        };
        tick(&mut p, &at(10.0));
        tick(&mut p, &at(20.0)).stopped
    };
    // 2 (allocation) + 1 (measured) = 3.
    assert_eq!(run(3.4), None);
    assert!(run(3.1).is_some());
}

#[test]
fn utilization_stops_without_executors_or_without_total_cpus() {
    let mut p = estimator(UTILIZATION);
    assert_eq!(
        tick(&mut p, &node(4.0, 1024.0, &[])).stopped.as_deref(),
        Some("no executor with allocated resources runs on this node")
    );
    let no_cpus = node_with(None, Some(1024.0), &[pr("a").alloc(1.0, 64.0).at(1.0)]);
    let a = tick(&mut p, &no_cpus);
    assert_eq!(
        a.stopped.as_deref(),
        Some("the agent's total resources have no cpus, so utilization is unknown")
    );
    assert_eq!(a.slack, Slack::default());
}

// ---------------------------------------------------------------------------
// ignore_new_executors (§2.4)

#[test]
fn ignore_new_deselects_at_299_seconds_and_passes_at_300() {
    let mut p = estimator(
        "[[stage]]\ntype = \"ignore_new_executors\"\n[[stage]]\ntype = \"slack\"\nfraction = 1.0\n",
    );
    let at = |t: f64| node(100.0, 1024.0, &[pr("a").alloc(4.0, 64.0).busy(1.0).at(t)]);
    let young = Some("every executor is younger than 300 s (or has no statistics timestamp)");
    assert_eq!(tick(&mut p, &at(1000.0)).stopped.as_deref(), young);
    assert_eq!(tick(&mut p, &at(1299.0)).stopped.as_deref(), young);
    let a = tick(&mut p, &at(1300.0));
    assert_eq!(a.stopped, None);
    assert_close(a.total.cpus, 3.0, 1e-9);
}

#[test]
fn young_executors_are_left_out_of_the_slack() {
    let mut p = estimator(
        "[[stage]]\ntype = \"ignore_new_executors\"\n[[stage]]\ntype = \"slack\"\nfraction = 1.0\n",
    );
    let old = |t: f64| pr("old").alloc(4.0, 64.0).busy(1.0).at(t);
    let young = |t: f64| pr("young").alloc(4.0, 64.0).busy(0.0).at(t);
    tick(&mut p, &node(100.0, 1024.0, &[old(0.0)]));
    tick(&mut p, &node(100.0, 1024.0, &[old(200.0), young(200.0)]));
    // At 300 s only `old` (4 − 1) counts; `young` (100 s) would add 4.
    let a = tick(&mut p, &node(100.0, 1024.0, &[old(300.0), young(300.0)]));
    assert_close(a.total.cpus, 3.0, 1e-9);
    let a = tick(&mut p, &node(100.0, 1024.0, &[old(500.0), young(500.0)]));
    assert_close(a.total.cpus, 7.0, 1e-9);
}

#[test]
fn executors_without_a_statistics_timestamp_are_left_out() {
    let mut p = estimator(
        "[[stage]]\ntype = \"ignore_new_executors\"\n[[stage]]\ntype = \"memory_slack\"\nmargin_fraction = 0.0\n",
    );
    let a = |t: Option<f64>| {
        let e = pr("a").alloc(1.0, 1024.0).rss(0.5 * GIB);
        match t {
            Some(t) => e.at(t),
            None => e,
        }
    };
    let b = |t: f64| pr("b").alloc(1.0, 1024.0).rss(0.25 * GIB).at(t);
    tick(&mut p, &node(8.0, 16384.0, &[a(Some(0.0)), b(0.0)]));
    let both = tick(&mut p, &node(8.0, 16384.0, &[a(Some(400.0)), b(400.0)]));
    assert_close(both.total.mem_bytes, 0.5 * GIB + 0.75 * GIB, 1.0);
    // `a` is old, but this sample has no timestamp: only `b` lends.
    let one = tick(&mut p, &node(8.0, 16384.0, &[a(None), b(410.0)]));
    assert_close(one.total.mem_bytes, 0.75 * GIB, 1.0);
    let none = tick(&mut p, &node(8.0, 16384.0, &[a(None)]));
    assert!(none.stopped.is_some());
}

#[test]
fn a_qos_pipeline_goes_on_when_every_executor_is_new() {
    let stage = "[[stage]]\ntype = \"ignore_new_executors\"\n";
    let snap = node(4.0, 1024.0, &[pr("a").alloc(1.0, 64.0).at(5.0)]);
    let mut qos = pipeline(&format!("kind = \"qos\"\n{stage}"));
    assert_eq!(qos.tick(&snap).stopped, None);
    let mut est = estimator(stage);
    assert!(tick(&mut est, &snap).stopped.is_some());
    let mut est = estimator(&format!("{stage}stop_when_none_left = false\n"));
    let a = tick(&mut est, &snap);
    assert_eq!(a.stopped, None);
    assert_eq!(a.slack, Slack::default());
}

// ---------------------------------------------------------------------------
// executor_age (§2.5)

#[test]
fn executor_age_is_tick_time_minus_first_seen_for_every_executor() {
    let mut p = estimator("[[stage]]\ntype = \"pr_only\"\n[[stage]]\ntype = \"executor_age\"\n");
    let age = signal(&p, "executor_age_secs");
    tick(
        &mut p,
        &node(8.0, 1024.0, &[pr("a").alloc(1.0, 64.0).at(100.0)]),
    );
    tick(
        &mut p,
        &node(
            8.0,
            1024.0,
            &[
                pr("a").alloc(1.0, 64.0).at(150.0),
                be("b").alloc(1.0, 64.0).at(150.0),
            ],
        ),
    );
    tick(
        &mut p,
        &node(
            8.0,
            1024.0,
            &[
                pr("a").alloc(1.0, 64.0).at(160.0),
                // Its own sample is older: the age is taken at tick time (160).
                be("b").alloc(1.0, 64.0).at(155.0),
                pr("timeless").alloc(1.0, 64.0),
            ],
        ),
    );
    let s = p.last_signals();
    assert_eq!(s.get(0, age), Some(60.0));
    // Best-effort, so deselected by pr_only, and still published.
    assert_eq!(s.get(1, age), Some(10.0));
    assert_eq!(s.get(2, age), None);
}

#[test]
fn executor_age_restarts_for_a_new_container_and_can_be_renamed() {
    let mut p = estimator("[[stage]]\ntype = \"executor_age\"\noutput = \"seniority\"\n");
    let age = signal(&p, "seniority");
    let a = |c: &str, t: f64| pr("a").container(c).alloc(1.0, 64.0).at(t);
    tick(&mut p, &node(8.0, 1024.0, &[a("c1", 0.0)]));
    tick(&mut p, &node(8.0, 1024.0, &[a("c1", 50.0)]));
    assert_eq!(p.last_signals().get(0, age), Some(50.0));
    tick(&mut p, &node(8.0, 1024.0, &[a("c2", 60.0)]));
    assert_eq!(p.last_signals().get(0, age), Some(0.0));
}

// ---------------------------------------------------------------------------
// too_low_usage (§2.7)

#[test]
fn too_low_usage_leaves_out_production_at_or_below_a_quarter_cpu() {
    let mut p = estimator(
        "[[stage]]\ntype = \"too_low_usage\"\n[[stage]]\ntype = \"slack\"\nfraction = 1.0\n",
    );
    let at = |t: f64| {
        node(
            100.0,
            1024.0,
            &[
                pr("low").alloc(1.0, 64.0).busy(0.25).at(t),
                pr("ok").alloc(1.0, 64.0).busy(0.26).at(t),
                // Best-effort work always passes, however idle.
                be("idle").alloc(1.0, 64.0).busy(0.1).at(t),
            ],
        )
    };
    tick(&mut p, &at(10.0));
    let a = tick(&mut p, &at(20.0));
    // ok: 1 − 0.26, idle: 1 − 0.1; low (0.75) is left out.
    assert_close(a.total.cpus, 0.74 + 0.9, 1e-9);
}

#[test]
fn production_without_a_usage_sample_is_left_out_and_min_cpu_is_configurable() {
    // ignore_new_executors with a zero threshold stops the tick exactly when
    // nothing is selected any more: a probe of the selection.
    let stages = "[[stage]]\ntype = \"too_low_usage\"\nmin_cpu = 0.5\n[[stage]]\ntype = \"ignore_new_executors\"\nthreshold_secs = 0\n";
    let mut p = estimator(stages);
    let pr_at = |t: f64| pr("a").alloc(1.0, 64.0).busy(0.5).at(t);
    assert_eq!(
        tick(&mut p, &node(4.0, 1024.0, &[pr_at(10.0)]))
            .stopped
            .as_deref(),
        Some("no executor was selected before this stage")
    );
    // 0.5 ≤ min_cpu 0.5: still left out.
    assert!(tick(&mut p, &node(4.0, 1024.0, &[pr_at(20.0)]))
        .stopped
        .is_some());
    let mut p = estimator(stages);
    let be_only = node(4.0, 1024.0, &[be("b").alloc(1.0, 64.0).at(10.0)]);
    assert_eq!(tick(&mut p, &be_only).stopped, None);
}

// ---------------------------------------------------------------------------
// slack (§2.13), the existing stage

fn two_ticks(p: &mut Pipeline, total_cpus: f64, e: impl Fn(f64) -> Exec) -> Answer {
    tick(p, &node(total_cpus, 4096.0, &[e(10.0)]));
    tick(p, &node(total_cpus, 4096.0, &[e(20.0)]))
}

#[test]
fn slack_is_capped_at_fraction_of_total_minus_usage() {
    let mut p = estimator("[[stage]]\ntype = \"slack\"\nfraction = 0.5\n");
    // 8 − 1 = 7 of slack, but the cap is 0.5 × 10 − 1 = 4.
    let a = two_ticks(&mut p, 10.0, |t| pr("a").alloc(8.0, 64.0).busy(1.0).at(t));
    assert_close(a.total.cpus, 4.0, 1e-9);
    // The default fraction is 0.8: 0.8 × 10 − 1 = 7, equal to the slack.
    let mut p = estimator("[[stage]]\ntype = \"slack\"\n");
    let a = two_ticks(&mut p, 10.0, |t| pr("a").alloc(8.0, 64.0).busy(2.0).at(t));
    assert_close(a.total.cpus, 6.0, 1e-9);
}

#[test]
fn slack_below_epsilon_is_zero() {
    let run = |used_in_10s: f64| {
        let mut p = estimator("[[stage]]\ntype = \"slack\"\n");
        tick(
            &mut p,
            &node(
                100.0,
                4096.0,
                &[pr("a").alloc(2.0, 64.0).cpu_secs(0.0).at(10.0)],
            ),
        );
        let e = pr("a").alloc(2.0, 64.0).cpu_secs(used_in_10s).at(20.0);
        tick(&mut p, &node(100.0, 4096.0, &[e])).total.cpus
    };
    // 2 − 1.9995 = 0.0005 < 0.001.
    assert_eq!(run(19.995), 0.0);
    assert_close(run(19.98), 0.002, 1e-9);
}

#[test]
fn slack_falls_back_to_allocated_cpus_without_cpus_limit() {
    let mut p = estimator("[[stage]]\ntype = \"slack\"\n");
    let a = two_ticks(&mut p, 100.0, |t| {
        pr("a").alloc(3.0, 64.0).no_cpus_limit().busy(1.0).at(t)
    });
    assert_close(a.total.cpus, 2.0, 1e-9);
}

#[test]
fn slack_stops_naming_an_executor_with_neither_limit_nor_allocated_cpus() {
    let mut p = estimator("[[stage]]\ntype = \"slack\"\n");
    let a = two_ticks(&mut p, 100.0, |t| {
        pr("a").alloc(0.0, 512.0).no_cpus_limit().busy(0.5).at(t)
    });
    assert_eq!(
        a.stopped.as_deref(),
        Some("executor a (framework fw-production) has neither cpus_limit nor allocated cpus")
    );
    assert_eq!(a.slack, Slack::default());
}

#[test]
fn slack_leaves_out_executors_without_a_usage_sample() {
    let mut p = estimator("[[stage]]\ntype = \"slack\"\n");
    let a = tick(
        &mut p,
        &node(
            100.0,
            4096.0,
            &[pr("a").alloc(4.0, 64.0).busy(1.0).at(10.0)],
        ),
    );
    assert_eq!(a.stopped, None);
    assert_eq!(a.total.cpus, 0.0);
}

// ---------------------------------------------------------------------------
// memory_slack (new)

#[test]
fn memory_slack_is_limit_minus_usage_minus_margin_and_keeps_the_cpus() {
    let mut p = estimator("[[stage]]\ntype = \"slack\"\n[[stage]]\ntype = \"memory_slack\"\n");
    let e = |t: f64| pr("a").alloc(2.0, 4096.0).busy(0.5).rss(GIB).at(t);
    tick(&mut p, &node(8.0, 16384.0, &[e(10.0)]));
    let a = tick(&mut p, &node(8.0, 16384.0, &[e(20.0)]));
    // 4 GiB limit − 1 GiB used − 10 % of 4 GiB; the cap 0.8 × 16 − 1 is far.
    assert_close(a.total.mem_bytes, 2.6 * GIB, 1.0);
    assert_close(a.total.cpus, 1.5, 1e-9);
}

#[test]
fn memory_slack_limit_falls_back_to_the_allocation() {
    let mut p = estimator("[[stage]]\ntype = \"memory_slack\"\n");
    let e = pr("a")
        .alloc(1.0, 2048.0)
        .no_mem_limit()
        .rss(0.5 * GIB)
        .at(1.0);
    let a = tick(&mut p, &node(8.0, 16384.0, &[e]));
    assert_close(a.total.mem_bytes, 1.3 * GIB, 1.0);
    assert_eq!(a.total.cpus, 0.0);
}

#[test]
fn memory_slack_is_capped_at_fraction_of_total_minus_usage() {
    let mut p = estimator("[[stage]]\ntype = \"memory_slack\"\n");
    let e = |id: &str| pr(id).alloc(1.0, 2048.0).rss(0.5 * GIB).at(1.0);
    // 2 × (2 − 0.5 − 0.2) = 2.6 GiB, capped at 0.8 × 4 − 1 = 2.2 GiB.
    let a = tick(&mut p, &node(8.0, 4096.0, &[e("a"), e("b")]));
    assert_close(a.total.mem_bytes, 2.2 * GIB, 1.0);
}

#[test]
fn memory_slack_below_epsilon_is_zero() {
    let run = |rss: f64| {
        let mut p = estimator("[[stage]]\ntype = \"memory_slack\"\nmargin_fraction = 0\n");
        let e = pr("a").alloc(1.0, 1024.0).rss(rss).at(1.0);
        tick(&mut p, &node(8.0, 16384.0, &[e])).total.mem_bytes
    };
    assert_eq!(run(GIB - 512.0 * 1024.0), 0.0);
    assert_close(run(GIB - 2.0 * 1024.0 * 1024.0), 2.0 * 1024.0 * 1024.0, 1.0);
}

#[test]
fn memory_slack_without_total_memory_is_zero_and_the_cpu_estimate_goes_on() {
    let mut p = estimator("[[stage]]\ntype = \"slack\"\n[[stage]]\ntype = \"memory_slack\"\n");
    let e = |t: f64| pr("a").alloc(2.0, 1024.0).busy(0.5).rss(0.1 * GIB).at(t);
    tick(&mut p, &node_with(Some(8.0), None, &[e(10.0)]));
    let a = tick(&mut p, &node_with(Some(8.0), None, &[e(20.0)]));
    assert_eq!(a.stopped, None);
    assert_eq!(a.total.mem_bytes, 0.0);
    assert_close(a.slack.cpus, 1.5, 1e-9);
}

#[test]
fn best_effort_and_unmeasured_executors_lend_no_memory() {
    let mut p = estimator(
        "[[stage]]\ntype = \"pr_only\"\n[[stage]]\ntype = \"memory_slack\"\nmargin_fraction = 0\n",
    );
    let a = tick(
        &mut p,
        &node(
            8.0,
            65536.0,
            &[
                pr("measured").alloc(1.0, 1024.0).rss(0.25 * GIB).at(1.0),
                pr("unmeasured").alloc(1.0, 4096.0).at(1.0),
                be("batch").alloc(1.0, 4096.0).rss(0.0).at(1.0),
            ],
        ),
    );
    assert_close(a.total.mem_bytes, 0.75 * GIB, 1.0);
}

// ---------------------------------------------------------------------------
// subtract_best_effort_usage (new; issue #99)

const SLACKS: &str = "[[stage]]\ntype = \"pr_only\"\n[[stage]]\ntype = \"slack\"\nfraction = 1.0\n[[stage]]\ntype = \"memory_slack\"\nfraction = 1.0\nmargin_fraction = 0\n";
const SUBTRACT: &str = "[[stage]]\ntype = \"subtract_best_effort_usage\"\n";

fn web(t: f64) -> Exec {
    pr("web").alloc(8.0, 8192.0).busy(2.0).rss(2.0 * GIB).at(t)
}

fn batch(t: f64, busy: f64) -> Exec {
    be("batch").alloc(4.0, 4096.0).busy(busy).rss(GIB).at(t)
}

#[test]
fn subtracting_best_effort_usage_replaces_the_allocated_revocable_subtraction() {
    let at = |t: f64| node(16.0, 32768.0, &[web(t), batch(t, 1.0)]);
    let mut base = estimator(SLACKS);
    tick(&mut base, &at(10.0));
    let b = tick(&mut base, &at(20.0));
    // Slack 8 − 2 = 6 CPUs and 8 − 2 = 6 GiB; the final step subtracts the
    // 4 CPUs and 4 GiB allocated to best-effort work.
    assert_close(b.total.cpus, 6.0, 1e-9);
    assert_close(b.slack.cpus, 2.0, 1e-9);
    assert_close(b.slack.mem_bytes, 2.0 * GIB, 1.0);

    let mut p = estimator(&format!("{SLACKS}{SUBTRACT}"));
    tick(&mut p, &at(10.0));
    let a = tick(&mut p, &at(20.0));
    // The measured 1 CPU and 1 GiB are subtracted instead, and only once.
    assert_close(a.slack.cpus, 5.0, 1e-9);
    assert_close(a.slack.mem_bytes, 5.0 * GIB, 1.0);
    assert_eq!(a.slack, a.total);
}

#[test]
fn best_effort_executors_without_a_measurement_count_their_allocated_revocable_amount() {
    let mut p = estimator(&format!("{SLACKS}{SUBTRACT}"));
    tick(&mut p, &node(16.0, 32768.0, &[web(10.0)]));
    // `batch` is new: no CPU usage yet, and this sample has no RSS.
    let fresh = be("batch").alloc(4.0, 4096.0).busy(1.0).at(20.0);
    let a = tick(&mut p, &node(16.0, 32768.0, &[web(20.0), fresh]));
    assert_close(a.slack.cpus, 2.0, 1e-9);
    assert_close(a.slack.mem_bytes, 2.0 * GIB, 1.0);
}

#[test]
fn slack_after_subtracting_best_effort_usage_is_never_negative() {
    let at = |t: f64| node(16.0, 32768.0, &[web(t), batch(t, 7.0)]);
    let mut p = estimator(&format!("{SLACKS}{SUBTRACT}"));
    tick(&mut p, &at(10.0));
    let a = tick(&mut p, &at(20.0));
    assert_eq!(a.slack.cpus, 0.0);
    assert_close(a.slack.mem_bytes, 5.0 * GIB, 1.0);
}

// ---------------------------------------------------------------------------
// hysteresis (new)

const HYSTERESIS: &str = "[[stage]]\ntype = \"valve\"\n[[stage]]\ntype = \"slack\"\nfraction = 1.0\nepsilon_cpus = 0\n[[stage]]\ntype = \"hysteresis\"\n";

/// Ticks every 10 s with production executor `a` (4 cpus) using `usages[i]`
/// CPUs during interval i; the first tick only sets up the counters. Returns
/// the published slack of every tick after the first.
fn published(p: &mut Pipeline, usages: &[f64]) -> Vec<f64> {
    let snap = |t: f64, secs: f64| {
        node(
            100.0,
            4096.0,
            &[pr("a").alloc(4.0, 64.0).cpu_secs(secs).at(t)],
        )
    };
    let mut secs = 0.0;
    tick(p, &snap(0.0, secs));
    usages
        .iter()
        .enumerate()
        .map(|(i, u)| {
            secs += u * 10.0;
            tick(p, &snap(10.0 * (i + 1) as f64, secs)).slack.cpus
        })
        .collect()
}

fn assert_all_close(actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{actual:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!(
            (a - e).abs() < 1e-9,
            "expected {expected:?}, got {actual:?}"
        );
    }
}

#[test]
fn hysteresis_publishes_nothing_new_on_small_wiggles() {
    let mut p = estimator(HYSTERESIS);
    // Raw slack 2.03, 2.07, 2.01, 2.09, 2.05, 2.02, 2.08, 2.04.
    let out = published(&mut p, &[1.97, 1.93, 1.99, 1.91, 1.95, 1.98, 1.92, 1.96]);
    // The warm-up tick (no usage yet, slack 0) counts as the first tick at
    // the published level; three ticks above it, then 2.0 for good.
    assert_all_close(&out, &[0.0, 0.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]);
}

#[test]
fn hysteresis_publishes_a_drop_at_once_and_growth_after_three_ticks() {
    let mut p = estimator(HYSTERESIS);
    let out = published(&mut p, &[1.0, 1.0, 1.0, 1.0, 3.0, 1.0, 1.0, 1.0, 1.0]);
    assert_all_close(&out, &[0.0, 0.0, 3.0, 3.0, 1.0, 1.0, 1.0, 3.0, 3.0]);
}

#[test]
fn a_stopped_tick_makes_growth_start_over() {
    let mut p = estimator(HYSTERESIS);
    let out = published(&mut p, &[1.0, 1.0, 1.0, 1.0]);
    assert_all_close(&out, &[0.0, 0.0, 3.0, 3.0]);
    let valve = p.valve().clone();
    // Still 1 CPU busy: 40 CPU seconds at t = 40, one more every second.
    let snap = |t: f64| node(100.0, 4096.0, &[pr("a").alloc(4.0, 64.0).cpu_secs(t).at(t)]);
    valve.set(false);
    let closed = tick(&mut p, &snap(50.0));
    assert!(closed.stopped.is_some());
    assert_eq!(closed.slack.cpus, 0.0);
    valve.set(true);
    let after: Vec<f64> = [60.0, 70.0, 80.0]
        .iter()
        .map(|&t| tick(&mut p, &snap(t)).slack.cpus)
        .collect();
    assert_all_close(&after, &[0.0, 0.0, 3.0]);
}

#[test]
fn hysteresis_caps_each_increase_and_quantises_memory_to_64_mib() {
    let mut p = estimator(
        "[[stage]]\ntype = \"slack\"\nfraction = 1.0\n[[stage]]\ntype = \"memory_slack\"\nmargin_fraction = 0\n[[stage]]\ntype = \"hysteresis\"\ngrow_after_ticks = 1\nmax_grow_cpus_per_tick = 1.0\n",
    );
    let e = |t: f64| pr("a").alloc(4.0, 4096.0).busy(1.0).rss(1433.6 * MIB).at(t);
    let first = tick(&mut p, &node(100.0, 65536.0, &[e(10.0)]));
    // 4096 − 1433.6 = 2662.4 MiB, floored to 41 × 64 MiB; CPUs not measured yet.
    assert_eq!(first.slack.mem_bytes, 2624.0 * MIB);
    assert_eq!(first.slack.cpus, 0.0);
    let cpus: Vec<f64> = [20.0, 30.0, 40.0, 50.0]
        .iter()
        .map(|&t| tick(&mut p, &node(100.0, 65536.0, &[e(t)])).slack.cpus)
        .collect();
    assert_all_close(&cpus, &[1.0, 2.0, 3.0, 3.0]);
}

#[test]
fn a_growth_cap_smaller_than_the_step_is_a_configuration_error() {
    let text = "kind = \"estimator\"\n[[stage]]\ntype = \"hysteresis\"\nmax_grow_cpus_per_tick = 0.05\nmax_grow_mem_bytes_per_tick = 1024\n";
    assert_eq!(
        config_errors(text),
        vec![
            "test.toml:4:26: stage 1 (hysteresis): `max_grow_cpus_per_tick` = 0.05: must be at least cpus_step (0.1), or the estimate could never grow",
            "test.toml:5:31: stage 1 (hysteresis): `max_grow_mem_bytes_per_tick` = 1024: must be at least mem_step_bytes (67108864), or the estimate could never grow",
        ]
    );
}

// ---------------------------------------------------------------------------
// From JSON text, as the agent serves usage.

#[test]
fn a_json_trace_drives_the_stages_like_proto_snapshots() {
    let line = |t: f64, cpu: f64| {
        format!(
            r#"{{"executors":[{{"executor_info":{{"executor_id":{{"value":"web"}},"framework_id":{{"value":"fw"}}}},"allocated":[{{"name":"cpus","type":"SCALAR","scalar":{{"value":4}}}},{{"name":"mem","type":"SCALAR","scalar":{{"value":1024}}}}],"statistics":{{"timestamp":{t},"cpus_user_time_secs":{cpu},"cpus_system_time_secs":0,"cpus_limit":4,"mem_rss_bytes":268435456,"mem_limit_bytes":1073741824}}}}],"total":[{{"name":"cpus","type":"SCALAR","scalar":{{"value":8}}}},{{"name":"mem","type":"SCALAR","scalar":{{"value":8192}}}}]}}"#
        )
    };
    let trace = [line(0.0, 0.0), line(300.0, 300.0), line(310.0, 310.0)].join("\n");
    let snaps = from_json(&trace);
    let mut p = estimator(
        "[[stage]]\ntype = \"utilization_threshold\"\n[[stage]]\ntype = \"ignore_new_executors\"\n[[stage]]\ntype = \"slack\"\nfraction = 0.7\n[[stage]]\ntype = \"memory_slack\"\n",
    );
    let answers: Vec<Answer> = snaps.iter().map(|s| tick(&mut p, s)).collect();
    assert!(answers[0].stopped.is_some());
    assert_eq!(answers[1].stopped, None);
    // 4 − 1 CPU, capped at 0.7 × 8 − 1 = 4.6; memory 1 − 0.25 − 0.1 GiB.
    assert_close(answers[2].slack.cpus, 3.0, 1e-9);
    assert_close(answers[2].slack.mem_bytes, 0.65 * GIB, 1.0);
}
