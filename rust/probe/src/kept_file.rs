//! Cgroup interface files read through descriptors kept open.
//!
//! Reading a cgroup file by path costs an `openat` (a path walk and a
//! seq_file allocation), an `fstat`, two `read`s and a `close`. A [`KeptDir`]
//! opens each file of one group directory once and re-reads it with a
//! single `pread` at offset 0: kernfs seq files reset their iterator on a
//! read from offset 0 and regenerate the content, so every read is fresh.
//!
//! Rules:
//! - Descriptors are kept only on cgroup, cgroup2 and proc file systems,
//!   which regenerate on every read and report a removed node as ENODEV.
//!   Files anywhere else (a recorded tree in a temp dir) are opened by path
//!   on every read: a regular file replaced by a new one would otherwise
//!   still be read through the old inode.
//! - cgroup v1 `cgroup.procs` and `tasks` are opened on every read: v1
//!   caches a pid list per open file and hands it out again for about a
//!   second (`CGROUP_PIDLIST_DESTROY_DELAY`), so a kept descriptor could
//!   answer a stale list.
//! - A read that fails with ENODEV or ESTALE (the group, or the file, was
//!   removed: kernfs deactivates the nodes of a removed group) closes every
//!   descriptor of the directory and opens the file by path once more: a
//!   group that was removed and recreated is read afresh (one log line), a
//!   group that is gone is [`ProbeError::Vanished`], a file that is gone
//!   from a group that still exists is absent.
//! - A file whose content does not parse (or is not UTF-8) is closed and
//!   opened by path on the next read.
//! - A file the group does not have (its controller is not enabled, no
//!   swap accounting) is absent; opening it is tried again every
//!   [`REPROBE_READS`] reads, so a controller enabled later is picked up
//!   within that many ticks. A directory that does not exist (no group in
//!   this v1 hierarchy, a hierarchy not mounted) is looked for again on
//!   every read.
//!
//! A read that returns fewer bytes than asked and fewer than
//! [`SHORT_READ_IS_EOF`] is the whole file: a seq file stops short of the
//! buffer only at its end or when its own buffer (at least a page) is
//! full, and cgroup files' records are short lines. Anything longer is read
//! on until a read returns 0.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cgroup_files::FileSource;
use crate::error::{ParseError, ProbeError};

/// Reads of a file found absent before a new attempt to open it.
pub const REPROBE_READS: u32 = 10;

/// A short read below this many bytes ends the file (see the module docs).
pub const SHORT_READ_IS_EOF: usize = 2048;

/// `statfs` magic numbers of the file systems whose files are kept open.
const CGROUP_SUPER_MAGIC: u64 = 0x0027_e0eb;
const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;
const PROC_SUPER_MAGIC: u64 = 0x9fa0;

/// Files whose descriptors are never kept on cgroup v1 (stale pid lists).
const V1_PID_LISTS: [&str; 2] = ["cgroup.procs", "tasks"];

thread_local! {
    /// One read buffer per thread, shared by every kept directory.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; 16 * 1024]);
}

/// How many files were opened and read, for tests and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileCounters {
    /// `open` calls (successful or not).
    pub opens: u64,
    /// `pread` calls.
    pub reads: u64,
}

/// A v1 group: the directory holding the hierarchies, and the group's
/// path inside each (shared by the group's directories).
#[derive(Debug)]
pub(crate) struct V1Group {
    pub(crate) root: PathBuf,
    pub(crate) group: PathBuf,
}

/// Where a kept directory is.
#[derive(Debug, Clone)]
pub(crate) enum Locate {
    /// A fixed directory (a v2 group).
    Path(PathBuf),
    /// `<hierarchy of controller under root>/<group>` (a v1 group), looked
    /// up again while the hierarchy is not mounted.
    V1 {
        at: Arc<V1Group>,
        controller: &'static str,
    },
}

impl Locate {
    fn resolve(&self) -> Option<PathBuf> {
        match self {
            Locate::Path(p) => Some(p.clone()),
            Locate::V1 { at, controller } => crate::CgroupV1::new(&at.root, "")
                .hierarchy(controller)
                .map(|h| h.join(&at.group)),
        }
    }
}

#[derive(Debug)]
enum Slot {
    /// Not open (yet, or opened per read).
    Closed,
    /// Open, re-read with pread.
    Open(File),
    /// Not provided by the group; `skip` more reads before trying again.
    Absent { skip: u32 },
}

#[derive(Debug)]
struct Kept {
    name: &'static str,
    slot: Slot,
}

/// What reading one file gave.
enum Fetched {
    /// `len` bytes in the scratch buffer.
    Bytes(usize),
    /// The group has no such file.
    Absent,
    /// The descriptor's node was removed (ENODEV, ESTALE).
    Stale,
    /// The directory is gone.
    DirGone,
}

/// One group directory whose files are read through kept descriptors.
#[derive(Debug)]
pub(crate) struct KeptDir {
    locate: Locate,
    /// The resolved directory while it exists.
    dir: Option<PathBuf>,
    /// Whether descriptors may be kept here (cgroupfs, cgroup2, proc).
    keep: bool,
    /// Keep descriptors on any file system (unit tests on temp files).
    keep_anywhere: bool,
    /// cgroup v1: pid lists are opened per read.
    v1: bool,
    files: Vec<Kept>,
    counters: FileCounters,
}

impl KeptDir {
    /// A directory found by `locate`; nothing is opened yet.
    pub(crate) fn new(locate: Locate) -> Self {
        let v1 = matches!(locate, Locate::V1 { .. });
        KeptDir {
            locate,
            dir: None,
            keep: false,
            keep_anywhere: false,
            v1,
            files: Vec::new(),
            counters: FileCounters::default(),
        }
    }

    /// Keeps descriptors whatever the file system (tests on temp files
    /// rewritten in place).
    #[cfg(test)]
    pub(crate) fn keeping_anywhere(mut self) -> Self {
        self.keep_anywhere = true;
        self
    }

    /// The counters so far.
    pub(crate) fn counters(&self) -> FileCounters {
        self.counters
    }

    /// Whether the directory exists, looking for it when it did not at the
    /// last read. Call once per read of the group.
    pub(crate) fn present(&mut self) -> bool {
        if self.dir.is_some() {
            return true;
        }
        let Some(dir) = self.locate.resolve().filter(|d| d.is_dir()) else {
            return false;
        };
        self.keep = self.keep_anywhere || keepable_fs(&dir);
        self.files.clear();
        self.dir = Some(dir);
        true
    }

    /// The directory, or where it is looked for while it does not exist.
    pub(crate) fn expected_path(&self) -> PathBuf {
        self.dir
            .clone()
            .or_else(|| self.locate.resolve())
            .unwrap_or_default()
    }

    fn index_of(&mut self, name: &'static str) -> usize {
        match self.files.iter().position(|k| k.name == name) {
            Some(i) => i,
            None => {
                self.files.push(Kept {
                    name,
                    slot: Slot::Closed,
                });
                self.files.len() - 1
            }
        }
    }

    /// Reads file `index` into `buf`.
    fn fetch(&mut self, index: usize, buf: &mut Vec<u8>) -> Result<Fetched, ProbeError> {
        let Some(dir) = self.dir.clone() else {
            return Ok(Fetched::DirGone);
        };
        let name = self.files[index].name;
        let path = dir.join(name);
        match &mut self.files[index].slot {
            Slot::Open(file) => {
                return match read_whole(file, buf, &mut self.counters) {
                    Ok(n) => Ok(Fetched::Bytes(n)),
                    Err(e) if is_stale(&e) => Ok(Fetched::Stale),
                    Err(e) => Err(ProbeError::io(&path, e)),
                };
            }
            Slot::Absent { skip } if *skip > 0 => {
                *skip -= 1;
                return Ok(Fetched::Absent);
            }
            Slot::Absent { .. } | Slot::Closed => {}
        }
        self.counters.opens += 1;
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if dir.is_dir() {
                    self.files[index].slot = Slot::Absent {
                        skip: REPROBE_READS - 1,
                    };
                    return Ok(Fetched::Absent);
                }
                return Ok(Fetched::DirGone);
            }
            Err(e) if is_stale(&e) => return Ok(Fetched::DirGone),
            Err(e) => return Err(ProbeError::io(&path, e)),
        };
        let n = match read_whole(&file, buf, &mut self.counters) {
            Ok(n) => n,
            Err(e) if is_stale(&e) => return Ok(Fetched::DirGone),
            Err(e) => return Err(ProbeError::io(&path, e)),
        };
        let per_read = self.v1 && V1_PID_LISTS.contains(&name);
        self.files[index].slot = if self.keep && !per_read {
            Slot::Open(file)
        } else {
            Slot::Closed
        };
        Ok(Fetched::Bytes(n))
    }

    /// Closes the descriptor of `name`, if open: the next read opens it.
    fn close(&mut self, name: &str) {
        if let Some(kept) = self.files.iter_mut().find(|k| k.name == name) {
            kept.slot = Slot::Closed;
        }
    }

    /// Forgets every descriptor and the directory (it is gone).
    fn lose_dir(&mut self) -> ProbeError {
        let path = self.expected_path();
        self.dir = None;
        self.files.clear();
        ProbeError::Vanished { path }
    }
}

impl FileSource for KeptDir {
    fn path_of(&self, file: &str) -> PathBuf {
        self.dir.as_deref().unwrap_or(Path::new("")).join(file)
    }

    fn parse<T>(
        &mut self,
        file: &'static str,
        parser: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<Option<T>, ProbeError> {
        if self.dir.is_none() {
            return Ok(None);
        }
        let index = self.index_of(file);
        SCRATCH.with(|scratch| {
            let mut buf = scratch.borrow_mut();
            let mut fetched = self.fetch(index, &mut buf)?;
            if let Fetched::Stale = fetched {
                // The node behind the descriptor was removed: close them
                // all and look at the path again, once.
                let dir = self.path_of("");
                self.files.clear();
                let index = self.index_of(file);
                fetched = self.fetch(index, &mut buf)?;
                if let Fetched::Bytes(_) = fetched {
                    log::info!(
                        target: "serenity",
                        "cgroup {} was removed and recreated (a kept descriptor of {file} answered \
                         ENODEV): its files are reopened",
                        dir.display()
                    );
                }
            }
            match fetched {
                Fetched::Bytes(n) => {
                    // The path is joined only for an error's message: a
                    // tick reads thousands of files.
                    let parsed = match std::str::from_utf8(&buf[..n]) {
                        Ok(text) => parser(text)
                            .map(Some)
                            .map_err(|e| e.in_file(&self.path_of(file))),
                        Err(_) => Err(ProbeError::io(
                            &self.path_of(file),
                            io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"),
                        )),
                    };
                    if parsed.is_err() {
                        // Whatever answered garbage, the next read asks the
                        // path again.
                        self.close(file);
                    }
                    parsed
                }
                Fetched::Absent => Ok(None),
                Fetched::Stale | Fetched::DirGone => Err(self.lose_dir()),
            }
        })
    }
}

fn is_stale(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENODEV) | Some(libc::ESTALE))
}

/// Reads the whole file from offset 0 into `buf` (grown as needed) and
/// returns its length.
fn read_whole(file: &File, buf: &mut Vec<u8>, counters: &mut FileCounters) -> io::Result<usize> {
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            let grown = (buf.len() * 2).max(4096);
            buf.resize(grown, 0);
        }
        let want = buf.len() - filled;
        counters.reads += 1;
        let n = match file.read_at(&mut buf[filled..], filled as u64) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        filled += n;
        if n == 0 || (n < want && n < SHORT_READ_IS_EOF) {
            return Ok(filled);
        }
    }
}

/// Whether `dir` is on a file system whose files may be kept open.
fn keepable_fs(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs reads the NUL-terminated path and writes only into
    // the zero-initialized struct it is given, which outlives the call.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above; both pointers are valid for the call.
    if unsafe { libc::statfs(c_path.as_ptr(), &mut st) } != 0 {
        return false;
    }
    #[allow(clippy::unnecessary_cast)]
    let magic = st.f_type as u64;
    matches!(
        magic,
        CGROUP_SUPER_MAGIC | CGROUP2_SUPER_MAGIC | PROC_SUPER_MAGIC
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup_files::parse_u64;
    use crate::test_support::TempTree;

    #[test]
    fn a_kept_descriptor_sees_a_rewritten_file_with_one_read_each_time() {
        let tree = TempTree::new("kept");
        tree.write("g/cpu.shares", "1024\n");
        let mut dir = KeptDir::new(Locate::Path(tree.path().join("g"))).keeping_anywhere();
        assert!(dir.present());
        assert_eq!(dir.parse("cpu.shares", parse_u64).unwrap(), Some(1024));
        tree.write("g/cpu.shares", "2048\n");
        assert_eq!(dir.parse("cpu.shares", parse_u64).unwrap(), Some(2048));
        tree.write("g/cpu.shares", "3\n");
        assert_eq!(dir.parse("cpu.shares", parse_u64).unwrap(), Some(3));
        assert_eq!(dir.counters(), FileCounters { opens: 1, reads: 3 });
    }

    #[test]
    fn temp_files_are_opened_per_read_unless_asked() {
        let tree = TempTree::new("kept-tmp");
        tree.write("g/cpu.shares", "1024\n");
        let mut dir = KeptDir::new(Locate::Path(tree.path().join("g")));
        assert!(dir.present());
        for _ in 0..3 {
            assert_eq!(dir.parse("cpu.shares", parse_u64).unwrap(), Some(1024));
        }
        assert_eq!(dir.counters().opens, 3);
    }

    #[test]
    fn a_long_file_is_read_whole() {
        let tree = TempTree::new("kept-long");
        let pids: String = (1..=20_000).map(|p| format!("{p}\n")).collect();
        tree.write("g/cgroup.procs", &pids);
        let mut dir = KeptDir::new(Locate::Path(tree.path().join("g"))).keeping_anywhere();
        assert!(dir.present());
        let count = dir
            .parse("cgroup.procs", crate::cgroup_files::count_pids)
            .unwrap();
        assert_eq!(count, Some(20_000));
    }

    #[test]
    fn an_absent_file_is_tried_again_after_some_reads() {
        let tree = TempTree::new("kept-absent");
        tree.mkdir("g");
        let mut dir = KeptDir::new(Locate::Path(tree.path().join("g"))).keeping_anywhere();
        assert!(dir.present());
        for _ in 0..REPROBE_READS {
            assert_eq!(dir.parse("cpu.max", parse_u64).unwrap(), None);
        }
        assert_eq!(dir.counters().opens, 1, "absent: not opened again at once");
        tree.write("g/cpu.max", "7\n");
        assert_eq!(dir.parse("cpu.max", parse_u64).unwrap(), Some(7));
        assert_eq!(dir.counters().opens, 2);
    }

    #[test]
    fn a_removed_directory_is_vanished_and_found_again_when_recreated() {
        let tree = TempTree::new("kept-gone");
        tree.write("g/cpu.weight", "100\n");
        let mut dir = KeptDir::new(Locate::Path(tree.path().join("g")));
        assert!(dir.present());
        assert_eq!(dir.parse("cpu.weight", parse_u64).unwrap(), Some(100));
        std::fs::remove_dir_all(tree.path().join("g")).unwrap();
        let err = dir.parse("cpu.weight", parse_u64).unwrap_err();
        assert!(err.is_vanished(), "{err}");
        assert!(!dir.present());
        tree.write("g/cpu.weight", "5\n");
        assert!(dir.present());
        assert_eq!(dir.parse("cpu.weight", parse_u64).unwrap(), Some(5));
    }

    #[test]
    fn malformed_and_non_utf8_content_name_the_file() {
        let tree = TempTree::new("kept-bad");
        tree.write("g/cpu.weight", "heavy\n");
        std::fs::write(tree.path().join("g/cpu.shares"), [0xff, 0xfe]).unwrap();
        let mut dir = KeptDir::new(Locate::Path(tree.path().join("g")));
        assert!(dir.present());
        let e = dir.parse("cpu.weight", parse_u64).unwrap_err();
        assert!(e.to_string().contains("g/cpu.weight"), "{e}");
        let e = dir.parse("cpu.shares", parse_u64).unwrap_err();
        assert!(e.to_string().contains("g/cpu.shares"), "{e}");
    }

    #[test]
    fn a_file_that_did_not_parse_is_opened_again() {
        let tree = TempTree::new("kept-reopen");
        tree.write("g/cpu.weight", "heavy\n");
        let mut dir = KeptDir::new(Locate::Path(tree.path().join("g"))).keeping_anywhere();
        assert!(dir.present());
        assert!(dir.parse("cpu.weight", parse_u64).is_err());
        // Replaced by a new file (a new inode): a kept descriptor would
        // still read the old one.
        std::fs::remove_file(tree.path().join("g/cpu.weight")).unwrap();
        tree.write("g/cpu.weight", "100\n");
        assert_eq!(dir.parse("cpu.weight", parse_u64).unwrap(), Some(100));
        assert_eq!(dir.counters().opens, 2);
    }
}
