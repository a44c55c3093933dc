//! Fuzzes the node agent's configuration file; the
//! invariants are in fuzz/checks/agent_config.rs, which the corpus replay test
//! (rust/agent/tests/fuzz_corpus.rs) shares.
#![no_main]

#[path = "../checks/agent_config.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
