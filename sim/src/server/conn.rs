//! Connections as the server's event loop sees them: every received message becomes an
//! [`Input`] from one [`Inbox`], and sends go straight onto the connection, which never blocks
//! (the simulated network buffers without limit, as ZooKeeper's unbounded send queues do).

use crate::net::{ConnReceiver, ConnSender};
use crate::proto::{ClientMsg, ControlMsg, ControlReply, ServerMsg};
use crate::server::zab::messages::ZabMsg;
use std::any::Any;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Wake, Waker};
use tokio::sync::oneshot;

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

/// The live half of a connection the loop holds: dropping it closes the connection (its
/// receiving half leaves the inbox and is dropped).
pub struct Link<Out> {
    pub id: ConnId,
    out: ConnSender<Out>,
    conns: Arc<Mutex<Conns>>,
}

impl<Out: Any + Send + Sync> Link<Out> {
    /// Queues `msg`; a broken connection is noticed by its reader (which reports it gone).
    pub fn send(&self, msg: Out) {
        let _ = self.out.send_now(msg);
    }
}

impl<Out> Drop for Link<Out> {
    fn drop(&mut self) {
        let reader = lock(&self.conns).readers.get_mut(self.id as usize).and_then(Option::take);
        // Dropped outside the lock: dropping a connection's half may wake other tasks.
        drop(reader);
    }
}

/// Where the event loop's inputs come from: a queue (accepted connections, control requests,
/// sent through [`InputSender`]s) and the receiving halves of its live connections, polled by
/// the loop's own task. The queue is always looked at first.
///
/// A reader task per connection cost a task run and a channel hop per received message (~8% of
/// a simulation's instructions). Here each connection's receiver is polled with a waker of its
/// own that queues the connection's id as ready and wakes the loop, which then polls only the
/// ready connections, in the order they were woken: deterministic, and fair across connections
/// (a connection that yielded a message goes to the back of the queue).
pub struct Inbox {
    conns: Arc<Mutex<Conns>>,
}

/// The inbox's shared state: the queue, with the senders; the connections, with the links
/// (which remove themselves) and with the connections' wakers (which queue their id).
#[derive(Default)]
pub struct Conns {
    /// Sent inputs, in send order.
    inputs: VecDeque<Input>,
    /// The loop's waker for `inputs`: registered each time the loop finds the queue empty, taken
    /// by the next send. This is exactly when a channel would wake the loop: a wake more or
    /// less is one task run more or less, which changes the schedule.
    inputs_waker: Option<Waker>,
    /// Set when the inbox is dropped: sends fail from then on.
    closed: bool,
    /// Indexed by connection id (ids are small and dense: this incarnation's connections).
    readers: Vec<Option<Box<dyn Reader>>>,
    /// Connections woken since they were last polled, in wake order (an id may repeat: a
    /// spurious poll is harmless and cheaper than keeping the queue a set).
    ready: VecDeque<ConnId>,
    /// The event loop's waker, while it waits.
    waker: Option<Waker>,
}

fn lock(conns: &Mutex<Conns>) -> std::sync::MutexGuard<'_, Conns> {
    // A poisoned lock means the simulation already panicked; the panic is what matters.
    conns.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection's receiving half, typed away: what the loop makes of its next message.
trait Reader: Send {
    fn poll(&mut self) -> Poll<Input>;
}

struct ConnReader<In> {
    id: ConnId,
    receiver: ConnReceiver<In>,
    /// Queues `id` as ready and wakes the loop.
    waker: Waker,
    wrap: fn(ConnId, In) -> Input,
    gone: fn(ConnId) -> Input,
}

impl<In: Any + Send + Sync> Reader for ConnReader<In> {
    fn poll(&mut self) -> Poll<Input> {
        let mut cx = Context::from_waker(&self.waker);
        match self.receiver.poll_recv(&mut cx) {
            Poll::Ready(Ok(msg)) => Poll::Ready((self.wrap)(self.id, msg)),
            Poll::Ready(Err(_)) => Poll::Ready((self.gone)(self.id)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The waker a connection's receiver holds.
struct ReadyWaker {
    id: ConnId,
    conns: Weak<Mutex<Conns>>,
}

impl Wake for ReadyWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let Some(conns) = self.conns.upgrade() else { return };
        let waker = {
            let mut c = lock(&conns);
            c.ready.push_back(self.id);
            c.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Sends inputs to an [`Inbox`] (the listeners' side).
#[derive(Clone)]
pub struct InputSender {
    conns: Arc<Mutex<Conns>>,
}

impl InputSender {
    /// Queues `input` and wakes the loop if it waits; fails (dropping `input`) once the inbox
    /// is gone.
    pub fn send(&self, input: Input) -> Result<(), Closed> {
        let waker = {
            let mut c = lock(&self.conns);
            if c.closed {
                drop(c);
                return Err(Closed);
            }
            c.inputs.push_back(input);
            c.inputs_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }
}

/// A new inbox and the sender of its queue.
pub fn inbox() -> (InputSender, Inbox) {
    let conns = Arc::new(Mutex::new(Conns::default()));
    (InputSender { conns: conns.clone() }, Inbox { conns })
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let mut c = lock(&self.conns);
        c.closed = true;
        // Queued inputs (connections, control requests) are dropped outside the lock: dropping
        // them may wake other tasks.
        let queued = std::mem::take(&mut c.inputs);
        drop(c);
        drop(queued);
    }
}

impl Inbox {
    /// Adds a connection: its messages become [`Input`]s made by `wrap`, and its end `gone(id)`.
    pub fn link<In: Any + Send + Sync, Out: Any + Send + Sync>(
        &self,
        id: ConnId,
        sender: ConnSender<Out>,
        receiver: ConnReceiver<In>,
        wrap: fn(ConnId, In) -> Input,
        gone: fn(ConnId) -> Input,
    ) -> Link<Out> {
        let waker = Waker::from(Arc::new(ReadyWaker { id, conns: Arc::downgrade(&self.conns) }));
        let reader = ConnReader { id, receiver, waker, wrap, gone };
        let mut c = lock(&self.conns);
        let slot = id as usize;
        if c.readers.len() <= slot {
            c.readers.resize_with(slot + 1, || None);
        }
        assert!(c.readers[slot].is_none(), "connection {id} linked twice");
        c.readers[slot] = Some(Box::new(reader));
        // Polled once to register its waker (and to take what already arrived).
        c.ready.push_back(id);
        drop(c);
        Link { id, out: sender, conns: self.conns.clone() }
    }

    /// The next input, waiting for one. Cancel-safe: nothing is held between polls.
    pub async fn recv(&mut self) -> Option<Input> {
        std::future::poll_fn(|cx| self.poll_next(Some(cx))).await
    }

    /// The next input if one is there now.
    pub fn try_recv(&mut self) -> Result<Input, Empty> {
        match self.poll_next(None) {
            Poll::Ready(Some(i)) => Ok(i),
            _ => Err(Empty),
        }
    }

    /// Polls the queue, then the ready connections; with `cx`, registers the loop's waker
    /// for each when nothing is there.
    fn poll_next(&mut self, mut cx: Option<&mut Context<'_>>) -> Poll<Option<Input>> {
        let mut c = lock(&self.conns);
        if let Some(i) = c.inputs.pop_front() {
            return Poll::Ready(Some(i));
        }
        if let Some(cx) = cx.as_deref_mut() {
            if !c.inputs_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                c.inputs_waker = Some(cx.waker().clone());
            }
        }
        // Readers are polled under the lock: a receiver's poll never wakes (its waker runs from
        // timer callbacks and from the peer's sends, never inside this poll), so it cannot
        // re-enter the lock. A reader is dropped only after the lock is released.
        loop {
            let Some(id) = c.ready.pop_front() else {
                if let Some(cx) = cx {
                    c.waker = Some(cx.waker().clone());
                }
                return Poll::Pending;
            };
            // None: its link was dropped after it was woken.
            let Some(Some(reader)) = c.readers.get_mut(id as usize) else { continue };
            if let Poll::Ready(input) = reader.poll() {
                if matches!(input, Input::PeerGone { .. } | Input::ClientGone { .. }) {
                    let gone = c.readers[id as usize].take();
                    drop(c);
                    drop(gone);
                } else {
                    // It may hold more: back of the queue, after the others woken.
                    c.ready.push_back(id);
                }
                return Poll::Ready(Some(input));
            }
        }
    }
}

/// [`InputSender::send`] found the inbox gone.
#[derive(Debug)]
pub struct Closed;

/// [`Inbox::try_recv`] found nothing.
#[derive(Debug)]
pub struct Empty;
