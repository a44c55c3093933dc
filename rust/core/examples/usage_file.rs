//! Writes ticks of the synthetic node (`model::build::synthetic_node`) as
//! serialized `mesos.ResourceUsage` bytes, for benchmarks outside Rust
//! (`cpp_shim/bench/tick_bench.cpp`) to run on exactly the bytes the Rust
//! benchmarks decode:
//!
//! ```sh
//! cargo run --release -p serenity-core --example usage_file -- 1000 60 /tmp/usage-1000.bin
//! ```
//!
//! Each record is a 4-byte little-endian length followed by that many bytes.

use prost::Message;
use serenity_core::model::build::synthetic_node;
use std::io::Write;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(n), Some(ticks), Some(path)) = (
        args.get(1).and_then(|a| a.parse::<usize>().ok()),
        args.get(2).and_then(|a| a.parse::<u64>().ok()),
        args.get(3),
    ) else {
        eprintln!("usage: usage_file EXECUTORS TICKS OUTPUT");
        std::process::exit(2);
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for t in 1..=ticks {
        let bytes = synthetic_node(n, t).encode_to_vec();
        let len = u32::try_from(bytes.len()).expect("a snapshot under 4 GiB");
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&bytes)?;
    }
    out.flush()
}
