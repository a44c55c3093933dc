//! Fuzzes the `/valve` request parser both Mesos modules use (through
//! `serenity_valve_request_parse`); the invariants are in
//! fuzz/checks/valve.rs, which the corpus replay test
//! (rust/agent/tests/fuzz_corpus.rs) shares.
#![no_main]

#[path = "../checks/valve.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
