//! `faultline list`: the bundled scenarios, the registered protocols and the network presets.

use super::Exit;
use crate::protocols::PROTOCOLS;
use crate::scenario;
use std::io::Write;

pub(super) fn cmd_list(out: &mut dyn Write) -> Exit {
    let _ = writeln!(out, "Bundled scenarios (run with: faultline run NAME):");
    for name in scenario::bundled_names() {
        let description = scenario::bundled(name)
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .and_then(|v| {
                v.get("description")
                    .and_then(|d| d.as_str())
                    .map(String::from)
            })
            .unwrap_or_default();
        let first = description
            .split(". ")
            .next()
            .unwrap_or("")
            .trim_end_matches('.');
        let _ = writeln!(out, "  {name:<28} {first}");
    }
    let _ = writeln!(out, "\nProtocols: {}", PROTOCOLS.join(", "));
    let _ = writeln!(
        out,
        "\nNetwork presets (\"network\": {{\"preset\": NAME}}):"
    );
    for (name, what) in scenario::PRESETS {
        let _ = writeln!(out, "  {name:<12} {what}");
    }
    Exit::Ok
}
