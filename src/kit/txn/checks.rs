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
            "money_conserved",
            "every committed read of every account sees the opening total, keys × balance (bank workload)",
            Conserved::<P>::default(),
        )
        .always(),
    ]
}

/// See the module docs.
pub struct Atomicity<P> {
    /// Per node: the incarnation and how many of its journal entries were checked.
    checked: Vec<(u32, usize)>,
    /// Per transaction: the first decision seen and the node that carried it out.
    decided: BTreeMap<TxnId, (bool, NodeId)>,
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

#[cold]
fn split(txn: TxnId, node: NodeId, commit: bool, other: NodeId) -> Failure {
    let (c, a) = if commit { (node, other) } else { (other, node) };
    Failure::new(
        format!("{txn} committed at {c} but aborted at {a}: the transaction is not atomic"),
        vec![node, other],
    )
}

impl<P: Protocol + TxnNode + 'static> Monitor<P> for Atomicity<P> {
    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.checked.len() != n {
            self.checked.resize(n, (0, 0));
        }
        for node in touched(view) {
            let Some(state) = view.node(node) else {
                continue;
            };
            let journal = state.participant().journal();
            let incarnation = view.incarnation(node);
            let (was_in, mut done) = self.checked[node.index()];
            if was_in != incarnation || journal.len() < done {
                done = 0;
            }
            for &(txn, what) in &journal[done..] {
                let commit = match what {
                    Done::Committed => true,
                    Done::Aborted => false,
                    Done::Lost => {
                        let committed = self
                            .decided
                            .get(&txn)
                            .filter(|(c, _)| *c)
                            .map(|(_, who)| format!(", committed at {who},"))
                            .unwrap_or_default();
                        return Err(Failure::new(
                            format!(
                                "{node} was told to commit {txn}{committed} but holds no record of it (its prepared record was lost): the transaction is not atomic"
                            ),
                            vec![node],
                        ));
                    }
                };
                match self.decided.get(&txn) {
                    Some(&(c, other)) if c != commit => {
                        return Err(split(txn, node, commit, other));
                    }
                    Some(_) => {}
                    None => {
                        self.decided.insert(txn, (commit, node));
                    }
                }
            }
            self.checked[node.index()] = (incarnation, journal.len());
        }
        Ok(())
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
