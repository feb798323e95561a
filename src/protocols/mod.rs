//! The list of bundled protocols: the one place that maps a scenario's protocol name to a
//! concrete type. Adding a protocol means adding its file and one line here.

use crate::protocol::Protocol;

pub mod fd;
pub mod ping;
pub mod raft;

/// Something to do with a protocol type picked by name.
pub trait ProtocolVisitor {
    /// What the visit produces.
    type Output;
    /// Called with the protocol type.
    fn visit<P: Protocol>(self) -> Self::Output;
}

/// Names of every bundled protocol.
pub const PROTOCOLS: &[&str] = &[ping::Ping::NAME, fd::Fd::NAME, raft::Raft::NAME];

/// Calls `visitor` with the protocol named `name`, or returns `None` if there is none.
pub fn with_protocol<V: ProtocolVisitor>(name: &str, visitor: V) -> Option<V::Output> {
    match name {
        "ping" => Some(visitor.visit::<ping::Ping>()),
        "fd" => Some(visitor.visit::<fd::Fd>()),
        "raft" => Some(visitor.visit::<raft::Raft>()),
        _ => None,
    }
}
