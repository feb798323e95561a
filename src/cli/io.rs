//! The command line's shared input and output: opening input files for a bounded read,
//! reading a scenario (a file, or a bundled one by name) and handing it to a command with its
//! protocol's type, reading a trace for the tools, writing whole files through `.partial`,
//! and the error line every command prints.
//!
//! Every file a command reads goes through [`open_input`] and is read under a cap while it
//! is read (`base::read`): a scenario whole, up to `FILE_BYTES_MAX`; a trace or a sweep
//! report line by line, up to [`TRACE_LINE_BYTES_MAX`] a line and [`TRACE_BYTES_MAX`] in
//! all; a history whole, up to [`HISTORY_BYTES_MAX`]. So `/dev/zero`, `/dev/urandom` or a
//! pipe that never ends is refused with a clear error instead of filling memory.

use super::Exit;
use crate::base::read::{Lines, ReadError, read_capped};
use crate::protocol::Protocol;
use crate::protocols::{AnyScenario, ScenarioVisitor, with_scenario};
use crate::scenario::{self, Document, FILE_BYTES_MAX, InputError, Scenario};
use crate::tools::export::RecordError;
use crate::trace::doc::{TraceDoc, TraceDocBuilder};
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

pub(super) use crate::trace::file::{check_outputs, write_whole};

/// The most bytes one line of a trace (or of a `sweep --json` report) may hold. The header
/// line carries the effective scenario, whose file holds at most 16 MiB; four times that
/// leaves room for any real record.
pub(super) const TRACE_LINE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// The most bytes a trace (or a `sweep --json` report) may hold: about 17 million records
/// of today's average size.
pub(super) const TRACE_BYTES_MAX: u64 = 4 * 1024 * 1024 * 1024;

/// The most bytes a history for `check-history` may hold. A history is read whole (an EDN
/// or JSON history may be one long line), so it has no line cap of its own.
pub(super) const HISTORY_BYTES_MAX: u64 = 256 * 1024 * 1024;

/// Why an input file could not be read: the file, the line where there is one, and what is
/// wrong.
#[derive(Debug)]
pub(super) struct ReadFailure {
    /// The path as errors show it.
    pub(super) shown: String,
    /// The 1-based line, for an error about one line.
    pub(super) line: Option<usize>,
    /// What is wrong and what was expected.
    pub(super) message: String,
}

impl std::fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.shown, self.message),
            None => write!(f, "{}: {}", self.shown, self.message),
        }
    }
}

/// An input file, opened for a bounded read.
pub(super) struct Input {
    shown: String,
    /// Whether the file is a regular file (not a device, pipe or socket, which may never end).
    regular: bool,
    reader: BufReader<File>,
}

/// Opens `path` for reading: a directory, or a file that cannot be opened, is refused with
/// the path and the reason.
pub(super) fn open_input(path: &Path) -> Result<Input, ReadFailure> {
    let shown = path.display().to_string();
    let failure = |message: String| ReadFailure {
        shown: shown.clone(),
        line: None,
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| failure(format!("cannot open: {e}")))?;
    if meta.is_dir() {
        return Err(failure("is a directory; expected a file".to_string()));
    }
    let file = open_file(path, &meta).map_err(|e| failure(format!("cannot open: {e}")))?;
    Ok(Input {
        shown,
        regular: meta.is_file(),
        reader: BufReader::new(file),
    })
}

/// Opens `path` for reading. A named pipe is opened without waiting for a writer (a plain
/// open would block until some process opens it for writing, forever if none does), then
/// read normally: with no writer it reads as empty, which the caller reports as an empty
/// input.
#[cfg(unix)]
fn open_file(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<File> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    use std::os::unix::io::AsRawFd;
    if !meta.file_type().is_fifo() {
        return File::open(path);
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is the open descriptor `file` owns for the whole of both calls; F_GETFL
    // and F_SETFL read and set its status flags and touch no memory.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file)
}

#[cfg(not(unix))]
fn open_file(path: &Path, _meta: &std::fs::Metadata) -> std::io::Result<File> {
    File::open(path)
}

impl Input {
    /// All of the file as text, refusing more than `max` bytes; `what` names the input in
    /// errors ("a scenario file").
    pub(super) fn read_whole(self, max: u64, what: &str) -> Result<String, ReadFailure> {
        read_capped(self.reader, max).map_err(|e| describe(&self.shown, self.regular, &e, what))
    }

    /// The file's lines under the trace caps.
    pub(super) fn trace_lines(self) -> InputLines {
        InputLines {
            shown: self.shown,
            regular: self.regular,
            lines: Lines::new(self.reader, TRACE_LINE_BYTES_MAX, TRACE_BYTES_MAX),
        }
    }
}

/// The lines of an input file under the trace caps, with errors that name the file.
pub(super) struct InputLines {
    shown: String,
    regular: bool,
    lines: Lines<BufReader<File>>,
}

impl InputLines {
    /// The number of the last line read (0 before the first).
    pub(super) fn line(&self) -> usize {
        self.lines.line()
    }

    /// Whether the input read so far ended with a newline.
    pub(super) fn ended_with_newline(&self) -> bool {
        self.lines.ended_with_newline()
    }

    /// The next line and its 1-based number, `Ok(None)` at the end; an error names the file,
    /// the line and the cap it broke.
    pub(super) fn next_line(&mut self) -> Result<Option<(usize, &str)>, ReadFailure> {
        let (shown, regular) = (&self.shown, self.regular);
        self.lines
            .next_line()
            .map_err(|e| describe(shown, regular, &e, "a trace"))
    }
}

/// Opens a trace for a bounded, line by line read (`view`, `export`, `explain`, `trace show`,
/// `replay`; `merge` reads `sweep --json` reports the same way).
/// A missing trace whose `.partial` is there is told so: the run that wrote it did not
/// finish, and the `.partial` file holds what it wrote.
pub(super) fn open_trace(path: &Path) -> Result<InputLines, ReadFailure> {
    let partial = crate::trace::file::partial_path(path);
    if !path.exists() && partial.is_file() {
        return Err(ReadFailure {
            shown: path.display().to_string(),
            line: None,
            message: format!(
                "no such file, but {} is there: the run that wrote it did not finish (killed, or its trace could not be written); give that file to read what it holds",
                partial.display()
            ),
        });
    }
    open_input(path).map(Input::trace_lines)
}

/// Says why a bounded read of `shown` stopped, naming the line where there is one. A file
/// that is not a regular file is told that a device or pipe that never ends is refused.
fn describe(shown: &str, regular: bool, e: &ReadError, what: &str) -> ReadFailure {
    let endless = if regular {
        ""
    } else {
        "; a device or pipe that never ends is refused"
    };
    let (line, message) = match e {
        ReadError::TooLarge { max } => (
            None,
            format!("more than {max} bytes: {what} holds at most {max} bytes{endless}"),
        ),
        ReadError::LineTooLong { line, max } => (
            Some(*line),
            format!(
                "a line longer than {max} bytes: a line of {what} holds at most {max} bytes{endless}"
            ),
        ),
        ReadError::NotUtf8 { line: 0 } => (None, "not UTF-8 text".to_string()),
        ReadError::NotUtf8 { line } => (Some(*line), "not UTF-8 text".to_string()),
        ReadError::Io(e) => (None, format!("cannot read: {e}")),
    };
    ReadFailure {
        shown: shown.to_string(),
        line,
        message,
    }
}

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
        let text = open_input(path)
            .and_then(|input| input.read_whole(FILE_BYTES_MAX as u64, "a scenario file"))
            .map_err(|f| InputError {
                line: f.line,
                ..error(f.message)
            })?;
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

/// Feeds the lines of trace `path` to `line`, under the trace caps; an error names the file,
/// and the line and column where it applies.
pub(super) fn read_trace_lines<E: std::fmt::Display>(
    path: &Path,
    mut line: impl FnMut(usize, &str) -> Result<(), E>,
) -> Result<(), String> {
    let shown = path.display();
    let mut lines = open_trace(path).map_err(|e| e.to_string())?;
    loop {
        match lines.next_line() {
            Ok(Some((number, text))) => line(number, text).map_err(|e| format!("{shown}:{e}"))?,
            Ok(None) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Reads a whole trace for `export` and `explain`, its records kept as text (a trace takes
/// about its own size in memory); errors name the file, line and column.
pub(super) fn read_trace_doc(path: &Path, err: &mut dyn Write) -> Option<TraceDoc> {
    let size = std::fs::metadata(path).map_or(0, |m| m.len().min(TRACE_BYTES_MAX));
    let mut builder = TraceDocBuilder::with_capacity(size as usize);
    let read = read_trace_lines(path, |number, text| builder.line(number, text).map(|_| ()))
        .and_then(|()| {
            builder
                .finish()
                .map_err(|e| format!("{}:{e}", path.display()))
        });
    match read {
        Ok(doc) => Some(doc),
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            None
        }
    }
}

/// A record the export or narrative cannot read, as `FILE:LINE:1: message`.
pub(super) fn record_error(path: &Path, doc: &TraceDoc, e: &RecordError, err: &mut dyn Write) {
    let line = doc.line_of(e.record);
    let _ = writeln!(err, "error: {}:{line}:1: {}", path.display(), e.message);
}
