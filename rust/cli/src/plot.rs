//! `serenity replay --plot`: one picture of a replay, as SVG (written
//! directly) or PNG (the same SVG rasterised with resvg/tiny-skia).
//!
//! Stacked panels share the time axis: CPU usage per executor, IPC when the
//! trace has perf counters, other derived signals, and the estimators' slack
//! (with the true idle capacity of simulated traces). Where a pipeline
//! smooths an executor's signal, the raw samples are light dots and the
//! smoothed signal a strong line; otherwise the raw samples are the line.
//!
//! Above the panels, a replay says that its kills were not applied (it is
//! open loop: the recorded executors go on running), and a timeline strip
//! has one lane for the true interference of simulated traces, one for the
//! contention spans (also shaded on every panel) and one per killed
//! executor with a ▼ for every correction (also a dashed line across the
//! panels). Labels live outside the data: in the legend column, above the
//! panels or under their axes; series are clipped to their panel.

use crate::output::TickLine;
use crate::truth::Truth;
use anyhow::Context;
use serenity_core::signal::{builtin, SignalId, BUILTIN_SIGNALS};
use serenity_core::{Pipeline, PipelineKind, Snapshot};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

/// The file format of a plot, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotFormat {
    /// Scalable vector graphics.
    Svg,
    /// A raster image.
    Png,
}

impl PlotFormat {
    /// `.svg` or `.png`; anything else is an error naming both.
    pub fn from_path(path: &Path) -> anyhow::Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => Ok(PlotFormat::Svg),
            Some("png") => Ok(PlotFormat::Png),
            _ => anyhow::bail!(
                "--plot {}: the file name must end in .svg or .png",
                path.display()
            ),
        }
    }
}

/// One executor's raw signals.
#[derive(Debug, Clone, Default)]
pub struct ExecutorSeries {
    /// The executor id.
    pub label: String,
    /// Best-effort (revocable) executor.
    pub revocable: bool,
    /// CPU usage per tick (CPUs).
    pub cpu: Vec<Option<f64>>,
    /// IPC per tick.
    pub ipc: Vec<Option<f64>>,
}

/// A signal a pipeline derived for one executor (e.g. `cpu_usage_ema`).
#[derive(Debug, Clone)]
pub struct DerivedSeries {
    /// Index into `PlotData::executors`.
    pub executor: usize,
    /// The pipeline that computed it.
    pub pipeline: String,
    /// The signal's name.
    pub signal: String,
    /// Values per tick.
    pub values: Vec<Option<f64>>,
}

/// A kill decided by a QoS pipeline: one correction. Every correction is
/// one kill, also when (open loop) the same executor is named again.
#[derive(Debug, Clone, PartialEq)]
pub struct Kill {
    /// Tick of the correction.
    pub tick: usize,
    /// The executor id.
    pub executor: String,
    /// The pipeline that decided it.
    pub pipeline: String,
}

/// Everything the picture shows.
#[derive(Debug, Clone, Default)]
pub struct PlotData {
    /// The title line.
    pub title: String,
    /// A second line (pipelines, notes).
    pub subtitle: String,
    /// The x-axis label.
    pub x_label: String,
    /// x of each tick.
    pub x: Vec<f64>,
    /// Executors shown.
    pub executors: Vec<ExecutorSeries>,
    /// Derived signals of the executors shown.
    pub derived: Vec<DerivedSeries>,
    /// Slack per estimator pipeline (CPUs).
    pub slack: Vec<(String, Vec<Option<f64>>)>,
    /// True idle CPUs (simulated traces).
    pub idle: Option<Vec<Option<f64>>>,
    /// Ticks on which some QoS pipeline raised a contention.
    pub contention: Vec<bool>,
    /// Ticks of true interference (simulated traces).
    pub interference: Vec<bool>,
    /// Every correction of every QoS pipeline, in tick order.
    pub kills: Vec<Kill>,
    /// The kills were not applied: the executors of the trace went on as
    /// recorded (a replay). The plot says so above its panels.
    pub open_loop: bool,
}

#[derive(Debug, Default)]
struct ExecutorRecord {
    series: ExecutorSeries,
    cpu_sum: f64,
}

/// Collects what the plot needs while a replay runs.
#[derive(Debug, Default)]
pub struct PlotRecorder {
    times: Vec<Option<f64>>,
    executors: Vec<ExecutorRecord>,
    index: HashMap<(String, String), usize>,
    derived_ids: Vec<Vec<(SignalId, String)>>,
    derived: BTreeMap<(usize, usize, String), Vec<Option<f64>>>,
    slack: Vec<(String, Vec<Option<f64>>)>,
    contention: Vec<bool>,
    kills: Vec<Kill>,
}

fn put(v: &mut Vec<Option<f64>>, tick: usize, value: Option<f64>) {
    if v.len() < tick {
        v.resize(tick, None);
    }
    v.push(value);
}

impl PlotRecorder {
    /// Records one tick (after every pipeline ran on `snapshot`).
    pub fn record(
        &mut self,
        tick: u64,
        snapshot: &Snapshot,
        pipelines: &[Pipeline],
        lines: &[TickLine],
    ) {
        let tick = tick as usize;
        self.times.push(snapshot.timestamp);
        if self.derived_ids.is_empty() {
            self.derived_ids = pipelines
                .iter()
                .map(|p| {
                    p.signals().all()[BUILTIN_SIGNALS.len()..]
                        .iter()
                        .filter_map(|n| p.signals().lookup(n).map(|id| (id, n.clone())))
                        .collect()
                })
                .collect();
            self.slack = pipelines
                .iter()
                .filter(|p| p.kind() == PipelineKind::Estimator)
                .map(|p| (p.name().to_owned(), Vec::new()))
                .collect();
        }
        for (row, view) in snapshot.executors.iter().enumerate() {
            let key = (view.key.framework_id.clone(), view.key.executor_id.clone());
            let next = self.executors.len();
            let idx = *self.index.entry(key).or_insert(next);
            if idx == next {
                self.executors.push(ExecutorRecord {
                    series: ExecutorSeries {
                        label: view.key.executor_id.clone(),
                        ..Default::default()
                    },
                    cpu_sum: 0.0,
                });
            }
            let rec = &mut self.executors[idx];
            rec.series.revocable |= view.revocable;
            let table = pipelines.first().map(|p| p.last_signals());
            let cpu = table.and_then(|t| t.get(row, builtin::CPU_USAGE));
            let ipc = table.and_then(|t| t.get(row, builtin::IPC));
            rec.cpu_sum += cpu.unwrap_or(0.0);
            put(&mut rec.series.cpu, tick, cpu);
            put(&mut rec.series.ipc, tick, ipc);
            for (pi, p) in pipelines.iter().enumerate() {
                for (id, name) in &self.derived_ids[pi] {
                    let v = p.last_signals().get(row, *id);
                    if v.is_some() {
                        let series = self.derived.entry((idx, pi, name.clone())).or_default();
                        put(series, tick, v);
                    }
                }
            }
        }
        let mut slack_i = 0;
        let mut any_contention = false;
        for (p, line) in pipelines.iter().zip(lines) {
            if p.kind() == PipelineKind::Estimator {
                if let Some((_, v)) = self.slack.get_mut(slack_i) {
                    put(v, tick, line.slack.map(|s| s.cpus));
                }
                slack_i += 1;
            }
            any_contention |= !line.contentions.is_empty();
            for c in &line.corrections {
                self.kills.push(Kill {
                    tick,
                    executor: c.executor_id.clone(),
                    pipeline: line.pipeline.clone(),
                });
            }
        }
        self.contention.push(any_contention);
    }

    /// The data of the picture. At most 10 executors are drawn: those killed,
    /// then the busiest; the subtitle says when some are left out. A
    /// recorder follows a replay, which never applies its kills, so the
    /// picture is marked [`PlotData::open_loop`].
    pub fn finish(self, trace: &str, pipelines: &[String], truth: &[Option<Truth>]) -> PlotData {
        let n = self.times.len();
        let all_timed = n > 0 && self.times.iter().all(Option::is_some);
        let (x, x_label) = if all_timed {
            let t0 = self.times[0].unwrap_or(0.0);
            (
                self.times.iter().map(|t| t.unwrap_or(t0) - t0).collect(),
                "time since the first sample (s)".to_string(),
            )
        } else {
            ((0..n).map(|i| i as f64).collect(), "tick".to_string())
        };
        const MAX_EXECUTORS: usize = 10;
        let killed: HashSet<&str> = self.kills.iter().map(|k| k.executor.as_str()).collect();
        let mut order: Vec<usize> = (0..self.executors.len()).collect();
        order.sort_by(|&a, &b| {
            let ka = killed.contains(self.executors[a].series.label.as_str());
            let kb = killed.contains(self.executors[b].series.label.as_str());
            kb.cmp(&ka).then(
                self.executors[b]
                    .cpu_sum
                    .total_cmp(&self.executors[a].cpu_sum),
            )
        });
        order.truncate(MAX_EXECUTORS);
        order.sort_unstable();
        let remap: HashMap<usize, usize> = order
            .iter()
            .enumerate()
            .map(|(new, old)| (*old, new))
            .collect();
        let total_executors = self.executors.len();
        let mut executors: Vec<ExecutorSeries> = Vec::new();
        for (i, rec) in self.executors.into_iter().enumerate() {
            if remap.contains_key(&i) {
                let mut s = rec.series;
                s.cpu.resize(n, None);
                s.ipc.resize(n, None);
                executors.push(s);
            }
        }
        let derived = self
            .derived
            .into_iter()
            .filter_map(|((e, pi, signal), mut values)| {
                let executor = *remap.get(&e)?;
                values.resize(n, None);
                Some(DerivedSeries {
                    executor,
                    pipeline: pipelines.get(pi).cloned().unwrap_or_default(),
                    signal,
                    values,
                })
            })
            .collect();
        let slack = self
            .slack
            .into_iter()
            .map(|(name, mut v)| {
                v.resize(n, None);
                (name, v)
            })
            .collect();
        let has_truth = truth.iter().any(Option::is_some);
        let idle = has_truth.then(|| {
            (0..n)
                .map(|i| truth.get(i).and_then(|t| t.as_ref()).map(|t| t.idle_cpus))
                .collect()
        });
        let interference = (0..n)
            .map(|i| {
                truth
                    .get(i)
                    .and_then(|t| t.as_ref())
                    .is_some_and(|t| t.interference)
            })
            .collect();
        let mut subtitle = format!("pipelines: {}", pipelines.join(", "));
        if total_executors > executors.len() {
            let _ = write!(
                subtitle,
                " · showing {} of {} executors (killed first, then the busiest)",
                executors.len(),
                total_executors
            );
        }
        PlotData {
            title: format!("serenity replay of {trace} ({n} ticks)"),
            subtitle,
            x_label,
            x,
            executors,
            derived,
            slack,
            idle,
            contention: self.contention,
            interference,
            kills: self.kills,
            open_loop: true,
        }
    }
}

const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
    "#7f7f7f", "#d62728",
];
const KILL_COLOR: &str = "#8b0000";
const CONTENTION_COLOR: &str = "#d62728";
const INTERFERENCE_COLOR: &str = "#ff7f0e";
const FONT: &str = "DejaVu Sans, Arial, Helvetica, sans-serif";
const WIDTH: f64 = 1280.0;
const LEFT: f64 = 80.0;
const RIGHT_LEGEND: f64 = 270.0;
const PLOT_W: f64 = WIDTH - LEFT - RIGHT_LEGEND;
const LEGEND_X: f64 = LEFT + PLOT_W + 18.0;
const PANEL_H: f64 = 210.0;
const PANEL_GAP: f64 = 62.0;
const LANE_H: f64 = 16.0;
const LEGEND_ROW: f64 = 15.0;
const MAX_POINTS: usize = 2000;
/// Kill lanes drawn one per executor; the kills of any further executors
/// share one last lane.
const MAX_KILL_LANES: usize = 6;

/// What a plot of an open-loop replay says above its panels.
pub const OPEN_LOOP_NOTICE: &str = "Open-loop replay: the kills marked ▼ were not applied. \
     The trace's executors run on as recorded, so a killed executor can be named again.";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `s` cut to `max` characters by an ellipsis, keeping two thirds from its
/// end, so that names differing only at their end (`…-0 (production)`)
/// stay apart.
fn fit(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= max {
        return s.to_string();
    }
    let tail = max.saturating_sub(1) * 2 / 3;
    let head = max.saturating_sub(1) - tail;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// Round tick values covering [lo, hi], about `target` of them.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !lo.is_finite() || !hi.is_finite() || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() * step;
    let mut out = Vec::new();
    let mut v = first;
    while v <= hi + step * 1e-9 && out.len() < 50 {
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    out
}

fn fmt_tick(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e9 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// An axis-aligned box in SVG user units.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

#[cfg(test)]
impl Rect {
    fn intersects(&self, o: &Rect) -> bool {
        self.x < o.x + o.w && o.x < self.x + self.w && self.y < o.y + o.h && o.y < self.y + self.h
    }
}

/// The SVG being written, with the boxes of its text and of the areas that
/// hold data, so that tests can check that no label covers data.
#[derive(Default)]
struct Canvas {
    svg: String,
    text_boxes: Vec<(Rect, String)>,
    data_areas: Vec<Rect>,
}

#[derive(Clone, Copy)]
enum Anchor {
    Start,
    Middle,
    End,
}

impl Canvas {
    /// A text line with its baseline at `y`. Its box is estimated from the
    /// font size (DejaVu Sans: under 0.62 em per character on average).
    fn text(&mut self, x: f64, y: f64, size: f64, anchor: Anchor, attrs: &str, text: &str) {
        let w = 0.62 * size * text.chars().count() as f64;
        let (left, a) = match anchor {
            Anchor::Start => (x, "start"),
            Anchor::Middle => (x - w / 2.0, "middle"),
            Anchor::End => (x - w, "end"),
        };
        let b = Rect {
            x: left,
            y: y - 0.8 * size,
            w,
            h: 1.05 * size,
        };
        self.text_boxes.push((b, text.to_string()));
        let _ = writeln!(
            self.svg,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{a}" {attrs}>{}</text>"#,
            esc(text)
        );
    }

    /// A line of text rotated by -90° around its centre (`cx`, `cy`).
    fn vertical_text(&mut self, cx: f64, cy: f64, size: f64, text: &str) {
        let w = 0.62 * size * text.chars().count() as f64;
        self.text_boxes.push((
            Rect {
                x: cx - 0.8 * size,
                y: cy - w / 2.0,
                w: 1.05 * size,
                h: w,
            },
            text.to_string(),
        ));
        let _ = writeln!(
            self.svg,
            r##"<text transform="translate({cx:.1},{cy:.1}) rotate(-90)" font-size="{size}" text-anchor="middle" fill="#333">{}</text>"##,
            esc(text)
        );
    }
}

/// How a series is drawn.
#[derive(Clone, Copy, PartialEq)]
enum Mark {
    /// A line; best-effort executors dashed.
    Line { width: f64, dashed: bool },
    /// One dot per sample (raw samples beside their smoothed line).
    Dots,
}

struct Series<'a> {
    values: &'a [Option<f64>],
    color: String,
    opacity: f64,
    mark: Mark,
    /// The `class` attribute of its SVG element.
    class: &'static str,
}

struct LegendEntry {
    color: String,
    label: String,
    mark: Mark,
}

struct Panel<'a> {
    title: String,
    unit: String,
    series: Vec<Series<'a>>,
    legend: Vec<LegendEntry>,
}

impl Panel<'_> {
    fn y_max(&self) -> f64 {
        let m = self
            .series
            .iter()
            .flat_map(|l| l.values.iter().flatten())
            .fold(0.0f64, |a, b| if b.is_finite() { a.max(*b) } else { a });
        if m > 0.0 {
            m * 1.1
        } else {
            1.0
        }
    }
}

fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// `#rrggbb` mixed half-way with black: the raw dots drawn over a line of
/// the plain colour stay visible on it.
fn darker(hex: &str) -> String {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap_or(0);
    let half = |shift: u32| ((v >> shift) & 0xff) / 2;
    format!("#{:02x}{:02x}{:02x}", half(16), half(8), half(0))
}

fn executor_legend(executors: &[ExecutorSeries]) -> Vec<LegendEntry> {
    executors
        .iter()
        .enumerate()
        .map(|(i, e)| LegendEntry {
            color: color(i).to_string(),
            label: format!(
                "{} ({})",
                e.label,
                if e.revocable {
                    "best-effort"
                } else {
                    "production"
                }
            ),
            mark: Mark::Line {
                width: 2.0,
                dashed: e.revocable,
            },
        })
        .collect()
}

/// A panel of one per-executor signal. An executor whose signal a pipeline
/// smooths gets its raw samples as light dots and each smoothed version as a
/// strong line in its colour; an executor without one gets its raw samples
/// as a line. Best-effort executors are dashed.
fn signal_panel<'a>(
    data: &'a PlotData,
    raw: impl Fn(&'a ExecutorSeries) -> &'a [Option<f64>],
    derived: Vec<&'a DerivedSeries>,
    title: &str,
    unit: &str,
) -> Panel<'a> {
    let smoothed: HashSet<usize> = derived.iter().map(|d| d.executor).collect();
    let mut series: Vec<Series<'a>> = data
        .executors
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if smoothed.contains(&i) {
                Series {
                    values: raw(e),
                    color: darker(color(i)),
                    opacity: 0.85,
                    mark: Mark::Dots,
                    class: "raw",
                }
            } else {
                Series {
                    values: raw(e),
                    color: color(i).to_string(),
                    opacity: 0.9,
                    mark: Mark::Line {
                        width: 1.4,
                        dashed: e.revocable,
                    },
                    class: "raw",
                }
            }
        })
        .collect();
    series.extend(derived.iter().map(|d| Series {
        values: &d.values,
        color: color(d.executor).to_string(),
        opacity: 0.7,
        mark: Mark::Line {
            width: 3.2,
            dashed: data.executors[d.executor].revocable,
        },
        class: "derived",
    }));
    let mut legend = executor_legend(&data.executors);
    if !derived.is_empty() {
        legend.push(LegendEntry {
            color: "#333".into(),
            label: "dots: raw samples".into(),
            mark: Mark::Dots,
        });
        let mut seen = Vec::new();
        for d in &derived {
            let label = format!("thick: {} ({})", d.signal, d.pipeline);
            if !seen.contains(&label) {
                seen.push(label.clone());
                legend.push(LegendEntry {
                    color: "#555".into(),
                    label,
                    mark: Mark::Line {
                        width: 3.2,
                        dashed: false,
                    },
                });
            }
        }
        if smoothed.len() < data.executors.len() {
            legend.push(LegendEntry {
                color: "#555".into(),
                label: "thin: raw (not smoothed)".into(),
                mark: Mark::Line {
                    width: 1.4,
                    dashed: false,
                },
            });
        }
    }
    Panel {
        title: title.into(),
        unit: unit.into(),
        series,
        legend,
    }
}

fn panels(data: &PlotData) -> Vec<Panel<'_>> {
    let derived_in = |pred: &dyn Fn(&str) -> bool| -> Vec<&DerivedSeries> {
        data.derived.iter().filter(|d| pred(&d.signal)).collect()
    };
    let is_cpu = |s: &str| s.starts_with("cpu");
    let is_ipc = |s: &str| s.starts_with("ipc");
    let mut panels = vec![signal_panel(
        data,
        |e| &e.cpu,
        derived_in(&|s| is_cpu(s)),
        "CPU usage per executor",
        "CPUs",
    )];
    let has_ipc = data
        .executors
        .iter()
        .any(|e| e.ipc.iter().any(Option::is_some));
    let ipc_derived = derived_in(&|s| is_ipc(s));
    if has_ipc || !ipc_derived.is_empty() {
        panels.push(signal_panel(
            data,
            |e| &e.ipc,
            ipc_derived,
            "IPC per executor (perf instructions / cycles)",
            "instructions per cycle",
        ));
    }
    let other = derived_in(&|s| !is_cpu(s) && !is_ipc(s));
    if !other.is_empty() {
        let mut names: Vec<String> = other
            .iter()
            .map(|d| format!("{} ({})", d.signal, d.pipeline))
            .collect();
        names.dedup();
        panels.push(Panel {
            title: format!("Other derived signals: {}", names.join(", ")),
            unit: "signal units".into(),
            series: other
                .iter()
                .map(|d| Series {
                    values: &d.values,
                    color: color(d.executor).to_string(),
                    opacity: 0.9,
                    mark: Mark::Line {
                        width: 2.0,
                        dashed: data.executors[d.executor].revocable,
                    },
                    class: "derived",
                })
                .collect(),
            legend: Vec::new(),
        });
    }
    if !data.slack.is_empty() {
        let mut series = Vec::new();
        let mut legend = Vec::new();
        for (i, (name, v)) in data.slack.iter().enumerate() {
            let c = PALETTE[(i + 2) % PALETTE.len()];
            let mark = Mark::Line {
                width: 2.4,
                dashed: false,
            };
            series.push(Series {
                values: v,
                color: c.to_string(),
                opacity: 0.95,
                mark,
                class: "slack",
            });
            legend.push(LegendEntry {
                color: c.into(),
                label: format!("slack advertised ({name})"),
                mark,
            });
        }
        if let Some(idle) = &data.idle {
            let mark = Mark::Line {
                width: 1.6,
                dashed: true,
            };
            series.push(Series {
                values: idle,
                color: "#333333".into(),
                opacity: 0.8,
                mark,
                class: "idle",
            });
            legend.push(LegendEntry {
                color: "#333333".into(),
                label: "true idle capacity".into(),
                mark,
            });
        }
        panels.push(Panel {
            title: "Slack (revocable CPUs the estimator advertises)".into(),
            unit: "CPUs".into(),
            series,
            legend,
        });
    }
    panels
}

/// Maximal runs of set flags, as (first, last) ticks.
fn spans(flags: &[bool]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, f) in flags.iter().enumerate() {
        match (f, start) {
            (true, None) => start = Some(i),
            (false, Some(st)) => {
                out.push((st, i - 1));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(st) = start {
        out.push((st, flags.len() - 1));
    }
    out
}

/// The drawable points of `values`, every `stride`-th, mapped by `at`, in
/// runs broken by missing or non-finite values.
fn runs(
    values: &[Option<f64>],
    stride: usize,
    at: impl Fn(usize, f64) -> (f64, f64),
) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut open = false;
    for (i, v) in values.iter().enumerate().step_by(stride) {
        match v {
            Some(v) if v.is_finite() => {
                if !open {
                    out.push(Vec::new());
                    open = true;
                }
                if let Some(run) = out.last_mut() {
                    run.push(at(i, *v));
                }
            }
            _ => open = false,
        }
    }
    out
}

/// One lane of the timeline strip above the panels.
enum Lane<'a> {
    Interference,
    Contention,
    Kills { label: String, kills: Vec<&'a Kill> },
}

/// The strip's lanes: true interference, contention, then the kills of each
/// executor in the order of its first kill (every correction is one ▼).
fn lanes(data: &PlotData) -> Vec<Lane<'_>> {
    let mut out = Vec::new();
    if data.interference.iter().any(|f| *f) {
        out.push(Lane::Interference);
    }
    if data.contention.iter().any(|f| *f) {
        out.push(Lane::Contention);
    }
    let mut by_executor: Vec<(&str, Vec<&Kill>)> = Vec::new();
    for k in &data.kills {
        match by_executor.iter_mut().find(|(e, _)| *e == k.executor) {
            Some((_, v)) => v.push(k),
            None => by_executor.push((&k.executor, vec![k])),
        }
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let overflow = by_executor.len() > MAX_KILL_LANES;
    let keep = if overflow {
        MAX_KILL_LANES - 1
    } else {
        by_executor.len()
    };
    let rest: Vec<(&str, Vec<&Kill>)> = by_executor.split_off(keep);
    for (executor, kills) in by_executor {
        let n = kills.len();
        out.push(Lane::Kills {
            label: format!("{n} kill{} of {executor}", plural(n)),
            kills,
        });
    }
    if !rest.is_empty() {
        let kills: Vec<&Kill> = rest.iter().flat_map(|(_, k)| k.iter().copied()).collect();
        let n = kills.len();
        out.push(Lane::Kills {
            label: format!("{n} kill{} of {} others", plural(n), rest.len()),
            kills,
        });
    }
    out
}

/// Lays out and draws the picture.
fn draw(data: &PlotData) -> Canvas {
    let panels = panels(data);
    let lanes = lanes(data);
    let n = data.x.len();
    let (x0, x1) = match (data.x.first(), data.x.last()) {
        (Some(a), Some(b)) if b > a => (*a, *b),
        (Some(a), _) => (*a, *a + 1.0),
        _ => (0.0, 1.0),
    };
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * PLOT_W;
    // A tick's band spans to the next tick (or one mean step at the end).
    let step = if n > 1 {
        (x1 - x0) / (n - 1) as f64
    } else {
        1.0
    };
    let band = |a: usize, b: usize| -> (f64, f64) {
        let xa = sx(data.x[a]);
        let end = data.x.get(b + 1).copied().unwrap_or(data.x[b] + step);
        (xa, (sx(end).min(LEFT + PLOT_W) - xa).max(1.0))
    };
    let integer_x = data.x.iter().all(|v| v.fract() == 0.0);
    let x_ticks: Vec<f64> = nice_ticks(x0, x1, 10)
        .into_iter()
        .filter(|v| !integer_x || v.fract() == 0.0)
        .collect();

    let mut y = 70.0;
    let notice_top = y;
    if data.open_loop {
        y += 34.0;
    }
    let strip_top = y;
    if !lanes.is_empty() {
        y += lanes.len() as f64 * LANE_H + 14.0;
    }
    let panels_top = y;
    let panel_top = |pi: usize| panels_top + pi as f64 * (PANEL_H + PANEL_GAP) + 22.0;
    let height = (panel_top(panels.len().saturating_sub(1)) + PANEL_H + 52.0).round();

    let mut c = Canvas::default();
    let _ = writeln!(
        c.svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="{FONT}">
<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
    );
    c.text(
        LEFT,
        30.0,
        20.0,
        Anchor::Start,
        r##"font-weight="bold" fill="#111""##,
        &fit(&data.title, 95),
    );
    c.text(
        LEFT,
        54.0,
        13.0,
        Anchor::Start,
        r##"fill="#444""##,
        &fit(&data.subtitle, 150),
    );
    if data.open_loop {
        let _ = writeln!(
            c.svg,
            r##"<rect class="notice" x="{LEFT}" y="{notice_top:.1}" width="{:.1}" height="24" rx="3" fill="#fff4d6" stroke="#d9a400"/>"##,
            WIDTH - LEFT - 20.0
        );
        c.text(
            LEFT + 10.0,
            notice_top + 17.0,
            13.0,
            Anchor::Start,
            r##"fill="#5c4300" font-weight="bold""##,
            OPEN_LOOP_NOTICE,
        );
    }

    // The timeline strip: one lane per kind of event, labelled on the right.
    let kill_ticks: Vec<f64> = {
        let mut t: Vec<usize> = data
            .kills
            .iter()
            .filter(|k| k.tick < n)
            .map(|k| k.tick)
            .collect();
        t.dedup();
        t.into_iter().map(|t| sx(data.x[t])).collect()
    };
    for (li, lane) in lanes.iter().enumerate() {
        let top = strip_top + li as f64 * LANE_H;
        let area = Rect {
            x: LEFT,
            y: top,
            w: PLOT_W,
            h: LANE_H,
        };
        c.data_areas.push(area);
        let _ = writeln!(
            c.svg,
            r##"<rect x="{LEFT}" y="{top:.1}" width="{PLOT_W}" height="{LANE_H}" fill="{}" stroke="#ddd" stroke-width="0.5"/>"##,
            if li % 2 == 0 { "#f6f6f6" } else { "#fdfdfd" }
        );
        let (label, label_color) = match lane {
            Lane::Interference => {
                for (a, b) in spans(&data.interference) {
                    let (x, w) = band(a, b);
                    let _ = writeln!(
                        c.svg,
                        r##"<rect x="{x:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{INTERFERENCE_COLOR}" fill-opacity="0.85"/>"##,
                        top + 3.0,
                        LANE_H - 6.0
                    );
                }
                ("true interference".to_string(), "#a04d00")
            }
            Lane::Contention => {
                for (a, b) in spans(&data.contention) {
                    let (x, w) = band(a, b);
                    let _ = writeln!(
                        c.svg,
                        r##"<rect x="{x:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{CONTENTION_COLOR}" fill-opacity="0.45"/>"##,
                        top + 3.0,
                        LANE_H - 6.0
                    );
                }
                ("contention raised (shaded)".to_string(), "#a01c1c")
            }
            Lane::Kills { label, kills } => {
                for k in kills {
                    let Some(xv) = data.x.get(k.tick) else {
                        continue;
                    };
                    let x = sx(*xv);
                    let _ = writeln!(
                        c.svg,
                        r##"<path class="kill" d="M{:.1},{:.1} h9 l-4.5,9 z" fill="{KILL_COLOR}" fill-opacity="0.8"><title>kill of {} by {} at tick {}</title></path>"##,
                        x - 4.5,
                        top + 3.5,
                        esc(&k.executor),
                        esc(&k.pipeline),
                        k.tick
                    );
                }
                (format!("▼ {label}"), KILL_COLOR)
            }
        };
        c.text(
            LEGEND_X,
            top + LANE_H / 2.0 + 4.0,
            12.0,
            Anchor::Start,
            &format!(r#"fill="{label_color}""#),
            &fit(&label, 33),
        );
    }

    let contention_spans = spans(&data.contention);
    let interference_spans = spans(&data.interference);
    let stride = n.div_ceil(MAX_POINTS).max(1);
    // Raw dots: larger when the samples are far apart, never under 2.2.
    let dot = (PLOT_W / (n / stride).max(1) as f64 * 0.4).clamp(2.2, 5.0);
    let _ = writeln!(c.svg, "<defs>");
    for pi in 0..panels.len() {
        let _ = writeln!(
            c.svg,
            r#"<clipPath id="plot-{pi}"><rect x="{LEFT}" y="{:.1}" width="{PLOT_W}" height="{PANEL_H}"/></clipPath>"#,
            panel_top(pi)
        );
    }
    let _ = writeln!(c.svg, "</defs>");
    for (pi, panel) in panels.iter().enumerate() {
        let top = panel_top(pi);
        let bottom = top + PANEL_H;
        c.data_areas.push(Rect {
            x: LEFT,
            y: top,
            w: PLOT_W,
            h: PANEL_H,
        });
        let y_max = panel.y_max();
        let sy = |v: f64| bottom - v / y_max * PANEL_H;
        c.text(
            LEFT,
            top - 8.0,
            15.0,
            Anchor::Start,
            r##"font-weight="bold" fill="#222""##,
            &fit(&panel.title, 95),
        );
        let _ = writeln!(
            c.svg,
            r##"<rect x="{LEFT}" y="{top:.1}" width="{PLOT_W}" height="{PANEL_H}" fill="#fafafa" stroke="#999" stroke-width="1"/>"##
        );
        for (a, b) in &contention_spans {
            let (x, w) = band(*a, *b);
            let _ = writeln!(
                c.svg,
                r##"<rect x="{x:.1}" y="{top:.1}" width="{w:.1}" height="{PANEL_H}" fill="{CONTENTION_COLOR}" fill-opacity="0.13"/>"##
            );
        }
        for (a, b) in &interference_spans {
            let (x, w) = band(*a, *b);
            let _ = writeln!(
                c.svg,
                r##"<rect x="{x:.1}" y="{top:.1}" width="{w:.1}" height="5" fill="{INTERFERENCE_COLOR}" fill-opacity="0.85"/>"##
            );
        }
        // Grid and axes.
        for v in nice_ticks(0.0, y_max, 5) {
            let y = sy(v);
            let _ = writeln!(
                c.svg,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd" stroke-width="1"/>"##,
                LEFT + PLOT_W
            );
            c.text(
                LEFT - 6.0,
                y + 4.0,
                12.0,
                Anchor::End,
                r##"fill="#333""##,
                &fmt_tick(v),
            );
        }
        c.vertical_text(LEFT - 52.0, (top + bottom) / 2.0, 12.0, &panel.unit);
        for &v in &x_ticks {
            let x = sx(v);
            let _ = writeln!(
                c.svg,
                r##"<line x1="{x:.1}" y1="{bottom:.1}" x2="{x:.1}" y2="{:.1}" stroke="#999" stroke-width="1"/>"##,
                bottom + 5.0
            );
            c.text(
                x,
                bottom + 19.0,
                12.0,
                Anchor::Middle,
                r##"fill="#333""##,
                &fmt_tick(v),
            );
        }
        c.text(
            LEFT + PLOT_W / 2.0,
            bottom + 36.0,
            12.0,
            Anchor::Middle,
            r##"fill="#333""##,
            &data.x_label,
        );
        // Series, clipped to the panel.
        let _ = writeln!(c.svg, r#"<g clip-path="url(#plot-{pi})">"#);
        let lines_first = panel
            .series
            .iter()
            .filter(|s| s.mark != Mark::Dots)
            .chain(panel.series.iter().filter(|s| s.mark == Mark::Dots));
        for series in lines_first {
            let runs = runs(series.values, stride, |i, v| (sx(data.x[i]), sy(v)));
            if runs.is_empty() {
                continue;
            }
            let mut path = String::new();
            for run in &runs {
                for (k, (x, y)) in run.iter().enumerate() {
                    // A dot, or a run of one point, is a round-capped stub.
                    let _ = match (series.mark, k) {
                        (Mark::Dots, _) => write!(path, "M{x:.1},{y:.1}h0.1 "),
                        (_, 0) if run.len() == 1 => write!(path, "M{x:.1},{y:.1}h0.1 "),
                        (_, 0) => write!(path, "M{x:.1},{y:.1} "),
                        _ => write!(path, "L{x:.1},{y:.1} "),
                    };
                }
            }
            let style = match series.mark {
                Mark::Dots => format!(r#"stroke-width="{dot:.1}" stroke-linecap="round""#),
                Mark::Line { width, dashed } => format!(
                    r#"stroke-width="{width}" stroke-linejoin="round" stroke-linecap="round"{}"#,
                    if dashed {
                        r#" stroke-dasharray="7,4""#
                    } else {
                        ""
                    }
                ),
            };
            let _ = writeln!(
                c.svg,
                r#"<path class="{}" d="{}" fill="none" stroke="{}" stroke-opacity="{}" {style}/>"#,
                series.class,
                path.trim_end(),
                series.color,
                series.opacity,
            );
        }
        for x in &kill_ticks {
            let _ = writeln!(
                c.svg,
                r##"<line class="kill-line" x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="{KILL_COLOR}" stroke-width="1" stroke-opacity="0.6" stroke-dasharray="3,3"/>"##
            );
        }
        let _ = writeln!(c.svg, "</g>");
        // Legend, in the column right of the panel; it may run on into the
        // gap below the panel but not into the next panel's legend.
        let mut ly = top + 10.0;
        let last_row = bottom + PANEL_GAP - 24.0;
        for e in &panel.legend {
            if ly > last_row {
                break;
            }
            let _ = match e.mark {
                Mark::Dots => writeln!(
                    c.svg,
                    r#"<path d="M{:.1},{:.1}h0.1 M{:.1},{:.1}h0.1 M{:.1},{:.1}h0.1" stroke="{}" stroke-width="2.2" stroke-linecap="round" stroke-opacity="0.85"/>"#,
                    LEGEND_X + 3.0,
                    ly - 4.0,
                    LEGEND_X + 13.0,
                    ly - 2.0,
                    LEGEND_X + 23.0,
                    ly - 5.0,
                    e.color
                ),
                Mark::Line { width, dashed } => writeln!(
                    c.svg,
                    r#"<line x1="{LEGEND_X:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="{width}"{}/>"#,
                    ly - 4.0,
                    LEGEND_X + 26.0,
                    ly - 4.0,
                    e.color,
                    if dashed {
                        r#" stroke-dasharray="6,3""#
                    } else {
                        ""
                    }
                ),
            };
            c.text(
                LEGEND_X + 32.0,
                ly,
                12.0,
                Anchor::Start,
                r##"fill="#222""##,
                &fit(&e.label, 29),
            );
            ly += LEGEND_ROW;
        }
    }
    c.svg.push_str("</svg>\n");
    c
}

/// Renders the picture as an SVG document.
///
/// Above the panels: the open-loop notice (when [`PlotData::open_loop`]),
/// then a timeline strip whose lanes show the true interference, the
/// contention spans and every kill (one ▼ per correction, one lane per
/// killed executor). Every label sits outside the areas that hold data: in
/// the legend column on the right, above the panels or below their axes.
pub fn render_svg(data: &PlotData) -> String {
    draw(data).svg
}

/// Rasterises an SVG document to PNG bytes with the system fonts.
pub fn svg_to_png(svg: &str) -> anyhow::Result<Vec<u8>> {
    let mut options = resvg::usvg::Options::default();
    options.fontdb_mut().load_system_fonts();
    if options.fontdb.is_empty() {
        log::warn!("no system fonts were found; the PNG will have no text (install e.g. fonts-dejavu-core)");
    }
    let tree = resvg::usvg::Tree::from_str(svg, &options).context("the plot's SVG is invalid")?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
        .context("the plot is too large to rasterise")?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().context("cannot encode the PNG")
}

/// Writes the picture to `path` in `format`.
pub fn write(data: &PlotData, path: &Path, format: PlotFormat) -> anyhow::Result<()> {
    let svg = render_svg(data);
    let bytes = match format {
        PlotFormat::Svg => svg.into_bytes(),
        PlotFormat::Png => svg_to_png(&svg)?,
    };
    std::fs::write(path, bytes)
        .with_context(|| format!("cannot write the plot to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kill(tick: usize, executor: &str) -> Kill {
        Kill {
            tick,
            executor: executor.into(),
            pipeline: "qos".into(),
        }
    }

    fn sample() -> PlotData {
        PlotData {
            title: "t <&>".into(),
            subtitle: "s".into(),
            x_label: "tick".into(),
            x: (0..20).map(f64::from).collect(),
            executors: vec![ExecutorSeries {
                label: "web".into(),
                revocable: false,
                cpu: (0..20).map(|i| Some(f64::from(i) / 10.0)).collect(),
                ipc: vec![None; 20],
            }],
            contention: (0..20).map(|i| (5..8).contains(&i)).collect(),
            interference: vec![false; 20],
            kills: vec![kill(7, "be-1")],
            ..Default::default()
        }
    }

    /// Everything at once: ten executors with long names, smoothed signals,
    /// IPC, another derived signal, two estimators, truth, and kills of more
    /// executors than there are kill lanes.
    fn crowded() -> PlotData {
        let n = 300;
        let wave =
            |i: usize, k: usize| Some(1.0 + ((i + 7 * k) as f64 / 9.0).sin().abs() * k as f64);
        let executors: Vec<ExecutorSeries> = (0..10)
            .map(|k| ExecutorSeries {
                label: format!("executor-with-a-very-long-name-{k}"),
                revocable: k >= 5,
                cpu: (0..n).map(|i| wave(i, k)).collect(),
                ipc: (0..n).map(|i| wave(i, k + 1)).collect(),
            })
            .collect();
        let derived = (0..10)
            .flat_map(|k| {
                ["cpu_usage_ema", "ipc_ema", "cusum"].map(|signal| DerivedSeries {
                    executor: k,
                    pipeline: "qos".into(),
                    signal: signal.into(),
                    values: (0..n).map(|i| wave(i, k)).collect(),
                })
            })
            .collect();
        let kills = (0..40)
            .map(|i| kill(10 + 7 * i, &format!("be-{}", i % 9)))
            .collect();
        PlotData {
            title: "serenity replay of a-trace-with-a-long-name.jsonl (300 ticks)".into(),
            subtitle: "pipelines: estimator, estimator-conservative, qos".into(),
            x_label: "time since the first sample (s)".into(),
            x: (0..n).map(|i| 2.0 * i as f64).collect(),
            executors,
            derived,
            slack: vec![
                ("estimator".into(), (0..n).map(|i| wave(i, 2)).collect()),
                (
                    "estimator-conservative".into(),
                    (0..n).map(|i| wave(i, 1)).collect(),
                ),
            ],
            idle: Some((0..n).map(|i| wave(i, 3)).collect()),
            contention: (0..n).map(|i| i % 50 < 8).collect(),
            interference: (0..n).map(|i| i % 50 < 6).collect(),
            kills,
            open_loop: true,
        }
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            nice_ticks(0.0, 10.0, 5),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        assert_eq!(nice_ticks(0.0, 1.1, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(nice_ticks(3.0, 3.0, 5), vec![3.0]);
    }

    #[test]
    fn svg_escapes_text_and_draws_spans_and_kills() {
        let svg = render_svg(&sample());
        assert!(svg.contains("t &lt;&amp;&gt;"));
        assert!(svg.contains("▼ 1 kill of be-1"));
        assert!(svg.contains(r##"fill="#d62728" fill-opacity="0.13""##));
        assert!(svg.contains("contention raised"));
        // No IPC values: no IPC panel.
        assert!(!svg.contains("IPC per executor"));
    }

    #[test]
    fn long_labels_are_cut_in_the_middle() {
        assert_eq!(fit("short", 29), "short");
        let cut = fit("executor-with-a-very-long-name-7 (best-effort)", 29);
        assert_eq!(cut.chars().count(), 29);
        assert_eq!(cut, "executor-w…me-7 (best-effort)");
    }

    #[test]
    fn every_correction_is_one_kill_marker() {
        let mut data = sample();
        data.kills = vec![
            kill(3, "be-1"),
            kill(7, "be-1"),
            kill(7, "be-2"),
            kill(15, "be-1"),
        ];
        let svg = render_svg(&data);
        assert_eq!(svg.matches(r#"<path class="kill""#).count(), 4);
        assert!(svg.contains("▼ 3 kills of be-1"));
        assert!(svg.contains("▼ 1 kill of be-2"));
        // One dashed line across each panel per tick with a kill.
        assert_eq!(svg.matches(r#"class="kill-line""#).count(), 3);
    }

    #[test]
    fn kills_of_more_executors_than_lanes_are_all_marked() {
        let data = crowded();
        let svg = render_svg(&data);
        assert_eq!(svg.matches(r#"<path class="kill""#).count(), 40);
        assert_eq!(svg.matches(">▼ ").count(), MAX_KILL_LANES);
        // be-0 … be-4 have a lane each; be-5 … be-8 share the last one.
        assert!(svg.contains("▼ 16 kills of 4 others"), "{svg}");
    }

    #[test]
    fn only_an_open_loop_plot_says_its_kills_were_not_applied() {
        let mut data = sample();
        data.open_loop = true;
        let svg = render_svg(&data);
        assert!(svg.contains(&esc(OPEN_LOOP_NOTICE)));
        assert!(svg.contains("were not applied"));
        data.open_loop = false;
        let svg = render_svg(&data);
        assert!(!svg.contains("not applied"));
        assert!(!svg.contains(r#"class="notice""#));
    }

    #[test]
    fn raw_samples_are_dots_beside_their_smoothed_line() {
        let mut data = sample();
        data.derived = vec![DerivedSeries {
            executor: 0,
            pipeline: "qos".into(),
            signal: "cpu_usage_ema".into(),
            values: (0..20).map(|i| Some(f64::from(i) / 11.0)).collect(),
        }];
        let svg = render_svg(&data);
        let raw = svg
            .lines()
            .find(|l| l.starts_with(r#"<path class="raw""#))
            .expect("the raw samples are drawn");
        // One round dot per sample, in a darker shade of the executor colour.
        assert_eq!(raw.matches("h0.1").count(), 20);
        assert!(raw.contains(r#"stroke-linecap="round""#));
        assert!(raw.contains(&format!(r#"stroke="{}""#, darker(PALETTE[0]))));
        let smoothed = svg
            .lines()
            .find(|l| l.starts_with(r#"<path class="derived""#))
            .expect("the smoothed signal is drawn");
        assert!(smoothed.contains(&format!(r#"stroke="{}""#, PALETTE[0])));
        assert!(svg.contains("dots: raw samples"));
        assert!(svg.contains("thick: cpu_usage_ema (qos)"));
        // Without a smoothed version the raw samples are the line.
        let svg = render_svg(&sample());
        let raw = svg
            .lines()
            .find(|l| l.starts_with(r#"<path class="raw""#))
            .expect("the raw samples are drawn");
        assert_eq!(raw.matches('L').count(), 19);
    }

    #[test]
    fn no_label_covers_data_or_another_label_or_leaves_the_page() {
        for data in [sample(), crowded()] {
            let canvas = draw(&data);
            assert!(canvas.data_areas.len() >= 2);
            for (b, text) in &canvas.text_boxes {
                for area in &canvas.data_areas {
                    assert!(!b.intersects(area), "{text:?} {b:?} covers data {area:?}");
                }
                assert!(
                    b.x >= 0.0 && b.x + b.w <= WIDTH,
                    "{text:?} {b:?} leaves the page"
                );
            }
            for (i, (a, ta)) in canvas.text_boxes.iter().enumerate() {
                for (b, tb) in &canvas.text_boxes[i + 1..] {
                    assert!(!a.intersects(b), "{ta:?} {a:?} overlaps {tb:?} {b:?}");
                }
            }
        }
    }

    /// `SERENITY_PLOT_SAMPLE=/tmp/x.png cargo test … crowded` writes the
    /// crowded picture, to look at.
    #[test]
    fn the_crowded_picture_renders() {
        let svg = render_svg(&crowded());
        assert!(resvg::usvg::Tree::from_str(&svg, &resvg::usvg::Options::default()).is_ok());
        if let Some(path) = std::env::var_os("SERENITY_PLOT_SAMPLE") {
            write(&crowded(), Path::new(&path), PlotFormat::Png).unwrap();
        }
    }

    #[test]
    fn series_are_clipped_to_their_panel() {
        let svg = render_svg(&crowded());
        let mut inside = false;
        let mut drawn = 0;
        for line in svg.lines() {
            if line.starts_with("<g clip-path=") {
                inside = true;
            } else if line == "</g>" {
                inside = false;
            } else if ["raw", "derived", "slack", "idle"]
                .iter()
                .any(|c| line.starts_with(&format!(r#"<path class="{c}""#)))
            {
                assert!(inside, "unclipped series: {}", &line[..60]);
                drawn += 1;
            }
        }
        // CPU: 10 raw + 10 smoothed; IPC: the same; cusum: 10; slack: 2 + idle.
        assert_eq!(drawn, 20 + 20 + 10 + 3);
    }

    #[test]
    fn a_tick_axis_has_whole_ticks_only() {
        let mut data = sample();
        data.x = (0..6).map(f64::from).collect();
        // Whole y ticks too (0, 10, … 40), so any fraction is on the x axis.
        data.executors[0].cpu = vec![Some(40.0); 6];
        data.executors[0].ipc = vec![None; 6];
        data.contention.truncate(6);
        data.interference.truncate(6);
        data.kills.clear();
        let canvas = draw(&data);
        let labels: Vec<&str> = canvas.text_boxes.iter().map(|(_, t)| t.as_str()).collect();
        assert!(labels.contains(&"5"));
        assert!(
            !labels.contains(&"0.5") && !labels.contains(&"2.5"),
            "{labels:?}"
        );
    }

    #[test]
    fn extension_picks_the_format() {
        assert_eq!(
            PlotFormat::from_path(Path::new("a.SVG")).unwrap(),
            PlotFormat::Svg
        );
        assert_eq!(
            PlotFormat::from_path(Path::new("a.png")).unwrap(),
            PlotFormat::Png
        );
        assert!(PlotFormat::from_path(Path::new("a.pdf")).is_err());
    }
}
