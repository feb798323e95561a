//! Bad-input errors: which file, where in it, which field, and what was expected.
//!
//! [`InputError`] is the one error type of scenario loading. [`Where`] builds errors about
//! one document, pointing at the line and column of the field while the text still describes
//! the document (no overrides applied). Must not read files or print.

use super::position::locate;
use std::fmt;

/// A bad-input error: where, which field, what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// The file (or bundled scenario name, or `--set`).
    pub file: String,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// 1-based column, where known.
    pub column: Option<usize>,
    /// The field path, where known.
    pub field: Option<String>,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for InputError {}

/// Where errors about one document point: its source, and its text while that text still
/// describes the document (with overrides applied, positions in the file would mislead).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Where<'a> {
    /// The file, bundled name or other source the errors name.
    pub(crate) source: &'a str,
    /// The text to find fields in, if it describes the document.
    pub(crate) text: Option<&'a str>,
}

impl Where<'_> {
    /// An error about `field` (a path like `faults[2].crash`; empty for the whole document),
    /// at the field's line and column when they can be found.
    pub(crate) fn error(&self, field: &str, message: impl Into<String>) -> InputError {
        let pos = self.text.and_then(|t| locate(t, field));
        InputError {
            file: self.source.to_string(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            field: (!field.is_empty()).then(|| field.to_string()),
            message: message.into(),
        }
    }
}

/// A serde message without its " at line L column C" tail: the error names the field instead.
pub(crate) fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}
