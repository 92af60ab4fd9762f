//! Connections as the server's event loop sees them: every received message becomes an
//! [`Input`] on one channel, and sends go straight onto the connection, which never blocks
//! (the simulated network buffers without limit, as ZooKeeper's unbounded send queues do).

use crate::net::{ConnReceiver, ConnSender};
use crate::proto::{ClientMsg, ControlMsg, ControlReply, ServerMsg};
use crate::server::task::Task;
use crate::server::zab::messages::ZabMsg;
use std::any::Any;
use tokio::sync::{mpsc, oneshot};

/// A connection, numbered in the order this process opened or accepted it.
pub type ConnId = u64;

/// Everything the event loop reacts to.
pub enum Input {
    /// A server connected to our quorum port.
    PeerAccepted {
        sender: ConnSender<ZabMsg>,
        receiver: ConnReceiver<ZabMsg>,
    },
    /// A client connected to our client port.
    ClientAccepted {
        sender: ConnSender<ServerMsg>,
        receiver: ConnReceiver<ClientMsg>,
    },
    Peer {
        conn: ConnId,
        msg: ZabMsg,
    },
    PeerGone {
        conn: ConnId,
    },
    Client {
        conn: ConnId,
        msg: ClientMsg,
    },
    ClientGone {
        conn: ConnId,
    },
    Control {
        msg: ControlMsg,
        reply: oneshot::Sender<ControlReply>,
    },
}

/// The live half of a connection the loop holds: dropping it closes the connection.
pub struct Link<Out> {
    pub id: ConnId,
    out: ConnSender<Out>,
    _reader: Task,
}

impl<Out: Any + Send + Sync> Link<Out> {
    /// Queues `msg`; a broken connection is noticed by its reader (which reports it gone).
    pub fn send(&self, msg: Out) {
        let _ = self.out.send_now(msg);
    }
}

/// Starts the reader task of a connection. (Sends need no writer task: a send on a simulated
/// connection completes at once.)
pub fn link<In: Any + Send + Sync, Out: Any + Send + Sync>(
    id: ConnId,
    sender: ConnSender<Out>,
    mut receiver: ConnReceiver<In>,
    inputs: mpsc::UnboundedSender<Input>,
    wrap: fn(ConnId, In) -> Input,
    gone: fn(ConnId) -> Input,
) -> Link<Out> {
    let reader = Task::spawn(async move {
        loop {
            match receiver.recv().await {
                Ok(msg) => {
                    if inputs.send(wrap(id, msg)).is_err() {
                        return;
                    }
                }
                Err(_) => {
                    let _ = inputs.send(gone(id));
                    return;
                }
            }
        }
    });
    Link { id, out: sender, _reader: reader }
}
