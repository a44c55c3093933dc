//! What the changepoint detectors (`cusum`, `page_hinkley`) share: a
//! self-calibrating baseline that expresses each sample in units of the
//! signal's own noise, the alarm/recovery state machine, and the stage that
//! runs one detector per production executor.
//!
//! Baseline: mean μ and variance σ² by exponentially weighted moments with
//! weight a = max(`baseline_alpha`, 1/n) for the n-th sample, so the first
//! samples give the plain running mean and variance (no start-up bias) and
//! later ones forget with `baseline_alpha` (≈ 2/α samples of memory):
//! d = x − μ; μ += a·d; σ² = (1 − a)(σ² + a·d²). While a = 1/n, σ² is
//! scaled by n/(n − 1) (the unbiased estimate). σ is floored at
//! `min_sigma_fraction`·|μ| and at `min_sigma`, so a signal that has been
//! constant does not turn rounding noise into alarms. The first
//! `warmup_samples` samples only teach the baseline; z = (x − μ)/σ is tested
//! from the next one on, against the baseline as it was before x.
//!
//! Repeated readings: a sample bit-identical to the previous one is the same
//! reading seen again (a perf window refreshed less often than the pipeline
//! ticks) and is not counted, unless `skip_repeats = false`.
//!
//! Alarm and recovery: the baseline is frozen while in alarm; the detector
//! reports the alarm on every sample (with the current z) until the signal is
//! back within `recover_sigmas` of the frozen baseline on the side of the
//! alarm (z ≥ −r after a drop, z ≤ r after a rise); then the test statistics
//! restart from zero and the baseline resumes with that sample.

use super::BuildContext;
use crate::config::reader::{non_negative, open_fraction, positive};
use crate::config::ParamReader;
use crate::executors::SlotMap;
use crate::signal::SignalId;
use crate::stage::Stage;
use crate::tick::{Contention, Flow, SeverityUnit, Tick};
use std::sync::Arc;

/// Which changes a detector watches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Decreases of the signal (IPC falling).
    Drop,
    /// Increases of the signal (CPI, throttling rising).
    Rise,
    /// Both.
    Both,
}

impl Direction {
    pub(crate) fn watches(self, shift: Shift) -> bool {
        matches!(
            (self, shift),
            (Direction::Both, _) | (Direction::Drop, Shift::Drop) | (Direction::Rise, Shift::Rise)
        )
    }
}

/// The side of a detected change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    /// The signal fell.
    Drop,
    /// The signal rose.
    Rise,
}

impl Shift {
    /// Lower-case name for output.
    pub fn as_str(self) -> &'static str {
        match self {
            Shift::Drop => "drop",
            Shift::Rise => "rise",
        }
    }
}

/// What a changepoint detector reports while a change persists.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alarm {
    /// Which side the signal moved to.
    pub shift: Shift,
    /// The sample in units of the frozen baseline's noise: (x − μ)/σ.
    pub z: f64,
    /// True on the sample that raised the alarm, false while it persists.
    pub onset: bool,
}

impl Alarm {
    /// How far from normal the signal is, in standard deviations: |z|.
    pub fn severity(&self) -> f64 {
        self.z.abs()
    }
}

/// Parameters of the baseline and of alarm recovery (shared by `cusum` and
/// `page_hinkley`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaselineParams {
    /// Weight of a new sample in the baseline mean and variance, in (0, 1]
    /// (`baseline_alpha`, default 0.02: a memory of about 100 samples).
    pub alpha: f64,
    /// Samples that only teach the baseline before any test
    /// (`warmup_samples`, default 20, at least 2).
    pub warmup_samples: u64,
    /// σ is at least this fraction of |μ| (`min_sigma_fraction`, default 0.01).
    pub min_sigma_fraction: f64,
    /// σ is at least this much, in the signal's units (`min_sigma`, default
    /// 1e-9: only guards against a constant signal).
    pub min_sigma: f64,
    /// An alarm ends when the signal is back within this many σ of the
    /// frozen baseline (`recover_sigmas`, default 1.0).
    pub recover_sigmas: f64,
    /// A sample bit-identical to the previous one is the same reading seen
    /// again, not a new observation, and is not counted (`skip_repeats`,
    /// default true). Mesos's perf isolator refreshes perf counters once per
    /// perf interval (60 s by default) while the controller ticks every
    /// second or two; counting each repeat would multiply the evidence of one
    /// reading. While in alarm a repeat still reports the alarm.
    pub skip_repeats: bool,
}

impl Default for BaselineParams {
    fn default() -> Self {
        BaselineParams {
            alpha: 0.02,
            warmup_samples: 20,
            min_sigma_fraction: 0.01,
            min_sigma: 1e-9,
            recover_sigmas: 1.0,
            skip_repeats: true,
        }
    }
}

/// The self-calibrating baseline (μ, σ) of one signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    params: BaselineParams,
    n: u64,
    mean: f64,
    var: f64,
}

impl Baseline {
    /// An empty baseline.
    pub fn new(params: BaselineParams) -> Self {
        Baseline {
            params,
            n: 0,
            mean: 0.0,
            var: 0.0,
        }
    }

    /// Adds a sample.
    pub fn update(&mut self, x: f64) {
        self.n = self.n.saturating_add(1);
        let a = self.params.alpha.max(1.0 / self.n as f64);
        let d = x - self.mean;
        self.mean += a * d;
        self.var = (1.0 - a) * (self.var + a * d * d);
    }

    /// Whether the warm-up is over.
    pub fn ready(&self) -> bool {
        self.n >= self.params.warmup_samples
    }

    /// The baseline mean μ.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The floored standard deviation σ.
    pub fn sigma(&self) -> f64 {
        let n = self.n as f64;
        let var = if self.n > 1 && 1.0 / n > self.params.alpha {
            self.var * n / (n - 1.0)
        } else {
            self.var
        };
        var.max(0.0)
            .sqrt()
            .max(self.params.min_sigma_fraction * self.mean.abs())
            .max(self.params.min_sigma)
    }

    /// (x − μ)/σ.
    pub fn z(&self, x: f64) -> f64 {
        (x - self.mean) / self.sigma()
    }

    /// Forgets everything (a new warm-up follows).
    pub fn reset(&mut self) {
        self.n = 0;
        self.mean = 0.0;
        self.var = 0.0;
    }
}

/// A sequential test on standardised samples.
pub(crate) trait Statistic: Clone + std::fmt::Debug {
    /// Feeds z; returns the side of a detected change.
    fn step(&mut self, z: f64, direction: Direction) -> Option<Shift>;
    /// Restarts the test.
    fn clear(&mut self);
}

/// The alarm state machine around a test statistic.
#[derive(Debug, Clone)]
pub(crate) struct Monitor<S: Statistic> {
    pub(crate) baseline: Baseline,
    pub(crate) test: S,
    direction: Direction,
    alarm: Option<Shift>,
    last: Option<f64>,
}

impl<S: Statistic> Monitor<S> {
    pub(crate) fn new(baseline: BaselineParams, test: S, direction: Direction) -> Self {
        Monitor {
            baseline: Baseline::new(baseline),
            test,
            direction,
            alarm: None,
            last: None,
        }
    }

    pub(crate) fn update(&mut self, x: f64) -> Option<Alarm> {
        if !x.is_finite() {
            return None;
        }
        let repeat = self.last.is_some_and(|l| l.to_bits() == x.to_bits());
        self.last = Some(x);
        if repeat && self.baseline.params.skip_repeats && self.alarm.is_none() {
            return None;
        }
        if let Some(shift) = self.alarm {
            let z = self.baseline.z(x);
            let r = self.baseline.params.recover_sigmas;
            let recovered = match shift {
                Shift::Drop => z >= -r,
                Shift::Rise => z <= r,
            };
            if !recovered {
                return Some(Alarm {
                    shift,
                    z,
                    onset: false,
                });
            }
            self.alarm = None;
            self.test.clear();
            self.baseline.update(x);
            return None;
        }
        if !self.baseline.ready() {
            self.baseline.update(x);
            return None;
        }
        let z = self.baseline.z(x);
        match self.test.step(z, self.direction) {
            Some(shift) => {
                self.alarm = Some(shift);
                Some(Alarm {
                    shift,
                    z,
                    onset: true,
                })
            }
            None => {
                self.baseline.update(x);
                None
            }
        }
    }

    pub(crate) fn in_alarm(&self) -> Option<Shift> {
        self.alarm
    }

    pub(crate) fn reset(&mut self) {
        self.alarm = None;
        self.last = None;
        self.test.clear();
        self.baseline.reset();
    }
}

/// A scalar online changepoint detector, as the stage drives it.
pub(crate) trait Detector: Send {
    fn update(&mut self, x: f64) -> Option<Alarm>;
    fn reset(&mut self);
    /// Samples (the alarm's included) attributed to the change, for
    /// detectors that estimate when it began.
    fn change_lag(&self) -> Option<u64> {
        None
    }
}

/// Parameters common to the changepoint stages.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangepointParams {
    /// Signal watched (default `ipc`).
    pub input: SignalId,
    /// Which changes raise contentions (`direction`: "drop" (default),
    /// "rise" or "both").
    pub direction: Direction,
    /// Baseline and recovery.
    pub baseline: BaselineParams,
}

/// Reads `input`, `direction` and the baseline parameters.
pub(crate) fn read_common(r: &mut ParamReader<'_, '_>) -> ChangepointParams {
    let d = BaselineParams::default();
    let input = r.signal_in("input", "ipc");
    let direction = match r.choice("direction", "drop", &["drop", "rise", "both"]) {
        "rise" => Direction::Rise,
        "both" => Direction::Both,
        _ => Direction::Drop,
    };
    let baseline = BaselineParams {
        alpha: r.f64("baseline_alpha", d.alpha, open_fraction),
        warmup_samples: r.u64("warmup_samples", d.warmup_samples, |v| {
            if v >= 2 {
                Ok(())
            } else {
                Err("must be at least 2 (a standard deviation needs two samples)".into())
            }
        }),
        min_sigma_fraction: r.f64("min_sigma_fraction", d.min_sigma_fraction, non_negative),
        min_sigma: r.f64("min_sigma", d.min_sigma, positive),
        recover_sigmas: r.f64("recover_sigmas", d.recover_sigmas, non_negative),
        skip_repeats: r.bool("skip_repeats", d.skip_repeats),
    };
    ChangepointParams {
        input,
        direction,
        baseline,
    }
}

struct Watched<D> {
    detector: D,
    last_tick: u64,
}

/// Runs one detector per selected production executor that has the input.
pub(crate) struct ChangepointStage<D: Detector> {
    params: ChangepointParams,
    name: Arc<str>,
    make: Box<dyn Fn() -> D + Send>,
    watched: SlotMap<Watched<D>>,
}

impl<D: Detector> ChangepointStage<D> {
    pub(crate) fn new(
        params: ChangepointParams,
        ctx: &BuildContext,
        make: Box<dyn Fn() -> D + Send>,
    ) -> Self {
        ChangepointStage {
            params,
            name: ctx.stage_name.clone(),
            make,
            watched: SlotMap::default(),
        }
    }
}

impl<D: Detector> Stage for ChangepointStage<D> {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let has_best_effort = tick.snapshot.has_revocable();
        let rows: Vec<usize> = tick
            .selected_rows()
            .filter(|&r| !tick.is_revocable(r))
            .collect();
        // A baseline older than a warm-up's worth of missed ticks no longer
        // describes the executor: learn it again.
        let max_gap = self.params.baseline.warmup_samples;
        for row in rows {
            let Some(x) = tick.signal(row, self.params.input) else {
                continue;
            };
            let er = tick.executor(row);
            let make = &self.make;
            let w = self.watched.get_or_insert_with(er, || Watched {
                detector: make(),
                last_tick: tick.index,
            });
            if tick.index.saturating_sub(w.last_tick) > max_gap {
                w.detector.reset();
            }
            w.last_tick = tick.index;
            let Some(alarm) = w.detector.update(x) else {
                continue;
            };
            let key = &tick.snapshot.executors[row].key;
            if !has_best_effort {
                // No best-effort work can have caused it (the original's
                // false-positive rule): the new level is the new normal.
                w.detector.reset();
                log::debug!(target: "serenity",
                    "stage {}: {} of {:.1} σ on production executor {key} ignored: no best-effort executor can be the cause; learning its baseline again",
                    self.name, alarm.shift.as_str(), alarm.severity());
                continue;
            }
            if alarm.onset {
                let since = w
                    .detector
                    .change_lag()
                    .map(|l| format!("; the change began about {l} sample(s) ago"))
                    .unwrap_or_default();
                log::info!(target: "serenity",
                    "stage {}: production executor {key}: {} of {:.1} σ (value {x:.4}){since}",
                    self.name, alarm.shift.as_str(), alarm.severity());
            }
            tick.state.contentions.push(Contention {
                stage: tick.stage,
                detector: self.name.clone(),
                signal: self.params.input,
                victim: Some(row),
                severity: Some(alarm.severity()),
                unit: SeverityUnit::Sigmas,
                handled: false,
            });
        }
        Flow::Continue
    }
}

#[cfg(test)]
pub(crate) mod gauss {
    //! A tiny deterministic PRNG (SplitMix64) and Box–Muller normals for the
    //! detector tests.

    /// SplitMix64 (Steele, Lea & Flood 2014).
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Self {
            Rng(seed)
        }

        pub fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in (0, 1].
        pub fn uniform(&mut self) -> f64 {
            ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
        }

        /// Standard normal by Box–Muller.
        pub fn normal(&mut self) -> f64 {
            let u1 = self.uniform();
            let u2 = self.uniform();
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::gauss::Rng;
    use super::*;
    use crate::tick::SeverityUnit;

    #[test]
    fn baseline_learns_mean_and_sigma_without_startup_bias() {
        let mut b = Baseline::new(BaselineParams::default());
        let mut rng = Rng::new(7);
        for _ in 0..20 {
            b.update(10.0 + 0.5 * rng.normal());
        }
        assert!(b.ready());
        assert!((b.mean() - 10.0).abs() < 0.3, "{}", b.mean());
        assert!((b.sigma() - 0.5).abs() < 0.2, "{}", b.sigma());
        for _ in 0..5000 {
            b.update(10.0 + 0.5 * rng.normal());
        }
        assert!((b.mean() - 10.0).abs() < 0.15, "{}", b.mean());
        assert!((b.sigma() - 0.5).abs() < 0.1, "{}", b.sigma());
    }

    #[test]
    fn a_constant_signal_has_a_floored_sigma() {
        let mut b = Baseline::new(BaselineParams::default());
        for _ in 0..30 {
            b.update(2.0);
        }
        assert!((b.sigma() - 0.02).abs() < 1e-12);
        let mut zero = Baseline::new(BaselineParams::default());
        for _ in 0..30 {
            zero.update(0.0);
        }
        assert_eq!(zero.sigma(), 1e-9);
    }

    #[test]
    fn a_repeated_reading_counts_once() {
        use super::super::cusum::{Cusum, CusumParams};
        let make = |skip_repeats| {
            Cusum::new(
                CusumParams::default(),
                BaselineParams {
                    skip_repeats,
                    ..BaselineParams::default()
                },
            )
        };
        let (mut skip, mut count) = (make(true), make(false));
        let mut rng = Rng::new(31);
        for _ in 0..200 {
            let x = 1.0 + 0.05 * rng.normal();
            skip.update(x);
            count.update(x);
        }
        // One reading 1.2σ low, seen 30 times: counted each time, CUSUM
        // accumulates 0.7 per tick and alarms; counted once, it cannot.
        let (mean, sigma) = skip.baseline();
        let low = mean - 1.2 * sigma;
        let skipped: Vec<_> = (0..30).filter_map(|_| skip.update(low)).collect();
        assert!(skipped.is_empty());
        let (mean, sigma) = count.baseline();
        let low = mean - 1.2 * sigma;
        assert!((0..30).any(|_| count.update(low).is_some()));
    }

    #[test]
    fn direction_selects_the_watched_side() {
        assert!(Direction::Drop.watches(Shift::Drop));
        assert!(!Direction::Drop.watches(Shift::Rise));
        assert!(Direction::Rise.watches(Shift::Rise));
        assert!(!Direction::Rise.watches(Shift::Drop));
        assert!(Direction::Both.watches(Shift::Drop) && Direction::Both.watches(Shift::Rise));
    }

    use super::super::testkit::*;

    /// A production executor whose signal wobbles by ±1 % around 1.0 for
    /// `quiet` ticks and then sits at `after`; a best-effort executor from
    /// tick `be_from` (1-based). Returns (tick, severity) of each contention.
    fn run(
        stage: &str,
        signal: &str,
        quiet: usize,
        after: f64,
        total: usize,
        be_from: usize,
    ) -> Vec<(usize, f64)> {
        let mut p = pipeline(&format!(
            "kind = \"qos\"\n[[stage]]\ntype = \"{stage}\"\ninput = \"{signal}\"\ndirection = \"both\"\n"
        ));
        let mut out = Vec::new();
        for i in 0..total {
            let with_be = i + 1 >= be_from;
            let execs = if with_be {
                vec![pr("p", 2.0), be("b", 1.0)]
            } else {
                vec![pr("p", 2.0)]
            };
            let snap = snapshot(&execs, Some(4.0), i as f64);
            let v = if i < quiet {
                1.0 + 0.01 * (i as f64 * 1.3).sin()
            } else {
                after
            };
            let o = p.tick_injecting(&snap, |t, n| {
                set(t, n, 0, signal, v);
                if with_be {
                    set(t, n, 1, signal, if i % 2 == 0 { 5.0 } else { 0.01 });
                }
            });
            for c in o.contentions {
                assert_eq!(c.victim, Some(0));
                assert_eq!(c.unit, SeverityUnit::Sigmas);
                out.push((i + 1, c.severity.expect("changepoint severities are known")));
            }
        }
        out
    }

    #[test]
    fn a_step_raises_contentions_on_the_production_executor_until_recovery() {
        for stage in ["cusum", "page_hinkley"] {
            let c = run(stage, "ipc", 40, 0.8, 45, 1);
            // σ is floored at 1 % of 1.0: 0.8 is a 20σ drop, alarmed on the
            // first changed tick (41) and every tick after.
            let ticks: Vec<usize> = c.iter().map(|c| c.0).collect();
            assert_eq!(ticks, vec![41, 42, 43, 44, 45], "{stage}");
            assert!(c.iter().all(|c| c.1 > 15.0), "{stage}: {c:?}");
        }
    }

    #[test]
    fn no_alarm_during_the_warm_up_or_on_best_effort_signals() {
        // The step comes at tick 11, inside the 20-sample warm-up.
        assert!(run("cusum", "cpi", 10, 3.0, 30, 1).is_empty());
    }

    #[test]
    fn without_best_effort_work_a_change_is_learnt_as_the_new_normal() {
        // The drop at tick 41 finds no best-effort work: the detector
        // restarts its warm-up at the new level, so when best-effort work
        // arrives at tick 45 nothing is raised.
        assert!(run("cusum", "ipc", 40, 0.8, 80, 45).is_empty());
        assert!(run("page_hinkley", "ipc", 40, 0.8, 80, 45).is_empty());
    }
}
