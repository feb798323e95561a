//! A run told in plain language: `faultline explain TRACE` and `run --explain`.
//!
//! The story is built from what every trace has (starts, faults, client operations, checks,
//! the violation and the summary) plus the protocol's annotations, read through the
//! vocabulary in the trace's header: a node announcing a leading role value "becomes" it (of
//! its epoch), contending values "stand for election", leaving a leading role "steps down"
//! (with the step-down key's reason), the main progress key is told as it advances, and a
//! crash or pause of a leading node says so. The words printed are the protocol's own values
//! and keys (`n3 becomes primary of view 2`); every annotation the vocabulary does not name is
//! summarised generically, per node. Repetitive events are summarised, so a long run still
//! reads in a few dozen lines. Returns lines; the CLI prints them. Must not import the engine
//! or name a protocol's words.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

use crate::protocol::Vocabulary;

use crate::tools::read::{
    Hosts, Rec, RecordError, fault_endpoints, fault_ignored, fault_text, op_function, time_end,
};
use crate::trace::compact;
use crate::trace::doc::TraceDoc;

/// Most timeline entries shown; beyond it the middle is summarised in one line.
const TIMELINE_MAX: usize = 36;
/// Most elections and violations kept from the elided middle of a long timeline.
const KEPT_IN_MIDDLE_MAX: usize = 10;
/// Most lines of a violation's message shown.
const MESSAGE_LINES_MAX: usize = 12;

/// Seconds, without trailing zeros: `1s`, `1.2s`, `0.158887s`.
pub fn secs(us: u64) -> String {
    let frac = format!("{:06}", us % 1_000_000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{}s", us / 1_000_000)
    } else {
        format!("{}.{frac}s", us / 1_000_000)
    }
}

/// What kind of timeline entry, for the summary of an elided stretch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Start,
    Election,
    Fault,
    Progress,
    Check,
    Violation,
}

impl Kind {
    fn counted(self, count: usize) -> String {
        let word = match self {
            Kind::Start => "start line",
            Kind::Election => "election line",
            Kind::Fault => "fault line",
            Kind::Progress => "progress update",
            Kind::Check => "check result",
            Kind::Violation => "violation",
        };
        format!("{count} {word}{}", if count == 1 { "" } else { "s" })
    }
}

struct Entry {
    t: u64,
    kind: Kind,
    text: String,
}

/// Candidacies since the last leading node, not yet told.
struct Campaign {
    since: u64,
    /// (node, epoch) of each candidacy.
    tries: Vec<(usize, Option<Value>)>,
}

/// How often one annotation the vocabulary does not name changed, on which nodes, and last.
#[derive(Default)]
struct NoteStats {
    changes: u64,
    per_node: BTreeMap<usize, u64>,
    last: Option<(usize, Value, u64)>,
}

/// One progress key: how far each node got, and the furthest any node got.
struct Progress<'a> {
    key: &'a str,
    /// Highest value any node reached: (value, node, time).
    best: Option<(u64, usize, u64)>,
    /// The highest value told in the timeline so far.
    told: u64,
    of: Vec<u64>,
}

struct Story<'a> {
    words: &'a Vocabulary,
    hosts: Hosts,
    entries: Vec<Entry>,
    role: Vec<Option<String>>,
    epoch: Vec<Option<Value>>,
    campaign: Option<Campaign>,
    stepped_down: Vec<Option<String>>,
    /// One per progress key of the vocabulary, the main one first: only the main one is told
    /// in the timeline, every one in the summaries.
    progress: Vec<Progress<'a>>,
    notes: BTreeMap<String, NoteStats>,
}

impl<'a> Story<'a> {
    fn push(&mut self, t: u64, kind: Kind, text: String) {
        // Progress is told before a change of leader or a violation, not before every fault,
        // so a churning run does not read as a list of indexes.
        if matches!(kind, Kind::Election | Kind::Violation) {
            self.tell_progress();
        }
        if kind != Kind::Election && kind != Kind::Progress {
            self.tell_campaign();
        }
        self.entries.push(Entry { t, kind, text });
    }

    /// The main progress key's furthest value, if it advanced since it was last told.
    fn tell_progress(&mut self) {
        let Some(p) = self.progress.first_mut() else {
            return;
        };
        if let Some((index, node, t)) = p.best {
            if index > p.told {
                p.told = index;
                let at = p.of.iter().filter(|c| **c >= index).count();
                let others = if at > 1 {
                    format!(" (reached by {at} of {} nodes so far)", self.hosts.nodes)
                } else {
                    String::new()
                };
                let text = format!(
                    "{} reaches {} {index}{others}",
                    self.hosts.name(node),
                    p.key
                );
                self.entries.push(Entry {
                    t,
                    kind: Kind::Progress,
                    text,
                });
            }
        }
    }

    /// ` of term 3`: the epoch `node` announced last, in the vocabulary's word.
    fn of_epoch(&self, node: usize) -> String {
        match (&self.words.epoch, &self.epoch[node]) {
            (Some(key), Some(v)) => format!(" of {key} {}", compact(v)),
            _ => String::new(),
        }
    }

    /// Candidacies that have not (yet) produced a leader, named by the protocol's first
    /// leading role value (`no primary yet`; a protocol without one: `no one leads yet`).
    fn tell_campaign(&mut self) {
        if let Some(c) = self.campaign.take() {
            let outcome = match self.words.leading.first() {
                Some(leading) => format!("no {leading} yet"),
                None => "no one leads yet".to_string(),
            };
            let text = format!("{}; {outcome}", self.candidacies(&c));
            self.entries.push(Entry {
                t: c.since,
                kind: Kind::Election,
                text,
            });
        }
    }

    fn candidacies(&self, c: &Campaign) -> String {
        let who: BTreeSet<usize> = c.tries.iter().map(|(n, _)| *n).collect();
        let names: Vec<String> = who.iter().map(|n| self.hosts.name(*n)).collect();
        let epochs: Vec<u64> = c
            .tries
            .iter()
            .filter_map(|(_, t)| t.as_ref()?.as_u64())
            .collect();
        let key = self.words.epoch.as_deref().unwrap_or_default();
        let epochs = match (epochs.iter().min(), epochs.iter().max()) {
            (Some(a), Some(b)) if a == b => format!(" in {key} {a}"),
            (Some(a), Some(b)) => format!(" in {key}s {a}-{b}"),
            _ => String::new(),
        };
        // A node that stands again only writes a new epoch, so candidacies are not counted:
        // the nodes and the epochs say enough.
        match names.len() {
            1 => format!("{} stands for election{epochs}", names[0]),
            _ => format!("{} stand for election{epochs}", names.join(" ")),
        }
    }
}

/// The story of the run in `doc`. `trace` is the file's name, for the commands it suggests.
pub fn explain(doc: &TraceDoc, trace: Option<&str>) -> Result<Vec<String>, RecordError> {
    let hosts = Hosts::of(doc);
    let n = hosts.nodes;
    let end = time_end(doc);
    let words = &doc.vocabulary;
    let mut s = Story {
        words,
        hosts,
        entries: Vec::new(),
        role: vec![None; n],
        epoch: vec![None; n],
        campaign: None,
        stepped_down: vec![None; n],
        progress: words
            .progress
            .iter()
            .map(|key| Progress {
                key,
                best: None,
                told: 0,
                of: vec![0; n],
            })
            .collect(),
        notes: BTreeMap::new(),
    };
    let mut started = vec![false; n];
    let mut starts: Vec<(u64, Vec<usize>)> = Vec::new();
    let mut faults: Vec<(u64, Vec<String>)> = Vec::new();
    // Client operations: counts by outcome and function, and the completions' times.
    let mut invoked = 0u64;
    let mut outcomes: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_f: BTreeMap<String, u64> = BTreeMap::new();
    let mut open: BTreeSet<u64> = BTreeSet::new();
    let mut first_invoke: Option<u64> = None;
    let mut ok_times: Vec<u64> = Vec::new();
    let mut checks: BTreeMap<String, (u64, String)> = BTreeMap::new();

    let flush_faults = |s: &mut Story<'_>, faults: &mut Vec<(u64, Vec<String>)>| {
        for (t, texts) in faults.drain(..) {
            let text = if texts.len() == 1 {
                format!("fault: {}", texts[0])
            } else {
                format!("faults: {}", texts.join("; "))
            };
            s.push(t, Kind::Fault, text);
        }
    };

    for (i, v) in doc.records() {
        let r = Rec { i, v: &v };
        let t = r.t()?;
        // Faults at one moment read as one line; anything else at a later time ends the group.
        if faults.last().is_some_and(|(ft, _)| *ft != t) {
            flush_faults(&mut s, &mut faults);
        }
        match r.ev() {
            "start" => {
                let node = s.hosts.field(r, "node")?;
                if node < n && r.get("recover").as_bool() != Some(true) {
                    started[node] = true;
                    match starts.last_mut() {
                        Some((st, list)) if *st == t => list.push(node),
                        _ => starts.push((t, vec![node])),
                    }
                }
            }
            "note" => {
                let node = s.hosts.field(r, "node")?;
                if node >= n {
                    continue;
                }
                let key = r.str("key")?;
                let value = r.get("value");
                let is = |word: &Option<String>| word.as_deref() == Some(key);
                if is(&words.epoch) {
                    s.epoch[node] = Some(value.clone());
                    // A contending node standing again writes only its new epoch.
                    if s.role[node]
                        .as_deref()
                        .is_some_and(|r| words.is_contending(r))
                    {
                        if let Some(c) = s.campaign.as_mut() {
                            c.tries.push((node, Some(value.clone())));
                        }
                    }
                }
                if let Some(p) = s.progress.iter_mut().find(|p| p.key == key) {
                    let c = value.as_u64().unwrap_or(0);
                    p.of[node] = c;
                    if p.best.is_none_or(|(b, _, _)| c > b) {
                        p.best = Some((c, node, t));
                    }
                }
                if is(&words.step_down) {
                    s.stepped_down[node] = Some(compact(value));
                }
                if is(&words.role) {
                    let role = compact(value);
                    let was = s.role[node].replace(role.clone());
                    if words.is_contending(&role) {
                        let epoch = s.epoch[node].clone();
                        s.campaign
                            .get_or_insert(Campaign {
                                since: t,
                                tries: Vec::new(),
                            })
                            .tries
                            .push((node, epoch));
                    } else if words.is_leading(&role) {
                        let of = s.of_epoch(node);
                        let how = match s.campaign.take() {
                            Some(c) if c.tries.len() == 1 && c.tries[0].0 == node => {
                                format!(
                                    " ({} after its candidacy)",
                                    secs(t.saturating_sub(c.since))
                                )
                            }
                            Some(c) => {
                                format!(" (since {}: {})", secs(c.since), s.candidacies(&c))
                            }
                            None => String::new(),
                        };
                        let text = format!("{} becomes {role}{of}{how}", s.hosts.name(node));
                        flush_faults(&mut s, &mut faults);
                        s.push(t, Kind::Election, text);
                    } else if let Some(was) = was.filter(|w| words.is_leading(w)) {
                        let why = s.stepped_down[node]
                            .take()
                            .map(|w| format!(": {w}"))
                            .unwrap_or_default();
                        let text = format!(
                            "{} steps down from {was} to {role}{why}",
                            s.hosts.name(node)
                        );
                        flush_faults(&mut s, &mut faults);
                        s.push(t, Kind::Election, text);
                    }
                }
                if !words.keys().any(|k| k == key) {
                    let st = s.notes.entry(key.to_string()).or_default();
                    st.changes += 1;
                    *st.per_node.entry(node).or_default() += 1;
                    st.last = Some((node, value.clone(), t));
                }
            }
            "fault" => {
                let fault = r.get("fault");
                let mut text = fault_text(fault);
                let mut named = Vec::new();
                fault_endpoints(fault, &mut named);
                let single = match fault {
                    Value::Object(o) if o.len() == 1 => o.values().next().and_then(Value::as_str),
                    _ => None,
                };
                if let Some(node) = single.and_then(|x| s.hosts.index(x)).filter(|x| *x < n) {
                    if let Some(role) = s.role[node].as_deref().filter(|r| words.is_leading(r)) {
                        text.push_str(&format!(" (the {role}{})", s.of_epoch(node)));
                    }
                    let kind = fault
                        .as_object()
                        .and_then(|o| o.keys().next())
                        .map(String::as_str);
                    if kind == Some("crash") && !fault_ignored(r) {
                        s.role[node] = None;
                    }
                }
                let origin = r.get("origin").as_str().unwrap_or("schedule");
                if origin != "schedule" {
                    text.push_str(&format!(" [by {origin}]"));
                }
                if let Some(d) = r.get("detail").as_str() {
                    if fault_ignored(r) || d.contains("lost") && !d.starts_with("0 ") {
                        text.push_str(&format!(" ({d})"));
                    }
                }
                match faults.last_mut() {
                    Some((ft, list)) if *ft == t => list.push(text),
                    _ => faults.push((t, vec![text])),
                }
            }
            "phase" => {
                let text = format!("the {} phase begins", compact(r.get("phase")));
                match faults.last_mut() {
                    Some((ft, list)) if *ft == t => list.push(text),
                    _ => faults.push((t, vec![text])),
                }
            }
            "invoke" => {
                invoked += 1;
                first_invoke.get_or_insert(t);
                open.insert(r.u64("op")?);
                let f = op_function(r);
                *by_f.entry(f).or_default() += 1;
            }
            "complete" => {
                open.remove(&r.u64("op")?);
                let outcome = match r.get("outcome") {
                    Value::Object(o) if o.contains_key("ok") => "ok",
                    Value::Object(o) if o.contains_key("fail") => "failed",
                    _ => "unknown",
                };
                *outcomes.entry(outcome).or_default() += 1;
                if outcome == "ok" {
                    ok_times.push(t);
                }
            }
            "check" => {
                let name = format!("{} ({})", compact(r.get("check")), compact(r.get("kind")));
                let status = compact(r.get("status"));
                let text = format!("check {name}: {status}");
                // A check that keeps coming true is told once, with its count at the end.
                if !checks.contains_key(&name) {
                    flush_faults(&mut s, &mut faults);
                    s.push(t, Kind::Check, text);
                }
                checks.insert(name, (t, status));
            }
            "violation" => {
                let nodes: Vec<String> = r
                    .get("nodes")
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(compact)
                    .collect();
                let on = if nodes.is_empty() {
                    String::new()
                } else {
                    format!(" on {}", nodes.join(" "))
                };
                let text = format!(
                    "VIOLATION of {} ({}){on}",
                    compact(r.get("check")),
                    compact(r.get("kind"))
                );
                flush_faults(&mut s, &mut faults);
                s.push(t, Kind::Violation, text);
            }
            _ => {}
        }
    }
    flush_faults(&mut s, &mut faults);
    s.tell_progress();
    s.tell_campaign();

    // Starts come first: they are at time zero, or at the boot of a late node.
    let never: Vec<String> = (0..n)
        .filter(|i| !started[*i])
        .map(|i| s.hosts.name(i))
        .collect();
    let mut start_entries: Vec<Entry> = starts
        .into_iter()
        .map(|(t, nodes)| {
            let names: Vec<String> = nodes.iter().map(|i| s.hosts.name(*i)).collect();
            let verb = if names.len() == 1 { "starts" } else { "start" };
            Entry {
                t,
                kind: Kind::Start,
                text: format!("{} {verb}", names.join(" ")),
            }
        })
        .collect();
    if !never.is_empty() {
        let verb = if never.len() == 1 {
            "never starts"
        } else {
            "never start"
        };
        start_entries.push(Entry {
            t: 0,
            kind: Kind::Start,
            text: format!("{} {verb} (permanently down)", never.join(" ")),
        });
    }
    start_entries.append(&mut s.entries);
    let mut timeline = start_entries;
    timeline.sort_by_key(|e| e.t); // stable: the order of telling stays within a moment

    // ---- the lines ----
    let mut out = Vec::new();
    let clients = s.hosts.clients;
    out.push(format!(
        "{}, seed {}: {} on {n} nodes{}, {} of virtual time, {} trace records.",
        doc.source(),
        doc.seed(),
        doc.protocol(),
        if clients > 0 {
            format!(
                " with {clients} client{}",
                if clients == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        },
        secs(end),
        doc.run_records()
    ));
    let description = doc
        .description()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if !description.is_empty() {
        let short: String = description.chars().take(200).collect();
        let more = if short.len() < description.len() {
            " ..."
        } else {
            ""
        };
        out.push(format!("  {short}{more}"));
    }
    out.push(String::new());
    out.push("What happened:".into());
    let line = |e: &Entry| format!("  {:>10}  {}", secs(e.t), e.text);
    if timeline.len() <= TIMELINE_MAX {
        out.extend(timeline.iter().map(line));
    } else {
        let head = TIMELINE_MAX / 2;
        let tail = TIMELINE_MAX - head - 1;
        out.extend(timeline[..head].iter().map(line));
        // In the middle, elections and violations stay (up to a few); the rest is counted.
        let middle = &timeline[head..timeline.len() - tail];
        let key = |e: &Entry| matches!(e.kind, Kind::Election | Kind::Violation);
        let keep_keys = middle.iter().filter(|e| key(e)).count() <= KEPT_IN_MIDDLE_MAX;
        let mut skipped: Vec<&Entry> = Vec::new();
        let skip_line = |skipped: &mut Vec<&Entry>, out: &mut Vec<String>| {
            if skipped.is_empty() {
                return;
            }
            let mut counts: BTreeMap<Kind, usize> = BTreeMap::new();
            for e in skipped.iter() {
                *counts.entry(e.kind).or_default() += 1;
            }
            let what: Vec<String> = counts.iter().map(|(k, c)| k.counted(*c)).collect();
            out.push(format!(
                "  {:>10}  ... {} up to {} ...",
                "",
                what.join(", "),
                secs(skipped.last().map_or(0, |e| e.t)),
            ));
            skipped.clear();
        };
        for e in middle {
            if keep_keys && key(e) {
                skip_line(&mut skipped, &mut out);
                out.push(line(e));
            } else {
                skipped.push(e);
            }
        }
        skip_line(&mut skipped, &mut out);
        out.extend(timeline[timeline.len() - tail..].iter().map(line));
    }

    // ---- summaries ----
    out.push(String::new());
    for p in &s.progress {
        let Some((index, node, t)) = p.best else {
            continue;
        };
        let behind: Vec<String> = (0..n)
            .filter(|i| p.of[*i] < index)
            .map(|i| format!("{} at {}", s.hosts.name(i), p.of[i]))
            .collect();
        let behind = if behind.is_empty() {
            "every node reached it".to_string()
        } else {
            format!("behind: {}", behind.join(", "))
        };
        out.push(format!(
            "Progress: {} reached {} {index} by {}; {behind}.",
            s.hosts.name(node),
            p.key,
            secs(t)
        ));
    }
    if invoked > 0 {
        let done: Vec<String> = ["ok", "failed", "unknown"]
            .iter()
            .map(|k| format!("{} {k}", outcomes.get(k).copied().unwrap_or(0)))
            .collect();
        let fs: Vec<String> = by_f.iter().map(|(f, c)| format!("{f} {c}")).collect();
        out.push(format!(
            "Clients: {invoked} operations ({}), {}, {} still open at the end.",
            fs.join(", "),
            done.join(", "),
            open.len()
        ));
        // The longest time with no operation succeeding, from the first invocation on.
        let mut last = first_invoke.unwrap_or(0);
        let mut gap = (0u64, last);
        for &t in ok_times.iter().chain(std::iter::once(&end)) {
            if t.saturating_sub(last) > gap.0 {
                gap = (t - last, last);
            }
            last = last.max(t);
        }
        if gap.0 > 0 {
            out.push(format!(
                "  The longest stretch with no operation succeeding: {} to {} ({}).",
                secs(gap.1),
                secs(gap.1 + gap.0),
                secs(gap.0)
            ));
        }
    }
    for (key, st) in &s.notes {
        // Which nodes set it, and how often each when some set it more often than others (a
        // count per node tells, say, which node kept asking).
        let first = st.per_node.values().next().copied();
        let even = st.per_node.values().all(|c| Some(*c) == first);
        let nodes: Vec<String> = st
            .per_node
            .iter()
            .map(|(i, c)| match even {
                true => s.hosts.name(*i),
                false => format!("{} {c}", s.hosts.name(*i)),
            })
            .collect();
        let nodes = match even {
            true => format!("on {}", nodes.join(" ")),
            false => format!("({})", nodes.join(", ")),
        };
        let last = match &st.last {
            Some((node, v, t)) => format!(
                "; last: {} {key} = {} at {}",
                s.hosts.name(*node),
                compact(v),
                secs(*t)
            ),
            None => String::new(),
        };
        out.push(format!(
            "Annotation {key}: set {} time{} {nodes}{last}.",
            st.changes,
            if st.changes == 1 { "" } else { "s" },
        ));
    }

    // ---- the end ----
    if let Some(v) = doc.violation() {
        let nodes: Vec<String> = v["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(compact)
            .collect();
        let t = v["t"].as_u64().unwrap_or(0);
        out.push(String::new());
        out.push(format!(
            "The violation: check {} ({}, {}) failed at {} (step {}){}:",
            compact(&v["check"]),
            compact(&v["kind"]),
            compact(&v["class"]),
            secs(t),
            compact(&v["step"]),
            if nodes.is_empty() {
                String::new()
            } else {
                format!(" on {}", nodes.join(" "))
            }
        ));
        // A long message (a linearizability counterexample) is cut after a dozen lines.
        let message = compact(&v["message"]);
        let lines: Vec<&str> = message.lines().collect();
        for l in lines.iter().take(MESSAGE_LINES_MAX) {
            out.push(format!("  {}", l.trim_end()));
        }
        if lines.len() > MESSAGE_LINES_MAX {
            out.push(format!(
                "  ... {} more lines (the summary's verdict has them all)",
                lines.len() - MESSAGE_LINES_MAX
            ));
        }
        if let Some(path) = trace {
            let from = secs(t.saturating_sub(50_000));
            out.push(format!(
                "  Look closer: faultline trace show {path} --from {from} --to {}",
                secs(t)
            ));
        }
    }
    if let Some(rep) = doc.reproduce() {
        if doc.violation().is_some()
            || doc
                .summary
                .as_ref()
                .is_some_and(|x| x["verdict"]["verdict"] != "pass")
        {
            out.push(format!("Replay: {rep}"));
        }
    }
    out.push(String::new());
    out.push(verdict_line(doc));
    Ok(out)
}

fn verdict_line(doc: &TraceDoc) -> String {
    let Some(summary) = &doc.summary else {
        return "Verdict: unknown. The trace has no summary line: the run did not finish writing it."
            .into();
    };
    let v = &summary["verdict"];
    let history = match &summary["history_check"] {
        Value::Object(h) => format!(
            " The client history check says {} ({} operations, {} keys).",
            compact(&h["verdict"]),
            compact(&h["ops"]),
            compact(&h["keys"])
        ),
        _ => String::new(),
    };
    match v["verdict"].as_str() {
        Some("pass") => format!("Verdict: PASS. Every check held.{history}"),
        Some("fail") => format!(
            "Verdict: FAIL ({}): {} ({}) at {}.{history}",
            compact(&v["class"]),
            compact(&v["check"]),
            compact(&v["kind"]),
            v["time"]
                .as_u64()
                .map(secs)
                .unwrap_or_else(|| compact(&v["time"]))
        ),
        Some("inconclusive") => {
            format!("Verdict: INCONCLUSIVE: {}.{history}", compact(&v["reason"]))
        }
        Some("aborted") => format!("Verdict: ABORTED: {}.", compact(&v["reason"])),
        _ => format!("Verdict: {}", compact(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up protocol's words: its leader is a `primary` on the `duty` key (or, acting, a
    /// `regent`), a node seeking it is `hopeful`, its epoch is a `view`, progress is `decided`
    /// then `applied`, and `fenced_by` says why a primary stepped down.
    fn words() -> Vocabulary {
        Vocabulary::none()
            .role("duty", &["primary", "regent"], &["hopeful"])
            .epoch("view")
            .leader("chief")
            .progress(&["decided", "applied"])
            .step_down("fenced_by")
    }

    fn trace(vocabulary: Option<Vocabulary>, records: &[&str]) -> TraceDoc {
        let words = vocabulary
            .map(|v| format!(r#","vocabulary":{}"#, serde_json::to_string(&v).unwrap()))
            .unwrap_or_default();
        let mut text = format!(
            r#"{{"ev":"header","schema":1,"seed":4,"source":"made/up","scenario":{{"nodes":3,"protocol":{{"name":"made_up"}}}}{words}}}"#
        );
        for (i, r) in records.iter().enumerate() {
            text.push_str(&format!("\n{{\"step\":{},{r}}}", i + 1));
        }
        TraceDoc::parse(&text).unwrap()
    }

    fn note(t: u64, node: &str, key: &str, value: &str) -> String {
        format!(r#""t":{t},"ev":"note","node":"{node}","key":"{key}","value":{value}"#)
    }

    fn story(doc: &TraceDoc) -> String {
        explain(doc, None).unwrap().join("\n")
    }

    fn records() -> Vec<String> {
        let start = |node: &str| {
            format!(r#""t":0,"ev":"start","node":"{node}","incarnation":0,"recover":false"#)
        };
        vec![
            start("n1"),
            start("n2"),
            start("n3"),
            note(1_000, "n1", "view", "3"),
            note(1_000, "n1", "duty", r#""hopeful""#),
            note(1_500, "n3", "view", "4"),
            note(1_500, "n3", "duty", r#""hopeful""#),
            note(2_000, "n3", "duty", r#""primary""#),
            note(2_000, "n1", "duty", r#""backup""#),
            note(2_100, "n3", "chief", r#""n3""#),
            note(3_000, "n3", "decided", "5"),
            note(3_000, "n2", "decided", "5"),
            note(3_000, "n3", "applied", "4"),
            note(3_200, "n2", "lease", "1"),
            note(3_300, "n2", "lease", "2"),
            r#""t":4000,"ev":"fault","fault":{"crash":"n3"},"origin":"schedule""#.to_string(),
            note(5_000, "n2", "view", "7"),
            note(5_000, "n2", "duty", r#""regent""#),
            note(6_000, "n2", "fenced_by", r#""n1""#),
            note(6_000, "n2", "duty", r#""backup""#),
        ]
    }

    #[test]
    fn elections_progress_and_faults_speak_the_protocols_words() {
        let rs = records();
        let doc = trace(
            Some(words()),
            &rs.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let told = story(&doc);
        for needle in [
            "0.002s  n3 becomes primary of view 4 (since 0.001s: n1 n3 stand for election in views 3-4)",
            "0.003s  n3 reaches decided 5 (reached by 2 of 3 nodes so far)",
            "0.004s  fault: crash n3 (the primary of view 4)",
            "0.005s  n2 becomes regent of view 7",
            "0.006s  n2 steps down from regent to backup: n1",
            "Progress: n3 reached decided 5 by 0.003s; behind: n1 at 0.",
            "Progress: n3 reached applied 4 by 0.003s; behind: n1 at 0, n2 at 0.",
            // Keys the vocabulary does not name are told generically, per node.
            "Annotation lease: set 2 times on n2; last: n2 lease = 2 at 0.0033s.",
        ] {
            assert!(told.contains(needle), "{needle:?} in\n{told}");
        }
        // Every key the vocabulary names has words of its own, so none is told generically.
        for key in ["duty", "view", "chief", "decided", "applied", "fenced_by"] {
            assert!(
                !told.contains(&format!("Annotation {key}:")),
                "{key} in\n{told}"
            );
        }
        // A lone contender that wins is timed from its candidacy.
        let doc = trace(
            Some(words()),
            &[
                &note(1_000, "n2", "view", "1"),
                &note(1_000, "n2", "duty", r#""hopeful""#),
                &note(1_250, "n2", "duty", r#""primary""#),
            ],
        );
        assert!(
            story(&doc).contains("n2 becomes primary of view 1 (0.00025s after its candidacy)"),
            "{}",
            story(&doc)
        );
        // One that does not win by the end is told in the protocol's word for a leader.
        let doc = trace(
            Some(words()),
            &[
                &note(1_000, "n2", "view", "1"),
                &note(1_000, "n2", "duty", r#""hopeful""#),
            ],
        );
        assert!(
            story(&doc).contains("n2 stands for election in view 1; no primary yet"),
            "{}",
            story(&doc)
        );
    }

    #[test]
    fn without_a_vocabulary_every_annotation_is_told_generically() {
        let rs = records();
        let doc = trace(None, &rs.iter().map(String::as_str).collect::<Vec<_>>());
        let told = story(&doc);
        for word in [
            "becomes",
            "stand",
            "steps down",
            "reaches",
            "Progress:",
            "(the ",
        ] {
            assert!(!told.contains(word), "{word:?} in\n{told}");
        }
        for needle in [
            "0.004s  fault: crash n3",
            "Annotation duty: set 6 times on n1 n2 n3; last: n2 duty = backup at 0.006s.",
            "Annotation decided: set 2 times on n2 n3; last: n2 decided = 5 at 0.003s.",
        ] {
            assert!(told.contains(needle), "{needle:?} in\n{told}");
        }
    }

    #[test]
    fn seconds_drop_trailing_zeros() {
        assert_eq!(secs(1_000_000), "1s");
        assert_eq!(secs(1_200_000), "1.2s");
        assert_eq!(secs(158_887), "0.158887s");
        assert_eq!(secs(0), "0s");
    }
}
