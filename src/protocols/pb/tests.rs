//! Primary-backup's nodes, message by message, with the scripted driver.

use super::{Config, Pb, Role, VIEW_MANAGER};
use crate::base::types::NodeId;
use crate::script::Script;

fn script(config: Config) -> Script<Pb> {
    let mut s = Script::with_params(4, config);
    s.start_all().unwrap();
    s
}

#[test]
fn the_first_ping_makes_a_view_and_a_confirmed_view_takes_the_others_in() {
    let mut s = script(Config::default());
    // Every replica pings at start; the first ping to arrive makes view 1 with n2 alone.
    s.stabilize().unwrap();
    let vm = s.node(VIEW_MANAGER).unwrap();
    let (epoch, primary) = vm.managed_view();
    assert_eq!(primary, Some(NodeId(1)));
    assert!(epoch >= 2, "view 1 had no backups; once confirmed the others join: {epoch}");
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
