//! `serenity replay --plot`: one picture of a replay, as SVG (written
//! directly) or PNG (the same SVG rasterised with resvg/tiny-skia).
//!
//! Stacked panels share the time axis: CPU usage per executor (raw, thin;
//! smoothed signals from the pipelines, thick), IPC when the trace has perf
//! counters, other derived signals, and the estimators' slack (with the true
//! idle capacity of simulated traces). Contention spans are shaded on every
//! panel, kills are dashed vertical lines labelled with the executor, and the
//! ground-truth interference of simulated traces is an orange bar on top.

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

/// A kill decided by a QoS pipeline (the first correction naming an executor).
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
    /// Kills.
    pub kills: Vec<Kill>,
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
    killed: HashSet<(String, String)>,
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
                if self
                    .killed
                    .insert((line.pipeline.clone(), c.executor_id.clone()))
                {
                    self.kills.push(Kill {
                        tick,
                        executor: c.executor_id.clone(),
                        pipeline: line.pipeline.clone(),
                    });
                }
            }
        }
        self.contention.push(any_contention);
    }

    /// The data of the picture. At most 10 executors are drawn: those killed,
    /// then the busiest; the subtitle says when some are left out.
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
        }
    }
}

const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
    "#7f7f7f", "#d62728",
];
const FONT: &str = "DejaVu Sans, Arial, Helvetica, sans-serif";
const WIDTH: f64 = 1280.0;
const LEFT: f64 = 80.0;
const RIGHT_LEGEND: f64 = 270.0;
const TOP: f64 = 78.0;
const PANEL_H: f64 = 210.0;
const PANEL_GAP: f64 = 62.0;
const MAX_POINTS: usize = 2000;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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

struct Line<'a> {
    values: &'a [Option<f64>],
    color: &'a str,
    width: f64,
    opacity: f64,
    dashed: bool,
}

struct LegendEntry {
    color: String,
    label: String,
    dashed: bool,
    width: f64,
    boxed: bool,
}

struct Panel<'a> {
    title: String,
    unit: String,
    lines: Vec<Line<'a>>,
    legend: Vec<LegendEntry>,
}

impl Panel<'_> {
    fn y_max(&self) -> f64 {
        let m = self
            .lines
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

fn executor_legend(executors: &[ExecutorSeries]) -> Vec<LegendEntry> {
    executors
        .iter()
        .enumerate()
        .map(|(i, e)| LegendEntry {
            color: PALETTE[i % PALETTE.len()].to_string(),
            label: format!(
                "{} ({})",
                e.label,
                if e.revocable {
                    "best-effort"
                } else {
                    "production"
                }
            ),
            dashed: e.revocable,
            width: 2.0,
            boxed: false,
        })
        .collect()
}

fn style_legend(derived: &[&DerivedSeries]) -> Vec<LegendEntry> {
    let mut out = vec![LegendEntry {
        color: "#555".into(),
        label: "thin: raw sample".into(),
        dashed: false,
        width: 1.0,
        boxed: false,
    }];
    let mut seen = Vec::new();
    for d in derived {
        let label = format!("thick: {} ({})", d.signal, d.pipeline);
        if !seen.contains(&label) {
            seen.push(label.clone());
            out.push(LegendEntry {
                color: "#555".into(),
                label,
                dashed: false,
                width: 3.0,
                boxed: false,
            });
        }
    }
    out
}

/// A panel of one per-executor signal: each executor's raw samples as thin
/// lines (fainter when smoothed versions exist) and the pipelines' derived
/// versions of it as thick lines in the executor's colour; best-effort
/// executors dashed.
fn signal_panel<'a>(
    data: &'a PlotData,
    raw: impl Fn(&'a ExecutorSeries) -> &'a [Option<f64>],
    derived: Vec<&'a DerivedSeries>,
    title: &str,
    unit: &str,
) -> Panel<'a> {
    let color = |i: usize| PALETTE[i % PALETTE.len()];
    let mut lines: Vec<Line<'a>> = data
        .executors
        .iter()
        .enumerate()
        .map(|(i, e)| Line {
            values: raw(e),
            color: color(i),
            width: 1.2,
            opacity: if derived.is_empty() { 0.9 } else { 0.45 },
            dashed: e.revocable,
        })
        .collect();
    lines.extend(derived.iter().map(|d| Line {
        values: &d.values,
        color: color(d.executor),
        width: 2.6,
        opacity: 0.95,
        dashed: data.executors[d.executor].revocable,
    }));
    let mut legend = executor_legend(&data.executors);
    legend.extend(style_legend(&derived));
    Panel {
        title: title.into(),
        unit: unit.into(),
        lines,
        legend,
    }
}

/// Renders the picture as an SVG document.
pub fn render_svg(data: &PlotData) -> String {
    let color = |i: usize| PALETTE[i % PALETTE.len()];
    let derived_in = |pred: &dyn Fn(&str) -> bool| -> Vec<&DerivedSeries> {
        data.derived.iter().filter(|d| pred(&d.signal)).collect()
    };
    let is_cpu = |s: &str| s.starts_with("cpu");
    let is_ipc = |s: &str| s.starts_with("ipc");
    let mut panels: Vec<Panel<'_>> = Vec::new();

    // CPU usage.
    panels.push(signal_panel(
        data,
        |e| &e.cpu,
        derived_in(&|s| is_cpu(s)),
        "CPU usage per executor",
        "CPUs",
    ));

    // IPC.
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

    // Other derived signals.
    let other = derived_in(&|s| !is_cpu(s) && !is_ipc(s));
    if !other.is_empty() {
        let lines = other
            .iter()
            .map(|d| Line {
                values: &d.values,
                color: color(d.executor),
                width: 2.0,
                opacity: 0.9,
                dashed: data.executors[d.executor].revocable,
            })
            .collect();
        let mut names: Vec<String> = other
            .iter()
            .map(|d| format!("{} ({})", d.signal, d.pipeline))
            .collect();
        names.dedup();
        panels.push(Panel {
            title: format!("Other derived signals: {}", names.join(", ")),
            unit: "signal units".into(),
            lines,
            legend: Vec::new(),
        });
    }

    // Slack.
    if !data.slack.is_empty() {
        let mut lines = Vec::new();
        let mut legend = Vec::new();
        for (i, (name, v)) in data.slack.iter().enumerate() {
            let c = PALETTE[(i + 2) % PALETTE.len()];
            lines.push(Line {
                values: v,
                color: c,
                width: 2.4,
                opacity: 0.95,
                dashed: false,
            });
            legend.push(LegendEntry {
                color: c.into(),
                label: format!("slack advertised ({name})"),
                dashed: false,
                width: 2.4,
                boxed: false,
            });
        }
        if let Some(idle) = &data.idle {
            lines.push(Line {
                values: idle,
                color: "#333333",
                width: 1.6,
                opacity: 0.8,
                dashed: true,
            });
            legend.push(LegendEntry {
                color: "#333333".into(),
                label: "true idle capacity".into(),
                dashed: true,
                width: 1.6,
                boxed: false,
            });
        }
        panels.push(Panel {
            title: "Slack (revocable CPUs the estimator advertises)".into(),
            unit: "CPUs".into(),
            lines,
            legend,
        });
    }

    let plot_w = WIDTH - LEFT - RIGHT_LEGEND;
    let height = TOP + panels.len() as f64 * (PANEL_H + PANEL_GAP) + 70.0;
    let n = data.x.len();
    let (x0, x1) = match (data.x.first(), data.x.last()) {
        (Some(a), Some(b)) if b > a => (*a, *b),
        (Some(a), _) => (*a, *a + 1.0),
        _ => (0.0, 1.0),
    };
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * plot_w;
    // A tick's band spans to the next tick (or one median step at the end).
    let step = if n > 1 {
        (x1 - x0) / (n - 1) as f64
    } else {
        1.0
    };
    let band_end = |i: usize| data.x.get(i + 1).copied().unwrap_or(data.x[i] + step);

    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="{FONT}">
<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>
<text x="{LEFT}" y="30" font-size="20" font-weight="bold" fill="#111">{}</text>
<text x="{LEFT}" y="54" font-size="13" fill="#444">{}</text>
"##,
        esc(&data.title),
        esc(&data.subtitle)
    );

    let spans = |flags: &[bool]| -> Vec<(usize, usize)> {
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
    };
    let contention_spans = spans(&data.contention);
    let interference_spans = spans(&data.interference);

    for (pi, panel) in panels.iter().enumerate() {
        let top = TOP + pi as f64 * (PANEL_H + PANEL_GAP) + 22.0;
        let bottom = top + PANEL_H;
        let y_max = panel.y_max();
        let sy = |y: f64| bottom - (y / y_max).clamp(-0.05, 1.05) * PANEL_H;
        let _ = writeln!(
            s,
            r##"<text x="{LEFT}" y="{:.1}" font-size="15" font-weight="bold" fill="#222">{}</text>"##,
            top - 8.0,
            esc(&panel.title)
        );
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{top:.1}" width="{plot_w:.1}" height="{PANEL_H}" fill="#fafafa" stroke="#999" stroke-width="1"/>"##
        );
        for (a, b) in &contention_spans {
            let xa = sx(data.x[*a]);
            let xb = sx(band_end(*b)).min(LEFT + plot_w);
            let _ = writeln!(
                s,
                r##"<rect x="{xa:.1}" y="{top:.1}" width="{:.1}" height="{PANEL_H}" fill="#d62728" fill-opacity="0.13"/>"##,
                (xb - xa).max(1.0)
            );
        }
        for (a, b) in &interference_spans {
            let xa = sx(data.x[*a]);
            let xb = sx(band_end(*b)).min(LEFT + plot_w);
            let _ = writeln!(
                s,
                r##"<rect x="{xa:.1}" y="{top:.1}" width="{:.1}" height="6" fill="#ff7f0e" fill-opacity="0.85"/>"##,
                (xb - xa).max(1.0)
            );
        }
        // Grid and y axis.
        for v in nice_ticks(0.0, y_max, 5) {
            let y = sy(v);
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd" stroke-width="1"/><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="#333">{}</text>"##,
                LEFT + plot_w,
                LEFT - 6.0,
                y + 4.0,
                fmt_tick(v)
            );
        }
        let _ = writeln!(
            s,
            r##"<text transform="translate({:.1},{:.1}) rotate(-90)" font-size="12" text-anchor="middle" fill="#333">{}</text>"##,
            LEFT - 52.0,
            (top + bottom) / 2.0,
            esc(&panel.unit)
        );
        // X axis.
        for v in nice_ticks(x0, x1, 10) {
            let x = sx(v);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{bottom:.1}" x2="{x:.1}" y2="{:.1}" stroke="#999" stroke-width="1"/><text x="{x:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="#333">{}</text>"##,
                bottom + 5.0,
                bottom + 19.0,
                fmt_tick(v)
            );
        }
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="#333">{}</text>"##,
            LEFT + plot_w / 2.0,
            bottom + 36.0,
            esc(&data.x_label)
        );
        // Series.
        let stride = n.div_ceil(MAX_POINTS).max(1);
        for line in &panel.lines {
            let mut path = String::new();
            let mut pen_down = false;
            for (i, v) in line.values.iter().enumerate().step_by(stride) {
                match v {
                    Some(v) if v.is_finite() => {
                        let _ = write!(
                            path,
                            "{}{:.1},{:.1} ",
                            if pen_down { "L" } else { "M" },
                            sx(data.x[i]),
                            sy(*v)
                        );
                        pen_down = true;
                    }
                    _ => pen_down = false,
                }
            }
            if path.is_empty() {
                continue;
            }
            let dash = if line.dashed {
                r#" stroke-dasharray="7,4""#
            } else {
                ""
            };
            let _ = writeln!(
                s,
                r##"<path d="{}" fill="none" stroke="{}" stroke-width="{}" stroke-opacity="{}" stroke-linejoin="round"{dash}/>"##,
                path.trim_end(),
                line.color,
                line.width,
                line.opacity
            );
        }
        // Kills.
        for (k, kill) in data.kills.iter().enumerate() {
            let Some(xv) = data.x.get(kill.tick) else {
                continue;
            };
            let x = sx(*xv);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#8b0000" stroke-width="1.5" stroke-dasharray="4,3"/>"##
            );
            if pi == 0 {
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#8b0000">✕ kill {}</text>"##,
                    x + 3.0,
                    top + 20.0 + (k % 4) as f64 * 13.0,
                    esc(&kill.executor)
                );
            }
        }
        // Legend.
        let lx = LEFT + plot_w + 18.0;
        let mut ly = top + 10.0;
        let mut entries: Vec<&LegendEntry> = panel.legend.iter().collect();
        let common = common_legend(data);
        if pi == 0 {
            entries.extend(common.iter());
        }
        for e in entries {
            if ly > bottom + 30.0 {
                break;
            }
            if e.boxed {
                let _ = writeln!(
                    s,
                    r##"<rect x="{lx:.1}" y="{:.1}" width="26" height="10" fill="{}" fill-opacity="0.35"/>"##,
                    ly - 8.0,
                    e.color
                );
            } else {
                let dash = if e.dashed {
                    r#" stroke-dasharray="6,3""#
                } else {
                    ""
                };
                let _ = writeln!(
                    s,
                    r##"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="{}"{dash}/>"##,
                    ly - 3.0,
                    lx + 26.0,
                    ly - 3.0,
                    e.color,
                    e.width
                );
            }
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{ly:.1}" font-size="12" fill="#222">{}</text>"##,
                lx + 32.0,
                esc(&e.label)
            );
            ly += 17.0;
        }
    }
    s.push_str("</svg>\n");
    s
}

fn common_legend(data: &PlotData) -> Vec<LegendEntry> {
    let mut out = Vec::new();
    if data.contention.iter().any(|c| *c) {
        out.push(LegendEntry {
            color: "#d62728".into(),
            label: "contention raised".into(),
            dashed: false,
            width: 1.0,
            boxed: true,
        });
    }
    if !data.kills.is_empty() {
        out.push(LegendEntry {
            color: "#8b0000".into(),
            label: "kill (first correction)".into(),
            dashed: true,
            width: 1.5,
            boxed: false,
        });
    }
    if data.interference.iter().any(|c| *c) {
        out.push(LegendEntry {
            color: "#ff7f0e".into(),
            label: "true interference (top bar)".into(),
            dashed: false,
            width: 1.0,
            boxed: true,
        });
    }
    out
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
            kills: vec![Kill {
                tick: 7,
                executor: "be-1".into(),
                pipeline: "qos".into(),
            }],
            ..Default::default()
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
        assert!(svg.contains("✕ kill be-1"));
        assert!(svg.contains(r##"fill="#d62728" fill-opacity="0.13""##));
        assert!(svg.contains("contention raised"));
        // No IPC values: no IPC panel.
        assert!(!svg.contains("IPC per executor"));
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
