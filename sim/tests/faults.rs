//! Each fault primitive, shown on real traffic over the simulated network and disk.
//!
//! The processes here are tiny pingers, not the service: each node keeps a connection to every
//! other node and sends a numbered ping every 20 ms. The test observes receipts through a
//! test-local log (observation only; the processes never read it).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zksim_model::{Event, Fault, Node, ServerId};
use zksim_sim::disk::Slot;
use zksim_sim::net::{self, ConnReceiver, ConnSender, Listener};
use zksim_sim::{process, recorder, World, WorldConfig};

const PORT: u16 = 7000;

#[derive(Clone, Debug)]
struct Ping {
    from: Node,
    seq: u64,
}

/// (receive time in ms, receiver, sender, seq)
type Log = Arc<Mutex<Vec<(u64, Node, Node, u64)>>>;

fn s(n: u32) -> Node {
    Node::Server(ServerId(n))
}

fn pinger_world(seed: u64, nodes: &[Node], log: Log) -> World {
    let mut world = World::new(WorldConfig::with_seed(seed));
    let all: Vec<Node> = nodes.to_vec();
    for &me in nodes {
        let (log, all) = (log.clone(), all.clone());
        world.add_node(
            me,
            process(move |ctx| {
                let (log, all) = (log.clone(), all.clone());
                async move {
                    let me = ctx.node;
                    let listener: Listener<Ping, ()> = Listener::bind(PORT).await.expect("bind");
                    // Receive side: log every ping from every accepted connection.
                    madsim::task::spawn(async move {
                        loop {
                            let Ok((_tx, mut rx, _)) = listener.accept().await else { return };
                            let log = log.clone();
                            madsim::task::spawn(async move {
                                while let Ok(p) = rx.recv().await {
                                    let ms = recorder::now().as_millis();
                                    log.lock().unwrap().push((ms, me, p.from, p.seq));
                                }
                            });
                        }
                    });
                    // Send side: one connection per peer, reconnecting when refused or broken.
                    let mut conns: BTreeMap<Node, ConnSender<Ping>> = BTreeMap::new();
                    let mut seq = 0;
                    loop {
                        madsim::time::sleep(Duration::from_millis(20)).await;
                        seq += 1;
                        for &peer in all.iter().filter(|p| **p != me) {
                            if let std::collections::btree_map::Entry::Vacant(slot) = conns.entry(peer) {
                                let addr = std::net::SocketAddr::new(net::node_ip(peer), PORT);
                                if let Ok((tx, _rx)) = net::connect::<Ping, ()>(addr).await {
                                    let _: ConnReceiver<()> = _rx;
                                    slot.insert(tx);
                                }
                            }
                            if let Some(tx) = conns.get(&peer) {
                                if tx.send(Ping { from: me, seq }).await.is_err() {
                                    conns.remove(&peer);
                                }
                            }
                        }
                    }
                }
            }),
        );
    }
    world
}

fn receipts(log: &Log, to: Node, from: Node, window_ms: std::ops::Range<u64>) -> usize {
    log.lock().unwrap().iter().filter(|(t, r, f, _)| *r == to && *f == from && window_ms.contains(t)).count()
}

#[test]
fn partition_stops_traffic_and_heal_restores_it() {
    let log: Log = Default::default();
    let nodes = [s(1), s(2), s(3)];
    let world = pinger_world(1, &nodes, log.clone());
    let (_, rec) = world.run(|nemesis| async move {
        madsim::time::sleep(Duration::from_secs(1)).await;
        nemesis.partition(vec![vec![s(1)], vec![s(2), s(3)]]).unwrap();
        madsim::time::sleep(Duration::from_secs(2)).await;
        nemesis.heal();
        madsim::time::sleep(Duration::from_secs(8)).await;
    });
    assert!(receipts(&log, s(2), s(1), 500..1000) > 10, "s1 → s2 must flow before the partition");
    assert_eq!(receipts(&log, s(2), s(1), 1050..3000), 0, "nothing from s1 may reach s2 during the partition");
    assert_eq!(receipts(&log, s(1), s(3), 1050..3000), 0, "nothing from s3 may reach s1 during the partition");
    assert!(receipts(&log, s(3), s(2), 1050..3000) > 10, "s2 → s3 (same side) must keep flowing");
    assert!(receipts(&log, s(2), s(1), 3000..11_000) > 10, "s1 → s2 must flow again after heal");
    let faults: Vec<Fault> = rec
        .snapshot()
        .into_iter()
        .filter_map(|r| match r.event {
            Event::Fault { fault } => Some(fault),
            _ => None,
        })
        .collect();
    assert_eq!(faults, vec![Fault::Partition { groups: vec![vec![s(1)], vec![s(2), s(3)]] }, Fault::Heal]);
}

#[test]
fn one_way_partition_blocks_one_direction_only() {
    let log: Log = Default::default();
    let world = pinger_world(2, &[s(1), s(2)], log.clone());
    world.run(|nemesis| async move {
        madsim::time::sleep(Duration::from_secs(1)).await;
        nemesis.partition_one_way(vec![s(1)], vec![s(2)]).unwrap();
        madsim::time::sleep(Duration::from_secs(2)).await;
    });
    assert_eq!(receipts(&log, s(2), s(1), 1050..3000), 0, "s1 → s2 is cut");
    assert!(receipts(&log, s(1), s(2), 1050..3000) > 50, "s2 → s1 still flows");
}

#[test]
fn isolate_cuts_one_node_off() {
    let log: Log = Default::default();
    let world = pinger_world(3, &[s(1), s(2), s(3)], log.clone());
    world.run(|nemesis| async move {
        madsim::time::sleep(Duration::from_secs(1)).await;
        nemesis.isolate(s(3)).unwrap();
        madsim::time::sleep(Duration::from_secs(2)).await;
    });
    assert_eq!(receipts(&log, s(1), s(3), 1050..3000) + receipts(&log, s(3), s(2), 1050..3000), 0);
    assert!(receipts(&log, s(1), s(2), 1050..3000) > 50, "the others still talk");
}

#[test]
fn paused_node_is_silent_and_its_timers_wait() {
    let log: Log = Default::default();
    let world = pinger_world(4, &[s(1), s(2)], log.clone());
    world.run(|nemesis| async move {
        madsim::time::sleep(Duration::from_secs(1)).await;
        nemesis.pause(s(1)).unwrap();
        madsim::time::sleep(Duration::from_secs(2)).await;
        nemesis.resume(s(1)).unwrap();
        madsim::time::sleep(Duration::from_secs(1)).await;
    });
    assert_eq!(receipts(&log, s(2), s(1), 1050..3000), 0, "a paused node sends nothing");
    assert_eq!(receipts(&log, s(1), s(2), 1050..3000), 0, "a paused node handles nothing");
    // Messages sent to it meanwhile wait, and it handles them all after resume.
    let after = receipts(&log, s(1), s(2), 3000..3100);
    assert!(after > 50, "s1 must handle the pings queued during its pause right after resume, got {after}");
    assert!(receipts(&log, s(2), s(1), 3050..4000) > 10, "s1 sends again after resume");
}

#[test]
fn message_loss_delays_but_keeps_order() {
    let log: Log = Default::default();
    let mut world = pinger_world(5, &[s(1), s(2)], log.clone());
    let _ = &mut world;
    world.run(|nemesis| async move {
        nemesis.set_loss_rate(0.3).unwrap();
        nemesis.set_latency(5, 50);
        madsim::time::sleep(Duration::from_secs(3)).await;
    });
    let seqs: Vec<u64> =
        log.lock().unwrap().iter().filter(|(_, r, f, _)| *r == s(2) && *f == s(1)).map(|x| x.3).collect();
    assert!(seqs.len() > 50, "traffic must still flow under loss");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "a connection delivers in order, once: {seqs:?}");
}

/// A process that writes numbered records to its disk, fsyncing every other one, and reports
/// what it found on its disk at each start.
#[test]
fn crash_loses_unsynced_writes_and_keeps_synced_ones() {
    for torn in [false, true] {
        let found: Arc<Mutex<Vec<Vec<Slot<u32>>>>> = Default::default();
        let mut world = World::new(WorldConfig::with_seed(6));
        let f = found.clone();
        world.add_node(
            s(1),
            process(move |ctx| {
                let f = f.clone();
                async move {
                    let disk = ctx.disk::<u32>();
                    f.lock().unwrap().push(disk.read("log"));
                    if ctx.incarnation > 0 {
                        return;
                    }
                    disk.append("log", 1);
                    disk.fsync("log").await;
                    disk.append("log", 2);
                    disk.append("log", 3);
                    madsim::time::sleep(Duration::from_secs(10)).await;
                }
            }),
        );
        world.run(|nemesis| async move {
            madsim::time::sleep(Duration::from_secs(1)).await;
            nemesis.crash(s(1), torn).unwrap();
            madsim::time::sleep(Duration::from_secs(1)).await;
            nemesis.restart(s(1)).unwrap();
            madsim::time::sleep(Duration::from_secs(1)).await;
        });
        let found = found.lock().unwrap().clone();
        assert_eq!(found.len(), 2, "the process starts twice");
        assert!(found[0].is_empty());
        let mut expect = vec![Slot::Ok(1)];
        if torn {
            expect.push(Slot::Torn);
        }
        assert_eq!(found[1], expect, "after the crash only the synced record survives (torn={torn})");
    }
}

#[test]
fn nemesis_rejects_impossible_faults() {
    let world = pinger_world(7, &[s(1), s(2)], Default::default());
    world.run(|nemesis| async move {
        assert!(nemesis.restart(s(1)).is_err(), "restarting a running node is an error");
        assert!(nemesis.resume(s(1)).is_err(), "resuming a running node is an error");
        assert!(nemesis.partition(vec![vec![s(1)]]).is_err(), "one group is not a partition");
        assert!(nemesis.partition(vec![vec![s(1)], vec![s(1)]]).is_err(), "a node in two groups");
        assert!(nemesis.crash(Node::Server(ServerId(9)), false).is_err(), "unknown node");
        assert!(nemesis.set_loss_rate(1.5).is_err());
    });
}
