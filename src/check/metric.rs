//! Metrics: measurements a protocol reports in the run summary (`RunReport.metrics`). A
//! metric sees every step and every triggering event, and never fails: it is not a check, a
//! scenario cannot `expect` it, and it is not listed among a run's checks.

use super::{Trigger, View};
use crate::protocol::Protocol;

/// A measurement of one run.
pub trait Metric<P: Protocol> {
    /// Sees the world after one step.
    fn observe(&mut self, view: &View<'_, P>);

    /// Told of every triggering event (crash, restart, heal, ...) as it happens.
    fn on_trigger(&mut self, trigger: &Trigger) {
        let _ = trigger;
    }

    /// The measurements for the run summary, as (name, value) pairs.
    fn report(&self) -> Vec<(String, serde_json::Value)>;
}

/// A metric a protocol reports in every run with checks on.
pub struct MetricDef<P: Protocol> {
    /// Name, for documentation (the values carry their own names).
    pub name: &'static str,
    /// One line on what it measures.
    pub description: &'static str,
    /// Builds a fresh instance for one run.
    pub make: fn(&P::Config) -> Box<dyn Metric<P>>,
}
