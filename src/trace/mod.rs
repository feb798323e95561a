//! The trace: one record per thing that happens, the run's fingerprint, and the human view.
//!
//! Every record is folded into a 64-bit fingerprint with our own pinned hash, whether or not
//! a trace is written, so two runs can be compared by one number. When a sink is attached,
//! each record is also written as one JSON line (schema [`TRACE_SCHEMA`], see docs/trace.md).
//! The engine never touches files: a sink is any [`TraceSink`]; [`file`](mod@file) writes trace
//! files, and the CLI provides the replay comparer.
//!
//! Must not import the engine; never prints.

pub mod doc;
pub mod file;
mod human;
mod record;
mod recorder;

pub use human::{compact, format_line, line_endpoints};
pub use record::{Origin, Payload, Record};
pub use recorder::{Recorder, SinkError, TraceSink, fingerprint_hex, header};

/// Version of the JSON Lines trace format. Bump it when a record changes shape.
pub const TRACE_SCHEMA: u32 = 1;
