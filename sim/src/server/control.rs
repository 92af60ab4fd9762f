//! The harness's side of the control port: expiring sessions through the service and reading
//! every live server's final state into the history.
//!
//! The scenario driver has no address on the simulated network, so control requests run on a
//! dedicated node, [`CONTROL_CLIENT`], that [`ControlClient::new`] creates (once per world).

use crate::nemesis::{Expirer, Nemesis, NodeState};
use crate::net::{self, CONTROL_PORT};
use crate::proto::{ControlMsg, ControlReply};
use crate::recorder::Recorder;
use std::sync::Arc;
use std::time::Duration;
use zksim_model::{ClientId, Event, Node, ServerId, SessionId, Zxid};

/// The client id the control node takes (harness scenarios must not use it for a client).
pub const CONTROL_CLIENT: ClientId = ClientId(62_500);

/// The harness's handle to the control node. Create one per world, inside the driver.
#[derive(Clone)]
pub struct ControlClient {
    node: Arc<madsim::runtime::NodeHandle>,
}

impl ControlClient {
    /// Creates the control node (call once, from inside `World::run`'s driver).
    pub fn new() -> ControlClient {
        let node = Node::Client(CONTROL_CLIENT);
        let handle = madsim::runtime::Handle::current().create_node().name("control").ip(net::node_ip(node)).build();
        ControlClient { node: Arc::new(handle) }
    }

    /// Sends one control request to `server` from the control node.
    pub async fn request(&self, server: ServerId, msg: ControlMsg, timeout: Duration) -> Result<ControlReply, String> {
        self.node.spawn(control_request(server, msg, timeout)).await.map_err(|_| "control task aborted".to_string())?
    }

    /// The expirer the harness installs with [`Nemesis::set_expirer`]: asks the servers of
    /// `ensemble` in turn until one (the leader, or a follower that forwards to it) accepts.
    pub fn expirer(&self, ensemble: Vec<ServerId>) -> Expirer {
        let this = self.clone();
        Arc::new(move |session: SessionId| {
            let ensemble = ensemble.clone();
            let this = this.clone();
            Box::pin(async move {
                let mut errors = Vec::new();
                for s in ensemble {
                    match this.request(s, ControlMsg::ExpireSession(session), Duration::from_secs(1)).await {
                        Ok(ControlReply::Expiring) => return Ok(()),
                        Ok(other) => errors.push(format!("{s}: {other:?}")),
                        Err(e) => errors.push(e),
                    }
                }
                Err(format!("no server accepted the expiry of {session}: {}", errors.join("; ")))
            })
        })
    }

    /// Reads the final state of every server the nemesis believes is up and records an
    /// `Event::Final` for each that answers. Returns what was recorded.
    pub async fn record_final_states(
        &self,
        nemesis: &Nemesis,
        recorder: &Recorder,
        ensemble: &[ServerId],
    ) -> Vec<(ServerId, Zxid, u64)> {
        let mut out = Vec::new();
        for s in ensemble {
            if nemesis.node_state(Node::Server(*s)) != Some(NodeState::Up) {
                continue;
            }
            // A lossy network can stall one request; ask a few times before giving up.
            for _ in 0..3 {
                if let Ok(ControlReply::FinalState { last_zxid, digest }) =
                    self.request(*s, ControlMsg::FinalState, Duration::from_secs(1)).await
                {
                    recorder.record(Event::Final { server: *s, last_zxid, digest });
                    out.push((*s, last_zxid, digest));
                    break;
                }
            }
        }
        out
    }
}

impl Default for ControlClient {
    fn default() -> Self {
        ControlClient::new()
    }
}

/// Sends one control request to `server`, waiting at most `timeout` (runs on the calling node).
pub async fn control_request(server: ServerId, msg: ControlMsg, timeout: Duration) -> Result<ControlReply, String> {
    let ask = async {
        let (tx, mut rx) = net::connect::<ControlMsg, ControlReply>(net::server_addr(server, CONTROL_PORT))
            .await
            .map_err(|e| format!("{server}: {e}"))?;
        tx.send(msg).await.map_err(|e| format!("{server}: {e}"))?;
        rx.recv().await.map_err(|e| format!("{server}: {e}"))
    };
    madsim::time::timeout(timeout, ask).await.map_err(|_| format!("{server}: control request timed out"))?
}
