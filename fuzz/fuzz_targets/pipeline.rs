//! Fuzzes pipeline TOML: parse, validate, build, and a few ticks; the
//! invariants are in fuzz/checks/pipeline.rs, which the corpus replay test
//! (rust/agent/tests/fuzz_corpus.rs) shares.
#![no_main]

#[path = "../checks/pipeline.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
