//! `ema`: exponential moving average of a signal, per executor.
//!
//! Original: EMAFilter over ExponentialMovingAverage (spec/serenity.md §2.8).
//! - `regular`: ema = α·x + (1 − α)·ema_prev; the first value is the sample.
//! - `time_aware`: the irregular-interval EMA of Eckner ("Algorithms for
//!   Unevenly Spaced Time Series", 2012; the oroboro.com formulation the
//!   original cites) with linear interpolation between samples:
//!   a = Δt/τ, w = e^(−a), w2 = (1 − w)/a,
//!   ema = w·ema_prev + (w2 − w)·x_prev + (1 − w2)·x.
//!   Unlike the original, the first sample initialises ema, x_prev and t_prev
//!   (the original read uninitialised memory there).
//!
//! As in the original, an executor's first value only initialises the average
//! (`skip_first_sample = true`), so the output appears from its second sample.

use super::BuildContext;
use crate::config::reader::{open_fraction, positive};
use crate::config::ParamReader;
use crate::executors::SlotMap;
use crate::signal::SignalId;
use crate::stage::Stage;
use crate::tick::{Flow, Tick};

/// Parameters of `ema`.
#[derive(Debug, Clone, PartialEq)]
pub struct EmaParams {
    /// Signal to smooth (default `cpu_usage`).
    pub input: SignalId,
    /// Signal to write (default `<input>_ema`).
    pub output: SignalId,
    /// `regular` (default) or `time_aware`.
    pub mode: Mode,
    /// Weight of the newest sample in `regular` mode, in (0, 1]; default 0.2.
    pub alpha: f64,
    /// Time constant τ in seconds for `time_aware` mode; default 10.
    pub time_constant_secs: f64,
    /// Emit nothing on an executor's first sample (default true, as the original).
    pub skip_first_sample: bool,
}

/// EMA flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Fixed weight per sample.
    Regular,
    /// Weight from the time between samples.
    TimeAware,
}

/// The scalar online estimator (usable alone).
#[derive(Debug, Clone, PartialEq)]
pub struct Ema {
    mode: Mode,
    alpha: f64,
    tau: f64,
    state: Option<(f64, f64, f64)>, // (ema, previous sample, previous time)
}

impl Ema {
    /// A regular EMA with weight `alpha`.
    pub fn regular(alpha: f64) -> Self {
        Ema {
            mode: Mode::Regular,
            alpha,
            tau: 1.0,
            state: None,
        }
    }

    /// A time-aware EMA with time constant `tau` seconds.
    pub fn time_aware(tau: f64) -> Self {
        Ema {
            mode: Mode::TimeAware,
            alpha: 1.0,
            tau,
            state: None,
        }
    }

    /// Feeds sample `x` taken at time `t`; returns the average.
    pub fn update(&mut self, x: f64, t: f64) -> f64 {
        let (prev, prev_x, prev_t) = self.state.unwrap_or((x, x, t));
        let ema = match self.mode {
            Mode::Regular => self.alpha * x + (1.0 - self.alpha) * prev,
            Mode::TimeAware => {
                let dt = t - prev_t;
                if dt <= 0.0 {
                    // Same instant (or time went backwards): nothing new to weigh.
                    if self.state.is_none() {
                        x
                    } else {
                        prev
                    }
                } else {
                    let a = dt / self.tau;
                    let w = (-a).exp();
                    let w2 = (1.0 - w) / a;
                    w * prev + (w2 - w) * prev_x + (1.0 - w2) * x
                }
            }
        };
        let t = if self.mode == Mode::TimeAware && t < prev_t {
            prev_t
        } else {
            t
        };
        self.state = Some((ema, x, t));
        ema
    }

    /// The current average, if any sample was seen.
    pub fn value(&self) -> Option<f64> {
        self.state.map(|s| s.0)
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        self.state = None;
    }
}

struct EmaStage {
    params: EmaParams,
    state: SlotMap<Ema>,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, _ctx: &mut BuildContext) -> Box<dyn Stage> {
    let input = r.signal_in("input", "cpu_usage");
    let default_out = format!("{}_ema", r.signal_name(input));
    let mode = match r.choice("mode", "regular", &["regular", "time_aware"]) {
        "time_aware" => Mode::TimeAware,
        _ => Mode::Regular,
    };
    let alpha = r.f64("alpha", 0.2, open_fraction);
    let time_constant_secs = r.f64("time_constant_secs", 10.0, positive);
    let skip_first_sample = r.bool("skip_first_sample", true);
    let output = r.signal_out("output", &default_out);
    Box::new(EmaStage {
        params: EmaParams {
            input,
            output,
            mode,
            alpha,
            time_constant_secs,
            skip_first_sample,
        },
        state: SlotMap::default(),
    })
}

impl Stage for EmaStage {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let p = &self.params;
        for row in 0..tick.rows() {
            if !tick.state.selected[row] {
                continue;
            }
            let Some(x) = tick.signal(row, p.input) else {
                continue;
            };
            let t = tick
                .snapshot
                .statistics(row)
                .and_then(|s| s.timestamp)
                .or(tick.now)
                .unwrap_or(0.0);
            let er = tick.executor(row);
            let first = self.state.get(er).is_none();
            let ema = self.state.get_or_insert_with(er, || match p.mode {
                Mode::Regular => Ema::regular(p.alpha),
                Mode::TimeAware => Ema::time_aware(p.time_constant_secs),
            });
            let v = ema.update(x, t);
            if !(first && p.skip_first_sample) {
                tick.state.signals.set(row, p.output, Some(v));
            }
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_ema_starts_at_the_first_sample_and_follows_the_recurrence() {
        let mut e = Ema::regular(0.5);
        assert_eq!(e.update(4.0, 0.0), 4.0);
        assert_eq!(e.update(2.0, 1.0), 3.0);
        assert_eq!(e.update(2.0, 2.0), 2.5);
    }

    #[test]
    fn time_aware_ema_weighs_by_elapsed_time() {
        let mut fast = Ema::time_aware(1.0);
        let mut slow = Ema::time_aware(100.0);
        assert_eq!(fast.update(0.0, 0.0), 0.0);
        assert_eq!(slow.update(0.0, 0.0), 0.0);
        let f = fast.update(1.0, 10.0);
        let s = slow.update(1.0, 10.0);
        assert!(f > 0.85 && f <= 1.0, "{f}");
        assert!(s > 0.0 && s < 0.1, "{s}");
        // A constant signal stays put whatever the spacing.
        let mut c = Ema::time_aware(5.0);
        for (i, t) in [0.0, 0.3, 7.0, 7.5, 30.0].iter().enumerate() {
            let v = c.update(2.0, *t);
            assert!((v - 2.0).abs() < 1e-12, "step {i}: {v}");
        }
    }

    #[test]
    fn time_aware_ema_ignores_time_going_backwards() {
        let mut e = Ema::time_aware(2.0);
        e.update(1.0, 10.0);
        let before = e.update(3.0, 12.0);
        assert_eq!(e.update(100.0, 11.0), before);
        assert!(e.value().unwrap().is_finite());
    }
}
