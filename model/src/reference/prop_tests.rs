//! Property tests: random op sequences keep the model's invariants, and a failed multi leaves the
//! state exactly as it was (the undo log is complete).

use super::*;
use crate::history::CloseReason;
use crate::op::MultiOp;
use crate::types::{AddWatchMode, CreateMode, WatcherKind};
use proptest::prelude::*;

const PATHS: [&str; 8] = ["/a", "/a/b", "/a/b/c", "/b", "/a/s-", "/c", "/c/d", "/a/"];
const SESSIONS: [SessionId; 3] = [SessionId(1), SessionId(2), SessionId(3)];

fn path() -> impl Strategy<Value = String> {
    prop::sample::select(PATHS.to_vec()).prop_map(String::from)
}

fn mode() -> impl Strategy<Value = CreateMode> {
    prop_oneof![
        Just(CreateMode::Persistent),
        Just(CreateMode::Ephemeral),
        Just(CreateMode::PersistentSequential),
        Just(CreateMode::EphemeralSequential),
        Just(CreateMode::Container),
        Just(CreateMode::PersistentWithTtl { ttl_ms: 100 }),
    ]
}

fn data() -> impl Strategy<Value = Data> {
    prop_oneof![Just(Data::null()), Just(Data::text("")), Just(Data::text("x"))]
}

fn multi_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        (path(), data(), mode()).prop_map(|(path, data, mode)| MultiOp::Create { path, data, mode, acl: Acl::open() }),
        (path(), -1..2i32).prop_map(|(path, version)| MultiOp::Delete { path, version }),
        (path(), data(), -1..2i32).prop_map(|(path, data, version)| MultiOp::SetData { path, data, version }),
        (path(), -1..2i32).prop_map(|(path, version)| MultiOp::Check { path, version }),
    ]
}

#[derive(Clone, Debug)]
enum Step {
    Write(SessionId, Op),
    Read(SessionId, Op),
    Open(SessionId),
    Close(SessionId, CloseReason),
    Reap,
}

fn step() -> impl Strategy<Value = Step> {
    let s = prop::sample::select(SESSIONS.to_vec());
    prop_oneof![
        (s.clone(), path(), data(), mode())
            .prop_map(|(s, path, data, mode)| Step::Write(s, Op::Create { path, data, mode, acl: Acl::open() })),
        (s.clone(), path(), -1..2i32).prop_map(|(s, path, version)| Step::Write(s, Op::Delete { path, version })),
        (s.clone(), path(), data(), -1..2i32)
            .prop_map(|(s, path, data, version)| Step::Write(s, Op::SetData { path, data, version })),
        (s.clone(), prop::collection::vec(multi_op(), 0..4)).prop_map(|(s, ops)| Step::Write(s, Op::Multi { ops })),
        (s.clone(), path()).prop_map(|(s, path)| Step::Read(s, Op::GetData { path, watch: true })),
        (s.clone(), path()).prop_map(|(s, path)| Step::Read(s, Op::Exists { path, watch: true })),
        (s.clone(), path()).prop_map(|(s, path)| Step::Read(s, Op::GetChildren { path, watch: true })),
        (s.clone(), path(), any::<bool>()).prop_map(|(s, path, rec)| Step::Read(
            s,
            Op::AddWatch { path, mode: if rec { AddWatchMode::PersistentRecursive } else { AddWatchMode::Persistent } }
        )),
        (s.clone(), path()).prop_map(|(s, path)| Step::Read(s, Op::RemoveWatches { path, kind: WatcherKind::Data })),
        (s.clone(), path()).prop_map(|(s, path)| Step::Read(s, Op::RemoveWatches { path, kind: WatcherKind::Any })),
        s.clone().prop_map(Step::Open),
        (s, any::<bool>())
            .prop_map(|(s, exp)| Step::Close(s, if exp { CloseReason::Expired } else { CloseReason::Closed })),
        Just(Step::Reap),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_keep_invariants_and_failed_writes_change_nothing(steps in prop::collection::vec(step(), 1..60)) {
        let mut m = ZkModel::new();
        let mut zxid = 0u64;
        let mut next = |m: &mut ZkModel, txn: Txn| {
            zxid += 1;
            m.apply(&TxnRecord { zxid: Zxid(zxid), time_ms: zxid as i64 * 100, txn })
        };
        for s in SESSIONS.iter().take(2) {
            next(&mut m, Txn::CreateSession { session: *s, timeout_ms: 1000 });
        }
        for step in steps {
            let before = m.clone();
            match step {
                Step::Write(s, op) => {
                    let applied = next(&mut m, Txn::Client { session: s, xid: 0, op: op.clone() });
                    if !applied.outcome.is_ok() {
                        prop_assert!(applied.triggers.is_empty() && applied.events.is_empty());
                        let mut expected = before.clone();
                        expected.last_zxid = m.last_zxid;
                        prop_assert_eq!(&m, &expected, "failed {:?} -> {:?} changed the state", op, applied.outcome);
                    }
                    for (s, _) in &applied.events {
                        prop_assert!(before.session_open(*s), "events go to open sessions only");
                    }
                }
                Step::Read(s, op) => {
                    let outcome = m.read(s, &op);
                    if !outcome.is_ok() {
                        prop_assert_eq!(&m, &before, "failed read {:?} changed the state", op);
                    }
                }
                Step::Open(s) => {
                    next(&mut m, Txn::CreateSession { session: s, timeout_ms: 1000 });
                }
                Step::Close(s, reason) => {
                    let applied = next(&mut m, Txn::CloseSession { session: s, reason });
                    prop_assert!(!m.session_open(s) && m.ephemerals_of(s).is_empty());
                    if reason == CloseReason::Expired {
                        prop_assert!(applied.events.iter().all(|(to, _)| *to != s), "an expired session hears nothing");
                    }
                }
                Step::Reap => {
                    let now = m.last_zxid().0 as i64 * 100 + 1000;
                    for txn in m.reap_candidates(now) {
                        prop_assert!(next(&mut m, txn).outcome.is_ok(), "a reap candidate is deletable");
                    }
                }
            }
            if let Err(e) = m.check_invariants() {
                return Err(TestCaseError::fail(e));
            }
        }
    }
}
