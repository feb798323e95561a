//! The WAL store driven handler by handler on a store with its codec, with the storage faults
//! applied to the store directly: what each fault does to the disk, and what recovery makes
//! of it, with and without each bug switch.

use super::{Bugs, Config, Record, Timer, Wal};
use crate::base::rng::{Rng, Stream};
use crate::kit::kv::{Answer, Op};
use crate::kit::wal::Harm;
use crate::protocol::{ClientId, Ctx, Effect, NodeId, Place, Protocol, RequestId, Store, Time};
use crate::storage::Damage;

struct Node {
    wal: Wal,
    config: Config,
    store: Store<Record>,
    rng: Rng,
    clocks: Option<Box<crate::protocol::LogicalClocks>>,
    effects: Vec<Effect<Wal>>,
    serial: u64,
}

impl Node {
    fn new(bugs: Bugs) -> Node {
        let config = Config {
            bugs,
            ..Config::default()
        };
        let mut store = Store::new();
        store.set_codec(Wal::codec().expect("wal has a codec"));
        let mut n = Node {
            wal: Wal::new(NodeId(0), 1, &config),
            config,
            store,
            rng: Rng::new(1, Stream::Workload),
            clocks: None,
            effects: Vec::new(),
            serial: 0,
        };
        n.run(|w, c| w.on_start(c));
        n
    }

    fn run(&mut self, f: impl FnOnce(&mut Wal, &mut Ctx<'_, Wal>)) {
        let mut ctx = Ctx::new(
            NodeId(0),
            1,
            Time::ZERO,
            0,
            &mut self.rng,
            &mut self.store,
            &mut self.clocks,
            &mut self.effects,
        );
        f(&mut self.wal, &mut ctx);
    }

    /// Sends a request; returns the answers given in that handler.
    fn ask(&mut self, op: Op) -> Vec<Answer> {
        self.serial += 1;
        let id = RequestId::of(ClientId(0), self.serial);
        self.effects.clear();
        self.run(|w, c| w.on_request(c, ClientId(0), id, op));
        self.answers()
    }

    fn answers(&self) -> Vec<Answer> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Reply { response, .. } => Some(response.clone()),
                _ => None,
            })
            .collect()
    }

    fn put(&mut self, key: &str, value: &str) -> Vec<Answer> {
        self.ask(Op::Put {
            key: key.into(),
            value: value.into(),
        })
    }

    fn append(&mut self, key: &str, value: &str) -> Vec<Answer> {
        self.ask(Op::Append {
            key: key.into(),
            value: value.into(),
        })
    }

    /// Fires a timer; returns the answers.
    fn fire(&mut self, t: Timer) -> Vec<Answer> {
        self.effects.clear();
        self.run(|w, c| w.on_timer(c, t));
        self.answers()
    }

    fn flush(&mut self) -> Vec<Answer> {
        self.fire(Timer::Flush)
    }

    /// A restart: the node's memory is built anew and recovers from the store.
    fn restart(&mut self) {
        self.wal = Wal::new(NodeId(0), 1, &self.config);
        self.effects.clear();
        self.run(|w, c| w.on_recover(c));
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.wal.state.data.get(key).map(String::as_str)
    }
}

fn ok() -> Answer {
    Answer::Ok { value: None }
}

#[test]
fn records_round_trip_through_the_codec_and_damage_reads_as_damage() {
    let codec = Wal::codec().unwrap();
    let mut n = Node::new(Bugs::default());
    n.put("k0", "c0.1");
    n.flush();
    n.fire(Timer::Checkpoint);
    let records: Vec<Record> = n.store.records().to_vec();
    let ckpt = n.store.cell("ckpt#1").cloned().expect("checkpoint written");
    for (r, place) in [
        (&records[0], Place::Record(0)),
        (&ckpt, Place::Cell("ckpt#1")),
    ] {
        let mut bytes = Vec::new();
        (codec.encode)(r, &mut bytes);
        assert_eq!((codec.decode)(place, Some(&bytes)), *r);
        assert!(matches!(
            (codec.decode)(place, Some(&bytes[..bytes.len() - 3])),
            Record::Damaged {
                harm: Harm::Torn,
                ..
            }
        ));
        assert!(matches!(
            (codec.decode)(place, None),
            Record::Damaged {
                harm: Harm::Unreadable,
                ..
            }
        ));
    }
    let mut bytes = Vec::new();
    (codec.encode)(&records[0], &mut bytes);
    match (codec.decode)(Place::Record(5), Some(&bytes)) {
        Record::Damaged {
            harm: Harm::Corrupt,
            misplaced: Some(0),
            naive: Some(naive),
            ..
        } => assert_eq!(*naive, records[0]),
        other => panic!("a record read at the wrong place: {other:?}"),
    }
}

#[test]
fn writes_are_answered_after_the_batch_sync_and_survive_a_crash() {
    let mut n = Node::new(Bugs::default());
    assert!(n.put("k0", "c0.1").is_empty(), "not before the sync");
    assert_eq!(n.store.pending_writes(), 1);
    assert_eq!(n.flush(), [ok()]);
    assert_eq!(n.store.pending_writes(), 0);
    n.append("k0", "c0.2");
    n.store.crash();
    n.restart();
    assert_eq!(n.get("k0"), Some("c0.1"), "the unsynced append is gone");
    assert!(n.wal.lost.is_empty());
}

#[test]
fn ack_before_sync_answers_what_a_crash_then_loses() {
    let mut n = Node::new(Bugs {
        ack_before_sync: true,
        ..Bugs::default()
    });
    assert_eq!(n.put("k0", "c0.1"), [ok()]);
    n.store.crash();
    n.restart();
    assert_eq!(n.get("k0"), None);
}

#[test]
fn a_torn_append_is_dropped_by_the_checksummed_store_and_believed_by_the_naive_one() {
    for naive in [false, true] {
        let mut n = Node::new(Bugs {
            no_checksums: naive,
            ..Bugs::default()
        });
        n.put("k0", "c0.1");
        n.flush();
        n.append("k0", "c0.22");
        // 43 of the record's 53 bytes reach the disk: the value is cut short.
        let (_, struck) = n.store.crash_torn(0, 42, &|_| true);
        assert_eq!(struck.damaged, [Place::Record(1)]);
        n.restart();
        if naive {
            assert_eq!(n.get("k0"), Some("c0.1c0."), "the torn record was applied");
        } else {
            assert_eq!(n.get("k0"), Some("c0.1"));
            assert!(
                n.wal.lost.is_empty(),
                "a torn record was never acknowledged"
            );
            // The store goes on: the next write lands after the torn record.
            n.put("k1", "c0.3");
            assert_eq!(n.flush(), [ok()]);
            n.store.crash();
            n.restart();
            assert_eq!(n.get("k1"), Some("c0.3"));
            assert!(n.wal.lost.is_empty());
        }
    }
}

#[test]
fn a_torn_checkpoint_leaves_the_other_copy_and_the_log_it_needs() {
    let mut n = Node::new(Bugs::default());
    for i in 0..3 {
        n.append("k0", &format!("c0.{i}"));
        n.flush();
        n.fire(Timer::Checkpoint);
        n.flush();
    }
    // Both copies durable; the log is kept from the older one.
    assert!(n.store.first_index() > 0);
    n.append("k0", "c0.9");
    n.flush();
    n.fire(Timer::Checkpoint);
    let (_, struck) = n.store.crash_torn(0, 5, &|_| true);
    assert!(matches!(struck.damaged[..], [Place::Cell(_)]), "{struck:?}");
    n.restart();
    assert!(n.wal.lost.is_empty(), "{:?}", n.wal.lost);
    assert_eq!(n.get("k0"), Some("c0.0c0.1c0.2c0.9"));
}

#[test]
fn truncating_before_the_checkpoint_is_durable_leaves_a_gap() {
    let mut n = Node::new(Bugs {
        truncate_before_checkpoint_durable: true,
        ..Bugs::default()
    });
    for i in 0..3 {
        n.append("k0", &format!("c0.{i}"));
        n.flush();
        n.fire(Timer::Checkpoint);
        n.flush();
    }
    n.append("k0", "c0.9");
    n.flush();
    n.fire(Timer::Checkpoint);
    // The batch is [discard, checkpoint]: the cut falls in the checkpoint.
    n.store.crash_torn(1, 5, &|_| true);
    n.restart();
    assert_eq!(n.wal.lost.first().map(|l| l.why.as_str()), Some("gap"));
}

#[test]
fn a_failed_sync_is_never_acknowledged_and_the_batch_is_written_again() {
    let mut n = Node::new(Bugs::default());
    n.put("k0", "c0.1");
    n.store.fail_next_sync();
    assert!(n.flush().is_empty(), "nothing answered after a failed sync");
    assert_eq!(n.flush(), [ok()], "answered once written again");
    n.store.crash();
    n.restart();
    assert_eq!(n.get("k0"), Some("c0.1"));
    assert!(n.wal.lost.is_empty());
}

#[test]
fn retry_failed_sync_acknowledges_what_the_disk_forgot() {
    let mut n = Node::new(Bugs {
        retry_failed_sync: true,
        ..Bugs::default()
    });
    n.put("k0", "c0.1");
    n.store.fail_next_sync();
    assert_eq!(n.flush(), [ok()]);
    n.store.crash();
    n.restart();
    assert_eq!(n.get("k0"), None);
}

#[test]
fn replay_applies_each_record_once_unless_the_switch_is_on() {
    for bug in [false, true] {
        let mut n = Node::new(Bugs {
            replay_not_idempotent: bug,
            ..Bugs::default()
        });
        for i in 0..3 {
            n.append("k0", &format!("c0.{i}"));
            n.flush();
            n.fire(Timer::Checkpoint);
            n.flush();
        }
        n.store.crash();
        n.restart();
        let whole = n.get("k0") == Some("c0.0c0.1c0.2");
        assert_eq!(whole, !bug, "{:?}", n.get("k0"));
    }
}

#[test]
fn corrupt_and_misdirected_records_are_reported_or_believed() {
    for (bug, damage) in [(false, 0), (false, 1), (true, 1), (false, 2)] {
        let mut n = Node::new(Bugs {
            checksum_without_place: bug,
            ..Bugs::default()
        });
        for i in 0..4 {
            n.put(&format!("k{i}"), &format!("c0.{i}"));
            n.flush();
        }
        match damage {
            0 => {
                n.store
                    .damage(Place::Record(1), Damage::Corrupt { bit: 77 })
                    .unwrap();
            }
            1 => {
                n.store.misdirect(1).unwrap();
            }
            _ => {
                n.store.damage(Place::Record(2), Damage::Latent).unwrap();
            }
        }
        n.store.crash();
        n.restart();
        if bug {
            assert!(n.wal.lost.is_empty(), "the misdirected record was believed");
            assert_eq!(n.get("k1"), None, "and k1's write is gone unreported");
        } else {
            assert!(!n.wal.lost.is_empty(), "damage {damage} reported");
            assert_eq!(n.put("k9", "c0.9"), [Answer::NotLeader { hint: None }]);
        }
    }
}
