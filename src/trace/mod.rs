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
pub use recorder::{Recorder, ShowError, SinkError, TraceSink, fingerprint_hex, header};

/// Version of the JSON Lines trace format. Bump it when a record changes shape.
pub const TRACE_SCHEMA: u32 = 1;

/// The record kinds written for the viewer only (timers set and cancelled, published state):
/// not folded into the fingerprint, not counted, and skipped when a replay compares traces,
/// so traces written before they existed replay unchanged.
pub const DISPLAY_EVS: [&str; 3] = ["armed", "disarmed", "state"];

/// Whether a trace line is a display record (see [`DISPLAY_EVS`]). Reads only the `ev` field
/// of a line as the recorder writes it (`{"step":S,"t":T,"ev":"..."`).
pub fn is_display_line(line: &str) -> bool {
    let Some(at) = line.find(",\"ev\":\"") else {
        return false;
    };
    let rest = &line[at + 7..];
    DISPLAY_EVS
        .iter()
        .any(|ev| rest.starts_with(ev) && rest[ev.len()..].starts_with('"'))
}

/// Whether a trace line cut short could be the start of a display record: it is cut before
/// its `ev` is known, or its `ev` so far begins a display kind.
pub fn may_begin_display_line(cut: &str) -> bool {
    let Some(at) = cut.find(",\"ev\":\"") else {
        return true;
    };
    let rest = &cut[at + 7..];
    match rest.split_once('"') {
        Some((ev, _)) => DISPLAY_EVS.contains(&ev),
        None => DISPLAY_EVS.iter().any(|d| d.starts_with(rest)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn display_lines_are_told_apart_by_their_ev() {
        use super::is_display_line as d;
        assert!(d(
            r#"{"step":3,"t":9,"ev":"state","node":"n1","full":true}"#
        ));
        assert!(d(
            r#"{"step":3,"t":9,"ev":"armed","node":"n1","timer":"T","fires":5}"#
        ));
        assert!(d(
            r#"{"step":3,"t":9,"ev":"disarmed","node":"n1","timer":"T"}"#
        ));
        assert!(!d(r#"{"step":3,"t":9,"ev":"stateful","node":"n1"}"#));
        assert!(!d(
            r#"{"step":3,"t":9,"ev":"timer","node":"n1","timer":"armed"}"#
        ));
        assert!(!d(r#"{"ev":"summary"}"#));
        use super::may_begin_display_line as m;
        assert!(m(r#"{"step":3,"t":9,"ev":"sta"#));
        assert!(m(r#"{"step":3,"t":9"#));
        assert!(m(r#"{"step":3,"t":9,"ev":"armed","no"#));
        assert!(!m(r#"{"step":3,"t":9,"ev":"send","id":4"#));
        assert!(!m(r#"{"step":3,"t":9,"ev":"del"#));
    }
}
