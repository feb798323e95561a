//! Checks: the properties a protocol offers, the read-only [`View`] they look at, the runner
//! that evaluates them by kind, the metrics that measure a run, and a library of reusable
//! properties.
//!
//! A property is evaluated in one of two ways:
//! - an [`Invariant`] is a pure function of the view, with no state of its own;
//! - a [`Monitor`] keeps state across steps (past leaders, what it already checked of each
//!   log), cloneable and hashable so a driver can copy and fingerprint it with the world.
//!
//! What makes a property a safety or a liveness check is its *kind*, chosen by the protocol
//! (the properties it turns on by default are always-checks) or by the scenario (`expect`),
//! and it applies to invariants and monitors alike:
//! - **always**: must hold after every step; the first step where it fails ends the run.
//! - **eventually**: must hold at some step after the heal (the liveness phase), within the
//!   scenario's liveness budget, or by the end of the run if there is no budget.
//! - **within T after an event**: each time the triggering event happens (a crash, a restart,
//!   a heal, ...), the property, told which event it was, must hold within T of it.
//! - **sometimes**: must hold at least once in the run, so that a run which never reached
//!   the interesting case cannot pass vacuously.
//!
//! A **metric** ([`Metric`]) is none of these: it measures, is reported in the summary and
//! never fails.
//!
//! Must not change the world (it reads node hosts through the read-only view); never prints.

mod builtin;
mod expect;
mod finding;
pub mod library;
mod metric;
mod property;
mod recovery;
mod runner;
mod view;

pub use builtin::BUILTIN_CHECKS;
pub use expect::{ExpectKind, Expectation, MetricBound, NoteMatch, Trigger, TriggerKind};
pub use finding::{CheckEvent, CheckReport, FailureClass, Finding};
pub use metric::{Metric, MetricDef, StoreTally, metric_value, ratio, reported_name};
pub use property::{Failure, Implementation, Invariant, Monitor, MonitorState, Param, PropertyDef};
pub use recovery::{Recovery, RecoveryAggregate, RecoveryReport, median};
pub use runner::Checks;
pub use view::{Phase, Status, View};
