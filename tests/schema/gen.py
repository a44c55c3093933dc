#!/usr/bin/env python3
"""Build mesos.ResourceUsage messages with Mesos's own generated classes.

Uses PyPI `mesos.interface` (the published mesos.proto, 1.7.2 by default)
and writes, for each message NNN of a trace:
  NNN.pb              the bytes, as the agent's SerializeToString writes them
  NNN.expected.json   protobuf's own JSON (MessageToDict,
                      preserving_proto_field_name=True)
  NNN.mesos.json      the same in Mesos's style (snake_case, 64-bit integers
                      as numbers, enums by name)
plus trace.jsonl (the Mesos-style messages, one per line) and manifest.json
(message and executor counts). rust/ffi/tests/schema.rs checks them.

Deterministic (seeded). Usage: gen.py OUT_DIR
"""
import json
import math
import os
import random
import sys

from google.protobuf import descriptor as d
from google.protobuf.json_format import MessageToDict
from mesos.interface import mesos_pb2 as m

# Fields the Rust model keeps, for messages where it keeps a subset (it
# mirrors tools/gen_mesos_proto.py); every other message is filled whole.
SUBSETS = {
    "mesos.ExecutorInfo": ["executor_id", "framework_id", "resources", "name", "source", "labels"],
    "mesos.Resource": ["name", "type", "scalar", "role", "allocation_info", "reservations", "revocable"],
    "mesos.Resource.DiskInfo": ["persistence", "source"],
    "mesos.Resource.DiskInfo.Source": ["type", "vendor", "id", "profile"],
}

EXECUTORS = 240          # per snapshot
SNAPSHOTS = 6            # a trace, 10 s apart
rng = random.Random(20240823)


def fill(msg, depth=0, odd=False):
    """Sets every field (of the kept subset) of `msg` to a deterministic value."""
    keep = SUBSETS.get(msg.DESCRIPTOR.full_name)
    for f in msg.DESCRIPTOR.fields:
        if keep is not None and f.name not in keep:
            continue
        if f.type == d.FieldDescriptor.TYPE_MESSAGE:
            if depth > 4:
                continue
            if f.label == d.FieldDescriptor.LABEL_REPEATED:
                for _ in range(2):
                    fill(getattr(msg, f.name).add(), depth + 1, odd)
            else:
                fill(getattr(msg, f.name), depth + 1, odd)
            continue
        value = scalar(f, odd)
        if f.label == d.FieldDescriptor.LABEL_REPEATED:
            getattr(msg, f.name).extend([value, value])
        else:
            setattr(msg, f.name, value)


def scalar(f, odd):
    t = f.type
    if t in (d.FieldDescriptor.TYPE_DOUBLE, d.FieldDescriptor.TYPE_FLOAT):
        if odd and t == d.FieldDescriptor.TYPE_DOUBLE:
            return rng.choice([math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308])
        v = round(rng.uniform(0, 1000), 6)
        return float(int(v)) if t == d.FieldDescriptor.TYPE_FLOAT else v
    if t in (d.FieldDescriptor.TYPE_UINT64, d.FieldDescriptor.TYPE_FIXED64):
        return rng.choice([0, 1, 2**32 + 7, 2**53 + 1, 2**64 - 1, rng.randrange(2**40)])
    if t in (d.FieldDescriptor.TYPE_INT64, d.FieldDescriptor.TYPE_SINT64, d.FieldDescriptor.TYPE_SFIXED64):
        return rng.choice([0, -1, 2**53 + 1, -(2**63), 2**63 - 1, rng.randrange(2**40)])
    if t in (d.FieldDescriptor.TYPE_UINT32, d.FieldDescriptor.TYPE_FIXED32):
        return rng.choice([0, 1, 2**32 - 1, rng.randrange(2**20)])
    if t in (d.FieldDescriptor.TYPE_INT32, d.FieldDescriptor.TYPE_SINT32, d.FieldDescriptor.TYPE_SFIXED32):
        return rng.choice([0, -1, 2**31 - 1, -(2**31), rng.randrange(2**20)])
    if t == d.FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if t == d.FieldDescriptor.TYPE_ENUM:
        return rng.choice([v.number for v in f.enum_type.values])
    if t == d.FieldDescriptor.TYPE_STRING:
        return rng.choice(["a", "é-ü", "x" * 40, "with space", "日本"])
    if t == d.FieldDescriptor.TYPE_BYTES:
        return b"\x00\xff"
    raise ValueError(f"unhandled type {t} of {f.full_name}")


def resource(r, name, value, revocable, role=None):
    r.name = name
    r.type = m.Value.SCALAR
    r.scalar.value = value
    if revocable:
        r.revocable.SetInParent()
    if role is not None:
        r.allocation_info.role = role


def executor(u, i, tick):
    """Executor i at snapshot `tick`: a mix of production and revocable
    work, full and partial statistics, nested container ids."""
    e = u.executors.add()
    revocable = i % 3 == 0
    e.executor_info.executor_id.value = f"exec-{i:03d}"
    e.executor_info.framework_id.value = f"fw-{i % 7}"
    if i % 5 == 0:
        e.executor_info.name = f"executor number {i}"
    if i % 11 == 0:
        lab = e.executor_info.labels.labels.add()
        lab.key, lab.value = "team", "é"
    cpus = 0.1 + (i % 8) * 0.1
    resource(e.allocated.add(), "cpus", cpus, revocable, role="*" if i % 2 else "prod")
    resource(e.allocated.add(), "mem", 128.0 * (1 + i % 4), revocable)
    if i % 9 == 0:
        res = e.allocated.add()
        resource(res, "disk", 1024.0, False)
        ri = res.reservations.add()
        ri.type = m.Resource.ReservationInfo.DYNAMIC
        ri.role = "prod"
        ri.principal = "ops"
    c = e.container_id
    c.value = f"container-{i:03d}"
    for level in range(i % 4):  # 0 to 3 parents
        c = c.parent
        c.value = f"parent-{i:03d}-{level}"
    if i % 6 == 0:
        t = e.tasks.add()
        t.name = f"task {i}"
        t.id.value = f"task-{i}"
        resource(t.resources.add(), "cpus", cpus, revocable)
    if i % 17 == 5:
        return  # the containerizer could not report: no statistics at all
    s = e.statistics
    ts = 1_600_000_000.0 + 10.0 * tick
    if i % 4 == 1:
        fill(s, odd=(i % 29 == 1))  # every field, some non-finite
    elif i % 4 == 2:
        fill(s.perf)  # only perf (plus the required fields below)
    s.timestamp = ts
    # Cumulative CPU counters growing with load, so pipelines see usage.
    busy = (i % 10) / 10.0 * cpus
    s.cpus_user_time_secs = 100.0 + tick * 10.0 * busy * 0.8
    s.cpus_system_time_secs = 20.0 + tick * 10.0 * busy * 0.2
    s.cpus_limit = cpus
    if i % 4 == 3:
        # Only the required fields and the CPU counters: absent optionals.
        return
    if s.HasField("perf"):
        s.perf.timestamp = ts - 10.0
        s.perf.duration = 10.0


def snapshot(tick):
    u = m.ResourceUsage()
    for i in range(EXECUTORS):
        executor(u, i, tick)
    resource(u.total.add(), "cpus", 256.0, False)
    resource(u.total.add(), "mem", 262144.0, False)
    resource(u.total.add(), "disk", 1e6, False)
    return u


def to_mesos_json(msg):
    out = {}
    for f, v in msg.ListFields():
        if f.label == d.FieldDescriptor.LABEL_REPEATED:
            out[f.name] = [one(f, x) for x in v]
        else:
            out[f.name] = one(f, v)
    return out


def one(f, v):
    if f.type == d.FieldDescriptor.TYPE_MESSAGE:
        return to_mesos_json(v)
    if f.type == d.FieldDescriptor.TYPE_ENUM:
        return f.enum_type.values_by_number[v].name
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return v


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    messages = [snapshot(t) for t in range(SNAPSHOTS)]
    # Edge cases: an agent with no executors, and an empty message.
    edge = m.ResourceUsage()
    resource(edge.total.add(), "cpus", 8.0, False)
    messages += [edge, m.ResourceUsage()]
    lines = []
    executors = 0
    for n, u in enumerate(messages):
        missing = u.FindInitializationErrors()
        assert not missing, f"required fields unset: {missing[:5]}"
        (open(os.path.join(out, f"{n:03d}.pb"), "wb")).write(u.SerializeToString())
        canonical = MessageToDict(u, preserving_proto_field_name=True)
        with open(os.path.join(out, f"{n:03d}.expected.json"), "w") as fh:
            json.dump(canonical, fh, ensure_ascii=False, indent=1)
        mj = to_mesos_json(u)
        with open(os.path.join(out, f"{n:03d}.mesos.json"), "w") as fh:
            json.dump(mj, fh, ensure_ascii=False)
        lines.append(json.dumps(mj, ensure_ascii=False))
        executors += len(u.executors)
    with open(os.path.join(out, "trace.jsonl"), "w") as fh:
        fh.write("\n".join(lines[:SNAPSHOTS]) + "\n")
    import google.protobuf
    from importlib import metadata
    manifest = {
        "messages": len(messages),
        "trace_messages": SNAPSHOTS,
        "executors": executors,
        "protobuf": google.protobuf.__version__,
        "mesos_interface": metadata.version("mesos.interface"),
    }
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(manifest, fh)
    print(f"schema: wrote {len(messages)} messages with {executors} executors to {out}")


if __name__ == "__main__":
    main()
