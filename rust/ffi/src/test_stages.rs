//! The one stage that exists only for tests (feature `test-stages`):
//! `test_panic`, which panics on purpose so that the tests can check the C
//! ABI's panic boundary and the poisoning of a handle. No real stage can be
//! made to panic (they are written not to), so this one cannot be replaced
//! by a pipeline of real stages. Every other test drives the C ABI with real
//! stages. Never in the shipped library.

use serenity_core::config::reader::any_u64;
use serenity_core::config::ParamReader;
use serenity_core::stage::Stage;
use serenity_core::stages::{BuildContext, StageType};
use serenity_core::tick::{Flow, Tick};
use serenity_core::PipelineKind;

/// The extra stage types.
pub static TEST_STAGES: &[StageType] = &[StageType {
    name: "test_panic",
    kinds: &[PipelineKind::Estimator, PipelineKind::Qos],
    summary: "test stage: panics on tick `on_tick` (1-based), to exercise the panic boundary",
    build: build_panic,
}];

struct PanicOn {
    on_tick: u64,
}

fn build_panic(r: &mut ParamReader<'_, '_>, _ctx: &mut BuildContext) -> Box<dyn Stage> {
    Box::new(PanicOn {
        on_tick: r.u64("on_tick", 1, any_u64),
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
