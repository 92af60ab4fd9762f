//! The transport every simulated process uses: TCP-like typed connections over madsim's network.
//!
//! Like TCP (and like ZooKeeper, which runs ZAB and client sessions over TCP), a connection
//! delivers messages in order, exactly once, or breaks. So message duplication and reordering
//! within a connection cannot happen by construction; reordering across connections comes from
//! the latency range. A lost packet is retransmitted (it arrives late, with backoff), a
//! partition stalls a connection until it heals or the application gives up on it (heartbeat
//! timeouts, as ZooKeeper does), and a crashed peer resets it. New connections across a
//! partition are refused.
//!
//! Messages are Rust values moved over the simulated network (no serialization): each is owned
//! by exactly one side at a time, so nothing mutable is shared between processes through memory.
//! (A ZAB proposal carries an `Arc` of its transaction, which is immutable: sharing it instead of
//! copying it per learner is invisible to every process.)

use madsim::net::Endpoint;
use std::any::Any;
use std::io;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use zksim_model::{ClientId, Node, ServerId};

/// The port servers listen on for clients.
pub const CLIENT_PORT: u16 = 2181;
/// The port servers listen on for other servers (ZAB).
pub const PEER_PORT: u16 = 2888;
/// The port servers listen on for leader election (fast leader election notifications).
pub const ELECTION_PORT: u16 = 3888;
/// The port servers listen on for the harness's control requests (session expiry, final state).
pub const CONTROL_PORT: u16 = 9999;

/// The stable IP of a node: servers are `10.0.0.N`, clients `10.1.X.Y`.
pub fn node_ip(node: Node) -> IpAddr {
    match node {
        Node::Server(ServerId(n)) => {
            assert!((1..=250).contains(&n), "server ids are 1..=250, got {n}");
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, n as u8))
        }
        Node::Client(ClientId(n)) => {
            assert!((1..=62_500).contains(&n), "client ids are 1..=62500, got {n}");
            IpAddr::V4(Ipv4Addr::new(10, 1, (n / 250) as u8, (n % 250) as u8 + 1))
        }
    }
}

/// The address of a server's port.
pub fn server_addr(server: ServerId, port: u16) -> SocketAddr {
    SocketAddr::new(node_ip(Node::Server(server)), port)
}

/// The sending half of a connection carrying `T`.
pub struct ConnSender<T> {
    tx: madsim::net::Sender,
    _t: PhantomData<fn(T)>,
}

/// The receiving half of a connection carrying `T`.
pub struct ConnReceiver<T> {
    rx: madsim::net::Receiver,
    _t: PhantomData<fn() -> T>,
}

impl<T: Any + Send + Sync> ConnSender<T> {
    /// Queues `msg` on the connection. Fails once the connection is broken.
    pub async fn send(&self, msg: T) -> io::Result<()> {
        self.tx.send(Box::new(msg)).await?;
        SENT_ON_THIS_THREAD.with(|n| n.set(n.get() + 1));
        Ok(())
    }

    /// Queues `msg` on the connection without awaiting: madsim's connection send never waits
    /// (it draws the latency and schedules the delivery), so a process can send from
    /// synchronous code, with no writer task and channel hop per message.
    pub fn send_now(&self, msg: T) -> io::Result<()> {
        use futures::FutureExt;
        self.send(msg).now_or_never().expect("a send on a simulated connection completes at once")
    }

    /// True once the peer's receiving half is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl<T: Any + Send + Sync> ConnReceiver<T> {
    /// The next message, or an error when the connection breaks.
    pub async fn recv(&mut self) -> io::Result<T> {
        let payload = self.rx.recv().await?;
        Self::typed(payload)
    }

    /// Polls for the next message (`Ready(Err)` once the connection breaks), for a caller that
    /// multiplexes many connections in one task (the server's inbox).
    pub fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<T>> {
        use futures::Stream;
        match std::pin::Pin::new(&mut self.rx).poll_next(cx) {
            std::task::Poll::Ready(Some(Ok(payload))) => std::task::Poll::Ready(Self::typed(payload)),
            std::task::Poll::Ready(Some(Err(e))) => std::task::Poll::Ready(Err(e)),
            std::task::Poll::Ready(None) => {
                std::task::Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, "connection reset")))
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }

    fn typed(payload: Box<dyn Any + Send + Sync>) -> io::Result<T> {
        match payload.downcast::<T>() {
            Ok(msg) => Ok(*msg),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("connection carried a message that is not a {}", std::any::type_name::<T>()),
            )),
        }
    }
}

/// A listening socket that accepts connections whose client sends `In` and receives `Out`.
pub struct Listener<In, Out> {
    ep: Endpoint,
    _t: PhantomData<fn(In) -> Out>,
}

impl<In: Any + Send + Sync, Out: Any + Send + Sync> Listener<In, Out> {
    /// Listens on `port` of this node.
    pub async fn bind(port: u16) -> io::Result<Self> {
        let ep = Endpoint::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)).await?;
        Ok(Listener { ep, _t: PhantomData })
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<(ConnSender<Out>, ConnReceiver<In>, SocketAddr)> {
        let (tx, rx, from) = self.ep.accept1().await?;
        Ok((ConnSender { tx, _t: PhantomData }, ConnReceiver { rx, _t: PhantomData }, from))
    }
}

/// Opens a connection to `addr`, sending `Out` and receiving `In`. Refused when the peer is
/// unreachable (partitioned, crashed, or not listening).
pub async fn connect<Out: Any + Send + Sync, In: Any + Send + Sync>(
    addr: SocketAddr,
) -> io::Result<(ConnSender<Out>, ConnReceiver<In>)> {
    let ep = Endpoint::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)).await?;
    let (tx, rx) = ep.connect1(addr).await?;
    Ok((ConnSender { tx, _t: PhantomData }, ConnReceiver { rx, _t: PhantomData }))
}

thread_local! {
    /// Messages queued on connections by simulations run on this thread (a simulation runs on
    /// one thread), for benchmarks. Never read inside a simulation, so it cannot affect one.
    static SENT_ON_THIS_THREAD: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many messages connections have queued in simulations run on the calling thread so far.
/// Benchmarks read it before and after a run, outside the simulation.
pub fn messages_sent_on_this_thread() -> u64 {
    SENT_ON_THIS_THREAD.with(|n| n.get())
}

/// Messages the simulated network has carried so far in this run.
pub fn messages_sent() -> u64 {
    madsim::net::NetSim::current().stat().msg_count
}
