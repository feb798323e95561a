//! The bundled scenarios: every `scenarios/**/*.json` of the source tree, embedded by
//! `build.rs` and looked up by name (`ping/basic`).

use super::error::InputError;

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// Looks up a bundled scenario by name (`ping/basic`).
pub fn bundled(name: &str) -> Option<&'static str> {
    let name = name.strip_suffix(".json").unwrap_or(name);
    let name = name.strip_prefix("scenarios/").unwrap_or(name);
    BUNDLED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Names of every bundled scenario, sorted.
pub fn bundled_names() -> Vec<&'static str> {
    BUNDLED.iter().map(|(n, _)| *n).collect()
}

/// The bundled scenario `name`'s text, or the error that lists the names there are (for
/// the typed and the registry's loaders, which both load by name).
pub(crate) fn bundled_text(name: &str) -> Result<&'static str, InputError> {
    bundled(name).ok_or_else(|| InputError {
        file: name.to_string(),
        line: None,
        column: None,
        field: None,
        message: format!(
            "no bundled scenario of that name; bundled: {}",
            bundled_names().join(", ")
        ),
    })
}
