//! `serenity simulate`: synthetic, labelled usage traces from a scenario,
//! open loop (the scripted trace) or closed loop (`--pipeline`: the
//! pipelines run inside the simulated node and their kills and slack
//! change it). The model lives in `serenity-sim` (docs/replay.md).

use crate::cli::SimulateArgs;
use anyhow::Context;
use serde_json::Value;
use serenity_sim::Scenario;
use std::io::Write;
use std::process::ExitCode;

/// Runs `serenity simulate`.
pub fn run(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let name = args.scenario.display().to_string();
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("cannot read scenario {name}"))?;
    let mut scenario = Scenario::parse(&name, &text).map_err(crate::Problems)?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    let records: Vec<Value> = if args.pipelines.is_empty() {
        serenity_sim::generate(&scenario)
    } else {
        let mut pipelines = crate::replay::build_pipelines(&args.pipelines, &args.sets)?;
        serenity_sim::closed_loop::run(&scenario, &mut pipelines).map_err(anyhow::Error::msg)?
    };
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    for r in &records {
        serde_json::to_writer(&mut w, r)?;
        w.write_all(b"\n")?;
    }
    w.flush()
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let episodes = records
        .iter()
        .filter(|r| r["truth"]["onset"].as_bool() == Some(true))
        .count();
    log::info!(
        "wrote {} records ({} interference episode onset{}, {}) to {}",
        records.len(),
        episodes,
        if episodes == 1 { "" } else { "s" },
        if args.pipelines.is_empty() {
            "open loop"
        } else {
            "closed loop"
        },
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
