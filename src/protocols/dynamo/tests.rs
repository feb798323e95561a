//! The store's nodes with the scripted driver, and its parameters' bounds.

use super::{Config, Dynamo, Request, Response};
use crate::base::types::{ClientId, NodeId};
use crate::protocol::{RequestId, VClock};
use crate::script::Script;
use crate::sim::SimConfig;
use crate::trace::Payload;

fn script(config: Config, nodes: u32) -> Script<Dynamo> {
    let mut c = SimConfig::<Dynamo>::new(nodes, 1);
    c.protocol = config;
    c.workload.clients = 1;
    let mut s = Script::from_config(c, None).unwrap();
    s.start_all().unwrap();
    s
}

/// The answers in flight to the client, in the order they were sent.
fn answers(s: &Script<Dynamo>) -> Vec<Response> {
    s.messages()
        .iter()
        .filter_map(|e| match e.payload {
            Payload::Response { body, .. } => Some(body.clone()),
            _ => None,
        })
        .collect()
}

/// Delivers rounds of messages between nodes (and requests to them) until none is left,
/// keeping the answers to clients in flight for [`answers`].
fn settle(s: &mut Script<Dynamo>) {
    for _ in 0..100 {
        let n = s
            .deliver_where(|e| !matches!(e.payload, Payload::Response { .. }))
            .unwrap();
        if n == 0 {
            return;
        }
    }
    panic!("not quiet after 100 rounds");
}

fn put(key: &str, value: i64, context: VClock) -> Request {
    Request::Put {
        key: key.into(),
        value,
        context,
        checked: false,
    }
}

#[test]
fn a_write_at_the_first_replica_is_stored_on_every_replica_and_read_back() {
    let mut s = script(Config::default(), 5);
    let walk = s.node(NodeId(0)).unwrap().ring().preference_list("k1", 3);
    let first = walk[0];
    s.request(
        ClientId(0),
        first,
        RequestId(1),
        put("k1", 7, VClock::new()),
    )
    .unwrap();
    settle(&mut s);
    for &r in &walk {
        assert_eq!(s.node(r).unwrap().data_of("k1").values(), [7], "{r}");
    }
    let stored = answers(&s);
    assert!(
        matches!(stored.as_slice(), [Response::Stored { clock }] if clock.get(first) == 1),
        "{stored:?}"
    );
}

#[test]
fn a_node_that_is_not_a_replica_redirects_to_the_first() {
    let mut s = script(Config::default(), 5);
    let ring = s.node(NodeId(0)).unwrap().ring().clone();
    let walk = ring.preference_list("k2", 3);
    let other = (0..5).map(NodeId).find(|n| !walk.contains(n)).unwrap();
    s.request(
        ClientId(0),
        other,
        RequestId(1),
        Request::Get {
            key: "k2".into(),
            checked: false,
        },
    )
    .unwrap();
    settle(&mut s);
    assert_eq!(answers(&s), [Response::Redirect(walk[0])]);
}

#[test]
fn concurrent_writes_are_kept_as_siblings_and_a_write_with_their_context_replaces_them() {
    let mut s = script(Config::default(), 3);
    let walk = s.node(NodeId(0)).unwrap().ring().preference_list("k0", 3);
    // Two replicas coordinate a write each from the empty context: concurrent.
    s.request(
        ClientId(0),
        walk[0],
        RequestId(1),
        put("k0", 1, VClock::new()),
    )
    .unwrap();
    s.request(
        ClientId(0),
        walk[1],
        RequestId(2),
        put("k0", 2, VClock::new()),
    )
    .unwrap();
    settle(&mut s);
    let held = s.node(walk[2]).unwrap().data_of("k0");
    assert_eq!(held.values(), [1, 2]);
    s.request(
        ClientId(0),
        walk[0],
        RequestId(3),
        put("k0", 3, held.context()),
    )
    .unwrap();
    settle(&mut s);
    for &r in &walk {
        assert_eq!(s.node(r).unwrap().data_of("k0").values(), [3], "{r}");
    }
}

/// A scenario for the store on `nodes` nodes with these parameters, loaded as the command
/// line does.
fn load(nodes: u32, params: &str) -> Result<(), crate::scenario::InputError> {
    let text = format!(
        r#"{{"schema": 1, "description": "bounds", "protocol": {{"name": "dynamo", "params": {params}}}, "nodes": {nodes}, "limits": {{"time_ms": 100}}}}"#
    );
    crate::scenario::load::<Dynamo>("bounds.json", &text, &[]).map(drop)
}

#[test]
fn parameters_are_checked_against_the_cluster_at_load() {
    load(5, r#"{"replicas": 3, "read_quorum": 1, "write_quorum": 3}"#).unwrap();
    load(5, r#"{"leave": {"n5": 2500}, "join": {"n4": 100}}"#).unwrap();
    for (params, field) in [
        (r#"{"replicas": 6}"#, "replicas"),
        (r#"{"read_quorum": 4}"#, "read_quorum"),
        (r#"{"write_quorum": 0}"#, "write_quorum"),
        (r#"{"vnodes": 1000}"#, "vnodes"),
        (r#"{"keys": 17}"#, "keys"),
        (r#"{"ae_ms": 0}"#, "ae_ms"),
        (r#"{"leave": {"n9": 10}}"#, "leave"),
        (r#"{"join": {"n2": 18446744073709551615}}"#, "join"),
    ] {
        let e = load(5, params).unwrap_err();
        assert_eq!(
            e.field.as_deref(),
            Some(format!("protocol.params.{field}").as_str()),
            "{params}: {e}"
        );
    }
}
