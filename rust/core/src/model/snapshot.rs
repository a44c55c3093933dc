//! The validated view of one usage snapshot that stages read.

use super::proto::{Executor, Resource, ResourceStatistics, ResourceUsage};
use std::fmt;
use std::hash::BuildHasher;

/// Bytes in one MiB: Mesos `mem` resources are scalars in MiB.
pub const MIB: f64 = 1024.0 * 1024.0;

/// An executor's identity on an agent: the pair (framework id, executor id),
/// as Mesos and the original Serenity key executors.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExecutorKey {
    /// `executor_info.framework_id.value`.
    pub framework_id: String,
    /// `executor_info.executor_id.value`.
    pub executor_id: String,
}

impl fmt::Display for ExecutorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (framework {})", self.executor_id, self.framework_id)
    }
}

/// One usable executor of a snapshot, with what the stages need precomputed.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorView {
    /// Index into `Snapshot::usage.executors`.
    pub index: usize,
    /// The executor's identity.
    pub key: ExecutorKey,
    /// `container_id.value` when the agent sent one.
    pub container_id: Option<String>,
    /// True when any allocated resource carries `revocable` (best-effort work).
    pub revocable: bool,
    /// Σ allocated `cpus` (revocable or not), if any were allocated.
    pub allocated_cpus: Option<f64>,
    /// Σ allocated `mem` in bytes (Mesos `mem` is in MiB), if any.
    pub allocated_mem_bytes: Option<f64>,
    /// Σ allocated revocable `cpus`.
    pub revocable_cpus: f64,
    /// Σ allocated revocable `mem` in bytes.
    pub revocable_mem_bytes: f64,
}

/// An executor left out of a snapshot, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Index into `Snapshot::usage.executors`.
    pub index: usize,
    /// A sentence saying why the executor cannot be used.
    pub reason: String,
}

/// A decoded ResourceUsage with its usable executors identified.
///
/// Executors without an executor id or framework id cannot be keyed and are
/// rejected; a second executor with an already-seen key is rejected (the first
/// wins). Rejections are kept so that callers can log them; nothing is lost
/// silently.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The snapshot as decoded.
    pub usage: ResourceUsage,
    /// Usable executors, in the order of `usage.executors`.
    pub executors: Vec<ExecutorView>,
    /// Executors that could not be used, with the reason.
    pub rejected: Vec<Rejection>,
    /// Σ `cpus` in the agent's `total`, when present and positive.
    pub total_cpus: Option<f64>,
    /// Σ `mem` in the agent's `total`, in bytes, when present and positive.
    pub total_mem_bytes: Option<f64>,
    /// The latest finite `statistics.timestamp` among the usable executors:
    /// the snapshot's time. Time inside the core comes only from here.
    pub timestamp: Option<f64>,
    /// The keys seen while building, kept so that a rebuild allocates nothing.
    seen: SeenKeys,
}

/// Rows of `Snapshot::executors` by key, for the duplicate check: scratch
/// space, not part of the snapshot's value (equal, cloned and shown empty).
#[derive(Default)]
struct SeenKeys {
    rows: hashbrown::HashTable<usize>,
    hasher: hashbrown::DefaultHashBuilder,
    /// `executors` is what the last build made, whose keys are distinct (a
    /// build keeps only the rows it accepts): a row that keeps the key its
    /// view had needs no check against them. False in a new or cloned
    /// snapshot.
    built: bool,
}

impl Clone for SeenKeys {
    fn clone(&self) -> Self {
        SeenKeys::default()
    }
}

impl PartialEq for SeenKeys {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for SeenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeenKeys")
    }
}

impl SeenKeys {
    /// Records the keys of rows `0..rows` (distinct: a build's).
    fn insert_distinct(&mut self, views: &[ExecutorView], rows: usize) {
        for row in 0..rows {
            self.insert(views, row);
        }
    }

    /// Records the key of row `row`; false when an earlier row has it.
    fn insert(&mut self, views: &[ExecutorView], row: usize) -> bool {
        let key = &views[row].key;
        let hash = self.hasher.hash_one((&key.framework_id, &key.executor_id));
        let hasher = &self.hasher;
        match self.rows.entry(
            hash,
            |&r| views[r].key == *key,
            |&r| hasher.hash_one((&views[r].key.framework_id, &views[r].key.executor_id)),
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(row);
                true
            }
        }
    }
}

/// Σ of the positive, finite scalar values named `name` (Mesos drops zero,
/// negative and invalid scalars when it adds a Resource to Resources).
fn scalar_sum<'a>(resources: impl Iterator<Item = &'a Resource>, name: &str) -> Option<f64> {
    let mut sum = Sum::default();
    for r in resources {
        if r.name.as_deref() != Some(name) {
            continue;
        }
        if let Some(v) = r.scalar.as_ref().and_then(|s| s.value) {
            sum.add(v);
        }
    }
    sum.total()
}

/// A sum of the positive, finite scalars of one resource name.
#[derive(Default)]
struct Sum {
    found: bool,
    sum: f64,
}

impl Sum {
    fn add(&mut self, v: f64) {
        if v.is_finite() && v > 0.0 {
            self.sum += v;
            self.found = true;
        }
    }

    fn total(&self) -> Option<f64> {
        self.found.then_some(self.sum)
    }
}

/// Overwrites `dst` with `text` in the buffer it has.
fn set_text(dst: &mut String, text: &str) {
    dst.clear();
    dst.push_str(text);
}

impl ExecutorView {
    /// A view to be filled (no allocation).
    fn unused() -> ExecutorView {
        ExecutorView {
            index: 0,
            key: ExecutorKey {
                framework_id: String::new(),
                executor_id: String::new(),
            },
            container_id: None,
            revocable: false,
            allocated_cpus: None,
            allocated_mem_bytes: None,
            revocable_cpus: 0.0,
            revocable_mem_bytes: 0.0,
        }
    }
}

impl Snapshot {
    /// Builds the view of a decoded ResourceUsage.
    pub fn new(usage: ResourceUsage) -> Snapshot {
        let mut snapshot = Snapshot {
            usage,
            executors: Vec::new(),
            rejected: Vec::new(),
            total_cpus: None,
            total_mem_bytes: None,
            timestamp: None,
            seen: SeenKeys::default(),
        };
        snapshot.rebuild();
        snapshot
    }

    /// Rebuilds the view after `usage` was replaced or decoded over (see
    /// [`crate::model::decode_usage_into`]): the same snapshot as
    /// [`Snapshot::new`] of that usage, made in the buffers of the previous
    /// one, so that a node whose executors stay the same allocates nothing.
    pub fn rebuild(&mut self) {
        // While every row keeps the key it had in the previous build,
        // the keys are known distinct and nothing is hashed; the first row
        // that differs hashes the rows before it and every row after it.
        let mut unchanged = self.seen.built;
        let previous = self.executors.len();
        self.rejected.clear();
        self.seen.rows.clear();
        let mut live = 0;
        let mut timestamp: Option<f64> = None;
        for (index, e) in self.usage.executors.iter().enumerate() {
            if live == self.executors.len() {
                self.executors.push(ExecutorView::unused());
            }
            let same_key = match Self::fill(&mut self.executors[live], index, e) {
                Err(reason) => {
                    self.rejected.push(Rejection { index, reason });
                    continue;
                }
                Ok(same_key) => same_key && live < previous,
            };
            if unchanged && !same_key {
                unchanged = false;
                self.seen.insert_distinct(&self.executors, live);
            }
            if !unchanged && !self.seen.insert(&self.executors, live) {
                self.rejected.push(Rejection {
                    index,
                    reason: format!(
                        "executor {} appears more than once in the snapshot; the first entry is used",
                        self.executors[live].key
                    ),
                });
                continue;
            }
            if let Some(ts) = e.statistics.as_ref().and_then(|s| s.timestamp) {
                if ts.is_finite() {
                    timestamp = Some(timestamp.map_or(ts, |t: f64| t.max(ts)));
                }
            }
            live += 1;
        }
        self.executors.truncate(live);
        self.seen.built = true;
        self.total_cpus = scalar_sum(self.usage.total.iter(), "cpus");
        self.total_mem_bytes = scalar_sum(self.usage.total.iter(), "mem").map(|m| m * MIB);
        self.timestamp = timestamp;
    }

    /// Makes `view` the view of executor `e` (row `index` of the usage),
    /// reusing its strings, or says why `e` cannot be used. True when the
    /// view had `e`'s key already.
    fn fill(view: &mut ExecutorView, index: usize, e: &Executor) -> Result<bool, String> {
        let info = e.executor_info.as_ref().ok_or_else(|| {
            format!("executor #{index} has no executor_info, so it cannot be identified")
        })?;
        let executor_id = info
            .executor_id
            .as_ref()
            .and_then(|id| id.value.as_deref())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                format!("executor #{index} has no executor_id, so it cannot be identified")
            })?;
        let framework_id = info
            .framework_id
            .as_ref()
            .and_then(|id| id.value.as_deref())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                format!("executor {executor_id} (#{index}) has no framework_id, so it cannot be identified")
            })?;
        view.index = index;
        let same_key = view.key.framework_id == framework_id && view.key.executor_id == executor_id;
        if !same_key {
            set_text(&mut view.key.framework_id, framework_id);
            set_text(&mut view.key.executor_id, executor_id);
        }
        match (
            e.container_id.as_ref().and_then(|c| c.value.as_deref()),
            &mut view.container_id,
        ) {
            (Some(id), Some(old)) => set_text(old, id),
            (Some(id), None) => view.container_id = Some(id.to_owned()),
            (None, old) => *old = None,
        }
        // One pass for what `scalar_sum` gives of cpus and mem, all and revocable.
        let (mut cpus, mut mem, mut revocable_cpus, mut revocable_mem) = (
            Sum::default(),
            Sum::default(),
            Sum::default(),
            Sum::default(),
        );
        view.revocable = false;
        for r in &e.allocated {
            let revocable = r.revocable.is_some();
            view.revocable |= revocable;
            let (all, rev) = match r.name.as_deref() {
                Some("cpus") => (&mut cpus, &mut revocable_cpus),
                Some("mem") => (&mut mem, &mut revocable_mem),
                _ => continue,
            };
            if let Some(v) = r.scalar.as_ref().and_then(|s| s.value) {
                all.add(v);
                if revocable {
                    rev.add(v);
                }
            }
        }
        view.allocated_cpus = cpus.total();
        view.allocated_mem_bytes = mem.total().map(|m| m * MIB);
        view.revocable_cpus = revocable_cpus.total().unwrap_or(0.0);
        view.revocable_mem_bytes = revocable_mem.total().map_or(0.0, |m| m * MIB);
        Ok(same_key)
    }

    /// The statistics of usable executor `row` (an index into `executors`), if the agent sent them.
    pub fn statistics(&self, row: usize) -> Option<&ResourceStatistics> {
        self.usage.executors[self.executors[row].index]
            .statistics
            .as_ref()
    }

    /// Σ allocated revocable cpus and memory bytes over all usable executors.
    pub fn allocated_revocable(&self) -> (f64, f64) {
        self.executors.iter().fold((0.0, 0.0), |(c, m), e| {
            (c + e.revocable_cpus, m + e.revocable_mem_bytes)
        })
    }

    /// Whether any usable executor is best-effort (revocable).
    pub fn has_revocable(&self) -> bool {
        self.executors.iter().any(|e| e.revocable)
    }
}
