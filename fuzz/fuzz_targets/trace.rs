//! Fuzzes JSON trace files (fixture, single ResourceUsage, JSON Lines); the
//! invariants are in fuzz/checks/trace.rs, which the corpus replay test
//! (rust/agent/tests/fuzz_corpus.rs) shares.
#![no_main]

#[path = "../checks/trace.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
