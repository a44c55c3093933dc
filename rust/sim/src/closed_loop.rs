//! Closed-loop simulation: pipelines run inside the simulated node and
//! their decisions change what it does next.
//!
//! On each tick the world produces its sample; every pipeline runs on it
//! (QoS pipelines first, then estimators, as the shared library links
//! them); then
//! - each correction kills its executor: it is absent from the next tick
//!   on, as the node agent does, and its interference on its victims ends
//!   after the scenario's `recovery_ticks`;
//! - the first estimator's slack is what the next tick may lend: with
//!   `admission = "slack"` waiting best-effort executors start in it, so
//!   capacity freed by a kill or lent by the estimator is taken by the
//!   best-effort work that wants it.
//!
//! Each record written is the ResourceUsage of the tick, its `truth`, and
//! `actions`: one [`TickLine`] per pipeline, so the scorer reads one file.

use crate::actions::TickLine;
use crate::scenario::Scenario;
use crate::world::{with_labels, World, Written};
use serde_json::{json, Value};
use serenity_core::model::proto::ResourceUsage;
use serenity_core::{Pipeline, PipelineKind, Snapshot};

/// Runs `pipelines` in the loop over `scenario`; one record per tick.
///
/// Fails only if a generated record does not decode as a ResourceUsage
/// (a defect of the simulator, reported with the tick).
pub fn run(scenario: &Scenario, pipelines: &mut [Pipeline]) -> Result<Vec<Value>, String> {
    let mut out = Vec::with_capacity(scenario.ticks);
    run_each(scenario, pipelines, |record| {
        out.push(serde_json::from_str(record.json).map_err(|e| e.to_string())?);
        Ok(())
    })?;
    Ok(out)
}

/// [`run`], handing each record to `each` as soon as the tick is done, as
/// the line [`run`]'s value serializes to (so that a long or wide run is
/// written without being held). The pipelines see the record decoded from
/// that text, as a replay of the trace does (exactly the values of the
/// record: floats round-trip). Stops at the first error, of the simulator
/// or of `each`.
pub fn run_each(
    scenario: &Scenario,
    pipelines: &mut [Pipeline],
    mut each: impl FnMut(Written<'_>) -> Result<(), String>,
) -> Result<(), String> {
    let mut order: Vec<usize> = (0..pipelines.len()).collect();
    order.sort_by_key(|&i| match pipelines[i].kind() {
        PipelineKind::Qos => 0,
        PipelineKind::Estimator => 1,
    });
    let estimator = pipelines
        .iter()
        .position(|p| p.kind() == PipelineKind::Estimator);
    let meta: Vec<_> = pipelines
        .iter()
        .map(|p| (p.name().to_owned(), p.signals().clone(), p.kind()))
        .collect();
    let mut world = World::new(scenario);
    let mut lendable = estimator.map(|_| 0.0);
    for t in 0..scenario.ticks {
        let (record, truth) = world.step(lendable);
        // Serialized first, so that a wide node's record is never held both
        // as a record and as a ResourceUsage.
        let text = record.text();
        drop(record);
        let usage: ResourceUsage = serde_json::from_str(&text)
            .map_err(|e| format!("tick {t}: the simulated record does not decode: {e}"))?;
        let snapshot = Snapshot::new(usage);
        let mut lines: Vec<Option<TickLine>> = vec![None; pipelines.len()];
        for &i in &order {
            let outcome = pipelines[i].tick(&snapshot);
            let (name, signals, _) = &meta[i];
            lines[i] = Some(TickLine::new(t as u64, &snapshot, name, signals, &outcome));
        }
        let lines: Vec<TickLine> = lines.into_iter().flatten().collect();
        for (line, (_, _, kind)) in lines.iter().zip(&meta) {
            if *kind != PipelineKind::Qos {
                continue;
            }
            for c in &line.corrections {
                if !world.kill(&c.executor_id, t) {
                    log::warn!(
                        "tick {t}: pipeline {} named executor {}, which is not a live best-effort executor; nothing killed",
                        line.pipeline,
                        c.executor_id
                    );
                }
            }
        }
        if let Some(e) = estimator {
            lendable = Some(lines[e].slack.map_or(0.0, |s| s.cpus.max(0.0)));
        }
        let json = with_labels(&text, Some(&json!(lines)), &truth);
        drop(text);
        each(Written {
            json: &json,
            truth: &truth,
        })?;
    }
    Ok(())
}
