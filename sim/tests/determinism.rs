//! The same seed gives a byte-identical history; different seeds give different ones.
//!
//! The world here is a mesh of pingers under a randomized nemesis (drawn from the seed). Every
//! receipt is recorded, so any scheduling or latency difference shows up in the bytes.

use rand::Rng;
use std::time::Duration;
use zksim_model::history::{RecipeAction, RecipeNote};
use zksim_model::jsonl::{fingerprint, history_bytes};
use zksim_model::{ClientId, Data, Event, Header, History, Node, ServerId, SessionId};
use zksim_sim::net::{self, ConnSender, Listener};
use zksim_sim::{process, World, WorldConfig};

const PORT: u16 = 7000;

fn run(seed: u64) -> Vec<u8> {
    let mut cfg = WorldConfig::with_seed(seed);
    cfg.latency_ms_max = 20;
    let mut world = World::new(cfg);
    let nodes: Vec<Node> = (1..=3).map(|n| Node::Server(ServerId(n))).collect();
    for &me in &nodes {
        let all = nodes.clone();
        world.add_node(
            me,
            process(move |ctx| {
                let all = all.clone();
                async move {
                    let rec = ctx.recorder.clone();
                    let listener: Listener<u64, ()> = Listener::bind(PORT).await.expect("bind");
                    madsim::task::spawn(async move {
                        while let Ok((_tx, mut rx, from)) = listener.accept().await {
                            let rec = rec.clone();
                            madsim::task::spawn(async move {
                                while let Ok(seq) = rx.recv().await {
                                    rec.record(Event::Recipe {
                                        client: ClientId(1),
                                        session: SessionId(0),
                                        note: RecipeNote {
                                            recipe: format!("ping:{me}"),
                                            action: RecipeAction::Other {
                                                what: format!("{from}"),
                                                data: Data::text(&seq.to_string()),
                                            },
                                        },
                                    });
                                }
                            });
                        }
                    });
                    let mut conns: Vec<Option<ConnSender<u64>>> = all.iter().map(|_| None).collect();
                    for seq in 0.. {
                        madsim::time::sleep(Duration::from_millis(15)).await;
                        for (i, &peer) in all.iter().enumerate().filter(|(_, p)| **p != me) {
                            if conns[i].is_none() {
                                conns[i] = net::connect::<u64, ()>(std::net::SocketAddr::new(net::node_ip(peer), PORT))
                                    .await
                                    .ok()
                                    .map(|(tx, _)| tx);
                            }
                            if let Some(tx) = &conns[i] {
                                if tx.send(seq).await.is_err() {
                                    conns[i] = None;
                                }
                            }
                        }
                    }
                }
            }),
        );
    }
    let (_, rec) = world.run(|nemesis| async move {
        for _ in 0..10 {
            let (wait, victim, kind) =
                nemesis.with_rng(|r| (r.gen_range(50..300), r.gen_range(1..=3u32), r.gen_range(0..3)));
            madsim::time::sleep(Duration::from_millis(wait)).await;
            let node = Node::Server(ServerId(victim));
            match kind {
                0 => nemesis.isolate(node).unwrap(),
                1 => nemesis.heal(),
                _ => nemesis.set_latency(1, wait / 10),
            }
        }
    });
    let history = History {
        header: Header {
            format: zksim_model::history::HISTORY_FORMAT,
            scenario: "determinism".into(),
            seed,
            config_hash: String::new(),
            servers: vec![],
            clients: vec![],
            tick_ms: 0,
        },
        records: rec.take(),
    };
    assert!(history.records.len() > 100, "the run must produce traffic");
    history_bytes(&history)
}

#[test]
fn same_seed_same_bytes() {
    let a = run(11);
    let b = run(11);
    assert_eq!(fingerprint(&a), fingerprint(&b), "seed 11 produced two different histories");
    assert_eq!(a, b);
}

#[test]
fn different_seeds_differ() {
    assert_ne!(fingerprint(&run(11)), fingerprint(&run(12)));
}
