//! The human view of a trace: one fixed-column line per record (`trace show`), compact
//! renderings of JSON values, and which nodes and clients a line is about.

use crate::base::types::Time;

fn field<'a>(v: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    v.get(key).unwrap_or(&serde_json::Value::Null)
}

fn short(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

fn collect_names(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s)
            if crate::base::types::parse_prefixed(s, 'n').is_some()
                || crate::base::types::parse_prefixed(s, 'c').is_some() =>
        {
            out.push(s.clone())
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_names(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_names(x, out)),
        _ => {}
    }
}

/// The nodes and clients a trace line is about, for `--node` filters (a fault counts for
/// every vertex it names).
pub fn line_endpoints(v: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = ["node", "from", "to", "client"]
        .iter()
        .map(|k| field(v, k))
        .filter_map(|x| x.as_str().map(String::from))
        .collect();
    for key in ["fault", "nodes"] {
        if let Some(f) = v.get(key) {
            collect_names(f, &mut names);
        }
    }
    names
}

/// Renders a JSON value compactly for people: `{"ping":{"boot":1,"seq":2}}` becomes
/// `ping boot=1 seq=2`, and the `peer` wrapper of node-to-node messages is dropped.
pub fn compact(v: &serde_json::Value) -> String {
    use serde_json::Value as V;
    match v {
        V::String(s) => s.clone(),
        V::Null => "-".to_string(),
        V::Object(o) if o.len() == 1 => {
            let (k, inner) = o.iter().next().expect("one entry");
            match (k.as_str(), inner) {
                ("peer", _) => compact(inner),
                (_, V::Object(fields)) => {
                    let parts: Vec<String> = fields
                        .iter()
                        .map(|(fk, fv)| format!("{fk}={}", compact(fv)))
                        .collect();
                    format!("{k} {}", parts.join(" "))
                }
                (_, V::Bool(true)) => k.clone(),
                _ => format!("{k} {}", compact(inner)),
            }
        }
        V::Object(o) => {
            let parts: Vec<String> = o
                .iter()
                .map(|(k, x)| format!("{k}={}", compact(x)))
                .collect();
            format!("{{{}}}", parts.join(" "))
        }
        V::Array(a) => format!("[{}]", a.iter().map(compact).collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    }
}

/// One fixed-column line for people: `step  time  where  event  details`. `None` for the
/// header and summary lines.
pub fn format_line(v: &serde_json::Value) -> Option<String> {
    let ev = field(v, "ev").as_str()?;
    if ev == "header" || ev == "summary" {
        return None;
    }
    let step = field(v, "step").as_u64().unwrap_or(0);
    let t = Time(field(v, "t").as_u64().unwrap_or(0));
    let (place, what, detail) = match ev {
        "start" => (
            short(field(v, "node")),
            if field(v, "recover").as_bool() == Some(true) {
                "^ recover"
            } else {
                "^ start"
            },
            format!("incarnation {}", field(v, "incarnation")),
        ),
        "send" => {
            let copies = field(v, "copies").as_u64().unwrap_or(1);
            let mark = match copies {
                0 => "  (lost)",
                2 => "  (x2)",
                _ => "",
            };
            (
                short(field(v, "from")),
                "> send",
                format!(
                    "#{} -> {}  {}{}",
                    field(v, "id"),
                    short(field(v, "to")),
                    compact(field(v, "msg")),
                    mark
                ),
            )
        }
        "deliver" => (
            short(field(v, "to")),
            "< recv",
            format!(
                "#{} <- {}  {}",
                field(v, "id"),
                short(field(v, "from")),
                compact(field(v, "msg"))
            ),
        ),
        "lost" => (
            short(field(v, "to")),
            "x lost",
            format!(
                "#{} {} -> {}  ({})",
                field(v, "id"),
                short(field(v, "from")),
                short(field(v, "to")),
                short(field(v, "reason"))
            ),
        ),
        "held" => (
            short(field(v, "node")),
            "= held",
            format!("#{} waits for resume", field(v, "id")),
        ),
        "timer" => (
            short(field(v, "node")),
            "@ timer",
            compact(field(v, "timer")),
        ),
        "fault" => {
            let detail = field(v, "detail")
                .as_str()
                .map(|d| format!("  ({d})"))
                .unwrap_or_default();
            let mut names = Vec::new();
            collect_names(field(v, "fault"), &mut names);
            let place = if names.len() == 1 {
                names.remove(0)
            } else {
                "*".to_string()
            };
            (
                place,
                "! fault",
                format!(
                    "{} by {}{}",
                    compact(field(v, "fault")),
                    short(field(v, "origin")),
                    detail
                ),
            )
        }
        "note" => (
            short(field(v, "node")),
            "~ state",
            format!("{} = {}", short(field(v, "key")), short(field(v, "value"))),
        ),
        "sync" => (
            short(field(v, "node")),
            "# sync",
            if v.get("failed").and_then(|f| f.as_bool()) == Some(true) {
                format!("FAILED: {} ops lost", field(v, "ops"))
            } else {
                format!("{} ops durable", field(v, "ops"))
            },
        ),
        "invoke" => (
            short(field(v, "client")),
            "+ invoke",
            format!(
                "op {} p{}  {}",
                field(v, "op"),
                field(v, "process"),
                compact(field(v, "request"))
            ),
        ),
        "complete" => (
            short(field(v, "client")),
            "- return",
            format!(
                "op {} p{}  {}",
                field(v, "op"),
                field(v, "process"),
                compact(field(v, "outcome"))
            ),
        ),
        "phase" => ("*".to_string(), "| phase", short(field(v, "phase"))),
        "check" => (
            "*".to_string(),
            "v check",
            format!(
                "{} ({}): {}",
                short(field(v, "check")),
                short(field(v, "kind")),
                short(field(v, "status"))
            ),
        ),
        "violation" => (
            "*".to_string(),
            "!! FAIL",
            format!(
                "{} ({}, {}): {}",
                short(field(v, "check")),
                short(field(v, "kind")),
                short(field(v, "class")),
                short(field(v, "message"))
            ),
        ),
        other => ("?".to_string(), "?", format!("{other}: {v}")),
    };
    Some(format!("{step:>8} {t:>16} {place:<5} {what:<9} {detail}"))
}
