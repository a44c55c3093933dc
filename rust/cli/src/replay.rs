//! `serenity replay`: run pipelines over a trace, tick by tick, exactly as
//! the modules would run them on the agent.
//!
//! - Each trace record is one tick (ticks are numbered from 0 in trace order).
//! - When an estimator and a QoS pipeline are given they are linked as in
//!   the shared library: one `ValveControl` is the estimator's valve and the
//!   QoS pipeline's `estimator_valve`, and QoS pipelines run first on each
//!   tick so that a valve they close applies to the estimate of that tick.
//! - A replay cannot kill anything: a killed executor stays in the trace.

use crate::cli::{ReplayArgs, ReplayFormat};
use crate::output::{Summary, Table, TickLine};
use crate::plot::{PlotFormat, PlotRecorder};
use crate::Problems;
use anyhow::Context;
use serenity_core::model::proto::ResourceUsage;
use serenity_core::model::{TraceError, TraceFormat, TraceRecord};
use serenity_core::signal::SignalNames;
use serenity_core::{
    build_pipeline, stream_trace, BuildOptions, Pipeline, PipelineKind, Snapshot, ValveControl,
};
use serenity_sim::truth::Labels;
use std::cell::Cell;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// The file stem of a pipeline file: the pipeline's name in every output.
pub fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// What the replay knows of a pipeline file before building it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileOutline {
    /// The pipeline's name (file stem).
    pub name: String,
    /// Each stage's `name`, or its `type` when unnamed, in order.
    pub stages: Vec<String>,
}

impl FileOutline {
    fn has_stage(&self, selector: &str) -> bool {
        match selector.parse::<usize>() {
            Ok(i) => i >= 1 && i <= self.stages.len(),
            Err(_) => self.stages.iter().any(|s| s == selector),
        }
    }
}

/// The overrides that apply to pipeline `me` among `all`:
/// - `PIPELINE:...` goes to the pipeline whose name is PIPELINE only;
/// - `stage.key=value` goes to every pipeline that has that stage (name,
///   type or 1-based index), or to all of them when none has it (so that
///   the builder reports the unknown stage);
/// - a top-level `key=value` goes to every pipeline.
pub fn overrides_for(me: usize, all: &[FileOutline], sets: &[String]) -> Vec<String> {
    sets.iter()
        .filter_map(|s| {
            if let Some((prefix, rest)) = s.split_once(':') {
                if all.iter().any(|o| o.name == prefix) {
                    return (all[me].name == prefix).then(|| rest.to_owned());
                }
            }
            let lhs = s.split_once('=').map_or(s.as_str(), |(l, _)| l).trim();
            let Some((stage, _)) = lhs.rsplit_once('.') else {
                return Some(s.clone());
            };
            let stage = stage.trim();
            let anyone = all.iter().any(|o| o.has_stage(stage));
            (!anyone || all[me].has_stage(stage)).then(|| s.clone())
        })
        .collect()
}

fn outline(name: String, text: &str) -> FileOutline {
    let stages = toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| t.get("stage")?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|st| {
            st.get("name")
                .or_else(|| st.get("type"))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    FileOutline { name, stages }
}

fn declared_kind(text: &str) -> Option<PipelineKind> {
    let table: toml::Table = toml::from_str(text).ok()?;
    match table.get("kind")?.as_str()? {
        "estimator" => Some(PipelineKind::Estimator),
        "qos" => Some(PipelineKind::Qos),
        _ => None,
    }
}

/// Builds the pipelines of `files` (in order) with their overrides, linking
/// the first estimator's valve to every QoS pipeline. Every problem of every
/// file is collected.
pub fn build_pipelines(files: &[PathBuf], sets: &[String]) -> Result<Vec<Pipeline>, Problems> {
    let names: Vec<String> = files.iter().map(|f| stem(f)).collect();
    let mut problems = Vec::new();
    let mut texts = Vec::new();
    for f in files {
        match std::fs::read_to_string(f) {
            Ok(t) => texts.push(t),
            Err(e) => {
                problems.push(format!("{}: cannot read: {e}", f.display()));
                texts.push(String::new());
            }
        }
    }
    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            problems.push(format!(
                "two pipelines are named `{n}` (file stem); outputs would be ambiguous: rename one file"
            ));
        }
    }
    let kinds: Vec<Option<PipelineKind>> = texts.iter().map(|t| declared_kind(t)).collect();
    let outlines: Vec<FileOutline> = names
        .iter()
        .zip(&texts)
        .map(|(n, t)| outline(n.clone(), t))
        .collect();
    let estimators = kinds
        .iter()
        .filter(|k| **k == Some(PipelineKind::Estimator))
        .count();
    let has_qos = kinds.contains(&Some(PipelineKind::Qos));
    let link = (estimators >= 1 && has_qos).then(|| Arc::new(ValveControl::default()));
    if estimators > 1 && has_qos {
        log::warn!(
            "several estimators were given; only the first is linked to the QoS pipeline(s)"
        );
    }
    let mut first_estimator = true;
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let mut options = BuildOptions::default();
        if let Some(valve) = &link {
            match kinds[i] {
                Some(PipelineKind::Estimator) if first_estimator => {
                    first_estimator = false;
                    options.valve = Some(valve.clone());
                }
                Some(PipelineKind::Qos) => options.estimator_valve = Some(valve.clone()),
                _ => {}
            }
        }
        let overrides = overrides_for(i, &outlines, sets);
        match build_pipeline(&f.display().to_string(), &texts[i], &overrides, options) {
            Ok(p) => out.push(p),
            Err(e) => problems.extend(e.0.iter().map(|e| e.to_string())),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Problems(problems))
    }
}

/// Reads a trace file (any layout [`stream_trace`] recognises) one record at
/// a time, handing each to `each` as soon as it is decoded; names the file
/// and the first bad record, line and field on failure (bytes that are not
/// UTF-8 with their offset). An error of `each` stops the reading and is
/// returned as it is. Memory does not grow with the trace.
pub fn stream_trace_file(
    path: &Path,
    each: impl FnMut(TraceRecord<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<(TraceFormat, usize)> {
    stream_trace_counted(path, &Cell::new(0), each)
}

/// [`stream_trace_file`], counting in `read` the bytes read so far.
fn stream_trace_counted(
    path: &Path,
    read: &Cell<u64>,
    each: impl FnMut(TraceRecord<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<(TraceFormat, usize)> {
    let cannot = || format!("cannot read trace {}", path.display());
    let file = std::fs::File::open(path).with_context(cannot)?;
    let reader = std::io::BufReader::with_capacity(1 << 16, Counted { inner: file, read });
    match stream_trace(reader, each) {
        Ok(done) => Ok(done),
        Err(TraceError::Io(e)) => Err(anyhow::Error::new(e).context(cannot())),
        Err(TraceError::Decode(e)) => Err(anyhow::anyhow!("trace {}: {e}", path.display())),
        Err(TraceError::Stopped(e)) => Err(e),
    }
}

/// A reader that counts the bytes it passes on (for the progress bar).
struct Counted<'a, R> {
    inner: R,
    read: &'a Cell<u64>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// Runs every pipeline on one record at a time, QoS pipelines first on each
/// tick (so that a valve they close applies to the estimate of that tick).
pub struct Ticker {
    order: Vec<usize>,
    meta: Vec<(String, SignalNames)>,
}

impl Ticker {
    /// The order and names of `pipelines` (fixed once built).
    pub fn new(pipelines: &[Pipeline]) -> Ticker {
        let mut order: Vec<usize> = (0..pipelines.len()).collect();
        order.sort_by_key(|&i| match pipelines[i].kind() {
            PipelineKind::Qos => 0,
            PipelineKind::Estimator => 1,
        });
        // Names and signal tables are fixed once built; copy them so that the
        // lines can be built while each tick's outcome borrows its pipeline.
        let meta = pipelines
            .iter()
            .map(|p| (p.name().to_owned(), p.signals().clone()))
            .collect();
        Ticker { order, meta }
    }

    /// Runs tick `tick` on `usage`: its snapshot and one line per pipeline
    /// (in `pipelines` order).
    pub fn tick(
        &self,
        pipelines: &mut [Pipeline],
        tick: u64,
        usage: ResourceUsage,
    ) -> (Snapshot, Vec<TickLine>) {
        let snapshot = Snapshot::new(usage);
        let mut lines: Vec<Option<TickLine>> = vec![None; pipelines.len()];
        for &i in &self.order {
            let outcome = pipelines[i].tick(&snapshot);
            let (name, signals) = &self.meta[i];
            lines[i] = Some(TickLine::new(tick, &snapshot, name, signals, &outcome));
        }
        (snapshot, lines.into_iter().flatten().collect())
    }
}

/// Runs every pipeline over every record (ticks numbered from 0), QoS
/// pipelines first on each tick, and hands each tick's lines (in
/// `pipelines` order) to `sink`. `serenity replay` does the same one record
/// at a time as it reads the trace ([`Ticker`]).
pub fn run_ticks(
    pipelines: &mut [Pipeline],
    usages: impl IntoIterator<Item = ResourceUsage>,
    mut sink: impl FnMut(u64, &Snapshot, &[Pipeline], Vec<TickLine>),
) {
    let ticker = Ticker::new(pipelines);
    for (tick, usage) in usages.into_iter().enumerate() {
        let (snapshot, lines) = ticker.tick(pipelines, tick as u64, usage);
        sink(tick as u64, &snapshot, pipelines, lines);
    }
}

/// Runs `serenity replay`, its output on stdout.
pub fn run(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    replay_to(args, std::io::BufWriter::new(stdout.lock()))
}

/// Runs `serenity replay` with its output (table or JSON Lines) written to
/// `out`. The trace is read one record at a time: each record is decoded,
/// run through the pipelines and written (JSON Lines) or kept as a table row
/// before the next is read, so memory does not grow with the trace (only the
/// table rows and, with `--plot`, the plotted series do, not the snapshots).
pub fn replay_to(args: &ReplayArgs, mut out: impl Write) -> anyhow::Result<ExitCode> {
    // The plot is written last: check its path first, so that a long replay
    // does not end in an error.
    let plot_format = match &args.plot {
        Some(p) => Some(check_plot_path(p)?),
        None => None,
    };
    let mut pipelines = build_pipelines(&args.pipelines, &args.sets)?;
    let ticker = Ticker::new(&pipelines);
    let size = std::fs::metadata(&args.trace).map_or(0, |m| m.len());
    let mut progress: Option<indicatif::ProgressBar> = None;
    let names: Vec<String> = pipelines.iter().map(|p| p.name().to_owned()).collect();
    let mut summaries: Vec<Summary> = names
        .iter()
        .map(|n| Summary {
            pipeline: n.clone(),
            ..Default::default()
        })
        .collect();
    let mut header = vec!["tick".to_string(), "time (s)".to_string()];
    header.extend(names.iter().cloned());
    let mut table = Table::new(header);
    let mut t0: Option<f64> = None;
    let mut recorder = args.plot.as_ref().map(|_| PlotRecorder::default());
    // The plot's ground truth (simulated traces), read from each record's line.
    let mut labels = args.plot.as_ref().map(|_| Labels::for_plot());
    let mut labels_error: Option<String> = None;
    let mut write_error: Option<std::io::Error> = None;
    let read = Cell::new(0u64);
    let streamed = stream_trace_counted(&args.trace, &read, |record| {
        let tick = record.index as u64;
        if let (Some(l), Some(text), None) = (labels.as_mut(), record.text, &labels_error) {
            if let Err(e) = l.push_line(record.line.unwrap_or_default(), text) {
                labels_error = Some(e);
            }
        }
        let (snapshot, lines) = ticker.tick(&mut pipelines, tick, record.usage);
        if tick + 1 == PROGRESS_AFTER_TICKS {
            progress = progress_bar(size);
        }
        if let Some(p) = &progress {
            p.set_position(read.get());
        }
        if let Some(r) = recorder.as_mut() {
            r.record(tick, &snapshot, &pipelines, &lines);
        }
        for (s, l) in summaries.iter_mut().zip(&lines) {
            s.add(l);
        }
        match args.output {
            ReplayFormat::Jsonl => {
                for l in &lines {
                    let res = serde_json::to_writer(&mut out, l)
                        .map_err(std::io::Error::other)
                        .and_then(|_| out.write_all(b"\n"));
                    if let Err(e) = res {
                        // Nothing more can be written: stop reading.
                        write_error = Some(e);
                        anyhow::bail!("the replay output cannot be written");
                    }
                }
            }
            ReplayFormat::Table => {
                if t0.is_none() {
                    t0 = snapshot.timestamp;
                }
                let time = match (snapshot.timestamp, t0) {
                    (Some(t), Some(t0)) => format!("{:.1}", t - t0),
                    _ => "-".into(),
                };
                let mut row = vec![tick.to_string(), time];
                row.extend(lines.iter().map(TickLine::cell));
                table.push(row);
            }
        }
        Ok(())
    });
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    if let Some(e) = write_error {
        // A closed pipe (e.g. `| head`) is not worth a complaint.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("cannot write the replay output");
        }
        return Ok(ExitCode::SUCCESS);
    }
    streamed?;
    if args.output == ReplayFormat::Table {
        let _ = out.write_all(table.render().as_bytes());
        let _ = writeln!(out);
        for s in &summaries {
            let _ = writeln!(out, "{}", s.line());
        }
    }
    if let Err(e) = out.flush() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("cannot write the replay output");
        }
    }
    if let (Some(path), Some(format), Some(recorder)) = (&args.plot, plot_format, recorder) {
        let truth = match labels_error {
            Some(e) => {
                log::warn!("ignoring the trace's ground truth: {e}");
                Vec::new()
            }
            None => labels.map(|l| l.truth).unwrap_or_default(),
        };
        let trace_name = args
            .trace
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let data = recorder.finish(&trace_name, &names, &truth);
        crate::plot::write(&data, path, format)?;
        // On stderr (stdout is the replay's output); `-q` keeps only errors.
        if log::log_enabled!(log::Level::Warn) {
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks before the replay that `--plot PATH` can be written: a known
/// extension, an existing parent directory, and a file that can be opened
/// for writing. An existing file is left as it is; a new one is created and
/// removed again.
pub fn check_plot_path(path: &Path) -> anyhow::Result<PlotFormat> {
    let format = PlotFormat::from_path(path)?;
    let shown = path.display();
    if path.is_dir() {
        anyhow::bail!("--plot {shown}: is a directory; give a file name ending in .svg or .png");
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        anyhow::bail!(
            "--plot {shown}: the directory {} does not exist; create it or choose another path",
            parent.display()
        );
    }
    let cannot = || format!("--plot {shown}: cannot write there");
    if path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(cannot)?;
    } else {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(cannot)?;
        std::fs::remove_file(path).with_context(cannot)?;
    }
    Ok(format)
}

/// The progress bar appears once this many ticks have run (short replays
/// go without).
const PROGRESS_AFTER_TICKS: u64 = 1000;

/// A progress bar on stderr over the trace's `size` bytes, or none when
/// stderr is not a terminal.
fn progress_bar(size: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(size);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} replay {bar:40} {bytes}/{total_bytes} of the trace (eta {eta})",
    ) {
        bar.set_style(style);
    }
    Some(bar)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outlines() -> Vec<FileOutline> {
        vec![
            outline(
                "estimator".into(),
                "kind = \"estimator\"\n[[stage]]\ntype = \"valve\"\n[[stage]]\ntype = \"slack\"\n",
            ),
            outline(
                "qos".into(),
                "kind = \"qos\"\n[[stage]]\ntype = \"ema\"\nname = \"ipc_ema\"\n",
            ),
        ]
    }

    #[test]
    fn prefixed_overrides_go_to_their_pipeline_only() {
        let o = outlines();
        let sets = vec![
            "qos:ipc_ema.alpha=0.5".to_string(),
            "estimator:valve.open=false".to_string(),
        ];
        assert_eq!(
            overrides_for(1, &o, &sets),
            vec!["ipc_ema.alpha=0.5".to_string()]
        );
        assert_eq!(
            overrides_for(0, &o, &sets),
            vec!["valve.open=false".to_string()]
        );
    }

    #[test]
    fn unprefixed_stage_overrides_go_to_the_pipelines_that_have_the_stage() {
        let o = outlines();
        let sets = vec![
            "slack.fraction=0.7".to_string(),
            "ipc_ema.alpha=0.3".to_string(),
            "2.epsilon_cpus=0".to_string(),
            "interval_secs=5".to_string(),
            "nowhere.x=1".to_string(),
        ];
        assert_eq!(
            overrides_for(0, &o, &sets),
            vec![
                "slack.fraction=0.7",
                "2.epsilon_cpus=0",
                "interval_secs=5",
                "nowhere.x=1"
            ]
        );
        assert_eq!(
            overrides_for(1, &o, &sets),
            vec!["ipc_ema.alpha=0.3", "interval_secs=5", "nowhere.x=1"]
        );
    }

    #[test]
    fn kind_is_read_before_building() {
        assert_eq!(declared_kind("kind = \"qos\"\n"), Some(PipelineKind::Qos));
        assert_eq!(declared_kind("kind = 3"), None);
        assert_eq!(declared_kind("not toml ["), None);
    }
}
