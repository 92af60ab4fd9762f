//! The follower: connects to the elected leader, accepts its epoch, syncs (DIFF / TRUNC /
//! SNAP), persists the synced transactions THEN currentEpoch THEN acks NEWLEADER, and from
//! UPTODATE on logs proposals (acking after fsync), applies commits in order and serves clients.

use crate::deadline::Deadline;
use crate::net::{self, PEER_PORT};
use crate::proto::{ControlMsg, ControlReply};
use crate::server::conn::Input;
use crate::server::replica::Replica;
use crate::server::storage::SharedTxn;
use crate::server::zab::messages::{Forward, SyncMode, ZabMsg};
use std::collections::VecDeque;
use std::time::Duration;
use zksim_model::{Bug, Role, ServerId, Zxid};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    AwaitLeaderInfo,
    AwaitSync,
    /// Synced; proposals before NEWLEADER are logged and acked after it.
    AwaitNewLeader,
    AwaitUpToDate,
    Broadcast,
}

fn now_ms() -> u64 {
    crate::recorder::now().as_millis()
}

/// Follows `leader` until it fails; returns why.
pub async fn follow(rep: &mut Replica, leader: ServerId) -> String {
    let me = rep.cfg.id;
    rep.parked_peers.clear();
    let init_ms = rep.cfg.init_limit * rep.cfg.tick_ms;
    let addr = net::server_addr(leader, PEER_PORT);
    let connected = madsim::time::timeout(Duration::from_millis(init_ms), net::connect::<ZabMsg, ZabMsg>(addr)).await;
    let (sender, receiver) = match connected {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return format!("cannot connect to leader {leader}: {e}"),
        Err(_) => return format!("timed out connecting to leader {leader}"),
    };
    let link = rep.link_peer(sender, receiver);
    link.send(ZabMsg::FollowerInfo {
        from: me,
        accepted_epoch: rep.store.accepted_epoch(),
        last_zxid: rep.store.last_logged(),
    });
    let mut phase = Phase::AwaitLeaderInfo;
    let mut epoch = 0u32;
    let mut uncommitted: VecDeque<SharedTxn> = VecDeque::new();
    let mut last_heard = now_ms();
    let started = now_ms();
    let mut acked = Zxid::ZERO;
    let tick = Duration::from_millis(rep.cfg.tick_ms);
    let mut next_tick = crate::server::task::now() + tick;
    // One timer per tick, however many messages arrive in between (crate::deadline).
    let mut tick_timer = Deadline::at(next_tick);
    loop {
        tick_timer.reset(next_tick);
        let input = tokio::select! {
            // `biased`: fixed polling order, so the schedule depends on the seed alone.
            biased;
            i = rep.inputs.recv() => i,
            _ = &mut tick_timer => None,
        };
        let mut batch: Vec<Input> = input.into_iter().collect();
        while let Ok(i) = rep.inputs.try_recv() {
            batch.push(i);
        }
        let now = now_ms();
        if crate::server::task::now() >= next_tick {
            next_tick += tick;
            if phase != Phase::Broadcast && now - started > init_ms {
                return format!("not synced with {leader} within initLimit (stuck in {phase:?})");
            }
            if now - last_heard > rep.cfg.sync_limit * rep.cfg.tick_ms {
                return format!("leader {leader} silent for syncLimit");
            }
        }
        let serving = phase == Phase::Broadcast;
        for input in batch {
            match input {
                Input::Peer { conn, msg } if conn == link.id => {
                    last_heard = now;
                    match (phase, msg) {
                        (Phase::AwaitLeaderInfo, ZabMsg::LeaderInfo { epoch: e }) => {
                            if e < rep.store.accepted_epoch() {
                                return format!(
                                    "leader {leader} proposed epoch {e} below our accepted {}",
                                    rep.store.accepted_epoch()
                                );
                            }
                            let fresh = e > rep.store.accepted_epoch();
                            rep.store.set_accepted_epoch(e).await;
                            epoch = e;
                            link.send(ZabMsg::AckEpoch {
                                current_epoch: fresh.then(|| rep.store.current_epoch()),
                                last_zxid: rep.store.last_logged(),
                            });
                            phase = Phase::AwaitSync;
                        }
                        (Phase::AwaitSync, ZabMsg::Sync(mode)) => {
                            apply_sync(rep, mode).await;
                            phase = Phase::AwaitNewLeader;
                        }
                        (Phase::AwaitNewLeader | Phase::AwaitUpToDate | Phase::Broadcast, ZabMsg::Proposal(t)) => {
                            assert_eq!(
                                t.zxid.epoch(),
                                epoch,
                                "{me}: proposal {} is not of the leader's epoch {epoch}",
                                t.zxid
                            );
                            rep.store.append(&t);
                            uncommitted.push_back(t);
                        }
                        (Phase::AwaitNewLeader, ZabMsg::NewLeader { epoch: e }) => {
                            assert_eq!(e, epoch, "{me}: NEWLEADER for epoch {e}, LEADERINFO said {epoch}");
                            // ZOOKEEPER-3911/4643/4646: the synced txns must be durable before
                            // currentEpoch, and both before the ack.
                            if rep.cfg.bugs.has(Bug::AckBeforeFsync) {
                                // Planted bug ZOOKEEPER-3911: ack NEWLEADER (and the proposals
                                // logged since) before anything is durable.
                                link.send(ZabMsg::AckNewLeader { epoch: e });
                                if let Some(last) = uncommitted.back() {
                                    link.send(ZabMsg::Ack { zxid: last.zxid });
                                }
                            }
                            if rep.cfg.bugs.has(Bug::EpochBeforeSync) {
                                // Planted bug ZOOKEEPER-4643: currentEpoch first. A crash during
                                // the log's fsync leaves the new epoch over a log without the
                                // synced txns, and that epoch wins the next election.
                                rep.store.set_current_epoch_before_sync(e).await;
                                rep.store.fsync().await;
                            } else {
                                rep.store.fsync().await;
                                rep.store.set_current_epoch(e).await;
                            }
                            rep.note_epoch_leader(e, leader);
                            if !rep.cfg.bugs.has(Bug::AckBeforeFsync) {
                                link.send(ZabMsg::AckNewLeader { epoch: e });
                            }
                            if let Some(last) = uncommitted.back() {
                                acked = last.zxid;
                                if !rep.cfg.bugs.has(Bug::AckBeforeFsync) {
                                    link.send(ZabMsg::Ack { zxid: acked });
                                }
                            }
                            phase = Phase::AwaitUpToDate;
                        }
                        (Phase::AwaitUpToDate | Phase::Broadcast, ZabMsg::Commit { zxid }) => {
                            let t = uncommitted.pop_front().unwrap_or_else(|| {
                                panic!("{me}: leader {leader} committed {zxid}, which it never proposed to us")
                            });
                            assert_eq!(t.zxid, zxid, "{me}: commit {zxid} out of order: next proposal is {}", t.zxid);
                            rep.apply_committed(&t, false).await;
                        }
                        (Phase::AwaitUpToDate, ZabMsg::UpToDate) => {
                            phase = Phase::Broadcast;
                            rep.set_role(Role::Following { leader }, epoch);
                            rep.election.update_election_vote(epoch);
                        }
                        (_, ZabMsg::Ping) => {
                            let sessions = rep.front.take_touched();
                            link.send(ZabMsg::Request(Forward::Touch { sessions }));
                        }
                        (Phase::Broadcast, ZabMsg::SessionAssigned { token, session }) => {
                            rep.front.assigned(token, session)
                        }
                        (Phase::Broadcast, ZabMsg::Revalidated { token, valid }) => {
                            rep.front.revalidated(token, valid, &rep.tree, me)
                        }
                        (Phase::Broadcast, ZabMsg::Rejected { session, xid, code }) => {
                            rep.front.rejected(session, xid, code, &rep.tree)
                        }
                        (Phase::Broadcast, ZabMsg::Synced { session, xid }) => {
                            rep.front.synced(session, xid, &rep.tree)
                        }
                        (phase, msg) => return format!("unexpected {msg:?} from leader {leader} in {phase:?}"),
                    }
                }
                Input::PeerGone { conn } if conn == link.id => return format!("connection to leader {leader} broke"),
                Input::Peer { .. } | Input::PeerGone { .. } => {}
                Input::PeerAccepted { .. } => {
                    // We are not leading: a server that thinks we are will time out and re-elect.
                }
                Input::ClientAccepted { sender, receiver } => {
                    let link = rep.link_client(sender, receiver);
                    rep.front.accept(link);
                }
                Input::Client { conn, msg } => rep.front.on_message(conn, msg, serving, &rep.tree),
                Input::ClientGone { conn } => rep.front.gone(conn),
                Input::Control { msg, reply } => {
                    let answer = match msg {
                        ControlMsg::FinalState => {
                            ControlReply::FinalState { last_zxid: rep.tree.last_zxid(), digest: rep.tree.digest() }
                        }
                        ControlMsg::ExpireSession(session) if serving => {
                            link.send(ZabMsg::Request(Forward::Expire { session }));
                            ControlReply::Expiring
                        }
                        ControlMsg::ExpireSession(_) => ControlReply::Unavailable,
                    };
                    let _ = reply.send(answer);
                }
            }
        }
        for fwd in std::mem::take(&mut rep.front.outbox) {
            link.send(ZabMsg::Request(fwd));
        }
        // Group commit: ack everything logged once it is durable.
        if matches!(phase, Phase::AwaitUpToDate | Phase::Broadcast) && rep.store.is_dirty() {
            if rep.cfg.bugs.has(Bug::AckBeforeFsync) {
                // Planted bug ZOOKEEPER-3911: the ack goes out while the log is still volatile.
                let last = rep.store.last_logged();
                if last > acked {
                    acked = last;
                    link.send(ZabMsg::Ack { zxid: last });
                }
            }
            rep.store.fsync().await;
            let last = rep.store.last_logged();
            if last > acked {
                acked = last;
                link.send(ZabMsg::Ack { zxid: last });
            }
        }
    }
}

/// Brings our log and tree to the leader's history.
async fn apply_sync(rep: &mut Replica, mode: SyncMode) {
    let me = rep.cfg.id;
    match mode {
        SyncMode::Diff { txns } => {
            for t in txns {
                rep.store.append(&t);
                rep.apply_committed(&t, false).await;
            }
        }
        SyncMode::Trunc { to, txns } => {
            assert!(
                to >= rep.known_committed,
                "{me}: a follower never truncates a committed txn: TRUNC to {to}, but {} was committed",
                rep.known_committed
            );
            rep.store.truncate_after(to).await;
            if rep.cfg.bugs.has(Bug::KeepUncommitted) {
                // Planted bug ZOOKEEPER-2845: the log is truncated but the tree recovered from
                // it (uncommitted tail included) is kept, not reloaded.
            } else {
                rep.reload().await;
                assert_eq!(rep.tree.last_zxid(), to, "{me}: after TRUNC the tree must end at {to}");
            }
            for t in txns {
                rep.store.append(&t);
                rep.apply_committed(&t, false).await;
            }
        }
        SyncMode::Snap { zxid, tree } => {
            assert_eq!(tree.last_zxid(), zxid, "{me}: SNAP tree is at {} not {zxid}", tree.last_zxid());
            assert!(zxid >= rep.known_committed, "{me}: SNAP at {zxid} would lose committed {}", rep.known_committed);
            rep.store.install_snapshot(&tree).await;
            rep.tree = *tree;
            rep.tree.allow_orphans(rep.cfg.bugs.has(zksim_model::Bug::EphemeralAfterClose));
            rep.history.clear();
            rep.known_committed = zxid;
        }
    }
}
