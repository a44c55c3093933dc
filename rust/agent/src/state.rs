//! The enforcement state file: what the agent changed and must undo, kept on
//! disk so that an agent killed without a chance to restore (SIGKILL, OOM
//! kill, power loss) undoes it when it starts again.
//!
//! The file is JSON, one object with a format `version` and the list of
//! `changes` in force, each naming the group (relative to the hierarchy
//! root), the kind of change (`freeze` or `throttle`), the cgroup file that
//! was written and the value that undoes it:
//!
//! ```json
//! {
//!   "version": 1,
//!   "changes": [
//!     {"group": "best-effort/batch", "change": "throttle",
//!      "file": "/sys/fs/cgroup/cpu/best-effort/batch/cpu.cfs_quota_us", "restore": "-1"},
//!     {"group": "best-effort/batch", "change": "freeze",
//!      "file": "/sys/fs/cgroup/freezer/best-effort/batch/freezer.state", "restore": "THAWED"}
//!   ]
//! }
//! ```
//!
//! It is rewritten atomically before every change is made (a temporary file
//! in the same directory, fsync, rename over the old one, fsync of the
//! directory), so after a crash it lists at least every change in force,
//! never a half-written list. It is removed when nothing is left to undo.
//! Nothing in it is trusted: the enforcer checks every entry against the
//! configured best-effort prefix and the group's expected file before it
//! writes anything (see `Enforcer::recover`).

use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The format version this agent writes and reads.
pub const STATE_VERSION: u32 = 1;

/// One change in force, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The group, relative to the hierarchy root (`best-effort/batch`).
    pub group: String,
    /// `"freeze"` or `"throttle"`.
    pub change: String,
    /// The cgroup file that was written.
    pub file: PathBuf,
    /// The value that undoes the change (`THAWED`, `0`, the original quota).
    pub restore: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    version: u32,
    changes: Vec<Record>,
}

/// What reading the state file found.
#[derive(Debug)]
pub enum Loaded {
    /// No file: nothing to restore.
    Absent,
    /// The recorded changes (possibly none).
    Records(Vec<Record>),
    /// The file could not be read or parsed; the message names the path and
    /// the error (and, for a parse error, line and column).
    Unreadable(String),
}

/// The state file at one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file at `path`.
    pub fn new(path: PathBuf) -> StateFile {
        StateFile { path }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where a corrupt file is kept aside: `<path>.corrupt`.
    pub fn corrupt_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".corrupt");
        PathBuf::from(name)
    }

    /// Reads the recorded changes.
    pub fn load(&self) -> Loaded {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Loaded::Absent,
            Err(e) => {
                return Loaded::Unreadable(format!("cannot read {}: {e}", self.path.display()))
            }
        };
        match serde_json::from_str::<Document>(&text) {
            Ok(doc) if doc.version == STATE_VERSION => Loaded::Records(doc.changes),
            Ok(doc) => Loaded::Unreadable(format!(
                "{}: `version` = {}: this agent reads version {STATE_VERSION} only",
                self.path.display(),
                doc.version
            )),
            Err(e) => Loaded::Unreadable(format!(
                "{}:{}:{}: {e}",
                self.path.display(),
                e.line(),
                e.column()
            )),
        }
    }

    /// Moves an unreadable file aside to [`StateFile::corrupt_path`]
    /// (replacing an older one there), so that it is neither trusted nor
    /// overwritten.
    pub fn set_aside(&self) -> Result<PathBuf, String> {
        let aside = self.corrupt_path();
        fs::rename(&self.path, &aside).map_err(|e| {
            format!(
                "cannot move {} aside to {}: {e}",
                self.path.display(),
                aside.display()
            )
        })?;
        sync_dir(&self.path);
        Ok(aside)
    }

    /// Records `records` as the changes in force: atomically replaces the
    /// file (temporary file, fsync, rename, fsync of the directory), or
    /// removes it when `records` is empty. The directory is created if
    /// missing.
    pub fn save(&self, records: &[Record]) -> Result<(), String> {
        if records.is_empty() {
            return match fs::remove_file(&self.path) {
                Ok(()) => {
                    sync_dir(&self.path);
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(format!("cannot remove {}: {e}", self.path.display())),
            };
        }
        let doc = Document {
            version: STATE_VERSION,
            changes: records.to_vec(),
        };
        let mut text = serde_json::to_string_pretty(&doc)
            .map_err(|e| format!("cannot encode {}: {e}", self.path.display()))?;
        text.push('\n');
        self.write_atomically(text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }

    fn write_atomically(&self, bytes: &[u8]) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if !dir.as_os_str().is_empty() {
            fs::create_dir_all(dir)?;
        }
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
        let result = (|| {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, &self.path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        sync_dir(&self.path);
        Ok(())
    }

    /// Checks that the file's directory exists or can be created, so that a
    /// freeze or throttle is not refused later for want of it.
    pub fn ensure_dir(&self) -> Result<(), String> {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create the directory {}: {e}", dir.display())),
            _ => Ok(()),
        }
    }
}

/// fsyncs the directory holding `path`, so that a rename or removal in it
/// survives a crash. Failures are ignored: the data itself is already
/// synced, and some filesystems cannot sync directories.
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(label: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        std::env::temp_dir().join(format!(
            "serenity-state-{label}-{}-{nanos}",
            std::process::id()
        ))
    }

    fn record(group: &str) -> Record {
        Record {
            group: group.into(),
            change: "freeze".into(),
            file: PathBuf::from(format!("/sys/fs/cgroup/freezer/{group}/freezer.state")),
            restore: "THAWED".into(),
        }
    }

    #[test]
    fn saved_records_load_back_and_an_empty_list_removes_the_file() {
        let dir = temp("roundtrip");
        let state = StateFile::new(dir.join("sub/agent-state.json"));
        assert!(matches!(state.load(), Loaded::Absent));
        state.save(&[record("be/a"), record("be/b")]).unwrap();
        match state.load() {
            Loaded::Records(r) => assert_eq!(r, [record("be/a"), record("be/b")]),
            other => panic!("{other:?}"),
        }
        let leftovers: Vec<_> = fs::read_dir(dir.join("sub"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(leftovers, ["agent-state.json"], "no temporary file is left");
        state.save(&[]).unwrap();
        assert!(!state.path().exists());
        assert!(matches!(state.load(), Loaded::Absent));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_file_is_named_with_its_position_and_set_aside() {
        let dir = temp("corrupt");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("agent-state.json");
        fs::write(&path, "{\"version\": 1,\n \"changes\": [tru").unwrap();
        let state = StateFile::new(path.clone());
        let Loaded::Unreadable(why) = state.load() else {
            panic!("should be unreadable");
        };
        assert!(why.starts_with(&format!("{}:2:", path.display())), "{why}");
        let aside = state.set_aside().unwrap();
        assert_eq!(aside, dir.join("agent-state.json.corrupt"));
        assert!(!path.exists());
        assert_eq!(
            fs::read_to_string(&aside).unwrap(),
            "{\"version\": 1,\n \"changes\": [tru"
        );
        fs::write(&path, "{\"version\": 7, \"changes\": []}").unwrap();
        let Loaded::Unreadable(why) = state.load() else {
            panic!("an unknown version is unreadable");
        };
        assert_eq!(
            why,
            format!(
                "{}: `version` = 7: this agent reads version 1 only",
                path.display()
            )
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
