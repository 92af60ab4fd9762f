//! Simulation tests of the replicated server: each builds a world with an ensemble, drives it
//! (faults, a bare test client), and asserts over the recorded history.

use crate::nemesis::Nemesis;
use crate::server::control::ControlClient;
use crate::server::testkit::{ensemble, open_anywhere, world_with_servers, ClientNode};
use crate::world::WorldConfig;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use zksim_model::{CreateMode, Data, Event, Node, Op, Outcome, Record, Role, ServerId, Zxid};

fn sleep(ms: u64) -> madsim::time::Sleep {
    madsim::time::sleep(Duration::from_millis(ms))
}

/// The established leaders, by epoch, in the history.
fn leaders(records: &[Record]) -> BTreeMap<u32, BTreeSet<ServerId>> {
    let mut out: BTreeMap<u32, BTreeSet<ServerId>> = BTreeMap::new();
    for r in records {
        if let Event::Role { server, role: Role::Leading, epoch } = &r.event {
            out.entry(*epoch).or_default().insert(*server);
        }
    }
    out
}

/// Asserts the history's leadership invariant (at most one leader per epoch) and returns the
/// current leader according to the latest Role events of live servers.
fn check_one_leader_per_epoch(records: &[Record]) {
    for (epoch, who) in leaders(records) {
        assert_eq!(who.len(), 1, "epoch {epoch} had more than one established leader: {who:?}");
    }
}

/// The committed transactions, asserting each zxid was committed with one content.
fn commits(records: &[Record]) -> BTreeMap<Zxid, zksim_model::TxnRecord> {
    let mut out = BTreeMap::new();
    for r in records {
        if let Event::Commit { txn, .. } = &r.event {
            if let Some(prev) = out.insert(txn.zxid, txn.clone()) {
                panic!("zxid {} committed twice with different contents: {prev:?} and {txn:?}", txn.zxid);
            }
        }
    }
    out
}

/// Waits until some server reports Leading after `after` records; returns it.
async fn wait_for_leader(nem: &Nemesis, after: usize, within_ms: u64) -> Option<ServerId> {
    let mut waited = 0;
    while waited < within_ms {
        let recs = nem.recorder().snapshot();
        let mut current: BTreeMap<ServerId, Role> = BTreeMap::new();
        for r in &recs {
            if let Event::Role { server, role, .. } = &r.event {
                current.insert(*server, *role);
            }
        }
        let since: BTreeSet<ServerId> = recs[after.min(recs.len())..]
            .iter()
            .filter_map(|r| match &r.event {
                Event::Role { server, role: Role::Leading, .. } => Some(*server),
                _ => None,
            })
            .collect();
        if let Some(l) = since.into_iter().find(|s| current.get(s) == Some(&Role::Leading)) {
            return Some(l);
        }
        sleep(50).await;
        waited += 50;
    }
    None
}

fn create(path: &str, data: &str) -> Op {
    Op::Create { path: path.into(), data: Data::text(data), mode: CreateMode::Persistent }
}

#[test]
fn a_leader_is_established_in_ensembles_of_1_3_5_7() {
    for n in [1u32, 3, 5, 7] {
        for seed in 0..4u64 {
            let world = world_with_servers(WorldConfig::with_seed(seed), n, |_| {});
            let (leader, rec) = world.run(|nem| async move {
                let l = wait_for_leader(&nem, 0, 5_000).await;
                // Followers record their role at UPTODATE, just after the leader is established.
                sleep(1_000).await;
                l
            });
            let records = rec.snapshot();
            assert!(leader.is_some(), "n={n} seed={seed}: no leader within 5 s");
            check_one_leader_per_epoch(&records);
            let followers = records
                .iter()
                .filter(|r| matches!(r.event, Event::Role { role: Role::Following { .. }, .. }))
                .map(|r| match r.event {
                    Event::Role { server, .. } => server,
                    _ => unreachable!(),
                })
                .collect::<BTreeSet<_>>();
            assert!(followers.len() + 1 >= (n as usize) / 2 + 1, "n={n} seed={seed}: only {followers:?} follow");
        }
    }
}

#[test]
fn writes_commit_on_a_quorum_and_reads_see_them_after_sync() {
    for seed in 0..6u64 {
        let world = world_with_servers(WorldConfig::with_seed(seed), 3, |_| {});
        let (out, rec) = world.run(|nem| async move {
            wait_for_leader(&nem, 0, 5_000).await.expect("leader");
            let client = ClientNode::new(1);
            let (zxids, rz, o) = client
                .run(async move {
                    let mut a = open_anywhere(&ensemble(3), 4_000, Duration::from_secs(5)).await.expect("session");
                    let mut zxids = Vec::new();
                    for i in 0..10 {
                        let (z, o) =
                            a.call(create(&format!("/n{i}"), "v"), Duration::from_secs(2)).await.expect("reply");
                        assert!(o.is_ok(), "create /n{i}: {o:?}");
                        zxids.push(z);
                    }
                    // Another session on another server: sync, then the reads see every write.
                    let other: Vec<ServerId> = ensemble(3).into_iter().filter(|s| *s != a.server).collect();
                    let mut b = open_anywhere(&other, 4_000, Duration::from_secs(5)).await.expect("session b");
                    let (_, o) = b.call(Op::Sync { path: "/".into() }, Duration::from_secs(2)).await.expect("sync");
                    assert!(o.is_ok(), "sync: {o:?}");
                    let (rz, o) = b
                        .call(Op::GetChildren { path: "/".into(), watch: false }, Duration::from_secs(2))
                        .await
                        .unwrap();
                    (zxids, rz, o)
                })
                .await;
            sleep(500).await;
            let finals = ControlClient::new().record_final_states(&nem, nem.recorder(), &ensemble(3)).await;
            (zxids, rz, o, finals)
        });
        let (zxids, read_zxid, children, finals) = out;
        let records = rec.snapshot();
        check_one_leader_per_epoch(&records);
        let committed = commits(&records);
        for z in &zxids {
            assert!(committed.contains_key(z), "seed {seed}: acked write {z} was never recorded as committed");
        }
        assert!(zxids.windows(2).all(|w| w[0] < w[1]), "seed {seed}: a session's writes get increasing zxids");
        assert!(read_zxid >= *zxids.last().unwrap(), "seed {seed}: read after sync is behind the last write");
        match children {
            Outcome::Ok { value: zksim_model::OpResult::Children { children, .. } } => {
                assert_eq!(children.len(), 10, "seed {seed}: read after sync must see all 10 nodes: {children:?}")
            }
            other => panic!("seed {seed}: getChildren failed: {other:?}"),
        }
        assert_eq!(finals.len(), 3, "seed {seed}: every server reports a final state");
        let digests: BTreeSet<(Zxid, u64)> = finals.iter().map(|(_, z, d)| (*z, *d)).collect();
        assert_eq!(digests.len(), 1, "seed {seed}: servers disagree at the end: {finals:?}");
    }
}
