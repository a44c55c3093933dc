//! serenity-ffi: the C ABI of Serenity in Rust.
//!
//! Two object families, each behind an opaque handle: the resource estimator
//! (`serenity_estimator_*`, answers the revocable slack) and the QoS
//! controller (`serenity_qos_*`, answers kill corrections). Both are built
//! from a pipeline TOML file or text and fed serialized `mesos.ResourceUsage`
//! bytes, exactly as the Mesos agent's `usage()` callback produces them.
//!
//! Conventions (see docs/mesos.md, "API conventions"):
//! - Every function returns a [`serenity_result`] (or a plain value for the
//!   accessors) and runs inside [`panic::boundary`]: no panic crosses into C.
//!   A panic while a handle is in use poisons it; later calls on it answer
//!   `SERENITY_RESULT_POISONED`.
//! - Pointers are checked for NULL. Inputs are borrowed for the call only.
//!   Outputs are owned by Rust; each says how long it lives.
//! - Handles lock internally and may be used from any thread.
//! - `*_new_*` write their out-pointer only on success; every `*_free`
//!   accepts NULL.
//!
//! The header `include/serenity.h` is generated from this crate by cbindgen
//! (`cbindgen.toml`); `tests/header.rs` fails when it is stale.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(non_camel_case_types)]

pub mod error;
pub mod estimator;
mod handle;
mod input;
pub mod log;
pub mod node;
pub mod panic;
mod pipeline;
pub mod qos;
pub mod result;
#[cfg(feature = "test-stages")]
pub mod test_stages;
pub mod valve_request;
pub mod version;

pub use error::serenity_config_error;
pub use estimator::{serenity_estimator, serenity_slack};
pub use log::{serenity_log_callback, serenity_log_level};
pub use pipeline::{serenity_metrics, serenity_valve_state};
pub use qos::{serenity_correction, serenity_qos};
pub use result::serenity_result;

/// The largest serialized `ResourceUsage` an update accepts: 64 MiB. Larger
/// inputs are refused with `SERENITY_RESULT_TOO_LARGE` before they are read.
pub const SERENITY_MAX_USAGE_BYTES: usize = 64 * 1024 * 1024;
