//! The checks every commit protocol on this kit shares, over what a node exposes through
//! [`TxnNode`]:
//!
//! - `atomicity` (a monitor, on in every run): no transaction is committed at one participant
//!   and aborted at another, and no participant is told to commit a transaction it holds no
//!   record of (its prepared record was lost, so the commit cannot take effect there). It
//!   reads each participant's journal of carried-out decisions, only the new entries of the
//!   node a step touched, and remembers the first decision seen per transaction.
//! - `in_doubt_resolves` (an invariant, for `eventually` after the heal, or `always` where a
//!   protocol promises never to block): no participant that is up holds a transaction in doubt
//!   (prepared, undecided) for longer than the protocol's bound. Blocking is a liveness
//!   failure, never a safety one.
//! - `commits_after_heal` (a monitor, for `eventually`): some transaction invoked after the
//!   heal commits. Aborts are a transactional store's normal answer to a conflict, so "every
//!   operation after the heal ends ok" is not the right liveness check here; this one is.
//! - `money_conserved` (a monitor, on in every run; bank workload only): every committed
//!   transaction that read every account saw the opening total, keys × balance. Money in a
//!   bank can only move; if a read of every account sees more or less, some transfer was
//!   applied in part, or twice, or a read saw a transfer half done.

use super::{Datum, Done, Participant, TxnAnswer, TxnId, TxnKind, TxnParams};
use crate::protocol::library::touched;
use crate::protocol::{
    Endpoint, Failure, Monitor, NodeId, Outcome, PropertyDef, Protocol, Time, Trigger, View,
};
use std::collections::BTreeMap;
use std::hash::Hash;
use std::marker::PhantomData;

/// What the shared checks read of a node of a commit protocol.
pub trait TxnNode {
    /// The node's participant.
    fn participant(&self) -> &Participant;
    /// The workload parameters.
    fn txn_params(&self) -> &TxnParams;
    /// How long a transaction may stay in doubt at a participant before
    /// `in_doubt_resolves` fails (where it is expected).
    fn in_doubt_bound(&self) -> Time;
    /// The outcomes this node decided as a coordinator (or leader) in this incarnation,
    /// replayed ones included, in order: (transaction, commit). None by default.
    fn decisions(&self) -> &[(TxnId, bool)] {
        &[]
    }
}

/// The shared checks, for a protocol's `properties()`.
pub fn properties<P>() -> Vec<PropertyDef<P>>
where
    P: Protocol<Response = TxnAnswer> + TxnNode + 'static,
{
    vec![
        PropertyDef::monitor(
            "atomicity",
            "no transaction commits at one participant and aborts at another, and no participant is told to commit a transaction it has lost",
            Atomicity::<P>::default(),
        )
        .always(),
        PropertyDef::invariant(
            "in_doubt_resolves",
            "no participant that is up holds a transaction in doubt (prepared, undecided) longer than the protocol's bound (use as `eventually` after the heal: blocking is a liveness failure)",
            in_doubt_resolves::<P>,
        ),
        PropertyDef::monitor(
            "commits_after_heal",
            "a transaction invoked after the heal commits (use as `eventually`: the store serves again)",
            CommitsAfterHeal::default(),
        ),
        PropertyDef::monitor(
            "money_conserved",
            "every committed read of every account sees the opening total, keys × balance (bank workload)",
            Conserved::<P>::default(),
        )
        .always(),
    ]
}

/// See the module docs.
pub struct Atomicity<P> {
    /// Per node: the incarnation and how many of its journal entries and of its decisions
    /// as a coordinator were checked.
    checked: Vec<(u32, usize, usize)>,
    /// Per transaction: the first decision seen and who took or carried it out.
    decided: BTreeMap<TxnId, (bool, By)>,
    protocol: PhantomData<fn(&P)>,
}

impl<P> Default for Atomicity<P> {
    fn default() -> Self {
        Atomicity {
            checked: Vec::new(),
            decided: BTreeMap::new(),
            protocol: PhantomData,
        }
    }
}

impl<P> Clone for Atomicity<P> {
    fn clone(&self) -> Self {
        Atomicity {
            checked: self.checked.clone(),
            decided: self.decided.clone(),
            protocol: PhantomData,
        }
    }
}

impl<P> Hash for Atomicity<P> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.checked.hash(state);
        self.decided.hash(state);
    }
}

/// Who decided or carried out an outcome: a participant, or a coordinator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct By {
    node: NodeId,
    coordinator: bool,
}

#[cold]
fn split(txn: TxnId, by: By, commit: bool, other: By) -> Failure {
    let (c, a) = if commit { (by, other) } else { (other, by) };
    let committed = if c.coordinator {
        format!("the coordinator at {} decided to commit it", c.node)
    } else {
        format!("it committed at {}", c.node)
    };
    let aborted = if a.coordinator {
        format!("the coordinator at {} decided to abort it", a.node)
    } else {
        format!("it aborted at {}", a.node)
    };
    let nodes = if c.node == a.node {
        vec![c.node]
    } else {
        vec![by.node, other.node]
    };
    Failure::new(
        format!("{txn}: {committed}, but {aborted}: the transaction is not atomic"),
        nodes,
    )
}

impl<P: Protocol + TxnNode + 'static> Monitor<P> for Atomicity<P> {
    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.checked.len() != n {
            self.checked.resize(n, (0, 0, 0));
        }
        for node in touched(view) {
            let Some(state) = view.node(node) else {
                continue;
            };
            let journal = state.participant().journal();
            let decisions = state.decisions();
            let incarnation = view.incarnation(node);
            let (was_in, mut done, mut ruled) = self.checked[node.index()];
            if was_in != incarnation || journal.len() < done || decisions.len() < ruled {
                done = 0;
                ruled = 0;
            }
            let coordinator = By {
                node,
                coordinator: true,
            };
            for &(txn, commit) in &decisions[ruled..] {
                self.note(txn, commit, coordinator)?;
            }
            let participant = By {
                node,
                coordinator: false,
            };
            for &(txn, what) in &journal[done..] {
                let commit = match what {
                    Done::Committed => true,
                    Done::Aborted => false,
                    Done::Lost => {
                        let committed = self
                            .decided
                            .get(&txn)
                            .filter(|(c, _)| *c)
                            .map(|(_, who)| format!(", committed at {},", who.node))
                            .unwrap_or_default();
                        return Err(Failure::new(
                            format!(
                                "{node} was told to commit {txn}{committed} but holds no record of it (its prepared record was lost): the transaction is not atomic"
                            ),
                            vec![node],
                        ));
                    }
                };
                self.note(txn, commit, participant)?;
            }
            self.checked[node.index()] = (incarnation, journal.len(), decisions.len());
        }
        Ok(())
    }
}

impl<P> Atomicity<P> {
    fn note(&mut self, txn: TxnId, commit: bool, by: By) -> Result<(), Failure> {
        match self.decided.get(&txn) {
            Some(&(c, other)) if c != commit => Err(split(txn, by, commit, other)),
            Some(_) => Ok(()),
            None => {
                self.decided.insert(txn, (commit, by));
                Ok(())
            }
        }
    }
}

/// See the module docs.
fn in_doubt_resolves<P: Protocol + TxnNode>(
    view: &View<'_, P>,
    _: Option<&Trigger>,
) -> Result<(), Failure> {
    for node in view.nodes() {
        if !view.is_up(node) {
            continue;
        }
        let Some(state) = view.node(node) else {
            continue;
        };
        let p = state.participant();
        let Some(since) = p.oldest_in_doubt() else {
            continue;
        };
        let now = view.local_time(node);
        if now.sub(since) > state.in_doubt_bound() {
            let txns: Vec<String> = p
                .doubtful(now, state.in_doubt_bound())
                .iter()
                .map(|(t, c, _)| format!("{t} (coordinator {c})"))
                .collect();
            return Err(Failure::new(
                format!(
                    "{node} holds {} in doubt, prepared {} ms ago and still undecided (bound {} ms): blocked",
                    txns.join(", "),
                    now.sub(since).as_ms(),
                    state.in_doubt_bound().as_ms()
                ),
                vec![node],
            ));
        }
    }
    Ok(())
}

/// See the module docs.
pub struct Conserved<P> {
    /// Operations of the history already judged (or still open) below this index are done
    /// with, except those still open, listed in `open`.
    next: usize,
    open: Vec<usize>,
    protocol: PhantomData<fn(&P)>,
}

impl<P> Default for Conserved<P> {
    fn default() -> Self {
        Conserved {
            next: 0,
            open: Vec::new(),
            protocol: PhantomData,
        }
    }
}

impl<P> Clone for Conserved<P> {
    fn clone(&self) -> Self {
        Conserved {
            next: self.next,
            open: self.open.clone(),
            protocol: PhantomData,
        }
    }
}

impl<P> Hash for Conserved<P> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.next.hash(state);
        self.open.hash(state);
    }
}

impl<P: Protocol<Response = TxnAnswer> + TxnNode + 'static> Monitor<P> for Conserved<P> {
    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        if !matches!(view.touched, Some(Endpoint::Client(_)) | None) {
            return Ok(());
        }
        let Some(params) = view
            .nodes()
            .find_map(|n| view.node(n))
            .map(|s| s.txn_params().clone())
        else {
            return Ok(());
        };
        if params.workload != TxnKind::Bank {
            return Ok(());
        }
        let ops = view.history().ops();
        let mut still = Vec::new();
        let total = params.total();
        for i in std::mem::take(&mut self.open)
            .into_iter()
            .chain(self.next..ops.len())
        {
            let op = &ops[i];
            match &op.outcome {
                Outcome::Pending => still.push(i),
                Outcome::Ok(TxnAnswer::Committed { mops, reads })
                    if mops.len() == params.keys as usize && mops.iter().all(|m| m.is_read()) =>
                {
                    let sum = reads
                        .iter()
                        .map(|d| match d {
                            Datum::Int(i) => *i,
                            _ => 0,
                        })
                        .fold(0i64, i64::saturating_add);
                    if sum != total {
                        let shown: Vec<String> = reads.iter().map(|d| d.to_string()).collect();
                        return Err(Failure::new(
                            format!(
                                "a committed read of every account by {} saw [{}], {sum} in all, but the bank holds {total}: money was created or destroyed",
                                op.client,
                                shown.join(" ")
                            ),
                            Vec::new(),
                        ));
                    }
                }
                _ => {}
            }
        }
        self.next = ops.len();
        self.open = still;
        Ok(())
    }
}

/// See the module docs.
#[derive(Clone, Debug, Default, Hash)]
pub struct CommitsAfterHeal {
    /// The history is looked at from here on.
    next: usize,
    /// A transaction invoked after the heal committed.
    seen: bool,
}

impl<P: Protocol<Response = TxnAnswer>> Monitor<P> for CommitsAfterHeal {
    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        let Some(heal) = view.healed_at else {
            return Err(Failure::new("the heal has not come yet", Vec::new()));
        };
        let ops = view.history().ops();
        while !self.seen && self.next < ops.len() {
            let op = &ops[self.next];
            if op.invoked_at < heal {
                self.next += 1;
                continue;
            }
            match op.outcome {
                Outcome::Ok(TxnAnswer::Committed { .. }) => self.seen = true,
                Outcome::Pending => break,
                _ => self.next += 1,
            }
        }
        if self.seen {
            Ok(())
        } else {
            Err(Failure::new(
                "no transaction invoked after the heal has committed",
                Vec::new(),
            ))
        }
    }
}
