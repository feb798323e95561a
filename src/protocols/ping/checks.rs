//! The ping checks: the properties `properties()` offers to scenarios.

use super::*;
use crate::protocol::library::touched;

// What the checks read of a node: oracle code, kept beside the checks (docs/scale.md,
// "Mutation testing").
impl Ping {
    /// This incarnation's boot number.
    pub fn boot(&self) -> u64 {
        self.boot
    }
    /// Pongs received from `peer` in this incarnation.
    pub fn pongs_from(&self, peer: NodeId) -> u64 {
        self.pongs[peer.index()]
    }
    /// Rounds of pings this incarnation has sent.
    pub fn round(&self) -> u64 {
        self.round
    }
    /// Implausible pongs seen (empty unless something is wrong).
    pub fn anomalies(&self) -> &[Anomaly] {
        &self.anomalies
    }
}

/// Every pong a node accepts answers a ping it sent in this incarnation: the node records
/// the pongs that do not.
pub(super) fn pong_matches_ping(view: &View<'_, Ping>, _: Option<&Trigger>) -> Result<(), Failure> {
    // Only the node this step touched can have changed.
    for n in touched(view) {
        if let Some(a) = view.node(n).and_then(|p| p.anomalies.first()) {
            let p = view.node(n).map(|p| p.boot).unwrap_or(0);
            return Err(Failure::new(
                format!(
                    "{n} (boot {p}) accepted a pong from {} for boot {} round {}, but this incarnation had only sent round {} to it: the pong answers an earlier incarnation whose boot number was reused",
                    a.from, a.boot, a.seq, a.sent
                ),
                vec![n, a.from],
            ));
        }
    }
    Ok(())
}

/// Some node has received a pong.
pub(super) fn pong_received(view: &View<'_, Ping>, _: Option<&Trigger>) -> Result<(), Failure> {
    let any = view
        .nodes()
        .filter_map(|n| view.node(n))
        .any(|p| p.pongs.iter().any(|&c| c > 0));
    if any {
        Ok(())
    } else {
        Err(Failure::new("no node has received a pong", vec![]))
    }
}

/// Every echo that completed ok returned what was sent: a monitor that walks the settled
/// prefix of the history once.
#[derive(Clone, Default, Hash)]
pub(super) struct EchoCorrect {
    checked: usize,
}

impl Monitor<Ping> for EchoCorrect {
    fn check(&mut self, view: &View<'_, Ping>, _: Option<&Trigger>) -> Result<(), Failure> {
        // Only a client step completes operations.
        if matches!(view.touched, Some(crate::protocol::Endpoint::Node(_))) {
            return Ok(());
        }
        let ops = view.history().ops();
        // Operations complete in order per client, not globally: advance over the settled prefix.
        while let Some(op) = ops.get(self.checked) {
            match (&op.request, &op.outcome) {
                (_, Outcome::Pending) => break,
                (Request::Echo(sent), Outcome::Ok(Response::Echoed { value, by }))
                    if sent != value =>
                {
                    return Err(Failure::new(
                        format!("{} sent echo {sent} and {by} answered {value}", op.client),
                        vec![*by],
                    ));
                }
                _ => self.checked += 1,
            }
        }
        Ok(())
    }
}

/// Per node: its incarnation and the pongs it had from each peer, when the baseline was taken.
type Counts = Vec<(u32, Vec<u64>)>;

/// Every up node has had a pong from every up peer it is linked with both ways, since the
/// heal or the trigger: a monitor that keeps the pong counts at each start time.
#[derive(Clone, Default, Hash)]
pub(super) struct AllConnected {
    /// One baseline per start time: a within-check's obligations share this instance, and
    /// several may be open at once (two restarts close together).
    baselines: BTreeMap<Time, Counts>,
}

/// Baselines kept at most; the oldest go first (their obligations are long closed).
const BASELINES_MAX: usize = 64;

impl Monitor<Ping> for AllConnected {
    fn check(&mut self, view: &View<'_, Ping>, trigger: Option<&Trigger>) -> Result<(), Failure> {
        let since = trigger
            .map(|t| t.at)
            .or(view.healed_at)
            .unwrap_or(Time::ZERO);
        if let std::collections::btree_map::Entry::Vacant(slot) = self.baselines.entry(since) {
            let counts = view
                .nodes()
                .map(|n| {
                    (
                        view.incarnation(n),
                        view.node(n).map(|p| p.pongs.clone()).unwrap_or_default(),
                    )
                })
                .collect();
            slot.insert(counts);
            while self.baselines.len() > BASELINES_MAX {
                self.baselines.pop_first();
            }
        }
        let base = &self.baselines[&since];
        let restricted = trigger
            .filter(|t| t.kind == TriggerKind::Restart || t.kind == TriggerKind::Resume)
            .and_then(|t| t.node);
        for a in view
            .nodes()
            .filter(|&a| view.is_up(a) && restricted.is_none_or(|r| r == a))
        {
            let Some(pa) = view.node(a) else { continue };
            for b in view.nodes().filter(|&b| b != a && view.is_up(b)) {
                if !(view.can_send(a, b) && view.can_send(b, a)) {
                    continue;
                }
                let (inc, counts) = &base[a.index()];
                let before = if *inc == view.incarnation(a) {
                    counts.get(b.index()).copied().unwrap_or(0)
                } else {
                    0
                };
                if pa.pongs[b.index()] <= before {
                    return Err(Failure::new(
                        format!("{a} has had no pong from {b} since {since}"),
                        vec![a, b],
                    ));
                }
            }
        }
        Ok(())
    }
}
