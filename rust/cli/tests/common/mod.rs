//! Helpers shared by the CLI's integration tests: run the built binary,
//! write files into a temporary directory, simulate scenarios.
#![allow(dead_code)]

pub mod synthetic;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (two levels above this crate).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `serenity` with `args` from the repository root.
pub fn serenity(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_serenity"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the serenity binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write a test file");
    p.display().to_string()
}

/// Simulates a scenario of tests/scenarios into `dir`, returning the trace path.
pub fn simulate(dir: &Path, scenario: &str) -> String {
    let out = dir.join(format!("{scenario}.jsonl")).display().to_string();
    let scenario = root()
        .join(format!("tests/scenarios/{scenario}.toml"))
        .display()
        .to_string();
    let o = serenity(&["simulate", "--scenario", &scenario, "--out", &out]);
    assert!(o.status.success(), "simulate failed: {}", stderr(&o));
    out
}

/// A basic estimator built from the stages every branch has.
pub const ESTIMATOR: &str = r#"kind = "estimator"
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

/// A QoS pipeline built from the stages every branch has: it smooths IPC
/// and would kill everything on contention, but nothing raises one.
pub const QOS_NO_DETECTOR: &str = r#"kind = "qos"
[[stage]]
type = "ema"
input = "ipc"
[[stage]]
type = "kill_all"
"#;
