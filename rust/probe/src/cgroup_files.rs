//! The formats of cgroup interface files, as pure parsers, and the one place
//! that reads such files from a group directory.
//!
//! Formats (kernel `Documentation/admin-guide/cgroup-v2.rst`, "Interface
//! Files", and the v1 controller documents):
//! - single value: `memory.usage_in_bytes`, `cpu.shares`, `cpu.cfs_quota_us`
//!   (may be `-1`), `memory.max` (may be `max`);
//! - flat keyed, `key value` per line: `cpuacct.stat`, `cpu.stat`,
//!   `memory.stat`;
//! - `cpu.max`: `$MAX $PERIOD` with `$MAX` a number or `max`;
//! - nested keyed, `maj:min key=value ...` per line: `io.stat`;
//! - v1 blkio: `maj:min Op value` lines and a final `Total value` line;
//! - pid lists, one pid per line: `tasks`, `cgroup.procs`, `cgroup.threads`.
//!
//! Parsers never panic: malformed content is a [`ParseError`] naming the line.
//! Lines of keyed files whose key is not used are not interpreted at all, so a
//! new kernel adding odd keys does not break reading.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{ParseError, ProbeError};
use crate::sample::{BlkioOp, DeviceNumber};

/// A flat keyed file (`key value` per line), borrowed from its text.
#[derive(Debug)]
pub(crate) struct KeyedFile<'a> {
    entries: Vec<(&'a str, &'a str, &'a str)>,
}

impl<'a> KeyedFile<'a> {
    /// Splits the file into lines of exactly two fields; blank lines are
    /// skipped, any other shape is an error.
    pub(crate) fn parse(content: &'a str) -> Result<Self, ParseError> {
        let mut entries = Vec::new();
        for line in content.lines() {
            let mut fields = line.split_whitespace();
            let (Some(key), value, rest) = (fields.next(), fields.next(), fields.next()) else {
                continue;
            };
            match (value, rest) {
                (Some(value), None) => entries.push((key, value, line)),
                (None, _) => {
                    return Err(ParseError::new(
                        line,
                        "expected `key value`, found no value",
                    ))
                }
                (Some(_), Some(_)) => {
                    return Err(ParseError::new(
                        line,
                        "expected `key value`, found extra fields",
                    ))
                }
            }
        }
        Ok(KeyedFile { entries })
    }

    /// The value of `key` as an unsigned integer; absent keys are `None`.
    pub(crate) fn get_u64(&self, key: &str) -> Result<Option<u64>, ParseError> {
        match self.entries.iter().find(|(k, _, _)| *k == key) {
            None => Ok(None),
            Some((_, value, line)) => value.parse::<u64>().map(Some).map_err(|_| {
                ParseError::new(line, format!("value of `{key}` is not an unsigned integer"))
            }),
        }
    }

    /// The first of `keys` that is present, as an unsigned integer.
    pub(crate) fn first_u64(&self, keys: &[&str]) -> Result<Option<u64>, ParseError> {
        for key in keys {
            if let Some(value) = self.get_u64(key)? {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }
}

fn only_line(content: &str) -> Result<&str, ParseError> {
    let mut lines = content.lines().filter(|l| !l.trim().is_empty());
    match (lines.next(), lines.next()) {
        (Some(line), None) => Ok(line.trim()),
        (None, _) => Err(ParseError::new("", "file is empty")),
        (Some(_), Some(second)) => Err(ParseError::new(second, "expected a single value")),
    }
}

/// A file holding one unsigned integer.
pub(crate) fn parse_u64(content: &str) -> Result<u64, ParseError> {
    let line = only_line(content)?;
    line.parse::<u64>()
        .map_err(|_| ParseError::new(line, "not an unsigned integer"))
}

/// A file holding one signed integer (`cpu.cfs_quota_us` is `-1` when unset).
pub(crate) fn parse_i64(content: &str) -> Result<i64, ParseError> {
    let line = only_line(content)?;
    line.parse::<i64>()
        .map_err(|_| ParseError::new(line, "not an integer"))
}

/// A v2 limit: a number, or `max` for no limit (`None`).
pub(crate) fn parse_max_or_u64(content: &str) -> Result<Option<u64>, ParseError> {
    let line = only_line(content)?;
    if line == "max" {
        return Ok(None);
    }
    line.parse::<u64>()
        .map(Some)
        .map_err(|_| ParseError::new(line, "expected an unsigned integer or `max`"))
}

/// `cpu.max`: `(quota, period)` in microseconds, quota `None` for `max`.
pub(crate) fn parse_cpu_max(content: &str) -> Result<(Option<u64>, u64), ParseError> {
    let line = only_line(content)?;
    let mut fields = line.split_whitespace();
    let (Some(max), Some(period), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err(ParseError::new(line, "expected `$MAX $PERIOD`"));
    };
    let period = period
        .parse::<u64>()
        .map_err(|_| ParseError::new(line, "period is not an unsigned integer"))?;
    if max == "max" {
        return Ok((None, period));
    }
    let quota = max
        .parse::<u64>()
        .map_err(|_| ParseError::new(line, "quota is neither `max` nor an unsigned integer"))?;
    Ok((Some(quota), period))
}

fn parse_device(field: &str, line: &str) -> Result<DeviceNumber, ParseError> {
    let parsed = field
        .split_once(':')
        .and_then(|(major, minor)| Some((major.parse::<u64>().ok()?, minor.parse::<u64>().ok()?)));
    match parsed {
        Some((major, minor)) => Ok(DeviceNumber { major, minor }),
        None => Err(ParseError::new(
            line,
            format!("`{field}` is not a `major:minor` device"),
        )),
    }
}

/// One line of a v1 `blkio.throttle.*` file: a device (none for the final
/// grand total), an operation and a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlkioLine {
    pub(crate) device: Option<DeviceNumber>,
    pub(crate) op: BlkioOp,
    pub(crate) value: u64,
}

/// v1 `blkio.throttle.io_serviced` / `io_service_bytes`.
pub(crate) fn parse_blkio_throttle(content: &str) -> Result<Vec<BlkioLine>, ParseError> {
    let mut out = Vec::new();
    for line in content.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (device, op, value) = match fields.as_slice() {
            [] => continue,
            [op, value] if op.eq_ignore_ascii_case("total") => (None, *op, *value),
            [device, op, value] => (Some(parse_device(device, line)?), *op, *value),
            _ => {
                return Err(ParseError::new(
                    line,
                    "expected `major:minor Op value` or `Total value`",
                ))
            }
        };
        let value = value
            .parse::<u64>()
            .map_err(|_| ParseError::new(line, "value is not an unsigned integer"))?;
        out.push(BlkioLine {
            device,
            op: BlkioOp::from_v1_name(op),
            value,
        });
    }
    Ok(out)
}

/// One device line of v2 `io.stat`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IoStatLine {
    pub(crate) device: DeviceNumber,
    pub(crate) rbytes: u64,
    pub(crate) wbytes: u64,
    pub(crate) dbytes: u64,
    pub(crate) rios: u64,
    pub(crate) wios: u64,
    pub(crate) dios: u64,
}

/// v2 `io.stat`: `maj:min rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..`.
/// Unknown keys (io.cost, io.latency additions) are ignored.
pub(crate) fn parse_io_stat(content: &str) -> Result<Vec<IoStatLine>, ParseError> {
    let mut out = Vec::new();
    for line in content.lines() {
        let mut fields = line.split_whitespace();
        let Some(device) = fields.next() else {
            continue;
        };
        let mut entry = IoStatLine {
            device: parse_device(device, line)?,
            ..IoStatLine::default()
        };
        for field in fields {
            let Some((key, value)) = field.split_once('=') else {
                return Err(ParseError::new(
                    line,
                    format!("`{field}` is not `key=value`"),
                ));
            };
            let slot = match key {
                "rbytes" => &mut entry.rbytes,
                "wbytes" => &mut entry.wbytes,
                "dbytes" => &mut entry.dbytes,
                "rios" => &mut entry.rios,
                "wios" => &mut entry.wios,
                "dios" => &mut entry.dios,
                _ => continue,
            };
            *slot = value.parse::<u64>().map_err(|_| {
                ParseError::new(line, format!("value of `{key}` is not an unsigned integer"))
            })?;
        }
        out.push(entry);
    }
    Ok(out)
}

/// Counts the pids of `tasks`, `cgroup.procs` or `cgroup.threads`. v1 does not
/// guarantee that `cgroup.procs` is free of duplicates, so pids are counted
/// once each.
pub(crate) fn count_pids(content: &str) -> Result<u64, ParseError> {
    let mut seen = HashSet::new();
    for line in content.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let pid = trimmed
            .parse::<u32>()
            .map_err(|_| ParseError::new(line, "not a pid"))?;
        seen.insert(pid);
    }
    Ok(seen.len() as u64)
}

/// Where a reader gets a group's files: paths read afresh ([`GroupDir`]) or
/// descriptors kept open ([`crate::kept_file::KeptDir`]).
pub(crate) trait FileSource {
    /// The path of `file` in the group (for messages).
    fn path_of(&self, file: &str) -> PathBuf;

    /// Reads `file` and parses it: `None` when the group does not have the
    /// file, [`ProbeError::Vanished`] when the group is gone, a parse error
    /// naming the file.
    fn parse<T>(
        &mut self,
        file: &'static str,
        parser: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<Option<T>, ProbeError>;
}

/// A group directory whose files are read by path with the probe's error
/// rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupDir<'a> {
    pub(crate) path: &'a Path,
}

impl<'a> GroupDir<'a> {
    pub(crate) fn new(path: &'a Path) -> Self {
        GroupDir { path }
    }

    /// Reads `file`. A file the controller does not provide is `None`; a group
    /// that is gone is [`ProbeError::Vanished`].
    pub(crate) fn read(&self, file: &str) -> Result<Option<String>, ProbeError> {
        let path = self.path.join(file);
        match fs::read_to_string(&path) {
            Ok(content) => Ok(Some(content)),
            Err(err) => self.classify(path, err),
        }
    }

    fn classify(&self, path: PathBuf, err: io::Error) -> Result<Option<String>, ProbeError> {
        match err.raw_os_error() {
            // The file is absent: either this controller does not provide it
            // (a normal answer) or the whole group went away.
            Some(libc::ENOENT) => {
                if self.path.is_dir() {
                    Ok(None)
                } else {
                    Err(ProbeError::Vanished {
                        path: self.path.to_path_buf(),
                    })
                }
            }
            // Reading a file of a removed cgroup through an already open
            // descriptor.
            Some(libc::ENODEV) => Err(ProbeError::Vanished {
                path: self.path.to_path_buf(),
            }),
            _ => Err(ProbeError::io(&path, err)),
        }
    }
}

impl FileSource for GroupDir<'_> {
    fn path_of(&self, file: &str) -> PathBuf {
        self.path.join(file)
    }

    fn parse<T>(
        &mut self,
        file: &'static str,
        parser: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<Option<T>, ProbeError> {
        match self.read(file)? {
            None => Ok(None),
            Some(content) => parser(&content)
                .map(Some)
                .map_err(|e| e.in_file(&self.path.join(file))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_file_reads_cpuacct_stat() {
        let file = KeyedFile::parse("user 10581\nsystem 3075\n").unwrap();
        assert_eq!(file.get_u64("user").unwrap(), Some(10581));
        assert_eq!(file.get_u64("system").unwrap(), Some(3075));
        assert_eq!(file.get_u64("guest").unwrap(), None);
    }

    #[test]
    fn keyed_file_prefers_the_first_listed_key() {
        let file = KeyedFile::parse("rss 5\ntotal_rss 7\n").unwrap();
        assert_eq!(file.first_u64(&["total_rss", "rss"]).unwrap(), Some(7));
        let file = KeyedFile::parse("rss 5\n").unwrap();
        assert_eq!(file.first_u64(&["total_rss", "rss"]).unwrap(), Some(5));
    }

    #[test]
    fn keyed_file_rejects_lines_without_value_or_with_extra_fields() {
        let err = KeyedFile::parse("user 1\nsystem\n").unwrap_err();
        assert_eq!(err.line, "system");
        let err = KeyedFile::parse("user 1 2\n").unwrap_err();
        assert_eq!(err.line, "user 1 2");
    }

    #[test]
    fn keyed_file_reports_non_numeric_value_only_when_asked() {
        let file = KeyedFile::parse("user abc\nsystem 2\n").unwrap();
        assert_eq!(file.get_u64("system").unwrap(), Some(2));
        let err = file.get_u64("user").unwrap_err();
        assert_eq!(err.line, "user abc");
        let file = KeyedFile::parse("user -1\n").unwrap();
        assert!(file.get_u64("user").is_err());
    }

    #[test]
    fn single_values_parse_and_reject_garbage() {
        assert_eq!(parse_u64("123\n").unwrap(), 123);
        assert_eq!(parse_i64("-1\n").unwrap(), -1);
        assert!(parse_u64("").is_err());
        assert!(parse_u64("12 13\n").is_err());
        assert!(parse_u64("1\n2\n").is_err());
        assert!(parse_u64("18446744073709551616\n").is_err());
        assert!(parse_i64("x\n").is_err());
    }

    #[test]
    fn v2_limit_max_means_none() {
        assert_eq!(parse_max_or_u64("max\n").unwrap(), None);
        assert_eq!(parse_max_or_u64("268435456\n").unwrap(), Some(268_435_456));
        assert!(parse_max_or_u64("maximum\n").is_err());
    }

    #[test]
    fn cpu_max_parses_quota_and_period() {
        assert_eq!(parse_cpu_max("max 100000\n").unwrap(), (None, 100_000));
        assert_eq!(
            parse_cpu_max("50000 100000\n").unwrap(),
            (Some(50_000), 100_000)
        );
        assert!(parse_cpu_max("50000\n").is_err());
        assert!(parse_cpu_max("50000 x\n").is_err());
        assert!(parse_cpu_max("-1 100000\n").is_err());
        assert!(parse_cpu_max("1 2 3\n").is_err());
    }

    #[test]
    fn blkio_throttle_parses_devices_and_grand_total() {
        let text = "8:0 Read 10\n8:0 Write 20\n8:0 Sync 25\n8:0 Async 5\n8:0 Discard 0\n8:0 Total 30\nTotal 30\n";
        let lines = parse_blkio_throttle(text).unwrap();
        assert_eq!(lines.len(), 7);
        assert_eq!(
            lines[0],
            BlkioLine {
                device: Some(DeviceNumber { major: 8, minor: 0 }),
                op: BlkioOp::Read,
                value: 10
            }
        );
        assert_eq!(lines[5].op, BlkioOp::Total);
        assert_eq!(
            lines[6],
            BlkioLine {
                device: None,
                op: BlkioOp::Total,
                value: 30
            }
        );
        assert_eq!(parse_blkio_throttle("Total 0\n").unwrap().len(), 1);
    }

    #[test]
    fn blkio_throttle_rejects_bad_devices_and_values() {
        assert!(parse_blkio_throttle("8-0 Read 1\n").is_err());
        assert!(parse_blkio_throttle("8:0 Read one\n").is_err());
        assert!(parse_blkio_throttle("8:0 Read\n8:0\n").is_err());
        assert!(parse_blkio_throttle("8:0 Read 1 2 3\n").is_err());
        let unknown = parse_blkio_throttle("8:0 Frobnicate 1\n").unwrap();
        assert_eq!(unknown[0].op, BlkioOp::Unknown);
    }

    #[test]
    fn io_stat_parses_known_keys_and_skips_others() {
        let text = "8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n\
                    253:0 rbytes=5 wbytes=6 rios=1 wios=2 dbytes=3 dios=4 cost.usage=7\n";
        let lines = parse_io_stat(text).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0].device,
            DeviceNumber {
                major: 8,
                minor: 16
            }
        );
        assert_eq!(lines[0].wbytes, 314_773_504);
        assert_eq!(lines[1].dios, 4);
        assert!(parse_io_stat("").unwrap().is_empty());
    }

    #[test]
    fn io_stat_rejects_malformed_fields() {
        assert!(parse_io_stat("8:16 rbytes\n").is_err());
        assert!(parse_io_stat("8:16 rbytes=x\n").is_err());
        assert!(parse_io_stat("sda rbytes=1\n").is_err());
    }

    #[test]
    fn pid_lists_count_unique_pids() {
        assert_eq!(count_pids("").unwrap(), 0);
        assert_eq!(count_pids("12\n13\n12\n").unwrap(), 2);
        assert!(count_pids("12\nabc\n").is_err());
        assert!(count_pids("-3\n").is_err());
    }
}
