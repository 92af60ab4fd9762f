//! Benchmarks (`zksim bench`): figures printed, never asserted in tests. Each figure comes with
//! the ceiling it is measured against from the same process, so ratios survive machine changes.
//!
//! - ceilings: bare madsim `Endpoint` ping-pong between two nodes; the same over the service's
//!   transport (`zksim_sim::net`); the 5-server ensemble doing nothing but heartbeats;
//! - the standard scenario (`scenarios/bench/standard.toml`): one seed, then a small sweep on
//!   two threads, extrapolated to seeds per minute;
//! - the checkers (in `zksim_model::bench`).
//!
//! Wall-clock time is read here, around whole simulations, never inside one. Peak memory is the
//! process's `VmHWM`, reset before each measurement through `/proc/self/clear_refs` (Linux).

use crate::runner;
use crate::scenario::Scenario;
use crate::sweep::{run_jobs, RunRecord, Shard};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use zksim_model::{Event, Node, ServerId};
use zksim_sim::net::{self, Listener};
use zksim_sim::server::{server_process, ServerConfig};
use zksim_sim::{process, World, WorldConfig};

/// A message-rate figure: messages moved in a simulation and how long it took.
#[derive(Clone, Debug, Serialize)]
pub struct RawCeiling {
    pub messages: u64,
    pub wall_seconds: f64,
    pub messages_per_wall_second: f64,
    pub simulated_seconds: f64,
    pub simulated_seconds_per_wall_second: f64,
    /// Process CPU seconds (None off Linux) and the rates per CPU second.
    pub cpu_seconds: Option<f64>,
    pub messages_per_cpu_second: Option<f64>,
}

impl RawCeiling {
    fn new(messages: u64, wall_seconds: f64, cpu_seconds: Option<f64>, simulated_seconds: f64) -> RawCeiling {
        RawCeiling {
            messages,
            wall_seconds,
            messages_per_wall_second: messages as f64 / wall_seconds.max(1e-9),
            simulated_seconds,
            simulated_seconds_per_wall_second: simulated_seconds / wall_seconds.max(1e-9),
            cpu_seconds,
            messages_per_cpu_second: cpu_seconds.map(|c| messages as f64 / c.max(1e-2)),
        }
    }
}

// Wall-clock timing is the point of a benchmark; it is never used inside a simulation.
#[allow(clippy::disallowed_methods)]
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = std::time::Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64())
}

/// CPU time (user + system, all threads) of this process so far, seconds (Linux
/// `/proc/self/stat`; None elsewhere). On a shared machine wall time is inflated by others'
/// load; CPU time much less so.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// Runs `f`, returning its result, wall seconds and process CPU seconds.
fn measured<T>(f: impl FnOnce() -> T) -> (T, f64, Option<f64>) {
    let cpu0 = process_cpu_seconds();
    let (out, wall) = timed(f);
    let cpu = cpu0.zip(process_cpu_seconds()).map(|(a, b)| b - a);
    (out, wall, cpu)
}

/// Peak resident memory since the last [`reset_peak_rss`] (Linux `VmHWM`), MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Resets the peak-RSS mark to the current RSS (Linux ≥ 4.0; a no-op elsewhere).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The bare runtime's ceiling: two madsim nodes, one `Endpoint` each, exchanging `round_trips`
/// ping-pongs with `send_to_raw`/`recv_from_raw` (no connection layer, no harness).
pub fn madsim_ping_pong(round_trips: u64) -> RawCeiling {
    let rt = madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default());
    let (sim_secs, wall, cpu) = measured(|| {
        rt.block_on(async move {
            let h = madsim::runtime::Handle::current();
            let a = h.create_node().name("ping").ip("10.9.0.1".parse().expect("ip")).build();
            let b = h.create_node().name("pong").ip("10.9.0.2".parse().expect("ip")).build();
            let pong_addr: std::net::SocketAddr = "10.9.0.2:7000".parse().expect("addr");
            b.spawn(async move {
                let ep = madsim::net::Endpoint::bind(pong_addr).await.expect("bind");
                loop {
                    let Ok((msg, from)) = ep.recv_from_raw(1).await else { return };
                    if ep.send_to_raw(from, 2, msg).await.is_err() {
                        return;
                    }
                }
            });
            // Let the pong node bind first.
            madsim::time::sleep(Duration::from_millis(10)).await;
            #[allow(clippy::disallowed_methods)] // madsim's Instant: simulated time
            let t0 = madsim::time::Instant::now();
            a.spawn(async move {
                let ep = madsim::net::Endpoint::bind("10.9.0.1:7001").await.expect("bind");
                for i in 0..round_trips {
                    ep.send_to_raw(pong_addr, 1, Box::new(i)).await.expect("send");
                    let (back, _) = ep.recv_from_raw(2).await.expect("recv");
                    assert_eq!(back.downcast_ref::<u64>(), Some(&i), "ping-pong out of order");
                }
            })
            .await
            .expect("ping");
            t0.elapsed().as_secs_f64()
        })
    });
    RawCeiling::new(round_trips * 2, wall, cpu, sim_secs)
}

/// Two nodes exchange `round_trips` ping-pongs over the transport the service uses
/// (`zksim_sim::net` connections, inside a zksim `World`).
pub fn transport_ping_pong(round_trips: u64) -> RawCeiling {
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
    let ((sim_secs, _), wall, cpu) = measured(|| {
        world.run(|_nemesis| async move {
            madsim::time::sleep(Duration::from_millis(10)).await;
            #[allow(clippy::disallowed_methods)] // madsim's Instant: simulated time
            let t0 = madsim::time::Instant::now();
            let node = madsim::runtime::Handle::current()
                .create_node()
                .name("bench-client")
                .ip("10.9.0.1".parse().expect("ip"))
                .build();
            node.spawn(async move {
                let (tx, mut rx) =
                    net::connect::<u64, u64>(net::server_addr(ServerId(2), PORT)).await.expect("connect");
                for i in 0..round_trips {
                    tx.send(i).await.expect("send");
                    let back = rx.recv().await.expect("recv");
                    assert_eq!(back, i, "ping-pong out of order");
                }
            })
            .await
            .expect("bench client");
            t0.elapsed().as_secs_f64()
        })
    });
    RawCeiling::new(round_trips * 2, wall, cpu, sim_secs)
}

/// Kept for callers of the first version of this module: the transport ping-pong.
pub fn raw_ceiling(round_trips: u64) -> RawCeiling {
    transport_ping_pong(round_trips)
}

/// The 5-server ensemble with no clients for `sim_seconds`: leader election, then heartbeats only.
pub fn heartbeats_only(sim_seconds: u64) -> RawCeiling {
    let servers: Vec<ServerId> = (1..=5).map(ServerId).collect();
    let mut world = World::new(WorldConfig::with_seed(1));
    for id in &servers {
        world.add_node(Node::Server(*id), server_process(ServerConfig::new(*id, servers.clone())));
    }
    let before = net::messages_sent_on_this_thread();
    let (_, wall, cpu) = measured(|| {
        world.run(|_nemesis| async move {
            madsim::time::sleep(Duration::from_secs(sim_seconds)).await;
        })
    });
    RawCeiling::new(net::messages_sent_on_this_thread() - before, wall, cpu, sim_seconds as f64)
}

/// One seed of a scenario, measured.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioFigure {
    pub scenario: String,
    pub seed: u64,
    pub passed: bool,
    pub wall_seconds: f64,
    /// Simulated time to the last history record (safety + liveness + wind-down).
    pub simulated_seconds: f64,
    pub simulated_seconds_per_wall_second: f64,
    /// Messages queued on the simulated network's connections.
    pub messages: u64,
    pub messages_per_wall_second: f64,
    /// Client operations invoked.
    pub client_ops: u64,
    pub client_ops_per_wall_second: f64,
    pub history_records: u64,
    /// Process CPU seconds of the seed (simulation and checkers), and the rates per CPU second:
    /// the one-core figures, less inflated than wall time by a shared machine's load.
    pub cpu_seconds: Option<f64>,
    pub simulated_seconds_per_cpu_second: Option<f64>,
    pub messages_per_cpu_second: Option<f64>,
    /// Peak RSS while running and judging the seed, MiB (None off Linux).
    pub peak_rss_mib: Option<f64>,
    /// Every run's wall seconds, in run order, when the figure is the median of several runs of
    /// the same seed (the rates above are the median run's; peak RSS is the first run's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wall_seconds_each: Vec<f64>,
}

/// Runs one seed of `scenario` `runs` times and keeps the run with the median wall time: on a
/// shared machine one run in several is slowed by page faults or a neighbour, and a single run
/// would report that. The runs are identical (same seed), so only the timings differ.
pub fn scenario_seed_median(scenario: &Scenario, seed: u64, runs: usize) -> ScenarioFigure {
    assert!(runs > 0, "at least one run");
    let mut figures: Vec<ScenarioFigure> = (0..runs).map(|_| scenario_seed(scenario, seed)).collect();
    assert!(
        figures.windows(2).all(|w| (w[0].messages, w[0].client_ops) == (w[1].messages, w[1].client_ops)),
        "repeated runs of one seed must be identical but for their timings"
    );
    let walls: Vec<f64> = figures.iter().map(|f| f.wall_seconds).collect();
    // The first run's peak is one seed's in a fresh process; later runs start with what the
    // allocator kept from the earlier ones.
    let first_peak = figures[0].peak_rss_mib;
    let mut order: Vec<usize> = (0..runs).collect();
    order.sort_by(|&a, &b| walls[a].total_cmp(&walls[b]));
    let mut median = figures.swap_remove(order[runs / 2]);
    median.wall_seconds_each = walls;
    median.peak_rss_mib = first_peak;
    median
}

/// Runs one seed of `scenario` (simulation and every checker, as `zksim run` does).
pub fn scenario_seed(scenario: &Scenario, seed: u64) -> ScenarioFigure {
    reset_peak_rss();
    let before = net::messages_sent_on_this_thread();
    let (out, wall, cpu) = measured(|| runner::run(scenario, seed));
    let messages = net::messages_sent_on_this_thread() - before;
    let peak = peak_rss_mib();
    let client_ops = out.history.records.iter().filter(|r| matches!(r.event, Event::Invoke { .. })).count() as u64;
    let sim = out.history.records.last().map_or(0.0, |r| r.time.0 as f64 / 1e9);
    ScenarioFigure {
        scenario: scenario.name.clone(),
        seed,
        passed: out.passed(),
        wall_seconds: wall,
        simulated_seconds: sim,
        simulated_seconds_per_wall_second: sim / wall.max(1e-9),
        messages,
        messages_per_wall_second: messages as f64 / wall.max(1e-9),
        client_ops,
        client_ops_per_wall_second: client_ops as f64 / wall.max(1e-9),
        history_records: out.history.records.len() as u64,
        cpu_seconds: cpu,
        simulated_seconds_per_cpu_second: cpu.map(|c| sim / c.max(1e-2)),
        messages_per_cpu_second: cpu.map(|c| messages as f64 / c.max(1e-2)),
        peak_rss_mib: peak,
        wall_seconds_each: Vec::new(),
    }
}

/// A small sweep of a scenario on `threads` threads, extrapolated.
#[derive(Clone, Debug, Serialize)]
pub struct SweepFigure {
    pub seeds: u64,
    pub threads: usize,
    pub wall_seconds: f64,
    /// Process CPU seconds over the sweep (both threads).
    pub cpu_seconds: Option<f64>,
    /// Extrapolated from this small sweep: `seeds / wall_seconds × 60`.
    pub seeds_per_minute: f64,
    /// The same from CPU time, as if both cores were the sweep's alone: `seeds / (cpu / threads) × 60`.
    pub seeds_per_minute_by_cpu: Option<f64>,
    /// Extrapolated: minutes for 1,000 seeds at the wall-clock rate.
    pub minutes_per_1000_seeds: f64,
    pub failed: u64,
    /// Peak RSS over the sweep, MiB: compare with one seed's (memory must not grow with seeds).
    pub peak_rss_mib: Option<f64>,
    /// Peak RSS after the first half of the seeds, MiB.
    pub peak_rss_first_half_mib: Option<f64>,
}

/// Runs seeds `first..first+seeds` of `scenario` on `threads` threads.
pub fn sweep(scenario: &Scenario, first: u64, seeds: u64, threads: usize) -> SweepFigure {
    let shard = Shard::parse("1/1").expect("1/1 is a shard");
    let run_half = |from: u64, n: u64| {
        let jobs: Vec<u64> = (from..from + n).collect();
        run_jobs(
            &jobs,
            shard,
            threads,
            |&seed| {
                let out = runner::run(scenario, seed);
                RunRecord {
                    scenario: scenario.name.clone(),
                    seed,
                    verdict: if out.passed() { "pass".into() } else { "fail".into() },
                    properties: BTreeMap::new(),
                    failure: out.first_failure(),
                    replay: String::new(),
                    sim_ms: 0,
                    ops: 0,
                    coverage: BTreeMap::new(),
                    herd: BTreeMap::new(),
                    report: None,
                }
            },
            |_, _, _| {},
        )
    };
    reset_peak_rss();
    let half = seeds / 2;
    let ((a, first_half_peak, b), wall, cpu) = measured(|| {
        let a = run_half(first, half);
        let p = peak_rss_mib();
        let b = run_half(first + half, seeds - half);
        (a, p, b)
    });
    let failed = a.iter().chain(&b).filter(|r| !r.passed()).count() as u64;
    let per_minute = seeds as f64 / wall.max(1e-9) * 60.0;
    SweepFigure {
        seeds,
        threads,
        wall_seconds: wall,
        cpu_seconds: cpu,
        seeds_per_minute: per_minute,
        seeds_per_minute_by_cpu: cpu.map(|c| seeds as f64 / (c / threads as f64).max(1e-2) * 60.0),
        minutes_per_1000_seeds: 1000.0 / per_minute.max(1e-9),
        failed,
        peak_rss_mib: peak_rss_mib(),
        peak_rss_first_half_mib: first_half_peak,
    }
}

/// Loads the standard scenario from the repository (`scenarios/bench/standard.toml`).
pub fn standard_scenario() -> Result<Scenario, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/bench/standard.toml");
    Scenario::load(&path).map_err(|e| e.to_string())
}
