//! The server's main loop: recover from disk, then forever elect → lead or follow → serve,
//! going back to election whenever the role fails.

use crate::net::{self, Listener};
use crate::proto::{ClientMsg, ControlMsg, ControlReply, Refusal, ServerMsg};
use crate::server::config::ServerConfig;
use crate::server::conn::{self, Input, InputSender};
use crate::server::election::{Election, ElectionConfig};
use crate::server::replica::Replica;
use crate::server::storage::{DiskRecord, Storage};
use crate::server::task::Task;
use crate::server::zab::messages::ZabMsg;
use crate::server::zab::{follower, leader};
use crate::world::{process, Process, ProcessCtx};
use tokio::sync::oneshot;
use zksim_model::{Bug, Role};

/// The process a server node runs (again from its disk at every restart).
pub fn server_process(cfg: ServerConfig) -> Process {
    process(move |ctx: ProcessCtx| {
        let cfg = cfg.clone();
        async move { run(cfg, ctx).await }
    })
}

async fn listen_all(tx: InputSender) -> Vec<Task> {
    let mut tasks = Vec::new();
    let peers = Listener::<ZabMsg, ZabMsg>::bind(net::PEER_PORT).await.expect("bind quorum port");
    let t = tx.clone();
    tasks.push(Task::spawn(async move {
        while let Ok((sender, receiver, _)) = peers.accept().await {
            if t.send(Input::PeerAccepted { sender, receiver }).is_err() {
                return;
            }
        }
    }));
    let clients = Listener::<ClientMsg, ServerMsg>::bind(net::CLIENT_PORT).await.expect("bind client port");
    let t = tx.clone();
    tasks.push(Task::spawn(async move {
        while let Ok((sender, receiver, _)) = clients.accept().await {
            if t.send(Input::ClientAccepted { sender, receiver }).is_err() {
                return;
            }
        }
    }));
    let control = Listener::<ControlMsg, ControlReply>::bind(net::CONTROL_PORT).await.expect("bind control port");
    let t = tx;
    tasks.push(Task::spawn(async move {
        while let Ok((sender, mut receiver, _)) = control.accept().await {
            let t = t.clone();
            madsim::task::spawn_local(async move {
                while let Ok(msg) = receiver.recv().await {
                    let (reply, answer) = oneshot::channel();
                    if t.send(Input::Control { msg, reply }).is_err() {
                        return;
                    }
                    let Ok(a) = answer.await else { return };
                    if sender.send(a).await.is_err() {
                        return;
                    }
                }
            });
        }
    }));
    tasks
}

async fn run(cfg: ServerConfig, ctx: ProcessCtx) {
    let me = cfg.id;
    let (store, mut rec) = Storage::open_with(ctx.disk::<DiskRecord>(), cfg.empty_root)
        .await
        .unwrap_or_else(|e| panic!("{me}: cannot recover from disk: {e}"));
    rec.tree.allow_orphans(cfg.bugs.has(Bug::EphemeralAfterClose));
    let (tx, inbox) = conn::inbox();
    let _listeners = listen_all(tx).await;
    let election = Election::start(ElectionConfig {
        me,
        ensemble: cfg.ensemble.clone(),
        finalize_wait_ms: 2 * cfg.tick_ms,
        max_notification_interval_ms: 10 * cfg.tick_ms,
        bugs: cfg.bugs,
    })
    .await
    .unwrap_or_else(|e| panic!("{me}: cannot start leader election: {e}"));
    let mut rep = Replica::new(cfg, ctx.recorder.clone(), store, rec.tree, rec.history, election, inbox);
    loop {
        rep.front.close_all();
        rep.reload().await;
        rep.set_role(Role::Looking, rep.store.current_epoch());
        let vote = looking(&mut rep).await;
        let why = if vote.leader == me {
            leader::lead(&mut rep).await
        } else {
            follower::follow(&mut rep, vote.leader).await
        };
        tracing::debug!("{me}: back to election: {why}");
    }
}

/// Runs the election while refusing clients and parking quorum connections.
async fn looking(rep: &mut Replica) -> crate::server::election::Vote {
    let last = rep.tree.last_zxid();
    let epoch = rep.store.current_epoch();
    let Replica { election, inputs, parked_peers, tree, .. } = rep;
    let vote = election.look_for_leader(last, epoch);
    tokio::pin!(vote);
    loop {
        tokio::select! {
            // `biased`: fixed polling order, so the schedule depends on the seed alone.
            biased;
            v = &mut vote => return v,
            i = inputs.recv() => match i {
                Some(Input::PeerAccepted { sender, receiver }) => {
                    parked_peers.push(Input::PeerAccepted { sender, receiver });
                    if parked_peers.len() > 16 {
                        parked_peers.remove(0);
                    }
                }
                Some(Input::ClientAccepted { sender, receiver: _ }) => refuse_not_serving(sender),
                Some(Input::Control { msg, reply }) => {
                    let _ = reply.send(match msg {
                        ControlMsg::FinalState => ControlReply::FinalState { last_zxid: tree.last_zxid(), digest: tree.digest() },
                        ControlMsg::ExpireSession(_) => ControlReply::Unavailable,
                    });
                }
                Some(_) | None => {}
            },
        }
    }
}

/// Tells a client that connected during an election to try elsewhere, then closes.
fn refuse_not_serving(sender: crate::net::ConnSender<ServerMsg>) {
    madsim::task::spawn_local(async move {
        let _ = sender.send(ServerMsg::Refused(Refusal::NotServing)).await;
        madsim::time::sleep(std::time::Duration::from_millis(50)).await;
    });
}
