//! The typed scenario: a [`Document`] checked against a protocol's type `P` (its
//! parameters, its check names, `outcome.fails`, every value a swarm knob may pick) and
//! turned into the engine's typed [`SimConfig`].
//!
//! Generic over `P`: nothing here looks a protocol up by name (the command line does that,
//! through `crate::protocols`), so a protocol written outside the crate loads the same way
//! as a bundled one. Must not read files and must not run anything (`crate::run` does).

use super::bundled::bundled_text;
use super::document::Document;
use super::error::{InputError, Where, strip_position};
use super::format::{After, ExpectedOutcome, KindName, ScenarioFile};
use crate::base::types::{NodeId, Time};
use crate::check::{ExpectKind, Expectation, MetricBound, NoteMatch, TriggerKind};
use crate::network::LinkModel;
use crate::protocol::Protocol;
use crate::sim::{ClockInit, SimConfig};
use serde::Serialize;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

/// A scenario validated for protocol `P`: its [`Document`] (reachable through `Deref`:
/// `scn.file`, `scn.json`, `scn.source`) whose protocol parts have been checked against `P`.
/// Only the loaders make one, so holding a `Scenario<P>` means the checks passed.
///
/// Running it is in `crate::run`: [`Scenario::run`] and [`Scenario::run_with_history`].
pub struct Scenario<P: Protocol> {
    doc: Document,
    protocol: PhantomData<fn() -> P>,
}

impl<P: Protocol> Clone for Scenario<P> {
    fn clone(&self) -> Self {
        Scenario {
            doc: self.doc.clone(),
            protocol: PhantomData,
        }
    }
}

impl<P: Protocol> fmt::Debug for Scenario<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scenario")
            .field("protocol", &P::NAME)
            .field("doc", &self.doc)
            .finish()
    }
}

impl<P: Protocol> Deref for Scenario<P> {
    type Target = Document;
    fn deref(&self) -> &Document {
        &self.doc
    }
}

/// Parses and validates scenario `text` from `source` for protocol `P`, with `overrides`
/// (`--set` syntax) applied: [`Document::load`], then [`Scenario::from_document`].
pub fn load<P: Protocol>(
    source: &str,
    text: &str,
    overrides: &[String],
) -> Result<Scenario<P>, InputError> {
    Scenario::from_document(Document::load(source, text, overrides)?)
}

impl<P: Protocol> Scenario<P> {
    /// Checks a document against `P`: its protocol name is `P::NAME`, its parameters parse
    /// as `P::Config`, its expectations and `outcome.fails` name checks `P` has (or the
    /// built-in and engine checks), and every value a swarm knob may pick makes valid
    /// parameters on its own.
    pub fn from_document(doc: Document) -> Result<Scenario<P>, InputError> {
        let place = doc.place();
        if doc.file.protocol.name != P::NAME {
            return Err(place.error(
                "protocol.name",
                format!(
                    "this scenario is for {}, not {}",
                    doc.file.protocol.name,
                    P::NAME
                ),
            ));
        }
        typed_config::<P>(&doc.file, 0, &place)?;
        check_knobs::<P>(&doc.file, &place)?;
        check_role_aims::<P>(&doc.file, &place)?;
        check_settings::<P>(&doc.file, &place)?;
        check_pinned::<P>(&doc.file, &place)?;
        check_atlas::<P>(&doc.file, &place)?;
        Ok(Scenario {
            doc,
            protocol: PhantomData,
        })
    }

    /// The bundled scenario `name` (`ping/basic`; `faultline list` shows them) for `P`, with
    /// `overrides` applied.
    pub fn bundled(name: &str, overrides: &[String]) -> Result<Scenario<P>, InputError> {
        load(name, bundled_text(name)?, overrides)
    }

    /// This scenario with more `overrides` applied, validated again.
    pub fn with(&self, overrides: &[String]) -> Result<Scenario<P>, InputError> {
        let mut json = self.doc.json.clone();
        for o in overrides {
            super::overrides::apply_override(&mut json, o)?;
        }
        Scenario::from_document(Document::from_json(&self.doc.source, json)?)
    }

    /// The typed configuration for the engine with `seed` (a swarm nemesis stays as it is:
    /// see [`Scenario::for_seed`]).
    pub fn config(&self, seed: u64) -> Result<SimConfig<P>, InputError> {
        typed_config::<P>(&self.doc.file, seed, &self.doc.place())
    }

    /// This scenario as it runs under `seed`: a swarm nemesis replaced by what it draws for
    /// that seed (the kinds, rates, network settings, strikes and protocol knobs), so the
    /// result is an ordinary scenario that runs the same. Without a swarm, the scenario
    /// itself.
    pub fn for_seed(&self, seed: u64) -> Result<Scenario<P>, InputError> {
        let Some(n) = &self.doc.file.nemesis else {
            return Ok(self.clone());
        };
        let Some(spec) = &n.swarm else {
            return Ok(self.clone());
        };
        let draw = crate::faults::swarm(spec, n.until_ms, seed, &P::vocabulary(), &P::knobs());
        let mut json = self.doc.json.clone();
        let obj = json.as_object_mut().expect("a scenario is an object");
        obj.insert("nemesis".into(), jv(&draw.nemesis));
        if !draw.params.is_empty() {
            let protocol = obj
                .get_mut("protocol")
                .and_then(|p| p.as_object_mut())
                .expect("a loaded scenario names its protocol in an object");
            let params = protocol
                .entry("params")
                .or_insert_with(|| serde_json::json!({}));
            if !params.is_object() {
                *params = serde_json::json!({}); // `null` parses as no params
            }
            let params = params.as_object_mut().expect("made an object above");
            for (k, v) in draw.params {
                params.insert(k, v);
            }
        }
        if spec.liveness {
            // The budgets are formulas of the parameters this seed drew, so they are worked
            // out from the resolved parameters.
            let drawn = Document::from_json(&self.doc.source, json.clone())?;
            let config = protocol_config::<P>(&drawn.file, &drawn.place())?;
            add_liveness(&mut json, &P::liveness(&config));
        }
        Scenario::from_document(Document::from_json(&self.doc.source, json)?)
    }
}

/// Adds the checks of `liveness` to a scenario's `expect` list as `eventually` checks with
/// their budgets; a check the list already names keeps the scenario's own terms.
fn add_liveness(json: &mut serde_json::Value, liveness: &crate::protocol::Liveness) {
    let obj = json.as_object_mut().expect("a scenario is an object");
    let expect = obj.entry("expect").or_insert_with(|| serde_json::json!([]));
    if !expect.is_array() {
        *expect = serde_json::json!([]); // `null` reads as no expectations
    }
    let list = expect.as_array_mut().expect("made an array above");
    for c in &liveness.checks {
        if list
            .iter()
            .any(|e| e.get("check").and_then(|x| x.as_str()) == Some(c.check))
        {
            continue;
        }
        let mut e = serde_json::json!({
            "check": c.check,
            "kind": "eventually",
            "budget_ms": c.budget.as_ms(),
        });
        if c.stays {
            e["stays"] = serde_json::json!(true);
        }
        list.push(e);
    }
}

/// Names the engine itself fails runs under (the protocol's history check aside).
/// `happens_before` is the clock service's: it fails only runs of protocols that use it.
const ENGINE_CHECKS: [&str; 4] = [
    "protocol_panic",
    "protocol_error",
    "event_budget",
    crate::protocol::HAPPENS_BEFORE,
];

fn protocol_config<P: Protocol>(
    f: &ScenarioFile,
    place: &Where<'_>,
) -> Result<P::Config, InputError> {
    if f.protocol.params.is_null() {
        let config = P::Config::default();
        checked_config::<P>(&config, f.nodes, "protocol.params", place)?;
        return Ok(config);
    }
    let config = serde_path_to_error::deserialize(&f.protocol.params).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "protocol.params".to_string()
        } else {
            format!("protocol.params.{path}")
        };
        place.error(&field, strip_position(&e.inner().to_string()))
    })?;
    checked_config::<P>(&config, f.nodes, "protocol.params", place)?;
    Ok(config)
}

/// Parameters that parsed, put to the protocol's own check against the cluster's size; a
/// refusal names the field under `base`.
fn checked_config<P: Protocol>(
    config: &P::Config,
    nodes: u32,
    base: &str,
    place: &Where<'_>,
) -> Result<(), InputError> {
    P::check_config(config, nodes).map_err(|e| {
        if e.field.is_empty() {
            place.error("nodes", e.why)
        } else {
            place.error(&format!("{base}.{}", e.field), e.why)
        }
    })
}

/// Each node of `protocol.params_by_node` with its parameters: its object merged over
/// `params` (field by field, at the top level), read as the protocol's parameters.
fn node_configs<P: Protocol>(
    f: &ScenarioFile,
    place: &Where<'_>,
) -> Result<Vec<(NodeId, P::Config)>, InputError> {
    let mut out = Vec::with_capacity(f.protocol.params_by_node.len());
    for (&n, own) in &f.protocol.params_by_node {
        let base = format!("protocol.params_by_node.{n}");
        if n.0 >= f.nodes {
            return Err(place.error(&base, format!("no node {n}: the cluster has {}", f.nodes)));
        }
        let Some(own) = own.as_object() else {
            return Err(place.error(&base, "expected an object of parameters"));
        };
        let mut merged = match &f.protocol.params {
            serde_json::Value::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        for (k, v) in own {
            merged.insert(k.clone(), v.clone());
        }
        let merged = serde_json::Value::Object(merged);
        let config: P::Config = serde_path_to_error::deserialize(&merged).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                base.clone()
            } else {
                format!("{base}.{path}")
            };
            place.error(&field, strip_position(&e.inner().to_string()))
        })?;
        checked_config::<P>(&config, f.nodes, &base, place)?;
        out.push((n, config));
    }
    Ok(out)
}

/// An aim by role reads the role key the protocol's vocabulary declares: a protocol without
/// one cannot be aimed at that way.
fn check_role_aims<P: Protocol>(file: &ScenarioFile, place: &Where<'_>) -> Result<(), InputError> {
    let vocabulary = P::vocabulary();
    for (i, sf) in file.faults.iter().enumerate() {
        if let (Some(crate::faults::Aim::Role(_)), None) = (&sf.aim, &vocabulary.role) {
            return Err(place.error(
                &format!("faults[{i}].{}", sf.fault.key()),
                format!(
                    "protocol {} declares no role in its vocabulary, so no node announces one; name the node, or use {{\"drawn\": 1}}",
                    P::NAME
                ),
            ));
        }
    }
    Ok(())
}

/// Storage faults stay inside the atlas: a scenario with disk faults (scheduled, or drawn by
/// its nemesis or swarm) declares an atlas that lists their kinds, and its protocol writes
/// its records as bytes (it has a codec), since the faults act on bytes.
fn check_atlas<P: Protocol>(file: &ScenarioFile, place: &Where<'_>) -> Result<(), InputError> {
    let disk_faults: Vec<(usize, &crate::faults::DiskFault)> = file
        .faults
        .iter()
        .enumerate()
        .filter_map(|(i, sf)| match &sf.fault {
            crate::faults::Fault::Disk(d) => Some((i, d)),
            _ => None,
        })
        .collect();
    let nemesis = file.nemesis.as_ref();
    let drawn =
        nemesis.is_some_and(|n| n.disk.is_some() || n.swarm.as_ref().is_some_and(|s| s.disk));
    if let Some(atlas) = &file.atlas {
        atlas
            .validate(file.nodes)
            .map_err(|why| place.error("atlas", why))?;
    }
    if disk_faults.is_empty() && !drawn && file.atlas.as_ref().is_none_or(|a| a.faults.is_empty()) {
        return Ok(());
    }
    if P::codec().is_none() {
        return Err(place.error(
            "atlas",
            format!(
                "protocol {} keeps its records typed (it declares no codec), and storage faults act on bytes; remove the storage faults",
                P::NAME
            ),
        ));
    }
    let Some(atlas) = &file.atlas else {
        let field = match disk_faults.first() {
            Some((i, _)) => format!("faults[{i}].disk"),
            None => "nemesis".to_string(),
        };
        return Err(place.error(
            &field,
            "storage faults need a fault atlas: add `\"atlas\": {\"faults\": [...]}` listing the kinds the protocol claims to survive",
        ));
    };
    for (i, d) in disk_faults {
        if !atlas.allows(d.fault) {
            return Err(place.error(
                &format!("faults[{i}].disk.fault"),
                format!(
                    "`{}` is not in the atlas's faults ({}): the protocol does not claim to survive it",
                    d.fault.word(),
                    atlas.faults.iter().map(|k| k.word()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    if let Some(d) = nemesis.and_then(|n| n.disk.as_ref()) {
        if let Some(k) = d.kinds.iter().find(|k| !atlas.allows(**k)) {
            return Err(place.error(
                "nemesis.disk.kinds",
                format!("`{}` is not in the atlas's faults", k.word()),
            ));
        }
    }
    Ok(())
}

/// A `set` entry names bug switches the protocol has (booleans under `bugs` in its
/// parameters), and the protocol takes new parameters while running: a node built from the
/// scenario's parameters is asked to take the changed ones, as the run will ask.
fn check_settings<P: Protocol>(file: &ScenarioFile, place: &Where<'_>) -> Result<(), InputError> {
    for (i, sf) in file.faults.iter().enumerate() {
        let crate::faults::Fault::Set(settings) = &sf.fault else {
            continue;
        };
        let field = format!("faults[{i}].set");
        let defaults = serde_json::to_value(P::Config::default()).unwrap_or_default();
        let switches: Vec<&str> = defaults["bugs"]
            .as_object()
            .map(|b| {
                b.iter()
                    .filter(|(_, v)| v.is_boolean())
                    .map(|(k, _)| k.as_str())
                    .collect()
            })
            .unwrap_or_default();
        if switches.is_empty() {
            return Err(place.error(
                &field,
                format!("protocol {} has no bug switches to set", P::NAME),
            ));
        }
        for key in settings.keys() {
            let name = key.strip_prefix("bugs.").unwrap_or(key);
            if !switches.contains(&name) {
                return Err(place.error(
                    &field,
                    format!(
                        "`{key}`: protocol {} has no bug switch `{name}`; it has: {}",
                        P::NAME,
                        switches.join(", ")
                    ),
                ));
            }
        }
        let config = protocol_config::<P>(file, place)?;
        let changed = crate::protocol::with_settings(&config, settings)
            .map_err(|why| place.error(&field, why))?;
        let mut node = P::new(NodeId(0), file.nodes, &config);
        node.reconfigure(&changed)
            .map_err(|why| place.error(&field, why))?;
    }
    Ok(())
}

/// Pinning a client to a node is honoured by the ready-made driver; a protocol with its own
/// client logic (ABD's quorum client talks to every node) says whether it honours it.
fn check_pinned<P: Protocol>(file: &ScenarioFile, place: &Where<'_>) -> Result<(), InputError> {
    use crate::protocol::ClientLogic;
    match file.workload.pinned.keys().next() {
        Some(client) if !P::Client::honours_pinned() => Err(place.error(
            &format!("workload.pinned.{client}"),
            format!(
                "protocol {}'s clients choose their own nodes and cannot be pinned to one",
                P::NAME
            ),
        )),
        _ => Ok(()),
    }
}

fn typed_config<P: Protocol>(
    f: &ScenarioFile,
    seed: u64,
    place: &Where<'_>,
) -> Result<SimConfig<P>, InputError> {
    let protocol = protocol_config::<P>(f, place)?;
    let defs = P::properties();
    if let Some(ExpectedOutcome::Fails(check)) = &f.outcome {
        let history = P::history_check().map(|h| h.name());
        let known = defs.iter().any(|d| d.name == check)
            || crate::check::BUILTIN_CHECKS.iter().any(|b| b.0 == check)
            || ENGINE_CHECKS.contains(&check.as_str())
            || history == Some(check.as_str());
        if !known {
            let mut names: Vec<&str> = defs.iter().map(|d| d.name).collect();
            names.extend(crate::check::BUILTIN_CHECKS.iter().map(|b| b.0));
            names.extend(history);
            names.extend(ENGINE_CHECKS);
            return Err(place.error(
                "outcome.fails",
                format!(
                    "protocol {} has no check named {check:?}; it has: {}",
                    P::NAME,
                    names.join(", ")
                ),
            ));
        }
    }
    let mut expectations = Vec::new();
    let mut reported: Option<std::collections::BTreeMap<String, serde_json::Value>> = None;
    for (i, e) in f.expect.iter().enumerate() {
        if let Some(metric) = &e.metric {
            // The names a protocol's metrics report, asked of fresh instances (a metric
            // reports every name it has from the start; only values come from the run).
            let names = reported.get_or_insert_with(|| {
                P::metrics()
                    .iter()
                    .flat_map(|m| (m.make)(&protocol).report())
                    .chain(crate::check::RecoveryReport::default().metrics())
                    .collect()
            });
            if crate::check::reported_name(names.keys().map(String::as_str), metric).is_none() {
                let list: Vec<&str> = names.keys().map(String::as_str).collect();
                return Err(place.error(
                    &format!("expect[{i}].metric"),
                    if list.is_empty() {
                        format!("protocol {} reports no metrics", P::NAME)
                    } else {
                        format!(
                            "protocol {} reports no metric named {metric:?}; it reports: {} (a path into one, as `NAME.field`, is also accepted)",
                            P::NAME,
                            list.join(", ")
                        )
                    },
                ));
            }
            let number = |n: &Option<serde_json::Number>| n.as_ref().and_then(|x| x.as_f64());
            expectations.push(Expectation {
                check: metric.clone(),
                kind: ExpectKind::Metric(MetricBound {
                    at_least: number(&e.at_least),
                    at_most: number(&e.at_most),
                }),
                at_least: None,
            });
            continue;
        }
        if !defs.iter().any(|d| d.name == e.check)
            && !crate::check::BUILTIN_CHECKS.iter().any(|b| b.0 == e.check)
        {
            let mut names: Vec<&str> = defs.iter().map(|d| d.name).collect();
            names.extend(crate::check::BUILTIN_CHECKS.iter().map(|b| b.0));
            return Err(place.error(
                &format!("expect[{i}].check"),
                format!(
                    "protocol {} has no check named {:?}; it has: {}",
                    P::NAME,
                    e.check,
                    names.join(", ")
                ),
            ));
        }
        // validate() has made sure a check comes with its kind.
        let kind = match e.kind.unwrap_or(KindName::Always) {
            KindName::Always if e.from_ms.is_none() && e.until_ms.is_none() => ExpectKind::Always,
            KindName::Always => ExpectKind::During {
                from: e.from_ms.map(Time::from_ms),
                until: e.until_ms.map(Time::from_ms),
            },
            KindName::Never => ExpectKind::Never {
                from: e.from_ms.map(Time::from_ms),
                until: e.until_ms.map(Time::from_ms),
            },
            KindName::Sometimes => ExpectKind::Sometimes,
            KindName::Eventually => ExpectKind::Eventually {
                budget: e.budget_ms.or(f.liveness_budget_ms).map(Time::from_ms),
                stays: e.stays,
            },
            KindName::Within => ExpectKind::Within {
                after: match &e.after {
                    Some(After::Kind(k)) => *k,
                    Some(After::Note { .. }) => TriggerKind::Note,
                    None => TriggerKind::Crash,
                },
                note: match &e.after {
                    Some(After::Note { note, value }) => Some(NoteMatch {
                        key: note.clone(),
                        value: value.clone(),
                    }),
                    _ => None,
                },
                node: e.node,
                within: Time::from_ms(e.within_ms.unwrap_or(0)),
            },
        };
        if e.at_least.is_some() && e.check != "client_ops_ok" {
            return Err(place.error(
                &format!("expect[{i}].at_least"),
                "`at_least` belongs to the client_ops_ok check and to `metric` expectations only",
            ));
        }
        let at_least = match &e.at_least {
            None => None,
            Some(n) => Some(n.as_u64().ok_or_else(|| {
                place.error(
                    &format!("expect[{i}].at_least"),
                    format!("{n} is not a whole number of operations"),
                )
            })?),
        };
        expectations.push(Expectation {
            check: e.check.clone(),
            kind,
            at_least,
        });
    }
    let net = &f.network;
    let base = LinkModel::default();
    let link = LinkModel {
        latency: net.latency.clone().unwrap_or(base.latency),
        loss: net.loss.unwrap_or(base.loss),
        duplicate: net.duplicate.unwrap_or(base.duplicate),
        long_delay: net.long_delay.clone().or(base.long_delay),
    };
    let mut links = Vec::new();
    for l in &net.links {
        let model = LinkModel {
            latency: l.latency.clone().unwrap_or_else(|| link.latency.clone()),
            loss: l.loss.unwrap_or(link.loss),
            duplicate: l.duplicate.unwrap_or(link.duplicate),
            long_delay: l.long_delay.clone().or_else(|| link.long_delay.clone()),
        };
        links.push((l.from, l.to, model.clone()));
        if l.both_ways {
            links.push((l.to, l.from, model));
        }
    }
    let protocol_by_node = node_configs::<P>(f, place)?;
    Ok(SimConfig {
        seed,
        nodes: f.nodes,
        protocol,
        protocol_by_node,
        link,
        links,
        clocks: f
            .clocks
            .iter()
            .map(|c| ClockInit {
                node: c.node,
                offset_ms: c.offset_ms,
                drift_ppm: c.drift_ppm,
            })
            .collect(),
        workload: f.workload.clone(),
        faults: f.faults.clone(),
        nemesis: f.nemesis.clone(),
        permanently_down: f.permanently_down.clone(),
        heal_at: f.heal_at_ms.map(Time::from_ms),
        time_limit: Time::from_ms(f.limits.time_ms),
        events_max: f.limits.events_max.unwrap_or(10_000_000),
        pending_max: f.limits.pending_max.unwrap_or(1_000_000) as usize,
        history_max: f
            .limits
            .history_max
            .unwrap_or(crate::sim::HISTORY_MAX_DEFAULT),
        records_max: f
            .limits
            .records_max
            .unwrap_or(crate::sim::RECORDS_MAX_DEFAULT),
        faults_max: f
            .limits
            .faults_max
            .unwrap_or(crate::sim::FAULTS_MAX_DEFAULT),
        liveness_budget: f.liveness_budget_ms.map(Time::from_ms),
        expectations,
        checks: true,
        fingerprint: true,
        history_budget: f.limits.history_steps.unwrap_or(crate::lin::DEFAULT_BUDGET),
        order: net.order.unwrap_or_default(),
        coverage: false,
        steps: (f.driver == super::DriverKind::Script).then(|| f.steps.clone()),
        atlas: f.atlas.clone(),
    })
}

/// Every value a swarm knob may pick must make valid parameters on its own: the scenario's
/// own lists, and (with `knobs`) the ends of every range the protocol declares for a
/// parameter the scenario does not list itself (its list wins, so the declaration is unused).
fn check_knobs<P: Protocol>(f: &ScenarioFile, place: &Where<'_>) -> Result<(), InputError> {
    let knobs = f.nemesis.as_ref().and_then(|n| n.swarm.as_ref());
    if let Some(spec) = knobs.filter(|s| s.knobs) {
        for knob in P::knobs()
            .into_iter()
            .filter(|k| !spec.params.contains_key(k.param))
        {
            for v in knob.extremes() {
                let mut params = match &f.protocol.params {
                    serde_json::Value::Object(m) => m.clone(),
                    _ => serde_json::Map::new(),
                };
                params.insert(knob.param.to_string(), v.clone());
                let parsed: Result<P::Config, _> =
                    serde_json::from_value(serde_json::Value::Object(params));
                if let Err(e) = parsed {
                    return Err(place.error(
                        "nemesis.swarm.knobs",
                        format!(
                            "protocol {} declares knob {} with the value {v}, which is not a valid parameter: {}",
                            P::NAME,
                            knob.param,
                            strip_position(&e.to_string())
                        ),
                    ));
                }
            }
        }
    }
    for (key, choices) in knobs.map(|s| &s.params).into_iter().flatten() {
        let field = format!("nemesis.swarm.params.{key}");
        if choices.is_empty() {
            return Err(place.error(&field, "list at least one value"));
        }
        for (i, v) in choices.iter().enumerate() {
            let mut params = match &f.protocol.params {
                serde_json::Value::Object(m) => m.clone(),
                _ => serde_json::Map::new(),
            };
            params.insert(key.clone(), v.clone());
            let parsed: Result<P::Config, _> =
                serde_json::from_value(serde_json::Value::Object(params));
            if let Err(e) = parsed {
                return Err(place.error(
                    &format!("{field}[{i}]"),
                    format!(
                        "not a valid protocol parameter here: {}",
                        strip_position(&e.to_string())
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A scenario part as JSON.
fn jv<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("scenario parts serialize")
}
