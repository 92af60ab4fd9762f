//! One hand-made violating history per property, each caught with a readable explanation, and
//! tricky legal histories that must pass.

use zksim_model::check::{check_history, names, CheckConfig, CheckReport, Verdict};
use zksim_model::history::{CloseReason, Event, Fault, Txn, TxnRecord};
use zksim_model::testkit::ops::*;
use zksim_model::testkit::HistoryBuilder;
use zksim_model::{
    ErrorCode, EventType, OpId, OpResult, Outcome, ServerId, SessionId, SessionState, Stat, WatchedEvent, Zxid,
};

const S1: u64 = 0x11;
const S2: u64 = 0x22;

fn check(b: &HistoryBuilder) -> CheckReport {
    check_history(&b.build("fixture"), &CheckConfig::default())
}

fn check_with(b: &HistoryBuilder, cfg: CheckConfig) -> CheckReport {
    check_history(&b.build("fixture"), &cfg)
}

/// Asserts that `prop` failed and that its text mentions every `needle`; returns the text.
fn fails(r: &CheckReport, prop: &str, needles: &[&str]) -> String {
    let v = r.violations(prop);
    assert!(!v.is_empty(), "{prop} should fail:\n{r}");
    let text: String = v.iter().map(|v| format!("{v}\n")).collect();
    for n in needles {
        assert!(text.contains(n), "{prop}: explanation lacks {n:?}:\n{text}");
    }
    text
}

fn assert_all_pass(r: &CheckReport) {
    assert!(r.passed(), "expected a clean report:\n{r}");
    for p in &r.properties {
        assert!(!matches!(p.verdict, Verdict::Unknown { .. }), "{} is Unknown:\n{r}", p.name);
    }
}

fn ev(kind: EventType, path: &str, zxid: Zxid) -> WatchedEvent {
    WatchedEvent { kind, path: path.into(), zxid }
}

/// Two sessions, a create, a watched read, a set that fires it, and the event delivered.
fn baseline() -> HistoryBuilder {
    let mut b = HistoryBuilder::new();
    b.open_session(1, S1, 1, 6000);
    b.open_session(2, S2, 2, 6000);
    b.write(1, S1, create("/a", "x"));
    b.read(2, S2, get("/a", true), 2, None);
    let (_, z, _) = b.write(1, S1, set("/a", "y"));
    b.watch(2, S2, ev(EventType::NodeDataChanged, "/a", z));
    b.read(2, S2, get("/a", false), 2, None);
    b
}

#[test]
fn baseline_passes_every_property() {
    let mut b = baseline();
    let last = b.last_zxid();
    b.final_at(1, last).final_at(2, last).final_at(3, last);
    let r = check_with(&b, CheckConfig { strict_sync_reads: true, require_caught_up: true, ..CheckConfig::default() });
    assert_all_pass(&r);
    assert!(r.get(names::LINEARIZABLE_WRITES).unwrap().checked >= 2);
    assert!(r.get(names::WATCH_DELIVERY).unwrap().checked == 1);
    // The report serializes (the CLI's --json).
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"linearizable-writes\""), "{json}");
    let back: CheckReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
}

// ---- linearizable-writes ----

#[test]
fn wrong_write_result_is_caught() {
    let mut b = baseline();
    let id = b.invoke(1, S1, create("/a", "again"));
    let (z, real) = b.commit_op(id);
    assert_eq!(real, Outcome::Err { code: ErrorCode::NodeExists });
    // The service claims the duplicate create succeeded.
    let lie = Outcome::Ok { value: OpResult::Created { path: "/a".into(), stat: None } };
    b.complete(id, lie, Some(z), Some(1));
    let r = check(&b);
    fails(
        &r,
        names::LINEARIZABLE_WRITES,
        &["replaying the committed log", "expected: err NodeExists", "observed: ok created /a", "c1"],
    );
}

#[test]
fn real_time_order_violation_is_caught() {
    let mut b = HistoryBuilder::new();
    b.open_session(1, S1, 1, 6000);
    b.open_session(2, S2, 1, 6000);
    // B's transaction is committed (zxid 3) before A's (zxid 4), yet A completes before B is
    // even invoked: the zxid order contradicts real time.
    let zb = b.next_zxid();
    b.commit(Txn::Client { session: SessionId(S2), xid: 1, op: create("/b", "") });
    let a = b.invoke(1, S1, create("/a", ""));
    let (za, out) = b.commit_op(a);
    b.complete(a, out, Some(za), Some(1));
    b.tick(5);
    let bid = b.invoke(2, S2, create("/b", ""));
    b.tick(1);
    let out_b = Outcome::Ok { value: OpResult::Created { path: "/b".into(), stat: None } };
    b.complete(bid, out_b, Some(zb), Some(1));
    let r = check(&b);
    fails(&r, names::LINEARIZABLE_WRITES, &["completed before op 2 was invoked, yet has the larger zxid", "op 1 (c1"]);
}

#[test]
fn session_fifo_violation_is_caught() {
    let mut b = HistoryBuilder::new();
    b.open_session(1, S1, 1, 6000);
    let first = b.invoke(1, S1, create("/x", ""));
    let second = b.invoke(1, S1, create("/y", ""));
    let (z2, o2) = b.commit_op(second);
    let (z1, o1) = b.commit_op(first);
    b.complete(first, o1, Some(z1), Some(1));
    b.complete(second, o2, Some(z2), Some(1));
    let r = check(&b);
    fails(&r, names::LINEARIZABLE_WRITES, &["committed in the other order", "xid 1", "xid 2"]);
}

/// ZOOKEEPER-1863: a server answers a pipelined read before the write queued ahead of it; the
/// client drops the connection, so the write ends indeterminate after the read's reply.
#[test]
fn reply_overtaking_an_earlier_request_of_its_session_is_caught() {
    let mut b = HistoryBuilder::new();
    b.open_session(1, S1, 1, 6000);
    let w = b.invoke(1, S1, create("/x", ""));
    let r = b.invoke(1, S1, get("/x", false));
    let z = b.last_zxid();
    b.complete(r, Outcome::Err { code: ErrorCode::NoNode }, Some(z), Some(1));
    b.lose(w);
    let rep = check(&b);
    fails(&rep, names::LINEARIZABLE_WRITES, &["got the reply to op 2 (xid 2) before op 1 (xid 1)"]);
}

/// Pipelined requests answered in order, the connection then lost: legal.
#[test]
fn pipelined_replies_in_order_then_connection_loss_is_legal() {
    let mut b = HistoryBuilder::new();
    b.open_session(1, S1, 1, 6000);
    let w = b.invoke(1, S1, create("/x", ""));
    let r = b.invoke(1, S1, get("/x", false));
    let lost = b.invoke(1, S1, set("/x", "y"));
    let (z, out) = b.commit_op(w);
    b.complete(w, out, Some(z), Some(1));
    let answer = b.answer(S1, &get("/x", false), z);
    b.complete(r, answer, Some(z), Some(1));
    b.lose(lost);
    assert_all_pass(&check(&b));
}

/// The SessionMoved case: a request sent to a server the client then lost (ConnectionLoss)
/// reaches the leader after the client reconnected elsewhere and sent a newer request. The
/// leader refuses it with an effect-free error txn, logged after the newer write: legal.
#[test]
fn late_error_txn_of_a_moved_session_is_legal() {
    let mut b = HistoryBuilder::new();
    b.open_session(1, S1, 1, 6000);
    b.write(1, S1, create("/x", ""));
    let old = b.invoke(1, S1, delete("/x"));
    b.tick(5);
    b.lose(old);
    b.session_state(1, S1, SessionState::Disconnected, Some(1));
    b.session_state(1, S1, SessionState::SyncConnected, Some(2));
    let newer = b.invoke(1, S1, delete("/x"));
    let (zn, on) = b.commit_op(newer);
    b.complete(newer, on, Some(zn), Some(2));
    b.commit(Txn::Error { session: SessionId(S1), xid: 2, code: ErrorCode::SessionMoved });
    assert_all_pass(&check(&b));
}

/// The same late request, had the leader committed it as a write (no SessionMoved check):
/// it takes effect after the newer request, and per-session FIFO fails.
#[test]
fn late_write_of_a_moved_session_that_takes_effect_is_caught() {
    let mut b = HistoryBuilder::new();
    b.open_session(1, S1, 1, 6000);
    b.write(1, S1, create("/x", ""));
    let old = b.invoke(1, S1, create("/y", ""));
    b.tick(5);
    b.lose(old);
    b.session_state(1, S1, SessionState::Disconnected, Some(1));
    b.session_state(1, S1, SessionState::SyncConnected, Some(2));
    let newer = b.invoke(1, S1, delete("/x"));
    let (zn, on) = b.commit_op(newer);
    b.complete(newer, on, Some(zn), Some(2));
    b.commit_op(old);
    let r = check(&b);
    fails(&r, names::LINEARIZABLE_WRITES, &["committed in the other order", "xid 2", "xid 3"]);
}

/// An error txn refuses a request: a client told it succeeded was lied to.
#[test]
fn success_for_a_refused_request_is_caught() {
    let mut b = HistoryBuilder::new();
    b.open_session(1, S1, 1, 6000);
    let id = b.invoke(1, S1, create("/y", ""));
    let (z, _) = b.commit(Txn::Error { session: SessionId(S1), xid: 1, code: ErrorCode::SessionMoved });
    let ok = Outcome::Ok { value: OpResult::Created { path: "/y".into(), stat: None } };
    b.complete(id, ok, Some(z), Some(1));
    let r = check(&b);
    fails(&r, names::LINEARIZABLE_WRITES, &["refused it with an error transaction", "SessionMoved"]);
}

/// An error txn for a request nobody sent is a phantom.
#[test]
fn phantom_error_txn_is_caught() {
    let mut b = HistoryBuilder::new();
    b.open_session(1, S1, 1, 6000);
    b.commit(Txn::Error { session: SessionId(S1), xid: 9, code: ErrorCode::SessionMoved });
    let r = check(&b);
    fails(&r, names::LINEARIZABLE_WRITES, &["error transaction for session", "xid 9", "no client invoked it"]);
}

#[test]
fn definite_error_that_took_effect_is_caught() {
    let mut b = baseline();
    let id = b.invoke(1, S1, create("/z", ""));
    b.commit_op(id);
    // Told "connection closed, not done" definitively, without a zxid, yet it committed.
    b.complete(id, Outcome::Err { code: ErrorCode::SessionMoved }, None, Some(1));
    let r = check(&b);
    fails(&r, names::LINEARIZABLE_WRITES, &["failed definitely without a transaction", "op 5"]);
}

#[test]
fn phantom_transaction_is_caught() {
    let mut b = baseline();
    b.commit(Txn::Client { session: SessionId(S1), xid: 99, op: create("/ghost", "") });
    let r = check(&b);
    fails(&r, names::LINEARIZABLE_WRITES, &["no client invoked it", "xid 99"]);
}

// ---- sequential-reads ----

#[test]
fn read_of_a_value_never_committed_is_caught() {
    let mut b = baseline();
    let z = b.last_zxid();
    let id = b.invoke(2, S2, get("/a", false));
    let mut stat = match b.answer(S2, &get("/a", false), z) {
        Outcome::Ok { value: OpResult::GetData { stat, .. } } => stat,
        other => panic!("{other:?}"),
    };
    stat.version = 7;
    let bogus = Outcome::Ok { value: OpResult::GetData { data: zksim_model::Data::text("zzz"), stat } };
    b.complete(id, bogus, Some(z), Some(2));
    let r = check(&b);
    fails(&r, names::SEQUENTIAL_READS, &["does not hold", "\"y\"", "\"zzz\"", "c2"]);
}

#[test]
fn session_going_back_in_time_is_caught() {
    let mut b = baseline();
    let now = b.last_zxid();
    // Client 2 reconnects to a server that is behind what it has already seen.
    b.session_state(2, S2, SessionState::Disconnected, None);
    b.session_state(2, S2, SessionState::SyncConnected, Some(3));
    b.read(2, S2, get("/a", false), 3, Some(Zxid(now.0 - 1)));
    let r = check(&b);
    fails(&r, names::SEQUENTIAL_READS, &["went back in time", "expected: a reply zxid ≥"]);
}

// ---- sync-reads ----

#[test]
fn stale_read_after_sync_fails_only_in_strict_mode() {
    let mut b = baseline();
    let before = b.last_zxid();
    let (w, zw, _) = b.write(1, S1, set("/a", "z"));
    b.tick(5);
    let s = b.invoke(2, S2, sync("/a"));
    b.tick(1);
    b.complete(s, Outcome::Ok { value: OpResult::Synced { path: "/a".into() } }, Some(before), Some(2));
    b.read(2, S2, get("/a", false), 2, Some(before));
    let lax = check(&b);
    assert!(lax.passed(), "ZooKeeper's own sync allows this:\n{lax}");
    let strict = check_with(&b, CheckConfig { strict_sync_reads: true, ..CheckConfig::default() });
    let text = fails(&strict, names::SYNC_READS, &["after sync", "completed before the sync began"]);
    assert!(text.contains(&format!("op {}", w.0)) && text.contains(&zw.to_string()), "{text}");
}

// ---- durability ----

#[test]
fn acknowledged_write_missing_from_the_log_is_caught() {
    let mut b = baseline();
    let id = b.invoke(1, S1, create("/lost", ""));
    let z = b.next_zxid();
    b.complete(id, Outcome::Ok { value: OpResult::Created { path: "/lost".into(), stat: None } }, Some(z), Some(1));
    let r = check(&b);
    fails(&r, names::DURABILITY, &["not in the committed log", "create /lost", "nothing was committed at"]);
}

// ---- agreement / convergence ----

#[test]
fn two_transactions_at_one_zxid_are_caught() {
    let mut b = baseline();
    let (z, _) = b.commit(Txn::Client { session: SessionId(S1), xid: 50, op: create("/p", "") });
    b.commit_raw(ServerId(2), TxnRecord { zxid: z, time_ms: 0, txn: Txn::DeleteContainer { path: "/q".into() } });
    let r = check(&b);
    fails(&r, names::AGREEMENT, &["two different transactions were committed at zxid", "s2 commits"]);
}

#[test]
fn divergent_server_log_is_caught() {
    let mut b = baseline();
    let z = b.last_zxid();
    b.push(Event::Final { server: ServerId(3), last_zxid: z, digest: 0xdead });
    let r = check(&b);
    fails(&r, names::AGREEMENT, &["s3's log is not a prefix of the committed log", "observed: 0xdead"]);
}

#[test]
fn lagging_server_passes_agreement_but_fails_convergence_when_required() {
    let mut b = baseline();
    let last = b.last_zxid();
    b.final_at(1, last).final_at(2, last).final_at(3, Zxid(last.0 - 2));
    assert!(check(&b).passed());
    let strict = check_with(&b, CheckConfig { require_caught_up: true, ..CheckConfig::default() });
    fails(&strict, names::CONVERGENCE, &["s3 is up at the end but has not caught up"]);
}

// ---- session-expiry ----

#[test]
fn expiry_of_a_connected_session_in_a_quiet_ensemble_is_caught() {
    let mut b = baseline();
    b.tick(10_000);
    b.commit(Txn::CloseSession { session: SessionId(S1), reason: CloseReason::Expired });
    let r = check(&b);
    fails(&r, names::SESSION_EXPIRY, &["session 0x11 was expired while its client stayed connected", "6000ms"]);
}

#[test]
fn expiry_during_a_partition_is_legal() {
    let mut b = baseline();
    b.fault(Fault::Isolate { node: zksim_model::Node::Client(zksim_model::ClientId(1)) });
    b.tick(10_000);
    b.commit(Txn::CloseSession { session: SessionId(S1), reason: CloseReason::Expired });
    let r = check(&b);
    assert_eq!(r.get(names::SESSION_EXPIRY).unwrap().verdict, Verdict::Pass, "{r}");
    assert_eq!(r.get(names::SESSION_EXPIRY).unwrap().checked, 1);
}

#[test]
fn expiry_after_the_client_process_crashed_and_restarted_is_legal() {
    // kv-swarm seed 111: the client crashed and restarted within a few ms, well before the
    // window; its old session had no pinger left and expired a timeout later.
    let mut b = baseline();
    let c1 = zksim_model::Node::Client(zksim_model::ClientId(1));
    b.fault(Fault::Crash { node: c1, torn: false });
    b.tick(10);
    b.fault(Fault::Restart { node: c1 });
    b.tick(10_000);
    b.commit(Txn::CloseSession { session: SessionId(S1), reason: CloseReason::Expired });
    let r = check(&b);
    assert_eq!(r.get(names::SESSION_EXPIRY).unwrap().verdict, Verdict::Pass, "{r}");
}

#[test]
fn no_session_records_means_not_applicable() {
    let mut b = HistoryBuilder::new();
    b.commit(Txn::CreateSession { session: SessionId(S1), timeout_ms: 4000 });
    b.write(1, S1, create("/a", ""));
    let r = check(&b);
    assert!(matches!(r.get(names::SESSION_EXPIRY).unwrap().verdict, Verdict::NotApplicable { .. }), "{r}");
}

// ---- ephemeral-cleanup ----

#[test]
fn ephemeral_seen_after_its_session_closed_is_caught() {
    let mut b = baseline();
    b.write(1, S1, create_ephemeral("/e", ""));
    let before = b.last_zxid();
    let (_, owned) = b.read(2, S2, exists("/e", false), 2, Some(before));
    let stat: Stat = match owned {
        Outcome::Ok { value: OpResult::Exists { stat: Some(s) } } => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(stat.ephemeral_owner, SessionId(S1));
    let (close, _) = b.commit(Txn::CloseSession { session: SessionId(S1), reason: CloseReason::Closed });
    // A server still shows /e after the close (ZOOKEEPER-2355).
    let id = b.invoke(2, S2, exists("/e", false));
    b.complete(id, Outcome::Ok { value: OpResult::Exists { stat: Some(stat) } }, Some(close), Some(3));
    let r = check(&b);
    fails(&r, names::EPHEMERAL_CLEANUP, &["saw /e still owned by session 0x11", "after the session closed"]);
    // The read is also simply wrong for its zxid.
    fails(&r, names::SEQUENTIAL_READS, &["expected: ok absent"]);
}

#[test]
fn ephemeral_listed_after_its_session_closed_is_caught() {
    let mut b = baseline();
    b.write(1, S1, create_ephemeral("/a/e", ""));
    let listing = b.answer(S2, &children("/a", false), b.last_zxid());
    assert!(
        matches!(&listing, Outcome::Ok { value: OpResult::Children { children, .. } } if children.len() == 1 && &*children[0] == "e")
    );
    let (close, _) = b.commit(Txn::CloseSession { session: SessionId(S1), reason: CloseReason::Expired });
    // A server still lists /a/e after the close: getChildren shows no owner, the log does.
    let id = b.invoke(2, S2, children("/a", false));
    b.complete(id, listing, Some(close), Some(3));
    let r = check(&b);
    fails(&r, names::EPHEMERAL_CLEANUP, &["listed /a/e, an ephemeral of session 0x11", "after the session closed"]);
}

#[test]
fn ephemeral_recreated_by_another_session_after_close_may_be_listed() {
    let mut b = baseline();
    b.write(1, S1, create_ephemeral("/a/e", ""));
    b.commit(Txn::CloseSession { session: SessionId(S1), reason: CloseReason::Expired });
    b.write(2, S2, create_ephemeral("/a/e", ""));
    b.read(2, S2, children("/a", false), 2, None);
    let r = check(&b);
    assert_eq!(r.get(names::EPHEMERAL_CLEANUP).unwrap().verdict, Verdict::Pass, "{r}");
}

#[test]
fn ephemeral_created_after_close_is_caught() {
    let mut b = baseline();
    let id = b.invoke(1, S1, create_ephemeral("/late", ""));
    b.commit(Txn::CloseSession { session: SessionId(S1), reason: CloseReason::Expired });
    let (z, model) = b.commit_op(id);
    assert_eq!(model, Outcome::Err { code: ErrorCode::SessionExpired });
    // ZOOKEEPER-1208: the server applies the create anyway and reports success.
    b.complete(id, Outcome::Ok { value: OpResult::Created { path: "/late".into(), stat: None } }, Some(z), Some(1));
    let r = check(&b);
    fails(&r, names::EPHEMERAL_CLEANUP, &["created an ephemeral for session 0x11 after the session was closed"]);
}

// ---- watch-delivery ----

#[test]
fn spurious_event_is_caught() {
    let mut b = baseline();
    let z = b.last_zxid();
    b.watch(1, S1, ev(EventType::NodeDeleted, "/a", z));
    let r = check(&b);
    fails(&r, names::WATCH_DELIVERY, &["session 0x11 received NodeDeleted on /a", "no watch explains"]);
}

#[test]
fn event_delivered_twice_is_caught() {
    let mut b = baseline();
    let z = b.last_zxid();
    b.watch(2, S2, ev(EventType::NodeDataChanged, "/a", Zxid(z.0)));
    let r = check(&b);
    fails(&r, names::WATCH_DELIVERY, &["already delivered once"]);
}

#[test]
fn reply_before_its_event_is_caught() {
    let mut b = HistoryBuilder::new();
    b.open_session(1, S1, 1, 6000);
    b.open_session(2, S2, 2, 6000);
    b.write(1, S1, create("/a", "x"));
    b.read(2, S2, get("/a", true), 2, None);
    let (_, z, _) = b.write(1, S1, set("/a", "y"));
    // Session 2 sees the new data before the notification of the change.
    b.read(2, S2, get("/a", false), 2, None);
    b.watch(2, S2, ev(EventType::NodeDataChanged, "/a", z));
    let r = check(&b);
    fails(&r, names::WATCH_DELIVERY, &["got a reply at zxid", "before the NodeDataChanged event on /a"]);
}

// ---- well-formed ----

#[test]
fn completion_without_invocation_is_reported_not_panicked() {
    let mut b = baseline();
    b.complete(OpId(999), Outcome::Ok { value: OpResult::Done }, None, None);
    let z = b.next_zxid();
    b.commit_raw(
        ServerId(1),
        TxnRecord { zxid: z, time_ms: 0, txn: Txn::CreateSession { session: SessionId(0), timeout_ms: 1 } },
    );
    let r = check(&b);
    fails(&r, names::WELL_FORMED, &["op 999 completes but was never invoked"]);
    fails(&r, names::LINEARIZABLE_WRITES, &["names session 0"]);
}

// ---- tricky legal histories ----

#[test]
fn stale_read_from_a_lagging_follower_is_legal() {
    let mut b = baseline();
    let old = b.last_zxid();
    b.write(1, S1, set("/a", "newest"));
    // Session 2's follower has not applied the set yet: it answers from `old`.
    let (_, out) = b.read(2, S2, get("/a", false), 2, Some(old));
    assert!(format!("{out:?}").contains("121"), "the stale value 'y' (bytes 121) is what it reads: {out:?}");
    assert_all_pass(&check(&b));
}

#[test]
fn indeterminate_writes_are_decided_by_the_log() {
    let mut b = baseline();
    // Applied: committed, but the reply was lost.
    let applied = b.invoke(1, S1, create("/applied", ""));
    b.commit_op(applied);
    b.lose(applied);
    // Not applied: lost before reaching the leader.
    let dropped = b.invoke(1, S1, create("/dropped", ""));
    b.lose(dropped);
    b.read(2, S2, exists("/applied", false), 2, None);
    let (_, none) = b.read(2, S2, exists("/dropped", false), 2, None);
    assert_eq!(none, Outcome::Ok { value: OpResult::Exists { stat: None } });
    let r = check(&b);
    assert_all_pass(&r);
    // If a reader claimed /dropped exists, that is caught.
    let id = b.invoke(2, S2, exists("/dropped", false));
    let z = b.last_zxid();
    b.complete(id, Outcome::Ok { value: OpResult::Exists { stat: Some(Stat::default()) } }, Some(z), Some(2));
    fails(&check(&b), names::SEQUENTIAL_READS, &["expected: ok absent"]);
}

#[test]
fn reconnecting_to_a_server_further_ahead_is_legal() {
    let mut b = baseline();
    let behind = b.last_zxid();
    b.read(2, S2, get("/a", false), 2, Some(behind));
    b.write(1, S1, set("/a", "later"));
    b.session_state(2, S2, SessionState::Disconnected, None);
    b.tick(100);
    b.session_state(2, S2, SessionState::SyncConnected, Some(3));
    b.read(2, S2, get("/a", false), 3, None);
    assert_all_pass(&check(&b));
}

#[test]
fn catch_up_event_after_reconnect_is_legal() {
    let mut b = HistoryBuilder::new();
    b.open_session(1, S1, 1, 6000);
    b.open_session(2, S2, 2, 6000);
    b.write(1, S1, create("/a", "x"));
    b.read(2, S2, get("/a", true), 2, None);
    b.session_state(2, S2, SessionState::Disconnected, None);
    b.write(1, S1, set("/a", "y"));
    let (_, zd, _) = b.write(1, S1, delete("/a"));
    b.session_state(2, S2, SessionState::SyncConnected, Some(3));
    // SetWatches catch-up: the node is gone, so the re-sent data watch fires NodeDeleted.
    b.watch(2, S2, ev(EventType::NodeDeleted, "/a", zd));
    b.read(2, S2, exists("/a", false), 3, None);
    assert_all_pass(&check(&b));
}

#[test]
fn failed_write_answered_without_a_transaction_is_legal() {
    let mut b = baseline();
    // The server rejects the write without an error transaction and stamps its reply with its
    // last processed zxid, which belongs to another write.
    let id = b.invoke(1, S1, set("/a", "nope"));
    let z = b.last_zxid();
    b.complete(id, Outcome::Err { code: ErrorCode::SessionMoved }, Some(z), Some(2));
    assert_all_pass(&check(&b));
}

// ---- ACLs ----

/// A read-only node, then a setData the service claims succeeded: the model, replaying the
/// committed log, answers NoAuth (WRITE is not granted), so `linearizable-writes` fails.
#[test]
fn write_that_ignored_an_acl_is_caught() {
    use zksim_model::{Acl, CreateMode, Data, Op, Perms};
    let mut b = HistoryBuilder::new();
    b.open_session(1, S1, 1, 6000);
    let read_only = Acl::anyone(Perms::READ);
    b.write(
        1,
        S1,
        Op::Create { path: "/ro".into(), data: Data::text("x"), mode: CreateMode::Persistent, acl: read_only },
    );
    let id = b.invoke(1, S1, set("/ro", "y"));
    let (z, real) = b.commit_op(id);
    assert_eq!(real, Outcome::Err { code: ErrorCode::NoAuth });
    let lie = Outcome::Ok { value: OpResult::Stat { stat: Stat { version: 1, ..Stat::default() } } };
    b.complete(id, lie, Some(z), Some(1));
    fails(&check(&b), names::LINEARIZABLE_WRITES, &["expected: err NoAuth", "c1"]);
}

/// A node whose ACL refuses READ, then a getData the service answered with its data: the
/// model's answer at that zxid is NoAuth, so `sequential-reads` fails.
#[test]
fn read_that_ignored_an_acl_is_caught() {
    use zksim_model::{Acl, CreateMode, Data, Op, Perms};
    let mut b = HistoryBuilder::new();
    b.open_session(1, S1, 1, 6000);
    let no_read = Acl::anyone(Perms::ALL.without(Perms::READ));
    let (_, z, _) = b.write(
        1,
        S1,
        Op::Create { path: "/nr".into(), data: Data::text("x"), mode: CreateMode::Persistent, acl: no_read },
    );
    assert_eq!(b.answer(S1, &get("/nr", false), z), Outcome::Err { code: ErrorCode::NoAuth });
    let id = b.invoke(1, S1, get("/nr", false));
    let leak = Outcome::Ok { value: OpResult::GetData { data: Data::text("x"), stat: Stat::default() } };
    b.complete(id, leak, Some(z), Some(1));
    fails(&check(&b), names::SEQUENTIAL_READS, &["NoAuth"]);
}
