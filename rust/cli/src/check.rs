//! `serenity check`: validate pipeline files with the same builder the
//! modules use, and print every problem.

use crate::cli::CheckArgs;
use serenity_core::{build_pipeline, BuildOptions};
use std::path::Path;
use std::process::ExitCode;

/// The verdict on one file: the `ok:` line, or every problem, one per line.
pub fn check_file(path: &Path, overrides: &[String]) -> Result<String, Vec<String>> {
    let name = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| vec![format!("{name}: cannot read: {e}")])?;
    match build_pipeline(&name, &text, overrides, BuildOptions::default()) {
        Ok(p) => {
            let n = p.stages().count();
            let slis: String = p
                .slis()
                .iter()
                .map(|s| {
                    format!(
                        "; SLI {} of {} from {} {}, objective {} {}",
                        s.name,
                        s.executors.join(", "),
                        s.source.kind(),
                        s.source.location(),
                        s.direction.as_str(),
                        s.show(s.objective)
                    )
                })
                .collect();
            Ok(format!(
                "ok: {name} ({}, {n} stage{}{slis})",
                p.kind().as_str(),
                if n == 1 { "" } else { "s" }
            ))
        }
        Err(errors) => Err(errors.0.iter().map(|e| e.to_string()).collect()),
    }
}

/// Runs `serenity check`: prints on stdout an `ok:` line per good file and
/// one line per problem; exit code 1 if any file has a problem.
pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let mut out = String::new();
    for file in &args.files {
        match check_file(file, &args.sets) {
            Ok(line) => out.push_str(&line),
            Err(lines) => {
                failed = true;
                out.push_str(&lines.join("\n"));
            }
        }
        out.push('\n');
    }
    crate::output::emit(&out)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
