//! Scenarios: the file format, reading and validating it, presets, overrides, the bundled
//! scenarios, and the typed configuration a protocol runs with.
//!
//! Loading has two parts. [`Document::load`] reads the text, applies `--set` overrides,
//! resolves network presets and validates everything the protocol does not decide.
//! [`Scenario::from_document`] then checks the protocol's own parts against its type `P`
//! (parameters, check names, `outcome.fails`, swarm knobs), which gives a [`Scenario<P>`];
//! [`load`] does both. Nothing here looks a protocol up by name: the command line does that
//! through the registry (`crate::protocols`) and calls this code with the type.
//!
//! Every error names the file, the line and column where known, the field (as a path like
//! `faults[2].crash`) and what was expected. Nothing here panics on bad input, and sizes are
//! bounded so a hostile file cannot make a run hang or eat memory. This module never opens
//! files (the caller passes the text) and never runs a scenario (`crate::run` does).
//!
//! | Module | Owns |
//! |---|---|
//! | `format` | the structs a file is read into, `ExpectedOutcome`, how times are written |
//! | `document` | `Document`: text to a validated document, without the protocol's type |
//! | `validate` | the bounds, and validation of everything the protocol does not decide |
//! | `typed` | `Scenario<P>`: the checks against `P`, swarms resolved per seed, `SimConfig<P>` |
//! | `presets` | the named network presets and their resolution |
//! | `overrides` | `--set path=value` |
//! | `position` | field paths, and their line and column in the text |
//! | `error` | `InputError` |
//! | `bundled` | the scenarios embedded from `scenarios/` |

mod bundled;
mod document;
mod error;
mod explore_spec;
mod format;
mod overrides;
mod position;
mod presets;
mod typed;
mod validate;

pub(crate) use bundled::bundled_text;
pub use bundled::{bundled, bundled_names};
pub use document::Document;
pub use error::InputError;
pub use explore_spec::{ExploreSpec, Semantics, Strategy};
pub use format::{
    ClockSpec, DriverKind, ExpectSpec, ExpectedOutcome, KindName, Limits, LinkOverride,
    NetworkSpec, ProtocolSpec, SCHEMA, ScenarioFile, ms_text,
};
pub use overrides::apply_override;
pub use position::locate;
pub use presets::PRESETS;
// The replay line lives in `base` so that the tools (which may not import `scenario`) can
// build it too.
pub use crate::base::replay::{replay_line, shell_quote};
pub use typed::{Scenario, load};
pub use validate::{
    CLIENTS_MAX, CLOCK_STEP_MS_MAX, DELAY_US_MAX, EVENTS_MAX_LIMIT, FILE_BYTES_MAX, NODES_MAX,
    PENDING_MAX_LIMIT, TIME_MS_MAX,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::types::Ratio;
    use crate::protocols::ping::Ping;

    /// Loads `text` for the ping protocol.
    fn ping(text: &str, overrides: &[String]) -> Result<Scenario<Ping>, InputError> {
        load::<Ping>("t.json", text, overrides)
    }

    const GOOD: &str = r#"{
  "schema": 1,
  "description": "test",
  "protocol": {"name": "ping"},
  "nodes": 3,
  "faults": [
    {"at_ms": 10, "crash": "n2"},
    {"at_ms": 20, "partition": [["n1"], ["n2", "n3"]]}
  ],
  "limits": {"time_ms": 1000}
}"#;

    #[test]
    fn locate_finds_nested_fields() {
        assert_eq!(locate(GOOD, "nodes"), Some((5, 12)));
        assert_eq!(locate(GOOD, "faults[1].partition"), Some((8, 32)));
        assert_eq!(locate(GOOD, "limits.time_ms"), Some((10, 25)));
        assert_eq!(locate(GOOD, "missing"), None);
    }

    #[test]
    fn good_scenario_loads() {
        let s = ping(GOOD, &[]).unwrap();
        assert_eq!(s.file.nodes, 3);
        assert_eq!(s.file.faults.len(), 2);
    }

    fn err(text: &str) -> InputError {
        ping(text, &[]).unwrap_err()
    }

    #[test]
    fn errors_name_line_column_and_field() {
        let e = err(&GOOD.replace("\"n2\"}", "\"n9\"}"));
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(7), Some("faults[0].crash")),
            "{e}"
        );
        assert!(e.message.contains("n9 does not exist"), "{e}");

        let e = err(&GOOD.replace("\"nodes\": 3", "\"nodes\": \"three\""));
        assert_eq!(e.field.as_deref(), Some("nodes"), "{e}");
        assert_eq!(e.line, Some(5), "{e}");

        let e = err(&GOOD.replace("\"nodes\"", "\"nodez\""));
        assert!(e.message.contains("unknown field `nodez`"), "{e}");

        let e = err(&GOOD.replace("[\"n2\", \"n3\"]", "[\"n1\", \"n3\"]"));
        assert!(e.message.contains("more than one group"), "{e}");

        let e = err(&GOOD.replace("\"at_ms\": 20", "\"at_ms\": 5"));
        assert!(e.message.contains("time order"), "{e}");

        let e = err(&GOOD.replace("\"ping\"", "\"pong\""));
        assert_eq!(e.field.as_deref(), Some("protocol.name"));

        let e = err(&GOOD.replace("\"nodes\": 3", "\"nodes\": 1000000"));
        assert!(e.message.contains("out of range"), "{e}");

        let e = err(&GOOD.replace("\"time_ms\": 1000", "\"time_ms\": 9000000000000"));
        assert!(e.message.contains("one year"), "{e}");

        let e = err(&GOOD
            .replace("\"limits\"", "\"heal_at_ms\": 50, \"limits\"")
            .replace(
                "{\"at_ms\": 10, \"crash\": \"n2\"}",
                "{\"at_ms\": 10, \"heal\": true}",
            ));
        assert!(e.message.contains("own `heal` entry"), "{e}");

        let e = err("{\"schema\": 1,");
        assert!(
            e.line.is_some() && e.message.contains("not valid JSON"),
            "{e}"
        );
    }

    #[test]
    fn strikes_and_swarm_knobs_are_validated() {
        let with = |nemesis: &str| {
            GOOD.replace(
                "\"limits\"",
                &format!("\"nemesis\": {nemesis},\n  \"limits\""),
            )
        };
        let strike = |min: u64, max: u64| {
            with(&format!(
                r#"{{"until_ms": 500, "strikes": [{{"note": "duty", "chance": 0.5, "fault": "crash", "duration_ms_min": {min}, "duration_ms_max": {max}}}]}}"#
            ))
        };
        ping(&strike(10, 20), &[]).unwrap();
        let e = err(&strike(30, 20));
        assert_eq!(
            e.field.as_deref(),
            Some("nemesis.strikes[0].duration_ms_max"),
            "{e}"
        );
        let e = err(&strike(10, 20).replace("0.5", "1.5"));
        assert!(e.field.as_deref().unwrap_or("").contains("strikes"), "{e}");
        let e = err(&strike(10, 20).replace("\"fault\": \"crash\"", "\"fault\": \"explode\""));
        assert!(e.message.contains("unknown variant"), "{e}");
        // A knob must name a real parameter with a valid value, for every choice.
        let knobs = |params: &str| {
            with(&format!(
                r#"{{"until_ms": 500, "swarm": {{"params": {params}}}}}"#
            ))
        };
        ping(&knobs(r#"{"interval_ms": [50, 100]}"#), &[]).unwrap();
        let e = err(&knobs(r#"{"interval_ms": [50, "fast"]}"#));
        assert_eq!(
            e.field.as_deref(),
            Some("nemesis.swarm.params.interval_ms[1]"),
            "{e}"
        );
        let e = err(&knobs(r#"{"no_such_knob": [1]}"#));
        assert!(e.message.contains("no_such_knob"), "{e}");
        let e = err(&knobs(r#"{"interval_ms": []}"#));
        assert!(e.message.contains("at least one"), "{e}");
    }

    /// A protocol whose declared knobs are wrong: one names a parameter it does not have,
    /// and one (when asked) lists a value its parameter cannot take.
    #[derive(Clone, Debug, Hash)]
    struct BadKnobs;

    #[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct BadKnobsConfig {
        #[serde(default)]
        period_ms: u64,
        #[serde(default)]
        wrong_value: bool,
    }

    impl crate::protocol::Protocol for BadKnobs {
        const NAME: &'static str = "bad_knobs";
        type Config = BadKnobsConfig;
        type Msg = ();
        type Timer = ();
        type Request = ();
        type Response = ();
        type Record = ();
        type Client = crate::kit::no_client::NoClient;
        fn new(_: crate::protocol::NodeId, _: u32, _: &BadKnobsConfig) -> Self {
            BadKnobs
        }
        fn on_start(&mut self, _: &mut crate::protocol::Ctx<'_, Self>) {}
        fn on_message(
            &mut self,
            _: &mut crate::protocol::Ctx<'_, Self>,
            _: crate::protocol::NodeId,
            _: (),
        ) {
        }
        fn on_timer(&mut self, _: &mut crate::protocol::Ctx<'_, Self>, _: ()) {}
        fn on_request(
            &mut self,
            _: &mut crate::protocol::Ctx<'_, Self>,
            _: crate::protocol::ClientId,
            _: crate::protocol::RequestId,
            _: (),
        ) {
        }
        fn properties() -> Vec<crate::check::PropertyDef<Self>> {
            Vec::new()
        }
        fn knobs() -> Vec<crate::protocol::Knob> {
            vec![
                crate::protocol::Knob::between("period_ms", 10, 20),
                crate::protocol::Knob::one_of("wrong_value", &["fast".into()]),
                crate::protocol::Knob::between("no_such_param", 1, 2),
            ]
        }
    }

    #[test]
    fn a_protocol_that_declares_a_bad_knob_is_refused_where_the_swarm_asks_for_knobs() {
        let text = |knobs: bool| {
            format!(
                r#"{{"schema": 1, "description": "x", "protocol": {{"name": "bad_knobs"}}, "nodes": 2,
  "nemesis": {{"until_ms": 100, "swarm": {{"knobs": {knobs}}}}}, "limits": {{"time_ms": 200}}}}"#
            )
        };
        // Without knobs the declaration is never used, so the scenario loads.
        load::<BadKnobs>("t.json", &text(false), &[]).unwrap();
        let e = load::<BadKnobs>("t.json", &text(true), &[]).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("nemesis.swarm.knobs"), "{e}");
        assert!(
            e.message
                .contains("declares knob wrong_value with the value \"fast\""),
            "{e}"
        );
        // With that knob's own parameter fixed by the swarm's list, the next bad one is found.
        let fixed = text(true).replace(
            r#""knobs": true"#,
            r#""knobs": true, "params": {"wrong_value": [true]}"#,
        );
        let e = load::<BadKnobs>("t.json", &fixed, &[]).unwrap_err();
        assert!(e.message.contains("no_such_param"), "{e}");
    }

    #[test]
    fn overrides_and_presets() {
        let s = ping(
            GOOD,
            &[
                "network.preset=lossy".into(),
                "network.loss=0.25".into(),
                "nodes=4".into(),
            ],
        )
        .unwrap();
        assert_eq!(s.file.nodes, 4);
        assert_eq!(s.file.network.loss, Some(Ratio { ppm: 250_000 }));
        assert_eq!(
            s.file.network.duplicate,
            Some(Ratio { ppm: 20_000 }),
            "from the preset"
        );
        assert!(
            s.json["network"].get("preset").is_none(),
            "presets are resolved in the effective JSON"
        );
        let e = ping(GOOD, &["network.preset=fast".into()]).unwrap_err();
        assert!(e.message.contains("unknown preset"), "{e}");
        let e = ping(GOOD, &["nodes".into()]).unwrap_err();
        assert!(e.message.contains("KEY=VALUE"), "{e}");
    }

    #[test]
    fn the_document_is_generic_and_the_scenario_is_typed() {
        // A document may name any protocol: only the typed check knows a protocol's parts.
        let other = GOOD.replace(
            "{\"name\": \"ping\"}",
            "{\"name\": \"someone-else\", \"params\": {\"x\": 1}}",
        );
        let doc = Document::load("t.json", &other, &[]).unwrap();
        assert_eq!(doc.protocol(), "someone-else");
        let e = Scenario::<Ping>::from_document(doc).unwrap_err();
        assert_eq!(e.message, "this scenario is for someone-else, not ping");
        assert_eq!(e.field.as_deref(), Some("protocol.name"));
        assert_eq!(e.line, Some(4), "{e}");
        // The protocol's parameters and check names are checked against its type, and the
        // errors still point into the text.
        let e = ping(
            &GOOD.replace(
                "{\"name\": \"ping\"}",
                "{\"name\": \"ping\", \"params\": {\"interval\": 5}}",
            ),
            &[],
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("protocol.params.interval"), "{e}");
        assert_eq!(e.line, Some(4), "{e}");
        let e = ping(
            &GOOD.replace(
                "\"limits\"",
                "\"outcome\": {\"fails\": \"no_such_check\"},\n  \"limits\"",
            ),
            &[],
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("outcome.fails"), "{e}");
        assert!(
            e.message.contains("no check named \"no_such_check\""),
            "{e}"
        );
        // More overrides on a loaded scenario are validated again; the text no longer
        // describes the result, so errors have no position.
        let scn = ping(GOOD, &[]).unwrap();
        assert_eq!(scn.with(&["nodes=5".into()]).unwrap().file.nodes, 5);
        let e = scn.with(&["nodes=0".into()]).unwrap_err();
        assert_eq!((e.line, e.field.as_deref()), (None, Some("nodes")), "{e}");
        // Without a swarm, a scenario runs as itself under every seed.
        assert_eq!(scn.for_seed(9).unwrap().json, scn.json);
    }
}
