//! The saga protocol's nodes, message by message, with the scripted driver: a transfer, a
//! redelivered step, the compensation that overtakes its step, recovery forward and backward,
//! and what the switches break.

use super::{Bugs, Config, Ending, Msg, ORCHESTRATOR, Phase, Request, Sagas, Step, Timer};
use crate::base::types::{ClientId, Endpoint, NodeId, Time};
use crate::protocol::RequestId;
use crate::script::{Envelope, Script};
use crate::sim::SimConfig;

const N2: NodeId = NodeId(1);
const N3: NodeId = NodeId(2);
const C1: ClientId = ClientId(0);

/// Four nodes (accounts 0 and 3 on n2, 1 and 4 on n3, 2 and 5 on n4), one client.
fn script(bugs: Bugs) -> Script<Sagas> {
    let mut c = SimConfig::<Sagas>::new(4, 1);
    c.protocol = Config {
        bugs,
        ..Config::default()
    };
    c.workload.clients = 1;
    let mut s = Script::from_config(c, None).unwrap();
    s.start_all().unwrap();
    s
}

fn steps(list: &[(u32, i64)]) -> Vec<Step> {
    list.iter()
        .map(|&(account, delta)| Step { account, delta })
        .collect()
}

/// Puts saga `id` of these steps in flight to the orchestrator and delivers the request.
fn ask(s: &mut Script<Sagas>, id: u64, list: &[(u32, i64)]) {
    let request = Request::Saga { steps: steps(list) };
    s.request(C1, ORCHESTRATOR, RequestId(id), request).unwrap();
    s.deliver_where(|e| e.msg().is_none() && e.to == Endpoint::Node(ORCHESTRATOR))
        .unwrap();
}

fn balance(s: &Script<Sagas>, node: NodeId, account: u32) -> i64 {
    s.node(node).unwrap().balances()[&account]
}

fn phase(s: &Script<Sagas>, id: u64) -> Phase {
    s.node(ORCHESTRATOR).unwrap().saga(id).unwrap().phase
}

fn is_do(e: &Envelope<'_, Sagas>) -> bool {
    matches!(e.msg(), Some(Msg::Do { .. }))
}

#[test]
fn a_transfer_commits_and_moves_the_money() {
    let mut s = script(Bugs::default());
    ask(&mut s, 1, &[(0, -30), (1, 30)]);
    s.stabilize().unwrap();
    assert_eq!(phase(&s, 1), Phase::Done(Ending::Committed));
    assert_eq!(balance(&s, N2, 0), 70);
    assert_eq!(balance(&s, N3, 1), 130);
    assert_eq!(s.node(ORCHESTRATOR).unwrap().in_flight(), 0);
}

#[test]
fn a_refused_debit_compensates_the_steps_before_it_in_reverse_order() {
    let mut s = script(Bugs::default());
    // 10 from account 0, then 500 from account 1 (it holds 100): refused.
    ask(&mut s, 1, &[(0, -10), (1, -500), (2, 510)]);
    s.stabilize().unwrap();
    assert_eq!(phase(&s, 1), Phase::Done(Ending::Compensated { failed: 1 }));
    assert_eq!(balance(&s, N2, 0), 100, "the first debit was credited back");
    assert_eq!(balance(&s, N3, 1), 100);
    assert!(s.node(N3).unwrap().entry(1, 1).refused);
    assert!(s.node(N2).unwrap().entry(1, 0).compensated);
}

#[test]
fn a_redelivered_step_is_answered_from_its_record() {
    let mut s = script(Bugs::default());
    ask(&mut s, 1, &[(0, -30), (1, 30)]);
    assert_eq!(s.duplicate_where(is_do).unwrap(), 1);
    s.stabilize().unwrap();
    assert_eq!(balance(&s, N2, 0), 70, "debited once");
    assert_eq!(s.node(N2).unwrap().seen().redelivered, 1);
    assert_eq!(phase(&s, 1), Phase::Done(Ending::Committed));
}

#[test]
fn without_idempotency_a_redelivered_debit_is_taken_twice() {
    let mut s = script(Bugs {
        step_not_idempotent: true,
        ..Bugs::default()
    });
    ask(&mut s, 1, &[(0, -30), (1, 30)]);
    s.duplicate_where(is_do).unwrap();
    let e = s.stabilize().unwrap_err().to_string();
    assert!(e.contains("step_applied_once"), "{e}");
    assert_eq!(balance(&s, N2, 0), 40, "the double debit");
}

/// Saga 1 debits account 0 at n2; the debit is held back until the orchestrator gives up on
/// it and its compensation has reached n2; then the debit arrives.
fn compensation_first(bugs: Bugs) -> (Script<Sagas>, Result<usize, String>) {
    let mut s = script(bugs);
    ask(&mut s, 1, &[(0, -30), (1, 30)]);
    s.advance(Time::from_ms(500));
    s.fire(ORCHESTRATOR, &Timer::Resend).unwrap();
    assert_eq!(
        phase(&s, 1),
        Phase::Backward { next: 0, failed: 0 },
        "the unanswered debit is given up on and compensated itself"
    );
    s.deliver_where(|e| matches!(e.msg(), Some(Msg::Undo { .. })))
        .unwrap();
    s.deliver_where(|e| matches!(e.msg(), Some(Msg::Undone { .. })))
        .unwrap();
    assert_eq!(phase(&s, 1), Phase::Done(Ending::Compensated { failed: 0 }));
    let late = s.stabilize().map_err(|e| e.to_string());
    (s, late)
}

#[test]
fn a_compensation_before_its_step_leaves_a_tombstone_that_refuses_the_late_step() {
    let (s, late) = compensation_first(Bugs::default());
    late.unwrap();
    let n2 = s.node(N2).unwrap();
    assert!(n2.entry(1, 0).tombstone);
    assert_eq!(n2.entry(1, 0).applied, None);
    assert!(n2.seen().late_refused >= 1);
    assert_eq!(balance(&s, N2, 0), 100, "the late debit was refused");
}

#[test]
fn without_a_tombstone_the_late_step_is_applied_after_its_saga_finished() {
    let (s, late) = compensation_first(Bugs {
        no_tombstone: true,
        ..Bugs::default()
    });
    let e = late.unwrap_err();
    assert!(e.contains("saga_settles"), "{e}");
    assert_eq!(balance(&s, N2, 0), 70, "the money is gone for good");
}

#[test]
fn a_blind_compensation_credits_money_never_debited() {
    let (_, late) = {
        let mut s = script(Bugs {
            blind_compensation: true,
            ..Bugs::default()
        });
        ask(&mut s, 1, &[(0, -30), (1, 30)]);
        s.advance(Time::from_ms(500));
        s.fire(ORCHESTRATOR, &Timer::Resend).unwrap();
        let r = s
            .deliver_where(|e| matches!(e.msg(), Some(Msg::Undo { .. })))
            .map_err(|e| e.to_string());
        (s, r)
    };
    let e = late.unwrap_err();
    assert!(e.contains("no_compensation_without_step"), "{e}");
}

#[test]
fn skipping_the_unknown_step_leaves_its_debit_in_place() {
    let mut s = script(Bugs {
        skip_unknown_step: true,
        ..Bugs::default()
    });
    ask(&mut s, 1, &[(0, -30), (1, 30)]);
    s.deliver_where(is_do).unwrap(); // applied at n2; its answer is held back
    s.advance(Time::from_ms(500));
    let e = s
        .fire(ORCHESTRATOR, &Timer::Resend)
        .unwrap_err()
        .to_string();
    assert!(e.contains("saga_settles"), "{e}");
}

#[test]
fn recovery_resumes_a_saga_forward() {
    let mut s = script(Bugs::default());
    ask(&mut s, 1, &[(0, -30), (1, 30)]);
    s.deliver_where(is_do).unwrap();
    s.deliver_where(|e| matches!(e.msg(), Some(Msg::Done { .. })))
        .unwrap();
    assert_eq!(phase(&s, 1), Phase::Forward(1));
    s.crash(ORCHESTRATOR).unwrap();
    s.drop_where(|_| true).unwrap();
    s.restart(ORCHESTRATOR).unwrap();
    assert_eq!(phase(&s, 1), Phase::Forward(1), "read back from the log");
    s.stabilize().unwrap();
    assert_eq!(phase(&s, 1), Phase::Done(Ending::Committed));
    assert_eq!(balance(&s, N3, 1), 130);
}

#[test]
fn recovery_resumes_a_saga_backward() {
    let mut s = script(Bugs::default());
    ask(&mut s, 1, &[(0, -10), (1, -500), (2, 510)]);
    for _ in 0..2 {
        s.deliver_where(is_do).unwrap();
        s.deliver_where(|e| matches!(e.msg(), Some(Msg::Done { .. })))
            .unwrap();
    }
    assert_eq!(phase(&s, 1), Phase::Backward { next: 0, failed: 1 });
    s.crash(ORCHESTRATOR).unwrap();
    s.drop_where(|_| true).unwrap();
    assert_eq!(balance(&s, N2, 0), 90, "the first debit is still out");
    s.restart(ORCHESTRATOR).unwrap();
    assert_eq!(phase(&s, 1), Phase::Backward { next: 0, failed: 1 });
    s.stabilize().unwrap();
    assert_eq!(phase(&s, 1), Phase::Done(Ending::Compensated { failed: 1 }));
    assert_eq!(balance(&s, N2, 0), 100);
}

#[test]
fn a_saga_log_kept_in_memory_forgets_the_saga_and_its_money() {
    let mut s = script(Bugs {
        saga_log_in_memory: true,
        ..Bugs::default()
    });
    ask(&mut s, 1, &[(0, -30), (1, 30)]);
    s.deliver_where(is_do).unwrap();
    s.crash(ORCHESTRATOR).unwrap();
    s.drop_where(|_| true).unwrap();
    let e = s.restart(ORCHESTRATOR).unwrap_err().to_string();
    assert!(e.contains("money_conserved_at_rest"), "{e}");
}

#[test]
fn malformed_sagas_are_rejected_and_nonsense_parameters_refused() {
    use crate::protocol::Protocol;
    let mut s = script(Bugs::default());
    // A credit before a debit, and a sum that is not zero.
    ask(&mut s, 1, &[(1, 30), (0, -30)]);
    ask(&mut s, 2, &[(0, -30), (1, 20)]);
    assert!(s.node(ORCHESTRATOR).unwrap().saga(1).is_none());
    assert!(s.node(ORCHESTRATOR).unwrap().saga(2).is_none());
    let timeout = Config {
        step_timeout_ms: 40,
        ..Config::default()
    };
    let e = Sagas::check_config(&timeout, 4).unwrap_err();
    assert_eq!(e.field, "step_timeout_ms");
    let huge = Config {
        initial_balance: 1 << 63,
        ..Config::default()
    };
    assert_eq!(
        Sagas::check_config(&huge, 4).unwrap_err().field,
        "initial_balance"
    );
    assert!(Sagas::check_config(&Config::default(), 1).is_err());
    assert!(Sagas::check_config(&Config::default(), 4).is_ok());
}

#[test]
fn each_bug_scenario_fails_its_check_and_passes_without_its_switch() {
    use crate::protocols::AnyScenario;
    for (name, switch) in [
        ("saga/bug-step-not-idempotent", "step_not_idempotent"),
        ("saga/bug-no-tombstone", "no_tombstone"),
        ("saga/bug-blind-compensation", "blind_compensation"),
        ("saga/bug-saga-log-in-memory", "saga_log_in_memory"),
        ("saga/bug-skip-unknown-step", "skip_unknown_step"),
    ] {
        let scn = AnyScenario::bundled(name, &[]).unwrap();
        let outcome = scn.file.outcome.clone().unwrap();
        let report = scn.run(scn.file.seed, None).unwrap();
        outcome
            .judge(&report.verdict)
            .unwrap_or_else(|why| panic!("{name}: {why}"));
        let off = [format!("protocol.params.bugs.{switch}=false")];
        let fixed = AnyScenario::bundled(name, &off).unwrap();
        let report = fixed.run(fixed.file.seed, None).unwrap();
        assert!(
            matches!(report.verdict, crate::sim::Verdict::Pass),
            "{name} without {switch}: {:?}",
            report.verdict
        );
    }
}
