//! Stages that exist only for tests and the fuzz target (feature
//! `test-stages`): they let a QoS pipeline reach corrections through the C
//! ABI before the real detectors are involved. Never in the shipped library.

use serenity_core::config::reader::non_negative;
use serenity_core::config::ParamReader;
use serenity_core::signal::SignalId;
use serenity_core::stage::Stage;
use serenity_core::stages::{BuildContext, StageType};
use serenity_core::tick::{Contention, Flow, SeverityUnit, Tick};
use serenity_core::PipelineKind;
use std::sync::Arc;

/// The extra stage types.
pub static TEST_STAGES: &[StageType] = &[
    StageType {
        name: "test_cpu_above",
        kinds: BOTH,
        summary: "test detector: a contention for each selected production executor whose signal is above `threshold`",
        build,
    },
    StageType {
        name: "test_panic",
        kinds: BOTH,
        summary: "test stage: panics on tick `on_tick` (1-based), to exercise the panic boundary",
        build: build_panic,
    },
    StageType {
        name: "test_close_estimator_valve",
        kinds: &[PipelineKind::Qos],
        summary: "test stage: closes the estimator's valve once, on the first tick",
        build: build_close,
    },
];

const BOTH: &[PipelineKind] = &[PipelineKind::Estimator, PipelineKind::Qos];

struct CpuAbove {
    threshold: f64,
    signal: SignalId,
    name: Arc<str>,
}

fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    Box::new(CpuAbove {
        threshold: r.f64("threshold", 0.5, non_negative),
        signal: r.signal_in("signal", "cpu_usage"),
        name: ctx.stage_name.clone(),
    })
}

impl Stage for CpuAbove {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let victims: Vec<(usize, f64)> = tick
            .selected_rows()
            .filter(|&row| !tick.is_revocable(row))
            .filter_map(|row| Some((row, tick.signal(row, self.signal)?)))
            .filter(|(_, v)| *v > self.threshold)
            .collect();
        for (row, value) in victims {
            tick.state.contentions.push(Contention {
                stage: tick.stage,
                detector: self.name.clone(),
                signal: self.signal,
                victim: Some(row),
                severity: Some(value - self.threshold),
                unit: SeverityUnit::Cpus,
                handled: false,
            });
        }
        Flow::Continue
    }
}

struct PanicOn {
    on_tick: u64,
}

fn build_panic(r: &mut ParamReader<'_, '_>, _ctx: &mut BuildContext) -> Box<dyn Stage> {
    Box::new(PanicOn {
        on_tick: r.u64("on_tick", 1, serenity_core::config::reader::any_u64),
    })
}

impl Stage for PanicOn {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        if tick.index == self.on_tick {
            panic!("test_panic: tick {} panics on purpose", tick.index);
        }
        Flow::Continue
    }
}

struct CloseEstimatorValve {
    valve: Option<Arc<serenity_core::ValveControl>>,
}

fn build_close(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    if ctx.estimator_valve.is_none() {
        r.problem(None, "no estimator valve is linked to this pipeline");
    }
    Box::new(CloseEstimatorValve {
        valve: ctx.estimator_valve.clone(),
    })
}

impl Stage for CloseEstimatorValve {
    fn run(&mut self, _tick: &mut Tick<'_>) -> Flow {
        if let Some(v) = self.valve.take() {
            v.set(false);
        }
        Flow::Continue
    }
}
