//! Gossip's unit tests: how requests read as history operations, and what a replica answers.

use super::{Config, DataType, Gossip, Replica, Request, Response};
use crate::protocol::{Protocol, Val};

#[test]
fn decrements_read_as_negative_increments_and_reads_as_values() {
    let call = |r: &Request| Gossip::history_call(r).map(|c| (c.f, c.value));
    assert_eq!(call(&Request::Decr(2)), Some(("incr", Val::Int(-2))));
    assert_eq!(call(&Request::Add(5)), Some(("add", Val::Int(5))));
    assert_eq!(
        Gossip::history_value(&Response::Elements(vec![1, 2])),
        Val::List(vec![Val::Int(1), Val::Int(2)])
    );
    assert_eq!(Gossip::history_value(&Response::Register(None)), Val::Nil);
}

#[test]
fn every_data_type_starts_empty() {
    for (t, empty) in [
        (DataType::GSet, Response::Elements(vec![])),
        (DataType::GCounter, Response::Count(0)),
        (DataType::PnCounter, Response::Count(0)),
        (DataType::OrSet, Response::Elements(vec![])),
        (DataType::Lww, Response::Register(None)),
    ] {
        let config = Config {
            data_type: t,
            ..Config::default()
        };
        assert_eq!(Replica::new(&config).read(), empty);
    }
}
