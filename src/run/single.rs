//! One run of a scenario: the scenario as it runs under a seed (a swarm resolved), its typed
//! configuration, one [`Simulation`], and what came of it.
//!
//! These are methods of [`Scenario<P>`] defined here, beside the sweep and the shrinker that
//! call them, so that the scenario module itself never runs anything. Must not read files,
//! the environment or the clock, and must not print.

use crate::protocol::Protocol;
use crate::scenario::{InputError, Scenario};
use crate::sim::{Order, RunReport, Simulation};
use crate::trace::TraceSink;
use std::collections::BTreeSet;

impl<P: Protocol> Scenario<P> {
    /// Runs this scenario with `seed`, streaming the trace to `sink` if given.
    pub fn run(
        &self,
        seed: u64,
        sink: Option<Box<dyn TraceSink>>,
    ) -> Result<RunReport, InputError> {
        Ok(self.run_keeping(seed, sink, false)?.0)
    }

    /// Like [`Scenario::run`], and also returns the client history as the linearizability
    /// checker reads it (empty for protocols without a history model).
    pub fn run_with_history(
        &self,
        seed: u64,
        sink: Option<Box<dyn TraceSink>>,
    ) -> Result<(RunReport, Vec<crate::lin::Op>), InputError> {
        self.run_keeping(seed, sink, true)
    }

    fn run_keeping(
        &self,
        seed: u64,
        sink: Option<Box<dyn TraceSink>>,
        history: bool,
    ) -> Result<(RunReport, Vec<crate::lin::Op>), InputError> {
        let config = self.for_seed(seed)?.config(seed)?;
        let mut sim = self.simulation(config, sink)?;
        let report = sim.run();
        let ops = if history {
            sim.history_ops()
        } else {
            Vec::new()
        };
        Ok((report, ops))
    }
}

impl<P: Protocol> Scenario<P> {
    /// The simulation of `config`; an expectation the engine refuses is bad input in this
    /// scenario's `expect` field.
    fn simulation(
        &self,
        config: crate::sim::SimConfig<P>,
        sink: Option<Box<dyn TraceSink>>,
    ) -> Result<Simulation<P>, InputError> {
        Simulation::<P>::new(config, sink).map_err(|message| InputError {
            file: self.source.clone(),
            line: None,
            column: None,
            field: Some("expect".to_string()),
            message,
        })
    }
}

impl<P: Protocol> Scenario<P> {
    /// Runs this scenario with `seed` and no trace, collecting coverage over the protocol's
    /// vocabulary: the features of [`crate::sim::Coverage`] and `sometimes CHECK` for each
    /// sometimes-check that held. Also returns the delivery order the run followed. The run
    /// itself is the same as [`Scenario::run`]'s.
    pub fn run_covered(
        &self,
        seed: u64,
    ) -> Result<(RunReport, BTreeSet<String>, Order), InputError> {
        let mut config = self.for_seed(seed)?.config(seed)?;
        config.coverage = true;
        let mut sim = self.simulation(config, None)?;
        let report = sim.run();
        let mut features = sim.coverage().unwrap_or_default();
        for c in &report.checks {
            if c.kind == "sometimes" && c.status.starts_with("held") {
                features.insert(format!("sometimes {}", c.check));
            }
        }
        Ok((report, features, sim.order()))
    }
}
