//! Lamport's mutual exclusion's checks: `mutual_exclusion` (always), `requests_granted`
//! (after the heal), and the check library's monotonic counter over each node's grants. The
//! clock service's `happens_before` is built in.

use super::Lamport;
use crate::protocol::library::Monotonic;
use crate::protocol::{Failure, Monitor, NodeId, PropertyDef, Time, Trigger, View};

// What the checks read of a node: oracle code, kept beside the checks.
impl Lamport {
    /// Whether the node is in the critical section.
    pub fn inside(&self) -> bool {
        self.inside
    }
    /// Its own request's timestamp, while it has one.
    pub fn request(&self) -> Option<u64> {
        self.mine.map(|m| m.0)
    }
    /// Times it entered.
    pub fn grants(&self) -> u64 {
        self.grants
    }
}

pub(super) fn properties() -> Vec<PropertyDef<Lamport>> {
    vec![
        PropertyDef::invariant(
            "mutual_exclusion",
            "at most one node is in the critical section",
            mutual_exclusion,
        )
        .always(),
        PropertyDef::monitor(
            "grants_never_go_back",
            "a node's count of entries never decreases (no crashes: it is volatile)",
            Monotonic::volatile("grants", |l: &Lamport| l.grants),
        )
        .always(),
        PropertyDef::monitor(
            "requests_granted",
            "every node waiting for the critical section at the heal has entered since (use as `eventually`)",
            Granted::default(),
        ),
    ]
}

/// At most one node inside.
fn mutual_exclusion(view: &View<'_, Lamport>, _: Option<&Trigger>) -> Result<(), Failure> {
    let inside: Vec<NodeId> = view
        .nodes()
        .filter(|&n| view.node(n).is_some_and(Lamport::inside))
        .collect();
    if inside.len() > 1 {
        let stamps: Vec<String> = inside
            .iter()
            .map(|&n| {
                let ts = view.node(n).and_then(Lamport::request).unwrap_or(0);
                format!("{n} (request {ts})")
            })
            .collect();
        return Err(Failure::new(
            format!(
                "{} nodes are in the critical section at once: {}",
                inside.len(),
                stamps.join(", ")
            ),
            inside,
        ));
    }
    Ok(())
}

/// After the heal: every node that was waiting at the heal has entered since.
#[derive(Clone, Debug, Default, Hash)]
struct Granted {
    /// The heal judged, and each waiting node's entries at that time.
    baseline: Option<(Time, Vec<(NodeId, u64)>)>,
}

impl Monitor<Lamport> for Granted {
    fn check(&mut self, view: &View<'_, Lamport>, _: Option<&Trigger>) -> Result<(), Failure> {
        let Some(healed) = view.healed_at else {
            return Err(Failure::new("no heal yet", vec![]));
        };
        if self.baseline.as_ref().is_none_or(|(at, _)| *at != healed) {
            let waiting = view
                .nodes()
                .filter_map(|n| {
                    let l = view.node(n)?;
                    (l.request().is_some() && !l.inside()).then_some((n, l.grants()))
                })
                .collect();
            self.baseline = Some((healed, waiting));
        }
        let Some((_, waiting)) = &self.baseline else {
            unreachable!("set above");
        };
        let behind: Vec<NodeId> = waiting
            .iter()
            .filter(|&&(n, g)| view.node(n).is_none_or(|l| l.grants() <= g))
            .map(|&(n, _)| n)
            .collect();
        if behind.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = behind.iter().map(ToString::to_string).collect();
        Err(Failure::new(
            format!(
                "{} waited for the critical section at the heal ({healed}) and has not entered since",
                names.join(", ")
            ),
            behind,
        ))
    }
}
