//! In-place decoding of the messages of `proto.rs`, generated from it by
//! `tools/gen_proto_reuse.py`. Do not edit by hand. See `wire.rs` for the
//! rules; `decode_usage_into` is the entry point.
#![allow(clippy::all)]
use super::proto::*;
use super::wire::{self, Reuse};

impl Reuse for ResourceUsage {
    #[inline]
    fn merge_reuse(&mut self, mut b: &[u8], depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut n_executors = if fresh { 0 } else { self.executors.len() };
        let mut n_total = if fresh { 0 } else { self.total.len() };
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.executors, &mut n_executors, b, depth)?;
                }
                2 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.total, &mut n_total, b, depth)?;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            self.executors.truncate(n_executors);
            self.total.truncate(n_total);
        }
        Ok(())
    }
}

impl Reuse for Executor {
    fn merge_reuse(&mut self, mut b: &[u8], depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        let mut n_allocated = if fresh { 0 } else { self.allocated.len() };
        let mut n_tasks = if fresh { 0 } else { self.tasks.len() };
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 0) == 0;
                    wire::message_into(&mut self.executor_info, b, depth, fresh && first)?;
                    seen |= 1 << 0;
                }
                2 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.allocated, &mut n_allocated, b, depth)?;
                }
                3 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 2) == 0;
                    wire::message_into(&mut self.statistics, b, depth, fresh && first)?;
                    seen |= 1 << 2;
                }
                4 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 3) == 0;
                    wire::message_into(&mut self.container_id, b, depth, fresh && first)?;
                    seen |= 1 << 3;
                }
                5 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.tasks, &mut n_tasks, b, depth)?;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.executor_info = None;
            }
            self.allocated.truncate(n_allocated);
            if seen & (1 << 2) == 0 {
                self.statistics = None;
            }
            if seen & (1 << 3) == 0 {
                self.container_id = None;
            }
            self.tasks.truncate(n_tasks);
        }
        Ok(())
    }
}

impl Reuse for Task {
    fn merge_reuse(&mut self, mut b: &[u8], depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        let mut n_resources = if fresh { 0 } else { self.resources.len() };
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.name, b)?;
                    seen |= 1 << 0;
                }
                2 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 1) == 0;
                    wire::message_into(&mut self.id, b, depth, fresh && first)?;
                    seen |= 1 << 1;
                }
                3 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.resources, &mut n_resources, b, depth)?;
                }
                4 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 3) == 0;
                    wire::message_into(&mut self.labels, b, depth, fresh && first)?;
                    seen |= 1 << 3;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.name = None;
            }
            if seen & (1 << 1) == 0 {
                self.id = None;
            }
            self.resources.truncate(n_resources);
            if seen & (1 << 3) == 0 {
                self.labels = None;
            }
        }
        Ok(())
    }
}

impl Reuse for TaskId {
    #[inline]
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.value, b)?;
                    seen |= 1 << 0;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.value = None;
            }
        }
        Ok(())
    }
}

impl Reuse for ExecutorInfo {
    fn merge_reuse(&mut self, mut b: &[u8], depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        let mut n_resources = if fresh { 0 } else { self.resources.len() };
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 0) == 0;
                    wire::message_into(&mut self.executor_id, b, depth, fresh && first)?;
                    seen |= 1 << 0;
                }
                5 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.resources, &mut n_resources, b, depth)?;
                }
                8 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 2) == 0;
                    wire::message_into(&mut self.framework_id, b, depth, fresh && first)?;
                    seen |= 1 << 2;
                }
                9 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.name, b)?;
                    seen |= 1 << 3;
                }
                10 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.source, b)?;
                    seen |= 1 << 4;
                }
                14 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 5) == 0;
                    wire::message_into(&mut self.labels, b, depth, fresh && first)?;
                    seen |= 1 << 5;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.executor_id = None;
            }
            self.resources.truncate(n_resources);
            if seen & (1 << 2) == 0 {
                self.framework_id = None;
            }
            if seen & (1 << 3) == 0 {
                self.name = None;
            }
            if seen & (1 << 4) == 0 {
                self.source = None;
            }
            if seen & (1 << 5) == 0 {
                self.labels = None;
            }
        }
        Ok(())
    }
}

impl Reuse for ExecutorId {
    #[inline]
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.value, b)?;
                    seen |= 1 << 0;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.value = None;
            }
        }
        Ok(())
    }
}

impl Reuse for FrameworkId {
    #[inline]
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.value, b)?;
                    seen |= 1 << 0;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.value = None;
            }
        }
        Ok(())
    }
}

impl Reuse for ContainerId {
    #[inline]
    fn merge_reuse(&mut self, mut b: &[u8], depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.value, b)?;
                    seen |= 1 << 0;
                }
                2 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 1) == 0;
                    wire::message_into(&mut self.parent, b, depth, fresh && first)?;
                    seen |= 1 << 1;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.value = None;
            }
            if seen & (1 << 1) == 0 {
                self.parent = None;
            }
        }
        Ok(())
    }
}

impl Reuse for Labels {
    #[inline]
    fn merge_reuse(&mut self, mut b: &[u8], depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut n_labels = if fresh { 0 } else { self.labels.len() };
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.labels, &mut n_labels, b, depth)?;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            self.labels.truncate(n_labels);
        }
        Ok(())
    }
}

impl Reuse for Label {
    #[inline]
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.key, b)?;
                    seen |= 1 << 0;
                }
                2 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.value, b)?;
                    seen |= 1 << 1;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.key = None;
            }
            if seen & (1 << 1) == 0 {
                self.value = None;
            }
        }
        Ok(())
    }
}

impl Reuse for Resource {
    fn merge_reuse(&mut self, mut b: &[u8], depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        let mut n_reservations = if fresh { 0 } else { self.reservations.len() };
        if fresh {
            self.r#type = None;
        }
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.name, b)?;
                    seen |= 1 << 0;
                }
                2 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.r#type = Some(wire::varint(b)? as i32);
                }
                3 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 2) == 0;
                    wire::message_into(&mut self.scalar, b, depth, fresh && first)?;
                    seen |= 1 << 2;
                }
                6 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.role, b)?;
                    seen |= 1 << 3;
                }
                7 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 4) == 0;
                    wire::message_into(&mut self.disk, b, depth, fresh && first)?;
                    seen |= 1 << 4;
                }
                8 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 5) == 0;
                    wire::message_into(&mut self.reservation, b, depth, fresh && first)?;
                    seen |= 1 << 5;
                }
                9 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 6) == 0;
                    wire::message_into(&mut self.revocable, b, depth, fresh && first)?;
                    seen |= 1 << 6;
                }
                10 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 7) == 0;
                    wire::message_into(&mut self.shared, b, depth, fresh && first)?;
                    seen |= 1 << 7;
                }
                11 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 8) == 0;
                    wire::message_into(&mut self.allocation_info, b, depth, fresh && first)?;
                    seen |= 1 << 8;
                }
                12 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 9) == 0;
                    wire::message_into(&mut self.provider_id, b, depth, fresh && first)?;
                    seen |= 1 << 9;
                }
                13 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.reservations, &mut n_reservations, b, depth)?;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.name = None;
            }
            if seen & (1 << 2) == 0 {
                self.scalar = None;
            }
            if seen & (1 << 3) == 0 {
                self.role = None;
            }
            if seen & (1 << 4) == 0 {
                self.disk = None;
            }
            if seen & (1 << 5) == 0 {
                self.reservation = None;
            }
            if seen & (1 << 6) == 0 {
                self.revocable = None;
            }
            if seen & (1 << 7) == 0 {
                self.shared = None;
            }
            if seen & (1 << 8) == 0 {
                self.allocation_info = None;
            }
            if seen & (1 << 9) == 0 {
                self.provider_id = None;
            }
            self.reservations.truncate(n_reservations);
        }
        Ok(())
    }
}

impl Reuse for ResourceProviderId {
    #[inline]
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.value, b)?;
                    seen |= 1 << 0;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.value = None;
            }
        }
        Ok(())
    }
}

impl Reuse for Scalar {
    #[inline]
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        if fresh {
            self.value = None;
        }
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.value = Some(f64::from_bits(wire::fixed64(b)?));
                }
                _ => wire::skip(b, wt)?,
            }
        }
        Ok(())
    }
}

impl Reuse for AllocationInfo {
    #[inline]
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.role, b)?;
                    seen |= 1 << 0;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.role = None;
            }
        }
        Ok(())
    }
}

impl Reuse for ReservationInfo {
    fn merge_reuse(&mut self, mut b: &[u8], depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        if fresh {
            self.r#type = None;
        }
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.principal, b)?;
                    seen |= 1 << 0;
                }
                2 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 1) == 0;
                    wire::message_into(&mut self.labels, b, depth, fresh && first)?;
                    seen |= 1 << 1;
                }
                3 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.role, b)?;
                    seen |= 1 << 2;
                }
                4 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.r#type = Some(wire::varint(b)? as i32);
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.principal = None;
            }
            if seen & (1 << 1) == 0 {
                self.labels = None;
            }
            if seen & (1 << 2) == 0 {
                self.role = None;
            }
        }
        Ok(())
    }
}

impl Reuse for DiskInfo {
    #[inline]
    fn merge_reuse(&mut self, mut b: &[u8], depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 0) == 0;
                    wire::message_into(&mut self.persistence, b, depth, fresh && first)?;
                    seen |= 1 << 0;
                }
                3 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 1) == 0;
                    wire::message_into(&mut self.source, b, depth, fresh && first)?;
                    seen |= 1 << 1;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.persistence = None;
            }
            if seen & (1 << 1) == 0 {
                self.source = None;
            }
        }
        Ok(())
    }
}

impl Reuse for DiskPersistence {
    #[inline]
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.id, b)?;
                    seen |= 1 << 0;
                }
                2 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.principal, b)?;
                    seen |= 1 << 1;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.id = None;
            }
            if seen & (1 << 1) == 0 {
                self.principal = None;
            }
        }
        Ok(())
    }
}

impl Reuse for DiskSource {
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        if fresh {
            self.r#type = None;
        }
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.r#type = Some(wire::varint(b)? as i32);
                }
                4 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.id, b)?;
                    seen |= 1 << 1;
                }
                6 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.profile, b)?;
                    seen |= 1 << 2;
                }
                7 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.vendor, b)?;
                    seen |= 1 << 3;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 1) == 0 {
                self.id = None;
            }
            if seen & (1 << 2) == 0 {
                self.profile = None;
            }
            if seen & (1 << 3) == 0 {
                self.vendor = None;
            }
        }
        Ok(())
    }
}

impl Reuse for ResourceStatistics {
    fn merge_reuse(&mut self, mut b: &[u8], depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        let mut n_net_traffic_control_statistics = if fresh {
            0
        } else {
            self.net_traffic_control_statistics.len()
        };
        let mut n_disk_statistics = if fresh { 0 } else { self.disk_statistics.len() };
        let mut n_serenity_slis = if fresh { 0 } else { self.serenity_slis.len() };
        if fresh {
            self.timestamp = None;
            self.cpus_user_time_secs = None;
            self.cpus_system_time_secs = None;
            self.cpus_limit = None;
            self.mem_rss_bytes = None;
            self.mem_limit_bytes = None;
            self.cpus_nr_periods = None;
            self.cpus_nr_throttled = None;
            self.cpus_throttled_time_secs = None;
            self.mem_file_bytes = None;
            self.mem_anon_bytes = None;
            self.mem_mapped_file_bytes = None;
            self.net_rx_packets = None;
            self.net_rx_bytes = None;
            self.net_rx_errors = None;
            self.net_rx_dropped = None;
            self.net_tx_packets = None;
            self.net_tx_bytes = None;
            self.net_tx_errors = None;
            self.net_tx_dropped = None;
            self.net_tcp_rtt_microsecs_p50 = None;
            self.net_tcp_rtt_microsecs_p90 = None;
            self.net_tcp_rtt_microsecs_p95 = None;
            self.net_tcp_rtt_microsecs_p99 = None;
            self.disk_limit_bytes = None;
            self.disk_used_bytes = None;
            self.net_tcp_active_connections = None;
            self.net_tcp_time_wait_connections = None;
            self.processes = None;
            self.threads = None;
            self.mem_low_pressure_counter = None;
            self.mem_medium_pressure_counter = None;
            self.mem_critical_pressure_counter = None;
            self.mem_total_bytes = None;
            self.mem_total_memsw_bytes = None;
            self.mem_soft_limit_bytes = None;
            self.mem_cache_bytes = None;
            self.mem_swap_bytes = None;
            self.mem_unevictable_bytes = None;
            self.cpus_soft_limit = None;
            self.serenity_runqueue_delay_secs = None;
            self.serenity_cpu_pressure_some_secs = None;
            self.serenity_mem_pressure_some_secs = None;
            self.serenity_io_pressure_some_secs = None;
        }
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.timestamp = Some(f64::from_bits(wire::fixed64(b)?));
                }
                2 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.cpus_user_time_secs = Some(f64::from_bits(wire::fixed64(b)?));
                }
                3 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.cpus_system_time_secs = Some(f64::from_bits(wire::fixed64(b)?));
                }
                4 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.cpus_limit = Some(f64::from_bits(wire::fixed64(b)?));
                }
                5 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.mem_rss_bytes = Some(wire::varint(b)?);
                }
                6 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.mem_limit_bytes = Some(wire::varint(b)?);
                }
                7 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.cpus_nr_periods = Some(wire::varint(b)? as u32);
                }
                8 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.cpus_nr_throttled = Some(wire::varint(b)? as u32);
                }
                9 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.cpus_throttled_time_secs = Some(f64::from_bits(wire::fixed64(b)?));
                }
                10 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.mem_file_bytes = Some(wire::varint(b)?);
                }
                11 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.mem_anon_bytes = Some(wire::varint(b)?);
                }
                12 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.mem_mapped_file_bytes = Some(wire::varint(b)?);
                }
                13 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 12) == 0;
                    wire::message_into(&mut self.perf, b, depth, fresh && first)?;
                    seen |= 1 << 12;
                }
                14 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.net_rx_packets = Some(wire::varint(b)?);
                }
                15 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.net_rx_bytes = Some(wire::varint(b)?);
                }
                16 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.net_rx_errors = Some(wire::varint(b)?);
                }
                17 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.net_rx_dropped = Some(wire::varint(b)?);
                }
                18 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.net_tx_packets = Some(wire::varint(b)?);
                }
                19 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.net_tx_bytes = Some(wire::varint(b)?);
                }
                20 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.net_tx_errors = Some(wire::varint(b)?);
                }
                21 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.net_tx_dropped = Some(wire::varint(b)?);
                }
                22 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.net_tcp_rtt_microsecs_p50 = Some(f64::from_bits(wire::fixed64(b)?));
                }
                23 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.net_tcp_rtt_microsecs_p90 = Some(f64::from_bits(wire::fixed64(b)?));
                }
                24 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.net_tcp_rtt_microsecs_p95 = Some(f64::from_bits(wire::fixed64(b)?));
                }
                25 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.net_tcp_rtt_microsecs_p99 = Some(f64::from_bits(wire::fixed64(b)?));
                }
                26 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.disk_limit_bytes = Some(wire::varint(b)?);
                }
                27 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.disk_used_bytes = Some(wire::varint(b)?);
                }
                28 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.net_tcp_active_connections = Some(f64::from_bits(wire::fixed64(b)?));
                }
                29 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.net_tcp_time_wait_connections = Some(f64::from_bits(wire::fixed64(b)?));
                }
                30 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.processes = Some(wire::varint(b)? as u32);
                }
                31 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.threads = Some(wire::varint(b)? as u32);
                }
                32 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.mem_low_pressure_counter = Some(wire::varint(b)?);
                }
                33 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.mem_medium_pressure_counter = Some(wire::varint(b)?);
                }
                34 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.mem_critical_pressure_counter = Some(wire::varint(b)?);
                }
                35 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(
                        &mut self.net_traffic_control_statistics,
                        &mut n_net_traffic_control_statistics,
                        b,
                        depth,
                    )?;
                }
                36 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.mem_total_bytes = Some(wire::varint(b)?);
                }
                37 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.mem_total_memsw_bytes = Some(wire::varint(b)?);
                }
                38 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.mem_soft_limit_bytes = Some(wire::varint(b)?);
                }
                39 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.mem_cache_bytes = Some(wire::varint(b)?);
                }
                40 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.mem_swap_bytes = Some(wire::varint(b)?);
                }
                41 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.mem_unevictable_bytes = Some(wire::varint(b)?);
                }
                42 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 41) == 0;
                    wire::message_into(&mut self.net_snmp_statistics, b, depth, fresh && first)?;
                    seen |= 1 << 41;
                }
                43 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(
                        &mut self.disk_statistics,
                        &mut n_disk_statistics,
                        b,
                        depth,
                    )?;
                }
                44 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 43) == 0;
                    wire::message_into(&mut self.blkio_statistics, b, depth, fresh && first)?;
                    seen |= 1 << 43;
                }
                45 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.cpus_soft_limit = Some(f64::from_bits(wire::fixed64(b)?));
                }
                1001 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.serenity_runqueue_delay_secs = Some(f64::from_bits(wire::fixed64(b)?));
                }
                1002 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.serenity_cpu_pressure_some_secs = Some(f64::from_bits(wire::fixed64(b)?));
                }
                1003 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.serenity_mem_pressure_some_secs = Some(f64::from_bits(wire::fixed64(b)?));
                }
                1004 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.serenity_io_pressure_some_secs = Some(f64::from_bits(wire::fixed64(b)?));
                }
                1005 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.serenity_slis, &mut n_serenity_slis, b, depth)?;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 12) == 0 {
                self.perf = None;
            }
            self.net_traffic_control_statistics
                .truncate(n_net_traffic_control_statistics);
            if seen & (1 << 41) == 0 {
                self.net_snmp_statistics = None;
            }
            self.disk_statistics.truncate(n_disk_statistics);
            if seen & (1 << 43) == 0 {
                self.blkio_statistics = None;
            }
            self.serenity_slis.truncate(n_serenity_slis);
        }
        Ok(())
    }
}

impl Reuse for DiskStatistics {
    fn merge_reuse(&mut self, mut b: &[u8], depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        if fresh {
            self.limit_bytes = None;
            self.used_bytes = None;
        }
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 0) == 0;
                    wire::message_into(&mut self.source, b, depth, fresh && first)?;
                    seen |= 1 << 0;
                }
                2 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 1) == 0;
                    wire::message_into(&mut self.persistence, b, depth, fresh && first)?;
                    seen |= 1 << 1;
                }
                3 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.limit_bytes = Some(wire::varint(b)?);
                }
                4 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.used_bytes = Some(wire::varint(b)?);
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.source = None;
            }
            if seen & (1 << 1) == 0 {
                self.persistence = None;
            }
        }
        Ok(())
    }
}

impl Reuse for BlkioStatistics {
    fn merge_reuse(&mut self, mut b: &[u8], depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut n_cfq = if fresh { 0 } else { self.cfq.len() };
        let mut n_cfq_recursive = if fresh { 0 } else { self.cfq_recursive.len() };
        let mut n_throttling = if fresh { 0 } else { self.throttling.len() };
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.cfq, &mut n_cfq, b, depth)?;
                }
                2 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.cfq_recursive, &mut n_cfq_recursive, b, depth)?;
                }
                3 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.throttling, &mut n_throttling, b, depth)?;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            self.cfq.truncate(n_cfq);
            self.cfq_recursive.truncate(n_cfq_recursive);
            self.throttling.truncate(n_throttling);
        }
        Ok(())
    }
}

impl Reuse for BlkioCfqStatistics {
    fn merge_reuse(&mut self, mut b: &[u8], depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        let mut n_io_serviced = if fresh { 0 } else { self.io_serviced.len() };
        let mut n_io_service_bytes = if fresh {
            0
        } else {
            self.io_service_bytes.len()
        };
        let mut n_io_service_time = if fresh { 0 } else { self.io_service_time.len() };
        let mut n_io_wait_time = if fresh { 0 } else { self.io_wait_time.len() };
        let mut n_io_merged = if fresh { 0 } else { self.io_merged.len() };
        let mut n_io_queued = if fresh { 0 } else { self.io_queued.len() };
        if fresh {
            self.sectors = None;
            self.time = None;
        }
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 0) == 0;
                    wire::message_into(&mut self.device, b, depth, fresh && first)?;
                    seen |= 1 << 0;
                }
                2 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.sectors = Some(wire::varint(b)?);
                }
                3 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.time = Some(wire::varint(b)?);
                }
                4 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.io_serviced, &mut n_io_serviced, b, depth)?;
                }
                5 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(
                        &mut self.io_service_bytes,
                        &mut n_io_service_bytes,
                        b,
                        depth,
                    )?;
                }
                6 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(
                        &mut self.io_service_time,
                        &mut n_io_service_time,
                        b,
                        depth,
                    )?;
                }
                7 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.io_wait_time, &mut n_io_wait_time, b, depth)?;
                }
                8 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.io_merged, &mut n_io_merged, b, depth)?;
                }
                9 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.io_queued, &mut n_io_queued, b, depth)?;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.device = None;
            }
            self.io_serviced.truncate(n_io_serviced);
            self.io_service_bytes.truncate(n_io_service_bytes);
            self.io_service_time.truncate(n_io_service_time);
            self.io_wait_time.truncate(n_io_wait_time);
            self.io_merged.truncate(n_io_merged);
            self.io_queued.truncate(n_io_queued);
        }
        Ok(())
    }
}

impl Reuse for BlkioThrottlingStatistics {
    fn merge_reuse(&mut self, mut b: &[u8], depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        let mut n_io_serviced = if fresh { 0 } else { self.io_serviced.len() };
        let mut n_io_service_bytes = if fresh {
            0
        } else {
            self.io_service_bytes.len()
        };
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 0) == 0;
                    wire::message_into(&mut self.device, b, depth, fresh && first)?;
                    seen |= 1 << 0;
                }
                2 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(&mut self.io_serviced, &mut n_io_serviced, b, depth)?;
                }
                3 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::repeated_into(
                        &mut self.io_service_bytes,
                        &mut n_io_service_bytes,
                        b,
                        depth,
                    )?;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.device = None;
            }
            self.io_serviced.truncate(n_io_serviced);
            self.io_service_bytes.truncate(n_io_service_bytes);
        }
        Ok(())
    }
}

impl Reuse for BlkioValue {
    #[inline]
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        if fresh {
            self.op = None;
            self.value = None;
        }
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.op = Some(wire::varint(b)? as i32);
                }
                2 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.value = Some(wire::varint(b)?);
                }
                _ => wire::skip(b, wt)?,
            }
        }
        Ok(())
    }
}

impl Reuse for DeviceNumber {
    #[inline]
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        if fresh {
            self.major_number = None;
            self.minor_number = None;
        }
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.major_number = Some(wire::varint(b)?);
                }
                2 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.minor_number = Some(wire::varint(b)?);
                }
                _ => wire::skip(b, wt)?,
            }
        }
        Ok(())
    }
}

impl Reuse for PerfStatistics {
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        if fresh {
            self.timestamp = None;
            self.duration = None;
            self.cycles = None;
            self.stalled_cycles_frontend = None;
            self.stalled_cycles_backend = None;
            self.instructions = None;
            self.cache_references = None;
            self.cache_misses = None;
            self.branches = None;
            self.branch_misses = None;
            self.bus_cycles = None;
            self.ref_cycles = None;
            self.cpu_clock = None;
            self.task_clock = None;
            self.page_faults = None;
            self.minor_faults = None;
            self.major_faults = None;
            self.context_switches = None;
            self.cpu_migrations = None;
            self.alignment_faults = None;
            self.emulation_faults = None;
            self.l1_dcache_loads = None;
            self.l1_dcache_load_misses = None;
            self.l1_dcache_stores = None;
            self.l1_dcache_store_misses = None;
            self.l1_dcache_prefetches = None;
            self.l1_dcache_prefetch_misses = None;
            self.l1_icache_loads = None;
            self.l1_icache_load_misses = None;
            self.l1_icache_prefetches = None;
            self.l1_icache_prefetch_misses = None;
            self.llc_loads = None;
            self.llc_load_misses = None;
            self.llc_stores = None;
            self.llc_store_misses = None;
            self.llc_prefetches = None;
            self.llc_prefetch_misses = None;
            self.dtlb_loads = None;
            self.dtlb_load_misses = None;
            self.dtlb_stores = None;
            self.dtlb_store_misses = None;
            self.dtlb_prefetches = None;
            self.dtlb_prefetch_misses = None;
            self.itlb_loads = None;
            self.itlb_load_misses = None;
            self.branch_loads = None;
            self.branch_load_misses = None;
            self.node_loads = None;
            self.node_load_misses = None;
            self.node_stores = None;
            self.node_store_misses = None;
            self.node_prefetches = None;
            self.node_prefetch_misses = None;
        }
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.timestamp = Some(f64::from_bits(wire::fixed64(b)?));
                }
                2 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.duration = Some(f64::from_bits(wire::fixed64(b)?));
                }
                3 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.cycles = Some(wire::varint(b)?);
                }
                4 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.stalled_cycles_frontend = Some(wire::varint(b)?);
                }
                5 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.stalled_cycles_backend = Some(wire::varint(b)?);
                }
                6 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.instructions = Some(wire::varint(b)?);
                }
                7 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.cache_references = Some(wire::varint(b)?);
                }
                8 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.cache_misses = Some(wire::varint(b)?);
                }
                9 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.branches = Some(wire::varint(b)?);
                }
                10 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.branch_misses = Some(wire::varint(b)?);
                }
                11 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.bus_cycles = Some(wire::varint(b)?);
                }
                12 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.ref_cycles = Some(wire::varint(b)?);
                }
                13 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.cpu_clock = Some(f64::from_bits(wire::fixed64(b)?));
                }
                14 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.task_clock = Some(f64::from_bits(wire::fixed64(b)?));
                }
                15 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.page_faults = Some(wire::varint(b)?);
                }
                16 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.minor_faults = Some(wire::varint(b)?);
                }
                17 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.major_faults = Some(wire::varint(b)?);
                }
                18 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.context_switches = Some(wire::varint(b)?);
                }
                19 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.cpu_migrations = Some(wire::varint(b)?);
                }
                20 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.alignment_faults = Some(wire::varint(b)?);
                }
                21 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.emulation_faults = Some(wire::varint(b)?);
                }
                22 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.l1_dcache_loads = Some(wire::varint(b)?);
                }
                23 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.l1_dcache_load_misses = Some(wire::varint(b)?);
                }
                24 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.l1_dcache_stores = Some(wire::varint(b)?);
                }
                25 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.l1_dcache_store_misses = Some(wire::varint(b)?);
                }
                26 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.l1_dcache_prefetches = Some(wire::varint(b)?);
                }
                27 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.l1_dcache_prefetch_misses = Some(wire::varint(b)?);
                }
                28 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.l1_icache_loads = Some(wire::varint(b)?);
                }
                29 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.l1_icache_load_misses = Some(wire::varint(b)?);
                }
                30 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.l1_icache_prefetches = Some(wire::varint(b)?);
                }
                31 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.l1_icache_prefetch_misses = Some(wire::varint(b)?);
                }
                32 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.llc_loads = Some(wire::varint(b)?);
                }
                33 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.llc_load_misses = Some(wire::varint(b)?);
                }
                34 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.llc_stores = Some(wire::varint(b)?);
                }
                35 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.llc_store_misses = Some(wire::varint(b)?);
                }
                36 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.llc_prefetches = Some(wire::varint(b)?);
                }
                37 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.llc_prefetch_misses = Some(wire::varint(b)?);
                }
                38 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.dtlb_loads = Some(wire::varint(b)?);
                }
                39 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.dtlb_load_misses = Some(wire::varint(b)?);
                }
                40 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.dtlb_stores = Some(wire::varint(b)?);
                }
                41 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.dtlb_store_misses = Some(wire::varint(b)?);
                }
                42 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.dtlb_prefetches = Some(wire::varint(b)?);
                }
                43 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.dtlb_prefetch_misses = Some(wire::varint(b)?);
                }
                44 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.itlb_loads = Some(wire::varint(b)?);
                }
                45 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.itlb_load_misses = Some(wire::varint(b)?);
                }
                46 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.branch_loads = Some(wire::varint(b)?);
                }
                47 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.branch_load_misses = Some(wire::varint(b)?);
                }
                48 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.node_loads = Some(wire::varint(b)?);
                }
                49 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.node_load_misses = Some(wire::varint(b)?);
                }
                50 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.node_stores = Some(wire::varint(b)?);
                }
                51 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.node_store_misses = Some(wire::varint(b)?);
                }
                52 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.node_prefetches = Some(wire::varint(b)?);
                }
                53 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.node_prefetch_misses = Some(wire::varint(b)?);
                }
                _ => wire::skip(b, wt)?,
            }
        }
        Ok(())
    }
}

impl Reuse for TrafficControlStatistics {
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        if fresh {
            self.backlog = None;
            self.bytes = None;
            self.drops = None;
            self.overlimits = None;
            self.packets = None;
            self.qlen = None;
            self.ratebps = None;
            self.ratepps = None;
            self.requeues = None;
        }
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.id, b)?;
                    seen |= 1 << 0;
                }
                2 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.backlog = Some(wire::varint(b)?);
                }
                3 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.bytes = Some(wire::varint(b)?);
                }
                4 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.drops = Some(wire::varint(b)?);
                }
                5 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.overlimits = Some(wire::varint(b)?);
                }
                6 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.packets = Some(wire::varint(b)?);
                }
                7 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.qlen = Some(wire::varint(b)?);
                }
                8 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.ratebps = Some(wire::varint(b)?);
                }
                9 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.ratepps = Some(wire::varint(b)?);
                }
                10 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.requeues = Some(wire::varint(b)?);
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.id = None;
            }
        }
        Ok(())
    }
}

impl Reuse for SnmpStatistics {
    fn merge_reuse(&mut self, mut b: &[u8], depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 0) == 0;
                    wire::message_into(&mut self.ip_stats, b, depth, fresh && first)?;
                    seen |= 1 << 0;
                }
                2 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 1) == 0;
                    wire::message_into(&mut self.icmp_stats, b, depth, fresh && first)?;
                    seen |= 1 << 1;
                }
                3 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 2) == 0;
                    wire::message_into(&mut self.tcp_stats, b, depth, fresh && first)?;
                    seen |= 1 << 2;
                }
                4 => {
                    wire::expect(wt, wire::LEN)?;
                    let first = seen & (1 << 3) == 0;
                    wire::message_into(&mut self.udp_stats, b, depth, fresh && first)?;
                    seen |= 1 << 3;
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.ip_stats = None;
            }
            if seen & (1 << 1) == 0 {
                self.icmp_stats = None;
            }
            if seen & (1 << 2) == 0 {
                self.tcp_stats = None;
            }
            if seen & (1 << 3) == 0 {
                self.udp_stats = None;
            }
        }
        Ok(())
    }
}

impl Reuse for IpStatistics {
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        if fresh {
            self.forwarding = None;
            self.default_t_t_l = None;
            self.in_receives = None;
            self.in_hdr_errors = None;
            self.in_addr_errors = None;
            self.forw_datagrams = None;
            self.in_unknown_protos = None;
            self.in_discards = None;
            self.in_delivers = None;
            self.out_requests = None;
            self.out_discards = None;
            self.out_no_routes = None;
            self.reasm_timeout = None;
            self.reasm_reqds = None;
            self.reasm_o_ks = None;
            self.reasm_fails = None;
            self.frag_o_ks = None;
            self.frag_fails = None;
            self.frag_creates = None;
        }
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.forwarding = Some(wire::varint(b)? as i64);
                }
                2 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.default_t_t_l = Some(wire::varint(b)? as i64);
                }
                3 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_receives = Some(wire::varint(b)? as i64);
                }
                4 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_hdr_errors = Some(wire::varint(b)? as i64);
                }
                5 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_addr_errors = Some(wire::varint(b)? as i64);
                }
                6 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.forw_datagrams = Some(wire::varint(b)? as i64);
                }
                7 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_unknown_protos = Some(wire::varint(b)? as i64);
                }
                8 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_discards = Some(wire::varint(b)? as i64);
                }
                9 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_delivers = Some(wire::varint(b)? as i64);
                }
                10 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_requests = Some(wire::varint(b)? as i64);
                }
                11 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_discards = Some(wire::varint(b)? as i64);
                }
                12 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_no_routes = Some(wire::varint(b)? as i64);
                }
                13 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.reasm_timeout = Some(wire::varint(b)? as i64);
                }
                14 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.reasm_reqds = Some(wire::varint(b)? as i64);
                }
                15 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.reasm_o_ks = Some(wire::varint(b)? as i64);
                }
                16 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.reasm_fails = Some(wire::varint(b)? as i64);
                }
                17 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.frag_o_ks = Some(wire::varint(b)? as i64);
                }
                18 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.frag_fails = Some(wire::varint(b)? as i64);
                }
                19 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.frag_creates = Some(wire::varint(b)? as i64);
                }
                _ => wire::skip(b, wt)?,
            }
        }
        Ok(())
    }
}

impl Reuse for IcmpStatistics {
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        if fresh {
            self.in_msgs = None;
            self.in_errors = None;
            self.in_csum_errors = None;
            self.in_dest_unreachs = None;
            self.in_time_excds = None;
            self.in_parm_probs = None;
            self.in_src_quenchs = None;
            self.in_redirects = None;
            self.in_echos = None;
            self.in_echo_reps = None;
            self.in_timestamps = None;
            self.in_timestamp_reps = None;
            self.in_addr_masks = None;
            self.in_addr_mask_reps = None;
            self.out_msgs = None;
            self.out_errors = None;
            self.out_dest_unreachs = None;
            self.out_time_excds = None;
            self.out_parm_probs = None;
            self.out_src_quenchs = None;
            self.out_redirects = None;
            self.out_echos = None;
            self.out_echo_reps = None;
            self.out_timestamps = None;
            self.out_timestamp_reps = None;
            self.out_addr_masks = None;
            self.out_addr_mask_reps = None;
        }
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_msgs = Some(wire::varint(b)? as i64);
                }
                2 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_errors = Some(wire::varint(b)? as i64);
                }
                3 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_csum_errors = Some(wire::varint(b)? as i64);
                }
                4 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_dest_unreachs = Some(wire::varint(b)? as i64);
                }
                5 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_time_excds = Some(wire::varint(b)? as i64);
                }
                6 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_parm_probs = Some(wire::varint(b)? as i64);
                }
                7 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_src_quenchs = Some(wire::varint(b)? as i64);
                }
                8 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_redirects = Some(wire::varint(b)? as i64);
                }
                9 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_echos = Some(wire::varint(b)? as i64);
                }
                10 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_echo_reps = Some(wire::varint(b)? as i64);
                }
                11 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_timestamps = Some(wire::varint(b)? as i64);
                }
                12 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_timestamp_reps = Some(wire::varint(b)? as i64);
                }
                13 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_addr_masks = Some(wire::varint(b)? as i64);
                }
                14 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_addr_mask_reps = Some(wire::varint(b)? as i64);
                }
                15 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_msgs = Some(wire::varint(b)? as i64);
                }
                16 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_errors = Some(wire::varint(b)? as i64);
                }
                17 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_dest_unreachs = Some(wire::varint(b)? as i64);
                }
                18 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_time_excds = Some(wire::varint(b)? as i64);
                }
                19 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_parm_probs = Some(wire::varint(b)? as i64);
                }
                20 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_src_quenchs = Some(wire::varint(b)? as i64);
                }
                21 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_redirects = Some(wire::varint(b)? as i64);
                }
                22 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_echos = Some(wire::varint(b)? as i64);
                }
                23 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_echo_reps = Some(wire::varint(b)? as i64);
                }
                24 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_timestamps = Some(wire::varint(b)? as i64);
                }
                25 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_timestamp_reps = Some(wire::varint(b)? as i64);
                }
                26 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_addr_masks = Some(wire::varint(b)? as i64);
                }
                27 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_addr_mask_reps = Some(wire::varint(b)? as i64);
                }
                _ => wire::skip(b, wt)?,
            }
        }
        Ok(())
    }
}

impl Reuse for TcpStatistics {
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        if fresh {
            self.rto_algorithm = None;
            self.rto_min = None;
            self.rto_max = None;
            self.max_conn = None;
            self.active_opens = None;
            self.passive_opens = None;
            self.attempt_fails = None;
            self.estab_resets = None;
            self.curr_estab = None;
            self.in_segs = None;
            self.out_segs = None;
            self.retrans_segs = None;
            self.in_errs = None;
            self.out_rsts = None;
            self.in_csum_errors = None;
        }
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.rto_algorithm = Some(wire::varint(b)? as i64);
                }
                2 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.rto_min = Some(wire::varint(b)? as i64);
                }
                3 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.rto_max = Some(wire::varint(b)? as i64);
                }
                4 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.max_conn = Some(wire::varint(b)? as i64);
                }
                5 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.active_opens = Some(wire::varint(b)? as i64);
                }
                6 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.passive_opens = Some(wire::varint(b)? as i64);
                }
                7 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.attempt_fails = Some(wire::varint(b)? as i64);
                }
                8 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.estab_resets = Some(wire::varint(b)? as i64);
                }
                9 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.curr_estab = Some(wire::varint(b)? as i64);
                }
                10 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_segs = Some(wire::varint(b)? as i64);
                }
                11 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_segs = Some(wire::varint(b)? as i64);
                }
                12 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.retrans_segs = Some(wire::varint(b)? as i64);
                }
                13 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_errs = Some(wire::varint(b)? as i64);
                }
                14 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_rsts = Some(wire::varint(b)? as i64);
                }
                15 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_csum_errors = Some(wire::varint(b)? as i64);
                }
                _ => wire::skip(b, wt)?,
            }
        }
        Ok(())
    }
}

impl Reuse for UdpStatistics {
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        if fresh {
            self.in_datagrams = None;
            self.no_ports = None;
            self.in_errors = None;
            self.out_datagrams = None;
            self.rcvbuf_errors = None;
            self.sndbuf_errors = None;
            self.in_csum_errors = None;
            self.ignored_multi = None;
        }
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_datagrams = Some(wire::varint(b)? as i64);
                }
                2 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.no_ports = Some(wire::varint(b)? as i64);
                }
                3 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_errors = Some(wire::varint(b)? as i64);
                }
                4 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.out_datagrams = Some(wire::varint(b)? as i64);
                }
                5 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.rcvbuf_errors = Some(wire::varint(b)? as i64);
                }
                6 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.sndbuf_errors = Some(wire::varint(b)? as i64);
                }
                7 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.in_csum_errors = Some(wire::varint(b)? as i64);
                }
                8 => {
                    wire::expect(wt, wire::VARINT)?;
                    self.ignored_multi = Some(wire::varint(b)? as i64);
                }
                _ => wire::skip(b, wt)?,
            }
        }
        Ok(())
    }
}

impl Reuse for SliSample {
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, fresh: bool) -> wire::Result<()> {
        let b = &mut b;
        let mut seen = 0u64;
        if fresh {
            self.value = None;
            self.timestamp = None;
        }
        while !b.is_empty() {
            let (field, wt) = wire::key(b)?;
            match field {
                1 => {
                    wire::expect(wt, wire::LEN)?;
                    wire::string_into(&mut self.name, b)?;
                    seen |= 1 << 0;
                }
                2 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.value = Some(f64::from_bits(wire::fixed64(b)?));
                }
                3 => {
                    wire::expect(wt, wire::FIXED64)?;
                    self.timestamp = Some(f64::from_bits(wire::fixed64(b)?));
                }
                _ => wire::skip(b, wt)?,
            }
        }
        if fresh {
            if seen & (1 << 0) == 0 {
                self.name = None;
            }
        }
        Ok(())
    }
}

impl Reuse for RevocableInfo {
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, _fresh: bool) -> wire::Result<()> {
        while !b.is_empty() {
            let (_, wt) = wire::key(&mut b)?;
            wire::skip(&mut b, wt)?;
        }
        Ok(())
    }
}

impl Reuse for SharedInfo {
    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, _fresh: bool) -> wire::Result<()> {
        while !b.is_empty() {
            let (_, wt) = wire::key(&mut b)?;
            wire::skip(&mut b, wt)?;
        }
        Ok(())
    }
}
