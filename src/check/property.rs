//! Properties: the two kinds of check a protocol offers to scenarios, and their definitions.
//!
//! - An [`Invariant`] is a pure function of a read-only [`View`] (and, for a "within" check,
//!   of the event that started the obligation). It keeps nothing between calls, so a driver
//!   may evaluate it on any world state, in any order, as often as it likes.
//! - A [`Monitor`] keeps state across steps: it remembers what it saw (every leader of every
//!   epoch, a copy of each log it has checked so far) so that each step costs only what the
//!   step changed. Its state is part of what a run has reached, so it must be cloneable and
//!   hashable with the project's pinned hash ([`MonitorState`], implemented for every
//!   `Clone + Hash` monitor): a driver that explores interleavings clones and fingerprints the
//!   monitors with the world.
//!
//! Measurements that never fail are metrics ([`super::Metric`]), not properties.

use super::{Trigger, View};
use crate::base::hash::StableHasher;
use crate::base::types::NodeId;
use crate::protocol::Protocol;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

/// Why a property does not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What is wrong, in words, naming nodes, terms and indexes.
    pub message: String,
    /// The nodes involved.
    pub nodes: Vec<NodeId>,
}

impl Failure {
    /// A failure involving `nodes`.
    pub fn new(message: impl Into<String>, nodes: Vec<NodeId>) -> Failure {
        Failure {
            message: message.into(),
            nodes,
        }
    }
}

/// A property that is a pure function of the view: no state of its own.
pub trait Invariant<P: Protocol> {
    /// `Ok` if the property holds in this view. `trigger` is the event a "within" obligation
    /// is counted from, and `None` for every other kind.
    fn check(&self, view: &View<'_, P>, trigger: Option<&Trigger>) -> Result<(), Failure>;

    /// Whether a step that touched only a client (`view.touched` is a client) can change
    /// the verdict. `true` unless the invariant says otherwise: one that reads nodes only
    /// (through [`crate::check::library::touched`]) returns `false`, and the runner then
    /// skips it on client steps, which change no node.
    fn sees_clients(&self) -> bool {
        true
    }
}

impl<P: Protocol, F> Invariant<P> for F
where
    F: Fn(&View<'_, P>, Option<&Trigger>) -> Result<(), Failure>,
{
    fn check(&self, view: &View<'_, P>, trigger: Option<&Trigger>) -> Result<(), Failure> {
        self(view, trigger)
    }
}

/// A property that keeps state across steps. Its state must be `Clone + Hash` (see
/// [`MonitorState`]); parameters that are not state (accessors, words for messages) go in a
/// [`Param`], which hashes to nothing.
pub trait Monitor<P: Protocol>: MonitorState<P> {
    /// `Ok` if the property holds after this step, given everything seen before.
    fn check(&mut self, view: &View<'_, P>, trigger: Option<&Trigger>) -> Result<(), Failure>;

    /// Told of every triggering event (crash, restart, heal, ...) as it happens, whatever the
    /// check's kind.
    fn on_trigger(&mut self, trigger: &Trigger) {
        let _ = trigger;
    }

    /// Whether [`Monitor::observe`] must see every step, even while the check itself is not
    /// yet evaluated (an eventually-check before the heal): for monitors that accumulate
    /// what happened (deliveries to an incarnation that later crashed, say).
    fn observes_every_step(&self) -> bool {
        false
    }

    /// Sees one step without judging it (only if [`Monitor::observes_every_step`]).
    fn observe(&mut self, view: &View<'_, P>) {
        let _ = view;
    }

    /// Whether a step that touched only a client can change what the monitor knows or its
    /// verdict. `true` unless the monitor says otherwise: one that reads and remembers only
    /// the nodes a step touched returns `false`, and the runner then skips it on client
    /// steps, which change no node.
    fn sees_clients(&self) -> bool {
        true
    }
}

/// What a driver needs of a monitor's state: a copy, and a fingerprint with the pinned hash.
/// Implemented for every monitor that is `Clone + Hash + 'static`; not meant to be
/// implemented by hand.
pub trait MonitorState<P: Protocol> {
    /// A boxed copy of this monitor, state included.
    fn clone_monitor(&self) -> Box<dyn Monitor<P>>;
    /// Folds the monitor's state into `hasher`.
    fn hash_state(&self, hasher: &mut StableHasher);
}

impl<P: Protocol, T> MonitorState<P> for T
where
    T: Monitor<P> + Clone + Hash + 'static,
{
    fn clone_monitor(&self) -> Box<dyn Monitor<P>> {
        Box::new(self.clone())
    }
    fn hash_state(&self, hasher: &mut StableHasher) {
        self.hash(hasher);
    }
}

impl<P: Protocol> Clone for Box<dyn Monitor<P>> {
    fn clone(&self) -> Self {
        self.clone_monitor()
    }
}

/// A monitor's parameter: copied with it, left out of its hash (an accessor or a word is not
/// state, and a function's address is not stable between builds).
#[derive(Clone, Copy, Debug)]
pub struct Param<T>(pub T);

impl<T> Hash for Param<T> {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

impl<T> std::ops::Deref for Param<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// How a property is evaluated.
pub enum Implementation<P: Protocol> {
    /// A pure function of the view; one instance serves every check made of it.
    Invariant(Rc<dyn Invariant<P>>),
    /// A monitor in its initial state; each check made of it starts from a copy.
    Monitor(Box<dyn Monitor<P>>),
}

impl<P: Protocol> Clone for Implementation<P> {
    fn clone(&self) -> Self {
        match self {
            Implementation::Invariant(i) => Implementation::Invariant(Rc::clone(i)),
            Implementation::Monitor(m) => Implementation::Monitor(m.clone()),
        }
    }
}

/// A property a protocol offers, by name.
#[derive(Clone)]
pub struct PropertyDef<P: Protocol> {
    /// Name used in scenarios.
    pub name: &'static str,
    /// One line on what it asserts.
    pub description: &'static str,
    /// On in every run as an always-check (the protocol's safety invariants).
    pub on_by_default: bool,
    /// How it is evaluated.
    pub implementation: Implementation<P>,
}

impl<P: Protocol> PropertyDef<P> {
    /// A property evaluated as a pure function of the view (a closure or a library
    /// invariant), off unless a scenario expects it.
    pub fn invariant(
        name: &'static str,
        description: &'static str,
        invariant: impl Invariant<P> + 'static,
    ) -> PropertyDef<P> {
        PropertyDef {
            name,
            description,
            on_by_default: false,
            implementation: Implementation::Invariant(Rc::new(invariant)),
        }
    }

    /// A property evaluated by a monitor that starts as `initial` in every run, off unless a
    /// scenario expects it.
    pub fn monitor(
        name: &'static str,
        description: &'static str,
        initial: impl Monitor<P> + 'static,
    ) -> PropertyDef<P> {
        PropertyDef {
            name,
            description,
            on_by_default: false,
            implementation: Implementation::Monitor(Box::new(initial)),
        }
    }

    /// Turns the property on in every run as an always-check (a safety invariant).
    pub fn always(mut self) -> PropertyDef<P> {
        self.on_by_default = true;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::hash::stable_hash;
    use crate::check::library::OneLeaderPerEpoch;
    use crate::check::library::toy::{Script, Toy};
    use crate::check::{Checks, ExpectKind, Expectation};

    /// A monitor whose state a test sets by hand.
    #[derive(Clone, Hash)]
    struct Steps {
        seen: u64,
        label: Param<&'static str>,
    }

    impl Monitor<Toy> for Steps {
        fn check(&mut self, _: &View<'_, Toy>, _: Option<&Trigger>) -> Result<(), Failure> {
            self.seen += 1;
            Ok(())
        }
    }

    fn fingerprint(m: &dyn Monitor<Toy>) -> u64 {
        let mut h = StableHasher::default();
        m.hash_state(&mut h);
        h.finish()
    }

    #[test]
    fn a_monitor_clones_and_hashes_its_state_and_not_its_parameters() {
        let a: Box<dyn Monitor<Toy>> = Box::new(Steps {
            seen: 3,
            label: Param("a"),
        });
        let copy = a.clone();
        assert_eq!(fingerprint(&*a), fingerprint(&*copy));
        assert_eq!(
            fingerprint(&*a),
            stable_hash(&3u64),
            "only the state is hashed"
        );
        let other_label = Steps {
            seen: 3,
            label: Param("b"),
        };
        assert_eq!(fingerprint(&*a), fingerprint(&other_label));
        let further = Steps {
            seen: 4,
            label: Param("a"),
        };
        assert_ne!(fingerprint(&*a), fingerprint(&further));
        // Library monitors are monitors like any other: copied with their accessors.
        let m: Box<dyn Monitor<Toy>> = Box::new(OneLeaderPerEpoch::new(
            "coordinator",
            "epoch",
            |_: &Toy| 0u64,
            |_| false,
        ));
        assert_eq!(fingerprint(&*m), fingerprint(&*m.clone()));
    }

    #[test]
    fn the_runner_hashes_the_monitors_of_its_checks() {
        let expect = |name: &str| Expectation {
            check: name.to_string(),
            kind: ExpectKind::Always,
            at_least: None,
        };
        let hash = |names: &[&str]| {
            let e: Vec<Expectation> = names.iter().map(|n| expect(n)).collect();
            let checks = Checks::<Toy>::new(&Script::default(), &e).unwrap();
            let mut h = StableHasher::default();
            checks.hash_monitors(&mut h);
            h.finish()
        };
        assert_eq!(hash(&["count_monotonic"]), hash(&["count_monotonic"]));
        // Invariants have no state: they add nothing.
        assert_eq!(hash(&["converge"]), hash(&[]));
        assert_ne!(hash(&["count_monotonic"]), hash(&[]));
    }
}
