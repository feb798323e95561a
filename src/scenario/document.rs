//! Reading a scenario document: JSON text in, overrides applied, presets resolved, and
//! everything the protocol does not decide validated. The result, a [`Document`], names its
//! protocol but does not know its type; [`Scenario`](super::Scenario) checks the rest
//! against the protocol's type.
//!
//! Must not read files (the caller passes the text) and must not look a protocol up by name.

use super::error::{InputError, Where, strip_position};
use super::format::{SCHEMA, ScenarioFile};
use super::overrides::apply_override;
use super::presets::resolve_network;
use super::validate::{FAULTS_MAX_LIMIT, FILE_BYTES_MAX, too_many_faults, validate};
use std::sync::Arc;

/// A scenario read and validated in everything its protocol does not decide: the nodes,
/// network, clocks, workload shape, faults, nemesis, limits and expectation kinds.
///
/// The fields are the document as it runs; change it through overrides
/// ([`Document::load`]), not by hand, so that it stays valid.
#[derive(Clone, Debug)]
pub struct Document {
    /// Where it came from (path or bundled name).
    pub source: String,
    /// The effective JSON (presets resolved, overrides applied), written into trace headers.
    pub json: serde_json::Value,
    /// Parsed.
    pub file: ScenarioFile,
    /// The text it was read from, while that text describes it (no overrides, not derived):
    /// errors found later, against the protocol, point into it.
    text: Option<Arc<str>>,
}

impl Document {
    /// Parses and validates scenario `text` from `source`, with `overrides` (`--set` syntax)
    /// applied in order.
    pub fn load(source: &str, text: &str, overrides: &[String]) -> Result<Document, InputError> {
        let whole = Where {
            source,
            text: Some(text),
        };
        if text.len() > FILE_BYTES_MAX {
            return Err(whole.error(
                "",
                format!(
                    "the file is {} bytes; scenarios are at most {FILE_BYTES_MAX}",
                    text.len()
                ),
            ));
        }
        let mut json: serde_json::Value = serde_json::from_str(text).map_err(|e| InputError {
            file: source.to_string(),
            line: Some(e.line()),
            column: Some(e.column()),
            field: None,
            message: format!("not valid JSON: {}", strip_position(&e.to_string())),
        })?;
        if !json.is_object() {
            return Err(whole.error("", "expected a JSON object at the top level"));
        }
        for o in overrides {
            apply_override(&mut json, o)?;
        }
        // With overrides, positions in the file no longer describe the document being read.
        let text = overrides.is_empty().then_some(text);
        Document::read(source, json, text)
    }

    /// Validates a document given as JSON (a derived one: a swarm resolved for a seed, a
    /// shrinking candidate). Its errors carry no positions: there is no text to point into.
    pub fn from_json(source: &str, json: serde_json::Value) -> Result<Document, InputError> {
        if !json.is_object() {
            return Err(Where { source, text: None }.error("", "expected a JSON object"));
        }
        Document::read(source, json, None)
    }

    fn read(
        source: &str,
        mut json: serde_json::Value,
        text: Option<&str>,
    ) -> Result<Document, InputError> {
        let place = Where { source, text };
        if let Some(schema) = json.get("schema") {
            if schema.as_u64() != Some(u64::from(SCHEMA)) {
                return Err(place.error(
                    "schema",
                    format!("unsupported schema version {schema}; this faultline reads {SCHEMA}"),
                ));
            }
        }
        // Before the typed copies are made: a list longer than its bound costs no more.
        let faults = json
            .get("faults")
            .and_then(|f| f.as_array())
            .map_or(0, Vec::len);
        let faults_max = json
            .pointer("/limits/faults_max")
            .and_then(serde_json::Value::as_u64)
            .filter(|&m| (1..=FAULTS_MAX_LIMIT).contains(&m))
            .unwrap_or(crate::sim::FAULTS_MAX_DEFAULT);
        if faults as u64 > faults_max {
            return Err(place.error("faults", too_many_faults(faults, faults_max)));
        }
        let file: ScenarioFile = serde_path_to_error::deserialize(&json).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { String::new() } else { path };
            let message = strip_position(&e.inner().to_string());
            place.error(&field, message)
        })?;
        resolve_network(&mut json, &file, &place)?;
        let file: ScenarioFile = serde_path_to_error::deserialize(&json).map_err(|e| {
            place.error(
                &e.path().to_string(),
                strip_position(&e.inner().to_string()),
            )
        })?;
        validate(&file, &place)?;
        Ok(Document {
            source: source.to_string(),
            json,
            file,
            text: text.map(Arc::from),
        })
    }

    /// The protocol's name, as the document gives it.
    pub fn protocol(&self) -> &str {
        &self.file.protocol.name
    }

    /// An error about `field` of this document (a path like `protocol.name`), at its line
    /// and column in the text when the text still describes the document.
    pub fn error(&self, field: &str, message: impl Into<String>) -> InputError {
        self.place().error(field, message)
    }

    /// Where errors about this document point.
    pub(crate) fn place(&self) -> Where<'_> {
        Where {
            source: &self.source,
            text: self.text.as_deref(),
        }
    }
}
