//! Asynchronous network endpoint and a controlled network simulator.
//!
//! # Examples
//!
//! ```
//! use madsim::{runtime::Runtime, net::Endpoint};
//! use std::sync::Arc;
//! use std::net::SocketAddr;
//!
//! let runtime = Runtime::new();
//! let addr1 = "10.0.0.1:1".parse::<SocketAddr>().unwrap();
//! let addr2 = "10.0.0.2:1".parse::<SocketAddr>().unwrap();
//! let node1 = runtime.create_node().ip(addr1.ip()).build();
//! let node2 = runtime.create_node().ip(addr2.ip()).build();
//! let barrier = Arc::new(tokio::sync::Barrier::new(2));
//! let barrier_ = barrier.clone();
//!
//! node1.spawn(async move {
//!     let net = Endpoint::bind(addr1).await.unwrap();
//!     barrier_.wait().await;  // make sure addr2 has bound
//!
//!     net.send_to(addr2, 1, &[1]).await.unwrap();
//! });
//!
//! let f = node2.spawn(async move {
//!     let net = Endpoint::bind(addr2).await.unwrap();
//!     barrier.wait().await;
//!
//!     let mut buf = vec![0; 0x10];
//!     let (len, from) = net.recv_from(1, &mut buf).await.unwrap();
//!     assert_eq!(from, addr1);
//!     assert_eq!(&buf[..len], &[1]);
//! });
//!
//! runtime.block_on(f);
//! ```

use bytes::Bytes;
use futures_util::StreamExt;
use spin::Mutex;
use std::{
    any::Any,
    collections::HashMap,
    io,
    net::{IpAddr, SocketAddr},
    sync::Arc,
};
use tokio::sync::oneshot;
use tracing::*;

use crate::{
    buggify::buggify_with_prob,
    plugin,
    rand::{GlobalRng, Rng},
    task::{NodeId, NodeInfo, Spawner},
    time::{Duration, TimeHandle},
};

mod addr;
mod dns;
mod endpoint;
pub mod ipvs;
mod network;
#[cfg(feature = "rpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "rpc")))]
pub mod rpc;
pub mod tcp;
mod udp;
pub mod unix;

pub use self::addr::{lookup_host, ToSocketAddrs};
use self::dns::DnsServer;
pub use self::endpoint::{Endpoint, Receiver, Sender};
use self::ipvs::{IpVirtualServer, ServiceAddr};
pub use self::network::{Config, Stat};
use self::network::{Direction, IpProtocol, LinkCache, Network, Socket};
pub use self::tcp::{TcpListener, TcpStream};
pub use self::udp::UdpSocket;
pub use self::unix::{UnixDatagram, UnixListener, UnixStream};

/// Network simulator.
#[cfg_attr(docsrs, doc(cfg(madsim)))]
pub struct NetSim {
    network: Mutex<Network>,
    dns: Mutex<DnsServer>,
    ipvs: IpVirtualServer,
    rand: GlobalRng,
    time: TimeHandle,
    hooks_req: Mutex<HashMap<NodeId, MsgHookFn>>,
    hooks_rsp: Mutex<HashMap<NodeId, MsgHookFn>>,
}

/// Message sent to a network socket.
pub type Payload = Box<dyn Any + Send + Sync>;

type MsgHookFn = Arc<dyn Fn(&Payload) -> bool + Send + Sync>;

impl plugin::Simulator for NetSim {
    fn new(_rand: &GlobalRng, _time: &TimeHandle, _config: &crate::Config) -> Self {
        unreachable!()
    }

    fn new1(rand: &GlobalRng, time: &TimeHandle, _task: &Spawner, config: &crate::Config) -> Self {
        NetSim {
            network: Mutex::new(Network::new(rand.clone(), config.net.clone())),
            dns: Mutex::new(DnsServer::default()),
            ipvs: IpVirtualServer::default(),
            rand: rand.clone(),
            time: time.clone(),
            hooks_req: Default::default(),
            hooks_rsp: Default::default(),
        }
    }

    fn create_node(&self, id: NodeId) {
        let mut network = self.network.lock();
        network.insert_node(id);
    }

    fn reset_node(&self, id: NodeId) {
        self.reset_node(id);
    }
}

impl NetSim {
    /// Get [`NetSim`] of the current simulator.
    pub fn current() -> Arc<Self> {
        plugin::simulator()
    }

    /// Get the statistics.
    pub fn stat(&self) -> Stat {
        self.network.lock().stat().clone()
    }

    /// Update network configurations.
    pub fn update_config(&self, f: impl FnOnce(&mut Config)) {
        let mut network = self.network.lock();
        network.update_config(f);
    }

    /// Reset a node.
    ///
    /// All connections will be closed.
    pub fn reset_node(&self, id: NodeId) {
        let mut network = self.network.lock();
        network.reset_node(id);
    }

    /// Set IP address of a node.
    pub fn set_ip(&self, node: NodeId, ip: IpAddr) {
        let mut network = self.network.lock();
        network.set_ip(node, ip);
    }

    /// Connect a node to the network.
    #[deprecated(since = "0.3.0", note = "use `unclog_node` instead")]
    pub fn connect(&self, id: NodeId) {
        self.unclog_node(id);
    }

    /// Unclog the node.
    pub fn unclog_node(&self, id: NodeId) {
        self.network.lock().unclog_node(id, Direction::Both);
    }

    /// Unclog the node for receive.
    pub fn unclog_node_in(&self, id: NodeId) {
        self.network.lock().unclog_node(id, Direction::In);
    }

    /// Unclog the node for send.
    pub fn unclog_node_out(&self, id: NodeId) {
        self.network.lock().unclog_node(id, Direction::Out);
    }

    /// Disconnect a node from the network.
    #[deprecated(since = "0.3.0", note = "use `clog_node` instead")]
    pub fn disconnect(&self, id: NodeId) {
        self.clog_node(id);
    }

    /// Clog the node.
    pub fn clog_node(&self, id: NodeId) {
        self.network.lock().clog_node(id, Direction::Both);
    }

    /// Clog the node for receive.
    pub fn clog_node_in(&self, id: NodeId) {
        self.network.lock().clog_node(id, Direction::In);
    }

    /// Clog the node for send.
    pub fn clog_node_out(&self, id: NodeId) {
        self.network.lock().clog_node(id, Direction::Out);
    }

    /// Connect a pair of nodes.
    #[deprecated(since = "0.3.0", note = "call `unclog_link` twice instead")]
    pub fn connect2(&self, node1: NodeId, node2: NodeId) {
        let mut network = self.network.lock();
        network.unclog_link(node1, node2);
        network.unclog_link(node2, node1);
    }

    /// Unclog the link from `src` to `dst`.
    pub fn unclog_link(&self, src: NodeId, dst: NodeId) {
        self.network.lock().unclog_link(src, dst);
    }

    /// Disconnect a pair of nodes.
    #[deprecated(since = "0.3.0", note = "call `clog_link` twice instead")]
    pub fn disconnect2(&self, node1: NodeId, node2: NodeId) {
        let mut network = self.network.lock();
        network.clog_link(node1, node2);
        network.clog_link(node2, node1);
    }

    /// Clog the link from `src` to `dst`.
    pub fn clog_link(&self, src: NodeId, dst: NodeId) {
        self.network.lock().clog_link(src, dst);
    }

    /// Add a DNS record for the cluster.
    pub fn add_dns_record(&self, hostname: &str, ip: IpAddr) {
        self.dns.lock().add(hostname, ip);
    }

    /// Performs a DNS lookup.
    pub(crate) fn lookup_host(&self, hostname: &str) -> Option<IpAddr> {
        self.dns.lock().lookup(hostname)
    }

    /// Get the IPVS for all nodes.
    pub fn global_ipvs(&self) -> &IpVirtualServer {
        &self.ipvs
    }

    /// Add a hook function for RPC requests.
    ///
    /// If the hook function returns `false`, the request will be dropped.
    #[cfg(feature = "rpc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rpc")))]
    pub fn hook_rpc_req<R: 'static>(
        &self,
        node: NodeId,
        f: impl Fn(&R) -> bool + Send + Sync + 'static,
    ) {
        self.hooks_req.lock().insert(
            node,
            Arc::new(move |payload| {
                if let Some((_, payload)) = payload.downcast_ref::<(u64, Payload)>() {
                    if let Some((_, msg, _)) = payload.downcast_ref::<(u64, R, Bytes)>() {
                        return f(msg);
                    }
                }
                true
            }),
        );
    }

    /// Add a hook function for RPC responses.
    ///
    /// If the hook function returns `false`, the response will be dropped.
    #[cfg(feature = "rpc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rpc")))]
    pub fn hook_rpc_rsp<R: 'static>(
        &self,
        node: NodeId,
        f: impl Fn(&R) -> bool + Send + Sync + 'static,
    ) {
        self.hooks_rsp.lock().insert(
            node,
            Arc::new(move |payload| {
                if let Some((_, payload)) = payload.downcast_ref::<(u64, Payload)>() {
                    if let Some((msg, _)) = payload.downcast_ref::<(R, Bytes)>() {
                        return f(msg);
                    }
                }
                true
            }),
        );
    }

    /// Delay a small random time and probably inject failure.
    async fn rand_delay(&self) -> io::Result<()> {
        let mut delay = Duration::from_micros(self.rand.with(|rng| rng.gen_range(0..5)));
        if buggify_with_prob(0.1) {
            delay = Duration::from_secs(self.rand.with(|rng| rng.gen_range(1..5)));
        }
        self.time.sleep(delay).await;
        // TODO: inject failure
        Ok(())
    }

    /// Send a message to the destination.
    pub(crate) async fn send(
        &self,
        node: NodeId,
        port: u16,
        mut dst: SocketAddr,
        protocol: IpProtocol,
        msg: Payload,
    ) -> io::Result<()> {
        self.rand_delay().await?;
        if let Some(hook) = self.hooks_req.lock().get(&node).cloned() {
            if !hook(&msg) {
                return Ok(());
            }
        }
        if let Some(addr) = self
            .ipvs
            .get_server(ServiceAddr::from_addr_proto(dst, protocol))
        {
            dst = addr.parse().expect("invalid socket address");
        }
        if let Some((ip, dst_node, socket, latency)) =
            self.network.lock().try_send(node, dst, protocol)
        {
            trace!(?latency, "delay");
            let hook = self.hooks_rsp.lock().get(&dst_node).cloned();
            self.time.add_timer(latency, move || {
                if let Some(hook) = hook {
                    if !hook(&msg) {
                        return;
                    }
                }
                socket.deliver((ip, port).into(), dst, msg);
            });
        }
        Ok(())
    }

    /// Opens a new connection to destination.
    // TODO: rename
    pub(crate) async fn connect1(
        self: &Arc<Self>,
        node: NodeId,
        port: u16,
        mut dst: SocketAddr,
        protocol: IpProtocol,
    ) -> io::Result<(PayloadSender, PayloadReceiver, SocketAddr)> {
        self.rand_delay().await?;
        if let Some(addr) = self
            .ipvs
            .get_server(ServiceAddr::from_addr_proto(dst, protocol))
        {
            dst = addr.parse().expect("invalid socket address");
        }
        let (ip, dst_node, socket, latency) = (self.network.lock().try_send(node, dst, protocol))
            .ok_or_else(|| {
            io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused")
        })?;
        let src = (ip, port).into();
        let (tx1, rx1) = self.channel(node, dst, protocol);
        let (tx2, rx2) = self.channel(dst_node, src, protocol);
        trace!(?latency, "delay");
        // FIXME: delay
        // self.time.add_timer(latency, move || {
        socket.new_connection(src, dst, tx2, rx1);
        // });
        Ok((tx1, rx2, src))
    }

    /// Create a reliable, ordered channel between two endpoints.
    // zksim patch: a shared state driven by timers replaces the original `async_stream` over a
    // tokio mpsc (see `Chan`).
    fn channel(
        self: &Arc<Self>,
        node: NodeId,
        dst: SocketAddr,
        protocol: IpProtocol,
    ) -> (PayloadSender, PayloadReceiver) {
        let shared = Arc::new(ChanShared {
            link: Link {
                net: self.clone(),
                node,
                dst,
                protocol,
                cache: Mutex::new(LinkCache::default()),
            },
            time: self.time.clone(),
            chan: Mutex::new(Chan::default()),
        });
        let sender = PayloadSender {
            shared: shared.clone(),
        };
        (sender, PayloadReceiver { shared })
    }
}

// zksim patch: the connection channel.
//
// The original channel was an `async_stream` over a tokio mpsc: every message woke the receiving
// task, which polled the stream, which slept until the arrival time (a timer) and returned
// Pending, and only the timer's wake-up yielded the message: two task runs and a stream state
// machine per message. Here the sender, the receiver and the timers share one state and a timer
// moves the message to the receiver, which runs once per message.
//
// The delivery times are the original's. The original stream took ("picked") a message when its
// consumer polled it with nothing in progress (at once when the receiver was already parked on
// an empty channel, else at the consumer's next poll), then waited `sleep_until(arrive)`, which
// madsim clamps to at least 1 ms after the pick: a message is ready at max(arrive, pick + 1 ms),
// one message at a time (so at most one per simulated millisecond per connection). A message
// whose link state was `None` (clogged or lost) waited a backoff of 1 ms, doubling up to 10 s,
// then asked the link again. Here the same happens: the sender picks when the receiver is parked
// on an empty channel (without waking it), the receiver picks at its poll otherwise, and a timer
// callback only marks the head ready (or due for a retry) and wakes the receiver: timer callbacks
// run under the timer's lock, so they cannot arm timers; the receiver's poll does.

/// The state of a channel shared by its sender, its receiver and its timers.
struct ChanShared {
    /// The link; `Link::test` gives its state now: `Some(arrival time)`, or `None` when the
    /// link is clogged or the message is lost.
    link: Link,
    time: TimeHandle,
    chan: Mutex<Chan>,
}

#[derive(Default)]
struct Chan {
    /// Messages sent, not yet picked, in order, with their link state at the send.
    pending: std::collections::VecDeque<(Payload, State)>,
    /// The picked message (at most one, like the original stream).
    head: Option<(Payload, Phase)>,
    /// The receiver's waker, from its last Pending poll.
    rx_waker: Option<std::task::Waker>,
    /// The receiver polled with nothing picked and nothing pending (the original stream was
    /// parked on the empty mpsc): the next send picks its message at once.
    rx_parked: bool,
    tx_dropped: bool,
    rx_dropped: bool,
    /// Tasks waiting in `PayloadSender::closed`.
    closed_wakers: Vec<std::task::Waker>,
}

/// The sender side of a connection's link: from `node` to `dst`.
struct Link {
    net: Arc<NetSim>,
    node: NodeId,
    dst: SocketAddr,
    protocol: IpProtocol,
    /// Where the sends go, valid while the network is unchanged (`Network::link_latency`).
    cache: Mutex<LinkCache>,
}

impl Link {
    /// The link state now: `Network::try_send` (the same draws, the same result), keeping only
    /// the arrival time.
    fn test(&self) -> State {
        let latency = self.net.network.lock().link_latency(
            &mut self.cache.lock(),
            self.node,
            self.dst,
            self.protocol,
        )?;
        Some(self.net.time.elapsed() + latency)
    }
}

/// What the picked message waits for.
enum Phase {
    /// A timer at its arrival time (armed).
    Delay,
    /// A timer at the end of a backoff (armed) on a clogged link.
    Backoff(Duration),
    /// The backoff is over: ask the link again at the receiver's next poll.
    Retry(Duration),
    /// Arrived: the receiver's next poll yields it.
    Ready,
}

impl Chan {
    /// Picks `msg` at `now`: returns the deadline of the timer to arm.
    fn pick(&mut self, (payload, state): (Payload, State), now: Duration) -> Duration {
        debug_assert!(self.head.is_none());
        let (phase, deadline) = match state {
            // zksim patch: the message arrives at its arrival time. (madsim's stream slept
            // `sleep_until(arrive)`, which waits at least 1 ms from when the receiver took the
            // message: a connection carried at most one message per simulated millisecond, and
            // a receiver that was busy found its backlog trickling in afterwards instead of
            // waiting, as a socket's receive buffer holds it.) Callers pick only messages whose
            // arrival is not in the past (`now + latency`), so the timer never goes back in time.
            Some(arrive) => {
                debug_assert!(arrive >= now, "a picked message arrives now or later");
                (Phase::Delay, arrive)
            }
            None => {
                let backoff = Duration::from_millis(1);
                (Phase::Backoff(backoff), now + backoff)
            }
        };
        self.head = Some((payload, phase));
        self.rx_parked = false;
        deadline
    }
}

impl ChanShared {
    /// Arms the timer of the picked message.
    fn arm(self: &Arc<Self>, deadline: Duration) {
        let weak = Arc::downgrade(self);
        self.time.add_timer_at_elapsed(deadline, move || {
            // The channel may be gone (both halves dropped) or its receiver dropped (node
            // killed): then there is nothing to do.
            let Some(shared) = weak.upgrade() else { return };
            let waker = {
                let mut chan = shared.chan.lock();
                match &mut chan.head {
                    Some((_, phase @ Phase::Delay)) => *phase = Phase::Ready,
                    Some((_, Phase::Backoff(backoff))) => {
                        let backoff = *backoff;
                        chan.head.as_mut().unwrap().1 = Phase::Retry(backoff);
                    }
                    _ => return,
                }
                chan.rx_waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        });
    }
}

#[doc(hidden)]
pub struct PayloadSender {
    shared: Arc<ChanShared>,
}

/// The link state when sending a packet.
///
/// Times in the channel (arrival times, deadlines, now) are the simulated time elapsed
/// (`TimeHandle::elapsed`), not `Instant`s: the same values (`Instant` arithmetic is exact), with
/// no `Instant` conversions per message.
type State = Option<Duration>;

impl PayloadSender {
    fn send(&self, value: Payload) -> Option<()> {
        let state = self.shared.link.test();
        let mut chan = self.shared.chan.lock();
        if chan.rx_dropped {
            drop(chan);
            drop(value);
            return None;
        }
        if chan.rx_parked {
            // The original stream was parked on the empty channel: it took the message at once.
            let deadline = chan.pick((value, state), self.shared.time.elapsed());
            drop(chan);
            self.shared.arm(deadline);
        } else {
            chan.pending.push_back((value, state));
        }
        Some(())
    }

    fn is_closed(&self) -> bool {
        self.shared.chan.lock().rx_dropped
    }

    async fn closed(&self) {
        std::future::poll_fn(|cx| {
            let mut chan = self.shared.chan.lock();
            if chan.rx_dropped {
                return std::task::Poll::Ready(());
            }
            if !chan.closed_wakers.iter().any(|w| w.will_wake(cx.waker())) {
                chan.closed_wakers.push(cx.waker().clone());
            }
            std::task::Poll::Pending
        })
        .await
    }
}

impl Drop for PayloadSender {
    fn drop(&mut self) {
        let waker = {
            let mut chan = self.shared.chan.lock();
            chan.tx_dropped = true;
            // A parked receiver learns the channel ended; otherwise it finds out at the poll
            // after the last message.
            if chan.rx_parked {
                chan.rx_waker.take()
            } else {
                None
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

#[doc(hidden)]
pub struct PayloadReceiver {
    shared: Arc<ChanShared>,
}

impl futures_util::Stream for PayloadReceiver {
    type Item = Payload;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Payload>> {
        use std::task::Poll;
        let shared = &self.shared;
        let mut chan = shared.chan.lock();
        let deadline = match chan.head.take() {
            Some((payload, Phase::Ready)) => return Poll::Ready(Some(payload)),
            Some((payload, Phase::Retry(backoff))) => {
                // The original loop: double the backoff, then ask the link again.
                let backoff = (backoff * 2).min(Duration::from_secs(10));
                let now = shared.time.elapsed();
                match shared.link.test() {
                    Some(arrive) => {
                        chan.head = Some((payload, Phase::Delay));
                        arrive
                    }
                    None => {
                        chan.head = Some((payload, Phase::Backoff(backoff)));
                        now + backoff
                    }
                }
            }
            head @ Some((_, Phase::Delay | Phase::Backoff(_))) => {
                chan.head = head;
                chan.rx_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            None => match chan.pending.pop_front() {
                // Arrived while earlier messages were being taken: yield it now.
                Some((payload, Some(arrive))) if arrive <= shared.time.elapsed() => {
                    return Poll::Ready(Some(payload));
                }
                Some(msg) => chan.pick(msg, shared.time.elapsed()),
                None if chan.tx_dropped => return Poll::Ready(None),
                None => {
                    chan.rx_parked = true;
                    chan.rx_waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            },
        };
        chan.rx_waker = Some(cx.waker().clone());
        drop(chan);
        shared.arm(deadline);
        Poll::Pending
    }
}

impl Drop for PayloadReceiver {
    fn drop(&mut self) {
        let (pending, head, wakers) = {
            let mut chan = self.shared.chan.lock();
            chan.rx_dropped = true;
            chan.rx_parked = false;
            chan.rx_waker = None;
            (
                std::mem::take(&mut chan.pending),
                chan.head.take(),
                std::mem::take(&mut chan.closed_wakers),
            )
        };
        // Queued messages are dropped outside the lock (their destructors may do anything).
        drop((pending, head));
        for waker in wakers {
            waker.wake();
        }
    }
}

/// An RAII structure used to release the bound port.
pub(crate) struct BindGuard {
    net: Arc<NetSim>,
    node: Arc<NodeInfo>,
    /// Bound address.
    addr: SocketAddr,
    protocol: IpProtocol,
}

impl BindGuard {
    /// Bind a socket to the address.
    pub async fn bind(
        addr: impl ToSocketAddrs,
        protocol: IpProtocol,
        socket: Arc<dyn Socket>,
    ) -> io::Result<Self> {
        let net = plugin::simulator::<NetSim>();
        let node = crate::context::current_task().node.clone();

        // attempt to bind to each address
        let mut last_err = None;
        for addr in lookup_host(addr).await? {
            net.rand_delay().await?;
            match net
                .network
                .lock()
                .bind(node.id, addr, protocol, socket.clone())
            {
                Ok(addr) => {
                    return Ok(BindGuard {
                        net: net.clone(),
                        node,
                        addr,
                        protocol,
                    })
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "could not resolve to any addresses",
            )
        }))
    }
}

impl Drop for BindGuard {
    fn drop(&mut self) {
        // avoid interfering with restarted node
        if self.node.is_killed() {
            return;
        }
        // avoid panic on panicking
        if let Some(mut network) = self.net.network.try_lock() {
            network.close(self.node.id, self.addr, self.protocol);
        }
    }
}
