//! The bundled protocols, registered in one place: the `registry!` list below. It builds the
//! name list ([`PROTOCOLS`]) and the name → type dispatch ([`with_protocol`]) from the same
//! line, so adding a protocol is its folder, its scenarios, its `pub mod` line and one line
//! in the list. The modules are declared as plain items, outside the macro, because tools
//! that find source files by following `mod` items without expanding macros (cargo-mutants,
//! see docs/scale.md) would otherwise never see a protocol's files.
//!
//! This is the only place a protocol's type is looked up by the name a scenario gives. The
//! command line uses it ([`with_scenario`] hands a scenario to code generic over the
//! protocol), and so do tests that go over the bundled scenarios of every protocol
//! ([`AnyScenario`]). Everything below the command line (scenarios, runs, sweeps, the
//! harness) is generic over `P: Protocol` and never comes here.

use crate::lin::Op;
use crate::protocol::Protocol;
use crate::scenario::{Document, InputError, Scenario};
use crate::sim::RunReport;
use crate::trace::TraceSink;
use std::ops::Deref;

/// Builds [`PROTOCOLS`] and [`with_protocol`] from one list of `module::Type`.
macro_rules! registry {
    ($($module:ident :: $protocol:ident),+ $(,)?) => {
        /// Names of every bundled protocol, in registry order.
        pub const PROTOCOLS: &[&str] = &[$(<$module::$protocol as Protocol>::NAME),+];

        /// Calls `visitor` with the protocol named `name`, or returns `None` if there is none.
        pub fn with_protocol<V: ProtocolVisitor>(name: &str, visitor: V) -> Option<V::Output> {
            $(
                if name == <$module::$protocol as Protocol>::NAME {
                    return Some(visitor.visit::<$module::$protocol>());
                }
            )+
            None
        }
    };
}

// One module per protocol folder, declared here so that source tools find its files.
pub mod abd;
pub mod dynamo;
pub mod fd;
pub mod gossip;
pub mod lamport;
pub mod lease;
pub mod multipaxos;
pub mod paxos;
pub mod paxoscommit;
pub mod pb;
pub mod ping;
pub mod raft;
pub mod saga;
pub mod twopc;
pub mod wal;

// One line per protocol: `folder::Type`.
registry! {
    ping::Ping,
    fd::Fd,
    raft::Raft,
    abd::Abd,
    paxos::Paxos,
    multipaxos::MultiPaxos,
    pb::Pb,
    lease::Lease,
    twopc::TwoPc,
    saga::Sagas,
    paxoscommit::PaxosCommit,
    dynamo::Dynamo,
    gossip::Gossip,
    lamport::Lamport,
    wal::Wal,
}

/// Something to do with a protocol type picked by name.
pub trait ProtocolVisitor {
    /// What the visit produces.
    type Output;
    /// Called with the protocol type.
    fn visit<P: Protocol>(self) -> Self::Output;
}

/// Something to do with a scenario once its protocol's type is known.
pub trait ScenarioVisitor {
    /// What the visit produces.
    type Output;
    /// Called with the scenario, checked against its protocol's type.
    fn visit<P: Protocol>(self, scn: Scenario<P>) -> Self::Output;
}

/// Checks `doc` against the bundled protocol it names and hands the typed scenario to
/// `visitor`. An unknown name is an error at `protocol.name` that lists the known ones.
pub fn with_scenario<V: ScenarioVisitor>(
    doc: Document,
    visitor: V,
) -> Result<V::Output, InputError> {
    struct Typed<V> {
        doc: Document,
        visitor: V,
    }
    impl<V: ScenarioVisitor> ProtocolVisitor for Typed<V> {
        type Output = Result<V::Output, InputError>;
        fn visit<P: Protocol>(self) -> Self::Output {
            Ok(self.visitor.visit(Scenario::<P>::from_document(self.doc)?))
        }
    }
    if !PROTOCOLS.contains(&doc.protocol()) {
        return Err(doc.error(
            "protocol.name",
            format!(
                "unknown protocol {:?}; expected one of: {}",
                doc.protocol(),
                PROTOCOLS.join(", ")
            ),
        ));
    }
    let name = doc.protocol().to_string();
    with_protocol(&name, Typed { doc, visitor }).expect("the name is in PROTOCOLS")
}

/// A scenario checked against the bundled protocol it names, behind one type: for code that
/// goes over scenarios of every protocol without naming their types (tests, mostly). It
/// derefs to its [`Document`] and runs like a [`Scenario`].
pub struct AnyScenario(Box<dyn Runs>);

/// What an [`AnyScenario`] can do with the typed scenario inside.
trait Runs {
    fn document(&self) -> &Document;
    fn run_keeping(
        &self,
        seed: u64,
        sink: Option<Box<dyn TraceSink>>,
        history: bool,
    ) -> Result<(RunReport, Vec<Op>), InputError>;
}

impl<P: Protocol> Runs for Scenario<P> {
    fn document(&self) -> &Document {
        self
    }
    fn run_keeping(
        &self,
        seed: u64,
        sink: Option<Box<dyn TraceSink>>,
        history: bool,
    ) -> Result<(RunReport, Vec<Op>), InputError> {
        if history {
            self.run_with_history(seed, sink)
        } else {
            Ok((self.run(seed, sink)?, Vec::new()))
        }
    }
}

impl AnyScenario {
    /// Parses and validates scenario `text` from `source` for the protocol it names, with
    /// `overrides` applied.
    pub fn load(source: &str, text: &str, overrides: &[String]) -> Result<Self, InputError> {
        AnyScenario::from_document(Document::load(source, text, overrides)?)
    }

    /// Checks `doc` against the bundled protocol it names.
    pub fn from_document(doc: Document) -> Result<Self, InputError> {
        struct Erase;
        impl ScenarioVisitor for Erase {
            type Output = AnyScenario;
            fn visit<P: Protocol>(self, scn: Scenario<P>) -> AnyScenario {
                AnyScenario(Box::new(scn))
            }
        }
        with_scenario(doc, Erase)
    }

    /// The bundled scenario `name` (`raft/figure-8`), with `overrides` applied.
    pub fn bundled(name: &str, overrides: &[String]) -> Result<Self, InputError> {
        AnyScenario::load(name, crate::scenario::bundled_text(name)?, overrides)
    }

    /// Runs it with `seed` (see [`Scenario::run`]).
    pub fn run(
        &self,
        seed: u64,
        sink: Option<Box<dyn TraceSink>>,
    ) -> Result<RunReport, InputError> {
        Ok(self.0.run_keeping(seed, sink, false)?.0)
    }

    /// Runs it with `seed` and returns the client history too (see
    /// [`Scenario::run_with_history`]).
    pub fn run_with_history(
        &self,
        seed: u64,
        sink: Option<Box<dyn TraceSink>>,
    ) -> Result<(RunReport, Vec<Op>), InputError> {
        self.0.run_keeping(seed, sink, true)
    }
}

impl Deref for AnyScenario {
    type Target = Document;
    fn deref(&self) -> &Document {
        self.0.document()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_each_finds_its_own_type() {
        struct Name;
        impl ProtocolVisitor for Name {
            type Output = &'static str;
            fn visit<P: Protocol>(self) -> &'static str {
                P::NAME
            }
        }
        for (i, name) in PROTOCOLS.iter().enumerate() {
            assert!(!PROTOCOLS[..i].contains(name), "{name} is registered twice");
            assert_eq!(with_protocol(name, Name), Some(*name));
        }
        assert_eq!(with_protocol("no-such-protocol", Name), None);
    }

    #[test]
    fn an_unknown_protocol_is_named_at_its_field() {
        let text = crate::scenario::bundled("ping/basic")
            .unwrap()
            .replace("\"ping\"", "\"pong\"");
        let e = AnyScenario::load("t.json", &text, &[]).err().unwrap();
        assert_eq!(e.field.as_deref(), Some("protocol.name"), "{e}");
        assert!(e.line.is_some(), "{e}");
        assert_eq!(
            e.message,
            format!(
                "unknown protocol \"pong\"; expected one of: {}",
                PROTOCOLS.join(", ")
            )
        );
        let scn = AnyScenario::bundled("fd/stable", &[]).unwrap();
        assert_eq!(scn.protocol(), "fd");
    }
}
