//! Fast leader election in simulated ensembles: who wins, what survives crashes, partitions and
//! restarts, and that a seed replays exactly.
//!
//! Each server runs an [`Election`] and a stand-in for ZAB: a follower pings its leader on
//! `PEER_PORT` and looks again when the pings stop; a leader looks again when fewer than a
//! quorum pinged it lately. Servers record their roles in the history, which the tests read.

use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zksim_model::{Event, Node, Record, Role, ServerId, SimTime, Zxid};
use zksim_sim::nemesis::NodeState;
use zksim_sim::net::{self, Listener, PEER_PORT};
use zksim_sim::server::election::{Election, ElectionConfig, PeerState, Vote};
use zksim_sim::{process, Nemesis, ProcessCtx, Seeds, World, WorldConfig};

/// How often a follower pings its leader.
const PING_INTERVAL: Duration = Duration::from_millis(50);
/// Silence after which a follower gives up on its leader.
const FOLLOWER_TIMEOUT: Duration = Duration::from_millis(300);
/// A leader counts a follower whose last ping is at most this old.
const LEADER_TIMEOUT: Duration = Duration::from_millis(400);
/// Time a new leader gives its followers to connect before counting them.
const LEADER_GRACE: Duration = Duration::from_millis(800);

/// The epoch a restarted server claims (above any initial epoch).
const RESTARTED_EPOCH: u32 = 10;

/// The ping of the ZAB stand-in.
#[derive(Clone, Copy, Debug)]
struct Ping {
    from: ServerId,
    /// From the leader, once a quorum pinged it: its new epoch, established.
    established: Option<u32>,
}

/// Each server's (last zxid, current epoch), drawn from the seed.
fn initial_votes(seed: u64, n: u32) -> BTreeMap<ServerId, (Zxid, u32)> {
    let mut rng = Seeds::new(seed).stream("test/initial-votes");
    (1..=n)
        .map(|i| {
            let epoch = rng.gen_range(1..=3u32);
            let zxid = Zxid::new(rng.gen_range(1..=epoch), rng.gen_range(0..4));
            (ServerId(i), (zxid, epoch))
        })
        .collect()
}

/// The server that must win among `servers`: the highest (epoch, zxid, id), computed here
/// independently of the election's own comparison (which a planted bug may break).
fn best_vote(initial: &BTreeMap<ServerId, (Zxid, u32)>, servers: &[ServerId]) -> ServerId {
    *servers.iter().max_by_key(|s| (initial[s].1, initial[s].0, **s)).expect("at least one server")
}

/// What a leader knows about its followers.
#[derive(Default)]
struct Followers {
    leading: bool,
    established: Option<u32>,
    last_ping: BTreeMap<ServerId, SimTime>,
}

async fn server_process(ctx: ProcessCtx, ensemble: Vec<ServerId>, initial: (Zxid, u32)) {
    let Node::Server(me) = ctx.node else { panic!("election servers are server nodes") };
    let election = Election::start(ElectionConfig::new(me, ensemble.clone())).await.expect("election port is free");
    let listener = Listener::<Ping, Ping>::bind(PEER_PORT).await.expect("peer port is free");
    let followers = Arc::new(Mutex::new(Followers::default()));
    let book = followers.clone();
    madsim::task::spawn(async move {
        while let Ok((tx, mut rx, _)) = listener.accept().await {
            let book = book.clone();
            madsim::task::spawn(async move {
                // A follower may connect before its leader has settled: it waits for the
                // first answer; once served, the connection ends when the leader steps down.
                let mut served = false;
                while let Ok(Ok(ping)) = madsim::time::timeout(LEADER_GRACE, rx.recv()).await {
                    if !served {
                        let since = now();
                        while !book.lock().unwrap().leading {
                            if now().0 - since.0 > LEADER_GRACE.as_nanos() as u64 {
                                return;
                            }
                            madsim::time::sleep(Duration::from_millis(10)).await;
                        }
                        served = true;
                    }
                    let established = {
                        let mut b = book.lock().unwrap();
                        if !b.leading {
                            return;
                        }
                        b.last_ping.insert(ping.from, now());
                        b.established
                    };
                    if tx.send(Ping { from: me, established }).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let quorum = ensemble.len() / 2 + 1;
    // A restarted server comes back with a better vote than anyone's: the hardest case for
    // joining the established leader instead of disturbing it.
    let (zxid, epoch) = match ctx.incarnation {
        0 => initial,
        _ => (Zxid::new(RESTARTED_EPOCH, 99), RESTARTED_EPOCH),
    };
    loop {
        ctx.recorder.record(Event::Role { server: me, role: Role::Looking, epoch });
        let vote = election.look_for_leader(zxid, epoch).await;
        if vote.leader == me {
            assert_eq!(election.state(), PeerState::Leading, "the election module answers as leader");
            ctx.recorder.record(Event::Role { server: me, role: Role::Leading, epoch: vote.peer_epoch });
            {
                let mut b = followers.lock().unwrap();
                b.leading = true;
                b.established = None;
                b.last_ping.clear();
            }
            madsim::time::sleep(LEADER_GRACE).await;
            loop {
                let at = now();
                let recent = |t: &&SimTime| at.0 - t.0 <= LEADER_TIMEOUT.as_nanos() as u64;
                let alive = followers.lock().unwrap().last_ping.values().filter(recent).count();
                if alive + 1 < quorum {
                    break;
                }
                // The stand-in's "a quorum acked NEWLEADER": report the new epoch, as ZooKeeper
                // does (ZOOKEEPER-1732), and let the followers know it.
                let newly_established = followers.lock().unwrap().established.replace(vote.peer_epoch + 1).is_none();
                if newly_established {
                    election.update_election_vote(vote.peer_epoch + 1);
                }
                madsim::time::sleep(PING_INTERVAL).await;
            }
            followers.lock().unwrap().leading = false;
        } else {
            assert_eq!(election.state(), PeerState::Following, "the election module answers as follower");
            ctx.recorder.record(Event::Role {
                server: me,
                role: Role::Following { leader: vote.leader },
                epoch: vote.peer_epoch,
            });
            follow(me, vote.leader, |epoch| election.update_election_vote(epoch)).await;
        }
        election.set_state(PeerState::Looking, Vote { leader: me, zxid, peer_epoch: epoch });
    }
}

/// Pings `leader` until it stops answering; calls `established` once the leader says its
/// epoch is established.
async fn follow(me: ServerId, leader: ServerId, established: impl FnOnce(u32)) {
    let mut established = Some(established);
    let Ok((tx, mut rx)) = net::connect::<Ping, Ping>(net::server_addr(leader, PEER_PORT)).await else {
        // Give the leader a moment to take its role before looking again.
        madsim::time::sleep(FOLLOWER_TIMEOUT).await;
        return;
    };
    // The leader may still be settling: give its first answer longer.
    let mut wait = LEADER_GRACE;
    loop {
        if tx.send(Ping { from: me, established: None }).await.is_err() {
            return;
        }
        match madsim::time::timeout(wait, rx.recv()).await {
            Ok(Ok(reply)) => {
                if let Some(epoch) = reply.established {
                    if let Some(f) = established.take() {
                        f(epoch);
                    }
                }
                madsim::time::sleep(PING_INTERVAL).await
            }
            _ => return,
        }
        wait = FOLLOWER_TIMEOUT;
    }
}

/// Runs an `n`-server ensemble with `driver` as the scenario; returns its output and history.
fn run<T, F, Fut>(seed: u64, n: u32, driver: F) -> (T, Vec<Record>)
where
    F: FnOnce(Nemesis) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    run_in(WorldConfig::with_seed(seed), n, driver)
}

/// [`run`] in a world configured by `config`.
fn run_in<T, F, Fut>(config: WorldConfig, n: u32, driver: F) -> (T, Vec<Record>)
where
    F: FnOnce(Nemesis) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let seed = config.seed;
    let ensemble: Vec<ServerId> = (1..=n).map(ServerId).collect();
    let initial = initial_votes(seed, n);
    let mut world = World::new(config);
    for s in &ensemble {
        let (ensemble, init) = (ensemble.clone(), initial[s]);
        world.add_node(Node::Server(*s), process(move |ctx| server_process(ctx, ensemble.clone(), init)));
    }
    let (out, recorder) = world.run(driver);
    (out, recorder.snapshot())
}

/// Role changes of servers, in order.
fn roles(history: &[Record]) -> Vec<(SimTime, ServerId, Role)> {
    history
        .iter()
        .filter_map(|r| match &r.event {
            Event::Role { server, role, .. } => Some((r.time, *server, *role)),
            _ => None,
        })
        .collect()
}

/// Each server's last role at `at`.
fn roles_at(history: &[Record], at: SimTime) -> BTreeMap<ServerId, Role> {
    roles(history).into_iter().filter(|(t, _, _)| *t <= at).map(|(_, s, r)| (s, r)).collect()
}

/// The one leader that every listed server agrees on at `at`, or why there is none.
fn agreed_leader(history: &[Record], at: SimTime, servers: &[ServerId]) -> Result<ServerId, String> {
    let now = roles_at(history, at);
    let leaders: Vec<ServerId> = servers.iter().filter(|s| now.get(s) == Some(&Role::Leading)).copied().collect();
    let [leader] = leaders[..] else { return Err(format!("leaders {leaders:?} among {servers:?}: roles {now:?}")) };
    for s in servers.iter().filter(|s| **s != leader) {
        if now.get(s) != Some(&Role::Following { leader }) {
            return Err(format!("{s} does not follow {leader}: roles {now:?}"));
        }
    }
    Ok(leader)
}

fn now() -> SimTime {
    zksim_sim::recorder::now()
}

const SEEDS: u64 = 50;

fn elects_the_highest_vote(n: u32) {
    let servers: Vec<ServerId> = (1..=n).map(ServerId).collect();
    for seed in 0..SEEDS {
        let (at, history) = run(seed, n, |_nemesis| async {
            madsim::time::sleep(Duration::from_secs(3)).await;
            now()
        });
        let leader = agreed_leader(&history, at, &servers).unwrap_or_else(|e| panic!("seed {seed}, {n} servers: {e}"));
        let best = best_vote(&initial_votes(seed, n), &servers);
        assert_eq!(leader, best, "seed {seed}, {n} servers: the highest (epoch, zxid, id) wins");
        let decisions = roles(&history).iter().filter(|(_, _, r)| *r != Role::Looking).count();
        assert_eq!(
            decisions,
            n as usize,
            "seed {seed}, {n} servers: each server decides once, and keeps it: {:?}",
            roles(&history)
        );
    }
}

#[test]
fn elects_the_highest_vote_in_3() {
    elects_the_highest_vote(3);
}

#[test]
fn elects_the_highest_vote_in_5() {
    elects_the_highest_vote(5);
}

#[test]
fn elects_the_highest_vote_in_7() {
    elects_the_highest_vote(7);
}

/// Crashes the first leader; returns (first leader, crash time, end time).
async fn crash_the_leader(nemesis: Nemesis, n: u32) -> (ServerId, SimTime, SimTime) {
    madsim::time::sleep(Duration::from_secs(3)).await;
    let servers: Vec<ServerId> = (1..=n).map(ServerId).collect();
    let first = agreed_leader(&nemesis.recorder().snapshot(), now(), &servers).expect("a first leader");
    nemesis.crash(Node::Server(first), false).expect("crash the leader");
    let crashed_at = now();
    madsim::time::sleep(Duration::from_secs(5)).await;
    (first, crashed_at, now())
}

fn reelects_after_leader_crash(n: u32) {
    for seed in 0..SEEDS {
        let ((first, crashed_at, end), history) = run(seed, n, |nemesis| crash_the_leader(nemesis, n));
        let survivors: Vec<ServerId> = (1..=n).map(ServerId).filter(|s| *s != first).collect();
        let second =
            agreed_leader(&history, end, &survivors).unwrap_or_else(|e| panic!("seed {seed}, {n} servers: {e}"));
        let elected_at = roles(&history)
            .iter()
            .find(|(t, s, r)| *t > crashed_at && *s == second && *r == Role::Leading)
            .map(|(t, _, _)| *t)
            .unwrap_or_else(|| panic!("seed {seed}: {second} took the lead after the crash"));
        assert!(
            elected_at.0 - crashed_at.0 < 3_000_000_000,
            "seed {seed}, {n} servers: re-elected within 3 s of the crash, took {} ms",
            (elected_at.0 - crashed_at.0) / 1_000_000
        );
    }
}

#[test]
fn reelects_after_leader_crash_in_3() {
    reelects_after_leader_crash(3);
}

#[test]
fn reelects_after_leader_crash_in_5() {
    reelects_after_leader_crash(5);
}

#[test]
fn reelects_after_leader_crash_in_7() {
    reelects_after_leader_crash(7);
}

#[test]
fn minority_partition_elects_nothing_in_5() {
    let n = 5;
    let servers: Vec<ServerId> = (1..=n).map(ServerId).collect();
    for seed in 0..SEEDS {
        let ((first, minority, majority, parted_at, healed_at, end), history) = run(seed, n, |nemesis| async move {
            madsim::time::sleep(Duration::from_secs(3)).await;
            let servers: Vec<ServerId> = (1..=n).map(ServerId).collect();
            let first = agreed_leader(&nemesis.recorder().snapshot(), now(), &servers).expect("a first leader");
            // The leader and one follower (drawn by the nemesis) against the other three.
            let others: Vec<ServerId> = servers.iter().copied().filter(|s| *s != first).collect();
            let buddy = others[nemesis.with_rng(|r| r.gen_range(0..others.len()))];
            let minority = vec![first, buddy];
            let majority: Vec<ServerId> = others.iter().copied().filter(|s| *s != buddy).collect();
            let nodes = |v: &[ServerId]| v.iter().map(|s| Node::Server(*s)).collect::<Vec<_>>();
            nemesis.partition(vec![nodes(&minority), nodes(&majority)]).expect("partition");
            let parted_at = now();
            madsim::time::sleep(Duration::from_secs(5)).await;
            nemesis.heal();
            let healed_at = now();
            madsim::time::sleep(Duration::from_secs(20)).await;
            (first, minority, majority, parted_at, healed_at, now())
        });
        let during: Vec<_> =
            roles(&history).into_iter().filter(|(t, _, _)| *t > parted_at && *t <= healed_at).collect();
        for (t, s, r) in &during {
            assert!(
                !minority.contains(s) || *r == Role::Looking,
                "seed {seed}: minority server {s} became {r:?} at {t:?} while partitioned from the quorum"
            );
        }
        let second = agreed_leader(&history, healed_at, &majority).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(majority.contains(&second), "seed {seed}: the majority elects among itself");
        assert!(
            roles_at(&history, healed_at).get(&first) == Some(&Role::Looking),
            "seed {seed}: the old leader {first} stepped down"
        );
        let soon = SimTime(healed_at.0 + 3_000_000_000);
        let third =
            agreed_leader(&history, soon, &servers).unwrap_or_else(|e| panic!("seed {seed}, 3 s after the heal: {e}"));
        assert_eq!(agreed_leader(&history, end, &servers), Ok(third), "seed {seed}: the leader stays");
    }
}

/// Crashes a follower, restarts it; returns (leader, restarted follower, crash time, end time).
async fn restart_a_follower(nemesis: Nemesis, n: u32) -> (ServerId, ServerId, SimTime, SimTime) {
    madsim::time::sleep(Duration::from_secs(3)).await;
    let servers: Vec<ServerId> = (1..=n).map(ServerId).collect();
    let leader = agreed_leader(&nemesis.recorder().snapshot(), now(), &servers).expect("a first leader");
    let followers: Vec<ServerId> = servers.iter().copied().filter(|s| *s != leader).collect();
    let victim = followers[nemesis.with_rng(|r| r.gen_range(0..followers.len()))];
    nemesis.crash(Node::Server(victim), false).expect("crash a follower");
    let crashed_at = now();
    madsim::time::sleep(Duration::from_secs(1)).await;
    nemesis.restart(Node::Server(victim)).expect("restart the follower");
    madsim::time::sleep(Duration::from_secs(5)).await;
    (leader, victim, crashed_at, now())
}

fn restarted_follower_learns_the_leader(n: u32) {
    let servers: Vec<ServerId> = (1..=n).map(ServerId).collect();
    for seed in 0..SEEDS {
        let ((leader, victim, crashed_at, end), history) = run(seed, n, |nemesis| restart_a_follower(nemesis, n));
        for (t, s, r) in roles(&history).into_iter().filter(|(t, _, _)| *t >= crashed_at) {
            assert_eq!(
                s, victim,
                "seed {seed}, {n} servers: {s} became {r:?} at {t:?}, disturbed by {victim}'s restart"
            );
        }
        let after: Vec<Role> = roles(&history)
            .into_iter()
            .filter(|(t, s, _)| *t >= crashed_at && *s == victim)
            .map(|(_, _, r)| r)
            .collect();
        assert_eq!(
            after,
            vec![Role::Down, Role::Looking, Role::Following { leader }],
            "seed {seed}, {n} servers: {victim} comes back as a follower of {leader}"
        );
        assert_eq!(agreed_leader(&history, end, &servers), Ok(leader), "seed {seed}, {n} servers");
    }
}

#[test]
fn restarted_follower_learns_the_leader_in_3() {
    restarted_follower_learns_the_leader(3);
}

#[test]
fn restarted_follower_learns_the_leader_in_5() {
    restarted_follower_learns_the_leader(5);
}

#[test]
fn restarted_follower_learns_the_leader_in_7() {
    restarted_follower_learns_the_leader(7);
}

#[test]
fn same_seed_same_decisions() {
    for seed in 0..10 {
        let (_, a) = run(seed, 5, |nemesis| crash_the_leader(nemesis, 5));
        let (_, b) = run(seed, 5, |nemesis| crash_the_leader(nemesis, 5));
        assert!(roles(&a).len() >= 10, "seed {seed}: two elections record at least ten role changes");
        assert_eq!(a, b, "seed {seed}: the same seed replays the same history");
    }
    for seed in 0..3 {
        let (_, a) = run(seed, 5, |nemesis| random_faults(nemesis, 5));
        let (_, b) = run(seed, 5, |nemesis| random_faults(nemesis, 5));
        assert!(a.len() >= 20, "seed {seed}: random faults record at least twenty events");
        assert_eq!(a, b, "seed {seed}: the same seed replays the same faults and decisions");
    }
}

#[test]
fn elects_on_a_lossy_slow_network_in_5() {
    let servers: Vec<ServerId> = (1..=5).map(ServerId).collect();
    for seed in 0..30 {
        let mut rng = Seeds::new(seed).stream("test/network");
        let mut config = WorldConfig::with_seed(seed);
        config.loss_rate = rng.gen_range(0.0..0.2);
        config.latency_ms_max = rng.gen_range(5..=150);
        let (at, history) = run_in(config.clone(), 5, |_nemesis| async {
            madsim::time::sleep(Duration::from_secs(15)).await;
            now()
        });
        agreed_leader(&history, at, &servers).unwrap_or_else(|e| panic!("seed {seed}, {config:?}: {e}"));
    }
}

/// Crashes, restarts, partitions (both ways or one way), pauses at random for 20 s, then heals
/// everything; returns when everything healed and when the run ends.
async fn random_faults(nemesis: Nemesis, n: u32) -> (SimTime, SimTime) {
    let servers: Vec<Node> = (1..=n).map(|i| Node::Server(ServerId(i))).collect();
    let state = |s: &Node| nemesis.node_state(*s).expect("a known node");
    for _ in 0..20 {
        let wait = nemesis.with_rng(|r| r.gen_range(200..2_000));
        madsim::time::sleep(Duration::from_millis(wait)).await;
        let pick = nemesis.with_rng(|r| r.gen_range(0..servers.len()));
        let target = servers[pick];
        let down = servers.iter().filter(|s| state(s) != NodeState::Up).count();
        match nemesis.with_rng(|r| r.gen_range(0..6)) {
            0 if state(&target) == NodeState::Up && down < 2 => nemesis.crash(target, false).expect("crash"),
            1 if state(&target) == NodeState::Up && down < 2 => nemesis.pause(target).expect("pause"),
            2 => {
                let cut = nemesis.with_rng(|r| r.gen_range(1..servers.len()));
                let mut shuffled = servers.clone();
                nemesis.with_rng(|r| shuffled.shuffle(r));
                let (a, b) = shuffled.split_at(cut);
                nemesis.partition(vec![a.to_vec(), b.to_vec()]).expect("partition");
            }
            3 => nemesis.heal(),
            4 => {
                let cut = nemesis.with_rng(|r| r.gen_range(1..servers.len()));
                let mut shuffled = servers.clone();
                nemesis.with_rng(|r| shuffled.shuffle(r));
                let (a, b) = shuffled.split_at(cut);
                nemesis.partition_one_way(a.to_vec(), b.to_vec()).expect("one-way partition");
            }
            _ => {
                for s in &servers {
                    match state(s) {
                        NodeState::Crashed => nemesis.restart(*s).expect("restart"),
                        NodeState::Paused => nemesis.resume(*s).expect("resume"),
                        NodeState::Up => {}
                    }
                }
            }
        }
    }
    nemesis.heal();
    for s in &servers {
        match state(s) {
            NodeState::Crashed => nemesis.restart(*s).expect("restart"),
            NodeState::Paused => nemesis.resume(*s).expect("resume"),
            NodeState::Up => {}
        }
    }
    let healed_at = now();
    madsim::time::sleep(Duration::from_secs(30)).await;
    (healed_at, now())
}

#[test]
fn converges_after_random_faults_in_5() {
    let servers: Vec<ServerId> = (1..=5).map(ServerId).collect();
    for seed in 0..50 {
        let ((healed_at, end), history) = run(seed, 5, |nemesis| random_faults(nemesis, 5));
        agreed_leader(&history, end, &servers).unwrap_or_else(|e| panic!("seed {seed}, 30 s after the heal: {e}"));
        let last_change = roles(&history).last().map(|(t, _, _)| *t).expect("roles were recorded");
        assert!(
            last_change.0 < healed_at.0 + 5_000_000_000,
            "seed {seed}: settled within 5 s of the heal (last role change {} ms after)",
            (last_change.0 - healed_at.0) / 1_000_000
        );
    }
}
