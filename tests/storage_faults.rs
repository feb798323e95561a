//! Each storage fault shows its documented effect (docs/fault-model.md, "Storage faults")
//! through the real engine, on a small protocol written here with a naive byte codec, and
//! the fault atlas refuses what it does not allow.

mod common;

use common::MemSink;
use faultline::faults::{Atlas, CellRule, DiskFault, DiskKind, Fault, ScheduledFault};
use faultline::protocol::{
    ClientCtx, ClientLogic, Codec, Ctx, NodeId, Place, PropertyDef, Protocol, RequestId, Time,
    WorkloadConfig,
};
use faultline::sim::{SimConfig, Simulation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the disk holds: a tag byte and four little-endian bytes, no checksum.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
enum Rec {
    Entry(u32),
    Meta(u32),
    /// The disk reported a read error, or the tag byte is not one of ours.
    Unreadable,
}

fn encode(r: &Rec, out: &mut Vec<u8>) {
    let (tag, v) = match r {
        Rec::Entry(v) => (1u8, *v),
        Rec::Meta(v) => (2, *v),
        Rec::Unreadable => (0, 0),
    };
    out.push(tag);
    out.extend_from_slice(&v.to_le_bytes());
}

fn decode(_: Place, bytes: Option<&[u8]>) -> Rec {
    let Some(b) = bytes else {
        return Rec::Unreadable;
    };
    let mut w = [0u8; 4];
    for (x, y) in w.iter_mut().zip(b.iter().skip(1)) {
        *x = *y;
    }
    match b.first() {
        Some(1) => Rec::Entry(u32::from_le_bytes(w)),
        Some(2) => Rec::Meta(u32::from_le_bytes(w)),
        Some(0) if w == [0; 4] => Rec::Entry(0),
        _ => Rec::Unreadable,
    }
}

/// At 10 ms every node appends entries 1..=4, sets `meta` to 7 and syncs; at 20 ms it
/// appends entry 5, sets `meta` to 8 and syncs; at 30 ms it appends [`BIG`] and sets `meta`
/// to [`BIG`] without syncing. It does nothing when it recovers, so what it holds then is
/// what its disk gave back.
#[derive(Clone, Debug)]
struct Disky;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct NoConfig {}

impl Protocol for Disky {
    const NAME: &'static str = "disky";
    type Config = NoConfig;
    type Msg = ();
    type Timer = u8;
    type Request = ();
    type Response = ();
    type Record = Rec;
    type Client = Idle;

    fn new(_: NodeId, _: u32, _: &NoConfig) -> Self {
        Disky
    }
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(1, Time::from_ms(10));
        ctx.set_timer(2, Time::from_ms(20));
        ctx.set_timer(3, Time::from_ms(30));
    }
    fn on_recover(&mut self, _: &mut Ctx<'_, Self>) {}
    fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: u8) {
        if t == 1 {
            for v in 1..=4 {
                ctx.append(Rec::Entry(v));
            }
            ctx.write_cell("meta", Rec::Meta(7));
        } else if t == 3 {
            ctx.append(Rec::Entry(BIG));
            ctx.write_cell("meta", Rec::Meta(BIG));
            return;
        } else {
            ctx.append(Rec::Entry(5));
            ctx.write_cell("meta", Rec::Meta(8));
        }
        let _ = ctx.sync();
    }
    fn codec() -> Option<Codec<Rec>> {
        Some(Codec { encode, decode })
    }
    fn properties() -> Vec<PropertyDef<Self>> {
        Vec::new()
    }
}

#[derive(Clone)]
struct Idle;

impl ClientLogic<Disky> for Idle {
    fn new(_: ClientId, _: u32, _: &WorkloadConfig, _: &NoConfig) -> Self {
        Idle
    }
    fn on_start(&mut self, _: &mut ClientCtx<'_, Disky>) {}
    fn on_response(&mut self, _: &mut ClientCtx<'_, Disky>, _: NodeId, _: RequestId, _: ()) {}
    fn on_timer(&mut self, _: &mut ClientCtx<'_, Disky>, _: u64) {}
}

use faultline::protocol::ClientId;

fn at(ms: u64, f: Fault) -> ScheduledFault {
    ScheduledFault::new(ms * 1_000, None, f)
}

fn disk(ms: u64, node: u32, fault: DiskKind, record: Option<u64>) -> ScheduledFault {
    at(
        ms,
        Fault::Disk(DiskFault {
            node: NodeId(node),
            fault,
            record,
            cell: None,
        }),
    )
}

fn atlas(kinds: &[DiskKind]) -> Atlas {
    Atlas {
        faults: kinds.to_vec(),
        max_copies: None,
        cells: CellRule::Any,
    }
}

/// Runs `nodes` nodes with these faults and atlas; returns the simulation after the run
/// and the trace.
fn run(
    nodes: u32,
    faults: Vec<ScheduledFault>,
    atlas: Option<Atlas>,
) -> (Simulation<Disky>, Vec<Value>) {
    run_seeded(nodes, faults, atlas, 7)
}

fn run_seeded(
    nodes: u32,
    faults: Vec<ScheduledFault>,
    atlas: Option<Atlas>,
    seed: u64,
) -> (Simulation<Disky>, Vec<Value>) {
    let mut c = SimConfig::<Disky>::new(nodes, seed);
    c.workload.clients = 0;
    c.faults = faults;
    c.atlas = atlas;
    c.heal_at = Some(Time::from_ms(100));
    c.time_limit = Time::from_ms(200);
    let sink = MemSink::default();
    let mut sim = Simulation::new(c, Some(Box::new(sink.clone()))).unwrap();
    sim.run();
    (sim, sink.records())
}

fn records(sim: &Simulation<Disky>, n: u32) -> Vec<Rec> {
    sim.world().hosts()[n as usize].store().records().to_vec()
}

fn cell(sim: &Simulation<Disky>, n: u32) -> Option<Rec> {
    sim.world().hosts()[n as usize]
        .store()
        .cell("meta")
        .cloned()
}

fn crash_restart(ms: u64, node: u32) -> [ScheduledFault; 2] {
    [
        at(ms, Fault::Crash(NodeId(node))),
        at(ms + 10, Fault::Restart(NodeId(node))),
    ]
}

fn details(trace: &[Value]) -> Vec<String> {
    trace
        .iter()
        .filter(|r| r["ev"] == "fault")
        .map(|r| format!("{} {}", r["fault"], r["detail"]))
        .collect()
}

/// A value with no zero byte, so that every prefix of it differs from it.
const BIG: u32 = 0x0A0B_0C0D;

const GOOD: [Rec; 5] = [
    Rec::Entry(1),
    Rec::Entry(2),
    Rec::Entry(3),
    Rec::Entry(4),
    Rec::Entry(5),
];

#[test]
fn without_faults_the_disk_gives_back_what_was_synced() {
    let (sim, _) = run(
        1,
        crash_restart(40, 0).to_vec(),
        Some(atlas(&DiskKind::ALL)),
    );
    assert_eq!(records(&sim, 0), GOOD);
    assert_eq!(cell(&sim, 0), Some(Rec::Meta(8)));
}

#[test]
fn corruption_flips_a_bit_the_node_reads_after_its_crash() {
    let mut f = vec![disk(25, 0, DiskKind::Corrupt, Some(1))];
    f.extend(crash_restart(40, 0));
    let (sim, trace) = run(1, f, Some(atlas(&DiskKind::ALL)));
    let got = records(&sim, 0);
    assert_ne!(got[1], Rec::Entry(2), "{:?}", details(&trace));
    assert_eq!(got.len(), 5);
    assert_eq!((&got[..1], &got[2..]), (&GOOD[..1], &GOOD[2..]));
    assert!(details(&trace).iter().any(|d| d.contains("record 1: bit")));
}

#[test]
fn a_latent_error_reads_as_unreadable() {
    let mut f = vec![disk(25, 0, DiskKind::Latent, Some(3))];
    f.extend(crash_restart(40, 0));
    let (sim, _) = run(1, f, Some(atlas(&DiskKind::ALL)));
    let got = records(&sim, 0);
    assert_eq!(got[3], Rec::Unreadable);
    assert_eq!(got.len(), 5);
}

#[test]
fn a_misdirected_write_lands_on_an_earlier_record_and_leaves_zeros() {
    let mut f = vec![disk(25, 0, DiskKind::Misdirect, None)];
    f.extend(crash_restart(40, 0));
    let (sim, trace) = run(1, f, Some(atlas(&DiskKind::ALL)));
    let got = records(&sim, 0);
    assert_eq!(got[4], Rec::Entry(0), "{:?}", details(&trace));
    assert_eq!(got.iter().filter(|r| **r == Rec::Entry(5)).count(), 1);
    assert_eq!(got.iter().filter(|r| GOOD.contains(r)).count(), 4);
}

#[test]
fn a_torn_crash_keeps_a_prefix_of_the_write_in_flight() {
    // At 35 ms the node has two writes pending (entry BIG, then meta BIG over meta 8).
    let mut tore_entry = false;
    let mut tore_meta = false;
    for seed in 1..=12 {
        let f = vec![
            disk(35, 0, DiskKind::Torn, None),
            at(50, Fault::Restart(NodeId(0))),
        ];
        let (sim, trace) = run_seeded(1, f, Some(atlas(&DiskKind::ALL)), seed);
        let d = details(&trace);
        assert!(
            d[0].contains("unsynced writes lost") && d[0].contains("kept"),
            "{d:?}"
        );
        let got = records(&sim, 0);
        assert_eq!(got[..5], GOOD, "synced records stay whole");
        assert_eq!(
            got.len(),
            6,
            "the first pending write reaches the disk, whole or torn"
        );
        if got[5] != Rec::Entry(BIG) {
            // Torn in the first write: a prefix of its bytes, and the second is lost.
            tore_entry = true;
            assert_eq!(cell(&sim, 0), Some(Rec::Meta(8)));
        } else {
            // The entry whole, the cell write torn: new bytes first, old bytes after (a
            // prefix of only the tag byte reads as the old value).
            tore_meta = true;
            let m = cell(&sim, 0);
            assert!(m.is_some() && m != Some(Rec::Meta(BIG)), "{m:?}");
        }
    }
    assert!(tore_entry && tore_meta, "the cut falls on either write");
}

#[test]
fn a_failed_sync_loses_its_writes_and_says_so_once() {
    let mut f = vec![disk(15, 0, DiskKind::SyncFails, None)];
    f.extend(crash_restart(40, 0));
    let (sim, trace) = run(1, f, Some(atlas(&DiskKind::ALL)));
    let failed: Vec<&Value> = trace
        .iter()
        .filter(|r| r["ev"] == "sync" && r["failed"] == true)
        .collect();
    assert_eq!(failed.len(), 1, "one sync failed");
    assert_eq!(
        records(&sim, 0),
        GOOD[..4],
        "entry 5 never reached the disk"
    );
    assert_eq!(cell(&sim, 0), Some(Rec::Meta(7)));
    let crash = trace
        .iter()
        .find(|r| r["ev"] == "fault" && r["fault"]["crash"].is_string());
    assert!(
        crash.unwrap()["detail"]
            .as_str()
            .unwrap()
            .starts_with("4 unsynced writes lost")
    );
}

#[test]
fn the_atlas_keeps_damage_to_a_minority_of_copies() {
    let f = vec![
        disk(25, 0, DiskKind::Corrupt, Some(2)),
        disk(26, 1, DiskKind::Corrupt, Some(2)),
        disk(27, 1, DiskKind::Latent, Some(3)),
    ];
    let (sim, trace) = run(3, f, Some(atlas(&DiskKind::ALL)));
    let d = details(&trace);
    assert!(
        d[1].contains("ignored: the atlas spares record 2 on n2"),
        "{d:?}"
    );
    let damaged = |n: usize| sim.world().hosts()[n].store().damaged().clone();
    assert!(damaged(0).contains(&Place::Record(2)));
    assert!(!damaged(1).contains(&Place::Record(2)));
    assert!(damaged(1).contains(&Place::Record(3)));
}

#[test]
fn the_atlas_spares_cells_unless_it_says_otherwise() {
    let mut spare = atlas(&DiskKind::ALL);
    spare.cells = CellRule::Spare;
    let f = vec![at(
        25,
        Fault::Disk(DiskFault {
            node: NodeId(0),
            fault: DiskKind::Latent,
            record: None,
            cell: Some("meta".into()),
        }),
    )];
    let (_, trace) = run(1, f.clone(), Some(spare));
    assert!(details(&trace)[0].contains("ignored: the atlas spares cell meta"));
    let mut f = f;
    f.extend(crash_restart(40, 0));
    let (sim, _) = run(1, f, Some(atlas(&DiskKind::ALL)));
    assert_eq!(cell(&sim, 0), Some(Rec::Unreadable));
}

#[test]
fn kinds_outside_the_atlas_and_runs_without_one_are_refused() {
    let f = vec![disk(25, 0, DiskKind::Latent, Some(0))];
    let (_, trace) = run(1, f.clone(), Some(atlas(&[DiskKind::Corrupt])));
    assert!(details(&trace)[0].contains("ignored: the atlas does not list `latent`"));
    let (_, trace) = run(1, f, None);
    assert!(details(&trace)[0].contains("ignored: the scenario declares no fault atlas"));
}
