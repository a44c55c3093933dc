//! The node summary of the process: what `serenity_node_summary` answers
//! and the Mesos modules serve as `GET /<module>/summary` (the JSON
//! contract of `serenity_core::summary`, docs/hints.md).
//!
//! Both Mesos modules live in one shared library, so, like the estimator
//! valve, the summary is process-wide: every estimator and QoS controller
//! registers with it when built (and leaves it when freed), and every tick
//! that ran feeds it:
//!
//! - an estimator tick sets the node's slack (zero on a refused update: that
//!   is what the agent was answered);
//! - a QoS controller tick records one tick of the summary (its contentions,
//!   its corrections, the last slack, every registered valve);
//! - while no QoS controller is registered, an estimator tick records the
//!   tick instead (with its own contentions and no corrections), so an
//!   estimator-only agent still has fresh data.
//!
//! A refused QoS update records nothing: its data ages until the hints
//! service calls it stale. Times are seconds since the library first
//! needed a clock (monotonic).

use crate::panic::boundary_result;
use crate::result::serenity_result;
use serenity_core::summary::{Raised, SlackSummary};
use serenity_core::{Pipeline, PipelineKind, Slack, SummaryBuilder, TickRecord, ValveControl};
use std::collections::BTreeMap;
use std::ffi::c_char;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Instant;

/// A pipeline known to the summary.
struct Member {
    id: u64,
    kind: PipelineKind,
    name: String,
    /// Only pipelines with a `valve` stage report a valve.
    valve: Option<Weak<ValveControl>>,
}

struct Node {
    origin: Instant,
    builder: SummaryBuilder,
    members: Vec<Member>,
    next_id: u64,
    slack: Option<Slack>,
}

impl Node {
    fn now(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }

    fn has_qos(&self) -> bool {
        self.members.iter().any(|m| m.kind == PipelineKind::Qos)
    }

    fn valves(&self) -> BTreeMap<String, bool> {
        self.members
            .iter()
            .filter_map(|m| {
                let valve = m.valve.as_ref()?.upgrade()?;
                Some((m.name.clone(), valve.is_open()))
            })
            .collect()
    }

    fn record(&mut self, contentions: Vec<(String, String)>, corrections: u64, best_effort: usize) {
        let tick = TickRecord {
            slack: self.slack,
            contentions,
            corrections,
            valves: self.valves(),
            best_effort_executors: best_effort,
        };
        let now = self.now();
        self.builder.record(now, tick);
    }
}

fn node() -> MutexGuard<'static, Node> {
    static NODE: OnceLock<Mutex<Node>> = OnceLock::new();
    NODE.get_or_init(|| {
        Mutex::new(Node {
            origin: Instant::now(),
            builder: SummaryBuilder::new(),
            members: Vec::new(),
            next_id: 0,
            slack: None,
        })
    })
    .lock()
    // The state is plain data, consistent between statements: a panic
    // elsewhere while it was locked leaves nothing half-written.
    .unwrap_or_else(|e| e.into_inner())
}

/// A pipeline's membership of the node summary; leaving it (on drop, when
/// the handle is freed) removes the pipeline's valve from the summary.
pub(crate) struct Membership {
    id: u64,
}

impl Membership {
    /// Registers `pipeline` (with its `valve` when it has a valve stage).
    pub(crate) fn join(pipeline: &Pipeline, valve: &Arc<ValveControl>) -> Membership {
        let mut node = node();
        let id = node.next_id;
        node.next_id += 1;
        node.members.push(Member {
            id,
            kind: pipeline.kind(),
            name: pipeline.name().to_owned(),
            valve: pipeline.has_valve().then(|| Arc::downgrade(valve)),
        });
        Membership { id }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        node().members.retain(|m| m.id != self.id);
    }
}

/// The best-effort (revocable) executors of a snapshot.
fn best_effort(snapshot: &serenity_core::Snapshot) -> usize {
    snapshot.executors.iter().filter(|e| e.revocable).count()
}

/// An estimator tick ran and answered `slack`.
pub(crate) fn estimator_ticked(
    pipeline: &Pipeline,
    snapshot: &serenity_core::Snapshot,
    raised: Raised,
    slack: Slack,
) {
    let mut node = node();
    node.slack = Some(slack);
    if !node.has_qos() {
        node.record(raised.named(pipeline.signals()), 0, best_effort(snapshot));
    }
}

/// An estimator update was refused: the agent was answered zero slack.
pub(crate) fn estimator_refused() {
    node().slack = Some(Slack {
        cpus: 0.0,
        mem_bytes: 0.0,
    });
}

/// A QoS controller tick ran and answered `corrections` kills.
pub(crate) fn qos_ticked(
    pipeline: &Pipeline,
    snapshot: &serenity_core::Snapshot,
    raised: Raised,
    corrections: usize,
) {
    let contentions = raised.named(pipeline.signals());
    node().record(contentions, corrections as u64, best_effort(snapshot));
}

/// The node summary now, as JSON.
pub(crate) fn summary_json() -> String {
    let node = node();
    let mut summary = node.builder.summary(node.now());
    // The slack last answered to the agent, which may be newer than the
    // last recorded tick (an estimator's tick or refusal beside a QoS
    // controller).
    summary.slack = node.slack.map(SlackSummary::from);
    // A NodeSummary is plain data (strings, numbers, maps with string
    // keys): serializing it cannot fail; NaN would become `null`.
    serde_json::to_string(&summary).unwrap_or_else(|e| {
        log::error!(target: "serenity", "cannot encode the node summary: {e}");
        String::from("{}")
    })
}

/// Copies the process's node summary, JSON (the contract of docs/hints.md:
/// slack, contention per signal, corrections per window and reason, the
/// interference score, valves, the age of the data), into `buf`,
/// NUL-terminated and truncated to `buf_len` bytes, and writes its full
/// length (without the NUL) to `*len_out` when not NULL. With a NULL `buf`
/// (or `buf_len` 0) only the length is reported. The text changes from call
/// to call (its `age_secs` at least), so give the buffer room to spare and
/// call again with a larger one while `*len_out` >= `buf_len`.
///
/// Every estimator and QoS controller of the process feeds the one summary
/// (the Mesos agent loads one of each): estimator ticks set the slack, QoS
/// controller ticks record the ticks (estimator ticks do while no QoS
/// controller exists). `age_secs` is null before the first tick.
///
/// # Safety
/// `buf` is NULL or valid for `buf_len` bytes of writes; `len_out` is NULL
/// or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn serenity_node_summary(
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> serenity_result {
    boundary_result("serenity_node_summary", || {
        let json = summary_json();
        // SAFETY: `buf` valid for `buf_len` bytes or NULL (contract); the
        // text is ours, so the regions cannot overlap.
        let n = unsafe { crate::input::copy_text(&json, buf, buf_len) };
        // SAFETY: NULL or valid for a write (contract).
        unsafe { crate::input::write_opt(len_out, n) };
        Ok(())
    })
}
