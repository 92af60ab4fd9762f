//! Differential test: the service's state machine (data tree + watch manager + reaper) and the
//! independent reference model (`zksim_model::ZkModel`) are fed the same random committed log
//! and the same reads; every outcome, trigger, watch notification, Stat and reap decision must
//! agree. Random ops come from a seeded ChaCha stream, so a failure names a reproducible seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use zksim_model::history::{CloseReason, Txn, TxnRecord};
use zksim_model::{
    Acl, AclEntry, AclId, AddWatchMode, CreateMode, Data, MultiOp, Op, Perms, SessionId, WatcherKind, ZkModel, Zxid,
};
use zksim_sim::server::{reap_candidates, DataTree, WatchManager};

/// A small universe of paths, valid and not, so ops collide often.
const PATHS: &[&str] = &[
    "/a",
    "/a/b",
    "/a/b/c",
    "/a/x",
    "/c",
    "/c/d",
    "/c/d/e",
    "/t",
    "/t/k",
    "/e",
    "/e/x",
    "/s-",
    "/a/s-",
    "/",
    "",
    "/a/",
    "//a",
    "/a//b",
    "/zookeeper",
    "/zookeeper/q",
    "/.",
    "/a\0b",
];

struct Pair {
    tree: DataTree,
    watches: WatchManager,
    model: ZkModel,
    counter: u32,
    now_ms: i64,
    open: Vec<SessionId>,
    next_session: u64,
    log: Vec<String>,
    /// The committed log, to replay onto snapshots.
    committed: Vec<TxnRecord>,
}

impl Pair {
    fn new(root: bool) -> Pair {
        let (tree, model) =
            if root { (DataTree::new(), ZkModel::fresh_server()) } else { (DataTree::empty(), ZkModel::new()) };
        let mut p = Pair {
            tree,
            watches: WatchManager::new(),
            model,
            counter: 0,
            now_ms: 0,
            open: vec![],
            next_session: 1,
            log: vec![],
            committed: vec![],
        };
        for _ in 0..3 {
            p.open_session();
        }
        p
    }

    fn open_session(&mut self) {
        let s = SessionId(self.next_session);
        self.next_session += 1;
        self.commit(Txn::CreateSession { session: s, timeout_ms: 5000 });
        self.open.push(s);
    }

    fn commit(&mut self, txn: Txn) {
        self.counter += 1;
        let rec = TxnRecord { zxid: Zxid::new(1, self.counter), time_ms: self.now_ms, txn };
        self.log.push(format!("{rec:?}"));
        self.committed.push(rec.clone());
        let mine = self.tree.apply(&rec);
        let events = self.watches.on_commit(&rec, &mine);
        let theirs = self.model.apply(&rec);
        let ctx = || self.log.join("\n");
        assert_eq!(mine.outcome, theirs.outcome, "outcome of {rec:?} differs; log:\n{}", ctx());
        let mine_triggers: Vec<_> = mine.triggers.iter().map(|t| (t.kind, t.path.clone())).collect();
        let their_triggers: Vec<_> = theirs.triggers.iter().map(|t| (t.kind, t.path.clone())).collect();
        assert_eq!(mine_triggers, their_triggers, "triggers of {rec:?} differ; log:\n{}", ctx());
        assert_eq!(events, theirs.events, "watch events of {rec:?} differ; log:\n{}", ctx());
    }

    fn read(&mut self, session: SessionId, op: Op) {
        self.log.push(format!("read {session}: {op:?}"));
        let mine = match &op {
            Op::AddWatch { path, mode } => {
                self.watches.add_watch(session, path, *mode);
                zksim_model::Outcome::Ok { value: zksim_model::OpResult::Done }
            }
            Op::RemoveWatches { path, kind } => match self.watches.remove_watches(session, path, *kind) {
                Ok(()) => zksim_model::Outcome::Ok { value: zksim_model::OpResult::Done },
                Err(code) => zksim_model::Outcome::Err { code },
            },
            // As the server's frontend answers it.
            Op::GetEphemerals { prefix } => zksim_model::Outcome::Ok {
                value: zksim_model::OpResult::Ephemerals { paths: self.tree.ephemerals_under(session, prefix) },
            },
            _ => {
                let out = self.tree.read(&op);
                self.watches.register_for_read(session, &op, &out);
                out
            }
        };
        let theirs = self.model.read(session, &op);
        assert_eq!(mine, theirs, "read {op:?} by {session} differs; log:\n{}", self.log.join("\n"));
    }

    fn compare_state(&self) {
        let ctx = || self.log.join("\n");
        for p in PATHS.iter().copied().chain(["/a/s-0000000000", "/s-0000000001", "/0000000000"]) {
            assert_eq!(self.tree.node_stat(p), self.model.stat(p), "stat of {p:?} differs; log:\n{}", ctx());
        }
        for p in self.tree.paths() {
            assert_eq!(self.tree.children(p), self.model.children(p), "children of {p}; log:\n{}", ctx());
            assert_eq!(self.tree.data(p), self.model.data(p), "data of {p}; log:\n{}", ctx());
        }
        for s in &self.open {
            assert_eq!(self.tree.ephemerals(*s), self.model.ephemerals_of(*s), "ephemerals of {s}; log:\n{}", ctx());
        }
        assert_eq!(self.tree.last_zxid(), self.model.last_zxid());
        assert_eq!(self.tree.descendant_count("/").map(|n| n as u64), self.model.descendant_count("/"));
        assert_eq!(
            reap_candidates(&self.tree, self.now_ms),
            self.model.reap_candidates(self.now_ms),
            "reap candidates at {} differ; log:\n{}",
            self.now_ms,
            ctx()
        );
        self.tree.check_invariants();
        self.watches.check_invariants();
    }
}

fn mode(rng: &mut ChaCha8Rng) -> CreateMode {
    match rng.gen_range(0..8) {
        0 | 1 => CreateMode::Persistent,
        2 => CreateMode::Ephemeral,
        3 => CreateMode::PersistentSequential,
        4 => CreateMode::EphemeralSequential,
        5 => CreateMode::Container,
        6 => CreateMode::PersistentWithTtl { ttl_ms: [0, 300, 1000][rng.gen_range(0..3)] },
        7 if rng.gen_bool(0.1) => CreateMode::Invalid { opcode: 15, flags: 7 },
        _ => CreateMode::PersistentSequentialWithTtl { ttl_ms: 500 },
    }
}

fn path(rng: &mut ChaCha8Rng) -> String {
    PATHS[rng.gen_range(0..PATHS.len())].to_string()
}

/// In a chroot (empty tree) `/zookeeper` is an ordinary name to the server (it sees
/// `/case-N/zookeeper`), while the model keeps it reserved everywhere; the two agree on a
/// fresh server's tree, so only root runs use those paths.
fn path_for(rng: &mut ChaCha8Rng, root: bool) -> String {
    loop {
        let p = path(rng);
        if root || !p.starts_with("/zookeeper") {
            return p;
        }
    }
}

fn data(rng: &mut ChaCha8Rng) -> Data {
    match rng.gen_range(0..3) {
        0 => Data::null(),
        1 => Data::text(""),
        _ => Data::text("xyz"),
    }
}

/// Mostly the open ACL; else one that refuses some permission, or one the server refuses.
fn acl(rng: &mut ChaCha8Rng) -> Acl {
    match rng.gen_range(0..12) {
        0..=5 => Acl::open(),
        6 => Acl::anyone(Perms::READ),
        7 => Acl::anyone(Perms::READ.union(Perms::WRITE)),
        8 => Acl::anyone(Perms::ALL.without(Perms::CREATE)),
        9 => Acl::anyone(Perms::ALL.without(Perms::DELETE)),
        10 => Acl::anyone(Perms::ADMIN),
        _ if rng.gen_bool(0.5) => Acl::from_entries(Vec::new()),
        _ => Acl::from_entries(vec![AclEntry { perms: Perms::ALL, id: AclId::Creator }]),
    }
}

fn version(rng: &mut ChaCha8Rng) -> i32 {
    [-1, -1, 0, 1, 2, -2][rng.gen_range(0..6)]
}

fn sub_op(rng: &mut ChaCha8Rng, root: bool) -> MultiOp {
    match rng.gen_range(0..4) {
        0 => MultiOp::Create { path: path_for(rng, root), data: data(rng), mode: mode(rng), acl: acl(rng) },
        1 => MultiOp::Delete { path: path_for(rng, root), version: version(rng) },
        2 => MultiOp::SetData { path: path_for(rng, root), data: data(rng), version: version(rng) },
        _ => MultiOp::Check { path: path_for(rng, root), version: version(rng) },
    }
}

fn run(seed: u64, steps: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let root = seed.is_multiple_of(4);
    let mut p = Pair::new(root);
    let snapshot_at = rng.gen_range(0..steps);
    let mut snapshot = None;
    for step in 0..steps {
        if step == snapshot_at {
            snapshot = Some((p.tree.clone(), p.committed.len()));
        }
        let session = p.open[rng.gen_range(0..p.open.len())];
        p.now_ms += rng.gen_range(0..200);
        match rng.gen_range(0..100) {
            0..=24 => p.commit(Txn::Client {
                session,
                xid: 0,
                op: Op::Create {
                    path: path_for(&mut rng, root),
                    data: data(&mut rng),
                    mode: mode(&mut rng),
                    acl: acl(&mut rng),
                },
            }),
            25..=34 => p.commit(Txn::Client {
                session,
                xid: 0,
                op: Op::Delete { path: path_for(&mut rng, root), version: version(&mut rng) },
            }),
            35..=40 => p.commit(Txn::Client {
                session,
                xid: 0,
                op: Op::SetData { path: path_for(&mut rng, root), data: data(&mut rng), version: version(&mut rng) },
            }),
            41..=42 => p.commit(Txn::Client {
                session,
                xid: 0,
                op: Op::SetAcl { path: path_for(&mut rng, root), acl: acl(&mut rng), version: version(&mut rng) },
            }),
            43..=52 => {
                let n = rng.gen_range(0..5);
                let ops = (0..n).map(|_| sub_op(&mut rng, root)).collect();
                p.commit(Txn::Client { session, xid: 0, op: Op::Multi { ops } })
            }
            53..=72 => {
                let watch = rng.gen_bool(0.7);
                let op = match rng.gen_range(0..8) {
                    0 | 1 => Op::GetData { path: path_for(&mut rng, root), watch },
                    2 | 3 => Op::Exists { path: path_for(&mut rng, root), watch },
                    4 | 5 => Op::GetChildren { path: path_for(&mut rng, root), watch },
                    6 => Op::GetAcl { path: path_for(&mut rng, root) },
                    7 if rng.gen_bool(0.5) => {
                        let prefix = [" ", " / ", "\t", " /a"][rng.gen_range(0..4)];
                        Op::GetEphemerals {
                            prefix: if rng.gen_bool(0.5) { path_for(&mut rng, root) } else { prefix.into() },
                        }
                    }
                    _ => Op::GetAllChildrenNumber { path: path_for(&mut rng, root) },
                };
                p.read(session, op)
            }
            73..=77 => {
                let mode = if rng.gen_bool(0.5) { AddWatchMode::Persistent } else { AddWatchMode::PersistentRecursive };
                p.read(session, Op::AddWatch { path: path_for(&mut rng, root), mode })
            }
            78..=81 => {
                let kind = [WatcherKind::Data, WatcherKind::Children, WatcherKind::Any][rng.gen_range(0..3)];
                p.read(session, Op::RemoveWatches { path: path_for(&mut rng, root), kind })
            }
            82..=85 => {
                let reason = if rng.gen_bool(0.5) { CloseReason::Closed } else { CloseReason::Expired };
                p.commit(Txn::CloseSession { session, reason });
                p.open.retain(|s| *s != session);
                p.open_session();
            }
            86..=87 => {
                // A late request of a closed session (ZOOKEEPER-1208).
                p.commit(Txn::Client {
                    session: SessionId(1_000_000),
                    xid: 0,
                    op: Op::Create {
                        path: "/z".into(),
                        data: Data::null(),
                        mode: CreateMode::Ephemeral,
                        acl: Acl::open(),
                    },
                })
            }
            _ => {
                p.now_ms += rng.gen_range(0..1500);
                for txn in reap_candidates(&p.tree, p.now_ms) {
                    p.commit(txn);
                }
            }
        }
        p.compare_state();
    }
    // A snapshot plus the rest of the log, and a fresh tree plus the whole log, both rebuild
    // exactly the live tree (what a restarting or SNAP-synced replica relies on).
    let (mut snap, from) = snapshot.expect("taken during the run");
    let mut fresh = if root { DataTree::new() } else { DataTree::empty() };
    for rec in &p.committed[from..] {
        snap.apply(rec);
    }
    for rec in &p.committed {
        fresh.apply(rec);
    }
    for rebuilt in [&snap, &fresh] {
        assert_eq!(rebuilt.digest(), p.tree.digest(), "seed {seed}: digest after replay");
        assert_eq!(rebuilt.sessions(), p.tree.sessions(), "seed {seed}: sessions after replay");
        let paths: Vec<_> = rebuilt.paths().collect();
        assert_eq!(paths, p.tree.paths().collect::<Vec<_>>(), "seed {seed}: nodes after replay");
        for path in paths {
            assert_eq!(rebuilt.node_stat(path), p.tree.node_stat(path), "seed {seed}: stat of {path} after replay");
            assert_eq!(rebuilt.data(path), p.tree.data(path), "seed {seed}: data of {path} after replay");
            assert_eq!(rebuilt.child_creates(path), p.tree.child_creates(path), "seed {seed}: counter of {path}");
        }
    }
}

#[test]
fn datatree_agrees_with_reference_model() {
    for seed in 0..100 {
        run(seed, 400);
    }
}
