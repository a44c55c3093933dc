//! The run loop hands each tick's report back (`Agent::recycle`) so that the
//! next tick builds its usage and snapshot in the same buffers. That must
//! change nothing: an agent that recycles and one that does not, fed the
//! same samples with executor churn, missing statistics and overloads, give
//! the same snapshot, slack, contentions and decisions on every tick.

mod support;

use serenity_agent::groups::{Group, GroupKind};
use serenity_agent::sampling::Sampled;
use serenity_core::model::build::{usage, ExecutorSpec};
use std::fs;
use std::path::Path;
use support::replay_agent;

/// Tick `t`: 4 production groups and 3 best-effort ones, one best-effort
/// group replaced every 7 ticks and one production group every 200 (each
/// lives 800, past the estimator's warm-up); every 11th group-tick without
/// statistics; two production groups sharing an executor id (under
/// different parents) for 5 ticks of every 50, which the snapshot rejects;
/// production at its full allocation for 6 ticks of every 60 (an overload
/// the QoS pipeline corrects).
fn sample(t: u64, cpu: &mut Vec<f64>) -> Sampled {
    let mut groups = Vec::new();
    for i in 0..4u64 {
        let id = i + 10 * ((t + i * 200) / 800);
        groups.push(Group {
            kind: GroupKind::Production,
            path: Path::new("prod").join(format!("pr-{id}")),
            name: format!("pr-{id}"),
        });
    }
    if t % 50 < 5 {
        // The last production group takes the name of the one before it.
        let name = groups[2].name.clone();
        groups[3] = Group {
            kind: GroupKind::Production,
            path: Path::new("prod/b").join(&name),
            name,
        };
    }
    for i in 0..3u64 {
        let name = format!("be-{}", i + 3 * ((t + i * 3) / 7));
        groups.push(Group {
            kind: GroupKind::BestEffort,
            path: Path::new("be").join(&name),
            name,
        });
    }
    cpu.resize(groups.len(), 0.0);
    let time = 1_700_000_000.0 + t as f64;
    let mut specs = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let best_effort = g.kind == GroupKind::BestEffort;
        let rate = match (best_effort, t % 60 >= 54) {
            (true, _) => 0.2,
            (false, true) => 1.5,
            (false, false) => 0.4 + 0.3 * ((t + i as u64) as f64 / 9.0).sin(),
        };
        cpu[i] += rate;
        let spec = ExecutorSpec {
            container_id: Some(g.path_str()),
            ..ExecutorSpec::new(
                g.kind.framework_id(),
                &g.name,
                best_effort,
                if best_effort { 0.25 } else { 1.5 },
                512.0,
            )
        };
        specs.push(if (t + i as u64).is_multiple_of(11) {
            spec
        } else {
            spec.cpu(time, cpu[i])
        });
    }
    Sampled {
        usage: usage(8.0, 16384.0, &specs),
        groups,
        errors: 0,
        unreadable: Vec::new(),
    }
}

#[test]
fn recycled_buffers_give_the_same_ticks_as_fresh_ones() {
    let base = std::env::temp_dir().join(format!("serenity-recycle-{}", std::process::id()));
    let mut recycling = replay_agent(&base.join("a"), 8, 16384);
    let mut fresh = replay_agent(&base.join("b"), 8, 16384);
    let (mut cpu_a, mut cpu_b) = (Vec::new(), Vec::new());
    let (mut decisions, mut rejected, mut slacks) = (0, 0, 0);
    for t in 0..1200 {
        let a = recycling.tick_sampled(sample(t, &mut cpu_a));
        let b = fresh.tick_sampled(sample(t, &mut cpu_b));
        assert_eq!(a.snapshot.usage, b.snapshot.usage, "tick {t}: usage");
        assert_eq!(a.snapshot.executors, b.snapshot.executors, "tick {t}: view");
        assert_eq!(
            a.snapshot.rejected, b.snapshot.rejected,
            "tick {t}: rejected"
        );
        assert_eq!(a.slack, b.slack, "tick {t}: slack");
        assert_eq!(a.contentions, b.contentions, "tick {t}: contentions");
        assert_eq!(a.decisions, b.decisions, "tick {t}: decisions");
        decisions += a.decisions.len();
        rejected += a.snapshot.rejected.len();
        slacks += usize::from(a.slack.is_some_and(|s| s.cpus > 0.0));
        recycling.recycle(a);
    }
    drop((recycling, fresh));
    let _ = fs::remove_dir_all(&base);
    // The run must have gone through every path it claims to compare.
    assert!(decisions > 0, "no correction: the overloads were not seen");
    assert!(rejected > 0, "no executor was ever rejected");
    assert!(slacks > 0, "the estimator never lent anything");
}
