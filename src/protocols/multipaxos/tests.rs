//! Multi-Paxos unit tests: its declared knobs are valid parameters, and the parameters and
//! bug switches read from a scenario as documented.

use super::{Bugs, Config, MultiPaxos};
use crate::protocol::Protocol;

#[test]
fn every_knob_extreme_is_a_valid_parameter() {
    for knob in MultiPaxos::knobs() {
        for value in knob.extremes() {
            let mut params = serde_json::to_value(Config::default()).unwrap();
            params[knob.param] = value.clone();
            let c: Config = serde_json::from_value(params)
                .unwrap_or_else(|e| panic!("{} = {value}: {e}", knob.param));
            assert!(
                c.heartbeat_ms < c.election_ms_min,
                "{} = {value}",
                knob.param
            );
            assert!(
                c.election_ms_min < c.election_ms_max,
                "{} = {value}",
                knob.param
            );
        }
    }
}

#[test]
fn backoff_is_a_parameter_and_on_by_default() {
    let c = Config::default();
    assert!(c.backoff);
    assert_eq!(c.bugs, Bugs::default());
    let off: Config = serde_json::from_str(r#"{"backoff": false}"#).unwrap();
    assert!(!off.backoff);
    assert!(serde_json::from_str::<Config>(r#"{"bugs": {"no_such": true}}"#).is_err());
}
