//! Primary-backup's nodes, message by message, with the scripted driver.

use super::{Config, Pb, Role, Timer, VIEW_MANAGER};
use crate::base::types::NodeId;
use crate::script::Script;

fn script(config: Config) -> Script<Pb> {
    let mut s = Script::with_params(4, config);
    s.start_all().unwrap();
    s
}

#[test]
fn the_first_review_makes_a_view_of_every_replica_that_pinged() {
    let mut s = script(Config::default());
    // Every replica pings at start; no view comes of a ping before the first review.
    s.stabilize().unwrap();
    assert_eq!(s.node(VIEW_MANAGER).unwrap().managed_view(), (0, None));
    s.fire(VIEW_MANAGER, &Timer::Tick).unwrap();
    s.stabilize().unwrap();
    let vm = s.node(VIEW_MANAGER).unwrap();
    let (epoch, primary) = vm.managed_view();
    assert_eq!(
        (epoch, primary),
        (1, Some(NodeId(1))),
        "the lowest id leads view 1"
    );
    let p = s.node(NodeId(1)).unwrap();
    assert_eq!(p.role(), Role::Primary);
    assert!(p.serving());
    for b in [NodeId(2), NodeId(3)] {
        let node = s.node(b).unwrap();
        assert_eq!(node.role(), Role::Backup, "{b}");
        assert!(node.in_sync(), "{b} installed the primary's state");
        assert_eq!(node.epoch(), epoch);
    }
}

#[test]
fn a_margin_that_eats_the_lease_and_a_timeout_shorter_than_a_ping_are_refused_at_load() {
    use crate::protocol::Protocol;
    let margin = Config {
        drift_margin_ppm: 1_000_000,
        ..Config::default()
    };
    let e = Pb::check_config(&margin, 4).unwrap_err();
    assert_eq!(e.field, "drift_margin_ppm");
    let timeout = Config {
        dead_ms: 50,
        ..Config::default()
    };
    assert_eq!(Pb::check_config(&timeout, 4).unwrap_err().field, "dead_ms");
    assert!(Pb::check_config(&Config::default(), 4).is_ok());
}
