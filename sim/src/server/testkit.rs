//! Test support: a world with an ensemble of servers, and a minimal client that speaks the
//! wire protocol from the scenario driver (the real client library lives elsewhere).

use crate::net::{self, ConnReceiver, ConnSender, CLIENT_PORT};
use crate::proto::{ClientMsg, ServerMsg};
use crate::server::config::ServerConfig;
use crate::server::process::server_process;
use crate::world::{World, WorldConfig};
use std::time::Duration;
use zksim_model::{Node, Op, Outcome, ServerId, SessionId, Zxid};

/// The ensemble `s1..=sN`.
pub fn ensemble(n: u32) -> Vec<ServerId> {
    (1..=n).map(ServerId).collect()
}

/// A world holding servers `s1..=sN`, each configured by `tweak` after the defaults.
pub fn world_with_servers(config: WorldConfig, n: u32, tweak: impl Fn(&mut ServerConfig)) -> World {
    let mut world = World::new(config);
    for id in ensemble(n) {
        let mut cfg = ServerConfig::new(id, ensemble(n));
        tweak(&mut cfg);
        world.add_node(Node::Server(id), server_process(cfg));
    }
    world
}

/// A bare session on one server: connect, send requests one at a time, read the replies.
pub struct TestSession {
    pub server: ServerId,
    pub session: SessionId,
    pub last_zxid: Zxid,
    tx: ConnSender<ClientMsg>,
    rx: ConnReceiver<ServerMsg>,
    next_xid: u64,
}

impl TestSession {
    /// Opens a new session on `server` (None when it refuses or does not answer in time).
    pub async fn open(server: ServerId, timeout_ms: u64) -> Option<TestSession> {
        let go = async {
            let (tx, mut rx) =
                net::connect::<ClientMsg, ServerMsg>(net::server_addr(server, CLIENT_PORT)).await.ok()?;
            tx.send(ClientMsg::Connect { session: None, last_zxid_seen: Zxid::ZERO, timeout_ms }).await.ok()?;
            match rx.recv().await.ok()? {
                ServerMsg::Connected { session, .. } => {
                    Some(TestSession { server, session, last_zxid: Zxid::ZERO, tx, rx, next_xid: 0 })
                }
                _ => None,
            }
        };
        madsim::time::timeout(Duration::from_secs(2), go).await.ok().flatten()
    }

    /// Sends `op` without waiting; returns its xid.
    pub async fn send(&mut self, op: Op) -> Option<u64> {
        self.next_xid += 1;
        let xid = self.next_xid;
        self.tx.send(ClientMsg::Request { xid, op }).await.ok()?;
        Some(xid)
    }

    /// Sends a keep-alive.
    pub async fn ping(&mut self) -> Option<()> {
        self.tx.send(ClientMsg::Ping).await.ok()
    }

    /// The next message of any kind, within `wait`.
    pub async fn next_msg(&mut self, wait: Duration) -> Option<ServerMsg> {
        madsim::time::timeout(wait, self.rx.recv()).await.ok()?.ok()
    }

    /// The next reply, within `wait` (None: connection loss, refusal or timeout).
    pub async fn next_reply(&mut self, wait: Duration) -> Option<(u64, Zxid, Outcome)> {
        let rx = &mut self.rx;
        let got = madsim::time::timeout(wait, async {
            loop {
                match rx.recv().await.ok()? {
                    ServerMsg::Reply { xid, zxid, outcome } => return Some((xid, zxid, outcome)),
                    ServerMsg::Watch(_) | ServerMsg::Pong { .. } => {}
                    _ => return None,
                }
            }
        })
        .await
        .ok()
        .flatten();
        if let Some((_, z, _)) = &got {
            self.last_zxid = self.last_zxid.max(*z);
        }
        got
    }

    /// Sends `op` and waits up to `wait` for its reply (None: connection loss or timeout).
    pub async fn call(&mut self, op: Op, wait: Duration) -> Option<(Zxid, Outcome)> {
        let xid = self.send(op).await?;
        let (x, z, o) = self.next_reply(wait).await?;
        assert_eq!(x, xid, "replies come in request order (FIFO per session)");
        Some((z, o))
    }
}

/// Opens a session on the first server of `servers` that accepts one, retrying for `within`.
pub async fn open_anywhere(servers: &[ServerId], timeout_ms: u64, within: Duration) -> Option<TestSession> {
    let deadline = crate::server::task::now() + within;
    while crate::server::task::now() < deadline {
        for s in servers {
            if let Some(sess) = TestSession::open(*s, timeout_ms).await {
                return Some(sess);
            }
        }
        madsim::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// A client node created from inside a driver, to run test-client code on: the driver itself
/// has no address on the simulated network.
pub struct ClientNode(madsim::runtime::NodeHandle);

impl ClientNode {
    /// Creates client node `c<id>` (call from inside `World::run`'s driver).
    pub fn new(id: u32) -> ClientNode {
        let node = Node::Client(zksim_model::ClientId(id));
        let handle =
            madsim::runtime::Handle::current().create_node().name(node.to_string()).ip(net::node_ip(node)).build();
        ClientNode(handle)
    }

    /// Runs `fut` on this node and waits for it.
    pub async fn run<T: Send + 'static>(&self, fut: impl std::future::Future<Output = T> + Send + 'static) -> T {
        self.0.spawn(fut).await.expect("client task was aborted")
    }
}
