//! Errors of the probe: values with the path, file and line that caused them.

use std::io;
use std::path::{Path, PathBuf};

use crate::perf::PerfEvent;

/// Everything that can go wrong while reading cgroups, mounting hierarchies or
/// counting perf events.
///
/// A group that disappears while it is being read (the container exited) is
/// the distinct, quiet kind [`ProbeError::Vanished`]: callers usually skip it
/// without logging.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The group directory was removed between listing and reading.
    #[error("cgroup {path} vanished")]
    Vanished {
        /// The group directory (or the file in it) that is gone.
        path: PathBuf,
    },
    /// A file or directory could not be read, listed or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's answer.
        #[source]
        source: io::Error,
    },
    /// A file had content that does not follow its documented format.
    #[error("cannot parse {path}: {reason} in line {line:?}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The offending line, verbatim (truncated to 200 characters).
        line: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A perf counter could not be opened or read for a reason other than
    /// "this event is not supported here".
    #[error("perf event {event} for cgroup {cgroup} on cpu {cpu}: {source}")]
    Perf {
        /// The event.
        event: PerfEvent,
        /// The cgroup directory the counter observes.
        cgroup: PathBuf,
        /// The CPU the counter is bound to.
        cpu: usize,
        /// The operating system's answer.
        #[source]
        source: io::Error,
    },
    /// The perf_event cgroup hierarchy could not be mounted.
    #[error("cannot mount the perf_event cgroup hierarchy at {path}: {source}")]
    Mount {
        /// The intended mount point.
        path: PathBuf,
        /// The operating system's answer.
        #[source]
        source: io::Error,
    },
}

impl ProbeError {
    /// True for [`ProbeError::Vanished`]: the group is gone, skip it quietly.
    pub fn is_vanished(&self) -> bool {
        matches!(self, ProbeError::Vanished { .. })
    }

    /// True when a path the caller configured does not exist (for example a
    /// discovery parent that was never created).
    pub fn is_not_found(&self) -> bool {
        match self {
            ProbeError::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            _ => false,
        }
    }

    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        ProbeError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A format error found by a pure parser, before it knows which file it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub(crate) line: String,
    pub(crate) reason: String,
}

impl ParseError {
    pub(crate) fn new(line: &str, reason: impl Into<String>) -> Self {
        ParseError {
            line: line.chars().take(200).collect(),
            reason: reason.into(),
        }
    }

    pub(crate) fn in_file(self, path: &Path) -> ProbeError {
        ProbeError::Parse {
            path: path.to_path_buf(),
            line: self.line,
            reason: self.reason,
        }
    }
}
