//! ABD's nodes, message by message, with the scripted driver: what a node keeps, what it
//! syncs before it answers, and what a crash takes away when it does not.

use super::{Abd, Config, Request, Response, Tag, Tagged};
use crate::base::types::{ClientId, NodeId};
use crate::protocol::RequestId;
use crate::script::{Script, ScriptError};
use crate::sim::SimConfig;
use crate::trace::Payload;

fn script(config: Config) -> Script<Abd> {
    let mut c = SimConfig::<Abd>::new(3, 1);
    c.protocol = config;
    c.workload.clients = 1;
    let mut s = Script::from_config(c, None).unwrap();
    s.start_all().unwrap();
    s
}

fn tagged(counter: u64, value: i64) -> Tagged {
    Tagged {
        tag: Tag { counter, writer: 7 },
        value: Some(value),
    }
}

fn store(s: &mut Script<Abd>, to: u32, id: u64, put: Tagged) -> Result<(), ScriptError> {
    s.request(ClientId(0), NodeId(to), RequestId(id), Request::Store(put))?;
    s.deliver_all().map(drop)
}

/// The answers in flight to the client, in the order they were sent.
fn answers(s: &Script<Abd>) -> Vec<Response> {
    s.messages()
        .iter()
        .filter_map(|e| match e.payload {
            Payload::Response { body, .. } => Some(body.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_node_keeps_a_higher_tag_synced_before_it_answers() {
    let mut s = script(Config::default());
    store(&mut s, 0, 1, tagged(1, 10)).unwrap();
    assert_eq!(s.node(NodeId(0)).unwrap().held(), &tagged(1, 10));
    let synced = s.world().hosts()[0].store().synced_cell("register");
    assert_eq!(synced, Some(&tagged(1, 10)), "durable before the answer");
    assert_eq!(answers(&s), [Response::Stored(tagged(1, 10).tag)]);
}

#[test]
fn a_lower_tag_is_acknowledged_but_not_kept() {
    let mut s = script(Config::default());
    store(&mut s, 0, 1, tagged(2, 20)).unwrap();
    s.deliver_all().unwrap(); // the answer goes to the client
    store(&mut s, 0, 2, tagged(1, 10)).unwrap();
    assert_eq!(s.node(NodeId(0)).unwrap().held(), &tagged(2, 20));
    // Stored(tag) means "I hold this tag or a higher one": a later query sees it.
    assert_eq!(answers(&s), [Response::Stored(tagged(1, 10).tag)]);
    s.deliver_all().unwrap();
    s.request(ClientId(0), NodeId(0), RequestId(3), Request::Query)
        .unwrap();
    s.deliver_all().unwrap();
    assert_eq!(answers(&s), [Response::Holding(tagged(2, 20))]);
}

#[test]
fn a_restarted_node_holds_what_it_synced() {
    let mut s = script(Config::default());
    store(&mut s, 1, 1, tagged(3, 30)).unwrap();
    s.crash(NodeId(1)).unwrap();
    s.restart(NodeId(1)).unwrap();
    assert_eq!(s.node(NodeId(1)).unwrap().held(), &tagged(3, 30));
}

#[test]
fn without_the_sync_a_crash_takes_an_acknowledged_tag_back() {
    let mut config = Config::default();
    config.bugs.skip_sync = true;
    let mut s = script(config);
    store(&mut s, 1, 1, tagged(3, 30)).unwrap();
    assert_eq!(
        answers(&s),
        [Response::Stored(tagged(3, 30).tag)],
        "acknowledged"
    );
    s.crash(NodeId(1)).unwrap();
    let err = s.restart(NodeId(1)).unwrap_err();
    let ScriptError::Failed(f) = err else {
        panic!("{err}")
    };
    assert_eq!(f.check, "tag_never_goes_back");
    assert!(f.message.contains("n2"), "{}", f.message);
}

/// A scenario for ABD on `nodes` nodes with these parameters, loaded as the command line does.
fn load(nodes: u32, params: &str) -> Result<(), crate::scenario::InputError> {
    let text = format!(
        r#"{{"schema": 1, "description": "quorum sizes", "protocol": {{"name": "abd", "params": {params}}}, "nodes": {nodes}, "limits": {{"time_ms": 100}}}}"#
    );
    crate::scenario::load::<Abd>("quorums.json", &text, &[]).map(drop)
}

#[test]
fn quorum_sizes_are_checked_against_the_cluster_at_load() {
    load(5, r#"{"read_quorum": 2, "write_quorum": 4}"#).unwrap();
    load(5, r#"{"read_quorum": 5, "write_quorum": 1}"#).unwrap();
    // R + W ≤ N is a lesson, not an input error (abd/small-quorums).
    load(5, r#"{"read_quorum": 2, "write_quorum": 2}"#).unwrap();
    let e = load(5, r#"{"read_quorum": 6}"#).unwrap_err();
    assert_eq!(
        e.field.as_deref(),
        Some("protocol.params.read_quorum"),
        "{e}"
    );
    assert!(e.message.contains("cluster of 5"), "{e}");
    let e = load(3, r#"{"write_quorum": 4}"#).unwrap_err();
    assert_eq!(
        e.field.as_deref(),
        Some("protocol.params.write_quorum"),
        "{e}"
    );
    let e = load(3, r#"{"write_quorum": -1}"#).unwrap_err();
    assert_eq!(
        e.field.as_deref(),
        Some("protocol.params.write_quorum"),
        "{e}"
    );
}

#[test]
fn majority_is_the_default_quorum() {
    let c = Config::default();
    assert_eq!((c.read_quorum_of(5), c.write_quorum_of(5)), (3, 3));
    assert_eq!((c.read_quorum_of(4), c.write_quorum_of(4)), (3, 3));
    let c = Config {
        read_quorum: 2,
        write_quorum: 4,
        ..Config::default()
    };
    assert_eq!((c.read_quorum_of(5), c.write_quorum_of(5)), (2, 4));
}
