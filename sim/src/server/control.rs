//! The harness's side of the control port: expiring sessions through the service and reading
//! every live server's final state into the history.

use crate::nemesis::{Expirer, Nemesis, NodeState};
use crate::net::{self, CONTROL_PORT};
use crate::proto::{ControlMsg, ControlReply};
use crate::recorder::Recorder;
use std::sync::Arc;
use std::time::Duration;
use zksim_model::{Event, Node, ServerId, SessionId, Zxid};

/// Sends one control request to `server`, waiting at most `timeout`.
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

/// The expirer the harness installs with [`Nemesis::set_expirer`]: asks the servers of
/// `ensemble` in turn until one (the leader, or a follower that forwards to it) accepts.
pub fn expirer(ensemble: Vec<ServerId>) -> Expirer {
    Arc::new(move |session: SessionId| {
        let ensemble = ensemble.clone();
        Box::pin(async move {
            let mut errors = Vec::new();
            for s in ensemble {
                match control_request(s, ControlMsg::ExpireSession(session), Duration::from_secs(1)).await {
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
    nemesis: &Nemesis,
    recorder: &Recorder,
    ensemble: &[ServerId],
) -> Vec<(ServerId, Zxid, u64)> {
    let mut out = Vec::new();
    for s in ensemble {
        if nemesis.node_state(Node::Server(*s)) != Some(NodeState::Up) {
            continue;
        }
        if let Ok(ControlReply::FinalState { last_zxid, digest }) =
            control_request(*s, ControlMsg::FinalState, Duration::from_secs(1)).await
        {
            recorder.record(Event::Final { server: *s, last_zxid, digest });
            out.push((*s, last_zxid, digest));
        }
    }
    out
}
