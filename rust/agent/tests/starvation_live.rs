//! Live starvation signals: a production group on the unified (v2)
//! hierarchy spins on CPU 0; a `stress-ng` antagonist in a best-effort group
//! pinned to the same CPU must raise the production group's run-queue delay
//! and CPU pressure as the agent samples them and a pipeline derives them.
//!
//! Needs root, cgroup2 (at /sys/fs/cgroup or /sys/fs/cgroup/unified),
//! stress-ng and taskset; otherwise prints `SKIP:`. Without PSI only the
//! run-queue delay is checked (and the PSI part says SKIP).

mod support;

use serenity_agent::config::CgroupVersion;
use serenity_agent::groups::{Group, GroupKind, Layout};
use serenity_agent::sampling::Sampler;
use serenity_core::model::build::{usage, ExecutorSpec};
use serenity_core::signal::builtin;
use serenity_core::ProbeSettings;
use serenity_core::{build_pipeline, BuildOptions, Snapshot};
use serenity_probe::enrich::UsageEnricher;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;
use support::*;

/// A QoS pipeline that only derives the built-in signals (no correction).
const SIGNALS: &str = "kind = \"qos\"\n[[stage]]\ntype = \"ema\"\ninput = \"runqueue_delay\"\n";

fn unified_root() -> Option<PathBuf> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.controllers").is_file())
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// (runqueue_delay, cpu_pressure) of the production group over the
/// interval between two samples `gap` apart.
fn measure(sampler: &mut Sampler, group: &Group, gap: Duration) -> (f64, Option<f64>) {
    let mut pipeline = build_pipeline("signals.toml", SIGNALS, &[], BuildOptions::default())
        .expect("the signal pipeline builds");
    let mut last = (f64::NAN, None);
    for i in 0..2 {
        if i == 1 {
            thread::sleep(gap);
        }
        let sampled = sampler.sample(std::slice::from_ref(group), 2.0, 1024.0);
        assert_eq!(sampled.usage.executors.len(), 1, "the group is read");
        let snapshot = Snapshot::new(sampled.usage);
        pipeline.tick(&snapshot);
        let s = pipeline.last_signals();
        last = (
            s.get(0, builtin::RUNQUEUE_DELAY).unwrap_or(f64::NAN),
            s.get(0, builtin::CPU_PRESSURE),
        );
    }
    last
}

#[test]
fn a_cpu_antagonist_raises_a_production_groups_run_queue_delay_and_cpu_pressure() {
    let test = "a_cpu_antagonist_raises_a_production_groups_run_queue_delay_and_cpu_pressure";
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return skip(test, "needs root (geteuid != 0) to create cgroups");
    }
    let Some(root) = unified_root() else {
        return skip(
            test,
            "no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified",
        );
    };
    if !have("stress-ng") || !have("taskset") {
        return skip(
            test,
            "needs stress-ng and taskset (apt-get install -y stress-ng util-linux)",
        );
    }
    let _serial = serial();
    let mut tree = Tree::new(std::slice::from_ref(&root));
    for rel in ["prod", "prod/web", "be", "be/job"] {
        tree.mkdir(rel);
    }
    // Production: one spinning task pinned to CPU 0.
    let mut web = Proc::sh("read go; exec taskset -c 0 sh -c 'while :; do :; done'");
    tree.attach("prod/web", web.pid());
    web.release();
    let group = Group {
        kind: GroupKind::Production,
        path: PathBuf::from(tree.rel("prod/web")),
        name: "web".into(),
    };
    let layout = Layout {
        version: CgroupVersion::V2,
        root: root.clone(),
    };
    let mut sampler = Sampler::new(layout, false);
    thread::sleep(Duration::from_millis(300));
    let (calm_delay, calm_pressure) = measure(&mut sampler, &group, Duration::from_secs(2));

    // The antagonist: three CPU hogs pinned to the same CPU, in a
    // best-effort group (the shell joins the group before exec, so every
    // worker is born inside it).
    let job = tree.dir("", "be/job").join("cgroup.procs");
    let mut stress = Proc::sh(&format!(
        "read go; echo $$ > {}; exec stress-ng --cpu 3 --taskset 0 --timeout 20s --quiet",
        job.display()
    ));
    stress.release();
    assert!(
        wait_until(Duration::from_secs(5), || pids(&tree.dir("", "be/job"))
            .len()
            >= 4),
        "stress-ng workers start in the best-effort group"
    );
    thread::sleep(Duration::from_millis(300));
    let (hot_delay, hot_pressure) = measure(&mut sampler, &group, Duration::from_secs(2));
    eprintln!(
        "run-queue delay of prod/web: {calm_delay:.3} s/s alone, {hot_delay:.3} s/s with stress-ng; \
         cpu pressure: {calm_pressure:?} -> {hot_pressure:?}"
    );
    // Alone, web waits only for whatever else this host runs on CPU 0; with
    // three more hogs on that CPU it runs about a quarter of the time or less
    // and waits the rest.
    assert!(hot_delay.is_finite() && calm_delay.is_finite());
    assert!(
        hot_delay > 0.5 && hot_delay > calm_delay + 0.2,
        "run-queue delay {calm_delay:.3} -> {hot_delay:.3}"
    );
    // The module path: the probe's enricher (what the C ABI runs before each
    // tick with a `[probe]` table) finds the container's group by its id
    // under cgroup_root/prefix and fills the same totals.
    let mut enricher = UsageEnricher::new(&ProbeSettings {
        perf: false,
        cgroup_root: "/sys/fs/cgroup".into(),
        prefix: tree.rel("prod"),
        perf_interval_secs: 1.0,
        starvation: true,
    });
    let usage_of = |e: &mut UsageEnricher| {
        let mut spec = ExecutorSpec::new("fw", "web", false, 1.0, 64.0).cpu(1.0, 0.0);
        spec.container_id = Some("web".into());
        let mut u = usage(2.0, 1024.0, &[spec]);
        e.enrich(&mut u);
        u.executors[0]
            .statistics
            .as_ref()
            .and_then(|s| s.serenity_runqueue_delay_secs)
    };
    let first = usage_of(&mut enricher).expect("the enricher finds the container's group");
    thread::sleep(Duration::from_secs(1));
    let second = usage_of(&mut enricher).expect("and reads it again");
    assert!(
        second - first > 0.4,
        "enricher run-queue total {first:.3} -> {second:.3} s"
    );
    assert_eq!(enricher.starvation_containers(), 1);
    match (calm_pressure, hot_pressure) {
        (Some(calm), Some(hot)) => assert!(
            hot > 0.5 && hot > calm + 0.1,
            "cpu pressure {calm:.3} -> {hot:.3}"
        ),
        _ => skip_part(
            test,
            &format!(
                "{} has no cpu.pressure (PSI unsupported on this kernel)",
                Path::new(&root).join(tree.rel("prod/web")).display()
            ),
        ),
    }
}
