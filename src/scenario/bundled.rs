//! The bundled scenarios: every `scenarios/**/*.json` of the source tree, embedded by
//! `build.rs` and looked up by name (`ping/basic`).

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
