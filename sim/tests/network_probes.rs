//! Conformance of the whole replicated service against the ZooKeeper 3.8.0 probes
//! (`model/testdata/zookeeper-3.8-probes.json`): every case runs in its own simulated world,
//! through the client library ([`ZkClient`]) over the simulated network, on a 1-server and a
//! 3-server ensemble. The accounting is the data-tree test's (`datatree_probes.rs`): every
//! required case must pass; cases that cannot run are listed by name with the reason, and the
//! test fails if a list goes stale.
//!
//! Chroot-namespace cases run on servers that start from `/` alone (`ServerConfig::empty_root`).
//!
//! On the 3-server ensemble the sessions of a case are spread over the servers (session n on
//! server n mod 3), so writes are forwarded, watches fire on several servers and reads may be
//! served by a lagging follower: each read is preceded by a `sync` of its session, which
//! ZooKeeper's documented way to read what was written through another server.

use std::collections::BTreeMap;
use std::time::Duration;
use zksim_model::probe_target::ProbeTarget;
use zksim_model::probes::{parse_cases, run_case, CaseReport, Namespace, ProbeCase};
use zksim_model::{ClientId, ErrorCode, Event, Op, OpResult, Outcome, ServerId, SessionId, SessionState, WatchedEvent};
use zksim_sim::client::{ClientConfig, ZkClient};
use zksim_sim::proto::{ControlMsg, ControlReply};
use zksim_sim::server::control::ControlClient;
use zksim_sim::server::testkit::{ensemble, world_with_servers, ClientNode};
use zksim_sim::{Seeds, SteppedWorld, WorldConfig};

const CORPUS: &str = include_str!("../../model/testdata/zookeeper-3.8-probes.json");

/// Cases not run, with the reason (the data-tree test's list). Each must come out
/// `Unsupported`: a stale entry fails.
const SKIPPED: &[(&str, &str)] = &[
    // None: ACLs, raw create opcodes and flags, multi_read, getEphemerals and
    // getAllChildrenNumber all run.
];

/// Cases showing 3.8.0 bugs; the service implements the fixed behaviour.
const KNOWN_BUGS: &[&str] = &["watch_persistent_and_oneshot_same_path", "watch_persistent_partial_remove"];

/// Simulated time given to notifications and replication after each step, so the events an
/// operation fires on every server have arrived before the runner collects them.
const SETTLE: Duration = Duration::from_millis(60);

struct Session {
    zk: ZkClient,
    node: ClientNode,
}

/// The replicated service, driven through client sessions in a stepped simulated world.
struct NetTarget {
    world: SteppedWorld,
    servers: Vec<ServerId>,
    sessions: BTreeMap<SessionId, Session>,
    next_client: u32,
    seed: u64,
    /// Records of the history already scanned for notifications.
    seen: usize,
    control: ControlClient,
}

impl NetTarget {
    fn new(servers: u32, seed: u64, ns: Namespace) -> NetTarget {
        // Chroot cases were recorded under a chroot whose node plays `/` with an all-zero Stat:
        // the servers start from `/` alone for them.
        let empty_root = ns == Namespace::Chroot;
        let world = world_with_servers(WorldConfig::with_seed(seed), servers, |c| c.empty_root = empty_root).stepped();
        let control = world.step(async { ControlClient::new() });
        NetTarget {
            world,
            servers: ensemble(servers),
            sessions: BTreeMap::new(),
            next_client: 0,
            seed,
            seen: 0,
            control,
        }
    }

    fn session(&self, s: SessionId) -> &Session {
        self.sessions.get(&s).unwrap_or_else(|| panic!("probe runner used unknown session {s}"))
    }

    /// Runs `op` on session `s` and returns its outcome.
    fn call(&self, s: SessionId, op: Op) -> Outcome {
        let sess = self.session(s);
        let zk = sess.zk.clone();
        self.world.step(sess.node.run(async move { zk.execute(op).await }))
    }

    fn settle(&self) {
        self.world.step(async { madsim::time::sleep(SETTLE).await });
    }
}

impl ProbeTarget for NetTarget {
    fn open_session(&mut self) -> SessionId {
        self.next_client += 1;
        let n = self.next_client;
        // Session n on server n (mod the ensemble): several servers serve one case.
        let server = self.servers[(n as usize - 1) % self.servers.len()];
        let mut cfg = ClientConfig::new(ClientId(n), vec![server]).with_session_timeout(30_000);
        cfg.reconnect_jitter_ms = 50;
        cfg.spin_delay_ms = 100;
        let recorder = self.world.recorder().clone();
        let rng = Seeds::new(self.seed).stream(&format!("client/c{n}"));
        let node = self.world.step(async move { ClientNode::new(n) });
        let zk = self
            .world
            .step(node.run(async move { ZkClient::connect(cfg, recorder, rng).await }))
            .unwrap_or_else(|e| panic!("client c{n} cannot open a session on {server}: {e:?}"));
        let s = zk.session_id();
        self.sessions.insert(s, Session { zk, node });
        self.settle();
        s
    }

    fn close_session(&mut self, session: SessionId) {
        let sess = self.session(session);
        let zk = sess.zk.clone();
        let _ = self.world.step(sess.node.run(async move { zk.close().await }));
        self.settle();
    }

    fn expire_session(&mut self, session: SessionId) {
        let (control, servers) = (self.control.clone(), self.servers.clone());
        let accepted = self.world.step(async move {
            for s in servers {
                let msg = ControlMsg::ExpireSession(session);
                if let Ok(ControlReply::Expiring) = control.request(s, msg, Duration::from_secs(1)).await {
                    return true;
                }
            }
            false
        });
        assert!(accepted, "no server accepted the expiry of {session}");
        // The client learns of the expiry when its connection is refused.
        let zk = self.session(session).zk.clone();
        self.world.step(async move {
            for _ in 0..200 {
                if zk.state() == SessionState::Expired {
                    return;
                }
                madsim::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("session {session} not expired at its client within 10 s");
        });
        self.settle();
    }

    fn execute(&mut self, session: SessionId, op: &Op) -> Outcome {
        let is_read = matches!(
            op,
            Op::GetData { .. }
                | Op::Exists { .. }
                | Op::GetChildren { .. }
                | Op::GetEphemerals { .. }
                | Op::GetAllChildrenNumber { .. }
        );
        if is_read && self.servers.len() > 1 {
            // Catch this session's server up with the leader (writes of other sessions may
            // have gone through other servers).
            let _ = self.call(session, Op::Sync { path: "/".into() });
        }
        let out = self.call(session, op.clone());
        self.settle();
        out
    }

    fn wait(&mut self, ms: u64) {
        self.world.step(async move { madsim::time::sleep(Duration::from_millis(ms)).await });
    }

    fn get_ephemerals(&mut self, session: SessionId, prefix: &str) -> Option<Vec<String>> {
        match self.execute(session, &Op::GetEphemerals { prefix: prefix.to_string() }) {
            Outcome::Ok { value: OpResult::Ephemerals { paths } } => Some(paths),
            other => panic!("getEphemerals({prefix}) answered {other:?}"),
        }
    }

    fn get_all_children_number(&mut self, session: SessionId, path: &str) -> Option<Result<u64, ErrorCode>> {
        match self.execute(session, &Op::GetAllChildrenNumber { path: path.to_string() }) {
            Outcome::Ok { value: OpResult::ChildrenNumber { number } } => Some(Ok(number)),
            Outcome::Err { code } => Some(Err(code)),
            other => panic!("getAllChildrenNumber({path}) answered {other:?}"),
        }
    }

    fn take_events(&mut self) -> Vec<(SessionId, WatchedEvent)> {
        let records = self.world.recorder().snapshot();
        let events = records[self.seen..]
            .iter()
            .filter_map(|r| match &r.event {
                Event::Watch { session, event, .. } => Some((*session, event.clone())),
                _ => None,
            })
            .collect();
        self.seen = records.len();
        events
    }
}

/// Runs every case on a fresh `servers`-server ensemble; returns the pass count and prints
/// what did not pass. Panics listing failures and stale skip entries.
fn run_all(servers: u32) -> usize {
    let cases: Vec<ProbeCase> = parse_cases(CORPUS).expect("the corpus parses");
    assert_eq!(cases.len(), 142, "the vendored corpus has 142 cases");
    let (mut pass, mut known, mut failures, mut problems) = (0, 0, Vec::new(), Vec::new());
    for (i, case) in cases.iter().enumerate() {
        let skip = SKIPPED.iter().find(|(n, _)| *n == case.name);
        let bug = KNOWN_BUGS.contains(&case.name.as_str());
        let mut target = NetTarget::new(servers, 1000 + i as u64, case.namespace);
        let report = run_case(case, &mut target);
        match (report, skip, bug) {
            (CaseReport::Pass, None, false) => pass += 1,
            (CaseReport::Pass, _, _) => problems.push(format!("{}: listed but passes: unlist it", case.name)),
            (CaseReport::Unsupported(u), Some((_, why)), _) => {
                println!("skipped {} (op {}: {}): {why}", case.name, u.op_index, u.reason)
            }
            (CaseReport::Unsupported(u), None, _) => {
                problems.push(format!("{}: unsupported at op {}: {}", case.name, u.op_index, u.reason))
            }
            (CaseReport::Fail(m), None, true) => {
                known += 1;
                println!("known 3.8.0 bug {} (ops {:?} differ, as expected)", case.name, m.differing())
            }
            (CaseReport::Fail(m), _, _) => failures.push(m.to_string()),
        }
    }
    let listed = |l: &[(&str, &str)]| l.iter().filter(|(n, _)| cases.iter().any(|c| c.name == *n)).count();
    let skipped = listed(SKIPPED);
    let bugs = KNOWN_BUGS.len();
    println!(
        "probes over the network, {servers} server(s): {pass} of {} cases pass, {skipped} skipped, {known} known-bug",
        cases.len()
    );
    for f in &failures {
        println!("{f}");
    }
    for p in &problems {
        println!("{p}");
    }
    assert!(
        failures.is_empty() && problems.is_empty(),
        "{} cases fail, {} problems (diffs above)",
        failures.len(),
        problems.len()
    );
    assert_eq!(known, bugs, "every known-bug case differs as recorded");
    assert_eq!(pass, cases.len() - skipped - bugs);
    pass
}

#[test]
fn one_server_service_passes_the_probes_over_the_network() {
    run_all(1);
}

#[test]
fn three_server_service_passes_the_probes_over_the_network() {
    run_all(3);
}
