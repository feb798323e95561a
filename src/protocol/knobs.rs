//! What a protocol tells the swarm about itself beyond its words: which of its parameters are
//! safe to vary per seed, and within which range ([`Knob`]), and what progress it owes after
//! the heal, within a budget that is a formula of its own timeouts ([`Liveness`]).
//!
//! A knob is safe to vary when every value in its range makes a correct protocol: the swarm
//! draws each seed's value, and a failure under any of them is a finding. A protocol declares
//! its knobs in [`Protocol::knobs`] and its liveness duty in [`Protocol::liveness`], in its own
//! folder; a swarm scenario opts in with `"knobs": true` and `"liveness": true`.
//!
//! [`Protocol::knobs`]: super::Protocol::knobs
//! [`Protocol::liveness`]: super::Protocol::liveness

use crate::base::types::Time;

/// The values a knob may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KnobValues {
    /// One of these (JSON values of the parameter's type); a value listed twice is drawn
    /// twice as often.
    OneOf(Vec<serde_json::Value>),
    /// A whole number between the two, both included.
    Between(u64, u64),
}

/// One protocol parameter the swarm may vary per seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Knob {
    /// The field of `protocol.params` it sets (top level).
    pub param: &'static str,
    /// The values it may take.
    pub values: KnobValues,
}

impl Knob {
    /// A knob that takes one of `values`.
    pub fn one_of(param: &'static str, values: &[serde_json::Value]) -> Knob {
        assert!(!values.is_empty(), "knob {param} lists no value");
        Knob {
            param,
            values: KnobValues::OneOf(values.to_vec()),
        }
    }

    /// A knob that takes `false` or `true`, each half the time.
    pub fn switch(param: &'static str) -> Knob {
        Knob::one_of(param, &[false.into(), true.into()])
    }

    /// A knob that takes a whole number from `lo` to `hi`.
    pub fn between(param: &'static str, lo: u64, hi: u64) -> Knob {
        assert!(lo <= hi, "knob {param}: {lo} > {hi}");
        Knob {
            param,
            values: KnobValues::Between(lo, hi),
        }
    }

    /// The values at the ends of its range (every listed value for a list), which a
    /// protocol's tests parse to show that its declared ranges are valid parameters.
    pub fn extremes(&self) -> Vec<serde_json::Value> {
        match &self.values {
            KnobValues::OneOf(v) => v.clone(),
            KnobValues::Between(lo, hi) => vec![(*lo).into(), (*hi).into()],
        }
    }
}

/// One check a protocol owes after the heal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveCheck {
    /// The check's name (one of the protocol's properties, or a built-in check).
    pub check: &'static str,
    /// Once it holds it must keep holding to the end of the run (`eventually` with `stays`).
    pub stays: bool,
    /// It must hold within this long after the heal.
    pub budget: Time,
    /// How the budget follows from the parameters, in words (`10 × election_ms_max`), for
    /// the docs and the failure message's reader.
    pub formula: String,
}

/// What progress a protocol owes after the heal: the checks that must come true within their
/// budgets, so that a cluster that is alive but useless (electing forever, never answering)
/// fails. [`Protocol::liveness`](super::Protocol::liveness) builds it from a configuration,
/// since the budgets are formulas of the protocol's own timeouts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Liveness {
    /// The checks, in the order they are added to a scenario.
    pub checks: Vec<LiveCheck>,
}

impl Liveness {
    /// Adds a check that must hold within `budget` (by `formula`) after the heal and, when
    /// `stays`, keep holding.
    pub fn within(
        mut self,
        check: &'static str,
        stays: bool,
        budget: Time,
        formula: impl Into<String>,
    ) -> Liveness {
        self.checks.push(LiveCheck {
            check,
            stays,
            budget,
            formula: formula.into(),
        });
        self
    }
}
