#!/usr/bin/env python3
"""Generate rust/core/src/model/proto_reuse.rs from rust/core/src/model/proto.rs.

For every prost message of proto.rs it writes an `impl Reuse`: a decoder
that overwrites a message decoded before (the previous tick's snapshot)
in place, so that a node whose executors stay the same decodes without
allocating. It reads the `#[prost(kind, label, tag = "N")]` attribute and
the field name of each field, so it follows proto.rs whenever that file is
regenerated. Run:
    python3 tools/gen_proto_reuse.py > rust/core/src/model/proto_reuse.rs
    rustfmt rust/core/src/model/proto_reuse.rs
"""
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "rust/core/src/model/proto.rs"

SCALARS = {
    # kind: (wire type constant, expression decoding it from `b`)
    "double": ("FIXED64", "f64::from_bits(wire::fixed64(b)?)"),
    "int32": ("VARINT", "wire::varint(b)? as i32"),
    "int64": ("VARINT", "wire::varint(b)? as i64"),
    "uint32": ("VARINT", "wire::varint(b)? as u32"),
    "uint64": ("VARINT", "wire::varint(b)?"),
}


def messages(text):
    out = []
    for m in re.finditer(r"pub struct (\w+) \{\n(.*?)\n\}", text, re.S):
        name, body = m.group(1), m.group(2)
        fields = []
        for f in re.finditer(
            r'#\[prost\((\w+), (optional|repeated)(, boxed)?, tag = "(\d+)"\)\]\s*pub (r#\w+|\w+): ([^\n]+),',
            body,
        ):
            kind, label, boxed, tag, fname, ty = f.groups()
            child = None
            if kind == "message":
                child = re.search(r"(\w+)>+$", ty).group(1)
            fields.append((int(tag), kind, label, bool(boxed), fname, child))
        out.append((name, fields))
    # `pub struct X {}` (no fields)
    for m in re.finditer(r"pub struct (\w+) \{\}", text):
        out.append((m.group(1), []))
    return out


def emit(name, fields):
    if len(fields) > 64:
        sys.exit(f"{name}: {len(fields)} fields do not fit a u64 presence mask")
    p = print
    p(f"impl Reuse for {name} {{")
    if not fields:
        p("    fn merge_reuse(&mut self, mut b: &[u8], _depth: u32, _fresh: bool) -> wire::Result<()> {")
        p("        while !b.is_empty() {")
        p("            let (_, wt) = wire::key(&mut b)?;")
        p("            wire::skip(&mut b, wt)?;")
        p("        }")
        p("        Ok(())")
        p("    }")
        p("}")
        return
    has_messages = any(f[1] == "message" for f in fields)
    singles = [f for f in fields if f[2] != "repeated" and f[1] not in SCALARS]
    depth = "depth" if has_messages else "_depth"
    if len(fields) <= 2:
        p("    #[inline]")
    p(f"    fn merge_reuse(&mut self, mut b: &[u8], {depth}: u32, fresh: bool) -> wire::Result<()> {{")
    p("        let b = &mut b;")
    if singles:
        p("        let mut seen = 0u64;")
    reps = [f for f in fields if f[2] == "repeated"]
    for f in reps:
        p(f"        let mut n_{f[4].replace('r#', '')} = if fresh {{ 0 }} else {{ self.{f[4]}.len() }};")
    scalars = [f for f in fields if f[1] in SCALARS]
    if scalars:
        # Scalars own no buffer: cleared up front (plain stores), the
        # fields the bytes carry then set.
        p("        if fresh {")
        for f in scalars:
            p(f"            self.{f[4]} = None;")
        p("        }")
    p("        while !b.is_empty() {")
    p("            let (field, wt) = wire::key(b)?;")
    p("            match field {")
    for i, (tag, kind, label, boxed, fname, child) in enumerate(fields):
        bit = f"1 << {i}"
        p(f"                {tag} => {{")
        if kind in SCALARS:
            wt, expr = SCALARS[kind]
            p(f"                    wire::expect(wt, wire::{wt})?;")
            p(f"                    self.{fname} = Some({expr});")
            p("                }")
            continue
        elif kind == "string":
            p("                    wire::expect(wt, wire::LEN)?;")
            p(f"                    wire::string_into(&mut self.{fname}, b)?;")
        elif kind == "message" and label == "optional":
            p("                    wire::expect(wt, wire::LEN)?;")
            p(f"                    let first = seen & ({bit}) == 0;")
            p(f"                    wire::message_into(&mut self.{fname}, b, depth, fresh && first)?;")
        elif kind == "message" and label == "repeated":
            p("                    wire::expect(wt, wire::LEN)?;")
            p(f"                    wire::repeated_into(&mut self.{fname}, &mut n_{fname.replace('r#', '')}, b, depth)?;")
        else:
            sys.exit(f"{name}.{fname}: unsupported prost kind {kind} {label}")
        if label != "repeated":
            p(f"                    seen |= {bit};")
        p("                }")
    p("                _ => wire::skip(b, wt)?,")
    p("            }")
    p("        }")
    buffered = [f for f in fields if f[1] not in SCALARS]
    if buffered:
        p("        if fresh {")
    for i, (tag, kind, label, boxed, fname, child) in enumerate(fields):
        if kind in SCALARS:
            continue
        if label == "repeated":
            p(f"            self.{fname}.truncate(n_{fname.replace('r#', '')});")
        else:
            p(f"            if seen & (1 << {i}) == 0 {{")
            p(f"                self.{fname} = None;")
            p("            }")
    if buffered:
        p("        }")
    p("        Ok(())")
    p("    }")
    p("}")


def main():
    text = SRC.read_text()
    print("//! In-place decoding of the messages of `proto.rs`, generated from it by")
    print("//! `tools/gen_proto_reuse.py`. Do not edit by hand. See `wire.rs` for the")
    print("//! rules; `decode_usage_into` is the entry point.")
    print("#![allow(clippy::all)]")
    print("use super::proto::*;")
    print("use super::wire::{self, Reuse};")
    for name, fields in messages(text):
        print()
        emit(name, fields)


main()
