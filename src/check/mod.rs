//! Checks: properties a protocol offers, the read-only [`View`] they look at, and the runner
//! that evaluates them by kind.
//!
//! A property is a predicate over the whole simulated world. What makes it a safety or a
//! liveness check is its *kind*, chosen by the protocol (its default invariants) or by the
//! scenario (`expect`):
//! - **always**: must hold after every step; the first step where it fails ends the run.
//! - **eventually**: must hold at some step after the heal (the liveness phase), within the
//!   scenario's liveness budget, or by the end of the run if there is no budget.
//! - **within T after an event**: each time the triggering event happens (a crash, a restart,
//!   a heal, ...), the property, told which event it was, must hold within T of it.
//! - **sometimes**: must hold at least once in the run, so that a run which never reached
//!   the interesting case cannot pass vacuously.
//!
//! Must not import the engine's internals beyond the read-only node host view; never prints.

mod builtin;
mod finding;
mod property;
mod runner;
mod view;

pub use builtin::BUILTIN_CHECKS;
pub use finding::{CheckEvent, CheckReport, FailureClass, Finding};
pub use property::{ExpectKind, Expectation, Failure, Property, PropertyDef, Trigger, TriggerKind};
pub use runner::Checks;
pub use view::{Phase, Status, View};
