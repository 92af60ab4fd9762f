//! Unit tests pinning Stat, sequence, error and session behaviour of the reference model.

use super::*;
use crate::history::CloseReason;
use crate::op::MultiOp;
use crate::types::{CreateMode, WatcherKind};

const S1: SessionId = SessionId(0x101);
const S2: SessionId = SessionId(0x102);

/// A model with S1 and S2 open, driven by hand with explicit zxids.
struct Driver {
    m: ZkModel,
    zxid: u64,
}

impl Driver {
    fn new() -> Driver {
        let mut d = Driver { m: ZkModel::new(), zxid: 0 };
        for s in [S1, S2] {
            d.txn(Txn::CreateSession { session: s, timeout_ms: 10_000 });
        }
        d
    }
    fn txn(&mut self, txn: Txn) -> Applied {
        self.zxid += 1;
        self.m.apply(&TxnRecord { zxid: Zxid(self.zxid), time_ms: self.zxid as i64 * 10, txn })
    }
    fn write(&mut self, s: SessionId, op: Op) -> Applied {
        self.txn(Txn::Client { session: s, xid: 0, op })
    }
    fn create(&mut self, path: &str, mode: CreateMode) -> Outcome {
        self.write(S1, Op::Create { path: path.into(), data: Data::text(""), mode, acl: Acl::open() }).outcome
    }
    fn created_path(&mut self, path: &str, mode: CreateMode) -> String {
        match self.create(path, mode) {
            Outcome::Ok { value: OpResult::Created { path, .. } } => path,
            other => panic!("create {path} failed: {other:?}"),
        }
    }
    fn delete(&mut self, path: &str, version: i32) -> Outcome {
        self.write(S1, Op::Delete { path: path.into(), version }).outcome
    }
    fn stat(&self, path: &str) -> Stat {
        self.m.stat(path).unwrap_or_else(|| panic!("{path} exists"))
    }
}

fn err(code: ErrorCode) -> Outcome {
    Outcome::Err { code }
}

#[test]
fn stat_bookkeeping_of_parent_and_child() {
    let mut d = Driver::new();
    d.created_path("/a", CreateMode::Persistent);
    let a_czxid = Zxid(d.zxid);
    d.created_path("/a/b", CreateMode::Persistent);
    let b = d.stat("/a/b");
    assert_eq!((b.czxid, b.mzxid, b.pzxid), (Zxid(d.zxid), Zxid(d.zxid), Zxid(d.zxid)), "a new node's zxids");
    assert_eq!((b.ctime, b.mtime), (d.zxid as i64 * 10, d.zxid as i64 * 10), "times come from the txn");
    let a = d.stat("/a");
    assert_eq!((a.mzxid, a.version, a.pzxid, a.cversion, a.num_children), (a_czxid, 0, Zxid(d.zxid), 1, 1));
    assert_eq!(d.delete("/a/b", -1), Outcome::Ok { value: OpResult::Done });
    let a = d.stat("/a");
    assert_eq!((a.pzxid, a.cversion, a.num_children), (Zxid(d.zxid), 2, 0), "a delete also raises visible cversion");
    // Identical data still bumps version and mzxid; null and empty data differ but both have length 0.
    let set = |d: &mut Driver, data: Data| d.write(S1, Op::SetData { path: "/a".into(), data, version: -1 }).outcome;
    assert!(set(&mut d, Data::text("")).is_ok());
    assert!(set(&mut d, Data::null()).is_ok());
    let a = d.stat("/a");
    assert_eq!((a.version, a.mzxid, a.data_length), (2, Zxid(d.zxid), 0));
    assert_eq!(d.m.data("/a"), Some(&Data::null()));
}

#[test]
fn fresh_server_has_the_odd_stats() {
    let m = ZkModel::fresh_server();
    assert_eq!((m.stat("/").unwrap().cversion, m.stat("/").unwrap().num_children), (-1, 1));
    assert_eq!(m.stat("").unwrap(), m.stat("/").unwrap(), "\"\" reads as the root");
    assert_eq!(m.stat("/zookeeper").unwrap().cversion, -2);
    assert_eq!(m.stat("/zookeeper/config").unwrap().aversion, -1);
    assert_eq!(m.descendant_count("/"), Some(3));
    assert_eq!(ZkModel::new().stat("/").unwrap(), Stat::default(), "an empty tree's root is all zero");
}

/// `ZKDatabase.isSpecialPath` compares the path the server sees: under a chroot (the empty
/// tree) `/zookeeper` is `/chroot/zookeeper`, an ordinary node; on a real root it is refused.
#[test]
fn system_paths_are_special_only_on_a_real_root() {
    let mut d = Driver::new();
    d.created_path("/zookeeper", CreateMode::Persistent);
    d.created_path("/zookeeper/quota", CreateMode::Persistent);
    assert_eq!(d.delete("/zookeeper/quota", -1), Outcome::Ok { value: OpResult::Done });
    assert_eq!(d.delete("/zookeeper", -1), Outcome::Ok { value: OpResult::Done });
    assert_eq!(d.delete("/", -1), err(ErrorCode::BadArguments), "the root stays undeletable");
    let mut d = Driver { m: ZkModel::fresh_server(), zxid: 0 };
    d.txn(Txn::CreateSession { session: S1, timeout_ms: 10_000 });
    for p in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
        assert_eq!(d.delete(p, -1), err(ErrorCode::BadArguments), "{p}");
    }
}

/// `DataTree.getAllChildrenNumber("")` counts the node keys starting with `"/"`: on a real
/// server's root that includes the root's own `/` key, one more than `getAllChildrenNumber("/")`
/// (`nodes.size() - 2`). Under a chroot `""` is the chroot node itself.
#[test]
fn all_children_number_of_empty_path_on_a_real_root() {
    let mut m = ZkModel::fresh_server();
    assert_eq!(m.descendant_count(""), Some(4));
    assert_eq!(m.descendant_count("/"), Some(3));
    m.apply(&TxnRecord { zxid: Zxid(1), time_ms: 0, txn: Txn::CreateSession { session: S1, timeout_ms: 10_000 } });
    let op = Op::GetAllChildrenNumber { path: String::new() };
    assert_eq!(m.read(S1, &op), Outcome::Ok { value: OpResult::ChildrenNumber { number: 4 } });
    assert_eq!(ZkModel::new().descendant_count(""), Some(0));
}

#[test]
fn sequence_suffix_counts_creates_only() {
    let mut d = Driver::new();
    assert_eq!(d.created_path("/s-", CreateMode::PersistentSequential), "/s-0000000000");
    assert_eq!(d.delete("/s-0000000000", -1), Outcome::Ok { value: OpResult::Done });
    // Failed creates and a rolled-back multi do not advance the counter.
    assert_eq!(d.create("/s-0000000000/x", CreateMode::Persistent), err(ErrorCode::NoNode));
    let failed = d.write(
        S1,
        Op::Multi {
            ops: vec![
                MultiOp::Create {
                    path: "/t-".into(),
                    data: Data::null(),
                    mode: CreateMode::PersistentSequential,
                    acl: Acl::open(),
                },
                MultiOp::Check { path: "/missing".into(), version: -1 },
            ],
        },
    );
    assert_eq!(
        failed.outcome,
        Outcome::MultiErr { code: ErrorCode::NoNode, results: vec![ErrorCode::Ok, ErrorCode::NoNode] }
    );
    assert!(failed.triggers.is_empty() && failed.events.is_empty(), "a failed multi changes nothing");
    // Prefixes share the counter; the visible cversion (2·creates − children) differs from it.
    assert_eq!(d.created_path("/other-", CreateMode::EphemeralSequential), "/other-0000000001");
    assert_eq!(d.stat("/").cversion, 2 * 2 - 1);
    // A plain node with the next sequential name (its own create counts too) blocks sequential
    // creates for good.
    d.created_path("/s-0000000003", CreateMode::Persistent);
    assert_eq!(d.create("/s-", CreateMode::PersistentSequential), err(ErrorCode::NodeExists));
    assert_eq!(d.create("/s-", CreateMode::PersistentSequential), err(ErrorCode::NodeExists));
    // Signed 32-bit wrap, formatted as Java's %010d.
    d.m.tree.get_mut("/").unwrap().meta.creates = i32::MAX;
    assert_eq!(d.created_path("/w-", CreateMode::PersistentSequential), "/w-2147483647");
    assert_eq!(d.created_path("/w-", CreateMode::PersistentSequential), "/w--2147483648");
}

#[test]
fn error_precedence() {
    let mut d = Driver::new();
    d.created_path("/p", CreateMode::Persistent);
    d.created_path("/p/c", CreateMode::Persistent);
    assert_eq!(d.delete("/p", 5), err(ErrorCode::BadVersion), "BadVersion before NotEmpty");
    assert_eq!(d.delete("/p", -1), err(ErrorCode::NotEmpty));
    assert_eq!(d.delete("/p/c", -2), err(ErrorCode::BadVersion), "only -1 is the wildcard");
    assert_eq!(d.delete("/nope", 7), err(ErrorCode::NoNode), "missing beats version");
    assert_eq!(d.delete("/p/", -1), err(ErrorCode::NoNode), "delete does not check syntax");
    assert_eq!(d.delete("/zookeeper", -1), err(ErrorCode::NoNode), "not reserved under a chroot");
    assert_eq!(d.delete("/", -1), err(ErrorCode::BadArguments));
    assert_eq!(d.create("/b/", CreateMode::Persistent), err(ErrorCode::NoNode), "parent looked up first");
    assert_eq!(d.create("/p/", CreateMode::Persistent), err(ErrorCode::BadArguments));
    assert_eq!(d.create("/", CreateMode::Persistent), err(ErrorCode::NodeExists));
    assert_eq!(d.create("", CreateMode::Persistent), err(ErrorCode::BadArguments));
    for ttl_ms in [0, -1, MAX_TTL_MS + 1] {
        assert_eq!(d.create("/t", CreateMode::PersistentWithTtl { ttl_ms }), err(ErrorCode::BadArguments));
    }
    assert!(d.create("/t", CreateMode::PersistentWithTtl { ttl_ms: MAX_TTL_MS }).is_ok());
    // Ephemerals refuse children in every mode, even inside the multi that creates them.
    let multi = d.write(
        S2,
        Op::Multi {
            ops: vec![
                MultiOp::Create {
                    path: "/e".into(),
                    data: Data::null(),
                    mode: CreateMode::Ephemeral,
                    acl: Acl::open(),
                },
                MultiOp::Create {
                    path: "/e/c".into(),
                    data: Data::null(),
                    mode: CreateMode::Container,
                    acl: Acl::open(),
                },
                MultiOp::Delete { path: "/p/c".into(), version: -1 },
            ],
        },
    );
    assert_eq!(
        multi.outcome,
        Outcome::MultiErr {
            code: ErrorCode::NoChildrenForEphemerals,
            results: vec![ErrorCode::Ok, ErrorCode::NoChildrenForEphemerals, ErrorCode::RuntimeInconsistency]
        }
    );
    assert!(d.m.stat("/e").is_none() && d.m.stat("/p/c").is_some(), "rolled back");
}

#[test]
fn sessions_close_expire_and_1208() {
    let mut d = Driver::new();
    d.created_path("/p", CreateMode::Persistent);
    let e = d.write(
        S2,
        Op::Create { path: "/p/e".into(), data: Data::null(), mode: CreateMode::Ephemeral, acl: Acl::open() },
    );
    assert!(e.outcome.is_ok());
    assert_eq!(d.stat("/p/e").ephemeral_owner, S2);
    assert_eq!(d.m.ephemerals_of(S2), vec!["/p/e".to_string()]);
    // Both sessions watch the ephemeral.
    for s in [S1, S2] {
        assert!(d.m.read(s, &Op::Exists { path: "/p/e".into(), watch: true }).is_ok());
    }
    let closed = d.txn(Txn::CloseSession { session: S2, reason: CloseReason::Closed });
    let zxid = Zxid(d.zxid);
    let p = d.stat("/p");
    assert_eq!((p.pzxid, p.cversion), (zxid, 2), "one txn, visible cversion +1 per node");
    let sessions: Vec<SessionId> = closed.events.iter().map(|(s, _)| *s).collect();
    assert_eq!(sessions, vec![S1, S2], "the closing session is notified of its own ephemerals");
    assert!(!d.m.session_open(S2) && d.m.ephemerals_of(S2).is_empty());
    // ZOOKEEPER-1208: a write of a session that is gone changes nothing.
    let late = d.write(
        S2,
        Op::Create { path: "/p/late".into(), data: Data::null(), mode: CreateMode::Ephemeral, acl: Acl::open() },
    );
    assert_eq!(late.outcome, err(ErrorCode::SessionExpired));
    assert!(d.m.stat("/p/late").is_none());
    assert_eq!(d.m.read(S2, &Op::Exists { path: "/p".into(), watch: false }), err(ErrorCode::SessionExpired));
    // An expired session receives nothing, even for its own ephemerals.
    d.write(S1, Op::Create { path: "/p/e1".into(), data: Data::null(), mode: CreateMode::Ephemeral, acl: Acl::open() });
    assert!(d.m.read(S1, &Op::Exists { path: "/p/e1".into(), watch: true }).is_ok());
    let expired = d.txn(Txn::CloseSession { session: S1, reason: CloseReason::Expired });
    assert!(expired.events.is_empty());
    assert_eq!(expired.triggers.len(), 2, "NodeDeleted and the parent's NodeChildrenChanged");
}

#[test]
fn server_deletes_check_kind_and_children() {
    let mut d = Driver::new();
    d.created_path("/c", CreateMode::Container);
    d.created_path("/p", CreateMode::Persistent);
    d.created_path("/c/x", CreateMode::Persistent);
    let del = |d: &mut Driver, path: &str| d.txn(Txn::DeleteContainer { path: path.into() }).outcome;
    assert_eq!(del(&mut d, "/c"), err(ErrorCode::NotEmpty));
    d.write(S1, Op::Create { path: "/e".into(), data: Data::text(""), mode: CreateMode::Ephemeral, acl: Acl::open() });
    assert_eq!(del(&mut d, "/e"), err(ErrorCode::BadVersion), "an ephemeral is refused");
    assert_eq!(del(&mut d, "/nothing"), err(ErrorCode::NoNode));
    assert_eq!(d.m.reap_candidates(0), vec![], "a container with a child is kept");
    d.delete("/c/x", -1);
    assert_eq!(d.m.reap_candidates(0), vec![Txn::DeleteContainer { path: "/c".into() }]);
    let reaped = d.txn(Txn::DeleteContainer { path: "/c".into() });
    assert!(reaped.outcome.is_ok() && d.m.stat("/c").is_none());
    assert_eq!(reaped.triggers[0], Trigger { kind: EventType::NodeDeleted, path: "/c".into() });
}

#[test]
fn watch_state_is_exact_so_equal_states_compare_equal() {
    let mut watched = Driver::new();
    let mut plain = Driver::new();
    for d in [&mut watched, &mut plain] {
        d.created_path("/a", CreateMode::Persistent);
    }
    assert!(watched.m.read(S1, &Op::GetData { path: "/a".into(), watch: true }).is_ok());
    assert!(watched.m.read(S2, &Op::GetChildren { path: "/a".into(), watch: true }).is_ok());
    assert_ne!(watched.m, plain.m);
    let fired = watched.write(S1, Op::Delete { path: "/a".into(), version: -1 });
    plain.delete("/a", -1);
    let got: Vec<(SessionId, EventType)> = fired.events.iter().map(|(s, e)| (*s, e.kind)).collect();
    assert_eq!(got, vec![(S1, EventType::NodeDeleted), (S2, EventType::NodeDeleted)]);
    assert_eq!(watched.m, plain.m, "fired one-shot watches leave no trace");
    assert_eq!(
        watched.m.read(S1, &Op::RemoveWatches { path: "/a".into(), kind: WatcherKind::Any }),
        err(ErrorCode::NoWatcher)
    );
}

#[test]
fn session_reads_get_ephemerals_and_all_children_number() {
    let mut d = Driver::new();
    d.created_path("/a", CreateMode::Persistent);
    d.created_path("/a/e1", CreateMode::Ephemeral);
    d.created_path("/ab", CreateMode::Ephemeral);
    d.created_path("/a/p", CreateMode::Persistent);
    d.created_path("/a/p/q", CreateMode::Persistent);
    let ephemerals =
        |d: &mut Driver, s: SessionId, prefix: &str| d.m.read(s, &Op::GetEphemerals { prefix: prefix.into() });
    let paths =
        |v: &[&str]| Outcome::Ok { value: OpResult::Ephemerals { paths: v.iter().map(|p| p.to_string()).collect() } };
    assert_eq!(ephemerals(&mut d, S1, "/"), paths(&["/a/e1", "/ab"]));
    assert_eq!(ephemerals(&mut d, S1, "/a"), paths(&["/a/e1", "/ab"]), "a string prefix, not a path");
    assert_eq!(ephemerals(&mut d, S1, "/a/"), paths(&["/a/e1"]));
    assert_eq!(ephemerals(&mut d, S2, "/"), paths(&[]), "only the caller's own");
    let count = |d: &mut Driver, path: &str| d.m.read(S1, &Op::GetAllChildrenNumber { path: path.into() });
    assert_eq!(count(&mut d, "/a"), Outcome::Ok { value: OpResult::ChildrenNumber { number: 3 } });
    assert_eq!(count(&mut d, "/a/p/q"), Outcome::Ok { value: OpResult::ChildrenNumber { number: 0 } });
    assert_eq!(count(&mut d, "/missing"), err(ErrorCode::NoNode));
}

#[test]
fn a_write_multi_holding_a_read_is_refused_whole() {
    let mut d = Driver::new();
    d.created_path("/a", CreateMode::Persistent);
    let ops = vec![
        MultiOp::Create { path: "/b".into(), data: Data::text(""), mode: CreateMode::Persistent, acl: Acl::open() },
        MultiOp::GetData { path: "/a".into() },
    ];
    let multi = Op::Multi { ops };
    assert!(!multi.is_write(), "not a transaction");
    assert_eq!(d.m.read(S1, &multi), err(ErrorCode::MarshallingError));
    assert_eq!(d.write(S1, multi).outcome, err(ErrorCode::MarshallingError), "a log holding one changes nothing");
    assert!(d.m.stat("/b").is_none());
}

/// The in-place comparison the replay uses agrees with building the answer, and rejects an
/// answer that differs in data, Stat, or any child name (missing, extra, reordered).
#[test]
fn read_view_matches_exactly_what_read_builds() {
    let mut d = Driver::new();
    d.create("/a", CreateMode::Persistent);
    d.create("/a/x", CreateMode::Persistent);
    d.create("/a/y", CreateMode::Persistent);
    let children = Op::GetChildren { path: "/a".into(), watch: false };
    let get = Op::GetData { path: "/a/x".into(), watch: false };
    let missing = Op::GetData { path: "/nope".into(), watch: false };
    for op in [&children, &get, &missing] {
        let built = d.m.read(S1, op);
        assert!(d.m.read_view(S1, op).matches(&built), "{op:?}");
    }
    let with_kids = |kids: &[&str], d: &mut Driver| {
        let Outcome::Ok { value: OpResult::Children { stat, .. } } = d.m.read(S1, &children) else { panic!() };
        Outcome::Ok { value: OpResult::Children { children: kids.iter().map(|k| (*k).into()).collect(), stat } }
    };
    for kids in [&["x"][..], &["x", "y", "z"], &["y", "x"], &["x", "z"]] {
        let wrong = with_kids(kids, &mut d);
        assert!(!d.m.read_view(S1, &children).matches(&wrong), "{kids:?}");
    }
    let Outcome::Ok { value: OpResult::GetData { stat, .. } } = d.m.read(S1, &get) else { panic!() };
    let other_data = Outcome::Ok { value: OpResult::GetData { data: Data::text("z"), stat } };
    assert!(!d.m.read_view(S1, &get).matches(&other_data));
    let other_stat =
        Outcome::Ok { value: OpResult::GetData { data: Data::text(""), stat: Stat { version: 1, ..stat } } };
    assert!(!d.m.read_view(S1, &get).matches(&other_stat));
    assert!(!d.m.read_view(S1, &missing).matches(&other_data));
}

/// ACL checks sit at fixed points of PrepRequestProcessor's and FinalRequestProcessor's order;
/// each assertion below is an order a client can observe.
#[test]
fn acl_checks_come_in_the_servers_order() {
    use crate::acl::{AclEntry, AclId, Perms};
    let mut d = Driver::new();
    let create = |path: &str, acl: Acl| Op::Create {
        path: path.into(),
        data: Data::text("x"),
        mode: CreateMode::Persistent,
        acl,
    };
    let empty = Acl::from_entries(Vec::new());
    let creator = Acl::from_entries(vec![AclEntry { perms: Perms::ALL, id: AclId::Creator }]);
    // fixupACL runs before the parent is looked up.
    assert_eq!(d.write(S1, create("/missing/x", empty.clone())).outcome, err(ErrorCode::InvalidACL));
    assert_eq!(d.write(S1, create("/a", creator.clone())).outcome, err(ErrorCode::InvalidACL));
    // ...but after the path's `/` check and the mode's.
    assert_eq!(d.write(S1, create("a", empty.clone())).outcome, err(ErrorCode::BadArguments));

    d.write(S1, create("/ro", Acl::anyone(Perms::READ)));
    d.write(S1, create("/nd", Acl::anyone(Perms::ALL.without(Perms::DELETE))));
    d.write(S1, create("/nd/c", Acl::open()));
    d.write(S1, create("/admin", Acl::anyone(Perms::ADMIN)));
    // CREATE is the parent's, checked before NodeExists; so is DELETE, checked before the node
    // is even looked up.
    assert_eq!(d.write(S1, create("/ro/c", Acl::open())).outcome, err(ErrorCode::NoAuth));
    assert_eq!(d.delete("/nd/c", -1), err(ErrorCode::NoAuth));
    assert_eq!(d.delete("/nd/nothing", -1), err(ErrorCode::NoAuth));
    assert_eq!(d.delete("/ro", -1), Outcome::Ok { value: OpResult::Done }, "the root allows DELETE");
    d.write(S1, create("/ro", Acl::anyone(Perms::READ)));
    // setData: NoNode, then WRITE, then the version.
    let set = |path: &str, version| Op::SetData { path: path.into(), data: Data::text("y"), version };
    assert_eq!(d.write(S1, set("/ro", 7)).outcome, err(ErrorCode::NoAuth));
    assert_eq!(d.write(S1, set("/gone", 7)).outcome, err(ErrorCode::NoNode));
    // setACL: InvalidACL before NoNode; ADMIN before the aversion; only aversion moves.
    let set_acl = |path: &str, acl: Acl, version| Op::SetAcl { path: path.into(), acl, version };
    assert_eq!(d.write(S1, set_acl("/gone", empty, -1)).outcome, err(ErrorCode::InvalidACL));
    assert_eq!(d.write(S1, set_acl("/ro", Acl::open(), 9)).outcome, err(ErrorCode::NoAuth));
    let before = d.stat("/admin");
    let Outcome::Ok { value: OpResult::Stat { stat } } = d.write(S1, set_acl("/admin", Acl::open(), 0)).outcome else {
        panic!("setACL with ADMIN succeeds")
    };
    assert_eq!(stat, Stat { aversion: 1, ..before }, "setACL moves only the aversion");
    assert_eq!(d.write(S1, set_acl("/admin", Acl::open(), 0)).outcome, err(ErrorCode::BadVersion));
    // A check inside a multi needs READ.
    d.write(S1, create("/wo", Acl::anyone(Perms::WRITE)));
    let multi = Op::Multi { ops: vec![MultiOp::Check { path: "/wo".into(), version: -1 }] };
    assert!(matches!(d.write(S1, multi).outcome, Outcome::MultiErr { code: ErrorCode::NoAuth, .. }));
    // Reads: NoNode, then READ (getACL: READ or ADMIN); a refused read arms no watch; exists
    // checks nothing.
    let get = Op::GetData { path: "/wo".into(), watch: true };
    assert_eq!(d.m.read(S2, &get), err(ErrorCode::NoAuth));
    assert!(matches!(d.m.read(S2, &Op::Exists { path: "/wo".into(), watch: false }), Outcome::Ok { .. }));
    assert_eq!(d.m.read(S2, &Op::GetChildren { path: "/wo".into(), watch: true }), err(ErrorCode::NoAuth));
    assert_eq!(d.m.read(S2, &Op::GetAcl { path: "/wo".into() }), err(ErrorCode::NoAuth));
    assert_eq!(d.m.read(S2, &Op::GetAllChildrenNumber { path: "/wo".into() }), err(ErrorCode::NoAuth));
    assert!(matches!(d.m.read(S2, &Op::GetAcl { path: "/ro".into() }), Outcome::Ok { .. }));
    let applied = d.write(S1, set("/wo", -1));
    assert!(applied.outcome.is_ok(), "WRITE is granted");
    assert!(applied.events.is_empty(), "the refused getData armed no watch");
}

#[test]
fn a_fresh_servers_config_node_is_read_only() {
    use crate::acl::Perms;
    let mut m = ZkModel::fresh_server();
    m.apply(&TxnRecord { zxid: Zxid(1), time_ms: 0, txn: Txn::CreateSession { session: S1, timeout_ms: 10_000 } });
    let acl = m.read(S1, &Op::GetAcl { path: "/zookeeper/config".into() });
    let Outcome::Ok { value: OpResult::Acl { acl, stat } } = acl else { panic!("getACL answers: {acl:?}") };
    assert_eq!((acl, stat.aversion), (Acl::anyone(Perms::READ), -1));
    let set = Op::SetData { path: "/zookeeper/config".into(), data: Data::text("x"), version: -1 };
    let applied = m.apply(&TxnRecord { zxid: Zxid(2), time_ms: 0, txn: Txn::Client { session: S1, xid: 0, op: set } });
    assert_eq!(applied.outcome, err(ErrorCode::NoAuth));
}

#[test]
fn exists_refuses_a_nul_and_arms_nothing() {
    let mut d = Driver::new();
    let exists = Op::Exists { path: "/a\0b".into(), watch: true };
    assert_eq!(d.m.read(S1, &exists), err(ErrorCode::BadArguments));
    assert_eq!(d.m.read(S1, &Op::GetData { path: "/a\0b".into(), watch: true }), err(ErrorCode::NoNode));
    assert!(d.m.check_invariants().is_ok());
    assert!(d
        .write(S1, Op::Create { path: "/a".into(), data: Data::null(), mode: CreateMode::Persistent, acl: Acl::open() })
        .events
        .is_empty());
}

/// getEphemerals on a real server: a prefix Java's trim() leaves empty or "/" lists every
/// ephemeral of the session; any other prefix is compared as sent (untrimmed).
#[test]
fn get_ephemerals_prefix_rules_on_a_real_root() {
    let mut d = Driver { m: ZkModel::fresh_server(), zxid: 0 };
    d.txn(Txn::CreateSession { session: S1, timeout_ms: 10_000 });
    d.created_path("/e", CreateMode::Ephemeral);
    let eph = |m: &mut ZkModel, prefix: &str| match m.read(S1, &Op::GetEphemerals { prefix: prefix.into() }) {
        Outcome::Ok { value: OpResult::Ephemerals { paths } } => paths,
        other => panic!("{other:?}"),
    };
    for all in ["", " ", " / ", "\t/", "/"] {
        assert_eq!(eph(&mut d.m, all), vec!["/e".to_string()], "{all:?}");
    }
    assert!(eph(&mut d.m, " /e").is_empty(), "compared untrimmed");
    assert_eq!(eph(&mut d.m, "/e"), vec!["/e".to_string()]);
}
