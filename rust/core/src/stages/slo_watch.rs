//! What the SLO stages share: which `[[sli]]` tables a stage watches, and
//! the state of those objectives on one tick.

use crate::config::ParamReader;
use crate::sli::SliSpec;
use crate::tick::Tick;
use std::sync::Arc;

/// The SLIs a stage watches (its `sli` key; default: every `[[sli]]`).
pub(super) struct Watched {
    specs: Vec<SliSpec>,
}

/// The state of the watched objectives on one tick.
pub(super) struct SloReading {
    /// The smallest slack to an objective, with the SLI and executor row.
    pub worst: Option<(f64, usize, usize)>,
    /// (SLI index, row) of every watched executor whose SLI is missing.
    pub missing: Vec<(usize, usize)>,
    /// (SLI index, row, slack) of every violated objective.
    pub violated: Vec<(usize, usize, f64)>,
    /// Whether any watched executor is in the snapshot.
    pub present: bool,
}

impl Watched {
    /// Reads the `sli` key against the pipeline's `[[sli]]` tables.
    pub fn read(r: &mut ParamReader<'_, '_>, all: &Arc<[SliSpec]>, stage: &str) -> Watched {
        let names = r.strings("sli");
        if all.is_empty() {
            r.problem(
                None,
                format!("{stage} needs at least one [[sli]] table in the pipeline file (none is declared)"),
            );
            return Watched { specs: Vec::new() };
        }
        let specs = match names {
            None => all.to_vec(),
            Some(names) => {
                let mut specs = Vec::new();
                for n in names {
                    match all.iter().find(|s| s.name == n) {
                        Some(s) => specs.push(s.clone()),
                        None => {
                            let known: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
                            r.problem(
                                Some("sli"),
                                format!(
                                    "names {n:?}, which no [[sli]] table declares (declared: {})",
                                    known.join(", ")
                                ),
                            );
                        }
                    }
                }
                specs
            }
        };
        Watched { specs }
    }

    /// The SLI at `index`.
    pub fn spec(&self, index: usize) -> &SliSpec {
        &self.specs[index]
    }

    /// Reads every watched objective of the production executors the SLIs
    /// name (selection by earlier stages does not apply: an SLI is bound to
    /// its executors explicitly).
    pub fn read_tick(&self, tick: &Tick<'_>) -> SloReading {
        let mut reading = SloReading {
            worst: None,
            missing: Vec::new(),
            violated: Vec::new(),
            present: false,
        };
        for (i, spec) in self.specs.iter().enumerate() {
            for row in 0..tick.rows() {
                if tick.is_revocable(row)
                    || !spec.watches(&tick.snapshot.executors[row].key.executor_id)
                {
                    continue;
                }
                reading.present = true;
                match tick.signal(row, spec.slack_signal) {
                    None => reading.missing.push((i, row)),
                    Some(s) => {
                        if reading.worst.is_none_or(|(w, _, _)| s < w) {
                            reading.worst = Some((s, i, row));
                        }
                        if s < 0.0 {
                            reading.violated.push((i, row, s));
                        }
                    }
                }
            }
        }
        reading
    }

    /// "SLI x of executor y at v (slack s)", for messages.
    pub fn describe(&self, tick: &Tick<'_>, index: usize, row: usize) -> String {
        let spec = &self.specs[index];
        let key = &tick.snapshot.executors[row].key;
        match (
            tick.signal(row, spec.value_signal),
            tick.signal(row, spec.slack_signal),
        ) {
            (Some(v), Some(s)) => format!(
                "SLI {} of {key} at {} against an objective of {} (slack {:.1} %)",
                spec.name,
                spec.show(v),
                spec.show(spec.objective),
                100.0 * s
            ),
            _ => format!("SLI {} of {key} is missing", spec.name),
        }
    }
}

/// Checks that the grow margin is above the shrink margin.
pub(super) fn margins(r: &mut ParamReader<'_, '_>) -> (f64, f64) {
    let shrink = r.f64("shrink_margin", 0.05, crate::config::reader::fraction);
    let grow = r.f64("grow_margin", 0.10, crate::config::reader::fraction);
    if grow < shrink {
        r.problem(
            Some("grow_margin"),
            format!("must be at least shrink_margin ({shrink}): growth is allowed only with more slack than shrinking needs"),
        );
    }
    (shrink, grow)
}
