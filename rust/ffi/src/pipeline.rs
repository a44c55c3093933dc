//! What the estimator and the QoS controller share: building a pipeline from
//! a file or a text, refusing bad usage bytes, counters, the valve.

use crate::error::serenity_config_error;
use crate::handle::Handle;
use crate::input;
use crate::result::serenity_result;
use crate::SERENITY_MAX_USAGE_BYTES;
use serenity_core::config::with_article;
use serenity_core::model::Snapshot;
use serenity_core::{BuildOptions, Pipeline, PipelineKind, Slack, ValveControl};
use std::ffi::c_char;
use std::sync::{Arc, OnceLock};

/// The process-wide estimator valve: every estimator is built with it as its
/// own valve, and every QoS controller with it as the estimator's valve, so
/// a QoS pipeline's `pause_estimator` stage closes the estimator of the same
/// process (both Mesos modules live in one shared library).
pub(crate) fn estimator_valve() -> Arc<ValveControl> {
    static VALVE: OnceLock<Arc<ValveControl>> = OnceLock::new();
    VALVE.get_or_init(Arc::default).clone()
}

/// Counters for metrics, as of the last update.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct serenity_metrics {
    /// Updates that ran the pipeline (refused input does not count).
    pub ticks: u64,
    /// Ticks that a stage stopped (a closed valve, a gate): zero slack or no
    /// corrections was answered.
    pub stopped_ticks: u64,
    /// Updates refused: bad, truncated or oversized usage bytes.
    pub errors: u64,
    /// Contentions raised, over all ticks.
    pub contentions_total: u64,
    /// Contentions raised by the last tick.
    pub last_contentions: u64,
    /// Corrections answered, over all ticks (QoS; 0 for an estimator).
    pub corrections_total: u64,
    /// Corrections answered by the last tick (QoS).
    pub last_corrections: u64,
    /// The last slack answered, in CPUs (estimator; 0 for QoS or on error).
    pub last_slack_cpus: f64,
    /// The last slack answered, memory in bytes.
    pub last_slack_mem_bytes: f64,
    /// The last slack answered, memory in MiB (the unit of Mesos `mem`).
    pub last_slack_mem_mib: f64,
    /// Whether the pipeline's valve is open.
    pub valve_open: bool,
    /// Holds on the valve taken by pausing controllers (the QoS
    /// controller's `pause_estimator`); the valve is closed while any is.
    pub valve_holds: u32,
}

/// A pipeline's valve as seen from outside.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct serenity_valve_state {
    /// Open: the operator's switch is open and no hold is taken.
    pub open: bool,
    /// The operator's switch (`*_valve_open` / `*_valve_close`).
    pub switch_open: bool,
    /// Holds taken by pausing controllers (the QoS controller's
    /// `pause_estimator` while it corrects); an open cannot cancel them.
    pub holds: u32,
    /// Whether the pipeline has a `valve` stage; without one, closing the
    /// valve changes nothing.
    pub has_valve_stage: bool,
}

/// A built pipeline with its counters: the state behind a handle.
pub(crate) struct Runner {
    pub(crate) pipeline: Pipeline,
    pub(crate) counters: serenity_metrics,
    pub(crate) last_error: String,
    /// The corrections of the last update (QoS controllers).
    pub(crate) answer: crate::qos::CorrectionList,
    /// The fetchers of the pipeline's `[[sli]]` tables (no thread without
    /// any): their latest readings are injected into every decoded usage;
    /// stopped when the handle is freed.
    pub(crate) slis: serenity_sli::SliFetchers,
    /// Per-container perf counters, when the pipeline file has a `[probe]`
    /// table with `perf = true` (Linux only).
    #[cfg(target_os = "linux")]
    pub(crate) enricher: Option<serenity_probe::enrich::UsageEnricher>,
    /// The last usage decoded and its view: each update decodes over it
    /// (`decode_usage_into`, `Snapshot::rebuild`), so a node whose executors
    /// stay the same updates without allocating.
    pub(crate) snapshot: Snapshot,
}

/// A handle's object: the locked runner and, outside the lock, the valve
/// (so that operators can open and close it while a tick runs).
pub(crate) struct Object {
    pub(crate) runner: Handle<Runner>,
    pub(crate) valve: Arc<ValveControl>,
    pub(crate) has_valve_stage: bool,
    /// The pipeline's place in the process's node summary (left on free).
    _node: crate::node::Membership,
}

/// What went wrong creating a pipeline: the code and the error object.
pub(crate) type CreateError = (serenity_result, Box<serenity_config_error>);

fn kind_word(kind: PipelineKind) -> &'static str {
    match kind {
        PipelineKind::Estimator => "resource estimator",
        PipelineKind::Qos => "QoS controller",
    }
}

/// Builds a pipeline of `kind` from a TOML text.
pub(crate) fn build(
    kind: PipelineKind,
    file: &str,
    text: &str,
    overrides: &[String],
) -> Result<Object, CreateError> {
    let options = match kind {
        PipelineKind::Estimator => BuildOptions {
            valve: Some(estimator_valve()),
            estimator_valve: None,
        },
        PipelineKind::Qos => BuildOptions {
            valve: None,
            estimator_valve: Some(estimator_valve()),
        },
    };
    #[cfg(feature = "test-stages")]
    let built = serenity_core::build_pipeline_with_stages(
        file,
        text,
        overrides,
        options,
        crate::test_stages::TEST_STAGES,
    );
    #[cfg(not(feature = "test-stages"))]
    let built = serenity_core::build_pipeline(file, text, overrides, options);
    let pipeline = match built {
        Ok(p) => p,
        Err(errors) => {
            log::error!(
                target: "serenity",
                "the {} pipeline {file} has {} problem(s):\n{errors}",
                kind_word(kind),
                errors.0.len()
            );
            return Err((
                serenity_result::InvalidConfig,
                serenity_config_error::from_config(&errors),
            ));
        }
    };
    if pipeline.kind() != kind {
        let what = format!(
            "this is {} pipeline (kind = \"{}\"), but {} needs kind = \"{}\"",
            with_article(pipeline.kind().as_str()),
            pipeline.kind().as_str(),
            with_article(kind_word(kind)),
            kind.as_str()
        );
        log::error!(target: "serenity", "{file}: {what}");
        return Err((
            serenity_result::InvalidConfig,
            serenity_config_error::single(file, &what),
        ));
    }
    let stages: Vec<String> = pipeline
        .stages()
        .map(|s| {
            if s.name == s.type_name {
                s.name.clone()
            } else {
                format!("{} ({})", s.name, s.type_name)
            }
        })
        .collect();
    log::info!(
        target: "serenity",
        "[{}] {} pipeline ready from {file}: {} stage(s): {}; ticks every {} s when self-paced",
        pipeline.name(),
        kind_word(kind),
        stages.len(),
        stages.join(", "),
        pipeline.interval_secs()
    );
    let valve = pipeline.valve().clone();
    let has_valve_stage = pipeline.has_valve();
    #[cfg(target_os = "linux")]
    let enricher = pipeline
        .probe()
        .filter(|p| p.perf || p.starvation)
        .map(|settings| {
        log::info!(
            target: "serenity",
            "[{}] adds {} from the containers' groups under {} (prefix {}) where the agent reports none",
            pipeline.name(),
            match (settings.perf, settings.starvation) {
                (true, true) => "perf counters and starvation totals (run-queue delay, PSI)",
                (true, false) => "perf counters",
                _ => "starvation totals (run-queue delay, PSI)",
            },
            settings.cgroup_root,
            settings.prefix
        );
        serenity_probe::enrich::UsageEnricher::new(settings)
    });
    if !pipeline.slis().is_empty() {
        let names: Vec<String> = pipeline
            .slis()
            .iter()
            .map(|s| {
                format!(
                    "{} ({} {}, every {} s)",
                    s.name,
                    s.source.kind(),
                    s.source.location(),
                    s.interval_secs
                )
            })
            .collect();
        log::info!(
            target: "serenity",
            "[{}] fetches {} SLI(s) off the update path: {}",
            pipeline.name(),
            names.len(),
            names.join(", ")
        );
    }
    let slis = serenity_sli::SliFetchers::start(pipeline.slis());
    let node = crate::node::Membership::join(&pipeline, &valve);
    Ok(Object {
        runner: Handle::new(Runner {
            slis,
            pipeline,
            counters: serenity_metrics::default(),
            last_error: String::new(),
            answer: Default::default(),
            #[cfg(target_os = "linux")]
            enricher,
            snapshot: Snapshot::new(Default::default()),
        }),
        valve,
        has_valve_stage,
        _node: node,
    })
}

/// Reads a pipeline file and builds it.
pub(crate) fn build_from_file(
    kind: PipelineKind,
    path: &str,
    overrides: &[String],
) -> Result<Object, CreateError> {
    match std::fs::read_to_string(path) {
        Ok(text) => build(kind, path, &text, overrides),
        Err(e) => {
            let what = format!("cannot read the {} pipeline file: {e}", kind_word(kind));
            log::error!(target: "serenity", "{path}: {what}");
            Err((
                serenity_result::Io,
                serenity_config_error::single(path, &what),
            ))
        }
    }
}

/// Finishes a `*_new_*` call: writes the handle on success, the error object
/// on failure.
///
/// # Safety
/// `out` is valid for a write of a pointer; `error_out` is NULL or valid
/// for a write of a pointer.
pub(crate) unsafe fn finish_new<H>(
    built: Result<Object, CreateError>,
    wrap: impl FnOnce(Object) -> H,
    out: *mut *mut H,
    error_out: *mut *mut serenity_config_error,
) -> serenity_result {
    match built {
        Ok(object) => {
            // SAFETY: `out` is valid for writes by this function's contract.
            unsafe { out.write(Box::into_raw(Box::new(wrap(object)))) };
            serenity_result::Ok
        }
        Err((code, error)) => {
            if !error_out.is_null() {
                // SAFETY: non-NULL and valid for writes by this function's
                // contract; the caller now owns the error object.
                unsafe { error_out.write(Box::into_raw(error)) };
            }
            code
        }
    }
}

impl Runner {
    /// Records a refused update: counts it, keeps the message, logs it.
    pub(crate) fn refuse(&mut self, code: serenity_result, detail: &str, answer: &str) {
        self.counters.errors += 1;
        self.counters.last_contentions = 0;
        self.counters.last_corrections = 0;
        self.counters.last_slack_cpus = 0.0;
        self.counters.last_slack_mem_bytes = 0.0;
        self.counters.last_slack_mem_mib = 0.0;
        self.last_error = format!(
            "[{}] refused the agent's usage snapshot: {detail}; answering {answer}",
            self.pipeline.name()
        );
        log::error!(target: "serenity", "{} ({})", self.last_error, code.text());
    }

    /// Decodes usage bytes into `self.snapshot`, refusing bad input (the
    /// snapshot is then unusable until the next decode that succeeds).
    ///
    /// # Safety
    /// As `input::bytes` with `SERENITY_MAX_USAGE_BYTES`.
    pub(crate) unsafe fn decode(
        &mut self,
        usage: *const u8,
        usage_len: usize,
        answer: &str,
    ) -> Result<(), serenity_result> {
        // SAFETY: forwarded contract.
        let bytes = match unsafe { input::bytes(usage, usage_len, SERENITY_MAX_USAGE_BYTES) } {
            Ok(b) => b,
            Err(code) => {
                let detail = match code {
                    serenity_result::TooLarge => format!(
                        "{usage_len} bytes is more than the {SERENITY_MAX_USAGE_BYTES} accepted"
                    ),
                    _ => format!("the usage pointer is NULL but its length is {usage_len}"),
                };
                self.refuse(code, &detail, answer);
                return Err(code);
            }
        };
        match serenity_core::decode_usage_into(bytes, &mut self.snapshot.usage) {
            Ok(()) => {
                #[cfg(target_os = "linux")]
                if let Some(enricher) = self.enricher.as_mut() {
                    enricher.enrich(&mut self.snapshot.usage);
                }
                self.slis.inject(&mut self.snapshot.usage);
                self.snapshot.rebuild();
                Ok(())
            }
            Err(e) => {
                let detail = format!(
                    "{} bytes are not a valid mesos.ResourceUsage: {e}",
                    bytes.len()
                );
                self.refuse(serenity_result::InvalidUsage, &detail, answer);
                Err(serenity_result::InvalidUsage)
            }
        }
    }

    /// Counts a tick that ran.
    pub(crate) fn count_tick(&mut self, stopped: bool, contentions: usize) {
        self.counters.ticks += 1;
        if stopped {
            self.counters.stopped_ticks += 1;
        }
        self.counters.last_contentions = contentions as u64;
        self.counters.contentions_total += contentions as u64;
    }

    /// Records the slack answered.
    pub(crate) fn record_slack(&mut self, slack: Slack) {
        self.counters.last_slack_cpus = slack.cpus;
        self.counters.last_slack_mem_bytes = slack.mem_bytes;
        self.counters.last_slack_mem_mib = slack.mem_bytes / serenity_core::model::MIB;
    }
}

impl Object {
    /// The metrics of this object, valve included.
    pub(crate) fn metrics(&self) -> Result<serenity_metrics, serenity_result> {
        let runner = self.runner.lock()?;
        let mut m = runner.counters;
        m.valve_open = self.valve.is_open();
        m.valve_holds = self.valve.holds();
        Ok(m)
    }

    /// The valve's state.
    pub(crate) fn valve_state(&self) -> Result<serenity_valve_state, serenity_result> {
        self.runner.check()?;
        Ok(serenity_valve_state {
            open: self.valve.is_open(),
            switch_open: self.valve.switch_open(),
            holds: self.valve.holds(),
            has_valve_stage: self.has_valve_stage,
        })
    }

    /// Sets the valve's operator switch (idempotent; holds stay).
    pub(crate) fn set_valve(&self, open: bool) -> Result<(), serenity_result> {
        self.runner.check()?;
        let changed = self.valve.set(open);
        log::info!(
            target: "serenity",
            "the valve's switch was {} from outside{}; the valve is {}",
            if open { "opened" } else { "closed" },
            if changed { "" } else { " (it already was)" },
            self.valve.describe()
        );
        Ok(())
    }

    /// Copies the last error message into `buf` (NUL-terminated, truncated
    /// to fit) and returns its full length in bytes.
    ///
    /// # Safety
    /// `buf` is NULL or valid for `len` bytes of writes.
    pub(crate) unsafe fn last_error(
        &self,
        buf: *mut c_char,
        len: usize,
    ) -> Result<usize, serenity_result> {
        let runner = self.runner.lock()?;
        // SAFETY: `buf` is valid for `len` bytes by this function's contract;
        // the text is ours, so the regions cannot overlap.
        Ok(unsafe { crate::input::copy_text(&runner.last_error, buf, len) })
    }
}
