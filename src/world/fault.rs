//! Faults as the world applies them: crashes (volatile state and unsynced writes lost),
//! restarts, pauses and resumes, link cuts and repairs, clock steps and drift, and the heal.

use super::host::{edit_client, edit_host};
use super::{Applied, Consequence, Driver, Env, Flow, Held, Stop, World, guarded};
use crate::base::types::{Endpoint, NodeId};
use crate::check::{Phase, Status, Trigger, TriggerKind};
use crate::faults::Fault;
use crate::network::LossReason;
use crate::protocol::ClientLogic;
use crate::protocol::Protocol;
use crate::trace::{Origin, Record};
use std::collections::BTreeMap;
use std::sync::Arc;

impl<P: Protocol> World<P> {
    pub(super) fn record_fault<D: Driver<P>>(
        &self,
        env: &mut Env<'_, D>,
        fault: &Fault,
        origin: Origin,
        detail: Option<&str>,
    ) -> Flow {
        self.record(
            env,
            &Record::Fault {
                fault,
                origin,
                detail,
            },
        )
    }

    pub(super) fn trigger<D: Driver<P>>(
        &self,
        env: &mut Env<'_, D>,
        kind: TriggerKind,
        node: Option<NodeId>,
    ) {
        let at = self.now;
        self.tell(env, Consequence::Triggered(Trigger { kind, node, at }));
    }

    pub(super) fn apply_fault<D: Driver<P>>(
        &mut self,
        fault: &Fault,
        origin: Origin,
        env: &mut Env<'_, D>,
    ) -> Flow<Applied> {
        self.faults_applied += 1;
        // Link faults change many nodes' reachability at once: checks must look everywhere.
        let link_fault = matches!(
            fault,
            Fault::Partition(_)
                | Fault::Bridge { .. }
                | Fault::Isolate(_)
                | Fault::Cut { .. }
                | Fault::Repair { .. }
                | Fault::HealLinks
                | Fault::Heal
                | Fault::Set(_)
        );
        let applied = Applied {
            handled: true,
            touched: if link_fault {
                None
            } else {
                fault.node().map(Endpoint::Node)
            },
        };
        match fault {
            Fault::Crash(n) => {
                if self.hosts[n.index()].status == Status::Down {
                    self.record_fault(env, fault, origin, Some("ignored: already down"))?;
                    return Ok(applied);
                }
                let lost = self.crash(*n);
                let detail = format!("{lost} unsynced writes lost");
                self.record_fault(env, fault, origin, Some(&detail))?;
                self.drop_held(*n, env)?;
                self.trigger(env, TriggerKind::Crash, Some(*n));
            }
            Fault::Restart(n) => {
                let host = &self.hosts[n.index()];
                if host.status != Status::Down {
                    self.record_fault(env, fault, origin, Some("ignored: not down"))?;
                    return Ok(applied);
                }
                if host.permanently_down && origin != Origin::Schedule {
                    self.record_fault(env, fault, origin, Some("ignored: permanently down"))?;
                    return Ok(applied);
                }
                self.record_fault(env, fault, origin, None)?;
                self.boot(*n, env)?;
                self.trigger(env, TriggerKind::Restart, Some(*n));
            }
            Fault::Pause(n) => {
                if self.hosts[n.index()].status != Status::Up {
                    self.record_fault(env, fault, origin, Some("ignored: not up"))?;
                    return Ok(applied);
                }
                edit_host(&mut self.hosts[n.index()]).status = Status::Paused;
                self.record_fault(env, fault, origin, None)?;
                self.trigger(env, TriggerKind::Pause, Some(*n));
            }
            Fault::Resume(n) => {
                if self.hosts[n.index()].status != Status::Paused {
                    self.record_fault(env, fault, origin, Some("ignored: not paused"))?;
                    return Ok(applied);
                }
                let held = self.hosts[n.index()].held.len();
                let detail = format!("{held} held events handled now");
                self.record_fault(env, fault, origin, Some(&detail))?;
                let host = edit_host(&mut self.hosts[n.index()]);
                host.status = Status::Up;
                let mut held = std::mem::take(&mut host.held);
                self.held_total -= held.len();
                for h in held.drain(..) {
                    self.tell(env, Consequence::Released(h));
                }
                edit_host(&mut self.hosts[n.index()]).held = held; // keeps its capacity
                self.trigger(env, TriggerKind::Resume, Some(*n));
            }
            Fault::Partition(groups) | Fault::Bridge { groups, .. } => {
                self.network.split(groups);
                self.record_fault(env, fault, origin, None)?;
                self.trigger(env, TriggerKind::Partition, fault.node());
            }
            Fault::Isolate(e) => {
                self.network.isolate(*e);
                self.record_fault(env, fault, origin, None)?;
                self.trigger(env, TriggerKind::Partition, fault.node());
            }
            Fault::Cut { from, to } => {
                self.network.cut(*from, *to);
                self.record_fault(env, fault, origin, None)?;
                self.trigger(env, TriggerKind::Partition, None);
            }
            Fault::Repair { from, to } => {
                self.network.repair(*from, *to);
                self.record_fault(env, fault, origin, None)?;
                self.trigger(env, TriggerKind::HealLinks, None);
            }
            Fault::HealLinks => {
                self.network.heal();
                self.record_fault(env, fault, origin, None)?;
                self.trigger(env, TriggerKind::HealLinks, None);
            }
            Fault::ClockStep { node, offset_ms } => {
                let now = self.now;
                edit_host(&mut self.hosts[node.index()])
                    .clock
                    .step(now, offset_ms.saturating_mul(1_000));
                self.record_fault(env, fault, origin, None)?;
                self.trigger(env, TriggerKind::Clock, Some(*node));
            }
            Fault::ClockDrift { node, ppm } => {
                let now = self.now;
                edit_host(&mut self.hosts[node.index()])
                    .clock
                    .set_drift(now, *ppm);
                self.record_fault(env, fault, origin, None)?;
                self.trigger(env, TriggerKind::Clock, Some(*node));
            }
            Fault::Heal => self.heal(origin, env)?,
            Fault::Set(settings) => {
                let running = self.reconfigure(settings)?;
                let detail = format!("{running} running nodes take it now; later boots too");
                self.record_fault(env, fault, origin, Some(&detail))?;
            }
            Fault::Disk(d) => return self.apply_disk_fault(fault, d, origin, applied, env),
            Fault::Message(_) => {
                // A driver applies these at send ([`Driver::chosen`]); as an action they do
                // nothing.
                self.record_fault(env, fault, origin, Some("ignored: applied at send only"))?;
            }
        }
        Ok(applied)
    }

    /// A `set` fault: the cluster's parameters (and any node's own) change for every later
    /// boot, and every node with an instance (up or paused) and every client takes them now.
    /// Returns how many nodes took them.
    fn reconfigure(&mut self, settings: &BTreeMap<String, bool>) -> Result<usize, Stop> {
        let changed = |c: &P::Config| crate::protocol::with_settings(c, settings);
        let config = changed(&self.config).map_err(|e| self.failed("protocol_error", vec![], e))?;
        self.config = Arc::new(config);
        for i in 0..self.node_configs.len() {
            if let Some(own) = &self.node_configs[i] {
                let c = changed(own).map_err(|e| self.failed("protocol_error", vec![], e))?;
                self.node_configs[i] = Some(Arc::new(c));
            }
        }
        let mut running = 0;
        for i in 0..self.nodes {
            let n = NodeId(i);
            if self.hosts[n.index()].proto.is_none() {
                continue;
            }
            let config = match self.node_configs.get(n.index()) {
                Some(Some(own)) => own.clone(),
                _ => self.config.clone(),
            };
            let proto = edit_host(&mut self.hosts[n.index()])
                .proto
                .as_mut()
                .expect("checked above");
            match guarded(|| proto.reconfigure(&config)) {
                Ok(Ok(())) => running += 1,
                Ok(Err(why)) => {
                    return Err(self.failed("protocol_error", vec![n], format!("{n}: {why}")));
                }
                Err(message) => {
                    return Err(self.failed(
                        "protocol_panic",
                        vec![n],
                        format!("{n} panicked taking new parameters: {message}"),
                    ));
                }
            }
        }
        let config = self.config.clone();
        for c in &mut self.clients {
            edit_client(c).logic.reconfigure(&config);
        }
        Ok(running)
    }

    /// Drops the instance and its timers; the store keeps only synced writes. Returns the
    /// number of unsynced writes lost.
    fn crash(&mut self, n: NodeId) -> usize {
        let host = edit_host(&mut self.hosts[n.index()]);
        host.proto = None;
        host.status = Status::Down;
        host.timers.clear();
        host.store.crash()
    }

    pub(super) fn drop_held<D: Driver<P>>(&mut self, n: NodeId, env: &mut Env<'_, D>) -> Flow {
        while let Some(h) = edit_host(&mut self.hosts[n.index()]).held.pop_front() {
            self.held_total -= 1;
            match h {
                Held::Deliver(slot) => {
                    if let Some(m) = self.msgs.remove(slot.0) {
                        self.lose(&m, LossReason::ReceiverDown, env)?;
                    }
                }
                Held::Timer(slot) => {
                    self.timers.remove(slot.0);
                }
            }
        }
        Ok(())
    }

    /// The heal: links are restored, paused nodes resume and crashed ones (but those
    /// declared permanently down) restart, and the liveness phase begins. A driver that
    /// degrades the network or runs a nemesis stops them before applying the heal.
    pub(super) fn heal<D: Driver<P>>(&mut self, origin: Origin, env: &mut Env<'_, D>) -> Flow {
        self.phase = Phase::Liveness;
        self.healed_at = Some(self.now);
        self.network.heal();
        self.record_fault(env, &Fault::Heal, origin, None)?;
        self.record(env, &Record::Phase { phase: "liveness" })?;
        for i in 0..self.nodes {
            let n = NodeId(i);
            match self.hosts[n.index()].status {
                Status::Paused => {
                    self.apply_fault(&Fault::Resume(n), Origin::Heal, env)?;
                }
                Status::Down if !self.hosts[n.index()].permanently_down => {
                    self.apply_fault(&Fault::Restart(n), Origin::Heal, env)?;
                }
                _ => {}
            }
        }
        self.tell(env, Consequence::Healed);
        self.trigger(env, TriggerKind::Heal, None);
        Ok(())
    }
}
