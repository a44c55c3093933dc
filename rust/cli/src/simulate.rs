//! `serenity simulate`: synthetic, labelled usage traces from a scenario,
//! open loop (the scripted trace) or closed loop (`--pipeline`: the
//! pipelines run inside the simulated node and their kills and slack
//! change it). The model lives in `serenity-sim` (docs/replay.md).

use crate::cli::SimulateArgs;
use anyhow::Context;
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
    // Pipelines are built (and every problem reported) before the output
    // file is created; each record is written as soon as its tick is done.
    let mut pipelines = if args.pipelines.is_empty() {
        Vec::new()
    } else {
        crate::replay::build_pipelines(&args.pipelines, &args.sets)?
    };
    let out = args.out.display();
    let file = std::fs::File::create(&args.out).with_context(|| format!("cannot create {out}"))?;
    let mut w = std::io::BufWriter::new(file);
    let (mut records, mut episodes) = (0usize, 0usize);
    let mut write = |r: serenity_sim::Written<'_>| -> Result<(), String> {
        records += 1;
        if r.truth.onset {
            episodes += 1;
        }
        w.write_all(r.json.as_bytes())
            .and_then(|_| w.write_all(b"\n"))
            .map_err(|e| format!("cannot write {out}: {e}"))
    };
    if pipelines.is_empty() {
        serenity_sim::generate_each(&scenario, &mut write)
    } else {
        serenity_sim::closed_loop::run_each(&scenario, &mut pipelines, &mut write)
    }
    .map_err(anyhow::Error::msg)?;
    w.flush().with_context(|| format!("cannot write {out}"))?;
    log::info!(
        "wrote {} records ({} interference episode onset{}, {}) to {}",
        records,
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
