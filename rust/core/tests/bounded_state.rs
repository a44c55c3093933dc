//! Per-executor state stays bounded however many executors come and go.

use serenity_core::model::build::{usage, ExecutorSpec};
use serenity_core::{build_pipeline, BuildOptions, Snapshot};

const PIPELINE: &str = r#"
kind = "estimator"
executor_grace_ticks = 3
[[stage]]
type = "pr_only"
[[stage]]
type = "ema"
input = "cpu_usage"
[[stage]]
type = "ema"
input = "ipc"
mode = "time_aware"
[[stage]]
type = "slack"
usage = "cpu_usage_ema"
"#;

#[test]
fn executor_state_is_bounded_under_100000_ticks_of_churn() {
    let mut p = build_pipeline("churn.toml", PIPELINE, &[], BuildOptions::default()).unwrap();
    const ALIVE: usize = 8;
    let mut next_id = 0u64;
    let mut alive: Vec<(u64, f64)> = (0..ALIVE)
        .map(|_| {
            next_id += 1;
            (next_id, 0.0)
        })
        .collect();
    let mut max_slots = 0;
    for tick in 0..100_000u64 {
        // Every tick one executor leaves and a new one arrives; every 97th
        // tick an executor skips a tick (statistics missing) but stays.
        if tick > 0 {
            alive.remove((tick as usize * 7) % ALIVE);
            next_id += 1;
            alive.push((next_id, 0.0));
        }
        let t = tick as f64;
        let specs: Vec<ExecutorSpec> = alive
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| !(tick + *i as u64).is_multiple_of(97))
            .map(|(i, (id, cpu))| {
                *cpu += 0.5;
                ExecutorSpec::new("fw", &format!("e{id}"), i % 3 == 0, 1.0, 64.0)
                    .cpu(t, *cpu)
                    .perf(t, 1.0, 1000, 1500)
            })
            .collect();
        let snap = Snapshot::new(usage(16.0, 4096.0, &specs));
        let out = p.tick(&snap);
        let slack = out.slack.unwrap();
        assert!(slack.cpus.is_finite() && slack.cpus >= 0.0);
        max_slots = max_slots.max(p.registry().slot_count());
    }
    // Live executors plus those within the grace (3 ticks, one leaves per tick).
    assert!(max_slots <= ALIVE + 4, "slots grew to {max_slots}");
    assert!(p.registry().remembered() <= ALIVE + 4);
    assert_eq!(p.ticks(), 100_000);
}
