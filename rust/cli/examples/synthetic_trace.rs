//! Writes a wide synthetic trace (the benchmarks' synthetic node) for
//! measuring replay's memory:
//!
//! ```text
//! cargo run --release -p serenity-cli --example synthetic_trace -- EXECUTORS TICKS OUT [jsonl|fixture]
//! ```
//!
//! Tick `t` is `serenity_core::model::build::synthetic_node(EXECUTORS, t)`,
//! written as protobuf-JSON (JSON Lines by default). 10 000 executors take
//! about 5.8 MB a tick.
//!
//! `synthetic_trace scenario EXECUTORS TICKS OUT.toml` writes instead a
//! scenario of that many executors for `serenity simulate`.

#[path = "../tests/common/synthetic.rs"]
mod synthetic;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let scenario = args.first().is_some_and(|a| a == "scenario");
    if scenario {
        args.remove(0);
    }
    let usage = "usage: synthetic_trace EXECUTORS TICKS OUT [jsonl|fixture]";
    let (Some(n), Some(t), Some(out)) = (
        args.first().and_then(|a| a.parse::<usize>().ok()),
        args.get(1).and_then(|a| a.parse::<u64>().ok()),
        args.get(2),
    ) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    if scenario {
        return match std::fs::write(out, synthetic::scenario_toml(n, t as usize)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cannot write {out}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let layout = match args.get(3).map(String::as_str) {
        None | Some("jsonl") => synthetic::Layout::JsonLines,
        Some("fixture") => synthetic::Layout::Fixture,
        Some(other) => {
            eprintln!("unknown layout {other}; {usage}");
            return ExitCode::from(2);
        }
    };
    let written = std::fs::File::create(out)
        .and_then(|f| synthetic::write_trace(&mut std::io::BufWriter::new(f), n, t, layout));
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write {out}: {e}");
            ExitCode::FAILURE
        }
    }
}
