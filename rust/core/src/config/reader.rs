//! Typed, located reading of one stage's parameters. Every problem is
//! recorded (not returned early), so one pass reports them all.

use super::error::{ConfigError, Origin};
use super::words;
use crate::signal::{SignalId, SignalNames};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A parameter value with where it came from.
pub(crate) struct Located<'v, 'i> {
    pub value: &'v DeValue<'i>,
    pub origin: Origin,
    pub written: String,
}

/// An operator override already parsed: (key, value, origin text).
pub(crate) struct OverrideValue<'i> {
    pub key: String,
    pub value: DeValue<'i>,
    pub text: String,
}

/// Reads a stage's (or the top level's) parameters.
pub struct ParamReader<'r, 'i> {
    pub(crate) source: &'r super::source::Source<'i>,
    pub(crate) table: &'r DeTable<'i>,
    pub(crate) overrides: Vec<&'r OverrideValue<'i>>,
    pub(crate) stage: Option<(usize, String)>,
    pub(crate) table_origin: Origin,
    pub(crate) used: Vec<String>,
    pub(crate) errors: &'r mut Vec<ConfigError>,
    pub(crate) signals: &'r mut SignalNames,
    /// For a sub-table such as `[probe]`: its name, prefixed to keys in messages.
    pub(crate) section: Option<&'static str>,
}

/// A check on a number: `Err(sentence)` when the value is not acceptable.
pub type Check<T> = fn(T) -> Result<(), String>;

/// Accepts values in [0, 1].
pub fn fraction(v: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err("must be between 0 and 1".into())
    }
}

/// Accepts values in (0, 1].
pub fn open_fraction(v: f64) -> Result<(), String> {
    if v > 0.0 && v <= 1.0 {
        Ok(())
    } else {
        Err("must be greater than 0 and at most 1".into())
    }
}

/// Accepts values > 0.
pub fn positive(v: f64) -> Result<(), String> {
    if v > 0.0 {
        Ok(())
    } else {
        Err("must be greater than 0".into())
    }
}

/// Accepts values ≥ 0.
pub fn non_negative(v: f64) -> Result<(), String> {
    if v >= 0.0 {
        Ok(())
    } else {
        Err("must not be negative".into())
    }
}

/// Accepts integers ≥ 1.
pub fn at_least_one(v: u64) -> Result<(), String> {
    if v >= 1 {
        Ok(())
    } else {
        Err("must be at least 1".into())
    }
}

/// Accepts any value.
pub fn any_u64(_: u64) -> Result<(), String> {
    Ok(())
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// The integer value of a TOML integer.
pub(crate) fn int_of(v: &DeValue<'_>) -> Option<i128> {
    match v {
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            i128::from_str_radix(&digits, i.radix()).ok()
        }
        _ => None,
    }
}

/// The number value of a TOML integer or float.
pub(crate) fn float_of(v: &DeValue<'_>) -> Option<f64> {
    match v {
        DeValue::Integer(_) => int_of(v).map(|i| i as f64),
        DeValue::Float(f) => {
            let s = f.as_str().replace('_', "");
            match s.as_str() {
                "inf" | "+inf" => Some(f64::INFINITY),
                "-inf" => Some(f64::NEG_INFINITY),
                "nan" | "+nan" | "-nan" => Some(f64::NAN),
                _ => s.parse().ok(),
            }
        }
        _ => None,
    }
}

impl<'r, 'i> ParamReader<'r, 'i> {
    fn lookup(&mut self, key: &str) -> Option<Located<'r, 'i>> {
        self.used.push(key.to_owned());
        if let Some(o) = self.overrides.iter().rev().find(|o| o.key == key) {
            let o: &'r OverrideValue<'i> = o;
            return Some(Located {
                value: &o.value,
                origin: Origin::Override(o.text.clone()),
                written: o
                    .text
                    .split_once('=')
                    .map_or(String::new(), |(_, v)| v.trim().to_owned()),
            });
        }
        let table: &'r DeTable<'i> = self.table;
        table
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(_, v)| {
                let v: &'r Spanned<DeValue<'i>> = v;
                Located {
                    value: v.get_ref(),
                    origin: self.source.origin(v.span().start),
                    written: self.source.snippet(v.span()),
                }
            })
    }

    /// Records a problem with `key`'s value.
    fn qualified(&self, key: &str) -> String {
        match self.section {
            Some(s) => format!("{s}.{key}"),
            None => key.to_owned(),
        }
    }

    fn bad(&mut self, key: &str, at: &Located<'_, '_>, message: String) {
        self.errors.push(ConfigError {
            origin: at.origin.clone(),
            stage: self.stage.clone(),
            key: Some(self.qualified(key)),
            value: Some(at.written.clone()),
            message,
        });
    }

    /// Records a problem about the stage as a whole (cross-field checks).
    pub fn problem(&mut self, key: Option<&str>, message: impl Into<String>) {
        let (origin, value) = match key.and_then(|k| {
            let l = self.lookup(k);
            self.used.pop();
            l
        }) {
            Some(l) => (l.origin, Some(l.written)),
            None => (self.table_origin.clone(), None),
        };
        self.errors.push(ConfigError {
            origin,
            stage: self.stage.clone(),
            key: key.map(|k| self.qualified(k)),
            value,
            message: message.into(),
        });
    }

    /// An optional number.
    pub fn opt_f64(&mut self, key: &str, check: Check<f64>) -> Option<f64> {
        let at = self.lookup(key)?;
        match float_of(at.value) {
            Some(v) if v.is_finite() => match check(v) {
                Ok(()) => Some(v),
                Err(m) => {
                    self.bad(key, &at, m);
                    None
                }
            },
            Some(_) => {
                self.bad(key, &at, "must be a finite number".into());
                None
            }
            None => {
                let m = format!("must be a number, found {}", type_name(at.value));
                self.bad(key, &at, m);
                None
            }
        }
    }

    /// A number with a default.
    pub fn f64(&mut self, key: &str, default: f64, check: Check<f64>) -> f64 {
        self.opt_f64(key, check).unwrap_or(default)
    }

    /// An optional non-negative integer.
    pub fn opt_u64(&mut self, key: &str, check: Check<u64>) -> Option<u64> {
        let at = self.lookup(key)?;
        match int_of(at.value) {
            Some(v) if (0..=u64::MAX as i128).contains(&v) => match check(v as u64) {
                Ok(()) => Some(v as u64),
                Err(m) => {
                    self.bad(key, &at, m);
                    None
                }
            },
            Some(_) => {
                self.bad(key, &at, "must be a non-negative integer".into());
                None
            }
            None => {
                let m = format!("must be an integer, found {}", type_name(at.value));
                self.bad(key, &at, m);
                None
            }
        }
    }

    /// A non-negative integer with a default.
    pub fn u64(&mut self, key: &str, default: u64, check: Check<u64>) -> u64 {
        self.opt_u64(key, check).unwrap_or(default)
    }

    /// A boolean with a default.
    pub fn bool(&mut self, key: &str, default: bool) -> bool {
        let Some(at) = self.lookup(key) else {
            return default;
        };
        match at.value {
            DeValue::Boolean(b) => *b,
            other => {
                let m = format!("must be true or false, found {}", type_name(other));
                self.bad(key, &at, m);
                default
            }
        }
    }

    /// An optional string.
    pub fn opt_string(&mut self, key: &str) -> Option<String> {
        let at = self.lookup(key)?;
        match at.value {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                let m = format!("must be a string, found {}", type_name(other));
                self.bad(key, &at, m);
                None
            }
        }
    }

    /// One of a fixed set of words, with a default.
    pub fn choice(
        &mut self,
        key: &str,
        default: &'static str,
        allowed: &[&'static str],
    ) -> &'static str {
        let Some(at) = self.lookup(key) else {
            return default;
        };
        match at.value {
            DeValue::String(s) => match allowed.iter().find(|a| **a == s.as_ref()) {
                Some(a) => a,
                None => {
                    let hint = words::suggestion(s, allowed.iter().copied());
                    let m = format!("must be one of {}{hint}", quote_list(allowed));
                    self.bad(key, &at, m);
                    default
                }
            },
            other => {
                let m = format!(
                    "must be one of {}, found {}",
                    quote_list(allowed),
                    type_name(other)
                );
                self.bad(key, &at, m);
                default
            }
        }
    }

    /// A list of strings (a single string counts as a one-element list).
    pub fn strings(&mut self, key: &str) -> Option<Vec<String>> {
        let at = self.lookup(key)?;
        match at.value {
            DeValue::String(s) => Some(vec![s.to_string()]),
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(s) => out.push(s.to_string()),
                        other => {
                            let m = format!(
                                "must be a list of strings, found {} in it",
                                type_name(other)
                            );
                            self.bad(key, &at, m);
                            return None;
                        }
                    }
                }
                Some(out)
            }
            other => {
                let m = format!("must be a list of strings, found {}", type_name(other));
                self.bad(key, &at, m);
                None
            }
        }
    }

    /// A table of string values (`labels = { job = "web" }`), in the order
    /// written.
    pub fn string_table(&mut self, key: &str) -> Option<Vec<(String, String)>> {
        let at = self.lookup(key)?;
        match at.value {
            DeValue::Table(t) => {
                let mut out = Vec::new();
                for (k, v) in t.iter() {
                    match v.get_ref() {
                        DeValue::String(s) => out.push((k.get_ref().to_string(), s.to_string())),
                        other => {
                            let m = format!(
                                "must be a table of strings, found {} for `{}`",
                                type_name(other),
                                k.get_ref()
                            );
                            self.bad(key, &at, m);
                            return None;
                        }
                    }
                }
                Some(out)
            }
            other => {
                let m = format!(
                    "must be a table of strings (key = \"value\"), found {}",
                    type_name(other)
                );
                self.bad(key, &at, m);
                None
            }
        }
    }

    /// A signal the stage reads: it must be built in or written by an
    /// earlier stage.
    pub fn signal_in(&mut self, key: &str, default: &str) -> SignalId {
        let name = self.opt_string(key).unwrap_or_else(|| default.to_owned());
        match self.signals.lookup(&name) {
            Some(id) => {
                self.signals.mark_read(id);
                id
            }
            None => {
                let all = self.signals.all();
                let known = all.join(", ");
                let hint = words::suggestion(&name, all.iter().map(|s| s.as_ref()));
                let message = format!(
                    "reads signal `{name}`, which no built-in signal or earlier stage provides{hint} (known here: {known})"
                );
                match self.lookup(key) {
                    Some(at) => self.bad(key, &at, message),
                    None => self.problem(None, message),
                }
                // A placeholder keeps the build going so that every problem is reported.
                SignalId(0)
            }
        }
    }

    /// Records that the stage reads a built-in signal it does not take from
    /// a key (so that embedders know which statistics the pipeline needs).
    pub fn reads_builtin(&mut self, id: SignalId) -> SignalId {
        self.signals.mark_read(id);
        id
    }

    /// A signal the stage writes.
    pub fn signal_out(&mut self, key: &str, default: &str) -> SignalId {
        let name = self.opt_string(key).unwrap_or_else(|| default.to_owned());
        if name.is_empty() {
            self.problem(Some(key), "a signal name must not be empty");
        }
        self.signals.declare(&name)
    }

    /// The name of a signal id (for log lines).
    pub fn signal_name(&self, id: SignalId) -> String {
        self.signals.name(id).to_owned()
    }

    /// The keys this reader was asked for, sorted and deduplicated.
    pub(crate) fn known_keys(&self) -> Vec<String> {
        let mut known = self.used.clone();
        known.sort_unstable();
        known.dedup();
        known
    }

    /// Every key of the table and of the overrides that no read asked for.
    pub(crate) fn unknown_keys(&self, ignore: &[&str]) -> Vec<UnknownKey> {
        let table: &'r DeTable<'i> = self.table;
        let mut out = Vec::new();
        for (k, v) in table.iter() {
            let key = k.get_ref().as_ref();
            if ignore.contains(&key) || self.used.iter().any(|u| u == key) {
                continue;
            }
            out.push(UnknownKey {
                key: key.to_owned(),
                origin: self.source.origin(k.span().start),
                value: Some(self.source.snippet(v.span())),
                override_text: None,
            });
        }
        for o in &self.overrides {
            if !self.used.contains(&o.key) {
                out.push(UnknownKey {
                    key: o.key.clone(),
                    origin: Origin::Override(o.text.clone()),
                    value: None,
                    override_text: Some(o.text.clone()),
                });
            }
        }
        out
    }

    /// Reports every key that no read asked for, with the keys this table
    /// takes and the closest of them when it looks like a misspelling.
    pub(crate) fn finish(&mut self, ignore: &[&str]) {
        let known = self.known_keys();
        let whose = match (&self.stage, self.section) {
            (Some(_), _) => "this stage takes".to_owned(),
            (None, Some(section)) => format!("[{section}] takes"),
            (None, None) => "the pipeline takes".to_owned(),
        };
        let takes = if known.is_empty() {
            "no parameters".to_owned()
        } else {
            known.join(", ")
        };
        for u in self.unknown_keys(ignore) {
            let candidates = known
                .iter()
                .map(String::as_str)
                .chain(ignore.iter().copied());
            let message = format!(
                "unknown key{} ({whose}: {takes})",
                words::suggestion(&u.key, candidates)
            );
            self.errors.push(ConfigError {
                origin: u.origin,
                stage: self.stage.clone(),
                key: Some(self.qualified(&u.key)),
                value: u.value,
                message,
            });
        }
    }
}

/// A key that no read asked for.
pub(crate) struct UnknownKey {
    /// The key as written.
    pub key: String,
    /// Where it was written.
    pub origin: Origin,
    /// Its value as written in the file (`None` for overrides).
    pub value: Option<String>,
    /// The whole override, when it came from one.
    pub override_text: Option<String>,
}

fn quote_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
