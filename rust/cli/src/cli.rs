//! Command-line definitions (clap derive). Every subcommand carries an
//! example in its `--help`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The `--help` heading of the options every subcommand takes.
pub const GLOBAL: &str = "Global options";

/// Serenity in Rust: check, replay, record, simulate, score and bench the
/// pipelines of the Mesos oversubscription modules.
#[derive(Debug, Parser)]
#[command(
    name = "serenity",
    version,
    about,
    propagate_version = true,
    term_width = 0
)]
#[command(after_help = "Examples:
  serenity check pipelines/*.toml
  serenity replay --pipeline pipelines/estimator.toml --pipeline pipelines/qos.toml tests/data/demo-trace.jsonl --plot demo.svg
  serenity simulate --scenario tests/scenarios/ipc-step-drop.toml --out /tmp/trace.jsonl")]
pub struct Cli {
    /// More log output on stderr (-v: info, -vv: debug, -vvv: trace).
    // A heading of their own puts the global options after each
    // subcommand's own options in its `--help`.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate pipeline TOML files and print every problem.
    #[command(after_help = "Example:
  serenity check pipelines/estimator.toml pipelines/qos.toml

Prints `ok: FILE (kind, N stages)` for each valid file and one line per
problem (file:line:column: stage: key = value: message) otherwise.
Exits 1 if any file has a problem.")]
    Check(CheckArgs),
    /// Run pipelines over a recorded or simulated usage trace.
    #[command(after_help = "Examples:
  serenity replay --pipeline pipelines/estimator.toml tests/data/demo-trace.jsonl
  serenity replay --pipeline pipelines/estimator.toml --pipeline pipelines/qos.toml \\
      --set slack.fraction=0.7 --output jsonl tests/data/demo-trace.jsonl > result.jsonl
  serenity replay -p pipelines/estimator.toml -p pipelines/qos.toml --set estimator:slack.fraction=0.5 \\
      tests/data/demo-trace.jsonl --plot out.png

The trace may be an original fixture file ({\"resource_usage\": [...]}), one
ResourceUsage object, or JSON Lines of ResourceUsage (what `serenity record`
and `serenity simulate` write). See docs/replay.md for the JSON Lines output.")]
    Replay(ReplayArgs),
    /// Poll a Mesos agent's HTTP endpoints and write a replayable trace.
    #[command(after_help = "Example:
  serenity record --agent http://10.0.0.5:5051 --interval 1s --duration 10m --out agent.jsonl

Polls /monitor/statistics and /state, merges them into one ResourceUsage
record per poll (JSON Lines) and flushes after each record. Ctrl-C stops
cleanly. Failed polls are logged and retried with exponential backoff
(capped at 8 × the interval).")]
    Record(RecordArgs),
    /// Generate a synthetic, labelled usage trace from a scenario file.
    #[command(after_help = "Examples:
  serenity simulate --scenario tests/scenarios/ipc-step-drop.toml --out /tmp/ipc-step.jsonl
  serenity simulate --scenario tests/scenarios/ipc-step-drop.toml \\
      -p pipelines/estimator.toml -p pipelines/qos.toml --out /tmp/closed.jsonl
  serenity score /tmp/closed.jsonl

Each record is a ResourceUsage (JSON Lines) plus a `truth` key with the
ground truth (interference, onset, idle cpus, aggressors); replay ignores it.
With --pipeline the simulation is closed loop and each record also has
`actions`: what each pipeline did on that tick.")]
    Simulate(SimulateArgs),
    /// Score closed-loop simulations, or a replay of a simulated trace.
    #[command(after_help = "Examples:
  serenity simulate --scenario tests/scenarios/ipc-step-drop.toml -p pipelines/qos.toml --out c.jsonl
  serenity score c.jsonl                      # closed loop: the trace holds the actions
  serenity score --output markdown --aggregate a.jsonl b.jsonl
  serenity simulate --scenario tests/scenarios/ipc-step-drop.toml --out t.jsonl
  serenity replay --pipeline pipelines/qos.toml --output jsonl t.jsonl > r.jsonl
  serenity score t.jsonl --result r.jsonl     # open loop (flattering rules, docs/replay.md)

Reports detection delay, false kills per 10 000 ticks, missed events and
slack reclaimed versus the true idle capacity (docs/benchmarks.md).")]
    Score(ScoreArgs),
    /// Measure the per-tick cost of decoding and running pipelines.
    #[command(after_help = "Examples:
  serenity bench --executors 100 --ticks 2000
  serenity bench --executors 1000 --ticks 500 --pipeline pipelines/estimator.toml --output json

Without --pipeline, a small built-in estimator and QoS pipeline are used.")]
    Bench(BenchArgs),
    /// Run the standalone node agent on this Linux host (docs/agent.md).
    #[cfg(target_os = "linux")]
    #[command(after_help = "Examples:
  serenity agent --config agent.toml --once                 # check the configuration and permissions
  sudo serenity agent --config /etc/serenity/agent.toml     # dry run: corrections are only logged
  sudo serenity agent --config /etc/serenity/agent.toml --enforce

SIGINT or SIGTERM stops it and restores what it changed.")]
    Agent(serenity_agent::AgentArgs),
    /// Serve scheduler hints from many nodes' summaries (docs/hints.md).
    #[cfg(target_os = "linux")]
    #[command(after_help = "Example:
  serenity hints --config /etc/serenity/hints.toml

Polls every configured node agent's GET /summary and answers
kube-scheduler's extender calls (POST /filter, POST /prioritize), a JSON
ranking for Mesos frameworks (GET|POST /ranking) and GET /metrics.
SIGINT or SIGTERM stops it.")]
    Hints(serenity_hints::HintsArgs),
}

/// Output formats of `replay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReplayFormat {
    /// A readable table, one row per tick.
    Table,
    /// One JSON object per tick and pipeline (docs/replay.md).
    Jsonl,
}

/// Output formats of `score` and `bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A readable table.
    Table,
    /// One JSON document.
    Json,
    /// Markdown table rows (for docs/benchmarks.md).
    Markdown,
}

/// `serenity check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Pipeline files to validate.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Overrides applied while checking (`stage.key=value` or `key=value`).
    #[arg(long = "set", value_name = "STAGE.KEY=VALUE")]
    pub sets: Vec<String>,
}

/// `serenity replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A pipeline file (repeat for several; an estimator and a QoS pipeline
    /// are linked: the QoS pipeline can close the estimator's valve).
    #[arg(long = "pipeline", short = 'p', required = true, value_name = "FILE")]
    pub pipelines: Vec<PathBuf>,
    /// Override a parameter: `stage.key=value` for every pipeline that has the
    /// stage, `key=value` for every pipeline, or `PIPELINE:stage.key=value` for
    /// the pipeline whose file stem is PIPELINE.
    #[arg(long = "set", value_name = "[PIPELINE:]STAGE.KEY=VALUE")]
    pub sets: Vec<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = ReplayFormat::Table)]
    pub output: ReplayFormat,
    /// Draw signals, slack, contentions and kills to this file (.svg or .png).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// The trace to replay.
    #[arg(value_name = "TRACE")]
    pub trace: PathBuf,
}

/// `serenity record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The agent's base URL, e.g. http://127.0.0.1:5051.
    #[arg(long, value_name = "URL")]
    pub agent: String,
    /// Time between polls (e.g. 500ms, 1s, 2m).
    #[arg(long, default_value = "1s", value_parser = crate::duration::parse)]
    pub interval: std::time::Duration,
    /// Stop after this long (e.g. 30s, 10m, 1h); default: until Ctrl-C.
    #[arg(long, value_parser = crate::duration::parse)]
    pub duration: Option<std::time::Duration>,
    /// HTTP timeout per request (default: the interval, at least 1s).
    #[arg(long, value_parser = crate::duration::parse)]
    pub timeout: Option<std::time::Duration>,
    /// The trace file to write (JSON Lines; truncated first).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `serenity simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The scenario file (TOML; see tests/scenarios/).
    #[arg(long, value_name = "FILE")]
    pub scenario: PathBuf,
    /// Closed loop: run this pipeline inside the simulation (repeat; an
    /// estimator and a QoS pipeline are linked as on the agent). Its kills
    /// remove executors and its slack admits best-effort work.
    #[arg(long = "pipeline", short = 'p', value_name = "FILE")]
    pub pipelines: Vec<PathBuf>,
    /// Override a pipeline parameter, as for `replay`.
    #[arg(long = "set", value_name = "[PIPELINE:]STAGE.KEY=VALUE")]
    pub sets: Vec<String>,
    /// The trace file to write (JSON Lines).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Which pipelines' rows `serenity score --output markdown` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScoreKind {
    /// QoS pipelines (detections and kills).
    Qos,
    /// Estimators (slack against idle capacity).
    Estimator,
}

impl ScoreKind {
    /// The word used in scores.
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreKind::Qos => "qos",
            ScoreKind::Estimator => "estimator",
        }
    }
}

/// `serenity score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Simulated traces (with `truth`): closed-loop ones carry the actions;
    /// with --result, exactly one open-loop trace.
    #[arg(value_name = "TRACE", required = true)]
    pub traces: Vec<PathBuf>,
    /// Open loop: the replay output (`serenity replay --output jsonl`) of TRACE.
    #[arg(long, value_name = "RESULT.jsonl")]
    pub result: Option<PathBuf>,
    /// Grace after an episode's end within which a kill still detects it,
    /// as a fraction of the episode's length.
    #[arg(long, default_value_t = 0.25)]
    pub grace_fraction: f64,
    /// Longest grace, ticks (open loop: the grace itself).
    #[arg(long, default_value_t = 10)]
    pub grace_ticks: usize,
    /// Ticks an estimate is in force (over-lending is judged against
    /// production's need over this period).
    #[arg(long, default_value_t = 1)]
    pub period_ticks: usize,
    /// Also print one aggregate row per pipeline over all TRACEs.
    #[arg(long)]
    pub aggregate: bool,
    /// A label for the first column (default: each trace's file stem).
    #[arg(long)]
    pub label: Option<String>,
    /// With --output markdown: also print the table header (of --kind;
    /// default the QoS layout).
    #[arg(long)]
    pub header: bool,
    /// With --output markdown: only rows of this kind of pipeline.
    #[arg(long, value_enum)]
    pub kind: Option<ScoreKind>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub output: ReportFormat,
}

/// `serenity bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Executors per snapshot.
    #[arg(long, default_value_t = 100)]
    pub executors: usize,
    /// Ticks to run.
    #[arg(long, default_value_t = 1000)]
    pub ticks: usize,
    /// Pipelines to run (default: a built-in estimator and QoS pipeline).
    #[arg(long = "pipeline", short = 'p', value_name = "FILE")]
    pub pipelines: Vec<PathBuf>,
    /// Share of executors that are best-effort (revocable).
    #[arg(long, default_value_t = 0.3)]
    pub best_effort_share: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub output: ReportFormat,
}
