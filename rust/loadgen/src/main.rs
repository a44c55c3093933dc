//! The `serenity-loadgen` command: parses the flags and runs the load.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serenity_loadgen::load::{run, Config};

/// An open-loop memcached load generator: Poisson arrivals at a fixed rate,
/// latency from the scheduled send time, per-window quantiles as JSON lines
/// and a Prometheus text endpoint.
#[derive(Debug, Parser)]
#[command(name = "serenity-loadgen", version)]
struct Cli {
    /// The memcached server (text protocol).
    #[arg(long, default_value = "127.0.0.1:11211")]
    server: String,
    /// Requests per second over all connections.
    #[arg(long, default_value_t = 3000.0)]
    rate: f64,
    /// How long to send: seconds, or with a unit (`500ms`, `90s`, `2m`).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Connections, each an independent Poisson stream of rate/connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Length of a statistics window.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    window: Duration,
    /// Seed of the arrival times, the get/set choices and the keys.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Serve /metrics on this address (port 0 picks a free port, printed on
    /// stderr); no endpoint without it.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Write the JSON lines (one per window, then a summary) to this file
    /// instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    /// The share of requests that are gets (the rest are sets).
    #[arg(long, default_value_t = 0.9)]
    get_ratio: f64,
    /// Distinct keys, stored before the run.
    #[arg(long, default_value_t = 10_000)]
    key_space: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// A request unanswered this long after its scheduled time is a timeout.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    timeout: Duration,
    /// Do not store the keys before the run (gets of absent keys are misses).
    #[arg(long)]
    no_populate: bool,
}

/// `90`, `90s`, `1.5s`, `500ms`, `2m`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 10, 10s, 500ms, 2m)"))?;
    Duration::try_from_secs_f64(v * scale).map_err(|e| format!("`{s}`: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = Config {
        server: cli.server,
        rate: cli.rate,
        duration: cli.duration,
        connections: cli.connections,
        window: cli.window,
        seed: cli.seed,
        listen: cli.listen,
        output: cli.output,
        get_ratio: cli.get_ratio,
        key_space: cli.key_space,
        value_size: cli.value_size,
        timeout: cli.timeout,
        populate: !cli.no_populate,
    };
    match run(&config, Arc::new(AtomicBool::new(false))) {
        Ok(s) => {
            eprintln!(
                "serenity-loadgen: {} sent, {} completed, {} errors, {} timeouts; {:.1} req/s of {}; p50 {} ms, p99 {} ms",
                s.counts.sent,
                s.counts.completed,
                s.counts.errors,
                s.counts.timeouts,
                s.achieved_rate,
                s.target_rate,
                s.p50_ms.map_or("-".into(), |v| format!("{v:.3}")),
                s.p99_ms.map_or("-".into(), |v| format!("{v:.3}")),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("serenity-loadgen: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_milliseconds_and_minutes() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon")
            .unwrap_err()
            .contains("`soon` is not a duration"));
        assert!(parse_duration("-1s").is_err());
    }
}
