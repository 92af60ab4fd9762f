//! Benchmarks (`zksim bench`): figures printed, never asserted in tests. Each figure comes with
//! the ceiling it is measured against from the same process, so ratios survive machine changes.
//!
//! Wall-clock time is read here, around whole simulations, never inside one.

use serde::Serialize;
use std::time::Duration;
use zksim_model::{Node, ServerId};
use zksim_sim::net::{self, Listener};
use zksim_sim::{process, World, WorldConfig};

/// The bare runtime's ceiling: one connection between two nodes, ping-pong.
#[derive(Clone, Debug, Serialize)]
pub struct RawCeiling {
    pub messages: u64,
    pub wall_seconds: f64,
    pub messages_per_wall_second: f64,
    pub simulated_seconds: f64,
}

/// Two nodes exchange `round_trips` ping-pongs over the transport the service uses.
#[allow(clippy::disallowed_methods)] // wall time around a whole simulation, for the figure only
pub fn raw_ceiling(round_trips: u64) -> RawCeiling {
    const PORT: u16 = 7100;
    let mut world = World::new(WorldConfig::with_seed(1));
    let (a, b) = (Node::Server(ServerId(1)), Node::Server(ServerId(2)));
    world.add_node(
        b,
        process(|_ctx| async move {
            let listener: Listener<u64, u64> = Listener::bind(PORT).await.expect("bind");
            while let Ok((tx, mut rx, _)) = listener.accept().await {
                madsim::task::spawn(async move {
                    while let Ok(x) = rx.recv().await {
                        if tx.send(x).await.is_err() {
                            return;
                        }
                    }
                });
            }
        }),
    );
    world.add_node(a, process(|_ctx| async move { std::future::pending::<()>().await }));
    let started = std::time::Instant::now();
    let (sim_secs, _) = world.run(|_nemesis| async move {
        madsim::time::sleep(Duration::from_millis(10)).await;
        let t0 = madsim::time::Instant::now();
        let node = madsim::runtime::Handle::current()
            .create_node()
            .name("bench-client")
            .ip("10.9.0.1".parse().expect("ip"))
            .build();
        node.spawn(async move {
            let (tx, mut rx) = net::connect::<u64, u64>(net::server_addr(ServerId(2), PORT)).await.expect("connect");
            for i in 0..round_trips {
                tx.send(i).await.expect("send");
                let back = rx.recv().await.expect("recv");
                assert_eq!(back, i, "ping-pong out of order");
            }
        })
        .await
        .expect("bench client");
        t0.elapsed().as_secs_f64()
    });
    let wall = started.elapsed().as_secs_f64();
    let messages = round_trips * 2;
    RawCeiling {
        messages,
        wall_seconds: wall,
        messages_per_wall_second: messages as f64 / wall,
        simulated_seconds: sim_secs,
    }
}
