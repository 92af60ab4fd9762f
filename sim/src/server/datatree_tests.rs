//! Focused tests of the data tree, watch manager and reaper, one per fact of
//! `zookeeper-3.8-probes.md` they pin down.

use super::datatree::{DataTree, NodeKind};
use super::reaper::reap_candidates;
use super::watches::{WatchKind, WatchManager};
use crate::proto::WatchSet;
use zksim_model::history::{CloseReason, Txn, TxnRecord};
use zksim_model::{
    AddWatchMode, CreateMode, Data, ErrorCode, EventType, MultiOp, MultiSubResult, Op, OpResult, Outcome, SessionId,
    Stat, WatchedEvent, WatcherKind, Zxid,
};

/// A single server: tree, watches, clock and zxid counter.
struct Server {
    tree: DataTree,
    watches: WatchManager,
    counter: u32,
    now_ms: i64,
    events: Vec<(SessionId, WatchedEvent)>,
}

const S1: SessionId = SessionId(1);
const S2: SessionId = SessionId(2);
const S3: SessionId = SessionId(3);

impl Server {
    fn new(tree: DataTree) -> Server {
        let mut s = Server { tree, watches: WatchManager::new(), counter: 0, now_ms: 1_000, events: Vec::new() };
        for id in [S1, S2, S3] {
            s.commit(Txn::CreateSession { session: id, timeout_ms: 10_000 });
        }
        s
    }

    fn chroot() -> Server {
        Server::new(DataTree::empty())
    }

    fn commit(&mut self, txn: Txn) -> Outcome {
        self.counter += 1;
        let rec = TxnRecord { zxid: Zxid::new(1, self.counter), time_ms: self.now_ms, txn };
        let applied = self.tree.apply(&rec);
        let evs = self.watches.on_commit(&rec, &applied);
        self.events.extend(evs);
        self.tree.check_invariants();
        self.watches.check_invariants();
        applied.outcome
    }

    fn exec(&mut self, session: SessionId, op: Op) -> Outcome {
        if op.is_write() {
            self.commit(Txn::Client { session, xid: 0, op })
        } else {
            let out = self.tree.read(&op);
            self.watches.register_for_read(session, &op, &out);
            out
        }
    }

    fn create(&mut self, path: &str, mode: CreateMode) -> Outcome {
        self.exec(S1, create(path, mode))
    }

    fn created_path(&mut self, path: &str, mode: CreateMode) -> String {
        match self.create(path, mode) {
            Outcome::Ok { value: OpResult::Created { path, stat: Some(_) } } => path,
            other => panic!("create {path} failed: {other:?}"),
        }
    }

    fn stat(&self, path: &str) -> Stat {
        self.tree.node_stat(path).unwrap_or_else(|| panic!("{path} exists"))
    }

    fn take(&mut self) -> Vec<(SessionId, EventType, String)> {
        std::mem::take(&mut self.events).into_iter().map(|(s, e)| (s, e.kind, e.path)).collect()
    }

    /// Runs the reaper once at the current time and commits what it proposes.
    fn reap(&mut self) -> Vec<Outcome> {
        let txns = reap_candidates(&self.tree, self.now_ms);
        txns.into_iter().map(|t| self.commit(t)).collect()
    }
}

fn create(path: &str, mode: CreateMode) -> Op {
    Op::Create { path: path.to_string(), data: Data::text(""), mode, acl: zksim_model::Acl::open() }
}

fn delete(path: &str, version: i32) -> Op {
    Op::Delete { path: path.to_string(), version }
}

fn set(path: &str, data: &str, version: i32) -> Op {
    Op::SetData { path: path.to_string(), data: Data::text(data), version }
}

fn get(path: &str, watch: bool) -> Op {
    Op::GetData { path: path.to_string(), watch }
}

fn code(o: &Outcome) -> Option<ErrorCode> {
    o.error()
}

use CreateMode::{Container, Ephemeral, EphemeralSequential, Persistent, PersistentSequential};

#[test]
fn fresh_server_has_odd_system_stats() {
    let t = DataTree::new();
    let root = t.node_stat("/").unwrap();
    assert_eq!((root.cversion, root.num_children), (-1, 1));
    let zk = t.node_stat("/zookeeper").unwrap();
    assert_eq!((zk.cversion, zk.num_children), (-2, 2));
    assert_eq!(t.node_stat("/zookeeper/config").unwrap().aversion, -1);
    assert_eq!(t.node_stat("/zookeeper/quota").unwrap(), Stat::default());
    assert_eq!(t.descendant_count("/"), Some(3));
    assert_eq!(DataTree::empty().node_stat("/").unwrap(), Stat::default());
    assert_eq!(t.last_zxid(), Zxid::ZERO);
    assert_eq!(t.digest(), 0);
}

#[test]
fn sequence_counts_creates_not_visible_cversion() {
    let mut s = Server::chroot();
    assert_eq!(s.created_path("/s-", PersistentSequential), "/s-0000000000");
    assert_eq!(code(&s.exec(S1, delete("/s-0000000000", -1))), None);
    assert_eq!(s.created_path("/s-", PersistentSequential), "/s-0000000001");
    assert_eq!(s.stat("/").cversion, 3);
    // Different prefixes and modes share the counter.
    assert_eq!(s.created_path("/other-", EphemeralSequential), "/other-0000000002");
    assert_eq!(s.created_path("/plain", Persistent), "/plain");
    assert_eq!(s.created_path("/s-", PersistentSequential), "/s-0000000004");
    // 5 creates, 1 delete: visible 2·5 − 4.
    assert_eq!(s.stat("/").cversion, 6);
    assert_eq!(s.tree.child_creates("/"), Some(5));
}

#[test]
fn failed_creates_and_multis_do_not_advance_counter() {
    let mut s = Server::chroot();
    s.created_path("/p", Persistent);
    assert_eq!(code(&s.create("/p", Persistent)), Some(ErrorCode::NodeExists));
    assert_eq!(code(&s.create("/missing/x-", PersistentSequential)), Some(ErrorCode::NoNode));
    let out = s.exec(
        S1,
        Op::Multi {
            ops: vec![
                MultiOp::Create {
                    path: "/q-".into(),
                    data: Data::null(),
                    mode: PersistentSequential,
                    acl: zksim_model::Acl::open(),
                },
                MultiOp::Check { path: "/p".into(), version: 7 },
            ],
        },
    );
    assert_eq!(
        out,
        Outcome::MultiErr { code: ErrorCode::BadVersion, results: vec![ErrorCode::Ok, ErrorCode::BadVersion] }
    );
    assert_eq!(s.created_path("/q-", PersistentSequential), "/q-0000000001");
}

#[test]
fn sequential_collision_blocks_for_good() {
    let mut s = Server::chroot();
    // The plain create is create #0, so the next suffix is 1: the very name it just took.
    s.created_path("/s-0000000001", Persistent);
    for _ in 0..3 {
        assert_eq!(code(&s.create("/s-", PersistentSequential)), Some(ErrorCode::NodeExists));
    }
    assert_eq!(s.tree.child_creates("/"), Some(1));
}

#[test]
fn path_errors_differ_by_op() {
    let mut s = Server::new(DataTree::new());
    s.created_path("/a", Persistent);
    // create looks up the parent first.
    assert_eq!(code(&s.create("/b/", Persistent)), Some(ErrorCode::NoNode));
    assert_eq!(code(&s.create("/a//b", Persistent)), Some(ErrorCode::NoNode));
    assert_eq!(code(&s.create("/a/./b", Persistent)), Some(ErrorCode::NoNode));
    assert_eq!(code(&s.create("/a/", Persistent)), Some(ErrorCode::BadArguments));
    assert_eq!(code(&s.create("", Persistent)), Some(ErrorCode::BadArguments));
    assert_eq!(code(&s.create("a", Persistent)), Some(ErrorCode::BadArguments));
    assert_eq!(code(&s.create("/", Persistent)), Some(ErrorCode::NodeExists));
    assert_eq!(code(&s.create("/a\u{1}", Persistent)), Some(ErrorCode::BadArguments));
    assert_eq!(code(&s.create("/a\0", Persistent)), Some(ErrorCode::BadArguments));
    // delete checks only slash/NUL/reserved.
    assert_eq!(code(&s.exec(S1, delete("/a/", -1))), Some(ErrorCode::NoNode));
    assert_eq!(code(&s.exec(S1, delete("//a", -1))), Some(ErrorCode::NoNode));
    assert_eq!(code(&s.exec(S1, delete("/", -1))), Some(ErrorCode::BadArguments));
    assert_eq!(code(&s.exec(S1, delete("", -1))), Some(ErrorCode::BadArguments));
    assert_eq!(code(&s.exec(S1, delete("/zookeeper", -1))), Some(ErrorCode::BadArguments));
    assert_eq!(code(&s.exec(S1, delete("/zookeeper/quota", -1))), Some(ErrorCode::BadArguments));
    assert_eq!(s.created_path("/zookeeper/x", Persistent), "/zookeeper/x");
    // set checks syntax; "/" is settable.
    assert_eq!(code(&s.exec(S1, set("/a/", "x", -1))), Some(ErrorCode::BadArguments));
    assert_eq!(code(&s.exec(S1, set("", "x", -1))), Some(ErrorCode::BadArguments));
    assert_eq!(code(&s.exec(S1, set("/", "x", -1))), None);
    // Reads never check, "" is the root.
    assert_eq!(code(&s.exec(S1, get("/a/", false))), Some(ErrorCode::NoNode));
    assert_eq!(
        s.exec(S1, Op::Exists { path: "//a".into(), watch: false }),
        Outcome::Ok { value: OpResult::Exists { stat: None } }
    );
    match s.exec(S1, Op::GetChildren { path: "".into(), watch: false }) {
        Outcome::Ok { value: OpResult::Children { children, .. } } => {
            assert_eq!(children, vec!["a".into(), "zookeeper".into()] as Vec<std::sync::Arc<str>>)
        }
        other => panic!("children of \"\": {other:?}"),
    }
    assert_eq!(s.exec(S1, Op::Sync { path: "".into() }), Outcome::Ok { value: OpResult::Synced { path: "".into() } });
    // Sequential creates of "/" and "/p/".
    // Root creates so far: only /a (the system nodes did not count).
    assert_eq!(s.created_path("/", PersistentSequential), "/0000000001");
    assert_eq!(s.created_path("/a/", PersistentSequential), "/a/0000000000");
}

#[test]
fn ttl_range_and_masked_owners() {
    let mut s = Server::chroot();
    for ttl_ms in [0, -1, 1 << 40] {
        assert_eq!(code(&s.create("/t", CreateMode::PersistentWithTtl { ttl_ms })), Some(ErrorCode::BadArguments));
    }
    s.created_path("/t", CreateMode::PersistentWithTtl { ttl_ms: (1 << 40) - 1 });
    s.created_path("/c", Container);
    assert_eq!(s.stat("/t").ephemeral_owner, SessionId(0));
    assert_eq!(s.stat("/c").ephemeral_owner, SessionId(0));
    assert_eq!(s.tree.node_kind("/c"), Some(NodeKind::Container));
    s.exec(S2, create("/e", Ephemeral));
    assert_eq!(s.stat("/e").ephemeral_owner, S2);
    // No children under an ephemeral, whatever the mode or session; NodeExists wins.
    for mode in [Persistent, Container, CreateMode::PersistentWithTtl { ttl_ms: 5 }, EphemeralSequential] {
        assert_eq!(code(&s.create("/e/x", mode)), Some(ErrorCode::NoChildrenForEphemerals));
    }
    assert_eq!(code(&s.create("/e", Persistent)), Some(ErrorCode::NodeExists));
    assert_eq!(code(&s.create("/nope/x", Ephemeral)), Some(ErrorCode::NoNode));
}

#[test]
fn versions_and_error_precedence() {
    let mut s = Server::chroot();
    s.created_path("/a", Persistent);
    s.created_path("/a/b", Persistent);
    assert_eq!(code(&s.exec(S1, delete("/a", 5))), Some(ErrorCode::BadVersion));
    assert_eq!(code(&s.exec(S1, delete("/a", 0))), Some(ErrorCode::NotEmpty));
    assert_eq!(code(&s.exec(S1, set("/a", "x", -2))), Some(ErrorCode::BadVersion));
    assert_eq!(code(&s.exec(S1, set("/zz", "x", 3))), Some(ErrorCode::NoNode));
    let before = s.stat("/a");
    match s.exec(S1, set("/a", "", 0)) {
        Outcome::Ok { value: OpResult::Stat { stat } } => {
            assert_eq!(stat.version, 1, "identical data still bumps the version");
            assert!(stat.mzxid > before.mzxid);
            assert_eq!((stat.pzxid, stat.cversion), (before.pzxid, before.cversion));
        }
        other => panic!("set: {other:?}"),
    }
    // Parent mzxid/version untouched by child changes; pzxid only on the direct parent.
    s.created_path("/a/b/c", Persistent);
    assert_eq!(s.stat("/a").pzxid, before.pzxid);
    assert_eq!(s.stat("/a").version, 1);
}

#[test]
fn null_data_is_kept() {
    let mut s = Server::chroot();
    s.exec(S1, Op::Create { path: "/n".into(), data: Data::null(), mode: Persistent, acl: zksim_model::Acl::open() });
    s.exec(
        S1,
        Op::Create { path: "/u".into(), data: Data::text("é"), mode: Persistent, acl: zksim_model::Acl::open() },
    );
    match s.exec(S1, get("/n", false)) {
        Outcome::Ok { value: OpResult::GetData { data, stat } } => {
            assert_eq!(data, Data::null());
            assert_eq!(stat.data_length, 0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.stat("/u").data_length, 2, "dataLength counts UTF-8 bytes");
}

#[test]
fn multi_semantics() {
    let mut s = Server::chroot();
    s.created_path("/x", Persistent);
    let z_before = s.tree.last_zxid();
    let out = s.exec(
        S1,
        Op::Multi {
            ops: vec![
                MultiOp::Create {
                    path: "/m".into(),
                    data: Data::null(),
                    mode: Persistent,
                    acl: zksim_model::Acl::open(),
                },
                MultiOp::Create {
                    path: "/m/c".into(),
                    data: Data::null(),
                    mode: Container,
                    acl: zksim_model::Acl::open(),
                },
                MultiOp::SetData { path: "/x".into(), data: Data::text("1"), version: 0 },
                MultiOp::SetData { path: "/x".into(), data: Data::text("2"), version: 1 },
                MultiOp::Check { path: "/x".into(), version: 2 },
                MultiOp::Create {
                    path: "/tmp".into(),
                    data: Data::null(),
                    mode: Persistent,
                    acl: zksim_model::Acl::open(),
                },
                MultiOp::Delete { path: "/tmp".into(), version: 0 },
            ],
        },
    );
    let Outcome::Ok { value: OpResult::Multi { results } } = out else { panic!("multi failed: {out:?}") };
    assert_eq!(results[0], MultiSubResult::Created { path: "/m".into(), stat: None });
    let MultiSubResult::Created { stat: Some(cstat), .. } = &results[1] else { panic!("container create has a stat") };
    let zxid = s.tree.last_zxid();
    assert_eq!(zxid.0, z_before.0 + 1, "one zxid for the whole multi");
    assert_eq!(cstat.czxid, zxid);
    assert!(matches!(results[3], MultiSubResult::SetData { stat } if stat.version == 2 && stat.mzxid == zxid));
    assert_eq!(results[4], MultiSubResult::Checked);
    assert_eq!(results[6], MultiSubResult::Deleted);
    // create-then-delete: visible cversion +2 (root: /x, /m, /tmp created, /tmp deleted).
    assert_eq!(s.stat("/").cversion, 2 * 3 - 2);

    // Failure: Ok before, the error, RuntimeInconsistency after; nothing applied; no triggers.
    s.exec(S2, get("/x", true));
    let snapshot: Vec<_> = ["/", "/x", "/m", "/m/c"].iter().map(|p| s.stat(p)).collect();
    s.take();
    let out = s.exec(
        S1,
        Op::Multi {
            ops: vec![
                MultiOp::SetData { path: "/x".into(), data: Data::text("3"), version: -1 },
                MultiOp::Delete { path: "/m/c".into(), version: -1 },
                MultiOp::Create {
                    path: "/e".into(),
                    data: Data::null(),
                    mode: Ephemeral,
                    acl: zksim_model::Acl::open(),
                },
                MultiOp::Create {
                    path: "/e/child".into(),
                    data: Data::null(),
                    mode: Persistent,
                    acl: zksim_model::Acl::open(),
                },
                MultiOp::Delete { path: "/x".into(), version: -1 },
            ],
        },
    );
    assert_eq!(
        out,
        Outcome::MultiErr {
            code: ErrorCode::NoChildrenForEphemerals,
            results: vec![
                ErrorCode::Ok,
                ErrorCode::Ok,
                ErrorCode::Ok,
                ErrorCode::NoChildrenForEphemerals,
                ErrorCode::RuntimeInconsistency
            ]
        }
    );
    let after: Vec<_> = ["/", "/x", "/m", "/m/c"].iter().map(|p| s.stat(p)).collect();
    assert_eq!(snapshot, after, "a failed multi leaves every stat as it was");
    assert!(s.tree.node_stat("/e").is_none());
    assert!(s.tree.ephemerals(S1).is_empty());
    assert!(s.take().is_empty(), "no watch fires for a failed multi");
    assert_eq!(s.exec(S1, Op::Multi { ops: vec![] }), Outcome::Ok { value: OpResult::Multi { results: vec![] } });
}

#[test]
fn close_and_expiry_delete_ephemerals_in_one_txn() {
    let mut s = Server::chroot();
    s.created_path("/p", Persistent);
    s.exec(S2, create("/p/e-", EphemeralSequential));
    s.exec(S2, create("/p/e-", EphemeralSequential));
    s.exec(S2, create("/f", Ephemeral));
    assert_eq!(s.tree.ephemerals(S2), vec!["/f", "/p/e-0000000000", "/p/e-0000000001"]);
    let cv = s.stat("/p").cversion;
    assert_eq!(
        s.commit(Txn::CloseSession { session: S2, reason: CloseReason::Expired }),
        Outcome::Ok { value: OpResult::Done }
    );
    let z = s.tree.last_zxid();
    assert_eq!(s.stat("/p").pzxid, z);
    assert_eq!(s.stat("/").pzxid, z);
    assert_eq!(s.stat("/p").cversion, cv + 2, "visible cversion +1 per deleted node");
    assert_eq!(s.tree.child_creates("/p"), Some(2), "counter unchanged");
    assert!(!s.tree.session_open(S2));
    assert!(s.tree.ephemerals(S2).is_empty());
    // ZOOKEEPER-1208: a late request of the closed session does nothing.
    let last = s.tree.last_zxid();
    assert_eq!(code(&s.exec(S2, create("/orphan", Ephemeral))), Some(ErrorCode::SessionExpired));
    assert!(s.tree.node_stat("/orphan").is_none());
    assert!(s.tree.last_zxid() > last, "the failed txn still consumed its zxid");
    assert_eq!(
        code(&s.commit(Txn::CloseSession { session: S2, reason: CloseReason::Closed })),
        Some(ErrorCode::SessionExpired)
    );
    assert_eq!(s.tree.sessions(), vec![(S1, 10_000), (S3, 10_000)]);
    // Another session may set/delete an ephemeral; the owner stays.
    s.exec(S3, create("/g", Ephemeral));
    s.exec(S1, set("/g", "x", -1));
    assert_eq!(s.stat("/g").ephemeral_owner, S3);
}

#[test]
fn watch_notification_rules() {
    let mut s = Server::chroot();
    s.created_path("/a", Persistent);
    // One notification per session per (path, event), however many watches.
    s.exec(S2, get("/a", true));
    s.exec(S2, Op::Exists { path: "/a".into(), watch: true });
    s.exec(S2, Op::GetChildren { path: "/a".into(), watch: true });
    s.exec(S3, Op::GetChildren { path: "/a".into(), watch: true });
    s.exec(S3, Op::GetChildren { path: "/".into(), watch: true });
    s.exec(S1, delete("/a", -1));
    assert_eq!(
        s.take(),
        vec![
            (S2, EventType::NodeDeleted, "/a".into()),
            (S3, EventType::NodeDeleted, "/a".into()),
            (S3, EventType::NodeChildrenChanged, "/".into()),
        ]
    );
    // One-shot: consumed.
    s.created_path("/a", Persistent);
    assert!(s.take().is_empty());
    // Exists on missing stays armed; get/children on missing set nothing. NodeCreated
    // comes before the parent's NodeChildrenChanged.
    s.exec(S2, Op::Exists { path: "/b".into(), watch: true });
    s.exec(S3, get("/b", true));
    s.exec(S3, Op::GetChildren { path: "/b".into(), watch: true });
    s.exec(S2, Op::GetChildren { path: "/".into(), watch: true });
    s.created_path("/b", Persistent);
    assert_eq!(
        s.take(),
        vec![(S2, EventType::NodeCreated, "/b".into()), (S2, EventType::NodeChildrenChanged, "/".into())]
    );
    // Children watch is not fired by a child's data change.
    s.created_path("/b/c", Persistent);
    s.exec(S2, Op::GetChildren { path: "/b".into(), watch: true });
    s.exec(S1, set("/b/c", "x", -1));
    assert!(s.take().is_empty());
}

#[test]
fn persistent_and_recursive_watches() {
    let mut s = Server::chroot();
    s.watches.add_watch(S2, "/a", AddWatchMode::Persistent);
    s.watches.add_watch(S3, "/a", AddWatchMode::PersistentRecursive);
    s.created_path("/a", Persistent);
    s.created_path("/a/b", Persistent);
    s.exec(S1, set("/a/b", "x", -1));
    s.exec(S1, set("/a", "x", -1));
    assert_eq!(
        s.take(),
        vec![
            (S2, EventType::NodeCreated, "/a".into()),
            (S3, EventType::NodeCreated, "/a".into()),
            (S3, EventType::NodeCreated, "/a/b".into()),
            (S2, EventType::NodeChildrenChanged, "/a".into()),
            (S3, EventType::NodeDataChanged, "/a/b".into()),
            (S2, EventType::NodeDataChanged, "/a".into()),
            (S3, EventType::NodeDataChanged, "/a".into()),
        ]
    );
    // ZOOKEEPER-4466 fixed: a one-shot get watch does not replace the persistent one.
    s.exec(S2, get("/a", true));
    s.exec(S1, set("/a", "y", -1));
    s.exec(S1, set("/a", "z", -1));
    let s2: Vec<_> = s.take().into_iter().filter(|e| e.0 == S2).collect();
    assert_eq!(s2.len(), 2, "persistent watch keeps firing after the one-shot is used: {s2:?}");
    // ZOOKEEPER-4471 fixed: removeWatches(data/children) leaves a persistent watch alone.
    assert_eq!(s.watches.remove_watches(S2, "/a", WatcherKind::Data), Err(ErrorCode::NoWatcher));
    assert_eq!(s.watches.remove_watches(S2, "/a", WatcherKind::Children), Err(ErrorCode::NoWatcher));
    assert_eq!(s.watches.remove_watches(S1, "/a", WatcherKind::Any), Err(ErrorCode::NoWatcher));
    assert_eq!(s.watches.watches_of(S2), vec![("/a".to_string(), WatchKind::Persistent)]);
    assert_eq!(s.watches.remove_watches(S2, "/a", WatcherKind::Any), Ok(()));
    assert!(s.watches.watches_of(S2).is_empty());
    s.exec(S1, set("/a", "w", -1));
    assert_eq!(s.take(), vec![(S3, EventType::NodeDataChanged, "/a".into())]);
    // One-shot removal.
    s.exec(S2, get("/a", true));
    assert_eq!(s.watches.remove_watches(S2, "/a", WatcherKind::Children), Err(ErrorCode::NoWatcher));
    assert_eq!(s.watches.remove_watches(S2, "/a", WatcherKind::Data), Ok(()));
    assert_eq!(s.watches.remove_watches(S2, "/a", WatcherKind::Data), Err(ErrorCode::NoWatcher));
}

#[test]
fn closing_session_hears_own_ephemerals_expired_does_not() {
    let mut s = Server::chroot();
    s.exec(S2, create("/e2", Ephemeral));
    s.exec(S3, create("/e3", Ephemeral));
    for sess in [S2, S3] {
        s.exec(sess, Op::GetChildren { path: "/".into(), watch: true });
        s.exec(sess, Op::Exists { path: "/e2".into(), watch: true });
        s.exec(sess, Op::Exists { path: "/e3".into(), watch: true });
    }
    s.commit(Txn::CloseSession { session: S2, reason: CloseReason::Closed });
    assert_eq!(
        s.take(),
        vec![
            (S2, EventType::NodeDeleted, "/e2".into()),
            (S3, EventType::NodeDeleted, "/e2".into()),
            (S2, EventType::NodeChildrenChanged, "/".into()),
            (S3, EventType::NodeChildrenChanged, "/".into()),
        ]
    );
    assert!(s.watches.watches_of(S2).is_empty(), "a closed session's watches are gone");
    s.exec(S1, Op::GetChildren { path: "/".into(), watch: true });
    s.commit(Txn::CloseSession { session: S3, reason: CloseReason::Expired });
    assert_eq!(s.take(), vec![(S1, EventType::NodeChildrenChanged, "/".into())]);
}

#[test]
fn set_watches_catches_up() {
    let mut s = Server::chroot();
    s.created_path("/same", Persistent);
    s.created_path("/changed", Persistent);
    let seen = s.tree.last_zxid();
    s.exec(S1, set("/changed", "x", -1));
    s.created_path("/appeared", Persistent);
    s.created_path("/same/kid", Persistent);
    let ws = WatchSet {
        data: vec!["/same".into(), "/changed".into(), "/gone".into()],
        exist: vec!["/appeared".into(), "/absent".into()],
        child: vec!["/changed".into(), "/same".into(), "/gone".into()],
        persistent: vec!["/p".into()],
        persistent_recursive: vec!["/r".into()],
    };
    let evs: Vec<_> = s.watches.set_watches(S2, seen, &ws, &s.tree).into_iter().map(|e| (e.kind, e.path)).collect();
    assert_eq!(
        evs,
        vec![
            (EventType::NodeDataChanged, "/changed".into()),
            (EventType::NodeDeleted, "/gone".into()),
            (EventType::NodeCreated, "/appeared".into()),
            (EventType::NodeChildrenChanged, "/same".into()),
            (EventType::NodeDeleted, "/gone".into()),
        ]
    );
    assert_eq!(
        s.watches.watches_of(S2),
        vec![
            ("/absent".to_string(), WatchKind::Data),
            ("/changed".to_string(), WatchKind::Child),
            ("/p".to_string(), WatchKind::Persistent),
            ("/r".to_string(), WatchKind::PersistentRecursive),
            ("/same".to_string(), WatchKind::Data),
        ]
    );
}

#[test]
fn reaper_containers_and_ttls() {
    let mut s = Server::chroot();
    s.created_path("/never", Container);
    s.created_path("/c", Container);
    s.created_path("/c/inner", Container);
    s.created_path("/c/inner/x", Persistent);
    s.created_path("/t", CreateMode::PersistentWithTtl { ttl_ms: 500 });
    s.created_path("/tk", CreateMode::PersistentWithTtl { ttl_ms: 500 });
    s.created_path("/tk/kid", Persistent);
    assert!(s.reap().is_empty());
    s.now_ms += 501;
    // Only /t: /tk has a child, containers never emptied.
    assert_eq!(reap_candidates(&s.tree, s.now_ms), vec![Txn::DeleteTtl { path: "/t".into() }]);
    s.reap();
    assert!(s.tree.node_stat("/t").is_none());
    s.exec(S1, delete("/c/inner/x", -1));
    assert_eq!(reap_candidates(&s.tree, s.now_ms), vec![Txn::DeleteContainer { path: "/c/inner".into() }]);
    s.reap();
    // Cascade: /c goes at the next check, never-used /never stays.
    assert_eq!(reap_candidates(&s.tree, s.now_ms), vec![Txn::DeleteContainer { path: "/c".into() }]);
    s.reap();
    assert!(s.tree.node_stat("/c").is_none());
    assert!(s.tree.node_stat("/never").is_some());
    // PrepRequestProcessor's checks only: a TTL node set since it was picked is deleted all
    // the same (its expiry is not checked again), a container that got a child survives.
    s.exec(S1, delete("/tk/kid", -1));
    s.now_ms += 1000;
    let txns = reap_candidates(&s.tree, s.now_ms);
    assert_eq!(txns, vec![Txn::DeleteTtl { path: "/tk".into() }]);
    s.exec(S1, set("/tk", "x", -1));
    assert_eq!(code(&s.commit(txns[0].clone())), None);
    assert!(s.tree.node_stat("/tk").is_none());
    s.created_path("/k", Container);
    s.created_path("/k/x", Persistent);
    s.exec(S1, delete("/k/x", -1));
    let txns = reap_candidates(&s.tree, s.now_ms);
    assert_eq!(txns, vec![Txn::DeleteContainer { path: "/k".into() }]);
    s.created_path("/k/y", Persistent);
    assert_eq!(code(&s.commit(txns[0].clone())), Some(ErrorCode::NotEmpty));
    s.exec(S1, create("/eph", CreateMode::Ephemeral));
    assert_eq!(code(&s.commit(Txn::DeleteContainer { path: "/eph".into() })), Some(ErrorCode::BadVersion));
    assert_eq!(code(&s.commit(Txn::DeleteTtl { path: "/".into() })), Some(ErrorCode::NoNode));
    assert_eq!(code(&s.commit(Txn::DeleteTtl { path: "/nothing".into() })), Some(ErrorCode::NoNode));
}

#[test]
fn replicas_agree_and_snapshots_are_independent() {
    let mut a = Server::chroot();
    a.created_path("/x", Persistent);
    let snap = a.tree.clone();
    a.created_path("/y", PersistentSequential);
    assert!(snap.node_stat("/y0000000001").is_none(), "a snapshot does not see later txns");
    // Replay the same log on a second replica: same digest.
    let mut b = Server::chroot();
    b.created_path("/x", Persistent);
    b.created_path("/y", PersistentSequential);
    assert_eq!(a.tree.digest(), b.tree.digest());
    assert_ne!(a.tree.digest(), snap.digest());
    assert_eq!(a.tree.last_zxid(), b.tree.last_zxid());
}

#[test]
#[should_panic(expected = "zxids applied in increasing order")]
fn zxids_must_increase() {
    let mut t = DataTree::empty();
    let rec = TxnRecord { zxid: Zxid::new(1, 1), time_ms: 0, txn: Txn::CreateSession { session: S1, timeout_ms: 1 } };
    t.apply(&rec);
    t.apply(&rec);
}

#[test]
fn sequence_counter_wraps_like_java_int() {
    let mut s = Server::chroot();
    s.created_path("/p", Persistent);
    s.tree.set_child_creates_for_test("/p", i32::MAX);
    assert_eq!(s.created_path("/p/s-", PersistentSequential), format!("/p/s-{}", i32::MAX));
    assert_eq!(s.created_path("/p/s-", PersistentSequential), "/p/s--2147483648");
}

#[test]
fn large_trees_stay_consistent() {
    // 20k children under one parent plus churn, applied without the test harness's per-txn
    // full walks: exercises the paths a long simulation takes (and would time out if applying
    // scanned the tree or a parent's children).
    let mut s = Server::chroot();
    s.created_path("/p", Persistent);
    let mut next = || {
        s.counter += 1;
        Zxid::new(1, s.counter)
    };
    let mut txns = Vec::new();
    for _ in 0..20_000 {
        txns.push(TxnRecord {
            zxid: next(),
            time_ms: 0,
            txn: Txn::Client { session: S1, xid: 0, op: create("/p/n-", EphemeralSequential) },
        });
        txns.push(TxnRecord {
            zxid: next(),
            time_ms: 0,
            txn: Txn::Client { session: S2, xid: 0, op: set("/p", "x", -1) },
        });
    }
    txns.push(TxnRecord {
        zxid: next(),
        time_ms: 0,
        txn: Txn::Client { session: S2, xid: 0, op: delete("/p/n-0000000007", -1) },
    });
    for t in &txns {
        assert!(s.tree.apply(t).outcome.is_ok(), "{t:?} succeeds");
    }
    assert_eq!(s.stat("/p").num_children, 19_999);
    assert_eq!(s.stat("/p").version, 20_000);
    assert_eq!(s.tree.ephemerals(S1).len(), 19_999);
    s.tree.check_invariants();
    s.commit(Txn::CloseSession { session: S1, reason: CloseReason::Expired });
    assert_eq!(s.stat("/p").num_children, 0);
    assert_eq!(s.stat("/p").cversion, 40_000, "20k creates, 20k deletes");
}

#[test]
fn a_snapshot_keeps_its_state_while_the_tree_moves_on() {
    // Nodes are shared copy-on-write between a tree and its clones: every later change must
    // copy, never reach into the snapshot.
    let mut s = Server::new(DataTree::new());
    s.create("/a", Persistent);
    s.create("/a/b", Persistent);
    s.exec(S1, set("/a/b", "one", -1));
    let snap = s.tree.clone();
    let (snap_stat_a, snap_digest) = (snap.node_stat("/a").unwrap(), snap.digest());
    s.exec(S1, set("/a/b", "two", -1));
    s.create("/a/c", Persistent);
    assert_eq!(code(&s.exec(S1, delete("/a/b", -1))), None);
    s.tree.forget_child_creates();
    assert_eq!(snap.data("/a/b"), Some(&Data::text("one")), "the snapshot's data is its own");
    assert_eq!(snap.children("/a"), Some(vec!["b".to_string()]), "the snapshot's children are its own");
    assert_eq!(snap.node_stat("/a").unwrap(), snap_stat_a);
    assert_eq!(snap.child_creates("/a"), Some(1));
    assert_eq!(snap.digest(), snap_digest);
    snap.check_invariants();
    assert_eq!(s.tree.children("/a"), Some(vec!["c".to_string()]));
    assert_eq!(s.tree.child_creates("/a"), Some(1), "forget_child_creates reached the live tree");
    assert_eq!(s.tree.descendant_count("/a"), Some(1));
    s.tree.check_invariants();
}
