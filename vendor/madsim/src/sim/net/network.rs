use super::{Payload, PayloadReceiver, PayloadSender};
use crate::{rand::*, task::NodeId};
use serde::{Deserialize, Serialize};
use std::{
    any::Any,
    collections::hash_map::Entry,
    hash::{BuildHasherDefault, Hash, Hasher},
    io,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    ops::Range,
    sync::Arc,
    time::Duration,
};
use tracing::*;

use rand::distributions::{Distribution, Uniform};

// zksim patch: every send looks up these maps about six times; with std's SipHash that was
// ~10% of a zksim simulation's instructions. A multiply-rotate hash (FxHash's) over the small
// keys here (node ids, IP addresses, socket addresses) costs a few instructions. The maps are
// only looked up, never iterated in an order that matters, and the hash is fixed, not seeded.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        for b in chunks.remainder() {
            self.add(*b as u64);
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FxHasher>>;
type HashSet<K> = std::collections::HashSet<K, BuildHasherDefault<FxHasher>>;

/// A simulated network.
///
/// This object manages the links and address resolution.
/// It doesn't care about specific communication protocol.
pub(crate) struct Network {
    rand: GlobalRng,
    config: Config,
    stat: Stat,
    nodes: HashMap<NodeId, Node>,
    /// Maps the global IP to its node.
    addr_to_node: HashMap<IpAddr, NodeId>,
    clogged_node_in: HashSet<NodeId>,
    clogged_node_out: HashSet<NodeId>,
    clogged_link: HashSet<(NodeId, NodeId)>,
    /// zksim patch: bumped by every change that can alter where a send goes (a node added or
    /// reset, an IP set, a socket bound or closed), so a connection's cached route
    /// ([`LinkCache`]) is recomputed only after such a change.
    epoch: u64,
    /// zksim patch: `Uniform::new(send_latency)`, built once per configuration instead of at
    /// every send (`gen_range` on a `Range<Duration>` builds exactly this sampler and samples it
    /// once: the same draws, the same values). `None` if the range is empty (then `gen_range`
    /// panics at the send, as before).
    latency: Option<Uniform<Duration>>,
}

/// zksim patch: where a connection's sends go, cached by the sender side of a connection (its
/// source node, destination address and protocol never change) and valid while the network's
/// epoch is unchanged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkCache {
    /// The network's epoch when `route` was computed; `u64::MAX` before the first send.
    epoch: u64,
    route: Route,
}

impl Default for LinkCache {
    fn default() -> Self {
        LinkCache {
            epoch: u64::MAX,
            route: Route::Uncached,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Route {
    /// The destination resolves to `dst_node` (the link is tested: clogs and the draws), and a
    /// socket there receives the message iff `deliverable`.
    To { dst_node: NodeId, deliverable: bool },
    /// An unusual case (the destination does not resolve, with a warning at every send, or the
    /// source IP is missing): take the full path every time.
    Uncached,
}

/// A node in the network.
#[derive(Default)]
struct Node {
    /// IP address of the node.
    ///
    /// NOTE: now a node can have at most one IP address.
    ip: Option<IpAddr>,
    /// Sockets in the node.
    sockets: HashMap<(SocketAddr, IpProtocol), Arc<dyn Socket>>,
}

#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    Tcp,
    Udp,
}

/// Upper-level protocol should implement its own socket type.
pub trait Socket: Any + Send + Sync {
    /// Deliver a message from other socket.
    fn deliver(&self, _src: SocketAddr, _dst: SocketAddr, _msg: Payload) {}

    /// A new connection request.
    fn new_connection(
        &self,
        _src: SocketAddr,
        _dst: SocketAddr,
        _tx: PayloadSender,
        _rx: PayloadReceiver,
    ) {
    }
}

/// Network configurations.
#[cfg_attr(docsrs, doc(cfg(madsim)))]
#[derive(Debug, Serialize, Deserialize, PartialEq, Clone)]
pub struct Config {
    /// Possibility of packet loss.
    #[serde(default)]
    pub packet_loss_rate: f64,
    /// The latency range of sending packets.
    #[serde(default = "default_send_latency")]
    pub send_latency: Range<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            packet_loss_rate: 0.0,
            send_latency: default_send_latency(),
        }
    }
}

const fn default_send_latency() -> Range<Duration> {
    Duration::from_millis(1)..Duration::from_millis(10)
}

#[allow(clippy::derived_hash_with_manual_eq)]
impl Hash for Config {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.packet_loss_rate.to_bits().hash(state);
        self.send_latency.hash(state);
    }
}

/// Network statistics.
#[cfg_attr(docsrs, doc(cfg(madsim)))]
#[derive(Debug, Default, Clone)]
pub struct Stat {
    /// Total number of messages.
    pub msg_count: u64,
}

/// Direction of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    In,
    Out,
    Both,
}

impl Network {
    pub fn new(rand: GlobalRng, config: Config) -> Self {
        Self {
            rand,
            stat: Stat::default(),
            nodes: HashMap::default(),
            addr_to_node: HashMap::default(),
            clogged_node_in: HashSet::default(),
            clogged_node_out: HashSet::default(),
            clogged_link: HashSet::default(),
            epoch: 0,
            latency: latency_sampler(&config.send_latency),
            config,
        }
    }

    pub fn update_config(&mut self, f: impl FnOnce(&mut Config)) {
        f(&mut self.config);
        self.latency = latency_sampler(&self.config.send_latency);
    }

    pub fn stat(&self) -> &Stat {
        &self.stat
    }

    pub fn insert_node(&mut self, id: NodeId) {
        debug!(%id, "insert_node");
        self.epoch += 1;
        self.nodes.insert(id, Default::default());
    }

    pub fn reset_node(&mut self, id: NodeId) {
        debug!(%id, "reset_node");
        self.epoch += 1;
        let node = self.nodes.get_mut(&id).expect("node not found");
        // close all sockets
        node.sockets.clear();
    }

    pub fn set_ip(&mut self, id: NodeId, ip: IpAddr) {
        debug!(%id, ?ip, "set_node_ip");
        self.epoch += 1;
        let node = self.nodes.get_mut(&id).expect("node not found");
        if let Some(old_ip) = node.ip.replace(ip) {
            self.addr_to_node.remove(&old_ip);
        }
        let old_node = self.addr_to_node.insert(ip, id);
        if let Some(old_node) = old_node {
            panic!("IP conflict: {ip} {old_node}");
        }
        // TODO: what if we change the IP when there are opening sockets?
    }

    pub fn clog_node(&mut self, id: NodeId, direction: Direction) {
        assert!(self.nodes.contains_key(&id), "node not found");
        debug!(%id, ?direction, "clog_node");
        if matches!(direction, Direction::In | Direction::Both) {
            self.clogged_node_in.insert(id);
        }
        if matches!(direction, Direction::Out | Direction::Both) {
            self.clogged_node_out.insert(id);
        }
    }

    pub fn unclog_node(&mut self, id: NodeId, direction: Direction) {
        assert!(self.nodes.contains_key(&id), "node not found");
        debug!(%id, ?direction, "unclog_node");
        if matches!(direction, Direction::In | Direction::Both) {
            self.clogged_node_in.remove(&id);
        }
        if matches!(direction, Direction::Out | Direction::Both) {
            self.clogged_node_out.remove(&id);
        }
    }

    pub fn clog_link(&mut self, src: NodeId, dst: NodeId) {
        assert!(self.nodes.contains_key(&src), "node not found");
        assert!(self.nodes.contains_key(&dst), "node not found");
        debug!(?src, ?dst, "clog_link");
        self.clogged_link.insert((src, dst));
    }

    pub fn unclog_link(&mut self, src: NodeId, dst: NodeId) {
        assert!(self.nodes.contains_key(&src), "node not found");
        assert!(self.nodes.contains_key(&dst), "node not found");
        debug!(?src, ?dst, "unclog_link");
        self.clogged_link.remove(&(src, dst));
    }

    /// Returns whether the link from `src` to `dst` is clogged.
    pub fn link_clogged(&self, src: NodeId, dst: NodeId) -> bool {
        self.clogged_node_out.contains(&src)
            || self.clogged_node_in.contains(&dst)
            || self.clogged_link.contains(&(src, dst))
    }

    /// Bind a socket to the specified address.
    pub fn bind(
        &mut self,
        node_id: NodeId,
        mut addr: SocketAddr,
        protocol: IpProtocol,
        socket: Arc<dyn Socket>,
    ) -> io::Result<SocketAddr> {
        let node = self.nodes.get_mut(&node_id).expect("node not found");
        // check IP address
        if !addr.ip().is_unspecified()
            && !addr.ip().is_loopback()
            && matches!(node.ip, Some(ip) if addr.ip() != ip)
        {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("invalid address: {addr}"),
            ));
        }
        // resolve port if unspecified
        if addr.port() == 0 {
            let port = (1..=u16::MAX)
                .find(|&port| {
                    !node
                        .sockets
                        .contains_key(&((addr.ip(), port).into(), protocol))
                })
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::AddrInUse, "no available ephemeral port")
                })?;
            addr.set_port(port);
        }
        // insert socket
        match node.sockets.entry((addr, protocol)) {
            Entry::Occupied(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("address already in use: {addr}"),
                ))
            }
            Entry::Vacant(o) => {
                o.insert(socket);
                self.epoch += 1;
            }
        }
        debug!(node = %node_id, ?addr, "bind");
        Ok(addr)
    }

    /// Close a socket.
    pub fn close(&mut self, node: NodeId, addr: SocketAddr, protocol: IpProtocol) {
        debug!(%node, ?addr, ?protocol, "close");
        let node = self.nodes.get_mut(&node).expect("node not found");
        node.sockets.remove(&(addr, protocol));
        self.epoch += 1;
    }

    /// Returns the latency of sending a packet. If packet loss, returns `None`.
    fn test_link(&mut self, src: NodeId, dst: NodeId) -> Option<Duration> {
        // zksim patch: skip the clog sets while nothing is clogged (three hash lookups a send)
        // and the loss draw while the loss rate is zero (a random draw that cannot succeed).
        let clogged = !(self.clogged_node_out.is_empty()
            && self.clogged_node_in.is_empty()
            && self.clogged_link.is_empty())
            && self.link_clogged(src, dst);
        let lost = !clogged
            && self.config.packet_loss_rate > 0.0
            && self.rand.gen_bool(self.config.packet_loss_rate);
        if clogged || lost {
            None
        } else {
            self.stat.msg_count += 1;
            // TODO: special value for loopback
            Some(match &self.latency {
                Some(latency) => latency.sample(&mut self.rand),
                None => self.rand.gen_range(self.config.send_latency.clone()),
            })
        }
    }

    /// Resolve destination node from IP address.
    pub fn resolve_dest_node(
        &self,
        node: NodeId,
        dst: SocketAddr,
        protocol: IpProtocol,
    ) -> Option<NodeId> {
        let node0 = self.nodes.get(&node).expect("node not found");
        if dst.ip().is_loopback() || node0.sockets.contains_key(&(dst, protocol)) {
            Some(node)
        } else if node0.ip.is_none() {
            warn!("ip not set: {node}");
            None
        } else if let Some(x) = self.addr_to_node.get(&dst.ip()) {
            Some(*x)
        } else {
            warn!("destination not found: {dst}");
            None
        }
    }

    /// Try sending a message to the destination.
    ///
    /// If destination is not found or packet loss, returns `None`.
    /// Otherwise returns the source IP, socket and latency.
    pub fn try_send(
        &mut self,
        node: NodeId,
        dst: SocketAddr,
        protocol: IpProtocol,
    ) -> Option<(IpAddr, NodeId, Arc<dyn Socket>, Duration)> {
        let dst_node = self.resolve_dest_node(node, dst, protocol)?;
        let latency = self.test_link(node, dst_node)?;
        let sockets = &self.nodes.get(&dst_node)?.sockets;
        let ep = (sockets.get(&(dst, protocol)))
            .or_else(|| sockets.get(&((Ipv4Addr::UNSPECIFIED, dst.port()).into(), protocol)))?;
        let src_ip = if dst.ip().is_loopback() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            self.nodes.get(&node).expect("node not found").ip.unwrap()
        };
        Some((src_ip, dst_node, ep.clone(), latency))
    }

    /// zksim patch: `try_send(node, dst, protocol).map(|(.., latency)| latency)` (the same
    /// draws, the same result), with the route looked up once per network epoch (`cache`)
    /// instead of three to five hash lookups and an `Arc` clone and drop per send.
    pub(crate) fn link_latency(
        &mut self,
        cache: &mut LinkCache,
        node: NodeId,
        dst: SocketAddr,
        protocol: IpProtocol,
    ) -> Option<Duration> {
        if cache.epoch != self.epoch {
            cache.route = self.route(node, dst, protocol);
            cache.epoch = self.epoch;
        }
        match cache.route {
            Route::To {
                dst_node,
                deliverable,
            } => {
                // `try_send`: the link test (clogs, loss and latency draws), then the socket.
                let latency = self.test_link(node, dst_node)?;
                deliverable.then_some(latency)
            }
            Route::Uncached => self
                .try_send(node, dst, protocol)
                .map(|(_, _, _, latency)| latency),
        }
    }

    /// Where `try_send` sends (see [`Route`]), from the current nodes, IPs and sockets.
    fn route(&self, node: NodeId, dst: SocketAddr, protocol: IpProtocol) -> Route {
        let node0 = self.nodes.get(&node).expect("node not found");
        // `resolve_dest_node` without its warnings: a failure is left to `try_send`.
        let dst_node = if dst.ip().is_loopback() || node0.sockets.contains_key(&(dst, protocol)) {
            node
        } else if node0.ip.is_none() {
            return Route::Uncached;
        } else if let Some(x) = self.addr_to_node.get(&dst.ip()) {
            *x
        } else {
            return Route::Uncached;
        };
        let deliverable = self.nodes.get(&dst_node).is_some_and(|n| {
            n.sockets.contains_key(&(dst, protocol))
                || (n.sockets).contains_key(&((Ipv4Addr::UNSPECIFIED, dst.port()).into(), protocol))
        });
        if deliverable && !dst.ip().is_loopback() && node0.ip.is_none() {
            // `try_send` panics on the missing source IP: leave it to do so.
            return Route::Uncached;
        }
        Route::To {
            dst_node,
            deliverable,
        }
    }
}

/// zksim patch: the sampler `gen_range(range)` builds (see `Network::latency`).
fn latency_sampler(range: &Range<Duration>) -> Option<Uniform<Duration>> {
    (range.start < range.end).then(|| Uniform::new(range.start, range.end))
}
