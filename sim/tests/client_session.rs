//! The client library against the TEST-ONLY fake server (`fake_server/`): sessions, operations
//! and their history records, reconnection with watch re-registration, pings, read timeouts,
//! indeterminate in-flight writes, expiry, and determinism.

mod fake_server;

use fake_server::FakeEnsemble;
use madsim::runtime::{Handle, NodeHandle};
use std::time::Duration;
use zksim_model::{
    Acl, AddWatchMode, ClientId, CreateMode, Data, ErrorCode, Event, EventType, Node, OpId, Outcome, Record, ServerId,
    SessionState,
};
use zksim_sim::client::{complete_unfinished, ClientConfig, ZkClient, ZkError};
use zksim_sim::net::node_ip;
use zksim_sim::{process, Nemesis, Recorder, Seeds, World, WorldConfig};

const TIMEOUT_MS: u64 = 3_000;

fn world(seed: u64, n: u32) -> (World, FakeEnsemble, Vec<ServerId>) {
    let mut w = World::new(WorldConfig::with_seed(seed));
    let ens = FakeEnsemble::new();
    let servers: Vec<ServerId> = (1..=n).map(ServerId).collect();
    for &s in &servers {
        let e = ens.clone();
        w.add_node(Node::Server(s), process(move |_ctx| e.clone().serve(s)));
    }
    (w, ens, servers)
}

fn client_node(id: u32) -> NodeHandle {
    Handle::current().create_node().name(format!("c{id}")).ip(node_ip(Node::Client(ClientId(id)))).build()
}

fn cfg(id: u32, servers: &[ServerId]) -> ClientConfig {
    let mut c = ClientConfig::new(ClientId(id), servers.to_vec()).with_session_timeout(TIMEOUT_MS);
    c.reconnect_jitter_ms = 100;
    c.spin_delay_ms = 200;
    c
}

async fn connect(id: u32, servers: &[ServerId], recorder: &Recorder, seed: u64) -> ZkClient {
    let rng = Seeds::new(seed).stream(&format!("client/c{id}"));
    ZkClient::connect(cfg(id, servers), recorder.clone(), rng).await.expect("connect")
}

async fn sleep_ms(ms: u64) {
    madsim::time::sleep(Duration::from_millis(ms)).await;
}

/// Waits (bounded) until `f` holds.
async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..400 {
        if f() {
            return;
        }
        sleep_ms(25).await;
    }
    panic!("timed out waiting for {what}");
}

fn session_states(records: &[Record], client: u32) -> Vec<(SessionState, Option<ServerId>)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Session { client: c, state, server, .. } if *c == ClientId(client) => Some((*state, *server)),
            _ => None,
        })
        .collect()
}

fn outcome_of(records: &[Record], op_id: OpId) -> Outcome {
    records
        .iter()
        .find_map(|r| match &r.event {
            Event::Complete { op_id: o, outcome, .. } if *o == op_id => Some(outcome.clone()),
            _ => None,
        })
        .expect("a completion for the op")
}

/// The op id of the last invocation of `name` on `path` by `client`.
fn last_invoke(records: &[Record], client: u32, name: &str, path: &str) -> OpId {
    records
        .iter()
        .rev()
        .find_map(|r| match &r.event {
            Event::Invoke { op_id, client: c, op, .. }
                if *c == ClientId(client) && op.name() == name && op.path() == Some(path) =>
            {
                Some(*op_id)
            }
            _ => None,
        })
        .expect("an invocation")
}

/// Every invocation has exactly one completion, after it.
fn assert_complete_history(records: &[Record]) {
    let mut open = std::collections::BTreeSet::new();
    for r in records {
        match &r.event {
            Event::Invoke { op_id, .. } => assert!(open.insert(*op_id), "{op_id:?} invoked twice"),
            Event::Complete { op_id, .. } => assert!(open.remove(op_id), "{op_id:?} completed while not open"),
            _ => {}
        }
    }
    assert!(open.is_empty(), "invocations without completion: {open:?}");
}

fn basic_scenario(seed: u64) -> Vec<Record> {
    let (w, ens, servers) = world(seed, 3);
    let recorder = w.recorder();
    let ((), rec) = w.run(|_nemesis: Nemesis| async move {
        let r = recorder.clone();
        client_node(1)
            .spawn(async move {
                let zk = connect(1, &servers, &r, seed).await;
                assert_eq!(zk.state(), SessionState::SyncConnected);
                assert_eq!(zk.create("/a", Data::text("x"), CreateMode::Persistent).await, Ok("/a".to_string()));
                let (p, st) = zk.create2("/a/s-", Data::null(), CreateMode::EphemeralSequential).await.unwrap();
                assert_eq!(p, "/a/s-0000000000", "sequential suffix");
                assert_eq!(st.unwrap().ephemeral_owner, zk.session_id(), "ephemeral owned by the session");
                assert_eq!(zk.get_data("/a").await.unwrap().0, Data::text("x"));
                assert_eq!(zk.set_data("/a", Data::text("y"), 0).await.unwrap().version, 1);
                assert_eq!(zk.set_data("/a", Data::text("z"), 0).await, Err(ZkError::Api(ErrorCode::BadVersion)));
                assert_eq!(zk.exists("/nope").await, Ok(None));
                assert_eq!(zk.get_children("/a").await.unwrap().0, vec!["s-0000000000".to_string()]);
                assert_eq!(zk.delete("/a", -1).await, Err(ZkError::Api(ErrorCode::NotEmpty)));
                assert_eq!(zk.get_data("/nope").await, Err(ZkError::Api(ErrorCode::NoNode)));
                zk.sync("/a").await.unwrap();
                // Pipelined: several requests in flight at once, answered in order.
                let (a, b, c) = tokio::join!(zk.get_data("/a"), zk.exists("/a"), zk.get_children("/"));
                assert!(a.is_ok() && b.unwrap().is_some() && c.is_ok());
                zk.close().await.unwrap();
                assert_eq!(zk.state(), SessionState::Closed);
                assert_eq!(zk.get_data("/a").await, Err(ZkError::Closed), "a closed client refuses calls");
            })
            .await
            .unwrap();
        assert_eq!(ens.data("/a/s-0000000000"), None, "closing the session removed its ephemeral");
    });
    rec.take()
}

#[test]
fn connect_ops_and_history() {
    let records = basic_scenario(1);
    assert_complete_history(&records);
    let invokes: Vec<u64> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Invoke { xid, .. } => Some(*xid),
            _ => None,
        })
        .collect();
    assert_eq!(invokes, (1..=invokes.len() as u64).collect::<Vec<_>>(), "xids number the calls from 1, in order");
    assert_eq!(invokes.len(), 15);
    let states = session_states(&records, 1);
    assert_eq!(states.len(), 2, "{states:?}");
    assert_eq!(states[0].0, SessionState::SyncConnected);
    assert_eq!(states[1].0, SessionState::Closed);
    let timeout = records.iter().find_map(|r| match &r.event {
        Event::Session { timeout_ms, .. } => Some(*timeout_ms),
        _ => None,
    });
    assert_eq!(timeout, Some(Some(TIMEOUT_MS)), "SyncConnected carries the negotiated timeout");
    // Answered completions carry the server and a zxid that never decreases.
    let mut last = zksim_model::Zxid::ZERO;
    let mut answered = 0;
    for r in &records {
        if let Event::Complete { zxid: Some(z), server, .. } = &r.event {
            assert_eq!(*server, states[0].1, "answered by the connected server");
            assert!(*z >= last, "reply zxids are monotonic");
            last = *z;
            answered += 1;
        }
    }
    assert_eq!(answered, 14, "all but the call after close were answered by a server");
    let after_close = last_invoke(&records, 1, "get", "/a");
    assert_eq!(outcome_of(&records, after_close), Outcome::Err { code: ErrorCode::SessionExpired });
}

#[test]
fn same_seed_same_history() {
    let a = serde_json::to_string(&basic_scenario(7)).unwrap();
    let b = serde_json::to_string(&basic_scenario(7)).unwrap();
    assert_eq!(a, b, "a run is a function of its seed");
}

#[test]
fn reconnects_to_another_server_after_crash_with_same_session_and_watches() {
    let seed = 2;
    let (w, _ens, servers) = world(seed, 3);
    let recorder = w.recorder();
    let (first, rec) = w.run(|nemesis: Nemesis| async move {
        let r = recorder.clone();
        let s = servers.clone();
        let first = client_node(1)
            .spawn(async move {
                let zk = connect(1, &s, &r, seed).await;
                zk.create("/w", Data::text("0"), CreateMode::Persistent).await.unwrap();
                let (_, _, data_w) = zk.get_data_w("/w").await.unwrap();
                let (stat, exist_w) = zk.exists_w("/new").await.unwrap();
                assert!(stat.is_none());
                let (_, _, child_w) = zk.get_children_w("/w").await.unwrap();
                let stream = zk.add_watch("/w", AddWatchMode::PersistentRecursive).await.unwrap();
                (zk.server().unwrap(), zk, data_w, exist_w, child_w, stream)
            })
            .await
            .unwrap();
        let (crashed, zk, data_w, exist_w, child_w, mut stream) = first;
        let session = zk.session_id();
        nemesis.crash(Node::Server(crashed), false).unwrap();
        let zk2 = zk.clone();
        client_node(9)
            .spawn(async move {
                wait_for("reconnection", || {
                    zk2.state() == SessionState::SyncConnected && zk2.server() != Some(crashed)
                })
                .await;
            })
            .await
            .unwrap();
        assert_eq!(zk.session_id(), session, "same session after reconnect");
        assert_eq!(zk.stats().connects, 2);
        // Another client changes what c1 watches: the re-registered watches fire.
        let r = recorder.clone();
        let s = servers.clone();
        client_node(2)
            .spawn(async move {
                let other = connect(2, &s, &r, seed).await;
                other.set_data("/w", Data::text("1"), -1).await.unwrap();
                other.create("/w/kid", Data::null(), CreateMode::Persistent).await.unwrap();
                other.create("/new", Data::null(), CreateMode::Persistent).await.unwrap();
            })
            .await
            .unwrap();
        let got = client_node(10)
            .spawn(async move {
                let d = data_w.await.unwrap();
                let e = exist_w.await.unwrap();
                let c = child_w.await.unwrap();
                let s1 = stream.next().await.unwrap().unwrap();
                let s2 = stream.next().await.unwrap().unwrap();
                (d, e, c, s1, s2)
            })
            .await
            .unwrap();
        (crashed, session, got)
    });
    let (crashed, session, (d, e, c, s1, s2)) = first;
    assert_eq!((d.kind, d.path.as_str()), (EventType::NodeDataChanged, "/w"));
    assert_eq!((e.kind, e.path.as_str()), (EventType::NodeCreated, "/new"));
    assert_eq!((c.kind, c.path.as_str()), (EventType::NodeChildrenChanged, "/w"));
    assert_eq!((s1.kind, s1.path.as_str()), (EventType::NodeDataChanged, "/w"), "recursive watch, re-registered");
    assert_eq!((s2.kind, s2.path.as_str()), (EventType::NodeCreated, "/w/kid"));
    let records = rec.take();
    let states = session_states(&records, 1);
    assert_eq!(states[0], (SessionState::SyncConnected, Some(crashed)));
    assert_eq!(states[1], (SessionState::Disconnected, Some(crashed)));
    assert_eq!(states[2].0, SessionState::SyncConnected);
    assert_ne!(states[2].1, Some(crashed), "moved to another server");
    let watch_events = records
        .iter()
        .filter(
            |r| matches!(&r.event, Event::Watch { client, session: s, .. } if *client == ClientId(1) && *s == session),
        )
        .count();
    assert_eq!(watch_events, 4, "one recorded notification per server message (data+recursive share one)");
}

#[test]
fn pings_keep_an_idle_session_alive() {
    let seed = 3;
    let (w, ens, servers) = world(seed, 1);
    let recorder = w.recorder();
    let (stats, _) = w.run(|_n| async move {
        let r = recorder.clone();
        let s = servers.clone();
        let e = ens.clone();
        client_node(1)
            .spawn(async move {
                let zk = connect(1, &s, &r, seed).await;
                sleep_ms(10 * TIMEOUT_MS).await;
                assert!(e.session_alive(zk.session_id()), "the fake expires a session silent for its timeout");
                assert_eq!(zk.exists("/").await.map(|s| s.is_some()), Ok(true));
                zk.stats()
            })
            .await
            .unwrap()
    });
    assert_eq!(stats.disconnects, 0, "an idle but pinging session stays connected: {stats:?}");
    // One ping per third of the session timeout of send-idleness.
    assert!((28..=31).contains(&stats.pings_sent), "pings: {stats:?}");
    assert!(stats.pongs + 1 >= stats.pings_sent, "pongs: {stats:?}");
}

#[test]
fn read_timeout_fires_on_a_paused_server_and_the_client_moves_on() {
    let seed = 4;
    let (w, _ens, servers) = world(seed, 2);
    let recorder = w.recorder();
    let (paused, rec) = w.run(|nemesis: Nemesis| async move {
        let r = recorder.clone();
        let s = servers.clone();
        let zk = client_node(1).spawn(async move { connect(1, &s, &r, seed).await }).await.unwrap();
        sleep_ms(500).await;
        let paused = zk.server().unwrap();
        nemesis.pause(Node::Server(paused)).unwrap();
        let zk2 = zk.clone();
        client_node(9)
            .spawn(async move {
                wait_for("reconnection elsewhere", || zk2.server().is_some_and(|s| s != paused)).await;
                assert_eq!(zk2.exists("/").await.map(|s| s.is_some()), Ok(true));
            })
            .await
            .unwrap();
        nemesis.resume(Node::Server(paused)).unwrap();
        paused
    });
    let records = rec.take();
    let pause_at = records
        .iter()
        .find_map(|r| matches!(&r.event, Event::Fault { fault: zksim_model::Fault::Pause { .. } }).then_some(r.time))
        .unwrap();
    let disc_at = records
        .iter()
        .find_map(|r| {
            matches!(&r.event, Event::Session { state: SessionState::Disconnected, server, .. } if *server == Some(paused))
                .then_some(r.time)
        })
        .expect("a Disconnected record");
    let silence = disc_at.as_millis() - pause_at.as_millis();
    // Read timeout 2000 ms after the last message, which (a pong) came at most a ping interval
    // (1000 ms) plus latency before the pause.
    assert!((900..=2100).contains(&silence), "disconnected {silence} ms after the pause");
}

#[test]
fn in_flight_write_becomes_indeterminate_on_connection_loss() {
    let seed = 5;
    let (w, ens, servers) = world(seed, 2);
    let recorder = w.recorder();
    let ens2 = ens.clone();
    let (result, rec) = w.run(|nemesis: Nemesis| async move {
        ens2.drop_replies_for("/held");
        let r = recorder.clone();
        let s = servers.clone();
        let zk = client_node(1).spawn(async move { connect(1, &s, &r, seed).await }).await.unwrap();
        let zk2 = zk.clone();
        let call =
            client_node(9).spawn(async move { zk2.create("/held", Data::text("?"), CreateMode::Persistent).await });
        sleep_ms(200).await;
        nemesis.crash(Node::Server(zk.server().unwrap()), false).unwrap();
        let result = call.await.unwrap();
        let zk3 = zk.clone();
        let seen = client_node(10)
            .spawn(async move {
                wait_for("reconnection", || zk3.stats().connects == 2).await;
                // (Not a request on /held itself: the fake swallows those replies.)
                zk3.get_children("/").await.map(|(kids, _)| kids.contains(&"held".to_string()))
            })
            .await
            .unwrap();
        (result, seen)
    });
    let (result, seen) = result;
    assert_eq!(result, Err(ZkError::ConnectionLoss));
    assert!(result.as_ref().unwrap_err().is_indeterminate());
    assert_eq!(seen, Ok(true), "the fake applied it: that is why the outcome is indeterminate");
    let records = rec.take();
    assert_complete_history(&records);
    let op = last_invoke(&records, 1, "create", "/held");
    assert_eq!(outcome_of(&records, op), Outcome::Indeterminate { reason: ErrorCode::ConnectionLoss });
    let complete = records.iter().find(|r| matches!(&r.event, Event::Complete { op_id, .. } if *op_id == op)).unwrap();
    assert!(matches!(complete.event, Event::Complete { zxid: None, server: None, .. }), "no reply, no zxid");
}

#[test]
fn out_of_order_reply_drops_the_connection() {
    let seed = 6;
    let (w, ens, servers) = world(seed, 2);
    let recorder = w.recorder();
    let (stats, rec) = w.run(|_n| async move {
        let r = recorder.clone();
        let s = servers.clone();
        client_node(1)
            .spawn(async move {
                let zk = connect(1, &s, &r, seed).await;
                ens.reorder_next_replies();
                let (a, b) = tokio::join!(zk.exists("/"), zk.exists("/x"));
                // The overtaking reply (for /x) is delivered and recorded before the client
                // drops the connection; the request it overtook is left indeterminate.
                assert_eq!((a, b), (Err(ZkError::ConnectionLoss), Ok(None)));
                wait_for("reconnection", || zk.state() == SessionState::SyncConnected).await;
                assert_eq!(zk.exists("/").await.map(|s| s.is_some()), Ok(true));
                zk.stats()
            })
            .await
            .unwrap()
    });
    assert_eq!(stats.xid_violations, 1);
    assert_eq!(stats.connects, 2);
    assert_complete_history(&rec.take());
}

#[test]
fn expired_session_is_terminal() {
    let seed = 8;
    let (w, ens, servers) = world(seed, 2);
    let recorder = w.recorder();
    let ((), rec) = w.run(|_n| async move {
        let r = recorder.clone();
        let s = servers.clone();
        client_node(1)
            .spawn(async move {
                let zk = connect(1, &s, &r, seed).await;
                zk.create("/eph", Data::null(), CreateMode::Ephemeral).await.unwrap();
                let (_, _, watch) = zk.get_data_w("/").await.unwrap();
                let mut events = zk.session_events();
                ens.expire(zk.session_id());
                assert_eq!(ens.data("/eph"), None, "expiry removed the ephemeral");
                assert_eq!(events.next().await, Some(SessionState::Disconnected));
                assert_eq!(events.next().await, Some(SessionState::Expired));
                assert_eq!(events.next().await, None, "Expired is the last state");
                assert_eq!(watch.await, Err(ZkError::SessionExpired));
                assert_eq!(zk.state(), SessionState::Expired);
                assert_eq!(zk.get_data("/").await, Err(ZkError::SessionExpired));
                assert_eq!(zk.create("/x", Data::null(), CreateMode::Persistent).await, Err(ZkError::SessionExpired));
                sleep_ms(5 * TIMEOUT_MS).await;
                assert_eq!(zk.stats().connects, 1, "no reconnection after Expired");
            })
            .await
            .unwrap();
    });
    let records = rec.take();
    assert_complete_history(&records);
    let states: Vec<SessionState> = session_states(&records, 1).into_iter().map(|s| s.0).collect();
    assert_eq!(states, vec![SessionState::SyncConnected, SessionState::Disconnected, SessionState::Expired]);
    let late = last_invoke(&records, 1, "create", "/x");
    assert_eq!(outcome_of(&records, late), Outcome::Err { code: ErrorCode::SessionExpired });
}

#[test]
fn requests_wait_for_a_connection_then_fail_or_go_out_after_reconnect() {
    let seed = 9;
    let (w, _ens, servers) = world(seed, 1);
    let recorder = w.recorder();
    let ((lost, waited, late_ok), rec) = w.run(|nemesis: Nemesis| async move {
        let r = recorder.clone();
        let s = servers.clone();
        let zk = client_node(1).spawn(async move { connect(1, &s, &r, seed).await }).await.unwrap();
        nemesis.crash(Node::Server(ServerId(1)), false).unwrap();
        let zk2 = zk.clone();
        let (lost, waited) = client_node(9)
            .spawn(async move {
                wait_for("disconnection", || zk2.state() == SessionState::Disconnected).await;
                let t0 = madsim::time::TimeHandle::current().now_instant();
                let lost = zk2.get_data("/").await;
                (lost, madsim::time::TimeHandle::current().now_instant() - t0)
            })
            .await
            .unwrap();
        // A request queued while disconnected goes out once the server is back.
        let zk3 = zk.clone();
        let queued = client_node(10).spawn(async move { zk3.exists("/").await });
        sleep_ms(500).await;
        nemesis.restart(Node::Server(ServerId(1))).unwrap();
        let late_ok = queued.await.unwrap();
        (lost, waited, late_ok)
    });
    assert_eq!(lost, Err(ZkError::ConnectionLoss));
    assert!(waited >= Duration::from_millis(TIMEOUT_MS), "waited {waited:?} for a connection");
    assert!(waited < Duration::from_millis(TIMEOUT_MS + 500), "gave up promptly: {waited:?}");
    assert_eq!(late_ok.map(|s| s.is_some()), Ok(true));
    let records = rec.take();
    assert_complete_history(&records);
    let op = last_invoke(&records, 1, "get", "/");
    assert_eq!(outcome_of(&records, op), Outcome::Err { code: ErrorCode::ConnectionLoss }, "never sent: definite");
}

#[test]
fn abandon_and_complete_unfinished_leave_no_open_invocation() {
    let seed = 10;
    let (w, ens, servers) = world(seed, 1);
    let recorder = w.recorder();
    let ((abandoned, flushed), rec) = w.run(|_n| async move {
        ens.drop_replies_for("/held");
        let r = recorder.clone();
        let s = servers.clone();
        let zk = client_node(1).spawn(async move { connect(1, &s, &r, seed).await }).await.unwrap();
        let zk2 = zk.clone();
        let call = client_node(9).spawn(async move { zk2.set_data("/held", Data::null(), -1).await });
        sleep_ms(100).await;
        zk.abandon();
        let abandoned = call.await.unwrap();
        // A client process that dies with a request in flight leaves it open; the harness
        // closes it from the recorder.
        let r = recorder.clone();
        let s = servers.clone();
        let c3 = client_node(3);
        let id = c3.id();
        let _call = c3.spawn(async move {
            let zk = connect(3, &s, &r, seed).await;
            let _ = zk.create("/held", Data::null(), CreateMode::Persistent).await;
        });
        sleep_ms(500).await;
        Handle::current().kill(id);
        let flushed = complete_unfinished(&recorder);
        (abandoned, flushed)
    });
    assert_eq!(abandoned, Err(ZkError::ConnectionLoss));
    assert_eq!(flushed, 1, "the dead client's create was closed as indeterminate");
    let records = rec.take();
    assert_complete_history(&records);
    assert!(
        !session_states(&records, 1).iter().any(|s| s.0 == SessionState::Closed),
        "abandoning does not claim the session was closed"
    );
}

#[test]
fn refused_connections_send_the_client_to_another_server() {
    let seed = 11;
    let (w, ens, servers) = world(seed, 3);
    let recorder = w.recorder();
    let ((first, second, stats), rec) = w.run(|nemesis: Nemesis| async move {
        // Only s3 serves at first: the others refuse new sessions as NotServing.
        ens.set_refusal(ServerId(1), Some(zksim_sim::proto::Refusal::NotServing));
        ens.set_refusal(ServerId(2), Some(zksim_sim::proto::Refusal::NotServing));
        let r = recorder.clone();
        let s = servers.clone();
        let zk = client_node(1).spawn(async move { connect(1, &s, &r, seed).await }).await.unwrap();
        let first = zk.server();
        // Now s3 dies, s1 says it is Behind the client, s2 serves only after a while.
        ens.set_refusal(
            ServerId(1),
            Some(zksim_sim::proto::Refusal::Behind {
                server_zxid: zksim_model::Zxid(0),
                client_zxid: zksim_model::Zxid(1),
            }),
        );
        nemesis.crash(Node::Server(ServerId(3)), false).unwrap();
        sleep_ms(1_500).await;
        assert_eq!(zk.stats().connects, 1, "nobody took the session while refusing");
        ens.set_refusal(ServerId(2), None);
        let zk2 = zk.clone();
        client_node(9)
            .spawn(async move { wait_for("reconnection", || zk2.stats().connects == 2).await })
            .await
            .unwrap();
        (first, zk.server(), zk.stats())
    });
    assert_eq!(first, Some(ServerId(3)), "the only serving server");
    assert_eq!(second, Some(ServerId(2)), "the only server neither crashed nor behind");
    assert!(stats.refusals >= 2, "both s1 and s2 refused the reconnection: {stats:?}");
    assert_eq!(session_states(&rec.take(), 1).len(), 3, "SyncConnected, Disconnected, SyncConnected");
}

#[test]
fn remove_watches_wakes_local_waiters_and_stops_reregistration() {
    let seed = 12;
    let (w, _ens, servers) = world(seed, 1);
    let recorder = w.recorder();
    let ((), _rec) = w.run(|_n| async move {
        let r = recorder.clone();
        let s = servers.clone();
        client_node(1)
            .spawn(async move {
                let zk = connect(1, &s, &r, seed).await;
                zk.create("/r", Data::null(), CreateMode::Persistent).await.unwrap();
                let (_, _, w1) = zk.get_data_w("/r").await.unwrap();
                let (_, w2) = zk.exists_w("/r").await.unwrap();
                let (_, _, cw) = zk.get_children_w("/r").await.unwrap();
                zk.remove_watches("/r", zksim_model::WatcherKind::Data).await.unwrap();
                assert_eq!(w1.await, Err(ZkError::WatchRemoved));
                assert_eq!(w2.await, Err(ZkError::WatchRemoved), "both local data waiters go");
                assert_eq!(
                    zk.remove_watches("/r", zksim_model::WatcherKind::Data).await,
                    Err(ZkError::Api(ErrorCode::NoWatcher))
                );
                zk.create("/r/k", Data::null(), CreateMode::Persistent).await.unwrap();
                assert_eq!(cw.await.map(|e| e.kind), Ok(EventType::NodeChildrenChanged), "child watch untouched");
            })
            .await
            .unwrap();
    });
}

#[test]
fn protected_create_adopts_its_own_node_after_connection_loss() {
    let seed = 13;
    let (w, ens, servers) = world(seed, 2);
    let recorder = w.recorder();
    let ens2 = ens.clone();
    let ((created, session), rec) = w.run(|nemesis: Nemesis| async move {
        let r = recorder.clone();
        let s = servers.clone();
        let zk = client_node(1)
            .spawn(async move {
                let zk = connect(1, &s, &r, seed).await;
                zk.create("/p", Data::null(), CreateMode::Persistent).await.unwrap();
                zk
            })
            .await
            .unwrap();
        // The create is applied but its reply is swallowed; then the server dies.
        ens2.drop_replies_for("/p/");
        let zk2 = zk.clone();
        let call = client_node(9)
            .spawn(async move { zk2.create_protected("/p/job-", Data::null(), CreateMode::EphemeralSequential).await });
        sleep_ms(300).await;
        ens2.answer_all();
        nemesis.crash(Node::Server(zk.server().unwrap()), false).unwrap();
        (call.await.unwrap(), zk.session_id())
    });
    let kids = ens.children("/p");
    assert_eq!(kids.len(), 1, "one node, not a duplicate: {kids:?}");
    let prefix = format!("_c_{:x}-1-job-", session.0);
    assert_eq!(created, Ok(format!("/p/{}", kids[0])), "adopted the node the lost create made");
    assert!(kids[0].starts_with(&prefix), "{kids:?}");
    let records = rec.take();
    let op = last_invoke(&records, 1, "create", &format!("/p/{prefix}"));
    assert_eq!(outcome_of(&records, op), Outcome::Indeterminate { reason: ErrorCode::ConnectionLoss });
}

#[test]
fn set_watches_catches_up_on_a_change_missed_while_disconnected() {
    let seed = 14;
    let (w, _ens, servers) = world(seed, 2);
    let recorder = w.recorder();
    let ((event, paused), rec) = w.run(|nemesis: Nemesis| async move {
        let r = recorder.clone();
        let s = servers.clone();
        let (zk, watch) = client_node(1)
            .spawn(async move {
                let zk = connect(1, &s, &r, seed).await;
                zk.create("/w", Data::text("0"), CreateMode::Persistent).await.unwrap();
                let (_, _, watch) = zk.get_data_w("/w").await.unwrap();
                (zk, watch)
            })
            .await
            .unwrap();
        let paused = zk.server().unwrap();
        nemesis.pause(Node::Server(paused)).unwrap();
        // The change happens while c1's server is paused: its notification is stuck there.
        let others: Vec<ServerId> = servers.iter().copied().filter(|s| *s != paused).collect();
        let r = recorder.clone();
        client_node(2)
            .spawn(async move {
                let other = connect(2, &others, &r, seed).await;
                other.set_data("/w", Data::text("1"), -1).await.unwrap();
            })
            .await
            .unwrap();
        let event = client_node(9).spawn(watch).await.unwrap();
        nemesis.resume(Node::Server(paused)).unwrap();
        (event, paused)
    });
    let event = event.expect("the watch fires after reconnecting");
    assert_eq!((event.kind, event.path.as_str()), (EventType::NodeDataChanged, "/w"));
    let records = rec.take();
    // The notification came through the new server, after the session re-synced there.
    let reconnected_at = records
        .iter()
        .find_map(|r| match &r.event {
            Event::Session { client, state: SessionState::SyncConnected, server, .. }
                if *client == ClientId(1) && *server != Some(paused) =>
            {
                Some(r.time)
            }
            _ => None,
        })
        .expect("reconnected elsewhere");
    let watched_at = records
        .iter()
        .find_map(|r| matches!(&r.event, Event::Watch { client, .. } if *client == ClientId(1)).then_some(r.time))
        .expect("a recorded notification");
    assert!(watched_at >= reconnected_at, "caught up by SetWatches on the new server");
}

#[test]
fn multi_results_and_failures_map_to_typed_results() {
    use zksim_model::{MultiOp, MultiSubResult};
    let seed = 15;
    let (w, ens, servers) = world(seed, 1);
    let recorder = w.recorder();
    let ((ok, failed), _rec) = w.run(|_n| async move {
        let r = recorder.clone();
        let s = servers.clone();
        client_node(1)
            .spawn(async move {
                let zk = connect(1, &s, &r, seed).await;
                zk.create("/e", Data::text("b"), CreateMode::Persistent).await.unwrap();
                let ok = zk
                    .multi(vec![
                        MultiOp::Check { path: "/e".into(), version: 0 },
                        MultiOp::SetData { path: "/e".into(), data: Data::text("c"), version: 0 },
                    ])
                    .await;
                let failed = zk
                    .multi(vec![
                        MultiOp::Create {
                            path: "/m".into(),
                            data: Data::null(),
                            mode: CreateMode::Persistent,
                            acl: Acl::open(),
                        },
                        MultiOp::Check { path: "/e".into(), version: 0 },
                        MultiOp::Delete { path: "/e".into(), version: -1 },
                    ])
                    .await;
                (ok, failed)
            })
            .await
            .unwrap()
    });
    assert!(matches!(ok.as_deref(), Ok([MultiSubResult::Checked, MultiSubResult::SetData { .. }])), "{ok:?}");
    assert_eq!(
        failed,
        Err(ZkError::Multi {
            code: ErrorCode::BadVersion,
            results: vec![ErrorCode::Ok, ErrorCode::BadVersion, ErrorCode::RuntimeInconsistency]
        })
    );
    assert_eq!(ens.data("/m"), None, "a failed multi has no effect");
    assert_eq!(ens.data("/e"), Some(Data::text("c")));
}

fn faulty_scenario(seed: u64) -> String {
    let (w, _ens, servers) = world(seed, 3);
    let recorder = w.recorder();
    let ((), rec) = w.run(|nemesis: Nemesis| async move {
        let r = recorder.clone();
        let s = servers.clone();
        let zk = client_node(1).spawn(async move { connect(1, &s, &r, seed).await }).await.unwrap();
        let z = zk.clone();
        let worker = client_node(9).spawn(async move {
            for i in 0..40 {
                let _ = z.create(&format!("/n{i}"), Data::text("v"), CreateMode::Persistent).await;
                let _ = z.get_children("/").await;
                sleep_ms(100).await;
            }
        });
        sleep_ms(700).await;
        let first = zk.server().unwrap();
        nemesis.pause(Node::Server(first)).unwrap();
        sleep_ms(1_500).await;
        nemesis.resume(Node::Server(first)).unwrap();
        sleep_ms(500).await;
        if let Some(now) = zk.server() {
            nemesis.crash(Node::Server(now), false).unwrap();
        }
        worker.await.unwrap();
        zk.abandon();
    });
    let records = rec.take();
    assert_complete_history(&records);
    assert!(session_states(&records, 1).len() >= 3, "the faults caused reconnections");
    serde_json::to_string(&records).unwrap()
}

#[test]
fn same_seed_same_history_under_faults() {
    let a = faulty_scenario(21);
    assert_eq!(a, faulty_scenario(21), "a run with pauses, crashes and reconnections is a function of its seed");
    assert_ne!(a, faulty_scenario(22), "and the seed matters");
}
