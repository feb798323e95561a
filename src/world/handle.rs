//! One action's work: booting a node, delivering a copy, firing a timer, calling a handler,
//! and applying the effects it asked for (sends, timers, replies, annotations, syncs), for
//! nodes and for clients.

use super::host::{edit_client, edit_host};
use super::{
    Applied, ClientTimerEntry, ClientTimerSlot, Consequence, Driver, Env, Flow, Held, InFlight,
    MsgSlot, Stop, Stopped, TimerEntry, TimerSlot, World, guarded,
};
use crate::base::types::{ClientId, Endpoint, NodeId};
use crate::check::Status;
use crate::faults::{Fault, MessageFault, Twist};
use crate::network::{Fate, LossReason};
use crate::protocol::{ClientCtx, ClientEffect, ClientLogic, Ctx, Effect, Protocol, Value};
use crate::trace::{Origin, Payload, Record, ShowError};
use std::sync::atomic::AtomicU64;

impl<P: Protocol> World<P> {
    pub(super) fn boot<D: Driver<P>>(&mut self, n: NodeId, env: &mut Env<'_, D>) -> Flow {
        let host = edit_host(&mut self.hosts[n.index()]);
        if host.status != Status::Down {
            return Ok(());
        }
        let recover = host.booted;
        if recover {
            host.incarnation += 1;
        }
        host.booted = true;
        host.status = Status::Up;
        let config = match self.node_configs.get(n.index()) {
            Some(Some(own)) => &**own,
            _ => &*self.config,
        };
        let nodes = self.nodes;
        match guarded(|| P::new(n, nodes, config)) {
            Ok(p) => host.proto = Some(p),
            Err(message) => {
                host.status = Status::Down;
                return Err(self.failed(
                    "protocol_panic",
                    vec![n],
                    format!("{n} panicked while being built: {message}"),
                ));
            }
        }
        let incarnation = self.hosts[n.index()].incarnation;
        env.recorder.forget_shown(n);
        self.record(
            env,
            &Record::Start {
                node: n,
                incarnation,
                recover,
            },
        )?;
        if recover {
            self.call_node(n, env, |p, ctx| p.on_recover(ctx))
        } else {
            self.call_node(n, env, |p, ctx| p.on_start(ctx))
        }
    }

    #[inline]
    pub(super) fn call_node<D: Driver<P>>(
        &mut self,
        n: NodeId,
        env: &mut Env<'_, D>,
        f: impl FnOnce(&mut P, &mut Ctx<'_, P>),
    ) -> Flow {
        let clock_time = self.clock_time();
        let host = edit_host(&mut self.hosts[n.index()]);
        let local = host.clock.local(clock_time);
        let Some(proto) = host.proto.as_mut() else {
            debug_assert!(false, "a handler call for a node that is down");
            return Ok(());
        };
        debug_assert_eq!(
            host.status,
            Status::Up,
            "a handler call for a node that is not up"
        );
        let mut effects = std::mem::take(&mut self.effects);
        let result = {
            let mut ctx = Ctx::new(
                n,
                self.nodes,
                local,
                self.step,
                &mut host.rng,
                &mut host.store,
                &mut host.clocks,
                &mut effects,
            );
            guarded(|| f(proto, &mut ctx))
        };
        let flow = match result {
            Ok(()) if self.hosts[n.index()].clocks.is_some() && self.clock_failed(n) => {
                let clocks = self.hosts[n.index()].clocks.as_deref();
                let message = clocks.and_then(|c| c.failure()).unwrap_or_default();
                Err(self.clock_failure(n, message.to_string()))
            }
            Ok(()) if store_size(&self.hosts[n.index()].store) > self.bounds.records_max => {
                let what = format!("the store of {n} (records and unsynced writes)");
                Err(self.bound_reached("records_max", self.bounds.records_max, &what))
            }
            Ok(()) => match self.apply_effects(n, &mut effects, env) {
                Ok(()) if env.recorder.wants_display() => self.show(n, env),
                flow => flow,
            },
            Err(message) => Err(self.failed(
                "protocol_panic",
                vec![n],
                format!("{} panicked in a {} handler: {message}", n, P::NAME),
            )),
        };
        effects.clear();
        self.effects = effects;
        flow
    }

    /// Asks node `n` for the state it shows and writes what changed (a trace is written).
    #[cold]
    fn show<D: Driver<P>>(&mut self, n: NodeId, env: &mut Env<'_, D>) -> Flow {
        let host = &self.hosts[n.index()];
        let Some(proto) = host.proto.as_ref() else {
            return Ok(());
        };
        let shown = env.recorder.show(self.step, self.now, n, |out| {
            guarded(|| proto.show(&host.store, out)).map_err(|m| format!("panicked: {m}"))?;
            if let Some(c) = host.clocks.as_deref() {
                out.field("lamport_clock", &c.lamport());
                out.field("vector_clock", &c.vector().to_string());
            }
            Ok(())
        });
        match shown {
            Ok(()) => Ok(()),
            Err(ShowError::Protocol(message)) => Err(self.failed(
                "protocol_panic",
                vec![n],
                format!(
                    "{n} could not show its state ({}::show): {message}",
                    P::NAME
                ),
            )),
            Err(ShowError::Sink(e)) => Err(Stop(Box::new(Stopped::Aborted(e.into_reason())))),
        }
    }

    #[inline]
    pub(super) fn apply_effects<D: Driver<P>>(
        &mut self,
        n: NodeId,
        effects: &mut Vec<Effect<P>>,
        env: &mut Env<'_, D>,
    ) -> Flow {
        for effect in effects.drain(..) {
            match effect {
                Effect::Send { to, msg } => {
                    if to.0 >= self.nodes {
                        return Err(self.failed(
                            "protocol_error",
                            vec![n],
                            format!(
                                "{n} sent a message to {to}, which does not exist (cluster of {})",
                                self.nodes
                            ),
                        ));
                    }
                    self.send(
                        Endpoint::Node(n),
                        Endpoint::Node(to),
                        Payload::Peer(msg),
                        env,
                    )?;
                }
                Effect::SetTimer { timer, after } => {
                    let host = edit_host(&mut self.hosts[n.index()]);
                    host.timer_gen += 1;
                    let generation = host.timer_gen;
                    let after = host.clock.true_duration(after);
                    let incarnation = host.incarnation;
                    host.timers.insert(timer.clone(), generation);
                    if env.recorder.wants_display() {
                        let fires = self.now.add(after);
                        self.display(
                            env,
                            &Record::Armed {
                                node: n,
                                timer: &timer,
                                fires,
                            },
                        )?;
                    }
                    let slot = TimerSlot(self.timers.insert(TimerEntry {
                        node: n.0,
                        incarnation,
                        generation,
                        timer,
                    }));
                    self.tell(env, Consequence::Armed { slot, after });
                }
                Effect::CancelTimer { timer } => {
                    if env.recorder.wants_display() {
                        self.display(
                            env,
                            &Record::Disarmed {
                                node: n,
                                timer: &timer,
                            },
                        )?;
                    }
                    edit_host(&mut self.hosts[n.index()]).timers.remove(&timer);
                }
                Effect::Reply {
                    client,
                    id,
                    response,
                } => {
                    if client.0 >= self.clients.len() as u32 {
                        return Err(self.failed(
                            "protocol_error",
                            vec![n],
                            format!("{n} replied to {client}, which does not exist"),
                        ));
                    }
                    let serves =
                        env.driver.wants_serves() && self.serving.reply && P::serves(&response);
                    self.send(
                        Endpoint::Node(n),
                        Endpoint::Client(client),
                        Payload::Response { id, body: response },
                        env,
                    )?;
                    if serves {
                        self.tell(env, Consequence::Served(n));
                    }
                }
                Effect::Annotate { key, value } => {
                    self.record(
                        env,
                        &Record::Note {
                            node: n,
                            key,
                            value: &value,
                        },
                    )?;
                    if env.driver.wants_notes() {
                        let c = Consequence::Noted {
                            node: n,
                            key,
                            value: value.clone(),
                        };
                        self.tell(env, c);
                    }
                    let grew = match &self.serving.progress {
                        Some(k) if k == key && env.driver.wants_serves() => {
                            match (&value, self.hosts[n.index()].annotations.get(key)) {
                                (Value::Int(new), Some(Value::Int(old))) => new > old,
                                (Value::Int(_), None) => true,
                                _ => false,
                            }
                        }
                        _ => false,
                    };
                    edit_host(&mut self.hosts[n.index()])
                        .annotations
                        .insert(key, value);
                    if grew {
                        self.tell(env, Consequence::Served(n));
                    }
                }
                Effect::Serving => {
                    if self.serving.signal && env.driver.wants_serves() {
                        self.tell(env, Consequence::Served(n));
                    }
                }
                Effect::Synced { ops, failed } => {
                    self.record(
                        env,
                        &Record::Sync {
                            node: n,
                            ops,
                            failed,
                        },
                    )?;
                }
            }
        }
        Ok(())
    }

    #[inline]
    pub(super) fn send<D: Driver<P>>(
        &mut self,
        from: Endpoint,
        to: Endpoint,
        payload: Payload<P>,
        env: &mut Env<'_, D>,
    ) -> Flow {
        let id = self.next_msg_id;
        self.next_msg_id += 1;
        let (vf, vt) = (self.network.vertex(from), self.network.vertex(to));
        let mut fate = env.driver.fate(vf, vt);
        let chosen = if env.driver.watches_sends() {
            twist(from, to, &payload, &mut fate, env)
        } else {
            None
        };
        self.network.count_sent(&fate);
        let copies = match fate {
            Fate::Lost => 0,
            Fate::Arrives {
                duplicate: None, ..
            } => 1,
            Fate::Arrives {
                duplicate: Some(_), ..
            } => 2,
        };
        self.record(
            env,
            &Record::Send {
                id,
                from,
                to,
                copies,
                msg: &payload,
            },
        )?;
        let mut reason = LossReason::Loss;
        if let Some((m, ignored)) = chosen {
            if m.twist == Twist::Drop && ignored.is_none() {
                reason = LossReason::Fault;
            }
            let detail = match ignored {
                Some(why) => format!("ignored: {why} (message #{id})"),
                None => format!("message #{id}"),
            };
            let fault = Fault::Message(m);
            self.record_fault(env, &fault, Origin::Schedule, Some(&detail))?;
        }
        match fate {
            Fate::Lost => self.record(
                env,
                &Record::Lost {
                    id,
                    from,
                    to,
                    reason,
                },
            ),
            Fate::Arrives {
                first, duplicate, ..
            } => {
                if let Some(second) = duplicate {
                    let copy = InFlight {
                        id,
                        from,
                        to,
                        payload: payload.clone(),
                        arrived: false,
                        digest: AtomicU64::new(0),
                    };
                    let slot = MsgSlot(self.msgs.insert(copy));
                    self.tell(
                        env,
                        Consequence::InFlight {
                            slot,
                            after: second,
                        },
                    );
                }
                let slot = MsgSlot(self.msgs.insert(InFlight {
                    id,
                    from,
                    to,
                    payload,
                    arrived: false,
                    digest: AtomicU64::new(0),
                }));
                self.tell(env, Consequence::InFlight { slot, after: first });
                Ok(())
            }
        }
    }

    #[inline]
    pub(super) fn lose<D: Driver<P>>(
        &mut self,
        m: &InFlight<P>,
        reason: LossReason,
        env: &mut Env<'_, D>,
    ) -> Flow {
        self.network.count_lost(reason);
        self.record(
            env,
            &Record::Lost {
                id: m.id,
                from: m.from,
                to: m.to,
                reason,
            },
        )
    }

    #[inline]
    pub(super) fn deliver<D: Driver<P>>(
        &mut self,
        slot: MsgSlot,
        env: &mut Env<'_, D>,
    ) -> Flow<Applied> {
        let Some(m) = self.msgs.get(slot.0) else {
            return Ok(Applied::nothing());
        };
        let (from, to, arrived) = (m.from, m.to, m.arrived);
        let link_up = arrived
            || self
                .network
                .can_send(self.network.vertex(from), self.network.vertex(to));
        match to {
            Endpoint::Node(n) => {
                let status = self.hosts[n.index()].status;
                if status == Status::Down {
                    let m = self.msgs.remove(slot.0).expect("slot checked above");
                    self.lose(&m, LossReason::ReceiverDown, env)?;
                    return Ok(Applied::at(to));
                }
                if !link_up {
                    let m = self.msgs.remove(slot.0).expect("slot checked above");
                    self.lose(&m, LossReason::Partition, env)?;
                    return Ok(Applied::at(to));
                }
                if status == Status::Paused {
                    let m = self.msgs.get_mut(slot.0).expect("slot checked above");
                    m.arrived = true;
                    let id = m.id;
                    edit_host(&mut self.hosts[n.index()])
                        .held
                        .push_back(Held::Deliver(slot));
                    self.held_total += 1;
                    self.record(env, &Record::Held { id, node: n })?;
                    return Ok(Applied::at(to));
                }
                let m = self.msgs.remove(slot.0).expect("slot checked above");
                self.record_delivery(&m, env)?;
                match (from, m.payload) {
                    (Endpoint::Node(src), Payload::Peer(msg)) => {
                        if let Some(truth) = P::stamp_of(&msg).and_then(|s| s.truth()) {
                            edit_host(&mut self.hosts[n.index()])
                                .clocks
                                .get_or_insert_default()
                                .delivered(truth);
                        }
                        self.call_node(n, env, |p, ctx| p.on_message(ctx, src, msg))?
                    }
                    (Endpoint::Client(c), Payload::Request { id, body }) => {
                        self.call_node(n, env, |p, ctx| p.on_request(ctx, c, id, body))?
                    }
                    _ => debug_assert!(false, "a payload of the wrong kind for its endpoints"),
                }
                Ok(Applied::at(to))
            }
            Endpoint::Client(c) => {
                let m = self.msgs.remove(slot.0).expect("slot checked above");
                if !link_up {
                    self.lose(&m, LossReason::Partition, env)?;
                    return Ok(Applied::at(to));
                }
                self.record_delivery(&m, env)?;
                if let (Endpoint::Node(src), Payload::Response { id, body }) = (from, m.payload) {
                    self.call_client(c.0, env, |cl, ctx| cl.on_response(ctx, src, id, body))?;
                }
                Ok(Applied::at(to))
            }
        }
    }

    #[inline]
    pub(super) fn record_delivery<D: Driver<P>>(
        &mut self,
        m: &InFlight<P>,
        env: &mut Env<'_, D>,
    ) -> Flow {
        self.network.count_delivered();
        let (id, from, to, msg) = (m.id, m.from, m.to, &m.payload);
        self.record(env, &Record::Deliver { id, from, to, msg })
    }

    #[inline]
    pub(super) fn fire_timer<D: Driver<P>>(
        &mut self,
        slot: TimerSlot,
        env: &mut Env<'_, D>,
    ) -> Flow<Applied> {
        let Some(t) = self.timers.get(slot.0) else {
            return Ok(Applied::nothing());
        };
        if !self.timer_live(t) {
            self.timers.remove(slot.0);
            return Ok(Applied::nothing());
        }
        let n = NodeId(t.node);
        if self.hosts[n.index()].status == Status::Paused {
            edit_host(&mut self.hosts[n.index()])
                .held
                .push_back(Held::Timer(slot));
            self.held_total += 1;
            return Ok(Applied::nothing());
        }
        let t = self.timers.remove(slot.0).expect("slot checked above");
        edit_host(&mut self.hosts[n.index()])
            .timers
            .remove(&t.timer);
        self.record(
            env,
            &Record::Timer {
                node: n,
                timer: &t.timer,
            },
        )?;
        self.call_node(n, env, |p, ctx| p.on_timer(ctx, t.timer))?;
        Ok(Applied::at(Endpoint::Node(n)))
    }

    #[inline]
    pub(super) fn call_client<D: Driver<P>>(
        &mut self,
        c: u32,
        env: &mut Env<'_, D>,
        f: impl FnOnce(&mut P::Client, &mut ClientCtx<'_, P>),
    ) -> Flow {
        let mut effects = std::mem::take(&mut self.client_effects);
        let host = edit_client(&mut self.clients[c as usize]);
        let result = {
            let mut ctx = ClientCtx::new(
                ClientId(c),
                self.nodes,
                self.now,
                &mut host.rng,
                &mut self.history,
                &mut host.process,
                &mut effects,
            );
            guarded(|| f(&mut host.logic, &mut ctx))
        };
        let flow = match result {
            Ok(()) => effects
                .drain(..)
                .try_for_each(|e| self.apply_client_effect(c, e, env)),
            Err(message) => Err(self.failed(
                "protocol_panic",
                vec![],
                format!("client c{} panicked: {message}", c + 1),
            )),
        };
        effects.clear();
        self.client_effects = effects;
        flow
    }

    #[inline]
    pub(super) fn apply_client_effect<D: Driver<P>>(
        &mut self,
        c: u32,
        e: ClientEffect<P>,
        env: &mut Env<'_, D>,
    ) -> Flow {
        match e {
            ClientEffect::Send { to, id, request } => {
                if to.0 >= self.nodes {
                    return Err(self.failed(
                        "protocol_error",
                        vec![],
                        format!(
                            "client c{} sent a request to {to}, which does not exist (cluster of {})",
                            c + 1,
                            self.nodes
                        ),
                    ));
                }
                let host = edit_client(&mut self.clients[c as usize]);
                if let Some(open) = host.open {
                    if let Some((before, used)) = host.last_sent
                        && before != open
                        && used == id
                    {
                        return Err(self.failed(
                            "protocol_error",
                            vec![],
                            format!(
                                "client c{} sent request id {} for its operation {}, the id it had used for its operation {}: a request id names one operation (a service that answers a repeated id from its de-duplication table would answer the new operation with the old one's result)",
                                c + 1,
                                id.0,
                                open.0,
                                before.0
                            ),
                        ));
                    }
                    host.last_sent = Some((open, id));
                }
                self.send(
                    Endpoint::Client(ClientId(c)),
                    Endpoint::Node(to),
                    Payload::Request { id, body: request },
                    env,
                )
            }
            ClientEffect::SetTimer { timer, after } => {
                let host = edit_client(&mut self.clients[c as usize]);
                host.timer_gen += 1;
                let generation = host.timer_gen;
                host.timers.insert(timer, generation);
                let slot = ClientTimerSlot(self.client_timers.insert(ClientTimerEntry {
                    client: c,
                    generation,
                    timer,
                }));
                self.tell(env, Consequence::ClientArmed { slot, after });
                Ok(())
            }
            ClientEffect::CancelTimer { timer } => {
                edit_client(&mut self.clients[c as usize])
                    .timers
                    .remove(&timer);
                Ok(())
            }
            ClientEffect::Invoked(op) => {
                if u64::from(op.0) >= self.bounds.history_max {
                    let max = self.bounds.history_max;
                    return Err(self.bound_reached("history_max", max, "the client history"));
                }
                if let Some(open) = edit_client(&mut self.clients[c as usize]).open.replace(op) {
                    return Err(self.failed(
                        "protocol_error",
                        vec![],
                        format!(
                            "client c{} invoked operation {} while its operation {} was still open: a client runs one operation at a time (its history is one process's, and a process's operations do not overlap)",
                            c + 1,
                            op.0,
                            open.0
                        ),
                    ));
                }
                let o = self.history.op(op);
                // The history check's reading of the request, for tools; only when a trace
                // is written (it is not part of the fingerprint).
                let call = if env.recorder.has_sink() {
                    P::history_call(&o.request)
                } else {
                    None
                };
                self.record(
                    env,
                    &Record::Invoke {
                        op,
                        client: o.client,
                        process: o.process,
                        request: &o.request,
                        call: call.as_ref(),
                    },
                )
            }
            ClientEffect::Completed(op) => {
                let host = edit_client(&mut self.clients[c as usize]);
                if host.open == Some(op) {
                    host.open = None;
                }
                let o = self.history.op(op);
                let result = match &o.outcome {
                    crate::history::Outcome::Ok(r) | crate::history::Outcome::Fail(r)
                        if env.recorder.has_sink() =>
                    {
                        Some(P::history_value(r))
                    }
                    _ => None,
                };
                self.record(
                    env,
                    &Record::Complete {
                        op,
                        client: o.client,
                        process: o.process,
                        outcome: &o.outcome,
                        result: result.as_ref(),
                    },
                )
            }
        }
    }

    #[inline]
    pub(super) fn fire_client_timer<D: Driver<P>>(
        &mut self,
        slot: ClientTimerSlot,
        env: &mut Env<'_, D>,
    ) -> Flow<Applied> {
        let Some(t) = self.client_timers.remove(slot.0) else {
            return Ok(Applied::nothing());
        };
        let host = edit_client(&mut self.clients[t.client as usize]);
        if host.timers.get(&t.timer) != Some(&t.generation) {
            return Ok(Applied::nothing());
        }
        host.timers.remove(&t.timer);
        self.call_client(t.client, env, |cl, ctx| cl.on_timer(ctx, t.timer))?;
        Ok(Applied::at(Endpoint::Client(ClientId(t.client))))
    }
}

/// What one node's store keeps in memory: its records and its writes not yet synced.
#[inline(always)]
fn store_size<R: Clone>(store: &crate::storage::Store<R>) -> u64 {
    (store.len() + store.pending_writes()) as u64
}

/// The fault a driver has chosen for this message, if any, applied to its fate: a drop
/// loses it, a delay moves every copy later, a duplicate adds a copy that arrives with the
/// first. The network's draws for it have been taken already, so no stream moves. Returns
/// the fault and, when it changed nothing, why (the network had lost or duplicated it).
#[cold]
#[inline(never)]
fn twist<P: Protocol, D: Driver<P>>(
    from: Endpoint,
    to: Endpoint,
    payload: &Payload<P>,
    fate: &mut Fate,
    env: &mut Env<'_, D>,
) -> Option<(MessageFault, Option<&'static str>)> {
    let m = env
        .driver
        .chosen(from, to, &|| super::kind_of::<P>(payload))?;
    let ignored = match (m.twist, &mut *fate) {
        (_, Fate::Lost) => Some("the network lost it"),
        (Twist::Drop, _) => {
            *fate = Fate::Lost;
            None
        }
        (
            Twist::Delay(us),
            Fate::Arrives {
                first, duplicate, ..
            },
        ) => {
            *first = first.add(crate::base::types::Time(us));
            if let Some(d) = duplicate {
                *d = d.add(crate::base::types::Time(us));
            }
            None
        }
        (
            Twist::Duplicate,
            Fate::Arrives {
                duplicate: Some(_), ..
            },
        ) => Some("the network duplicated it already"),
        (
            Twist::Duplicate,
            Fate::Arrives {
                first, duplicate, ..
            },
        ) => {
            *duplicate = Some(*first);
            None
        }
    };
    Some((m, ignored))
}
