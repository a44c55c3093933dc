//! The Mesos usage model: protobuf and protobuf-JSON decoding of
//! `mesos.ResourceUsage`, and the validated [`Snapshot`] view the pipelines read.

pub mod build;
mod json_de;
pub mod proto;
mod proto_reuse;
mod snapshot;
mod trace;
pub mod wire;

pub use json_de::json_kind;
pub use snapshot::{ExecutorKey, ExecutorView, Rejection, Snapshot, MIB};
pub use trace::{
    decode_usage, load_trace, load_trace_bytes, stream_trace, trace_text, DecodeError, TraceError,
    TraceFormat, TraceRecord, TRACE_SHAPES,
};
pub use wire::decode_usage_into;
