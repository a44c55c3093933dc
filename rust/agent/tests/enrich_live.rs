//! The usage enricher against a real container group in the perf_event
//! hierarchy with a busy process in it.

mod support;

use serenity_core::model::build::{usage, ExecutorSpec};
use serenity_core::model::proto::PerfStatistics;
use serenity_core::ProbeSettings;
use serenity_probe::enrich::UsageEnricher;
use std::path::Path;
use std::thread;
use std::time::Duration;
use support::*;

#[test]
fn missing_perf_is_filled_from_the_container_group_and_agent_perf_wins() {
    let test = "missing_perf_is_filled_from_the_container_group_and_agent_perf_wins";
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        skip(test, "needs root to mount perf_event and create cgroups");
        return;
    }
    let _serial = serial();
    let mount = match PerfMount::ensure(Path::new(ROOT)) {
        Ok(m) => m,
        Err(e) => {
            skip(test, &format!("no perf_event hierarchy: {e}"));
            return;
        }
    };
    let mut tree = Tree::new(std::slice::from_ref(&mount.path));
    // <perf_event root>/<prefix>/<container id>, prefix = the tree's name.
    tree.mkdir("c1");
    let prefix = tree.name.clone();
    let mut busy = Proc::busy();
    tree.attach("c1", busy.pid());
    busy.release();

    let settings = ProbeSettings {
        perf: true,
        cgroup_root: ROOT.into(),
        prefix: prefix.clone(),
        perf_interval_secs: 0.5,
        starvation: false,
    };
    let mut enricher = UsageEnricher::new(&settings);
    let agent_perf = PerfStatistics {
        timestamp: Some(1.0),
        duration: Some(1.0),
        task_clock: Some(42.0),
        ..Default::default()
    };
    // What a real Mesos 1.11 agent with the cgroups/perf_event isolator sends
    // for every container outside its perf windows: no counts at all.
    let agent_placeholder = PerfStatistics {
        timestamp: Some(2.0),
        duration: Some(0.0),
        ..Default::default()
    };
    let snapshot = |with_c1: bool| {
        let mut specs = Vec::new();
        if with_c1 {
            let mut c1 = ExecutorSpec::new("fw", "e1", false, 1.0, 64.0).cpu(1.0, 0.0);
            c1.container_id = Some("c1".into());
            c1.statistics.as_mut().unwrap().perf = Some(agent_placeholder.clone());
            specs.push(c1);
        }
        let mut c2 = ExecutorSpec::new("fw", "e2", false, 1.0, 64.0).cpu(1.0, 0.0);
        c2.container_id = Some("c2".into());
        c2.statistics.as_mut().unwrap().perf = Some(agent_perf.clone());
        specs.push(c2);
        let mut no_container = ExecutorSpec::new("fw", "e3", false, 1.0, 64.0);
        no_container.container_id = None;
        specs.push(no_container);
        usage(2.0, 1024.0, &specs)
    };

    let mut first = snapshot(true);
    let outside0 = serenity_probe::host::interrupt_and_steal_secs().unwrap();
    enricher.enrich(&mut first);
    let cpu_before = process_cpu_ms(busy.pid());
    assert_eq!(
        enricher.group_dir("c1"),
        Some(mount.path.join(&prefix).join("c1"))
    );
    assert_eq!(enricher.open_containers(), 1, "c1 only: c2 has agent perf");
    assert_eq!(
        first.executors[0].statistics.as_ref().unwrap().perf,
        Some(agent_placeholder.clone()),
        "the tick that opens the counters has no interval yet: the agent's empty perf stays"
    );

    thread::sleep(Duration::from_secs(1));
    let mut second = snapshot(true);
    enricher.enrich(&mut second);
    let cpu_used = process_cpu_ms(busy.pid()) - cpu_before;
    let outside_ms = (serenity_probe::host::interrupt_and_steal_secs().unwrap() - outside0) * 1e3;
    let perf = second.executors[0]
        .statistics
        .as_ref()
        .unwrap()
        .perf
        .clone()
        .expect("perf filled for c1");
    assert_ne!(
        perf, agent_placeholder,
        "the agent's empty perf (duration 0) is no data: it is filled"
    );
    let task_clock_ms = perf.task_clock.expect("task_clock");
    let duration = perf.duration.unwrap();
    eprintln!(
        "c1: task_clock {task_clock_ms:.1} ms over {duration:.3} s; the process's own CPU time {cpu_used:.0} ms; node interrupt + steal {outside_ms:.0} ms"
    );
    assert!(duration > 0.9 && duration < 2.0, "duration {duration}");
    assert!(
        cpu_used > 100.0,
        "the busy process should have run: {cpu_used} ms"
    );
    // /proc's CPU time has clock-tick resolution (10 ms at USER_HZ 100).
    // task-clock also counts the interrupts served and the host's steal
    // while the task was on a CPU, which the process's CPU time leaves out:
    // at most the node's interrupt + steal time over the span.
    let slack = 0.05 * cpu_used + 20.0;
    assert!(
        task_clock_ms >= cpu_used - slack && task_clock_ms <= cpu_used + outside_ms + slack,
        "task_clock {task_clock_ms} ms vs the process's {cpu_used} ms (+ {outside_ms:.0} ms of node interrupt + steal)"
    );
    assert_eq!(
        second.executors[1].statistics.as_ref().unwrap().perf,
        Some(agent_perf.clone()),
        "agent data wins"
    );
    assert!(second.executors[2].statistics.is_none());

    // A tick sooner than perf_interval_secs reuses the last interval.
    let mut third = snapshot(true);
    enricher.enrich(&mut third);
    assert_eq!(
        third.executors[0].statistics.as_ref().unwrap().perf,
        Some(perf)
    );

    // c1 leaves: its counters are closed.
    let mut fourth = snapshot(false);
    enricher.enrich(&mut fourth);
    assert_eq!(enricher.open_containers(), 0);
    assert_eq!(
        fourth.executors[0].statistics.as_ref().unwrap().perf,
        Some(agent_perf.clone())
    );

    // perf = false: nothing is touched.
    let mut off = UsageEnricher::new(&ProbeSettings {
        perf: false,
        ..settings
    });
    let mut fifth = snapshot(true);
    off.enrich(&mut fifth);
    assert_eq!(
        fifth.executors[0].statistics.as_ref().unwrap().perf,
        Some(agent_placeholder),
        "perf = false leaves the agent's perf as it came"
    );
    assert_eq!(off.open_containers(), 0);
    drop(enricher);
    drop(busy);
    drop(tree);
}

/// utime + stime of a process, in milliseconds, from /proc/<pid>/stat.
fn process_cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf takes no pointers and has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks * 1000.0 / hz
}
