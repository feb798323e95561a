//! Validation of everything in a scenario that the protocol does not decide: sizes and
//! ranges, endpoints that exist, faults in time order, partitions that make sense, nemesis
//! rates, expectation kinds. Every error names the field and what was expected.
//!
//! Sizes are bounded so that a hostile file cannot make a run hang or eat memory. The
//! protocol's own parts (its parameters, its check names, its swarm knobs) are checked
//! against its type in `typed`. Must not read files.

use super::error::{InputError, Where};
use super::format::{DriverKind, KindName, SCHEMA, ScenarioFile, ms_text};
use crate::base::types::{Endpoint, NodeId};
use crate::faults::{AIMED, Aim, Fault, MessageFault, ScheduledFault, Twist, takes_several};
use crate::network::{Latency, LongDelay};
use crate::sim::{DRIFT_PPM_MAX, DRIFT_PPM_MIN};

/// Most nodes in one simulation.
pub const NODES_MAX: u32 = 1_000;
/// Most clients in one simulation.
pub const CLIENTS_MAX: u32 = 1_000;
/// Longest run: one year of virtual time.
pub const TIME_MS_MAX: u64 = 365 * 24 * 3_600 * 1_000;
/// Largest event budget.
pub const EVENTS_MAX_LIMIT: u64 = 10_000_000_000;
/// Largest bound on pending events.
pub const PENDING_MAX_LIMIT: u64 = 100_000_000;
/// Largest `limits.history_max` (client operations kept).
pub const HISTORY_MAX_LIMIT: u64 = 100_000_000;
/// Largest `limits.records_max` (records plus unsynced writes in one node's store).
pub const RECORDS_MAX_LIMIT: u64 = 100_000_000;
/// Largest `limits.faults_max` (entries in `faults`; faults scheduled in one run).
pub const FAULTS_MAX_LIMIT: u64 = 10_000_000;
/// Longest latency or delay of one message: one hour.
pub const DELAY_US_MAX: u64 = 3_600 * 1_000_000;
/// Largest clock step: one day.
pub const CLOCK_STEP_MS_MAX: i64 = 24 * 3_600 * 1_000;
/// Largest scenario file.
pub const FILE_BYTES_MAX: usize = 16 * 1024 * 1024;

fn check_endpoint(
    place: &Where<'_>,
    field: &str,
    e: Endpoint,
    nodes: u32,
    clients: u32,
) -> Result<(), InputError> {
    match e {
        Endpoint::Node(n) if n.0 >= nodes => Err(place.error(
            field,
            format!("{n} does not exist: the cluster has {nodes} nodes (n1..n{nodes})"),
        )),
        Endpoint::Client(c) if c.0 >= clients => Err(place.error(
            field,
            if clients == 0 {
                format!("{c} does not exist: the workload has no clients")
            } else {
                format!("{c} does not exist: the workload has {clients} clients (c1..c{clients})")
            },
        )),
        _ => Ok(()),
    }
}

fn check_latency(place: &Where<'_>, field: &str, l: &Latency) -> Result<(), InputError> {
    let (lo, hi) = l.bounds_us();
    if lo > hi {
        return Err(place.error(
            field,
            format!("the minimum {lo} us is above the maximum {hi} us"),
        ));
    }
    if hi > DELAY_US_MAX {
        return Err(place.error(
            field,
            format!("{hi} us is longer than the {DELAY_US_MAX} us (one hour) a message may take"),
        ));
    }
    if matches!(l, Latency::Pareto { min_us: 0, .. }) {
        return Err(place.error(field, "a Pareto latency needs min_us of at least 1"));
    }
    Ok(())
}

fn check_long_delay(place: &Where<'_>, field: &str, d: &LongDelay) -> Result<(), InputError> {
    if d.min_ms > d.max_ms {
        return Err(place.error(
            field,
            format!("min_ms {} is above max_ms {}", d.min_ms, d.max_ms),
        ));
    }
    if d.max_ms.saturating_mul(1_000) > DELAY_US_MAX {
        return Err(place.error(field, "a long delay may be at most one hour (3600000 ms)"));
    }
    Ok(())
}

fn check_range(
    place: &Where<'_>,
    field: &str,
    lo: u64,
    hi: u64,
    what: &str,
) -> Result<(), InputError> {
    if lo > hi {
        return Err(place.error(
            field,
            format!("the {what} minimum {lo} is above its maximum {hi}"),
        ));
    }
    Ok(())
}

/// The complaint about a `faults` list longer than `limits.faults_max`.
pub(crate) fn too_many_faults(len: usize, max: u64) -> String {
    format!(
        "{len} entries; expected at most {max} (limits.faults_max; raise it with --set limits.faults_max=N, up to {FAULTS_MAX_LIMIT})"
    )
}

/// The fields that shape a fault entry: an aim where a node is written, `duration_ms`,
/// `every_ms` and `times`. Each is accepted only where the run honours it.
fn check_shape(
    place: &Where<'_>,
    i: usize,
    sf: &ScheduledFault,
    nodes: u32,
) -> Result<(), InputError> {
    let key = sf.fault.key();
    if let Some(aim) = &sf.aim {
        let field = format!("faults[{i}].{key}");
        if matches!(sf.fault, Fault::Restart(_) | Fault::Resume(_)) {
            return Err(place.error(
                &field,
                format!(
                    "an aim chooses a node that is up, which `{key}` cannot affect; name the node"
                ),
            ));
        }
        if sf.on.as_ref().is_some_and(|on| on.retarget) {
            return Err(place.error(
                &format!("faults[{i}].on.retarget"),
                "the entry already aims its node; keep `retarget` or the aim, not both",
            ));
        }
        if let Aim::Drawn(k) = aim {
            if *k > nodes {
                return Err(place.error(
                    &field,
                    format!("{{\"drawn\": {k}}} asks for more nodes than the cluster's {nodes}"),
                ));
            }
            if *k > 1 && !takes_several(&sf.fault) {
                return Err(place.error(
                    &field,
                    format!("{{\"drawn\": {k}}} chooses several nodes, but this place of `{key}` takes one; use 1, or aim a crash, pause, isolate or partition group"),
                ));
            }
        }
        if let Aim::Role(v) = aim {
            if v.is_empty() {
                return Err(place.error(&field, "name the role value, e.g. {\"role\": \"leader\"}"));
            }
        }
    }
    if let Some(d) = sf.duration_us {
        let field = format!("faults[{i}].duration_ms");
        if sf.fault.undo().is_none() {
            return Err(place.error(
                &field,
                format!("`{key}` has no undo; a duration fits crash (restart), pause (resume), cut (repair), isolate, partition and bridge (heal_links)"),
            ));
        }
        if d == 0 || d > TIME_MS_MAX.saturating_mul(1_000) {
            return Err(place.error(
                &field,
                "expected a duration of more than 0 ms and at most one year",
            ));
        }
    }
    match (sf.every_us, sf.times) {
        (None, None) => {}
        (Some(_), None) | (None, Some(_)) => {
            return Err(place.error(
                &format!("faults[{i}]"),
                "`every_ms` and `times` go together: fire `times` times, `every_ms` apart",
            ));
        }
        (Some(every), Some(times)) => {
            if sf.on.is_some() {
                return Err(place.error(
                    &format!("faults[{i}].every_ms"),
                    "a fault with `on` fires once, at its annotation; repetition is for timed entries",
                ));
            }
            if sf.fault == Fault::Heal {
                return Err(place.error(&format!("faults[{i}].every_ms"), "the heal happens once"));
            }
            if every == 0 || every > TIME_MS_MAX.saturating_mul(1_000) {
                return Err(place.error(
                    &format!("faults[{i}].every_ms"),
                    "expected an interval of more than 0 ms and at most one year",
                ));
            }
            if times == 0 {
                return Err(place.error(&format!("faults[{i}].times"), "expected at least 1"));
            }
            if sf.duration_us.is_some_and(|d| d > every) {
                return Err(place.error(
                    &format!("faults[{i}].duration_ms"),
                    "a repeated fault must be undone before it fires again: duration_ms may be at most every_ms",
                ));
            }
        }
    }
    Ok(())
}

/// A fault on one chosen message: its endpoints exist and its kind can travel between them
/// (`request` from a client to a node, `response` back, any other kind between two nodes),
/// it counts from 1, a delay is within bounds, and no earlier entry names the same message.
fn check_message(
    place: &Where<'_>,
    i: usize,
    m: &MessageFault,
    earlier: &[ScheduledFault],
    nodes: u32,
    clients: u32,
) -> Result<(), InputError> {
    let at = |what: &str| format!("faults[{i}].message.{what}");
    check_endpoint(place, &at("from"), m.from, nodes, clients)?;
    check_endpoint(place, &at("to"), m.to, nodes, clients)?;
    if m.nth == 0 {
        return Err(place.error(
            &at("nth"),
            "nth counts from 1 (the first message of its kind from `from` to `to`)",
        ));
    }
    let (node_from, node_to) = (
        matches!(m.from, Endpoint::Node(_)),
        matches!(m.to, Endpoint::Node(_)),
    );
    let fits = match m.kind.as_str() {
        "" => return Err(place.error(&at("kind"), "name the message's kind, e.g. \"request\"")),
        "request" => !node_from && node_to,
        "response" => node_from && !node_to,
        _ => node_from && node_to,
    };
    if !fits || m.from == m.to {
        return Err(place.error(
            &at("from"),
            format!(
                "no `{}` message goes from {} to {}: requests go from a client to a node, responses from a node to a client, every other kind from one node to another",
                m.kind, m.from, m.to
            ),
        ));
    }
    if let Twist::Delay(us) = m.twist {
        if us == 0 || us > DELAY_US_MAX {
            return Err(place.error(
                &format!("faults[{i}].delay_ms"),
                format!(
                    "expected more than 0 ms and at most {} ms (one hour)",
                    DELAY_US_MAX / 1_000
                ),
            ));
        }
    }
    let same = |sf: &ScheduledFault| match &sf.fault {
        Fault::Message(o) => (&o.kind, o.from, o.to, o.nth) == (&m.kind, m.from, m.to, m.nth),
        _ => false,
    };
    if let Some(j) = earlier.iter().position(same) {
        return Err(place.error(
            &format!("faults[{i}].message"),
            format!("faults[{j}] already chooses this message; one fault per message"),
        ));
    }
    Ok(())
}

/// A `set` entry's keys are dotted paths to bug switches (`bugs.NAME`); whether the protocol
/// has them is checked against its type (`typed`).
fn check_settings(
    place: &Where<'_>,
    i: usize,
    settings: &std::collections::BTreeMap<String, bool>,
) -> Result<(), InputError> {
    let field = format!("faults[{i}].set");
    if settings.is_empty() {
        return Err(place.error(
            &field,
            "name at least one switch, e.g. {\"bugs.NAME\": true}",
        ));
    }
    for key in settings.keys() {
        if key
            .strip_prefix("bugs.")
            .is_none_or(|name| name.is_empty() || name.contains('.'))
        {
            return Err(place.error(
                &field,
                format!("`{key}`: expected a bug switch written `bugs.NAME`"),
            ));
        }
    }
    Ok(())
}

/// Most steps in a scripted scenario.
pub const STEPS_MAX: usize = 1_000_000;

/// A scripted scenario's steps: every node and client named exists, and the schedule's
/// faults and the nemesis are not used (a script's faults are its steps).
fn check_script(f: &ScenarioFile, place: &Where<'_>) -> Result<(), InputError> {
    use crate::sim::Step;
    let (nodes, clients) = (f.nodes, f.workload.clients);
    if f.driver != DriverKind::Script {
        if !f.steps.is_empty() {
            return Err(place.error(
                "steps",
                "steps are read only by the script driver; add \"driver\": \"script\"".to_string(),
            ));
        }
        return Ok(());
    }
    if f.steps.is_empty() || f.steps.len() > STEPS_MAX {
        return Err(place.error(
            "steps",
            format!(
                "{} steps; a scripted scenario needs 1 to {STEPS_MAX}",
                f.steps.len()
            ),
        ));
    }
    if !f.faults.is_empty() {
        return Err(place.error(
            "faults",
            "a scripted scenario takes its faults from its steps; move them there or drop \"driver\": \"script\"".to_string(),
        ));
    }
    if f.nemesis.is_some() {
        return Err(place.error(
            "nemesis",
            "a scripted scenario has no random faults: every action is a step".to_string(),
        ));
    }
    for (i, step) in f.steps.iter().enumerate() {
        let at = |what: &str| format!("steps[{i}].{what}");
        let node = |n: NodeId, what: &str| {
            check_endpoint(place, &at(what), Endpoint::Node(n), nodes, clients)
        };
        match step {
            Step::Start(e) => check_endpoint(place, &at("start"), *e, nodes, clients)?,
            Step::Deliver(m) | Step::Drop(m) | Step::Duplicate(m) => {
                let kind = match step {
                    Step::Deliver(_) => "deliver",
                    Step::Drop(_) => "drop",
                    _ => "duplicate",
                };
                check_endpoint(place, &at(&format!("{kind}.from")), m.from, nodes, clients)?;
                check_endpoint(place, &at(&format!("{kind}.to")), m.to, nodes, clients)?;
                if m.nth == 0 {
                    return Err(place.error(
                        &at(&format!("{kind}.nth")),
                        "nth counts from 1 (the first message of its kind on its link)".to_string(),
                    ));
                }
            }
            Step::Fire(t) => check_endpoint(place, &at("fire.at"), t.at, nodes, clients)?,
            Step::Crash(n) => node(*n, "crash")?,
            Step::Restart(n) => node(*n, "restart")?,
            Step::Isolate(n) => node(*n, "isolate")?,
            Step::HealLinks(_) => {}
        }
    }
    Ok(())
}

/// The `explore` block's bounds.
fn check_explore(f: &ScenarioFile, place: &Where<'_>) -> Result<(), InputError> {
    let Some(e) = &f.explore else { return Ok(()) };
    if e.depth == 0 || e.depth > 100_000 {
        return Err(place.error(
            "explore.depth",
            format!("{} is out of range; expected 1 to 100000", e.depth),
        ));
    }
    if e.states == 0 {
        return Err(place.error("explore.states", "expected at least 1 state".to_string()));
    }
    if e.timers > 255 || e.retries > 255 {
        return Err(place.error(
            if e.timers > 255 {
                "explore.timers"
            } else {
                "explore.retries"
            },
            "expected at most 255 firings".to_string(),
        ));
    }
    if e.walks == 0 {
        return Err(place.error("explore.walks", "expected at least 1 walk".to_string()));
    }
    Ok(())
}

pub(crate) fn validate(f: &ScenarioFile, place: &Where<'_>) -> Result<(), InputError> {
    validate_base(f, place)?;
    check_script(f, place)?;
    check_explore(f, place)
}

fn validate_base(f: &ScenarioFile, place: &Where<'_>) -> Result<(), InputError> {
    if f.schema != SCHEMA {
        return Err(place.error(
            "schema",
            format!(
                "unsupported schema version {}; this faultline reads {SCHEMA}",
                f.schema
            ),
        ));
    }
    if f.nodes == 0 || f.nodes > NODES_MAX {
        return Err(place.error(
            "nodes",
            format!(
                "{} nodes is out of range; expected 1 to {NODES_MAX}",
                f.nodes
            ),
        ));
    }
    let (nodes, clients) = (f.nodes, f.workload.clients);
    if clients > CLIENTS_MAX {
        return Err(place.error(
            "workload.clients",
            format!("{clients} clients is out of range; expected at most {CLIENTS_MAX}"),
        ));
    }
    let time_ms = f.limits.time_ms;
    if time_ms == 0 || time_ms > TIME_MS_MAX {
        return Err(place.error("limits.time_ms", format!("{time_ms} ms is out of range; expected 1 to {TIME_MS_MAX} (one year of virtual time)")));
    }
    if let Some(e) = f.limits.events_max {
        if e == 0 || e > EVENTS_MAX_LIMIT {
            return Err(place.error(
                "limits.events_max",
                format!("{e} is out of range; expected 1 to {EVENTS_MAX_LIMIT}"),
            ));
        }
    }
    if let Some(p) = f.limits.pending_max {
        if p == 0 || p > PENDING_MAX_LIMIT {
            return Err(place.error(
                "limits.pending_max",
                format!("{p} is out of range; expected 1 to {PENDING_MAX_LIMIT}"),
            ));
        }
    }
    let bounds = [
        (
            "limits.history_max",
            f.limits.history_max,
            HISTORY_MAX_LIMIT,
        ),
        (
            "limits.records_max",
            f.limits.records_max,
            RECORDS_MAX_LIMIT,
        ),
        ("limits.faults_max", f.limits.faults_max, FAULTS_MAX_LIMIT),
    ];
    for (field, value, limit) in bounds {
        if let Some(v) = value.filter(|&v| v == 0 || v > limit) {
            return Err(place.error(field, format!("{v} is out of range; expected 1 to {limit}")));
        }
    }
    let faults_max = f
        .limits
        .faults_max
        .unwrap_or(crate::sim::FAULTS_MAX_DEFAULT);
    if f.faults.len() as u64 > faults_max {
        return Err(place.error("faults", too_many_faults(f.faults.len(), faults_max)));
    }
    // Repetitions count as entries: each firing is a fault.
    let firings: u64 = f.faults.iter().map(|sf| u64::from(sf.repeats())).sum();
    if firings > faults_max {
        return Err(place.error(
            "faults",
            format!(
                "{firings} firings with `times` counted; expected at most {faults_max} (limits.faults_max; raise it with --set limits.faults_max=N, up to {FAULTS_MAX_LIMIT})"
            ),
        ));
    }
    if f.limits.history_steps == Some(0) {
        return Err(place.error(
            "limits.history_steps",
            "0 steps cannot decide anything; expected at least 1 (default 100000000)",
        ));
    }
    let w = &f.workload;
    check_range(
        place,
        "workload.think_ms_min",
        w.think_ms_min,
        w.think_ms_max,
        "think time",
    )?;
    if clients > 0 && w.timeout_ms == 0 {
        return Err(place.error(
            "workload.timeout_ms",
            "a client timeout of 0 ms would retry forever at one instant; expected at least 1",
        ));
    }
    if w.think_ms_max > TIME_MS_MAX || w.timeout_ms > TIME_MS_MAX {
        return Err(place.error(
            "workload",
            "think and timeout times may be at most one year",
        ));
    }
    for (&client, &node) in &w.pinned {
        let field = format!("workload.pinned.{client}");
        if client.0 >= clients {
            return Err(place.error(
                &field,
                format!("no client {client}: the workload has {clients} (c1 to c{clients})"),
            ));
        }
        if node.0 >= nodes {
            return Err(place.error(
                &field,
                format!("no node {node}: the scenario has {nodes} (n1 to n{nodes})"),
            ));
        }
    }
    let net = &f.network;
    if let Some(why) = net.order.and_then(|o| o.invalid()) {
        return Err(place.error("network.order", why));
    }
    if let Some(l) = &net.latency {
        check_latency(place, "network.latency", l)?;
    }
    if let Some(d) = &net.long_delay {
        check_long_delay(place, "network.long_delay", d)?;
    }
    for (i, l) in net.links.iter().enumerate() {
        check_endpoint(
            place,
            &format!("network.links[{i}].from"),
            l.from,
            nodes,
            clients,
        )?;
        check_endpoint(
            place,
            &format!("network.links[{i}].to"),
            l.to,
            nodes,
            clients,
        )?;
        if let Some(lat) = &l.latency {
            check_latency(place, &format!("network.links[{i}].latency"), lat)?;
        }
        if let Some(d) = &l.long_delay {
            check_long_delay(place, &format!("network.links[{i}].long_delay"), d)?;
        }
    }
    if nodes.saturating_add(clients) > 2_000 && !net.links.is_empty() {
        return Err(place.error(
            "network.links",
            "per-link overrides are limited to clusters of at most 2000 vertices",
        ));
    }
    for (i, c) in f.clocks.iter().enumerate() {
        check_endpoint(
            place,
            &format!("clocks[{i}].node"),
            Endpoint::Node(c.node),
            nodes,
            clients,
        )?;
        if !(DRIFT_PPM_MIN..=DRIFT_PPM_MAX).contains(&c.drift_ppm) {
            return Err(place.error(
                &format!("clocks[{i}].drift_ppm"),
                format!(
                    "{} is out of range; expected {DRIFT_PPM_MIN} to {DRIFT_PPM_MAX}",
                    c.drift_ppm
                ),
            ));
        }
        if c.offset_ms.unsigned_abs() > CLOCK_STEP_MS_MAX as u64 {
            return Err(place.error(
                &format!("clocks[{i}].offset_ms"),
                "an offset may be at most one day either way",
            ));
        }
    }
    for (i, n) in f.permanently_down.iter().enumerate() {
        check_endpoint(
            place,
            &format!("permanently_down[{i}]"),
            Endpoint::Node(*n),
            nodes,
            clients,
        )?;
    }
    let mut previous = 0;
    for (i, sf) in f.faults.iter().enumerate() {
        if let Fault::Message(m) = &sf.fault {
            // Counted at send, not timed: it may sit anywhere in the list.
            check_message(place, i, m, &f.faults[..i], nodes, clients)?;
            continue;
        }
        if let Fault::Set(settings) = &sf.fault {
            check_settings(place, i, settings)?;
        }
        let at = format!("faults[{i}].at_ms");
        if sf.on.is_some() && sf.fault == Fault::Heal {
            return Err(place.error(
                &format!("faults[{i}].heal"),
                "the heal cannot wait for an annotation; give it a time, or use heal_links",
            ));
        }
        // A fault with `on` fires when its annotation comes; its at_ms only says from when,
        // so it may sit anywhere in the list.
        if sf.on.is_none() && sf.at_us < previous {
            return Err(place.error(
                &at,
                format!(
                    "{} comes before the previous entry's {}; list faults in time order",
                    ms_text(sf.at_us),
                    ms_text(previous)
                ),
            ));
        }
        if sf.at_us > time_ms.saturating_mul(1_000) {
            return Err(place.error(
                &at,
                format!(
                    "{} is after the end of the run (limits.time_ms = {time_ms})",
                    ms_text(sf.at_us)
                ),
            ));
        }
        if sf.on.is_none() {
            previous = sf.at_us;
        }
        if sf.on.as_ref().is_some_and(|on| on.retarget) && sf.fault.subject().is_none() {
            return Err(place.error(
                &format!("faults[{i}].on.retarget"),
                format!(
                    "`{}` names no node to aim at the annotating node; retarget needs a fault that names a node (its first node is the one replaced)",
                    sf.fault.key()
                ),
            ));
        }
        if let Some(node) = sf.on.as_ref().and_then(|on| on.node) {
            check_endpoint(
                place,
                &format!("faults[{i}].on.node"),
                Endpoint::Node(node),
                nodes,
                clients,
            )?;
        }
        let field = format!("faults[{i}].{}", sf.fault.key());
        for e in sf.fault.endpoints() {
            if sf.aim.is_some() && e == Endpoint::Node(AIMED) {
                continue; // chosen when it fires
            }
            check_endpoint(place, &field, e, nodes, clients)?;
        }
        check_shape(place, i, sf, nodes)?;
        match &sf.fault {
            Fault::Partition(groups) | Fault::Bridge { groups, .. } => {
                if groups.len() < 2 {
                    return Err(place.error(&field, "a partition needs at least two groups"));
                }
                let mut seen: Vec<Endpoint> = Vec::new();
                for g in groups {
                    if g.is_empty() {
                        return Err(place.error(&field, "a partition group is empty"));
                    }
                    for e in g {
                        if seen.contains(e) {
                            return Err(place.error(
                                &field,
                                format!("{e} is in more than one group; groups must not overlap"),
                            ));
                        }
                        seen.push(*e);
                    }
                }
                if let Fault::Bridge { via, .. } = &sf.fault {
                    if seen.contains(&Endpoint::Node(*via)) {
                        return Err(place.error(&field, format!("the bridge {via} must not be in a group: it is the node that sees both")));
                    }
                }
            }
            Fault::Cut { from, to } | Fault::Repair { from, to } if from == to => {
                return Err(place.error(&field, "from and to are the same vertex"));
            }
            Fault::ClockStep { offset_ms, .. }
                if offset_ms.unsigned_abs() > CLOCK_STEP_MS_MAX as u64 =>
            {
                return Err(place.error(&field, "a clock step may be at most one day either way"));
            }
            Fault::ClockDrift { ppm, .. } if !(DRIFT_PPM_MIN..=DRIFT_PPM_MAX).contains(ppm) => {
                return Err(place.error(
                    &field,
                    format!(
                        "{ppm} ppm is out of range; expected {DRIFT_PPM_MIN} to {DRIFT_PPM_MAX}"
                    ),
                ));
            }
            Fault::Restart(n) if f.permanently_down.contains(n) => {
                return Err(place.error(
                    &field,
                    format!(
                        "{n} is declared permanently down; remove the restart or the declaration"
                    ),
                ));
            }
            _ => {}
        }
    }
    if let Some(nm) = &f.nemesis {
        if nm.until_ms > time_ms {
            return Err(place.error(
                "nemesis.until_ms",
                format!("{} is after the end of the run ({time_ms})", nm.until_ms),
            ));
        }
        let intervals = [
            (
                "crash",
                nm.crash
                    .as_ref()
                    .map(|c| (c.interval_ms_mean, c.down_ms_min, c.down_ms_max)),
            ),
            (
                "pause",
                nm.pause
                    .as_ref()
                    .map(|c| (c.interval_ms_mean, c.duration_ms_min, c.duration_ms_max)),
            ),
            (
                "partition",
                nm.partition
                    .as_ref()
                    .map(|c| (c.interval_ms_mean, c.duration_ms_min, c.duration_ms_max)),
            ),
            (
                "clock",
                nm.clock.as_ref().map(|c| (c.interval_ms_mean, 0, 0)),
            ),
            (
                "disk",
                nm.disk
                    .as_ref()
                    .map(|c| (c.interval_ms_mean, c.down_ms_min, c.down_ms_max)),
            ),
        ];
        for (name, spec) in intervals {
            let Some((mean, lo, hi)) = spec else { continue };
            if mean == 0 || mean > TIME_MS_MAX {
                return Err(place.error(
                    &format!("nemesis.{name}.interval_ms_mean"),
                    "expected a mean interval of 1 ms to one year",
                ));
            }
            check_range(place, &format!("nemesis.{name}"), lo, hi, "duration")?;
            if hi > TIME_MS_MAX {
                return Err(place.error(
                    &format!("nemesis.{name}"),
                    "durations may be at most one year",
                ));
            }
        }
        if let Some(c) = &nm.clock {
            if c.drift_ppm_max > DRIFT_PPM_MIN.unsigned_abs() {
                return Err(place.error(
                    "nemesis.clock.drift_ppm_max",
                    format!("expected at most {}", DRIFT_PPM_MIN.unsigned_abs()),
                ));
            }
            if c.step_ms_max > CLOCK_STEP_MS_MAX as u64 {
                return Err(place.error(
                    "nemesis.clock.step_ms_max",
                    "a clock step may be at most one day",
                ));
            }
        }
        if let Some(p) = &nm.partition {
            if p.shapes.is_empty() {
                return Err(place.error(
                    "nemesis.partition.shapes",
                    "list at least one shape, or remove the partition block",
                ));
            }
        }
        if let Some(d) = nm.network.as_ref().and_then(|n| n.long_delay.as_ref()) {
            check_long_delay(place, "nemesis.network.long_delay", d)?;
        }
        for (i, st) in nm.strikes.iter().enumerate() {
            let base = format!("nemesis.strikes[{i}]");
            if st.note.is_empty() {
                return Err(place.error(&format!("{base}.note"), "name an annotation key"));
            }
            if st.duration_ms_min > st.duration_ms_max || st.duration_ms_max > TIME_MS_MAX {
                return Err(place.error(
                    &format!("{base}.duration_ms_max"),
                    format!(
                        "expected duration_ms_min <= duration_ms_max <= one year, found {} and {}",
                        st.duration_ms_min, st.duration_ms_max
                    ),
                ));
            }
        }
        if let Some(sw) = &nm.swarm {
            let [lo, hi] = sw.interval_ms;
            if lo == 0 || lo > hi || hi > TIME_MS_MAX {
                return Err(place.error(
                    "nemesis.swarm.interval_ms",
                    format!(
                        "expected [low, high] with 1 <= low <= high <= one year, found [{lo}, {hi}]"
                    ),
                ));
            }
            if sw.duration_ms_max > TIME_MS_MAX {
                return Err(place.error(
                    "nemesis.swarm.duration_ms_max",
                    "durations may be at most one year",
                ));
            }
        }
    }
    if f.heal_at_ms.is_some() && f.faults.iter().any(|sf| sf.fault == Fault::Heal) {
        return Err(place.error(
            "heal_at_ms",
            "the fault schedule has its own `heal` entry; keep one of the two",
        ));
    }
    if let Some(h) = f.heal_at_ms {
        if h > time_ms {
            return Err(place.error(
                "heal_at_ms",
                format!("{h} is after the end of the run ({time_ms})"),
            ));
        }
    }
    if f.liveness_budget_ms.is_some_and(|b| b > TIME_MS_MAX) {
        return Err(place.error("liveness_budget_ms", "expected at most one year"));
    }
    for (i, e) in f.expect.iter().enumerate() {
        let base = format!("expect[{i}]");
        if let Some(metric) = &e.metric {
            metric_bound(place, &base, e, metric)?;
            continue;
        }
        if e.check.is_empty() {
            return Err(place.error(
                &base,
                "expected a `check` with its `kind`, or a `metric` with `at_most` and/or `at_least`",
            ));
        }
        let Some(kind) = e.kind else {
            return Err(place.error(
                &format!("{base}.kind"),
                "missing: expected always, never, sometimes, eventually or within",
            ));
        };
        if e.at_most.is_some() {
            return Err(place.error(
                &format!("{base}.at_most"),
                "`at_most` belongs to `metric` expectations only",
            ));
        }
        let is_within = kind == KindName::Within;
        if is_within && (e.within_ms.is_none() || e.after.is_none()) {
            return Err(place.error(&base, "a `within` expectation needs `within_ms` and `after` (crash, restart, pause, resume, partition, heal_links, clock, heal, or an annotation: {\"note\": KEY, \"value\": V})"));
        }
        if !is_within && (e.within_ms.is_some() || e.after.is_some() || e.node.is_some()) {
            return Err(place.error(
                &base,
                "`within_ms`, `after` and `node` belong to `within` expectations only",
            ));
        }
        if e.stays && kind != KindName::Eventually {
            return Err(place.error(
                &format!("{base}.stays"),
                "`stays` belongs to `eventually` expectations only",
            ));
        }
        if e.budget_ms.is_some() && kind != KindName::Eventually {
            return Err(place.error(
                &format!("{base}.budget_ms"),
                "`budget_ms` belongs to `eventually` expectations only",
            ));
        }
        let windowed = matches!(kind, KindName::Always | KindName::Never);
        for (name, v) in [("from_ms", e.from_ms), ("until_ms", e.until_ms)] {
            let Some(v) = v else { continue };
            if !windowed {
                return Err(place.error(
                    &format!("{base}.{name}"),
                    "`from_ms` and `until_ms` belong to `always` and `never` expectations only",
                ));
            }
            if v > time_ms {
                return Err(place.error(
                    &format!("{base}.{name}"),
                    format!("{v} is after the end of the run (limits.time_ms = {time_ms})"),
                ));
            }
        }
        if let (Some(a), Some(b)) = (e.from_ms, e.until_ms) {
            if a > b {
                return Err(place.error(
                    &format!("{base}.until_ms"),
                    format!("the window ends ({b}) before it starts ({a})"),
                ));
            }
        }
        if let Some(n) = e.node {
            check_endpoint(
                place,
                &format!("{base}.node"),
                Endpoint::Node(n),
                nodes,
                clients,
            )?;
        }
        if e.within_ms.is_some_and(|w| w > TIME_MS_MAX)
            || e.budget_ms.is_some_and(|w| w > TIME_MS_MAX)
        {
            return Err(place.error(&base, "expected at most one year"));
        }
    }
    Ok(())
}

/// A bound on a metric (`{"metric": NAME, "at_most": X, "at_least": Y}`): only those fields,
/// at least one bound, and the bounds in order. Whether the protocol reports `NAME` is checked
/// where the protocol is known (scenario::typed).
fn metric_bound(
    place: &Where<'_>,
    base: &str,
    e: &super::format::ExpectSpec,
    metric: &str,
) -> Result<(), InputError> {
    if metric.is_empty() {
        return Err(place.error(&format!("{base}.metric"), "expected a metric's name"));
    }
    let others = [
        ("check", !e.check.is_empty()),
        ("kind", e.kind.is_some()),
        ("within_ms", e.within_ms.is_some()),
        ("after", e.after.is_some()),
        ("node", e.node.is_some()),
        ("budget_ms", e.budget_ms.is_some()),
        ("stays", e.stays),
        ("from_ms", e.from_ms.is_some()),
        ("until_ms", e.until_ms.is_some()),
    ];
    if let Some((field, _)) = others.iter().find(|(_, set)| *set) {
        return Err(place.error(
            &format!("{base}.{field}"),
            "a `metric` expectation takes only `at_most` and `at_least` (it is judged once, at the end of the run)",
        ));
    }
    let value = |n: &Option<serde_json::Number>| n.as_ref().and_then(serde_json::Number::as_f64);
    match (value(&e.at_least), value(&e.at_most)) {
        (None, None) => Err(place.error(
            base,
            format!("the bound on metric {metric:?} needs `at_most`, `at_least` or both"),
        )),
        (Some(lo), Some(hi)) if lo > hi => Err(place.error(
            &format!("{base}.at_most"),
            format!("{hi} is below at_least ({lo}): no value could pass"),
        )),
        _ => Ok(()),
    }
}
