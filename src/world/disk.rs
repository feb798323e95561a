//! Storage faults as the world applies them, inside the scenario's fault atlas: the world
//! draws the place, bit and cut from its own random stream (`Stream::Disk`), and refuses,
//! with the reason in the trace, any fault the atlas does not allow.

use super::host::edit_host;
use super::{Applied, Driver, Env, Flow, World};
use crate::base::rng::{Rng, Stream};
use crate::base::types::NodeId;
use crate::check::TriggerKind;
use crate::faults::{Atlas, CellRule, DiskFault, DiskKind, DiskPlace, Fault};
use crate::protocol::Protocol;
use crate::storage::{Damage, Place};
use crate::trace::Origin;

/// The atlas and the random stream storage faults draw from.
#[derive(Clone, Debug)]
pub(crate) struct DiskWorld {
    atlas: Atlas,
    rng: Rng,
}

impl DiskWorld {
    pub(crate) fn new(atlas: Atlas, seed: u64) -> DiskWorld {
        DiskWorld {
            atlas,
            rng: Rng::new(seed, Stream::Disk),
        }
    }
}

impl<P: Protocol> World<P> {
    /// Gives the world a fault atlas: storage faults become possible within it.
    pub fn set_atlas(&mut self, atlas: Atlas, seed: u64) {
        self.disk = Some(Box::new(DiskWorld::new(atlas, seed)));
    }

    /// How many nodes other than `n` hold `place` damaged.
    fn damaged_elsewhere(&self, n: NodeId, place: &Place) -> u32 {
        self.hosts
            .iter()
            .enumerate()
            .filter(|(i, h)| *i != n.index() && h.store.damaged().contains(place))
            .count() as u32
    }

    /// Whether the atlas lets `place` on node `n` be damaged now.
    fn may_damage(&self, atlas: &Atlas, n: NodeId, place: &Place) -> bool {
        let store = &self.hosts[n.index()].store;
        if let Place::Cell(name) = place {
            let broken = store.damaged().iter().filter_map(|p| match p {
                Place::Cell(c) => Some(*c),
                Place::Record(_) => None,
            });
            if !atlas.cell_may_break(name, broken, store.synced_cell_names()) {
                return false;
            }
        }
        store.damaged().contains(place)
            || self.damaged_elsewhere(n, place) < atlas.copies(self.nodes)
    }

    pub(super) fn apply_disk_fault<D: Driver<P>>(
        &mut self,
        fault: &Fault,
        d: &DiskFault,
        origin: Origin,
        applied: Applied,
        env: &mut Env<'_, D>,
    ) -> Flow<Applied> {
        let n = d.node;
        let Some(mut disk) = self.disk.take() else {
            let why = "ignored: the scenario declares no fault atlas";
            self.record_fault(env, fault, origin, Some(why))?;
            return Ok(applied);
        };
        let outcome = self.strike_disk(&mut disk, d);
        self.disk = Some(disk);
        match outcome {
            Strike::Ignored(why) => {
                self.record_fault(env, fault, origin, Some(&format!("ignored: {why}")))?;
            }
            Strike::Done(detail) => {
                self.record_fault(env, fault, origin, Some(&detail))?;
            }
            Strike::Crashed(detail) => {
                self.record_fault(env, fault, origin, Some(&detail))?;
                self.drop_held(n, env)?;
                self.trigger(env, TriggerKind::Crash, Some(n));
            }
        }
        Ok(applied)
    }

    fn strike_disk(&mut self, disk: &mut DiskWorld, d: &DiskFault) -> Strike {
        let n = d.node;
        let atlas = &disk.atlas;
        if !atlas.allows(d.fault) {
            return Strike::Ignored(format!("the atlas does not list `{}`", d.fault.word()));
        }
        if !self.hosts[n.index()].store.has_codec() {
            return Strike::Ignored(format!(
                "protocol {} keeps typed records (no codec)",
                P::NAME
            ));
        }
        match d.fault {
            DiskKind::Torn => {
                if self.hosts[n.index()].status == crate::check::Status::Down {
                    return Strike::Ignored("already down".into());
                }
                let (cut_op, cut_byte) = (disk.rng.next_u64(), disk.rng.next_u64());
                let rule = atlas.cells;
                let host = edit_host(&mut self.hosts[n.index()]);
                let whole: Vec<&'static str> = {
                    let broken: Vec<&'static str> = host
                        .store
                        .damaged()
                        .iter()
                        .filter_map(|p| match p {
                            Place::Cell(c) => Some(*c),
                            Place::Record(_) => None,
                        })
                        .collect();
                    host.store
                        .synced_cell_names()
                        .filter(|c| !broken.contains(c))
                        .collect()
                };
                let tear_cell = |name: &'static str| match rule {
                    CellRule::Spare => false,
                    CellRule::Any => true,
                    CellRule::KeepOneCopy => match name.split_once('#') {
                        None => false,
                        Some((base, _)) => {
                            let copy = |c: &str| c.split_once('#').is_some_and(|(b, _)| b == base);
                            // Nothing of it on the disk yet, or another whole copy there.
                            !whole.contains(&name) && !whole.iter().any(|c| copy(c))
                                || whole.iter().any(|c| *c != name && copy(c))
                        }
                    },
                };
                host.proto = None;
                host.status = crate::check::Status::Down;
                host.timers.clear();
                let (lost, struck) = host.store.crash_torn(cut_op, cut_byte, &tear_cell);
                Strike::Crashed(format!("{lost} unsynced writes lost; {}", struck.detail))
            }
            DiskKind::SyncFails => {
                edit_host(&mut self.hosts[n.index()]).store.fail_next_sync();
                Strike::Done("the next sync with writes pending fails".into())
            }
            DiskKind::Corrupt | DiskKind::Latent => {
                let store = &self.hosts[n.index()].store;
                let place = match d.place() {
                    Some(want) => {
                        let Some(p) = store.synced_places().find(|p| same(p, &want)) else {
                            return Strike::Ignored(format!("nothing on the disk at {want:?}"));
                        };
                        if !self.may_damage(atlas, n, &p) {
                            return Strike::Ignored(format!("the atlas spares {p} on {n} now"));
                        }
                        p
                    }
                    None => {
                        let allowed: Vec<Place> = store
                            .synced_places()
                            .filter(|p| self.may_damage(atlas, n, p))
                            .collect();
                        if allowed.is_empty() {
                            return Strike::Ignored(
                                "the atlas allows no place on this disk".into(),
                            );
                        }
                        allowed[disk.rng.below(allowed.len() as u64) as usize]
                    }
                };
                let how = match d.fault {
                    DiskKind::Corrupt => Damage::Corrupt {
                        bit: disk.rng.next_u64(),
                    },
                    _ => Damage::Latent,
                };
                match edit_host(&mut self.hosts[n.index()])
                    .store
                    .damage(place, how)
                {
                    Some(s) => Strike::Done(s.detail),
                    None => Strike::Ignored(format!("{place} has no bytes to damage")),
                }
            }
            DiskKind::Misdirect => {
                let store = &self.hosts[n.index()].store;
                let Some((intended, _)) = store.misdirect_places(0) else {
                    return Strike::Ignored("fewer than two records on the disk".into());
                };
                if !self.may_damage(atlas, n, &intended) {
                    return Strike::Ignored(format!("the atlas spares {intended} on {n} now"));
                }
                let first = store.first_index();
                let Place::Record(last) = intended else {
                    return Strike::Ignored("no record to misdirect".into());
                };
                let victims: Vec<u64> = (0..last.saturating_sub(first))
                    .filter(|k| self.may_damage(atlas, n, &Place::Record(first + k)))
                    .collect();
                if victims.is_empty() {
                    return Strike::Ignored("the atlas spares every earlier record".into());
                }
                let draw = victims[disk.rng.below(victims.len() as u64) as usize];
                match edit_host(&mut self.hosts[n.index()]).store.misdirect(draw) {
                    Some(s) => Strike::Done(s.detail),
                    None => Strike::Ignored("no record to misdirect".into()),
                }
            }
        }
    }
}

/// What a disk fault did.
enum Strike {
    Ignored(String),
    Done(String),
    Crashed(String),
}

fn same(p: &Place, want: &DiskPlace) -> bool {
    match (p, want) {
        (Place::Record(i), DiskPlace::Record(j)) => i == j,
        (Place::Cell(a), DiskPlace::Cell(b)) => *a == b.as_str(),
        _ => false,
    }
}
