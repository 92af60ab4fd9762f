//! The nemesis: every fault zksim can inject, each recorded in the history when applied.
//!
//! Injects: symmetric partitions into groups, one-way link loss, isolation of one node, heal;
//! crash (the disk loses what was not fsynced, optionally tearing the last record) and restart;
//! process pause and resume (timers and messages wait); message loss rate and latency range;
//! session expiry through the service (once the service installs its expirer).
//! Cannot inject: clock skew (madsim has one clock), disk corruption of synced data, message
//! duplication (the transport is TCP-like: see `net`).

use crate::recorder::Recorder;
use crate::rng::SimRng;
use crate::world::Disks;
use madsim::net::NetSim;
use madsim::runtime::Handle;
use madsim::task::NodeId;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zksim_model::{Event, Fault, Node, Role, SessionId};

/// Why a fault could not be applied.
#[derive(Clone, Debug, PartialEq)]
pub enum NemesisError {
    UnknownNode(Node),
    /// The node is not in the state the fault needs (e.g. restarting a node that is up).
    WrongState {
        node: Node,
        fault: &'static str,
        state: NodeState,
    },
    /// A partition needs at least two non-empty groups, each node in at most one.
    BadPartition(String),
    /// Session expiry needs the service's expirer, and the service to accept it.
    Expiry(String),
    BadRate(f64),
}

impl fmt::Display for NemesisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NemesisError::UnknownNode(n) => write!(f, "no node named {n} in this world"),
            NemesisError::WrongState { node, fault, state } => write!(f, "cannot {fault} {node}: it is {state:?}"),
            NemesisError::BadPartition(why) => write!(f, "bad partition: {why}"),
            NemesisError::Expiry(why) => write!(f, "cannot expire session: {why}"),
            NemesisError::BadRate(r) => write!(f, "loss rate must be within 0..=1, got {r}"),
        }
    }
}

impl std::error::Error for NemesisError {}

/// What the nemesis believes about a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeState {
    Up,
    Paused,
    Crashed,
}

/// Asks the service to expire a session (installed by the service).
pub type Expirer = Arc<dyn Fn(SessionId) -> Pin<Box<dyn Future<Output = Result<(), String>>>> + Send + Sync>;

struct State {
    node_state: BTreeMap<Node, NodeState>,
    clogged_links: BTreeSet<(Node, Node)>,
    isolated: BTreeSet<Node>,
    expirer: Option<Expirer>,
}

/// Applies faults to the running world. Clones share it.
#[derive(Clone)]
pub struct Nemesis {
    handle: Handle,
    nodes: Arc<BTreeMap<Node, NodeId>>,
    disks: Disks,
    recorder: Recorder,
    state: Arc<Mutex<State>>,
    rng: Arc<Mutex<SimRng>>,
}

impl Nemesis {
    pub(crate) fn new(
        handle: Handle,
        nodes: BTreeMap<Node, NodeId>,
        disks: Disks,
        recorder: Recorder,
        rng: SimRng,
    ) -> Nemesis {
        let node_state = nodes.keys().map(|n| (*n, NodeState::Up)).collect();
        Nemesis {
            handle,
            nodes: Arc::new(nodes),
            disks,
            recorder,
            state: Arc::new(Mutex::new(State {
                node_state,
                clogged_links: BTreeSet::new(),
                isolated: BTreeSet::new(),
                expirer: None,
            })),
            rng: Arc::new(Mutex::new(rng)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The nemesis's own random stream (for randomized fault schedules).
    pub fn with_rng<T>(&self, f: impl FnOnce(&mut SimRng) -> T) -> T {
        f(&mut self.rng.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Every node of the world.
    pub fn nodes(&self) -> Vec<Node> {
        self.nodes.keys().copied().collect()
    }

    /// What the nemesis believes about `node`.
    pub fn node_state(&self, node: Node) -> Option<NodeState> {
        self.lock().node_state.get(&node).copied()
    }

    /// The history recorder.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    fn id(&self, node: Node) -> Result<NodeId, NemesisError> {
        self.nodes.get(&node).copied().ok_or(NemesisError::UnknownNode(node))
    }

    fn record(&self, fault: Fault) {
        self.recorder.record(Event::Fault { fault });
    }

    fn clog(&self, st: &mut State, from: Node, to: Node) -> Result<(), NemesisError> {
        let (a, b) = (self.id(from)?, self.id(to)?);
        if st.clogged_links.insert((from, to)) {
            NetSim::current().clog_link(a, b);
        }
        Ok(())
    }

    /// Splits the listed nodes into groups that cannot talk to each other. Unlisted nodes keep
    /// talking to everyone.
    pub fn partition(&self, groups: Vec<Vec<Node>>) -> Result<(), NemesisError> {
        let mut seen = BTreeSet::new();
        for n in groups.iter().flatten() {
            self.id(*n)?;
            if !seen.insert(*n) {
                return Err(NemesisError::BadPartition(format!("{n} is in two groups")));
            }
        }
        if groups.iter().filter(|g| !g.is_empty()).count() < 2 {
            return Err(NemesisError::BadPartition("needs at least two non-empty groups".into()));
        }
        let mut st = self.lock();
        for (i, g) in groups.iter().enumerate() {
            for (j, h) in groups.iter().enumerate() {
                if i != j {
                    for a in g {
                        for b in h {
                            self.clog(&mut st, *a, *b)?;
                        }
                    }
                }
            }
        }
        drop(st);
        self.record(Fault::Partition { groups });
        Ok(())
    }

    /// Loses every message from a node in `from` to a node in `to`; the reverse still flows.
    pub fn partition_one_way(&self, from: Vec<Node>, to: Vec<Node>) -> Result<(), NemesisError> {
        if from.is_empty() || to.is_empty() {
            return Err(NemesisError::BadPartition("one-way partition needs both sides".into()));
        }
        if let Some(n) = from.iter().find(|n| to.contains(n)) {
            return Err(NemesisError::BadPartition(format!("{n} is on both sides")));
        }
        let mut st = self.lock();
        for a in &from {
            for b in &to {
                self.clog(&mut st, *a, *b)?;
            }
        }
        drop(st);
        self.record(Fault::PartitionOneWay { from, to });
        Ok(())
    }

    /// Cuts `node` off from every other node.
    pub fn isolate(&self, node: Node) -> Result<(), NemesisError> {
        let id = self.id(node)?;
        if self.lock().isolated.insert(node) {
            NetSim::current().clog_node(id);
        }
        self.record(Fault::Isolate { node });
        Ok(())
    }

    /// Removes every partition and isolation.
    pub fn heal(&self) {
        let mut st = self.lock();
        let net = NetSim::current();
        for (a, b) in std::mem::take(&mut st.clogged_links) {
            net.unclog_link(self.nodes[&a], self.nodes[&b]);
        }
        for n in std::mem::take(&mut st.isolated) {
            net.unclog_node(self.nodes[&n]);
        }
        drop(st);
        self.record(Fault::Heal);
    }

    /// True while any partition or isolation is in force.
    pub fn is_partitioned(&self) -> bool {
        let st = self.lock();
        !st.clogged_links.is_empty() || !st.isolated.is_empty()
    }

    fn expect_state(&self, node: Node, fault: &'static str, want: NodeState) -> Result<NodeId, NemesisError> {
        let id = self.id(node)?;
        let state = self.node_state(node).ok_or(NemesisError::UnknownNode(node))?;
        if state != want {
            return Err(NemesisError::WrongState { node, fault, state });
        }
        Ok(id)
    }

    fn set_state(&self, node: Node, state: NodeState) {
        self.lock().node_state.insert(node, state);
    }

    /// Kills `node`'s process. Its disk keeps only what was fsynced; with `torn`, the first
    /// unsynced record is left half-written.
    pub fn crash(&self, node: Node, torn: bool) -> Result<(), NemesisError> {
        let id = self.id(node)?;
        match self.node_state(node) {
            Some(NodeState::Up) | Some(NodeState::Paused) => {}
            Some(state) => return Err(NemesisError::WrongState { node, fault: "crash", state }),
            None => return Err(NemesisError::UnknownNode(node)),
        }
        self.handle.kill(id);
        self.disks.crash(node, torn);
        self.set_state(node, NodeState::Crashed);
        self.record(Fault::Crash { node, torn });
        if let Node::Server(server) = node {
            self.recorder.record(Event::Role { server, role: Role::Down, epoch: 0 });
        }
        Ok(())
    }

    /// Starts a crashed node again; its process recovers from its disk.
    pub fn restart(&self, node: Node) -> Result<(), NemesisError> {
        let id = self.expect_state(node, "restart", NodeState::Crashed)?;
        self.handle.restart(id);
        self.set_state(node, NodeState::Up);
        self.record(Fault::Restart { node });
        Ok(())
    }

    /// Freezes `node`'s process: no task runs, timers and messages wait for [`Nemesis::resume`].
    pub fn pause(&self, node: Node) -> Result<(), NemesisError> {
        let id = self.expect_state(node, "pause", NodeState::Up)?;
        self.handle.pause(id);
        self.set_state(node, NodeState::Paused);
        self.record(Fault::Pause { node });
        Ok(())
    }

    /// Lets a paused node run again.
    pub fn resume(&self, node: Node) -> Result<(), NemesisError> {
        let id = self.expect_state(node, "resume", NodeState::Paused)?;
        self.handle.resume(id);
        self.set_state(node, NodeState::Up);
        self.record(Fault::Resume { node });
        Ok(())
    }

    /// Sets the probability that a message is lost (TCP-like links retransmit it later).
    pub fn set_loss_rate(&self, rate: f64) -> Result<(), NemesisError> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(NemesisError::BadRate(rate));
        }
        NetSim::current().update_config(|c| c.packet_loss_rate = rate);
        self.record(Fault::SetLossRate { rate });
        Ok(())
    }

    /// Sets the message latency range.
    pub fn set_latency(&self, latency_ms_min: u64, latency_ms_max: u64) {
        let hi = latency_ms_max.max(latency_ms_min);
        NetSim::current()
            .update_config(|c| c.send_latency = Duration::from_millis(latency_ms_min)..Duration::from_millis(hi + 1));
        self.record(Fault::SetLatency { latency_ms_min, latency_ms_max: hi });
    }

    /// Installs the service's way of expiring a session.
    pub fn set_expirer(&self, expirer: Expirer) {
        self.lock().expirer = Some(expirer);
    }

    /// Asks the service to expire `session` now.
    pub async fn expire_session(&self, session: SessionId) -> Result<(), NemesisError> {
        let expirer =
            self.lock().expirer.clone().ok_or_else(|| NemesisError::Expiry("no service expirer installed".into()))?;
        self.record(Fault::ExpireSession { session });
        expirer(session).await.map_err(NemesisError::Expiry)
    }
}
