//! The lease protocol's checks, its metrics, and the accessors only they read. Safety sits
//! where fencing puts it, on the resource's side (`fenced_writes`, the check library's
//! `Fenced`); the grantor's tokens are judged with the library too (`one_holder_per_token`,
//! `token_never_goes_back`). `lease_exclusive` judges the holders themselves, in true time:
//! it is what clock faults and pauses break, so it is off unless a scenario turns it on.

use super::{GRANTOR, Lease, Part, RESOURCE};
use crate::protocol::library::{Fenced, Monotonic, OneLeaderPerEpoch, touched};
use crate::protocol::{
    Failure, Metric, MetricDef, Monitor, NodeId, PropertyDef, Time, Trigger, View,
};
use std::collections::BTreeMap;

// What the checks read of a node: oracle code, kept beside the checks (docs/scale.md,
// "Mutation testing").
impl Lease {
    /// Resource: the writes in its log, and the token of the last one; (0, 0) elsewhere.
    pub fn applied_writes(&self) -> (u64, u64) {
        match &self.part {
            Part::Resource(r) => (r.applied, r.last),
            _ => (0, 0),
        }
    }
    /// Resource: writes refused in this incarnation; 0 elsewhere.
    pub fn rejected_writes(&self) -> u64 {
        match &self.part {
            Part::Resource(r) => r.rejected,
            _ => 0,
        }
    }
    /// Resource: the highest token it has seen; 0 elsewhere.
    pub fn highest_seen(&self) -> u64 {
        match &self.part {
            Part::Resource(r) => r.highest,
            _ => 0,
        }
    }
    /// Grantor: the last token handed out; 0 elsewhere.
    pub fn counter(&self) -> u64 {
        match &self.part {
            Part::Grantor(g) => g.counter,
            _ => 0,
        }
    }
    /// Grantor: the holder and token of the lease it believes outstanding.
    pub fn granted(&self) -> Option<(NodeId, u64)> {
        match &self.part {
            Part::Grantor(g) => g.current.map(|o| (o.holder, o.token)),
            _ => None,
        }
    }
    /// Holder: the token of the lease it believes it holds.
    pub fn held_token(&self) -> Option<u64> {
        match &self.part {
            Part::Holder(h) => h.lease.map(|l| l.token),
            _ => None,
        }
    }
    /// Holder: writes sent in this incarnation, and the token of the last one.
    pub fn writes_sent(&self) -> (u64, u64) {
        match &self.part {
            Part::Holder(h) => (h.sent, h.last_sent),
            _ => (0, 0),
        }
    }
}

/// Every property the lease protocol offers, its safety checks on by default.
pub(super) fn properties() -> Vec<PropertyDef<Lease>> {
    vec![
        PropertyDef::monitor(
            "fenced_writes",
            "the resource never applies a write with a token older than one it has already applied, across its restarts too (the check library's fenced writes)",
            Fenced::new("token", Lease::applied_writes),
        )
        .always(),
        PropertyDef::monitor(
            "one_holder_per_token",
            "no two nodes ever hold a lease under the same token",
            OneLeaderPerEpoch::new(
                "holder",
                "token",
                |l: &Lease| l.held_token().unwrap_or(0),
                |l: &Lease| l.held_token().is_some(),
            ),
        )
        .always(),
        PropertyDef::monitor(
            "token_never_goes_back",
            "the grantor's token counter never goes down, across its restarts too: it is synced before a grant leaves",
            Monotonic::durable("token counter", Lease::counter),
        )
        .always(),
        PropertyDef::monitor(
            "lease_exclusive",
            "no holder sends a write under a token after a newer token was granted to another node (in true time): the lease itself was exclusive; clock steps, pauses and drift beyond the margin break it, fencing keeps the resource safe anyway (use as `always`)",
            Exclusive::default(),
        ),
        PropertyDef::monitor(
            "lease_broken",
            "some holder sent a write under a token after a newer token was granted to another node: the opposite of lease_exclusive, for a run that shows a lease broken and goes on (use as `sometimes`; fenced_writes then shows whether the resource kept the stale write out)",
            Broken::default(),
        ),
        PropertyDef::monitor(
            "writes_advance",
            "after the heal the resource applies a write past the count it had at the heal (use as `eventually`)",
            WritesAdvance::default(),
        ),
        PropertyDef::invariant(
            "lease_held",
            "some holder that is up believes it holds a lease (use as `eventually`: after the heal a holder gets one)",
            lease_held,
        ),
    ]
}

/// `lease_exclusive`: every token granted and its holder, and per holder the writes it had
/// sent at its last look (with its incarnation).
#[derive(Clone, Debug, Default, Hash)]
struct Exclusive {
    granted: BTreeMap<u64, NodeId>,
    sent: BTreeMap<NodeId, (u32, u64)>,
}

#[cold]
#[inline(never)]
fn broken(node: NodeId, token: u64, newer: u64, to: NodeId) -> Failure {
    Failure::new(
        format!(
            "{node} sent a write under token {token} after token {newer} was granted to {to}: two holders at once"
        ),
        vec![node, to],
    )
}

impl Monitor<Lease> for Exclusive {
    fn check(&mut self, view: &View<'_, Lease>, _: Option<&Trigger>) -> Result<(), Failure> {
        for n in touched(view) {
            let Some(state) = view.node(n) else { continue };
            if n == GRANTOR {
                if let Some((holder, token)) = state.granted() {
                    self.granted.entry(token).or_insert(holder);
                }
                continue;
            }
            let (sent, token) = state.writes_sent();
            let incarnation = view.incarnation(n);
            let before = self.sent.insert(n, (incarnation, sent));
            let wrote = match before {
                Some((was_in, b)) if was_in == incarnation => sent > b,
                _ => sent > 0,
            };
            if !wrote {
                continue;
            }
            let newer = self
                .granted
                .range(token + 1..)
                .find(|&(_, &to)| to != n)
                .map(|(&t, &to)| (t, to));
            if let Some((t, to)) = newer {
                return Err(broken(n, token, t, to));
            }
        }
        Ok(())
    }
}

/// `lease_broken`: holds at the steps where `lease_exclusive` fails.
#[derive(Clone, Debug, Default, Hash)]
struct Broken(Exclusive);

impl Monitor<Lease> for Broken {
    fn check(&mut self, view: &View<'_, Lease>, t: Option<&Trigger>) -> Result<(), Failure> {
        match self.0.check(view, t) {
            Err(_) => Ok(()),
            Ok(()) => Err(Failure::new(
                "no holder has written under a superseded token (yet)",
                vec![],
            )),
        }
    }
}

/// `writes_advance`: the resource's count at the heal (taken at the first look after it).
#[derive(Clone, Debug, Default, Hash)]
struct WritesAdvance {
    baseline: Option<(Time, u64)>,
}

impl Monitor<Lease> for WritesAdvance {
    fn check(&mut self, view: &View<'_, Lease>, _: Option<&Trigger>) -> Result<(), Failure> {
        let Some(healed) = view.healed_at else {
            return Err(Failure::new(
                "no heal yet, so no progress of the resource's writes to judge",
                vec![],
            ));
        };
        let now = view.node(RESOURCE).map(|r| r.applied_writes().0);
        if self.baseline.is_none_or(|(at, _)| at != healed) {
            self.baseline = Some((healed, now.unwrap_or(0)));
        }
        let base = self.baseline.map_or(0, |(_, b)| b);
        match now {
            Some(count) if count > base => Ok(()),
            Some(count) => Err(Failure::new(
                format!("the resource has applied {count} writes, none since the heal ({base})"),
                vec![RESOURCE],
            )),
            None => Err(Failure::new("the resource is down", vec![RESOURCE])),
        }
    }
}

/// `lease_held`: some holder that is up holds a lease.
fn lease_held(view: &View<'_, Lease>, _: Option<&Trigger>) -> Result<(), Failure> {
    let held = view
        .nodes()
        .filter(|&n| view.is_up(n))
        .any(|n| view.node(n).is_some_and(|l| l.held_token().is_some()));
    if held {
        Ok(())
    } else {
        Err(Failure::new("no holder that is up holds a lease", vec![]))
    }
}

pub(super) fn metrics() -> Vec<MetricDef<Lease>> {
    vec![MetricDef {
        name: "lease_metrics",
        description: "stale writes the resource refused, lease handovers between holders, and the time no holder held a lease",
        make: |_| Box::new(LeaseMetrics::default()),
    }]
}

/// Run statistics for the summary.
#[derive(Default)]
struct LeaseMetrics {
    /// The resource's refusal counter at its last look, with its incarnation.
    rejected_seen: Option<(u32, u64)>,
    rejected: u64,
    /// The last token granted and to whom.
    last_grant: Option<(u64, NodeId)>,
    handovers: u64,
    /// True time of the last step, and whether some holder held a lease after it.
    last: Option<(Time, bool)>,
    without: Time,
}

impl Metric<Lease> for LeaseMetrics {
    fn observe(&mut self, view: &View<'_, Lease>) {
        if let Some(r) = view.node(RESOURCE) {
            let now = (view.incarnation(RESOURCE), r.rejected_writes());
            self.rejected += match self.rejected_seen {
                Some((was_in, b)) if was_in == now.0 => now.1.saturating_sub(b),
                _ => now.1,
            };
            self.rejected_seen = Some(now);
        }
        if let Some((to, token)) = view.node(GRANTOR).and_then(Lease::granted) {
            match self.last_grant {
                Some((t, _)) if t == token => {}
                Some((_, was)) => {
                    if was != to {
                        self.handovers += 1;
                    }
                    self.last_grant = Some((token, to));
                }
                None => self.last_grant = Some((token, to)),
            }
        }
        if let Some((t, held)) = self.last {
            if !held {
                self.without = self.without.add(view.time.sub(t));
            }
        }
        let held = view
            .nodes()
            .any(|n| view.node(n).is_some_and(|l| l.held_token().is_some()));
        self.last = Some((view.time, held));
    }

    fn report(&self) -> Vec<(String, serde_json::Value)> {
        vec![
            ("stale_writes_rejected".into(), self.rejected.into()),
            ("lease_handovers".into(), self.handovers.into()),
            (
                "time_without_holder_ms".into(),
                (self.without.as_us() as f64 / 1000.0).into(),
            ),
        ]
    }
}
