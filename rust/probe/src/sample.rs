//! A timestamped reading of one cgroup, in natural units, and its conversion
//! to Mesos's `ResourceStatistics`.

use std::time::{SystemTime, UNIX_EPOCH};

use serenity_core::model::proto;

/// A block device, `major:minor`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DeviceNumber {
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
}

/// A block I/O operation, numbered as Mesos's `CgroupInfo.Blkio.Operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlkioOp {
    /// An operation name this probe does not know.
    Unknown = 0,
    /// Sum of reads, writes and discards.
    Total = 1,
    /// Reads.
    Read = 2,
    /// Writes.
    Write = 3,
    /// Synchronous operations (v1 only).
    Sync = 4,
    /// Asynchronous operations (v1 only).
    Async = 5,
    /// Discards.
    Discard = 6,
}

impl BlkioOp {
    /// The operation of a v1 blkio line (`Read`, `Write`, `Sync`, `Async`,
    /// `Discard`, `Total`, any case); other names are [`BlkioOp::Unknown`].
    pub fn from_v1_name(name: &str) -> Self {
        match name.to_ascii_lowercase().as_str() {
            "total" => BlkioOp::Total,
            "read" => BlkioOp::Read,
            "write" => BlkioOp::Write,
            "sync" => BlkioOp::Sync,
            "async" => BlkioOp::Async,
            "discard" => BlkioOp::Discard,
            _ => BlkioOp::Unknown,
        }
    }
}

/// Throttling-layer I/O counters of one device (or, with no device, the
/// grand total that v1 prints last). Counters are cumulative.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlkioThrottling {
    /// The device; `None` for the all-devices total.
    pub device: Option<DeviceNumber>,
    /// Number of I/O operations per operation kind.
    pub io_serviced: Vec<(BlkioOp, u64)>,
    /// Bytes transferred per operation kind.
    pub io_service_bytes: Vec<(BlkioOp, u64)>,
}

/// Which cgroup hierarchy a sample was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v1, one hierarchy per controller.
    V1,
    /// cgroup v2, the unified hierarchy.
    V2,
}

/// One reading of one cgroup. Every field that the kernel did not provide
/// (controller not mounted or not enabled, file absent) is `None`. Cumulative
/// counters are cumulative since the group was created.
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupSample {
    /// Which hierarchy this came from.
    pub hierarchy: Hierarchy,
    /// Seconds since the Unix epoch, taken just before the CPU files were read.
    pub timestamp: f64,
    /// Cumulative user CPU time, seconds.
    pub cpu_user_secs: Option<f64>,
    /// Cumulative system CPU time, seconds.
    pub cpu_system_secs: Option<f64>,
    /// Cumulative total CPU time, seconds, at nanosecond (v1 `cpuacct.usage`)
    /// or microsecond (v2 `usage_usec`) resolution.
    pub cpu_usage_secs: Option<f64>,
    /// CFS periods elapsed while the group had runnable tasks.
    pub cpu_nr_periods: Option<u64>,
    /// Periods in which the group was throttled.
    pub cpu_nr_throttled: Option<u64>,
    /// Cumulative time throttled, seconds.
    pub cpu_throttled_secs: Option<f64>,
    /// Hard CPU limit in CPUs (quota / period), when a quota is set.
    pub cpus_limit: Option<f64>,
    /// Soft CPU limit in CPUs: v1 `cpu.shares / 1024`; v2 `cpu.weight` mapped
    /// back to shares (see [`crate::cgroup_v2`]).
    pub cpus_soft_limit: Option<f64>,
    /// v2 `cpu.weight` as read (1..=10000).
    pub cpu_weight: Option<u64>,
    /// Memory charged to the group, bytes (v1 `usage_in_bytes`, v2 `current`).
    pub mem_total_bytes: Option<u64>,
    /// Memory plus swap charged (v1 `memory.memsw.usage_in_bytes`).
    pub mem_total_memsw_bytes: Option<u64>,
    /// Hard memory limit, bytes; `None` when unlimited.
    pub mem_limit_bytes: Option<u64>,
    /// Soft memory limit, bytes (v1 `soft_limit_in_bytes`); `None` when unlimited.
    pub mem_soft_limit_bytes: Option<u64>,
    /// Anonymous memory, bytes.
    pub mem_rss_bytes: Option<u64>,
    /// Page cache, bytes.
    pub mem_cache_bytes: Option<u64>,
    /// Memory-mapped files, bytes.
    pub mem_mapped_file_bytes: Option<u64>,
    /// Swap used, bytes.
    pub mem_swap_bytes: Option<u64>,
    /// Unevictable memory, bytes.
    pub mem_unevictable_bytes: Option<u64>,
    /// Throttling-layer block I/O counters; `None` without the blkio/io controller.
    pub blkio: Option<Vec<BlkioThrottling>>,
    /// Number of processes (thread group leaders).
    pub processes: Option<u64>,
    /// Number of threads.
    pub threads: Option<u64>,
}

impl CgroupSample {
    /// An empty sample stamped `timestamp`.
    pub fn empty(hierarchy: Hierarchy, timestamp: f64) -> Self {
        CgroupSample {
            hierarchy,
            timestamp,
            cpu_user_secs: None,
            cpu_system_secs: None,
            cpu_usage_secs: None,
            cpu_nr_periods: None,
            cpu_nr_throttled: None,
            cpu_throttled_secs: None,
            cpus_limit: None,
            cpus_soft_limit: None,
            cpu_weight: None,
            mem_total_bytes: None,
            mem_total_memsw_bytes: None,
            mem_limit_bytes: None,
            mem_soft_limit_bytes: None,
            mem_rss_bytes: None,
            mem_cache_bytes: None,
            mem_mapped_file_bytes: None,
            mem_swap_bytes: None,
            mem_unevictable_bytes: None,
            blkio: None,
            processes: None,
            threads: None,
        }
    }

    /// The Mesos view of this sample. Counts that Mesos declares `uint32`
    /// (periods, throttled periods, processes, threads) saturate at
    /// `u32::MAX`. As the Mesos memory subsystem does, the deprecated
    /// `mem_anon_bytes` and `mem_file_bytes` repeat rss and cache.
    pub fn to_statistics(&self) -> proto::ResourceStatistics {
        proto::ResourceStatistics {
            timestamp: Some(self.timestamp),
            cpus_user_time_secs: self.cpu_user_secs,
            cpus_system_time_secs: self.cpu_system_secs,
            cpus_limit: self.cpus_limit,
            cpus_soft_limit: self.cpus_soft_limit,
            cpus_nr_periods: self.cpu_nr_periods.map(saturate_u32),
            cpus_nr_throttled: self.cpu_nr_throttled.map(saturate_u32),
            cpus_throttled_time_secs: self.cpu_throttled_secs,
            mem_total_bytes: self.mem_total_bytes,
            mem_total_memsw_bytes: self.mem_total_memsw_bytes,
            mem_limit_bytes: self.mem_limit_bytes,
            mem_soft_limit_bytes: self.mem_soft_limit_bytes,
            mem_rss_bytes: self.mem_rss_bytes,
            mem_anon_bytes: self.mem_rss_bytes,
            mem_cache_bytes: self.mem_cache_bytes,
            mem_file_bytes: self.mem_cache_bytes,
            mem_mapped_file_bytes: self.mem_mapped_file_bytes,
            mem_swap_bytes: self.mem_swap_bytes,
            mem_unevictable_bytes: self.mem_unevictable_bytes,
            blkio_statistics: self.blkio.as_ref().map(|devices| proto::BlkioStatistics {
                throttling: devices.iter().map(throttling_to_proto).collect(),
                ..Default::default()
            }),
            processes: self.processes.map(saturate_u32),
            threads: self.threads.map(saturate_u32),
            ..Default::default()
        }
    }
}

fn saturate_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

fn values_to_proto(values: &[(BlkioOp, u64)]) -> Vec<proto::BlkioValue> {
    values
        .iter()
        .map(|(op, value)| proto::BlkioValue {
            op: Some(*op as i32),
            value: Some(*value),
        })
        .collect()
}

fn throttling_to_proto(device: &BlkioThrottling) -> proto::BlkioThrottlingStatistics {
    proto::BlkioThrottlingStatistics {
        device: device.device.map(|d| proto::DeviceNumber {
            major_number: Some(d.major),
            minor_number: Some(d.minor),
        }),
        io_serviced: values_to_proto(&device.io_serviced),
        io_service_bytes: values_to_proto(&device.io_service_bytes),
    }
}

/// Seconds since the Unix epoch, as Mesos stamps its statistics.
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_carry_every_present_field_and_omit_absent_ones() {
        let mut sample = CgroupSample::empty(Hierarchy::V1, 12.5);
        sample.cpu_user_secs = Some(4.0);
        sample.cpu_system_secs = Some(1.0);
        sample.cpu_nr_periods = Some(100);
        sample.cpu_nr_throttled = Some(u64::MAX);
        sample.mem_rss_bytes = Some(1024);
        sample.mem_limit_bytes = Some(2048);
        sample.blkio = Some(vec![BlkioThrottling {
            device: None,
            io_serviced: vec![(BlkioOp::Total, 3)],
            io_service_bytes: vec![],
        }]);
        let stats = sample.to_statistics();
        assert_eq!(stats.timestamp, Some(12.5));
        assert_eq!(stats.cpus_user_time_secs, Some(4.0));
        assert_eq!(stats.cpus_system_time_secs, Some(1.0));
        assert_eq!(stats.cpus_nr_periods, Some(100));
        assert_eq!(stats.cpus_nr_throttled, Some(u32::MAX));
        assert_eq!(stats.mem_rss_bytes, Some(1024));
        assert_eq!(stats.mem_anon_bytes, Some(1024));
        assert_eq!(stats.mem_limit_bytes, Some(2048));
        assert_eq!(stats.cpus_limit, None);
        assert_eq!(stats.mem_total_bytes, None);
        assert_eq!(stats.processes, None);
        assert!(stats.perf.is_none());
        let blkio = stats.blkio_statistics.unwrap();
        assert_eq!(blkio.throttling.len(), 1);
        assert_eq!(blkio.throttling[0].device, None);
        assert_eq!(blkio.throttling[0].io_serviced[0].op, Some(1));
        assert_eq!(blkio.throttling[0].io_serviced[0].value, Some(3));
    }

    #[test]
    fn blkio_op_numbers_match_mesos_enum() {
        assert_eq!(BlkioOp::Unknown as i32, 0);
        assert_eq!(BlkioOp::Total as i32, 1);
        assert_eq!(BlkioOp::Read as i32, 2);
        assert_eq!(BlkioOp::Write as i32, 3);
        assert_eq!(BlkioOp::Sync as i32, 4);
        assert_eq!(BlkioOp::Async as i32, 5);
        assert_eq!(BlkioOp::Discard as i32, 6);
        assert_eq!(BlkioOp::from_v1_name("Read"), BlkioOp::Read);
        assert_eq!(BlkioOp::from_v1_name("TOTAL"), BlkioOp::Total);
    }
}
