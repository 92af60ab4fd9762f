//! The simulated world: a madsim runtime holding an ensemble of server nodes and client nodes
//! with stable names and addresses, their disks, the history recorder, and the nemesis.
//!
//! A run is: build a [`World`] from a seed and a [`WorldConfig`], add a process per node, then
//! [`World::run`] a driver (the scenario) that sleeps in simulated time and injects faults
//! through the [`Nemesis`]. When the driver returns, the world stops and the history is taken.

use crate::disk::{Crashable, Disk};
use crate::nemesis::Nemesis;
use crate::net::node_ip;
use crate::recorder::Recorder;
use crate::rng::Seeds;
use madsim::runtime::Runtime;
use madsim::task::NodeId;
use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zksim_model::Node;

/// The shape of the world and of its network, before any fault.
#[derive(Clone, Debug, PartialEq)]
pub struct WorldConfig {
    /// Root seed: madsim's scheduler and network draw from it, and every zksim stream is derived
    /// from it.
    pub seed: u64,
    /// Message latency range, in simulated milliseconds.
    pub latency_ms_min: u64,
    pub latency_ms_max: u64,
    /// Probability that a message is lost (and retransmitted, arriving late).
    pub loss_rate: f64,
    /// fsync latency range, in simulated milliseconds.
    pub fsync_ms_min: u64,
    pub fsync_ms_max: u64,
    /// The run aborts if simulated time passes this (a hung run is a failure, not a hang).
    pub time_limit: Duration,
}

impl WorldConfig {
    /// Defaults: 1–5 ms latency, no loss, 1–4 ms fsync, 1 hour limit.
    pub fn with_seed(seed: u64) -> WorldConfig {
        WorldConfig {
            seed,
            latency_ms_min: 1,
            latency_ms_max: 5,
            loss_rate: 0.0,
            fsync_ms_min: 1,
            fsync_ms_max: 4,
            time_limit: Duration::from_secs(3600),
        }
    }
}

/// What a process gets when its node starts (and again at every restart).
pub struct ProcessCtx {
    /// Which node this is.
    pub node: Node,
    /// 0 at the first start, then 1, 2… after each restart.
    pub incarnation: u32,
    /// The run's seeds. Name streams after the node, e.g. `format!("{node}/workload")`.
    pub seeds: Seeds,
    /// The history recorder.
    pub recorder: Recorder,
    disks: Disks,
}

impl ProcessCtx {
    /// This node's disk, which survives crashes and restarts. The first call creates it.
    pub fn disk<R: Clone + Send + Sync + 'static>(&self) -> Disk<R> {
        self.disks.get_or_create(self.node, &self.seeds)
    }
}

/// A process: what a node runs, started again from scratch at each restart.
pub type Process = Arc<dyn Fn(ProcessCtx) -> Pin<Box<dyn Future<Output = ()>>> + Send + Sync>;

/// Builds a [`Process`] from an async function.
pub fn process<F, Fut>(f: F) -> Process
where
    F: Fn(ProcessCtx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    Arc::new(move |ctx| Box::pin(f(ctx)))
}

/// The disks of all nodes, kept outside the nodes so they survive crashes.
#[derive(Clone)]
pub(crate) struct Disks {
    inner: Arc<Mutex<DisksInner>>,
}

struct DisksInner {
    typed: BTreeMap<Node, Arc<dyn Any + Send + Sync>>,
    crashable: BTreeMap<Node, Arc<dyn Crashable>>,
    fsync_ms: (u64, u64),
}

impl Disks {
    fn new(fsync_ms: (u64, u64)) -> Disks {
        Disks {
            inner: Arc::new(Mutex::new(DisksInner { typed: BTreeMap::new(), crashable: BTreeMap::new(), fsync_ms })),
        }
    }

    fn get_or_create<R: Clone + Send + Sync + 'static>(&self, node: Node, seeds: &Seeds) -> Disk<R> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = inner.typed.get(&node) {
            return existing
                .clone()
                .downcast::<Disk<R>>()
                .map(|d| (*d).clone())
                .unwrap_or_else(|_| panic!("{node}'s disk was created with another record type"));
        }
        let (lo, hi) = inner.fsync_ms;
        let disk: Disk<R> = Disk::new(seeds.stream(&format!("{node}/disk")), lo, hi);
        inner.typed.insert(node, Arc::new(disk.clone()));
        inner.crashable.insert(node, Arc::new(disk.clone()));
        disk
    }

    /// Crashes `node`'s disk, if it has one.
    pub(crate) fn crash(&self, node: Node, torn: bool) {
        let disk = self.inner.lock().unwrap_or_else(|e| e.into_inner()).crashable.get(&node).cloned();
        if let Some(d) = disk {
            d.crash(torn);
        }
    }
}

/// A simulated world, ready to run once.
pub struct World {
    rt: Runtime,
    config: WorldConfig,
    seeds: Seeds,
    recorder: Recorder,
    nodes: BTreeMap<Node, NodeId>,
    disks: Disks,
}

impl World {
    /// An empty world for `config`.
    pub fn new(config: WorldConfig) -> World {
        let mut madsim_config = madsim::Config::default();
        madsim_config.net.send_latency = Duration::from_millis(config.latency_ms_min)
            ..Duration::from_millis(config.latency_ms_max.max(config.latency_ms_min) + 1);
        madsim_config.net.packet_loss_rate = config.loss_rate;
        let mut rt = Runtime::with_seed_and_config(config.seed, madsim_config);
        rt.set_time_limit(config.time_limit);
        let seeds = Seeds::new(config.seed);
        let disks = Disks::new((config.fsync_ms_min, config.fsync_ms_max));
        World { rt, config, seeds, recorder: Recorder::new(), nodes: BTreeMap::new(), disks }
    }

    /// The configuration the world was built with.
    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    /// The run's seeds.
    pub fn seeds(&self) -> Seeds {
        self.seeds
    }

    /// The history recorder.
    pub fn recorder(&self) -> Recorder {
        self.recorder.clone()
    }

    /// Adds `node`, running `process` (now, and again after each restart).
    pub fn add_node(&mut self, node: Node, process: Process) {
        assert!(!self.nodes.contains_key(&node), "{node} added twice");
        let incarnations = Arc::new(AtomicU32::new(0));
        let (seeds, recorder, disks) = (self.seeds, self.recorder.clone(), self.disks.clone());
        let handle = self
            .rt
            .create_node()
            .name(node.to_string())
            .ip(node_ip(node))
            .init(move || {
                let ctx = ProcessCtx {
                    node,
                    incarnation: incarnations.fetch_add(1, Ordering::Relaxed),
                    seeds,
                    recorder: recorder.clone(),
                    disks: disks.clone(),
                };
                process(ctx)
            })
            .build();
        self.nodes.insert(node, handle.id());
    }

    /// Starts the world for step-by-step driving from synchronous code (a conformance runner
    /// whose interface is not async): see [`SteppedWorld`].
    pub fn stepped(self) -> SteppedWorld {
        let nemesis = Nemesis::new(
            self.rt.handle().clone(),
            self.nodes.clone(),
            self.disks.clone(),
            self.recorder.clone(),
            self.seeds.stream("nemesis"),
        );
        SteppedWorld { rt: self.rt, nemesis, recorder: self.recorder, nodes: self.nodes }
    }

    /// Runs `driver` to completion in simulated time; the world stops when it returns.
    /// A panic in any process (a broken invariant) propagates out of here.
    pub fn run<F, Fut, T>(self, driver: F) -> (T, Recorder)
    where
        F: FnOnce(Nemesis) -> Fut,
        Fut: Future<Output = T>,
    {
        let nemesis = Nemesis::new(
            self.rt.handle().clone(),
            self.nodes.clone(),
            self.disks.clone(),
            self.recorder.clone(),
            self.seeds.stream("nemesis"),
        );
        let out = self.rt.block_on(driver(nemesis));
        shut_down(&self.rt, &self.nodes, &self.recorder);
        (out, self.recorder)
    }
}

/// Ends a run's processes so their memory is freed when the runtime is dropped. madsim does not
/// drop the futures of tasks still pending when the runtime goes: a task waiting on a channel is
/// owned by a waker that the channel, owned by the task, holds, so every run of a sweep leaked
/// its whole world (~7 MiB a seed of the standard scenario). Killing a node wakes its tasks, and
/// the executor drops a killed node's task instead of polling it, which breaks those cycles.
/// Tasks the driver spawned on madsim's main node (tests do) cannot be killed and may run one
/// last step here; what they record is dropped, so the history is what it was when the driver
/// returned.
fn shut_down(rt: &Runtime, nodes: &BTreeMap<Node, NodeId>, recorder: &Recorder) {
    let recorded = recorder.len();
    for id in nodes.values() {
        rt.handle().kill(*id);
    }
    rt.block_on(async {});
    recorder.truncate(recorded);
}

/// A world driven one step at a time: [`SteppedWorld::step`] runs a future to completion in
/// simulated time, and everything else (server processes, client tasks, timers, messages in
/// flight) runs alongside it. Between steps simulated time stands still, so a sequence of steps
/// is one deterministic run, exactly as if a single driver had awaited them in turn.
pub struct SteppedWorld {
    rt: Runtime,
    nemesis: Nemesis,
    recorder: Recorder,
    nodes: BTreeMap<Node, NodeId>,
}

impl Drop for SteppedWorld {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            shut_down(&self.rt, &self.nodes, &self.recorder);
        }
    }
}

impl SteppedWorld {
    /// Runs `fut` (as the driver) until it completes. A panic in any process propagates.
    pub fn step<T>(&self, fut: impl Future<Output = T>) -> T {
        self.rt.block_on(fut)
    }

    /// The nemesis, for faults between or within steps.
    pub fn nemesis(&self) -> &Nemesis {
        &self.nemesis
    }

    /// The history recorder.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}
