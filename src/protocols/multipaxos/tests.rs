//! Multi-Paxos unit tests: its declared knobs are valid parameters, and the parameters and
//! bug switches read from a scenario as documented.

use super::{Bugs, Config, MultiPaxos};
use crate::protocol::Protocol;

#[test]
fn every_knob_extreme_is_a_valid_parameter() {
    for knob in MultiPaxos::knobs() {
        for value in knob.extremes() {
            let mut params = serde_json::to_value(Config::default()).unwrap();
            params[knob.param] = value.clone();
            let c: Config = serde_json::from_value(params)
                .unwrap_or_else(|e| panic!("{} = {value}: {e}", knob.param));
            assert!(
                c.heartbeat_ms < c.election_ms_min,
                "{} = {value}",
                knob.param
            );
            assert!(
                c.election_ms_min < c.election_ms_max,
                "{} = {value}",
                knob.param
            );
        }
    }
}

#[test]
fn backoff_is_a_parameter_and_on_by_default() {
    let c = Config::default();
    assert!(c.backoff);
    assert_eq!(c.bugs, Bugs::default());
    let off: Config = serde_json::from_str(r#"{"backoff": false}"#).unwrap();
    assert!(!off.backoff);
    assert!(serde_json::from_str::<Config>(r#"{"bugs": {"no_such": true}}"#).is_err());
}

mod scripted {
    //! Multi-Paxos's nodes, message by message, with the scripted driver.

    use super::super::{Bugs, Command, Config, Msg, MultiPaxos, Role, Timer};
    use crate::base::types::{ClientId, Endpoint, NodeId};
    use crate::script::{Script, ScriptError};
    use crate::sim::SimConfig;
    use crate::trace::Payload;
    use crate::world::Action;

    const N1: NodeId = NodeId(0);
    const N2: NodeId = NodeId(1);
    const N3: NodeId = NodeId(2);

    fn script(bugs: Bugs) -> Script<MultiPaxos> {
        let mut c = SimConfig::<MultiPaxos>::new(3, 1);
        c.protocol = Config {
            bugs,
            ..Config::default()
        };
        c.workload.clients = 2;
        let mut s = Script::from_config(c, None).unwrap();
        s.start_all().unwrap();
        s
    }

    fn msg_to(
        e: &crate::script::Envelope<'_, MultiPaxos>,
        pred: impl Fn(NodeId, &Msg) -> bool,
    ) -> bool {
        match (e.to, e.msg()) {
            (Endpoint::Node(to), Some(m)) => pred(to, m),
            _ => false,
        }
    }

    /// `n` stands and wins with the promises of `voters` (itself among them).
    fn elect(s: &mut Script<MultiPaxos>, n: NodeId, voters: &[NodeId]) -> Result<(), ScriptError> {
        s.fire(n, &Timer::Election)?;
        s.deliver_where(|e| {
            msg_to(e, |to, m| {
                voters.contains(&to) && matches!(m, Msg::Prepare { .. })
            })
        })?;
        s.deliver_where(|e| msg_to(e, |_, m| matches!(m, Msg::Promise { .. })))?;
        assert_eq!(s.node(n).unwrap().role(), Role::Leader, "{n} leads");
        Ok(())
    }

    /// Client `client` invokes its next operation (so the history records it) and its
    /// request goes to `leader`; returns the command.
    fn command(s: &mut Script<MultiPaxos>, client: u32, leader: NodeId) -> Command {
        let c = ClientId(client);
        s.act(Action::StartClient(c)).unwrap();
        let think = s
            .world()
            .enabled()
            .into_iter()
            .rfind(|a| matches!(a, Action::FireClient(_)))
            .expect("the client's think timer");
        s.act(think).unwrap();
        let (id, op) = s
            .messages()
            .iter()
            .find_map(|e| match (e.from, e.payload) {
                (Endpoint::Client(from), Payload::Request { id, body }) if from == c => {
                    Some((*id, body.clone()))
                }
                _ => None,
            })
            .expect("the client's request");
        s.drop_where(|e| e.from == Endpoint::Client(c)).unwrap();
        s.request(c, leader, id, op.clone()).unwrap();
        s.deliver_where(|e| matches!(e.payload, Payload::Request { .. }))
            .unwrap();
        Command { client: c, id, op }
    }

    /// n1 leads and puts a command in slot 1, accepted by n1 and n2 (chosen: a majority of
    /// three) but heard of by no learner; n3 then leads with the promises of n2 and n3.
    fn chosen_then_a_new_leader(bugs: Bugs) -> Result<Command, ScriptError> {
        let mut s = script(bugs);
        elect(&mut s, N1, &[N1, N2, N3])?;
        s.stabilize()?; // heartbeats
        let cmd = command(&mut s, 0, N1);
        s.deliver_where(|e| msg_to(e, |to, m| to != N3 && matches!(m, Msg::Accept { .. })))?;
        assert!(s.node(N2).unwrap().accepted_at(1).is_some());
        s.drop_where(|_| true)?; // the accepted replies are lost: nobody learns slot 1
        elect(&mut s, N3, &[N2, N3])?;
        let reproposed = s.messages().iter().any(
            |e| matches!(e.msg(), Some(Msg::Accept { slot: 1, command: Some(c), .. }) if *c == cmd),
        );
        assert_eq!(
            reproposed,
            !s.node(N3).unwrap().config.bugs.noop_instead_of_reproposal
        );
        s.stabilize()?;
        // The next heartbeat tells the followers the chosen prefix.
        s.fire(N3, &Timer::Heartbeat)?;
        s.stabilize()?;
        for n in [N1, N2, N3] {
            assert_eq!(
                s.node(n).unwrap().chosen_at(1),
                Some(&Some(cmd.clone())),
                "{n}"
            );
        }
        Ok(cmd)
    }

    #[test]
    fn a_new_leader_re_proposes_what_its_promises_report() {
        chosen_then_a_new_leader(Bugs::default()).unwrap();
    }

    #[test]
    fn filling_a_reported_slot_with_a_no_op_chooses_a_second_value() {
        let bugs = Bugs {
            noop_instead_of_reproposal: true,
            ..Bugs::default()
        };
        let err = chosen_then_a_new_leader(bugs).unwrap_err();
        let ScriptError::Failed(f) = err else {
            panic!("{err}")
        };
        assert_eq!(f.check, "agreement");
    }

    #[test]
    fn the_promise_is_synced_before_it_leaves_and_lower_ballots_are_refused() {
        let mut s = script(Bugs::default());
        elect(&mut s, N2, &[N1, N2, N3]).unwrap();
        let promised = s.node(N3).unwrap().promised();
        let synced = s.world().hosts()[2].store().synced_cell("promised");
        assert_eq!(synced, Some(&super::super::Record::Promised(promised)));
        // n1's first ballot (round 2 at the earliest, since it saw round 1) is above n2's;
        // n2's heartbeat to a node that promised it is then refused.
        s.fire(N1, &Timer::Election).unwrap();
        s.deliver_where(|e| msg_to(e, |to, m| to == N3 && matches!(m, Msg::Prepare { .. })))
            .unwrap();
        assert!(s.node(N3).unwrap().promised() > promised);
        s.fire(N2, &Timer::Heartbeat).unwrap();
        s.deliver_where(|e| msg_to(e, |to, m| to == N3 && matches!(m, Msg::Heartbeat { .. })))
            .unwrap();
        let nacked = s
            .messages()
            .iter()
            .any(|e| e.to == Endpoint::Node(N2) && matches!(e.msg(), Some(Msg::Nack { .. })));
        assert!(nacked);
    }
}
