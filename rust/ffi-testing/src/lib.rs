//! The C ABI of `serenity-ffi` with its `test-stages` feature (the
//! `test_panic` stage, which panics on purpose so that the C++ wrapper's
//! tests can check the panic boundary and handle poisoning), linked as
//! `libserenity_ffi_testing.a`. Never shipped: the Mesos modules link the
//! plain `libserenity_ffi.a`.

pub use serenity_ffi::*;
