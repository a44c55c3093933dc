//! serenity-sli: the I/O side of a pipeline's `[[sli]]` tables.
//!
//! Each SLI ([`serenity_core::sli::SliSpec`]) is read from its source by a
//! thread of its own (`sli-<name>`), every `interval_secs`, each fetch bounded
//! by `timeout_secs`; the latest good [`Reading`] is kept. The tick path
//! never waits for a fetch: [`SliFetchers::inject`] copies the latest
//! readings into the usage snapshot as `statistics.serenity_slis` samples of
//! the executors each SLI watches, and the core judges their age against
//! the snapshot's timestamp (`max_age_secs`): a source that stopped
//! answering keeps its last value, which goes stale.
//!
//! Sources:
//! - `prometheus`: the text exposition format, parsed here
//!   ([`prometheus`]): one sample selected by name and labels, or the
//!   quantile of a histogram's increase between two scrapes, computed as
//!   Prometheus's `histogram_quantile` does (the first scrape gives no value);
//! - `json`: a number at an RFC 6901 pointer of a JSON document;
//! - `file`: a bare number or a JSON document with a pointer, stamped with
//!   the file's modification time.
//!
//! HTTP is plain `http://` (SLI endpoints are node-local), without proxy or
//! redirects; the answer must be `200`, at most [`MAX_BODY_BYTES`], and is
//! stamped with the wall clock when it arrived. Every failure is logged
//! (target `serenity`) once per change of its message, naming the SLI, the
//! URL or path and the error, and the recovery is logged when it reads again.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod fetch;
mod fetchers;
pub mod prometheus;

pub use fetch::{fetch_once, SourceState};
pub use fetchers::{SliFetchers, SliStatus};

/// The largest body or file accepted: 4 MiB.
pub const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;

/// One fetched value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The value, already multiplied by the SLI's `scale`.
    pub value: f64,
    /// When it was measured: seconds since the Unix epoch (the arrival of
    /// the HTTP answer, or the file's modification time).
    pub timestamp: f64,
}

/// What kind of failure a fetch met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliErrorKind {
    /// The URL is not `http://host...`.
    Unsupported,
    /// The fetch took longer than `timeout_secs`.
    Timeout,
    /// Connecting, sending or receiving failed.
    Transport,
    /// The server answered another status than 200.
    Status,
    /// The body or file is larger than [`MAX_BODY_BYTES`].
    TooLarge,
    /// The file could not be read.
    Io,
    /// The text is not what the source expects (not JSON, no such metric,
    /// an ambiguous selection, a broken histogram).
    Content,
    /// The value found is not a finite number.
    NotANumber,
}

/// A failed fetch: the SLI, where it was read from, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SLI {sli}: {source_kind} {location}: {problem}")]
pub struct SliError {
    /// The SLI's name.
    pub sli: String,
    /// `prometheus`, `json` or `file`.
    pub source_kind: &'static str,
    /// The URL or path.
    pub location: String,
    /// What kind of failure.
    pub kind: SliErrorKind,
    /// What went wrong, naming the line, key or value.
    pub problem: String,
}
