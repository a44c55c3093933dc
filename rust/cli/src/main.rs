//! The `serenity` binary: parses the command line and dispatches.

use clap::Parser;
use serenity_cli::cli::{Cli, Command};
use serenity_cli::{bench, check, logger, record, replay, score, simulate, Problems};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logger::init(cli.verbose, cli.quiet);
    let result = match cli.command {
        Command::Check(a) => check::run(&a),
        Command::Replay(a) => replay::run(&a),
        Command::Record(a) => record::run(&a),
        Command::Simulate(a) => simulate::run(&a),
        Command::Score(a) => score::run(&a),
        Command::Bench(a) => bench::run(&a),
        #[cfg(target_os = "linux")]
        Command::Agent(a) => {
            let shutdown = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            serenity_agent::run(a, shutdown).map(|()| ExitCode::SUCCESS)
        }
        #[cfg(target_os = "linux")]
        Command::Hints(a) => {
            let shutdown = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            serenity_hints::run(a, shutdown).map(|()| ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if let Some(p) = e.downcast_ref::<Problems>() {
                for line in &p.0 {
                    eprintln!("{line}");
                }
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
