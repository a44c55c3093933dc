//! Fuzzes one client connection to the agent's HTTP listener; the
//! invariants are in fuzz/checks/http.rs, which the corpus replay test
//! (rust/agent/tests/fuzz_corpus.rs) shares.
#![no_main]

#[path = "../checks/http.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
