//! Simulation tests of the replicated server: each builds a world with an ensemble, drives it
//! (faults, a bare test client), and asserts over the recorded history.

use crate::nemesis::Nemesis;
use crate::server::control::ControlClient;
use crate::server::testkit::{ensemble, open_anywhere, world_with_servers, ClientNode, TestSession};
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
    Op::Create {
        path: path.into(),
        data: Data::text(data),
        mode: CreateMode::Persistent,
        acl: zksim_model::Acl::open(),
    }
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
            assert!(followers.len() + 1 > (n as usize) / 2, "n={n} seed={seed}: only {followers:?} follow");
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
                let ours = children.iter().filter(|c| c.starts_with('n')).count();
                assert_eq!(ours, 10, "seed {seed}: read after sync must see all 10 nodes: {children:?}")
            }
            other => panic!("seed {seed}: getChildren failed: {other:?}"),
        }
        assert_eq!(finals.len(), 3, "seed {seed}: every server reports a final state");
        let digests: BTreeSet<(Zxid, u64)> = finals.iter().map(|(_, z, d)| (*z, *d)).collect();
        assert_eq!(digests.len(), 1, "seed {seed}: servers disagree at the end: {finals:?}");
    }
}

/// A client that keeps writing for `ms` (reconnecting anywhere after failures) and returns the
/// zxids of the writes that were acknowledged.
async fn write_loop(n: u32, ms: u64, tag: &'static str) -> Vec<Zxid> {
    let start = crate::server::task::now();
    let mut acked = Vec::new();
    let mut i = 0u32;
    while start.elapsed_sim() < Duration::from_millis(ms) {
        let Some(mut s) = open_anywhere(&ensemble(n), 2_000, Duration::from_millis(500)).await else {
            continue;
        };
        while start.elapsed_sim() < Duration::from_millis(ms) {
            i += 1;
            match s.call(create(&format!("/{tag}{i}"), "x"), Duration::from_millis(1_500)).await {
                Some((z, o)) => {
                    assert!(o.is_ok(), "create /{tag}{i} failed: {o:?}");
                    acked.push(z);
                }
                None => break,
            }
        }
    }
    acked
}

trait SimElapsed {
    fn elapsed_sim(&self) -> Duration;
}

impl SimElapsed for std::time::Instant {
    fn elapsed_sim(&self) -> Duration {
        crate::server::task::now().saturating_duration_since(*self)
    }
}

/// After the run: one leader per epoch, every acked write committed, every live server at the
/// same final state, and that state is the chain digest of the committed log.
fn check_run(seed: u64, records: &[Record], acked: &[Zxid], finals: &[(ServerId, Zxid, u64)], expect_finals: usize) {
    check_one_leader_per_epoch(records);
    let committed = commits(records);
    for z in acked {
        assert!(committed.contains_key(z), "seed {seed}: acknowledged write {z} is not in the committed log");
    }
    let mut digest = 0;
    for t in committed.values() {
        digest = zksim_model::history::chain_digest(digest, t);
    }
    let last = committed.keys().next_back().copied().unwrap_or(Zxid::ZERO);
    assert_eq!(finals.len(), expect_finals, "seed {seed}: final states {finals:?}");
    for (s, z, d) in finals {
        assert_eq!(
            (*z, *d),
            (last, digest),
            "seed {seed}: {s} ended at {z} with a digest that is not the committed log's"
        );
    }
}

#[test]
fn committed_writes_survive_leader_crashes_and_minority_restarts() {
    for n in [3u32, 5] {
        for seed in 0..8u64 {
            let world = world_with_servers(WorldConfig::with_seed(seed), n, |_| {});
            let ((acked, finals), rec) = world.run(|nem| async move {
                let l1 = wait_for_leader(&nem, 0, 5_000).await.expect("first leader");
                let client = ClientNode::new(1);
                let work = client.run(write_loop(n, 6_000, "w"));
                let driver = async {
                    sleep(1_000).await;
                    let torn = seed % 2 == 0;
                    nem.crash(Node::Server(l1), torn).unwrap();
                    let mark = nem.recorder().len();
                    let l2 = wait_for_leader(&nem, mark, 6_000).await.expect("a new leader after the crash");
                    assert_ne!(l1, l2, "the crashed leader cannot lead");
                    sleep(500).await;
                    nem.restart(Node::Server(l1)).unwrap();
                    sleep(1_000).await;
                    // Crash and restart a follower (a minority).
                    let f = ensemble(n).into_iter().find(|s| *s != l2 && *s != l1).unwrap();
                    nem.crash(Node::Server(f), !torn).unwrap();
                    sleep(700).await;
                    nem.restart(Node::Server(f)).unwrap();
                };
                let (acked, ()) = futures::join!(work, driver);
                sleep(3_000).await;
                let finals = ControlClient::new().record_final_states(&nem, nem.recorder(), &ensemble(n)).await;
                (acked, finals)
            });
            let records = rec.snapshot();
            assert!(acked.len() > 20, "n={n} seed {seed}: only {} writes acknowledged", acked.len());
            check_run(seed, &records, &acked, &finals, n as usize);
        }
    }
}

/// Cuts the leader (plus `extra` followers) off from the rest, sends writes to the cut-off
/// leader, lets the majority elect and commit, heals, and returns what happened.
struct Split {
    old_leader: ServerId,
    minority_xids: Vec<u64>,
    minority_session: zksim_model::SessionId,
    minority_acks: usize,
    majority_acked: Vec<Zxid>,
    finals: Vec<(ServerId, Zxid, u64)>,
}

async fn split_brain_run(nem: Nemesis, n: u32, extra: usize) -> Split {
    let l1 = wait_for_leader(&nem, 0, 5_000).await.expect("first leader");
    let client = ClientNode::new(1);
    let others: Vec<ServerId> = ensemble(n).into_iter().filter(|s| *s != l1).collect();
    let (minority, majority): (Vec<ServerId>, Vec<ServerId>) = {
        let mut m = vec![l1];
        m.extend(others.iter().take(extra));
        let rest = others.iter().skip(extra).copied().collect();
        (m, rest)
    };
    // A session on the old leader, opened while it still leads.
    let mut s = client.run(async move { TestSession::open(l1, 4_000).await }).await.expect("session on leader");
    let minority_session = s.session;
    let groups = vec![
        minority.iter().map(|s| Node::Server(*s)).collect::<Vec<_>>(),
        majority.iter().map(|s| Node::Server(*s)).collect::<Vec<_>>(),
    ];
    nem.partition(groups).unwrap();
    // Pipelined writes to the cut-off leader: it logs them but can never commit them.
    let (s, xids, acks) = client
        .run(async move {
            let mut xids = Vec::new();
            for i in 0..5 {
                if let Some(x) = s.send(create(&format!("/minority{i}"), "lost")).await {
                    xids.push(x);
                }
            }
            let mut acks = 0;
            while let Some((_, _, o)) = s.next_reply(Duration::from_millis(1_500)).await {
                if o.is_ok() {
                    acks += 1;
                }
            }
            (s, xids, acks)
        })
        .await;
    drop(s);
    let mark = nem.recorder().len();
    let _l2 = wait_for_leader(&nem, mark, 6_000).await.expect("the majority elects a leader");
    let maj = majority.clone();
    let majority_acked = client
        .run(async move {
            let mut acked = Vec::new();
            let Some(mut s) = open_anywhere(&maj, 4_000, Duration::from_secs(3)).await else { return acked };
            for i in 0..10 {
                if let Some((z, o)) = s.call(create(&format!("/majority{i}"), "kept"), Duration::from_secs(2)).await {
                    assert!(o.is_ok(), "majority write failed: {o:?}");
                    acked.push(z);
                }
            }
            acked
        })
        .await;
    nem.heal();
    sleep(4_000).await;
    let finals = ControlClient::new().record_final_states(&nem, nem.recorder(), &ensemble(n)).await;
    Split { old_leader: l1, minority_xids: xids, minority_session, minority_acks: acks, majority_acked, finals }
}

fn check_split(seed: u64, n: u32, records: &[Record], sp: &Split) {
    assert_eq!(sp.minority_acks, 0, "seed {seed}: a cut-off leader acknowledged a write");
    assert_eq!(sp.majority_acked.len(), 10, "seed {seed}: the majority could not commit");
    let committed = commits(records);
    for t in committed.values() {
        if let zksim_model::Txn::Client { session, xid, .. } = &t.txn {
            assert!(
                !(*session == sp.minority_session && sp.minority_xids.contains(xid)),
                "seed {seed}: minority write {xid} was committed at {}",
                t.zxid
            );
        }
    }
    check_run(seed, records, &sp.majority_acked, &sp.finals, n as usize);
    assert!(
        sp.finals.iter().any(|(s, _, _)| *s == sp.old_leader),
        "seed {seed}: the old leader must report a final state (it rejoined)"
    );
}

#[test]
fn a_minority_partition_cannot_commit() {
    for seed in 0..6u64 {
        let world = world_with_servers(WorldConfig::with_seed(seed), 5, |_| {});
        let (sp, rec) = world.run(|nem| split_brain_run(nem, 5, 1));
        check_split(seed, 5, &rec.snapshot(), &sp);
    }
}

#[test]
fn a_divergent_uncommitted_tail_is_truncated_after_healing() {
    for seed in 0..6u64 {
        let world = world_with_servers(WorldConfig::with_seed(seed), 3, |_| {});
        let (sp, rec) = world.run(|nem| split_brain_run(nem, 3, 0));
        // The old leader logged the minority writes (a divergent tail); ending at the committed
        // log's digest means TRUNC removed them.
        check_split(seed, 3, &rec.snapshot(), &sp);
        assert_eq!(sp.minority_xids.len(), 5, "seed {seed}: the minority writes were sent");
    }
}

#[test]
fn a_restarted_server_recovers_from_disk_and_loses_only_unsynced_writes() {
    for seed in 0..8u64 {
        let world = world_with_servers(WorldConfig::with_seed(seed), 1, |c| c.snapshot_every = 16);
        let ((acked, crash_at, sent, finals), rec) = world.run(|nem| async move {
            wait_for_leader(&nem, 0, 5_000).await.expect("leader");
            let client = ClientNode::new(1);
            let s = client.run(async move { TestSession::open(ServerId(1), 4_000).await }).await.expect("session");
            // Pipeline writes, one a millisecond, and crash the server while many are in flight.
            // (Sent all at once, they reach the server together and one group commit makes them
            // all durable before the crash: nothing would be left to lose.)
            let writer = client.run(async move {
                let mut s = s;
                let mut sent = 0;
                for i in 0..200 {
                    if s.send(create(&format!("/p{i}"), "x")).await.is_some() {
                        sent += 1;
                    }
                    sleep(1).await;
                }
                let mut acked = Vec::new();
                while let Some((_, z, o)) = s.next_reply(Duration::from_millis(500)).await {
                    assert!(o.is_ok(), "create failed: {o:?}");
                    acked.push(z);
                }
                (acked, sent)
            });
            let crasher = async {
                sleep(15 + seed * 3).await;
                nem.crash(Node::Server(ServerId(1)), seed % 2 == 0).unwrap();
                nem.recorder().len()
            };
            let ((acked, sent), crash_at) = futures::join!(writer, crasher);
            sleep(200).await;
            nem.restart(Node::Server(ServerId(1))).unwrap();
            let mark = nem.recorder().len();
            wait_for_leader(&nem, mark, 5_000).await.expect("leads again after restart");
            let finals = ControlClient::new().record_final_states(&nem, nem.recorder(), &ensemble(1)).await;
            (acked, crash_at, sent, finals)
        });
        let records = rec.snapshot();
        check_run(seed, &records, &acked, &finals, 1);
        assert!(!acked.is_empty(), "seed {seed}: nothing was acknowledged before the crash");
        // What the restarted server still has beyond the commits recorded before the crash can
        // only be proposals that were fsynced but not yet committed when it died (re-committed
        // at the new epoch): never more than were in flight, and every acked write is kept
        // (check_run).
        let before: BTreeSet<Zxid> = commits(&records[..crash_at]).into_keys().collect();
        let last_acked = acked.iter().max().copied().unwrap_or(Zxid::ZERO);
        assert!(finals[0].1 >= last_acked, "seed {seed}: recovered to {} below acked {last_acked}", finals[0].1);
        let recommitted = commits(&records).into_keys().filter(|z| z.epoch() == 1 && !before.contains(z)).count();
        assert!(
            recommitted < sent - acked.len(),
            "seed {seed}: {recommitted} txns re-committed after restart ({sent} sent, {} acked)",
            acked.len()
        );
        let applied_creates = finals[0].1.counter() as usize;
        assert!(applied_creates < sent, "seed {seed}: every one of the {sent} writes survived a crash mid-stream");
    }
}

#[test]
fn sessions_expire_by_timeout_and_through_the_control_port() {
    for seed in 0..4u64 {
        let world = world_with_servers(WorldConfig::with_seed(seed), 3, |_| {});
        let (sessions, rec) = world.run(|nem| async move {
            wait_for_leader(&nem, 0, 5_000).await.expect("leader");
            let control = ControlClient::new();
            nem.set_expirer(control.expirer(ensemble(3)));
            let client = ClientNode::new(1);
            let (idle, busy) = client
                .run(async move {
                    // A session that never pings again (timeout 400 ms) and a live one.
                    let mut idle = open_anywhere(&ensemble(3), 400, Duration::from_secs(3)).await.expect("idle");
                    let eph = Op::Create {
                        path: "/eph".into(),
                        data: Data::text("e"),
                        mode: CreateMode::Ephemeral,
                        acl: zksim_model::Acl::open(),
                    };
                    let (_, o) = idle.call(eph, Duration::from_secs(2)).await.expect("ephemeral create");
                    assert!(o.is_ok(), "ephemeral create: {o:?}");
                    let busy = open_anywhere(&ensemble(3), 4_000, Duration::from_secs(3)).await.expect("busy");
                    (idle.session, busy)
                })
                .await;
            let busy_id = busy.session;
            sleep(1_500).await;
            nem.expire_session(busy_id).await.expect("expiry accepted");
            sleep(500).await;
            let gone = client
                .run(async move {
                    let mut s = open_anywhere(&ensemble(3), 4_000, Duration::from_secs(3)).await.expect("observer");
                    s.call(Op::Exists { path: "/eph".into(), watch: false }, Duration::from_secs(2)).await
                })
                .await;
            drop(busy);
            (vec![idle, busy_id], gone)
        });
        let (expected, gone) = sessions;
        let records = rec.snapshot();
        let expired: BTreeSet<zksim_model::SessionId> = commits(&records)
            .values()
            .filter_map(|t| match &t.txn {
                zksim_model::Txn::CloseSession { session, reason: zksim_model::history::CloseReason::Expired } => {
                    Some(*session)
                }
                _ => None,
            })
            .collect();
        for s in &expected {
            assert!(expired.contains(s), "seed {seed}: session {s} was not expired (expired: {expired:?})");
        }
        match gone {
            Some((_, Outcome::Ok { value: zksim_model::OpResult::Exists { stat: None } })) => {}
            other => panic!("seed {seed}: the expired session's ephemeral is still there: {other:?}"),
        }
    }
}

#[test]
fn same_seed_same_history() {
    let run = |seed| {
        let world = world_with_servers(WorldConfig::with_seed(seed), 3, |_| {});
        let (_, rec) = world.run(|nem| async move {
            let l = wait_for_leader(&nem, 0, 5_000).await.expect("leader");
            let client = ClientNode::new(1);
            let work = client.run(write_loop(3, 2_000, "d"));
            let crash = async {
                sleep(700).await;
                nem.crash(Node::Server(l), true).unwrap();
                sleep(500).await;
                nem.restart(Node::Server(l)).unwrap();
            };
            futures::join!(work, crash);
        });
        rec.snapshot()
    };
    let (a, b) = (run(11), run(11));
    assert!(a.len() > 50, "the run recorded too little to compare: {}", a.len());
    assert_eq!(a, b, "two runs of seed 11 recorded different histories");
    assert_ne!(a, run(12), "different seeds should not record identical histories");
}

#[test]
fn a_watch_notification_precedes_the_reply_that_reflects_it_and_pings_keep_sessions_alive() {
    for seed in 0..4u64 {
        let world = world_with_servers(WorldConfig::with_seed(seed), 3, |_| {});
        let (order, rec) = world.run(|nem| async move {
            let l = wait_for_leader(&nem, 0, 5_000).await.expect("leader");
            let follower = ensemble(3).into_iter().find(|s| *s != l).unwrap();
            let client = ClientNode::new(1);
            client
                .run(async move {
                    let mut a = TestSession::open(follower, 400).await.expect("session on a follower");
                    let (_, o) = a.call(create("/w", "0"), Duration::from_secs(2)).await.expect("create");
                    assert!(o.is_ok(), "create /w: {o:?}");
                    let (_, o) =
                        a.call(Op::GetData { path: "/w".into(), watch: true }, Duration::from_secs(2)).await.unwrap();
                    assert!(o.is_ok(), "getData /w: {o:?}");
                    // Outlive the 400 ms timeout several times over, pinging: the follower
                    // forwards the touches to the leader, which must not expire the session.
                    for _ in 0..15 {
                        sleep(100).await;
                        a.ping().await.expect("ping");
                        while let Some(m) = a.next_msg(Duration::from_millis(1)).await {
                            assert!(matches!(m, crate::proto::ServerMsg::Pong { .. }), "unexpected {m:?}");
                        }
                    }
                    let set = Op::SetData { path: "/w".into(), data: Data::text("1"), version: -1 };
                    a.send(set).await.expect("send setData");
                    let mut order = Vec::new();
                    while order.len() < 2 {
                        match a.next_msg(Duration::from_secs(2)).await.expect("watch and reply") {
                            crate::proto::ServerMsg::Watch(ev) => order.push(format!("watch {:?}", ev.kind)),
                            crate::proto::ServerMsg::Reply { outcome, .. } => {
                                assert!(outcome.is_ok(), "setData: {outcome:?}");
                                order.push("reply".into())
                            }
                            crate::proto::ServerMsg::Pong { .. } => {}
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                    order
                })
                .await
        });
        assert_eq!(order, vec!["watch NodeDataChanged".to_string(), "reply".to_string()], "seed {seed}");
        let expired = commits(&rec.snapshot()).values().any(|t| matches!(t.txn, zksim_model::Txn::CloseSession { .. }));
        assert!(!expired, "seed {seed}: a pinging session was closed");
    }
}

#[test]
fn a_new_leader_is_established_after_the_leader_crashes_in_3_5_7() {
    for n in [3u32, 5, 7] {
        for seed in 0..3u64 {
            let world = world_with_servers(WorldConfig::with_seed(100 + seed), n, |_| {});
            let ((l1, l2), rec) = world.run(|nem| async move {
                let l1 = wait_for_leader(&nem, 0, 5_000).await.expect("first leader");
                sleep(300).await;
                nem.crash(Node::Server(l1), false).unwrap();
                let mark = nem.recorder().len();
                let l2 = wait_for_leader(&nem, mark, 8_000).await;
                (l1, l2)
            });
            let l2 = l2.unwrap_or_else(|| panic!("n={n} seed={seed}: no leader after {l1} crashed"));
            assert_ne!(l1, l2, "n={n} seed={seed}");
            let records = rec.snapshot();
            check_one_leader_per_epoch(&records);
            let epochs: Vec<u32> = leaders(&records).into_keys().collect();
            assert!(
                epochs.len() >= 2 && epochs.windows(2).all(|w| w[0] < w[1]),
                "n={n} seed={seed}: epochs {epochs:?}"
            );
        }
    }
}

#[test]
fn a_follower_far_behind_is_synced_by_snapshot() {
    for seed in 0..4u64 {
        let world = world_with_servers(WorldConfig::with_seed(seed), 3, |c| c.snapshot_every = 10);
        let ((acked, finals), rec) = world.run(|nem| async move {
            let l = wait_for_leader(&nem, 0, 5_000).await.expect("leader");
            let f = ensemble(3).into_iter().find(|s| *s != l).unwrap();
            nem.crash(Node::Server(f), false).unwrap();
            let client = ClientNode::new(1);
            let live: Vec<ServerId> = ensemble(3).into_iter().filter(|s| *s != f).collect();
            let acked = client
                .run(async move {
                    let mut s = open_anywhere(&live, 4_000, Duration::from_secs(3)).await.expect("session");
                    let mut acked = Vec::new();
                    for i in 0..60 {
                        let (z, o) =
                            s.call(create(&format!("/s{i}"), "x"), Duration::from_secs(2)).await.expect("write");
                        assert!(o.is_ok(), "{o:?}");
                        acked.push(z);
                    }
                    acked
                })
                .await;
            nem.restart(Node::Server(f)).unwrap();
            sleep(3_000).await;
            let finals = ControlClient::new().record_final_states(&nem, nem.recorder(), &ensemble(3)).await;
            (acked, finals)
        });
        check_run(seed, &rec.snapshot(), &acked, &finals, 3);
    }
}

/// Random faults (crash with or without a torn tail, restart, partitions, pauses, heal) under a
/// write load; then heal everything and check the run.
async fn random_faults(nem: &Nemesis, n: u32, ms: u64) {
    use rand::Rng;
    let start = crate::server::task::now();
    let servers: Vec<Node> = ensemble(n).into_iter().map(Node::Server).collect();
    while start.elapsed_sim() < Duration::from_millis(ms) {
        let pause = nem.with_rng(|r| r.gen_range(200..900));
        sleep(pause).await;
        let choice = nem.with_rng(|r| r.gen_range(0..6));
        let victim = servers[nem.with_rng(|r| r.gen_range(0..servers.len()))];
        let down = servers.iter().filter(|s| nem.node_state(**s) == Some(crate::nemesis::NodeState::Crashed)).count();
        match choice {
            0 | 1 if down < (n as usize - 1) / 2 && nem.node_state(victim) == Some(crate::nemesis::NodeState::Up) => {
                let torn = nem.with_rng(|r| r.gen_bool(0.5));
                nem.crash(victim, torn).unwrap();
            }
            2 => {
                for s in &servers {
                    if nem.node_state(*s) == Some(crate::nemesis::NodeState::Crashed) {
                        nem.restart(*s).unwrap();
                    }
                }
            }
            3 if !nem.is_partitioned() => {
                let k = nem.with_rng(|r| r.gen_range(1..=(n as usize - 1) / 2));
                let (a, b) = servers.split_at(k);
                let _ = nem.partition(vec![a.to_vec(), b.to_vec()]);
            }
            4 if nem.node_state(victim) == Some(crate::nemesis::NodeState::Up) => {
                // A GC-like pause longer than syncLimit: the paused server must not act on its
                // stale role after it resumes.
                nem.pause(victim).unwrap();
                sleep(nem.with_rng(|r| r.gen_range(100..1_200))).await;
                nem.resume(victim).unwrap();
            }
            _ => nem.heal(),
        }
    }
    nem.heal();
    for s in &servers {
        if nem.node_state(*s) == Some(crate::nemesis::NodeState::Crashed) {
            nem.restart(*s).unwrap();
        }
    }
}

/// Odd seeds run on a lossy, slow network with slow disks; even seeds on the defaults.
fn network(seed: u64) -> WorldConfig {
    if seed % 2 == 1 {
        WorldConfig { loss_rate: 0.05, latency_ms_max: 30, fsync_ms_max: 20, ..WorldConfig::with_seed(seed) }
    } else {
        WorldConfig::with_seed(seed)
    }
}

#[test]
fn random_crashes_and_partitions_keep_committed_writes_and_replicas_agree() {
    for n in [3u32, 5, 7] {
        for seed in 0..std::env::var("ZAB_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(12u64) {
            let world = world_with_servers(network(1000 + seed), n, |c| c.snapshot_every = 25);
            let ((acked, finals), rec) = world.run(|nem| async move {
                wait_for_leader(&nem, 0, 5_000).await.expect("first leader");
                let client = ClientNode::new(1);
                let work = client.run(write_loop(n, 6_000, "r"));
                let faults = random_faults(&nem, n, 6_000);
                let (acked, ()) = futures::join!(work, faults);
                sleep(5_000).await;
                let finals = ControlClient::new().record_final_states(&nem, nem.recorder(), &ensemble(n)).await;
                (acked, finals)
            });
            let records = rec.snapshot();
            assert!(acked.len() > 10, "n={n} seed={seed}: only {} writes acknowledged", acked.len());
            check_run(1000 + seed, &records, &acked, &finals, n as usize);
        }
    }
}

#[test]
fn closing_a_session_commits_close_and_deletes_its_ephemerals() {
    for seed in 0..3u64 {
        let world = world_with_servers(WorldConfig::with_seed(seed), 3, |_| {});
        let ((closed, seen, session), rec) = world.run(|nem| async move {
            wait_for_leader(&nem, 0, 5_000).await.expect("leader");
            let client = ClientNode::new(1);
            client
                .run(async move {
                    let mut a = open_anywhere(&ensemble(3), 4_000, Duration::from_secs(3)).await.expect("a");
                    let eph = Op::Create {
                        path: "/e".into(),
                        data: Data::text("e"),
                        mode: CreateMode::Ephemeral,
                        acl: zksim_model::Acl::open(),
                    };
                    let (_, o) = a.call(eph, Duration::from_secs(2)).await.expect("create");
                    assert!(o.is_ok(), "{o:?}");
                    let closed = a.call(Op::CloseSession, Duration::from_secs(2)).await;
                    let mut b = open_anywhere(&ensemble(3), 4_000, Duration::from_secs(3)).await.expect("b");
                    b.call(Op::Sync { path: "/".into() }, Duration::from_secs(2)).await.expect("sync");
                    let seen = b.call(Op::Exists { path: "/e".into(), watch: false }, Duration::from_secs(2)).await;
                    (closed, seen, a.session)
                })
                .await
        });
        assert!(matches!(closed, Some((_, Outcome::Ok { .. }))), "seed {seed}: closeSession: {closed:?}");
        match seen {
            Some((_, Outcome::Ok { value: zksim_model::OpResult::Exists { stat: None } })) => {}
            other => panic!("seed {seed}: the closed session's ephemeral survived: {other:?}"),
        }
        let closes: Vec<_> = commits(&rec.snapshot())
            .into_values()
            .filter(|t| {
                t.txn == zksim_model::Txn::CloseSession { session, reason: zksim_model::history::CloseReason::Closed }
            })
            .collect();
        assert_eq!(closes.len(), 1, "seed {seed}: exactly one Closed closeSession is committed");
    }
}
