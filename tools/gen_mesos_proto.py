#!/usr/bin/env python3
"""Generate rust/core/src/model/proto.rs from Mesos's own published schema.

The Rust structs carry Mesos's field numbers (prost) and its protobuf-JSON names
(serde), for the subset of mesos.proto that a ResourceUsage snapshot needs.
Field numbers come from the descriptors of PyPI `mesos.interface==1.7.2`; the
fields Mesos 1.11 added on our path (ResourceStatistics.cpus_soft_limit = 45)
are appended below. Run: python3 tools/gen_mesos_proto.py > rust/core/src/model/proto.rs
"""
import re
from mesos.interface import mesos_pb2 as m

# message full name -> (rust name, fields kept: None = all)
KEEP = {
    "mesos.ResourceUsage": ("ResourceUsage", None),
    "mesos.ResourceUsage.Executor": ("Executor", None),
    "mesos.ResourceUsage.Executor.Task": ("Task", None),
    "mesos.TaskID": ("TaskId", None),
    "mesos.ExecutorInfo": ("ExecutorInfo", ["executor_id", "framework_id", "resources", "name", "source", "labels"]),
    "mesos.ExecutorID": ("ExecutorId", None),
    "mesos.FrameworkID": ("FrameworkId", None),
    "mesos.ContainerID": ("ContainerId", None),
    "mesos.Labels": ("Labels", None),
    "mesos.Label": ("Label", None),
    "mesos.Resource": ("Resource", ["name", "type", "scalar", "role", "allocation_info", "reservation", "reservations", "revocable", "shared", "disk", "provider_id"]),
    "mesos.ResourceProviderID": ("ResourceProviderId", None),
    "mesos.Value.Scalar": ("Scalar", None),
    "mesos.Resource.AllocationInfo": ("AllocationInfo", None),
    "mesos.Resource.ReservationInfo": ("ReservationInfo", None),
    "mesos.Resource.RevocableInfo": ("RevocableInfo", None),
    "mesos.Resource.SharedInfo": ("SharedInfo", None),
    "mesos.Resource.DiskInfo": ("DiskInfo", ["persistence", "source"]),
    "mesos.Resource.DiskInfo.Persistence": ("DiskPersistence", None),
    "mesos.Resource.DiskInfo.Source": ("DiskSource", ["type", "vendor", "id", "profile"]),
    "mesos.ResourceStatistics": ("ResourceStatistics", None),
    "mesos.DiskStatistics": ("DiskStatistics", None),
    "mesos.CgroupInfo.Blkio.Statistics": ("BlkioStatistics", None),
    "mesos.CgroupInfo.Blkio.CFQ.Statistics": ("BlkioCfqStatistics", None),
    "mesos.CgroupInfo.Blkio.Throttling.Statistics": ("BlkioThrottlingStatistics", None),
    "mesos.CgroupInfo.Blkio.Value": ("BlkioValue", None),
    "mesos.Device.Number": ("DeviceNumber", None),
    "mesos.PerfStatistics": ("PerfStatistics", None),
    "mesos.TrafficControlStatistics": ("TrafficControlStatistics", None),
    "mesos.SNMPStatistics": ("SnmpStatistics", None),
    "mesos.IpStatistics": ("IpStatistics", None),
    "mesos.IcmpStatistics": ("IcmpStatistics", None),
    "mesos.TcpStatistics": ("TcpStatistics", None),
    "mesos.UdpStatistics": ("UdpStatistics", None),
}
# Fields newer than the 1.7.2 schema that Mesos 1.11 carries, and
# Serenity's own starvation totals (tags 1001-1004, which no Mesos release
# uses; Mesos never sets them, the probe's enricher and the node agent do):
# cumulative seconds waiting on the run queue (Σ over the group's tasks,
# /proc/<pid>/schedstat) and of PSI `some` stall time (cpu, memory, io).
EXTRA = {"mesos.ResourceStatistics": [
    (45, "cpus_soft_limit", 1, 1, None),
    (1001, "serenity_runqueue_delay_secs", 1, 1, None),
    (1002, "serenity_cpu_pressure_some_secs", 1, 1, None),
    (1003, "serenity_mem_pressure_some_secs", 1, 1, None),
    (1004, "serenity_io_pressure_some_secs", 1, 1, None),
    # The latest value of each service-level indicator ([[sli]]) of the
    # executor, handed in by the embedder's fetcher (crate serenity-sli).
    (1005, "serenity_slis", 11, 3, "SliSample"),
]}
# Serenity's own messages (no Mesos schema has them).
SERENITY_MESSAGES = """/// Serenity's extension message: one service-level indicator's value.
#[derive(Clone, PartialEq, ::prost::Message, Deserialize)]
#[serde(default)]
pub struct SliSample {
    /// The `[[sli]]` name.
    #[serde(deserialize_with = "de::opt_string")] #[prost(string, optional, tag = "1")] pub name: ::core::option::Option<::prost::alloc::string::String>,
    /// The value, in the unit of the SLI's objective.
    #[serde(deserialize_with = "de::opt_f64")] #[prost(double, optional, tag = "2")] pub value: ::core::option::Option<f64>,
    /// When it was measured (seconds since the Unix epoch, the clock of the statistics timestamps).
    #[serde(deserialize_with = "de::opt_f64")] #[prost(double, optional, tag = "3")] pub timestamp: ::core::option::Option<f64>,
}
"""

SCALAR = {1: ("double", "f64", "f64"), 2: ("float", "f32", "f32"), 3: ("int64", "i64", "i64"),
          4: ("uint64", "u64", "u64"), 5: ("int32", "i32", "i32"), 8: ("bool", "bool", "bool"),
          13: ("uint32", "u32", "u32"), 14: ("enumeration", "i32", "enum")}


def descriptors():
    out = {}

    def walk(d):
        if d.full_name in out:
            return
        out[d.full_name] = d
        for f in d.fields:
            if f.message_type:
                walk(f.message_type)
    walk(m.ResourceUsage.DESCRIPTOR)
    return out


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def main():
    descs = descriptors()
    print("//! Mesos protobuf messages on the usage path, generated by")
    print("//! `tools/gen_mesos_proto.py` from Mesos's published schema (PyPI")
    print("//! `mesos.interface==1.7.2`) plus the fields Mesos 1.11 added on this path.")
    print("//! Do not edit by hand. Each struct decodes protobuf bytes (prost, unknown")
    print("//! fields skipped) and protobuf-JSON with the schema's field names (serde,")
    print("//! unknown keys skipped).")
    print("#![allow(missing_docs)]")
    print("use super::json_de as de;")
    print("use serde::Deserialize;")
    print()
    for full, (rname, keep) in KEEP.items():
        d = descs[full]
        fields = [(f.number, f.name, f.type, f.label, f) for f in d.fields if keep is None or f.name in keep]
        fields += EXTRA.get(full, [])
        print(f"/// `{full}`.")
        print("#[derive(Clone, PartialEq, ::prost::Message, Deserialize)]")
        print("#[serde(default)]")
        print(f"pub struct {rname} {{")
        for num, name, typ, label, f in sorted(fields, key=lambda x: x[0]):
            fname = snake(name)
            if fname == "type":
                fname = "r#type"
            ren = f'#[serde(rename = "{name}")] ' if snake(name) != name else ""
            if typ == 11:
                child = f if isinstance(f, str) else KEEP[f.message_type.full_name][0]
                if label == 3:
                    print(f'    {ren}#[serde(deserialize_with = "de::vec_or_null")] #[prost(message, repeated, tag = "{num}")] pub {fname}: ::prost::alloc::vec::Vec<{child}>,')
                else:
                    ty = f"::prost::alloc::boxed::Box<{child}>" if child == rname else child
                    print(f'    {ren}#[prost(message, optional{", boxed" if child == rname else ""}, tag = "{num}")] pub {fname}: ::core::option::Option<{ty}>,')
            elif typ == 9:
                if label == 3:
                    print(f'    {ren}#[prost(string, repeated, tag = "{num}")] pub {fname}: ::prost::alloc::vec::Vec<::prost::alloc::string::String>,')
                else:
                    print(f'    {ren}#[serde(deserialize_with = "de::opt_string")] #[prost(string, optional, tag = "{num}")] pub {fname}: ::core::option::Option<::prost::alloc::string::String>,')
            else:
                pkind, rty, dek = SCALAR[typ]
                if typ == 14:
                    enum = f.enum_type
                    names = ", ".join(f'("{v.name}", {v.number})' for v in enum.values)
                    print(f'    /// Enum `{enum.full_name}`: {names}.')
                    print(f'    {ren}#[serde(deserialize_with = "de::opt_enum")] #[prost(int32, optional, tag = "{num}")] pub {fname}: ::core::option::Option<i32>,')
                else:
                    print(f'    {ren}#[serde(deserialize_with = "de::opt_{dek}")] #[prost({pkind}, optional, tag = "{num}")] pub {fname}: ::core::option::Option<{rty}>,')
        print("}")
        print()
    print(SERENITY_MESSAGES, end="")


main()
