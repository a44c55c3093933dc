//! Configuration problems, each located precisely enough to fix without
//! guessing: file:line:column, the stage (1-based index, type), the key and the
//! value as written.

use std::fmt;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A position in a pipeline file (1-based line and column).
    File {
        /// The file's name as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// An operator override such as `ema.alpha=0.5` (module parameters, CLI).
    Override(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { file, line, column } => write!(f, "{file}:{line}:{column}"),
            Origin::Override(text) => write!(f, "override `{text}`"),
        }
    }
}

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the problem is.
    pub origin: Origin,
    /// The stage concerned: 1-based index and type (`None` for top-level keys).
    pub stage: Option<(usize, String)>,
    /// The key concerned.
    pub key: Option<String>,
    /// The offending value as written.
    pub value: Option<String>,
    /// What is wrong, and what would be right.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.origin)?;
        if let Some((index, kind)) = &self.stage {
            write!(f, "stage {index} ({kind}): ")?;
        }
        match (&self.key, &self.value) {
            (Some(k), Some(v)) => write!(f, "`{k}` = {v}: ")?,
            (Some(k), None) => write!(f, "`{k}`: ")?,
            _ => {}
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a configuration (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
