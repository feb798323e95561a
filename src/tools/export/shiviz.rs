//! The ShiViz export: a log of the run's events, each with its host's vector clock, for
//! ShiViz's space-time diagrams (see docs/exports.md). Must not import the engine.

use std::collections::BTreeMap;

use crate::tools::read::{Hosts, Rec, RecordError, fault_endpoints, fault_text, msg_kind};
use crate::trace::compact;
use crate::trace::doc::TraceDoc;

/// ShiViz's parser expression, the first line of the file: an event line, then a line with
/// the host and its vector clock.
pub const SHIVIZ_REGEX: &str = r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})";

/// The trace as a ShiViz log with vector clocks.
///
/// Line 1 is the parser expression ([`SHIVIZ_REGEX`]), line 2 the (empty) delimiter of
/// multiple executions, then two lines per event: what happened (with its virtual time), and
/// the host with its vector clock. Hosts are the nodes and clients. A send ticks the sender's
/// clock and the message carries the result; a delivery takes the entry-wise maximum with the
/// message's clock, then ticks the receiver. Starts, timers, notes, faults, invocations and
/// completions tick their host's clock; a fault ticks every node it names (every node for a
/// heal). Losses, holds and syncs are not events here.
pub fn shiviz(doc: &TraceDoc) -> Result<String, RecordError> {
    let hosts = Hosts::of(doc);
    let mut clocks: Vec<Vec<u64>> = vec![vec![0; hosts.len()]; hosts.len()];
    let mut carried: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut out = String::new();
    out.push_str(SHIVIZ_REGEX);
    out.push_str("\n\n");
    let event = |out: &mut String, clocks: &mut Vec<Vec<u64>>, h: usize, t: u64, text: String| {
        clocks[h][h] += 1;
        let entries: Vec<String> = clocks[h]
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(j, c)| format!("\"{}\":{c}", hosts.name(j)))
            .collect();
        out.push_str(&format!(
            "{} {}\n{} {{{}}}\n",
            crate::base::types::Time(t),
            one_line(&text),
            hosts.name(h),
            entries.join(",")
        ));
    };
    for (i, v) in doc.records() {
        let r = Rec { i, v: &v };
        let t = r.t()?;
        match r.ev() {
            "start" => {
                let n = hosts.field(r, "node")?;
                let word = if r.get("recover").as_bool() == Some(true) {
                    "recover"
                } else {
                    "start"
                };
                event(
                    &mut out,
                    &mut clocks,
                    n,
                    t,
                    format!("{word} incarnation {}", compact(r.get("incarnation"))),
                );
            }
            "send" => {
                let from = hosts.field(r, "from")?;
                let to = hosts.field(r, "to")?;
                let id = r.u64("id")?;
                let lost = if r.get("copies").as_u64() == Some(0) {
                    " (lost)"
                } else {
                    ""
                };
                let text = format!(
                    "send #{id} {} to {}{lost}: {}",
                    msg_kind(r.get("msg")),
                    hosts.name(to),
                    compact(r.get("msg"))
                );
                event(&mut out, &mut clocks, from, t, text);
                carried.insert(id, clocks[from].clone());
            }
            "deliver" => {
                let to = hosts.field(r, "to")?;
                let from = hosts.field(r, "from")?;
                let id = r.u64("id")?;
                let Some(theirs) = carried.get(&id) else {
                    return r.fail(format!("deliver: message #{id} was never sent"));
                };
                for (mine, their) in clocks[to].iter_mut().zip(theirs) {
                    *mine = (*mine).max(*their);
                }
                let text = format!(
                    "recv #{id} {} from {}: {}",
                    msg_kind(r.get("msg")),
                    hosts.name(from),
                    compact(r.get("msg"))
                );
                event(&mut out, &mut clocks, to, t, text);
            }
            "timer" => {
                let n = hosts.field(r, "node")?;
                event(
                    &mut out,
                    &mut clocks,
                    n,
                    t,
                    format!("timer {}", compact(r.get("timer"))),
                );
            }
            "note" => {
                let n = hosts.field(r, "node")?;
                event(
                    &mut out,
                    &mut clocks,
                    n,
                    t,
                    format!("{} = {}", r.str("key")?, compact(r.get("value"))),
                );
            }
            "fault" => {
                let fault = r.get("fault");
                let mut named = Vec::new();
                fault_endpoints(fault, &mut named);
                let mut targets: Vec<usize> = named.iter().filter_map(|n| hosts.index(n)).collect();
                if named.is_empty() {
                    targets = (0..hosts.nodes).collect();
                }
                let detail = match r.get("detail").as_str() {
                    Some(d) => format!(" ({d})"),
                    None => String::new(),
                };
                let text = format!(
                    "fault {} by {}{detail}",
                    fault_text(fault),
                    compact(r.get("origin"))
                );
                for h in targets {
                    event(&mut out, &mut clocks, h, t, text.clone());
                }
            }
            "invoke" | "complete" => {
                let c = hosts.field(r, "client")?;
                let ev = r.ev();
                let what = if ev == "invoke" { "request" } else { "outcome" };
                let text = format!(
                    "{ev} op {} process {}: {}",
                    r.u64("op")?,
                    r.u64("process")?,
                    compact(r.get(what))
                );
                event(&mut out, &mut clocks, c, t, text);
            }
            "violation" => {
                let text = format!(
                    "VIOLATION {} ({}): {}",
                    compact(r.get("check")),
                    compact(r.get("kind")),
                    compact(r.get("message"))
                );
                let named: Vec<usize> = r
                    .get("nodes")
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|n| hosts.index(n.as_str()?))
                    .collect();
                let targets = if named.is_empty() {
                    (0..hosts.nodes).collect()
                } else {
                    named
                };
                for h in targets {
                    event(&mut out, &mut clocks, h, t, text.clone());
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// One line of text: JSON-compact, with no line breaks.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}
