//! The client library against the real server (`server::server_process`, ZAB ensemble):
//! sessions survive the crash of the connected server, and the history is complete.

use std::time::Duration;
use zksim_model::{ClientId, CreateMode, Data, Event, Node, Outcome, Record, SessionState};
use zksim_sim::client::{ClientConfig, ZkClient, ZkError};
use zksim_sim::server::testkit::{ensemble, world_with_servers, ClientNode};
use zksim_sim::{Nemesis, Seeds, WorldConfig};

fn cfg(id: u32) -> ClientConfig {
    let mut c = ClientConfig::new(ClientId(id), ensemble(3)).with_session_timeout(6_000);
    c.connect_deadline_ms = 30_000;
    c.reconnect_jitter_ms = 200;
    c.spin_delay_ms = 300;
    c
}

fn open_invocations(records: &[Record]) -> usize {
    let mut open = std::collections::BTreeSet::new();
    for r in records {
        match &r.event {
            Event::Invoke { op_id, .. } => assert!(open.insert(*op_id)),
            Event::Complete { op_id, .. } => assert!(open.remove(op_id), "{op_id:?} completed while not open"),
            _ => {}
        }
    }
    open.len()
}

#[test]
fn client_session_survives_crash_of_its_server_on_the_real_ensemble() {
    for seed in 0..3u64 {
        let world = world_with_servers(WorldConfig::with_seed(seed), 3, |_| {});
        let (out, rec) = world.run(|nemesis: Nemesis| async move {
            let recorder = nemesis.recorder().clone();
            let node = ClientNode::new(1);
            let r = recorder.clone();
            let zk = node
                .run(async move {
                    let rng = Seeds::new(seed).stream("client/c1");
                    ZkClient::connect(cfg(1), r, rng).await.expect("a session on the ensemble")
                })
                .await;
            let z = zk.clone();
            let first = node
                .run(async move {
                    for i in 0..5 {
                        let p = z.create(&format!("/n{i}"), Data::text("v"), CreateMode::Persistent).await;
                        assert_eq!(p, Ok(format!("/n{i}")), "create /n{i}");
                    }
                    let (data, stat) = z.get_data("/n0").await.expect("read back");
                    assert_eq!(data, Data::text("v"));
                    assert_eq!(
                        z.create("/n0", Data::null(), CreateMode::Persistent).await,
                        Err(ZkError::Api(zksim_model::ErrorCode::NodeExists))
                    );
                    (z.server().unwrap(), stat.czxid)
                })
                .await;
            let (crashed, _) = first;
            let session = zk.session_id();
            nemesis.crash(Node::Server(crashed), false).unwrap();
            let z = zk.clone();
            let after = node
                .run(async move {
                    for _ in 0..600 {
                        if z.state() == SessionState::SyncConnected && z.server() != Some(crashed) {
                            break;
                        }
                        madsim::time::sleep(Duration::from_millis(50)).await;
                    }
                    assert_eq!(z.state(), SessionState::SyncConnected, "reconnected within 30 s");
                    // Retry over ConnectionLoss while the ensemble recovers (a new leader if the
                    // crashed server led).
                    let mut children = Err(ZkError::ConnectionLoss);
                    for _ in 0..20 {
                        children = z.get_children("/").await;
                        if children.is_ok() {
                            break;
                        }
                        madsim::time::sleep(Duration::from_millis(500)).await;
                    }
                    let set = z.set_data("/n1", Data::text("w"), -1).await;
                    (children, set, z.server())
                })
                .await;
            zk.abandon();
            (crashed, session, zk.session_id(), after, zk.stats())
        });
        let (crashed, session_before, session_after, (children, set, server_after), stats) = out;
        assert_eq!(session_before, session_after, "seed {seed}: same session");
        assert_ne!(server_after, Some(crashed), "seed {seed}: moved to another server");
        let (kids, _) = children.unwrap_or_else(|e| panic!("seed {seed}: getChildren after reconnect: {e}"));
        for i in 0..5 {
            assert!(kids.contains(&format!("n{i}")), "seed {seed}: /n{i} survived the crash: {kids:?}");
        }
        assert!(set.is_ok(), "seed {seed}: write after reconnect: {set:?} ({stats:?})");
        let records = rec.snapshot();
        assert_eq!(open_invocations(&records), 0, "seed {seed}: every invocation completed");
        let acked: Vec<_> = records
            .iter()
            .filter_map(|r| match &r.event {
                Event::Complete { outcome: Outcome::Ok { .. }, zxid: Some(z), .. } => Some(*z),
                _ => None,
            })
            .collect();
        assert!(acked.windows(2).all(|w| w[0] <= w[1]), "seed {seed}: reply zxids never go back: {acked:?}");
        let states: Vec<SessionState> = records
            .iter()
            .filter_map(|r| match &r.event {
                Event::Session { state, .. } => Some(*state),
                _ => None,
            })
            .collect();
        assert_eq!(
            &states[..3],
            &[SessionState::SyncConnected, SessionState::Disconnected, SessionState::SyncConnected]
        );
    }
}

#[test]
fn expiry_is_terminal_on_the_real_ensemble() {
    for seed in 0..3u64 {
        let world = world_with_servers(WorldConfig::with_seed(seed), 3, |_| {});
        let (out, rec) = world.run(|nemesis: Nemesis| async move {
            let control = zksim_sim::server::control::ControlClient::new();
            nemesis.set_expirer(control.expirer(ensemble(3)));
            let recorder = nemesis.recorder().clone();
            let (n1, n2) = (ClientNode::new(1), ClientNode::new(2));
            let (r1, r2) = (recorder.clone(), recorder.clone());
            let zk = n1
                .run(async move {
                    let zk = ZkClient::connect(cfg(1), r1, Seeds::new(seed).stream("client/c1")).await.unwrap();
                    zk.create("/w", Data::text("0"), CreateMode::Persistent).await.unwrap();
                    zk.create("/e", Data::null(), CreateMode::Ephemeral).await.unwrap();
                    zk
                })
                .await;
            let other = n2
                .run(async move {
                    let other = ZkClient::connect(cfg(2), r2, Seeds::new(seed).stream("client/c2")).await.unwrap();
                    other.set_data("/w", Data::text("1"), -1).await.unwrap();
                    other
                })
                .await;
            // (Watch notifications: the real frontend does not register watches yet.)
            let z = zk.clone();
            let mut events = zk.session_events();
            nemesis.expire_session(zk.session_id()).await.expect("expiry accepted");
            let (states, after) = n1
                .run(async move {
                    let mut states = Vec::new();
                    while let Ok(Some(s)) = madsim::time::timeout(Duration::from_secs(30), events.next()).await {
                        states.push(s);
                    }
                    (states, z.get_data("/w").await)
                })
                .await;
            let o = other.clone();
            let eph = n2
                .run(async move {
                    // The other session sees the ephemeral gone (sync first: reads may lag).
                    o.sync("/").await.unwrap();
                    o.exists("/e").await
                })
                .await;
            other.abandon();
            (states, after, eph)
        });
        let (states, after, eph) = out;
        assert_eq!(states.last(), Some(&SessionState::Expired), "seed {seed}: states {states:?}");
        assert_eq!(after, Err(ZkError::SessionExpired), "seed {seed}: calls after expiry");
        assert_eq!(eph, Ok(None), "seed {seed}: the expired session's ephemeral is gone");
        let records = rec.snapshot();
        assert_eq!(open_invocations(&records), 0, "seed {seed}: every invocation completed");
        let expired = records.iter().any(|r| {
            matches!(&r.event, Event::Session { client, state: SessionState::Expired, .. } if *client == ClientId(1))
        });
        assert!(expired, "seed {seed}: the expiry is in the history");
        // c2 was abandoned while connected: the history says it left its server (its session
        // lives on and will expire, and a checker must not take that for the expiry of a
        // session whose client stayed connected).
        let last_c2 = records.iter().rev().find_map(|r| match &r.event {
            Event::Session { client, state, .. } if *client == ClientId(2) => Some(*state),
            _ => None,
        });
        assert_eq!(last_c2, Some(SessionState::Disconnected), "seed {seed}: an abandoned client is recorded as gone");
    }
}

#[test]
fn typed_api_round_trips_on_the_real_ensemble() {
    let seed = 5;
    let world = world_with_servers(WorldConfig::with_seed(seed), 3, |_| {});
    let (out, rec) = world.run(|nemesis: Nemesis| async move {
        let r = nemesis.recorder().clone();
        ClientNode::new(1)
            .run(async move {
                let zk = ZkClient::connect(cfg(1), r, Seeds::new(seed).stream("client/c1")).await.unwrap();
                let seq = zk.create("/q-", Data::text("a"), CreateMode::PersistentSequential).await.unwrap();
                let (p2, _) = zk.create2("/e", Data::text("b"), CreateMode::Ephemeral).await.unwrap();
                let stat = zk.exists("/e").await.unwrap().expect("just created");
                zk.set_data("/e", Data::text("c"), 0).await.unwrap();
                let (data, _) = zk.get_data("/e").await.unwrap();
                let kids = zk.get_children("/").await.unwrap().0;
                zk.close().await.unwrap();
                (seq, p2, stat, zk.session_id(), data, kids)
            })
            .await
    });
    let (seq, p2, stat, session, data, kids) = out;
    // The client returns the path the server answered, as recorded. (The server's suffix is the
    // server's business: at the time of writing it answers "/q-" with no suffix.)
    let records = rec.snapshot();
    let answered = records.iter().find_map(|r| match &r.event {
        Event::Complete { outcome: Outcome::Ok { value: zksim_model::OpResult::Created { path, .. } }, .. } => {
            Some(path.clone())
        }
        _ => None,
    });
    assert_eq!(answered.as_deref(), Some(seq.as_str()), "create returns the recorded answer");
    assert!(seq.starts_with("/q-"), "sequential name {seq}");
    assert_eq!(p2, "/e");
    assert_eq!(stat.ephemeral_owner, session);
    assert_eq!(data, Data::text("c"));
    assert!(kids.contains(&"e".to_string()) && kids.contains(&seq[1..].to_string()), "{kids:?}");
    assert_eq!(open_invocations(&records), 0);
    let last_state = records.iter().rev().find_map(|r| match &r.event {
        Event::Session { state, .. } => Some(*state),
        _ => None,
    });
    assert_eq!(last_state, Some(SessionState::Closed));
}

/// ACLs through the client API on a replicated ensemble: a read-only node refuses setData and
/// child creates, setACL needs ADMIN and moves only the aversion, and the ACL a client reads back
/// from another server is the one it set.
#[test]
fn acls_round_trip_on_the_real_ensemble() {
    use zksim_model::{Acl, ErrorCode, Perms};
    let seed = 6;
    let world = world_with_servers(WorldConfig::with_seed(seed), 3, |_| {});
    let (out, _rec) = world.run(|nemesis: Nemesis| async move {
        let r = nemesis.recorder().clone();
        ClientNode::new(1)
            .run(async move {
                let zk = ZkClient::connect(cfg(1), r, Seeds::new(seed).stream("client/c1")).await.unwrap();
                let no_admin = Acl::anyone(Perms::ALL.without(Perms::ADMIN));
                zk.create_with_acl("/n", Data::text("a"), CreateMode::Persistent, no_admin.clone()).await.unwrap();
                zk.create_with_acl("/r", Data::text("a"), CreateMode::Persistent, Acl::open()).await.unwrap();
                let set = zk.set_acl("/r", Acl::anyone(Perms::READ), 0).await.unwrap();
                let refused_set = zk.set_data("/r", Data::text("b"), -1).await.err();
                let refused_child = zk.create("/r/c", Data::null(), CreateMode::Persistent).await.err();
                let refused_acl = zk.set_acl("/n", Acl::open(), -1).await.err();
                zk.sync("/").await.unwrap();
                let read_back = zk.get_acl("/n").await.unwrap();
                zk.close().await.unwrap();
                (set, refused_set, refused_child, refused_acl, read_back, no_admin)
            })
            .await
    });
    let (set, refused_set, refused_child, refused_acl, (acl, stat), no_admin) = out;
    assert_eq!((set.aversion, set.version), (1, 0), "setACL moves only the aversion");
    let no_auth = Some(ZkError::Api(ErrorCode::NoAuth));
    assert_eq!((refused_set, refused_child, refused_acl), (no_auth.clone(), no_auth.clone(), no_auth));
    assert_eq!((acl, stat.aversion), (no_admin, 0));
}
