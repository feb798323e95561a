//! The replicated key-value service: what a client asks ([`Op`]), what it is answered
//! ([`Answer`]), what a replicated log carries ([`Command`]), the state machine with its
//! client sessions ([`KvService`]), the leader's table of clients waiting for the log
//! ([`Waiting`]), the workload that exercises it ([`KvGenerator`]) and how its operations read
//! in the key-value history model and which check judges the history ([`history_call`],
//! [`history_value`], [`history_check`]).
//!
//! A protocol that replicates the service (Raft today; Multi-Paxos, primary-backup and a
//! checkpoint + WAL store next) sets `type Request = Op`, `type Response = Answer` and
//! `type Client = Driver<Self, KvGenerator>`, puts `Command`s in its log, applies them in log
//! order through a `KvService`, and serves leader reads from it. It gets the workload, the
//! history mapping and the linearizability check against the key-value model for free.
//!
//! Owns the service's data types and rules; knows nothing of logs, terms, leaders or any one
//! protocol. Must not import anything but the protocol API and the kit.

mod service;
mod workload;

pub use service::{KvService, Seen, Waiting};
pub use workload::{KvGenerator, KvMix, KvWorkload};

use crate::protocol::{
    ClientId, HistoryCall, HistoryCheck, Linearizable, ModelKind, NodeId, RequestId, Val,
};
use serde::Serialize;

/// A client operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Read a key.
    Get {
        /// Key.
        key: String,
    },
    /// Overwrite a key.
    Put {
        /// Key.
        key: String,
        /// New value.
        value: String,
    },
    /// Append to a key's value.
    Append {
        /// Key.
        key: String,
        /// Suffix.
        value: String,
    },
}

impl Op {
    /// The key the operation touches.
    pub fn key(&self) -> &str {
        match self {
            Op::Get { key } | Op::Put { key, .. } | Op::Append { key, .. } => key,
        }
    }

    /// Whether the operation only reads.
    pub fn is_read(&self) -> bool {
        matches!(self, Op::Get { .. })
    }

    /// Bytes of key and value the operation carries, for a protocol's record sizes.
    pub fn payload_bytes(&self) -> u64 {
        match self {
            Op::Get { key } => key.len() as u64,
            Op::Put { key, value } | Op::Append { key, value } => (key.len() + value.len()) as u64,
        }
    }
}

/// An answer to a client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Done; for a get, the value read (`None`: the key is absent).
    Ok {
        /// The value read, for gets.
        value: Option<String>,
    },
    /// This node is not the leader (primary, coordinator); try the hinted one.
    NotLeader {
        /// The leader this node knows of.
        hint: Option<NodeId>,
    },
}

impl Answer {
    /// Whether this answer is service (for the recovery metrics): a result, not a redirect.
    pub fn is_service(&self) -> bool {
        matches!(self, Answer::Ok { .. })
    }
}

/// A client command as a replicated log carries it: who asked, under which request id, what.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Command {
    /// The client.
    pub client: ClientId,
    /// Its request id (the same across retries).
    pub id: RequestId,
    /// The operation.
    pub op: Op,
}

/// The check of a key-value run's client history: linearizability against the key-value
/// model, key by key (what a protocol returns from `Protocol::history_check`).
pub fn history_check() -> Box<dyn HistoryCheck> {
    Box::new(Linearizable(ModelKind::Kv))
}

/// An operation as the key-value history model reads it: function, key and argument.
pub fn history_call(op: &Op) -> Option<HistoryCall> {
    Some(match op {
        Op::Get { key } => HistoryCall {
            f: "get",
            key: Some(key.clone()),
            value: Val::Nil,
        },
        Op::Put { key, value } => HistoryCall {
            f: "put",
            key: Some(key.clone()),
            value: Val::Str(value.clone()),
        },
        Op::Append { key, value } => HistoryCall {
            f: "append",
            key: Some(key.clone()),
            value: Val::Str(value.clone()),
        },
    })
}

/// A completed operation's result as the key-value model reads it: the value a get
/// returned, `Val::Nil` for anything else.
pub fn history_value(answer: &Answer) -> Val {
    match answer {
        Answer::Ok { value: Some(v) } => Val::Str(v.clone()),
        _ => Val::Nil,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_map_to_the_model_calls() {
        let put = Op::Put {
            key: "k1".into(),
            value: "c0.1".into(),
        };
        let call = history_call(&put).expect("every operation is checked");
        assert_eq!(
            (call.f, call.key.as_deref(), call.value),
            ("put", Some("k1"), Val::Str("c0.1".into()))
        );
        let get = history_call(&Op::Get { key: "k2".into() }).expect("checked");
        assert_eq!((get.f, get.value), ("get", Val::Nil));
        assert_eq!(
            history_value(&Answer::Ok {
                value: Some("x".into())
            }),
            Val::Str("x".into())
        );
        assert_eq!(history_value(&Answer::Ok { value: None }), Val::Nil);
        assert_eq!(
            history_value(&Answer::NotLeader {
                hint: Some(NodeId(1))
            }),
            Val::Nil
        );
    }

    #[test]
    fn wire_names_are_the_documented_ones() {
        // Traces and exports show requests and answers by these names.
        let op = Op::Append {
            key: "k0".into(),
            value: "v".into(),
        };
        assert_eq!(
            serde_json::to_string(&op).expect("serializable"),
            r#"{"append":{"key":"k0","value":"v"}}"#
        );
        let answer = Answer::NotLeader { hint: None };
        assert_eq!(
            serde_json::to_string(&answer).expect("serializable"),
            r#"{"not_leader":{"hint":null}}"#
        );
        assert_eq!(op.key(), "k0");
        assert!(!op.is_read());
        assert_eq!(op.payload_bytes(), 3);
    }
}
