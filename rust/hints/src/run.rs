//! `serenity hints --config FILE`: the poller and the listener, until
//! SIGINT or SIGTERM.

use crate::config::HintsConfig;
use crate::nodes::NodeTable;
use crate::poller::Poller;
use crate::service::HintsService;
use crate::HintsMetrics;
use serenity_agent::http::{Handler, HttpServer, Limits, Request};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Command-line arguments of `serenity hints`.
#[derive(Debug, Clone, clap::Args)]
pub struct HintsArgs {
    /// The hints configuration file (TOML; see docs/hints.md).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

/// The listener's limits: kube-scheduler without `nodeCacheCapable` sends
/// every candidate's whole `v1.Node`, a few KiB each.
pub fn limits() -> Limits {
    Limits {
        max_body_bytes: 64 * 1024 * 1024,
        exchange_timeout: Duration::from_secs(30),
        ..Limits::default()
    }
}

/// A running service: the poller and the listener, stopped on drop.
#[derive(Debug)]
pub struct Hints {
    /// The listener.
    pub server: HttpServer,
    _poller: Poller,
}

impl Hints {
    /// Starts polling and serving as `config` says.
    pub fn start(config: &HintsConfig) -> anyhow::Result<Hints> {
        let table = Arc::new(NodeTable::new(&config.nodes, config.stale_after));
        let metrics = Arc::new(HintsMetrics::default());
        let service = Arc::new(HintsService {
            table: table.clone(),
            best_effort: config.best_effort.clone(),
            filter: config.filter,
            policy: config.policy,
            metrics: metrics.clone(),
        });
        let handler: Handler = Arc::new(move |r: &Request| service.handle(r));
        let server = HttpServer::start("serenity-hints", config.listen, limits(), handler)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let poller = Poller::start(table, metrics, config.poll_interval, config.timeout)
            .map_err(|e| anyhow::anyhow!("cannot start the poller thread: {e}"))?;
        Ok(Hints {
            server,
            _poller: poller,
        })
    }
}

/// Runs the service until `shutdown` is set (SIGINT and SIGTERM set it).
pub fn run(args: HintsArgs, shutdown: Arc<AtomicBool>) -> anyhow::Result<()> {
    let config = HintsConfig::load(&args.config)?;
    let mut ids = Vec::new();
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        ids.push(signal_hook::flag::register(signal, shutdown.clone())?);
    }
    let hints = Hints::start(&config)?;
    log::info!(
        target: "serenity",
        "serenity hints at http://{} (policy {}), watching {} nodes every {:?}",
        hints.server.local_addr(),
        config.policy.as_str(),
        config.nodes.len(),
        config.poll_interval
    );
    while !shutdown.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(hints);
    for id in ids {
        signal_hook::low_level::unregister(id);
    }
    log::info!(target: "serenity", "serenity hints stopped");
    Ok(())
}
