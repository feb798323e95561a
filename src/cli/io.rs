//! The command line's shared input and output: reading a scenario (a file, or a bundled
//! one by name) and handing it to a command with its protocol's type, reading a trace for the
//! tools, writing whole files through `.partial`, and the error line every command prints.

use super::Exit;
use crate::protocol::Protocol;
use crate::protocols::{AnyScenario, ScenarioVisitor, with_scenario};
use crate::scenario::{self, Document, InputError, Scenario};
use crate::tools::export::RecordError;
use crate::trace::doc::TraceDoc;
use std::io::Write;
use std::path::Path;

pub(super) use crate::trace::file::{check_outputs, write_whole};

/// Prints `error: WHAT` and says the input was bad.
pub(super) fn bad(err: &mut dyn Write, what: impl std::fmt::Display) -> Exit {
    let _ = writeln!(err, "error: {what}");
    Exit::BadInput
}

/// The source name and text of scenario `name`: a path if the file exists, else a bundled
/// scenario's name.
pub(super) fn read_text(name: &str) -> Result<(String, String), InputError> {
    let error = |message: String| InputError {
        file: name.to_string(),
        line: None,
        column: None,
        field: None,
        message,
    };
    let path = Path::new(name);
    if path.exists() {
        let text = std::fs::read(path).map_err(|e| error(format!("cannot read: {e}")))?;
        let text = String::from_utf8(text).map_err(|_| error("not UTF-8 text".to_string()))?;
        return Ok((name.to_string(), text));
    }
    match scenario::bundled(name) {
        Some(text) => Ok((name.to_string(), text.to_string())),
        None => Err(error(format!(
            "no such file, and no bundled scenario of that name; bundled: {}",
            scenario::bundled_names().join(", ")
        ))),
    }
}

/// Reads scenario `name` (a path, or a bundled name) with `overrides` applied, for the
/// protocol it names.
pub fn read_scenario(name: &str, overrides: &[String]) -> Result<AnyScenario, InputError> {
    let (source, text) = read_text(name)?;
    AnyScenario::load(&source, &text, overrides)
}

/// A command that needs its scenario's protocol type.
pub(super) trait TypedCommand {
    /// Runs the command on the loaded scenario.
    fn run<P: Protocol>(&self, scn: Scenario<P>, out: &mut dyn Write, err: &mut dyn Write) -> Exit;
}

/// Reads scenario `name` with `overrides`, looks its protocol up in the registry and runs
/// `command` with the typed scenario. A scenario that does not load is bad input.
pub(super) fn typed<C: TypedCommand>(
    name: &str,
    overrides: &[String],
    command: &C,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    struct Visit<'a, C> {
        command: &'a C,
        out: &'a mut dyn Write,
        err: &'a mut dyn Write,
    }
    impl<C: TypedCommand> ScenarioVisitor for Visit<'_, C> {
        type Output = Exit;
        fn visit<P: Protocol>(self, scn: Scenario<P>) -> Exit {
            self.command.run(scn, self.out, self.err)
        }
    }
    let loaded = read_text(name)
        .and_then(|(source, text)| Document::load(&source, &text, overrides))
        .and_then(|doc| {
            with_scenario(
                doc,
                Visit {
                    command,
                    out,
                    err: &mut *err,
                },
            )
        });
    match loaded {
        Ok(exit) => exit,
        Err(e) => bad(err, e),
    }
}

/// Reads a whole trace for `export` and `explain`; errors name the file, line and column.
pub(super) fn read_trace_doc(path: &Path, err: &mut dyn Write) -> Option<(String, TraceDoc)> {
    let shown = path.display();
    let text = match std::fs::read(path).map(String::from_utf8) {
        Ok(Ok(t)) => t,
        Ok(Err(_)) => {
            let _ = writeln!(err, "error: {shown}: not UTF-8 text");
            return None;
        }
        Err(e) => {
            let _ = writeln!(err, "error: {shown}: cannot open: {e}");
            return None;
        }
    };
    match TraceDoc::parse(&text) {
        Ok(doc) => Some((text, doc)),
        Err(e) => {
            let _ = writeln!(err, "error: {shown}:{e}");
            None
        }
    }
}

/// A record the export or narrative cannot read, as `FILE:LINE:1: message`: records are the
/// non-blank lines after the header, as `TraceDoc::parse` counts them.
pub(super) fn record_error(path: &Path, text: &str, e: &RecordError, err: &mut dyn Write) {
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .nth(e.record + 1)
        .map_or(0, |(i, _)| i + 1);
    let _ = writeln!(err, "error: {}:{line}:1: {}", path.display(), e.message);
}
