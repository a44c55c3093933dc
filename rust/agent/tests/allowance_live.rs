//! The best-effort allowance against a real cgroup v1 best-effort parent:
//! the SLO controller's steps move its CFS quota and memory limit within
//! floor and ceiling, the original values are recorded before the first
//! write and restored on shutdown, an agent that died with an allowance in
//! force has it undone by the next one, and a dry run writes nothing.

mod support;

use serenity_agent::allowance::{AllowanceActuator, AllowanceConfig, MemAllowance};
use serenity_agent::config::{Action, CgroupVersion, EnforcementConfig};
use serenity_agent::groups::Layout;
use serenity_agent::{Agent, AgentConfig, Enforcer};
use serenity_core::tick::{Allowance, AllowanceStep};
use std::path::{Path, PathBuf};
use support::*;

const MIB: f64 = 1024.0 * 1024.0;

fn enforcer(tree: &Tree, dry_run: bool, state: Option<PathBuf>) -> Enforcer {
    Enforcer::new(
        Layout::resolve(CgroupVersion::V1, Path::new(ROOT)).unwrap(),
        PathBuf::from(tree.rel("be")),
        EnforcementConfig {
            action: Action::Kill,
            throttle_cpus: 0.1,
            restore_on_exit: true,
            state_file: state,
        },
        dry_run,
    )
}

fn step(step: AllowanceStep) -> Allowance {
    Allowance {
        step,
        reason: format!("test says {}", step.as_str()),
    }
}

fn config() -> AllowanceConfig {
    AllowanceConfig {
        cpus_floor: 0.2,
        cpus_ceiling: Some(1.0),
        cpus_initial: None,
        cpus_grow_step: 0.1,
        cpus_shrink_step: 0.3,
        mem: Some(MemAllowance {
            floor_mib: 64.0,
            ceiling_mib: 512.0,
            initial_mib: 512.0,
            grow_step_mib: 64.0,
            shrink_step_mib: 256.0,
        }),
        cpu_idle: true,
    }
}

#[test]
fn steps_move_the_parents_quota_and_limit_within_bounds_and_shutdown_restores_them() {
    let test = "steps_move_the_parents_quota_and_limit_within_bounds_and_shutdown_restores_them";
    if !v1_root_or_skip(test) {
        return;
    }
    let _serial = serial();
    capture_logs();
    let mut tree = Tree::v1();
    tree.mkdir("be");
    tree.mkdir("be/job");
    let quota = tree.dir("cpu", "be").join("cpu.cfs_quota_us");
    let limit = tree.dir("memory", "be").join("memory.limit_in_bytes");
    let idle = tree.dir("cpu", "be").join("cpu.idle");
    let (quota0, limit0) = (read(&quota), read(&limit));
    assert_eq!(read(&idle), "0");
    let period: f64 = read(&tree.dir("cpu", "be").join("cpu.cfs_period_us"))
        .parse()
        .unwrap();
    let dir = TempDir::new();
    let state = dir.0.join("state.json");
    let mut enforcer = enforcer(&tree, false, Some(state.clone()));
    let mut actuator = AllowanceActuator::new(config(), 2.0);
    let cpus_of = |q: &Path| read(q).parse::<f64>().unwrap() / period;
    let mib_of = |l: &Path| read(l).parse::<f64>().unwrap() / MIB;

    // First tick: the initial allowance (CPU at the floor, memory at the
    // ceiling), recorded in the state file before it is written.
    let a = actuator.tick(&mut enforcer, Some(&step(AllowanceStep::Grow)));
    assert!((a.cpus - 0.2).abs() < 1e-9 && (cpus_of(&quota) - 0.2).abs() < 1e-3);
    assert!((mib_of(&limit) - 512.0).abs() < 1e-6);
    assert_eq!(read(&idle), "1", "best-effort runs as SCHED_IDLE");
    let recorded = std::fs::read_to_string(&state).expect("the change is recorded");
    assert!(
        recorded.contains("allowance_cpu") && recorded.contains(&quota0),
        "{recorded}"
    );
    assert!(
        recorded.contains("allowance_mem") && recorded.contains(&limit0),
        "{recorded}"
    );

    // Grow slowly, up to the ceiling and no further.
    for _ in 0..12 {
        actuator.tick(&mut enforcer, Some(&step(AllowanceStep::Grow)));
    }
    assert!(
        (cpus_of(&quota) - 1.0).abs() < 1e-3,
        "capped at the ceiling"
    );
    assert!((mib_of(&limit) - 512.0).abs() < 1e-6);
    // Shrink fast; hold; a missing decision holds.
    actuator.tick(&mut enforcer, Some(&step(AllowanceStep::Shrink)));
    assert!((cpus_of(&quota) - 0.7).abs() < 1e-3);
    assert!((mib_of(&limit) - 256.0).abs() < 1e-6);
    actuator.tick(&mut enforcer, Some(&step(AllowanceStep::Hold)));
    actuator.tick(&mut enforcer, None);
    assert!((cpus_of(&quota) - 0.7).abs() < 1e-3, "hold keeps it");
    // Revoke: the floor at once.
    let a = actuator.tick(&mut enforcer, Some(&step(AllowanceStep::Revoke)));
    assert_eq!(a.step, AllowanceStep::Revoke);
    assert!((cpus_of(&quota) - 0.2).abs() < 1e-3);
    assert!((mib_of(&limit) - 64.0).abs() < 1e-6);
    assert!(
        !logged("best-effort cpu allowance set to 0.200 CPUs (was 0.700 CPUs)").is_empty(),
        "every step is logged with what it was"
    );
    assert!(
        !logged("revoke: test says revoke").is_empty(),
        "with its reason"
    );

    // Shutdown restores both and removes the state file.
    let problems = enforcer.restore();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(read(&quota), quota0);
    assert_eq!(read(&limit), limit0);
    assert_eq!(read(&idle), "0");
    assert!(!state.exists());
}

#[test]
fn a_dry_run_tracks_the_allowance_and_writes_nothing() {
    let test = "a_dry_run_tracks_the_allowance_and_writes_nothing";
    if !v1_root_or_skip(test) {
        return;
    }
    let _serial = serial();
    capture_logs();
    let mut tree = Tree::v1();
    tree.mkdir("be");
    let quota = tree.dir("cpu", "be").join("cpu.cfs_quota_us");
    let quota0 = read(&quota);
    let mut enforcer = enforcer(&tree, true, None);
    let mut actuator = AllowanceActuator::new(config(), 2.0);
    for _ in 0..3 {
        actuator.tick(&mut enforcer, Some(&step(AllowanceStep::Grow)));
    }
    assert!((actuator.cpus().unwrap() - 0.4).abs() < 1e-9);
    assert_eq!(read(&quota), quota0, "nothing written");
    assert!(!logged("dry run: would set the best-effort cpu allowance to 0.400 CPUs").is_empty());
}

#[test]
fn an_allowance_left_by_a_dead_agent_is_restored_at_start_and_only_on_the_parent() {
    let test = "an_allowance_left_by_a_dead_agent_is_restored_at_start_and_only_on_the_parent";
    if !v1_root_or_skip(test) {
        return;
    }
    let _serial = serial();
    capture_logs();
    let mut tree = Tree::v1();
    for rel in ["prod", "be", "be/job"] {
        tree.mkdir(rel);
    }
    let quota = |rel: &str| tree.dir("cpu", rel).join("cpu.cfs_quota_us");
    write(&quota("be"), "20000");
    write(&quota("prod"), "30000");
    let dir = TempDir::new();
    dir.file("q.toml", "kind = \"qos\"\n[[stage]]\ntype = \"ema\"\n");
    let entry = |group: &str, change: &str, file: &Path, restore: &str| {
        format!(
            "{{\"group\": \"{group}\", \"change\": \"{change}\", \"file\": \"{}\", \"restore\": \"{restore}\"}}",
            file.display()
        )
    };
    let entries = [
        entry(&tree.rel("be"), "allowance_cpu", &quota("be"), "-1"),
        // An allowance entry on a child, and on production: refused.
        entry(&tree.rel("be/job"), "allowance_cpu", &quota("be/job"), "-1"),
        entry(&tree.rel("prod"), "allowance_cpu", &quota("prod"), "-1"),
    ];
    dir.file(
        "state.json",
        &format!("{{\"version\": 1, \"changes\": [{}]}}\n", entries.join(",")),
    );
    let text = format!(
        "qos = \"q.toml\"\n[cgroups]\nversion = \"v1\"\nroot = \"{ROOT}\"\nperf = false\n\
         production = [\"{}\"]\nbest_effort = \"{}\"\n[total]\ncpus = 2\nmem_mib = 1024\n\
         [metrics]\nenabled = false\n[enforcement]\nstate_file = \"state.json\"\n[allowance]\ncpus_floor = 0.1\n",
        tree.rel("prod"),
        tree.rel("be")
    );
    let config = AgentConfig::load(&dir.file("agent.toml", &text)).unwrap();
    let agent = Agent::new(config, true).expect("the agent starts");
    assert_eq!(read(&quota("be")), "-1", "the parent's quota is restored");
    assert_eq!(read(&quota("prod")), "30000", "production is never written");
    assert_eq!(agent.metrics().lock().restored_total, 1);
    let refused = logged_at(log::Level::Error, "refused to restore");
    assert_eq!(refused.len(), 2, "{refused:#?}");
    assert!(refused
        .iter()
        .all(|m| m.contains("an allowance change belongs to the best-effort parent")));
}
