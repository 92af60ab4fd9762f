//! The simulated connection (`net::connect` / `Listener`, over vendor/madsim's connection
//! channel): messages arrive in order, each at its arrival time (no later than the slowest
//! message sent before it), a busy receiver finds its backlog all there; those in flight when
//! the sender drops still arrive, then the receiver sees the end; a message sent over a clogged
//! link waits (backoff) and arrives after the link heals; a dropped receiver closes the sender.

use std::net::SocketAddr;
use std::time::Duration;
use zksim_sim::net::{connect, Listener};

const PORT: u16 = 7000;

fn addr() -> SocketAddr {
    SocketAddr::new("10.9.0.2".parse().expect("ip"), PORT)
}

/// Simulated time since the start of the run.
fn now() -> Duration {
    madsim::time::TimeHandle::current().elapsed()
}

/// Runs `client` on node a against a server on node b that records every message it receives
/// (with the time it took it) until the connection ends, busy for `busy` after the first one.
/// Returns what `client` returned and the received messages.
fn run<T: Send + 'static>(
    seed: u64,
    busy: Duration,
    client: impl FnOnce(
            madsim::task::NodeId,
            madsim::task::NodeId,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>
        + Send
        + 'static,
) -> (T, Vec<(u64, Duration)>) {
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    rt.block_on(async move {
        let h = madsim::runtime::Handle::current();
        let a = h.create_node().name("a").ip("10.9.0.1".parse().expect("ip")).build();
        let b = h.create_node().name("b").ip("10.9.0.2".parse().expect("ip")).build();
        let server = b.spawn(async move {
            let listener: Listener<u64, u64> = Listener::bind(PORT).await.expect("bind");
            let (_tx, mut rx, _) = listener.accept().await.expect("accept");
            let mut got = Vec::new();
            while let Ok(x) = rx.recv().await {
                got.push((x, now()));
                if got.len() == 1 && !busy.is_zero() {
                    madsim::time::sleep(busy).await;
                }
            }
            got
        });
        madsim::time::sleep(Duration::from_millis(10)).await;
        let (a_id, b_id) = (a.id(), b.id());
        let out = a.spawn(client(a_id, b_id)).await.expect("client");
        (out, server.await.expect("server"))
    })
}

#[test]
fn in_order_at_arrival_time_and_in_flight_messages_arrive_after_the_sender_drops() {
    for seed in 0..5 {
        let (t0, got) = run(seed, Duration::ZERO, |_, _| {
            Box::pin(async move {
                let (tx, _rx) = connect::<u64, u64>(addr()).await.expect("connect");
                let t0 = now();
                for i in 0..20 {
                    tx.send_now(i).expect("send");
                }
                drop(tx);
                t0
            })
        });
        let ids: Vec<u64> = got.iter().map(|(x, _)| *x).collect();
        assert_eq!(ids, (0..20).collect::<Vec<_>>(), "seed {seed}: in order, none lost after the drop");
        // Latency is 1..10 ms (madsim's default): none arrives sooner than 1 ms, and a burst sent
        // at once is all there 10 ms later (madsim's original stream took 20 ms or more: one
        // message per simulated millisecond).
        assert!(got[0].1 >= t0 + Duration::from_millis(1), "seed {seed}: {got:?}");
        for w in got.windows(2) {
            assert!(w[1].1 >= w[0].1, "seed {seed}: arrival times never go back: {got:?}");
        }
        assert!(got[19].1 <= t0 + Duration::from_millis(11), "seed {seed}: {got:?}");
    }
}

#[test]
fn a_busy_receiver_finds_its_backlog_all_there() {
    // Busy (say, an fsync) for 50 ms after the first message, while the rest arrives.
    let busy = Duration::from_millis(50);
    let ((), got) = run(1, busy, |_, _| {
        Box::pin(async move {
            let (tx, _rx) = connect::<u64, u64>(addr()).await.expect("connect");
            for i in 0..20 {
                tx.send_now(i).expect("send");
            }
        })
    });
    assert_eq!(got.iter().map(|(x, _)| *x).collect::<Vec<_>>(), (0..20).collect::<Vec<_>>());
    // All at the instant the receiver is back (madsim's clock steps 50 ns past a timer).
    let back = got[1].1;
    assert!(back >= got[0].1 + busy && back < got[0].1 + busy + Duration::from_millis(1), "{got:?}");
    assert!(got[1..].iter().all(|(_, t)| *t == back), "the backlog is taken at once: {got:?}");
}

#[test]
fn a_message_on_a_clogged_link_arrives_after_it_heals() {
    for seed in 0..5 {
        let ((t0, healed), got) = run(seed, Duration::ZERO, |a, b| {
            Box::pin(async move {
                let (tx, _rx) = connect::<u64, u64>(addr()).await.expect("connect");
                let net = madsim::net::NetSim::current();
                net.clog_link(a, b);
                let t0 = now();
                tx.send_now(1).expect("send");
                tx.send_now(2).expect("send");
                madsim::time::sleep(Duration::from_millis(50)).await;
                net.unclog_link(a, b);
                let healed = now();
                // Keep the connection open until both arrived (backoff 1, 2, 4, ... ms).
                madsim::time::sleep(Duration::from_millis(200)).await;
                (t0, healed)
            })
        });
        assert_eq!(got.iter().map(|(x, _)| *x).collect::<Vec<_>>(), vec![1, 2], "seed {seed}");
        assert!(got[0].1 > healed, "seed {seed}: arrived while clogged: {got:?} (sent {t0:?})");
        assert!(got[1].1 < healed + Duration::from_millis(100), "seed {seed}: {got:?}");
    }
}

#[test]
fn a_dropped_receiver_closes_the_sender() {
    let rt = madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default());
    rt.block_on(async move {
        let h = madsim::runtime::Handle::current();
        let a = h.create_node().name("a").ip("10.9.0.1".parse().expect("ip")).build();
        let b = h.create_node().name("b").ip("10.9.0.2".parse().expect("ip")).build();
        b.spawn(async move {
            let listener: Listener<u64, u64> = Listener::bind(PORT).await.expect("bind");
            let (_tx, rx, _) = listener.accept().await.expect("accept");
            madsim::time::sleep(Duration::from_millis(20)).await;
            drop(rx);
            std::future::pending::<()>().await;
        });
        madsim::time::sleep(Duration::from_millis(10)).await;
        a.spawn(async move {
            let (tx, _rx) = connect::<u64, u64>(addr()).await.expect("connect");
            tx.send_now(1).expect("open connection accepts a send");
            assert!(!tx.is_closed());
            madsim::time::sleep(Duration::from_millis(50)).await;
            assert!(tx.is_closed(), "the receiver was dropped");
            assert!(tx.send_now(2).is_err(), "a send on a closed connection fails");
        })
        .await
        .expect("client");
    });
}
