//! Executor identity across ticks: slots, generations and the previous
//! samples from which rates are derived.
//!
//! Every executor key seen gets a slot; stages keep per-executor state in a
//! [`SlotMap`] indexed by [`ExecutorRef`]. When an executor has been absent for
//! more than the pipeline's grace (in ticks), its slot is freed and its
//! generation bumped, so every stage's state for it becomes stale at once and
//! is overwritten on reuse. Memory is therefore bounded by the largest number
//! of executors alive at once (plus the grace), however long the run and
//! however many executors come and go.

use crate::model::{ExecutorKey, Snapshot};
use crate::signal::{builtin, SignalTable};
use hashbrown::HashMap;

/// A handle to an executor's slot, valid for one lifetime of that executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExecutorRef {
    /// Slot index.
    pub slot: u32,
    /// Generation of the slot when this executor took it.
    pub generation: u32,
}

/// What the registry remembers of an executor between ticks.
#[derive(Debug, Clone)]
struct Slot {
    key: ExecutorKey,
    container_id: Option<String>,
    generation: u32,
    live: bool,
    first_seen: Option<f64>,
    last_seen_tick: u64,
    /// (timestamp, user+system seconds) of the previous usable CPU sample.
    prev_cpu: Option<(f64, f64)>,
    /// (nr_periods, nr_throttled) of the previous sample.
    prev_throttle: Option<(u32, u32)>,
    /// (timestamp, cumulative seconds) of the previous sample of each
    /// starvation total, in the order of [`STARVATION`].
    prev_starvation: [Option<(f64, f64)>; 4],
}

/// The starvation totals: (signal, what it is, whether it is a share of
/// time capped at 1), in the order of `Slot::prev_starvation`.
const STARVATION: [(crate::signal::SignalId, &str, bool); 4] = [
    (builtin::RUNQUEUE_DELAY, "run-queue delay", false),
    (builtin::CPU_PRESSURE, "CPU pressure stall time", true),
    (builtin::MEM_PRESSURE, "memory pressure stall time", true),
    (builtin::IO_PRESSURE, "IO pressure stall time", true),
];

/// A note the registry makes while ingesting a tick (logged by the pipeline).
#[derive(Debug, Clone, PartialEq)]
pub struct IngestNote {
    /// Row in `Snapshot::executors`.
    pub row: usize,
    /// A sentence naming what was wrong.
    pub message: String,
}

/// The registry of executors one pipeline has seen.
#[derive(Debug, Clone, Default)]
pub struct ExecutorRegistry {
    index: HashMap<ExecutorKey, u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    tick: u64,
    grace_ticks: u64,
    refs: Vec<ExecutorRef>,
    /// `refs` of the previous tick: an executor at the row it had then is
    /// found by comparing its key, without hashing it.
    prev_refs: Vec<ExecutorRef>,
    notes: Vec<IngestNote>,
}

/// Borrowed lookup key, so that finding an executor allocates nothing.
#[derive(Hash)]
struct KeyRef<'a> {
    framework_id: &'a str,
    executor_id: &'a str,
}

impl hashbrown::Equivalent<ExecutorKey> for KeyRef<'_> {
    fn equivalent(&self, key: &ExecutorKey) -> bool {
        key.framework_id == self.framework_id && key.executor_id == self.executor_id
    }
}

impl std::hash::Hash for ExecutorKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        KeyRef {
            framework_id: &self.framework_id,
            executor_id: &self.executor_id,
        }
        .hash(state)
    }
}

impl ExecutorRegistry {
    /// A registry that forgets an executor after it has been absent for more
    /// than `grace_ticks` ticks.
    pub fn new(grace_ticks: u64) -> Self {
        ExecutorRegistry {
            grace_ticks,
            ..Default::default()
        }
    }

    /// Number of slots allocated (live and within grace): the size of all
    /// per-executor state.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Number of executors currently remembered.
    pub fn remembered(&self) -> usize {
        self.index.len()
    }

    /// The refs of this tick's executors, by row.
    pub fn refs(&self) -> &[ExecutorRef] {
        &self.refs
    }

    /// Problems found while ingesting this tick.
    pub fn notes(&self) -> &[IngestNote] {
        &self.notes
    }

    /// Sample time at which an executor was first seen, if known.
    pub fn first_seen(&self, r: ExecutorRef) -> Option<f64> {
        self.slots
            .get(r.slot as usize)
            .filter(|s| s.generation == r.generation)
            .and_then(|s| s.first_seen)
    }

    /// Registers this tick's executors, derives the built-in signals into
    /// `signals` (already reset to the snapshot's rows), and forgets executors
    /// absent for longer than the grace.
    pub fn ingest(&mut self, snapshot: &Snapshot, signals: &mut SignalTable) {
        self.tick += 1;
        std::mem::swap(&mut self.refs, &mut self.prev_refs);
        self.refs.clear();
        self.notes.clear();
        for (row, view) in snapshot.executors.iter().enumerate() {
            let r = self.slot_for(&view.key, view.container_id.as_deref(), row);
            self.refs.push(r);
            self.derive(snapshot, row, r, signals);
        }
        self.sweep();
    }

    /// The slot of `key`, if it has one: the slot of the previous tick's
    /// executor at `row` when that is the same key, else by hash.
    fn find(&self, key: &ExecutorKey, row: usize) -> Option<u32> {
        if let Some(prev) = self.prev_refs.get(row) {
            let s = &self.slots[prev.slot as usize];
            if s.live && s.generation == prev.generation && s.key == *key {
                return Some(prev.slot);
            }
        }
        let lookup = KeyRef {
            framework_id: &key.framework_id,
            executor_id: &key.executor_id,
        };
        self.index.get(&lookup).copied()
    }

    fn slot_for(&mut self, key: &ExecutorKey, container: Option<&str>, row: usize) -> ExecutorRef {
        if let Some(slot) = self.find(key, row) {
            let s = &mut self.slots[slot as usize];
            let same_container = match (s.container_id.as_deref(), container) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
            if same_container {
                s.last_seen_tick = self.tick;
                if s.container_id.is_none() {
                    s.container_id = container.map(str::to_owned);
                }
                return ExecutorRef {
                    slot,
                    generation: s.generation,
                };
            }
            // The executor id was reused for a new container (MESOS-2875):
            // it is a new executor; nothing learned about the old one applies.
            self.notes.push(IngestNote {
                row,
                message: format!(
                    "executor {key} now runs in container {} instead of {}; its history is reset",
                    container.unwrap_or("?"),
                    s.container_id.as_deref().unwrap_or("?")
                ),
            });
            self.release(slot);
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    key: key.clone(),
                    container_id: None,
                    generation: 0,
                    live: false,
                    first_seen: None,
                    last_seen_tick: 0,
                    prev_cpu: None,
                    prev_throttle: None,
                    prev_starvation: [None; 4],
                });
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[slot as usize];
        s.key.clone_from(key);
        s.container_id = container.map(str::to_owned);
        s.live = true;
        s.first_seen = None;
        s.last_seen_tick = self.tick;
        s.prev_cpu = None;
        s.prev_throttle = None;
        s.prev_starvation = [None; 4];
        self.index.insert(key.clone(), slot);
        ExecutorRef {
            slot,
            generation: s.generation,
        }
    }

    fn release(&mut self, slot: u32) {
        let s = &mut self.slots[slot as usize];
        if !s.live {
            return;
        }
        s.live = false;
        s.generation = s.generation.wrapping_add(1);
        self.index.remove(&s.key);
        self.free.push(slot);
    }

    fn sweep(&mut self) {
        for slot in 0..self.slots.len() {
            let s = &self.slots[slot];
            if s.live && self.tick - s.last_seen_tick > self.grace_ticks {
                self.release(slot as u32);
            }
        }
    }

    /// Derives the built-in signals of one executor from its statistics and
    /// the previous sample.
    fn derive(&mut self, snapshot: &Snapshot, row: usize, r: ExecutorRef, out: &mut SignalTable) {
        let view = &snapshot.executors[row];
        out.set(row, builtin::CPUS_ALLOCATED, view.allocated_cpus);
        out.set(row, builtin::MEM_ALLOCATED_BYTES, view.allocated_mem_bytes);
        let Some(stats) = snapshot.statistics(row) else {
            return;
        };
        let slot = &mut self.slots[r.slot as usize];
        let ts = stats.timestamp.filter(|t| t.is_finite());
        if slot.first_seen.is_none() {
            slot.first_seen = ts;
        }
        if let (Some(now), Some(first)) = (ts, slot.first_seen) {
            out.set(row, builtin::AGE_SECS, Some(now - first));
        }
        out.set(row, builtin::CPUS_LIMIT, stats.cpus_limit);
        out.set(
            row,
            builtin::MEM_RSS_BYTES,
            stats.mem_rss_bytes.map(|v| v as f64),
        );
        out.set(
            row,
            builtin::MEM_LIMIT_BYTES,
            stats.mem_limit_bytes.map(|v| v as f64),
        );

        // CPU usage from cumulative user+system time.
        let cpu = match (ts, stats.cpus_user_time_secs, stats.cpus_system_time_secs) {
            (Some(t), Some(u), Some(s)) if u.is_finite() && s.is_finite() => Some((t, u + s)),
            (Some(t), Some(u), None) if u.is_finite() => Some((t, u)),
            (Some(t), None, Some(s)) if s.is_finite() => Some((t, s)),
            _ => None,
        };
        if let Some((t, total)) = cpu {
            if let Some((pt, ptotal)) = slot.prev_cpu {
                let dt = t - pt;
                let dcpu = total - ptotal;
                if dt <= 0.0 {
                    if dt < 0.0 {
                        self.notes.push(IngestNote {
                            row,
                            message: format!(
                                "executor {}: statistics timestamp went backwards ({pt} -> {t}); no CPU usage this tick",
                                view.key
                            ),
                        });
                        slot.prev_cpu = Some((t, total));
                    }
                    // Δt = 0: the same sample again; keep the older one so the
                    // next distinct sample yields a rate.
                } else if dcpu < 0.0 {
                    self.notes.push(IngestNote {
                        row,
                        message: format!(
                            "executor {}: CPU time went backwards ({ptotal:.3} s -> {total:.3} s, counter reset?); no CPU usage this tick",
                            view.key
                        ),
                    });
                    slot.prev_cpu = Some((t, total));
                } else {
                    out.set(row, builtin::CPU_USAGE, Some(dcpu / dt));
                    slot.prev_cpu = Some((t, total));
                }
            } else {
                slot.prev_cpu = Some((t, total));
            }
        }

        // Throttling ratio from nr_throttled / nr_periods deltas.
        if let (Some(p), Some(th)) = (stats.cpus_nr_periods, stats.cpus_nr_throttled) {
            if let Some((pp, pth)) = slot.prev_throttle {
                if p >= pp && th >= pth {
                    let dp = p - pp;
                    if dp > 0 {
                        out.set(
                            row,
                            builtin::CPU_THROTTLE_RATIO,
                            Some(((th - pth) as f64 / dp as f64).min(1.0)),
                        );
                    }
                } else {
                    self.notes.push(IngestNote {
                        row,
                        message: format!(
                            "executor {}: CFS throttling counters went backwards ({pp}/{pth} -> {p}/{th}); no throttling ratio this tick",
                            view.key
                        ),
                    });
                }
            }
            slot.prev_throttle = Some((p, th));
        }

        // Starvation totals (cumulative seconds): rates, as for CPU time.
        let totals = [
            stats.serenity_runqueue_delay_secs,
            stats.serenity_cpu_pressure_some_secs,
            stats.serenity_mem_pressure_some_secs,
            stats.serenity_io_pressure_some_secs,
        ];
        for (k, total) in totals.into_iter().enumerate() {
            let (signal, what, share) = STARVATION[k];
            let (Some(t), Some(total)) = (ts, total.filter(|v| v.is_finite() && *v >= 0.0)) else {
                continue;
            };
            match slot.prev_starvation[k] {
                Some((pt, _)) if t <= pt => {
                    // The same sample again keeps the older one; a sample
                    // from the past restarts (the CPU path logs it).
                    if t < pt {
                        slot.prev_starvation[k] = Some((t, total));
                    }
                }
                Some((_, ptotal)) if total < ptotal => {
                    self.notes.push(IngestNote {
                        row,
                        message: format!(
                            "executor {}: {what} went backwards ({ptotal:.6} s -> {total:.6} s, counter reset?); no {} this tick",
                            view.key,
                            snapshot_signal_name(signal)
                        ),
                    });
                    slot.prev_starvation[k] = Some((t, total));
                }
                Some((pt, ptotal)) => {
                    let rate = (total - ptotal) / (t - pt);
                    out.set(row, signal, Some(if share { rate.min(1.0) } else { rate }));
                    slot.prev_starvation[k] = Some((t, total));
                }
                None => slot.prev_starvation[k] = Some((t, total)),
            }
        }

        // Perf counters are per perf window: no differencing.
        if let Some(perf) = stats.perf.as_ref() {
            let cycles = perf.cycles.map(|v| v as f64);
            let instructions = perf.instructions.map(|v| v as f64);
            if let (Some(c), Some(i)) = (cycles, instructions) {
                if c > 0.0 {
                    out.set(row, builtin::IPC, Some(i / c));
                }
                if i > 0.0 {
                    out.set(row, builtin::CPI, Some(c / i));
                }
            }
            if let Some(d) = perf.duration.filter(|d| *d > 0.0) {
                out.set(row, builtin::IPS, instructions.map(|i| i / d));
                out.set(
                    row,
                    builtin::CACHE_MISSES_PER_SEC,
                    perf.cache_misses.map(|m| m as f64 / d),
                );
            }
        }
    }
}

fn snapshot_signal_name(id: crate::signal::SignalId) -> &'static str {
    crate::signal::BUILTIN_SIGNALS[id.index()].0
}

/// Per-executor state of a stage, indexed by [`ExecutorRef`]. An entry whose
/// generation does not match the ref is stale (the executor left and its slot
/// was reused) and is replaced on access.
#[derive(Debug, Clone)]
pub struct SlotMap<T> {
    entries: Vec<Option<(u32, T)>>,
}

impl<T> Default for SlotMap<T> {
    fn default() -> Self {
        SlotMap {
            entries: Vec::new(),
        }
    }
}

impl<T> SlotMap<T> {
    /// The state for `r`, if it exists and belongs to this executor.
    pub fn get(&self, r: ExecutorRef) -> Option<&T> {
        match self.entries.get(r.slot as usize) {
            Some(Some((g, v))) if *g == r.generation => Some(v),
            _ => None,
        }
    }

    /// The state for `r`, created with `init` if absent or stale.
    pub fn get_or_insert_with(&mut self, r: ExecutorRef, init: impl FnOnce() -> T) -> &mut T {
        let i = r.slot as usize;
        if self.entries.len() <= i {
            self.entries.resize_with(i + 1, || None);
        }
        let e = &mut self.entries[i];
        if !matches!(e, Some((g, _)) if *g == r.generation) {
            *e = Some((r.generation, init()));
        }
        match e {
            Some((_, v)) => v,
            None => unreachable!("entry was just filled"),
        }
    }

    /// The state for `r`, mutably, if it exists and belongs to this executor.
    pub fn get_mut(&mut self, r: ExecutorRef) -> Option<&mut T> {
        match self.entries.get_mut(r.slot as usize) {
            Some(Some((g, v))) if *g == r.generation => Some(v),
            _ => None,
        }
    }

    /// Drops the state for `r`.
    pub fn remove(&mut self, r: ExecutorRef) {
        if let Some(e) = self.entries.get_mut(r.slot as usize) {
            if matches!(e, Some((g, _)) if *g == r.generation) {
                *e = None;
            }
        }
    }

    /// Number of entries allocated (bounded by the registry's slot count).
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::build::{usage, ExecutorSpec};
    use crate::signal::SignalNames;

    /// Ingests one sample of executor `web` with the given starvation totals
    /// and returns the table.
    fn ingest(reg: &mut ExecutorRegistry, t: f64, totals: [Option<f64>; 4]) -> SignalTable {
        let e = ExecutorSpec::new("f", "web", false, 4.0, 1024.0)
            .cpu(t, t)
            .starvation(totals[0], totals[1], totals[2], totals[3]);
        let snap = Snapshot::new(usage(8.0, 4096.0, &[e]));
        let mut table = SignalTable::default();
        table.reset(1, SignalNames::default().len());
        reg.ingest(&snap, &mut table);
        table
    }

    #[test]
    fn starvation_signals_are_rates_of_the_cumulative_totals() {
        let mut reg = ExecutorRegistry::new(2);
        let first = ingest(
            &mut reg,
            100.0,
            [Some(1.0), Some(2.0), Some(0.5), Some(0.0)],
        );
        assert_eq!(
            first.get(0, builtin::RUNQUEUE_DELAY),
            None,
            "no rate from one sample"
        );
        let t = ingest(
            &mut reg,
            102.0,
            [Some(2.0), Some(2.5), Some(0.6), Some(0.0)],
        );
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        assert!(close(t.get(0, builtin::RUNQUEUE_DELAY), 0.5));
        assert!(close(t.get(0, builtin::CPU_PRESSURE), 0.25));
        assert!(close(t.get(0, builtin::MEM_PRESSURE), 0.05));
        assert!(close(t.get(0, builtin::IO_PRESSURE), 0.0));
    }

    #[test]
    fn a_starvation_total_going_backwards_gives_no_value_and_a_note() {
        let mut reg = ExecutorRegistry::new(2);
        ingest(&mut reg, 100.0, [Some(5.0), Some(5.0), None, None]);
        let t = ingest(&mut reg, 101.0, [Some(1.0), Some(5.5), None, None]);
        assert_eq!(t.get(0, builtin::RUNQUEUE_DELAY), None);
        assert!(t.get(0, builtin::CPU_PRESSURE).is_some());
        assert!(
            reg.notes()
                .iter()
                .any(|n| n.message.contains("run-queue delay went backwards")),
            "{:?}",
            reg.notes()
        );
        // The next sample is measured from the reset value.
        let t = ingest(&mut reg, 102.0, [Some(1.5), Some(6.0), None, None]);
        assert!((t.get(0, builtin::RUNQUEUE_DELAY).unwrap() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn a_stall_share_is_capped_at_one_and_bad_totals_are_ignored() {
        let mut reg = ExecutorRegistry::new(2);
        ingest(
            &mut reg,
            100.0,
            [Some(f64::NAN), Some(0.0), Some(-1.0), None],
        );
        // Jitter between the stall clock and the sample clock can overshoot.
        let t = ingest(&mut reg, 101.0, [Some(1.0), Some(1.02), Some(1.0), None]);
        assert_eq!(t.get(0, builtin::CPU_PRESSURE), Some(1.0));
        assert_eq!(
            t.get(0, builtin::RUNQUEUE_DELAY),
            None,
            "NaN never started a rate"
        );
        assert_eq!(
            t.get(0, builtin::MEM_PRESSURE),
            None,
            "a negative total is ignored"
        );
    }
}
