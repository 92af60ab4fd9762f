//! The leader: discovery (a new epoch from a quorum's accepted epochs), synchronization of
//! each learner, establishment once a quorum acked NEWLEADER, then broadcast until it loses
//! its quorum.

use crate::deadline::Deadline;
use crate::proto::{ControlMsg, ControlReply};
use crate::server::conn::{ConnId, Input, Link};
use crate::server::reaper::reap_candidates;
use crate::server::replica::Replica;
use crate::server::session_tracker::SessionTracker;
use crate::server::storage::SharedTxn;
use crate::server::zab::broadcast::Outstanding;
use crate::server::zab::discovery::{learner_is_ahead, new_epoch};
use crate::server::zab::messages::{Forward, SyncMode, ZabMsg};
use crate::server::zab::sync::{plan, txns_after, Plan};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;
use zksim_model::history::CloseReason;
use zksim_model::{Bug, ErrorCode, Role, ServerId, SessionId, Txn, TxnRecord, Zxid};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    AwaitInfo,
    AwaitAckEpoch,
    /// Sync sent, gets every proposal and commit; waiting for its NEWLEADER ack.
    Syncing,
    /// Acked NEWLEADER: its acks count.
    Active,
}

struct Learner {
    link: Link<ZabMsg>,
    sid: Option<ServerId>,
    phase: Phase,
    last_heard_ms: u64,
}

/// Where an answer goes: a learner's connection or our own frontend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Local,
    Learner(ConnId),
}

/// An answer that must not overtake the commits of proposals made before it.
struct Deferred {
    after: Zxid,
    origin: Origin,
    msg: ZabMsg,
}

struct Leader {
    epoch: Option<u32>,
    accepted: BTreeMap<ServerId, u32>,
    ack_epochs: BTreeSet<ServerId>,
    newleader_acks: BTreeSet<ServerId>,
    established: bool,
    learners: BTreeMap<ConnId, Learner>,
    out: Outstanding,
    counter: u32,
    next_session: u64,
    tracker: SessionTracker,
    creating: BTreeSet<SessionId>,
    closing: BTreeSet<SessionId>,
    /// Which server's connection owns each session (ZooKeeper's `SessionImpl.owner`): set when
    /// the session is created or revalidated on reconnect; a write forwarded by anyone else
    /// becomes a SessionMoved error txn. Sessions inherited from an earlier epoch have no owner
    /// until their client reconnects (every server drops its clients on a leader change).
    owners: BTreeMap<SessionId, Origin>,
    deferred: VecDeque<Deferred>,
    ticks: u64,
}

fn now_ms() -> u64 {
    crate::recorder::now().as_millis()
}

impl Leader {
    fn send_to(&self, conn: ConnId, msg: ZabMsg) {
        if let Some(l) = self.learners.get(&conn) {
            l.link.send(msg);
        }
    }

    fn broadcast(&self, msg: &ZabMsg) {
        for l in self.learners.values().filter(|l| matches!(l.phase, Phase::Syncing | Phase::Active)) {
            l.link.send(msg.clone());
        }
    }

    fn live(&self, rep: &Replica, s: SessionId) -> bool {
        // The planted ZOOKEEPER-1208 bug forgets that a close is in flight: requests prepared
        // after it commit after it.
        let closing = self.closing.contains(&s) && !rep.cfg.bugs.has(Bug::EphemeralAfterClose);
        (rep.tree.session_open(s) || self.creating.contains(&s)) && !closing
    }

    fn propose(&mut self, rep: &mut Replica, txn: Txn) {
        let epoch = self.epoch.expect("proposals only after discovery");
        assert!(self.established, "a leader proposes only once established");
        self.counter = self.counter.checked_add(1).expect("zxid counter overflow: needs a new epoch");
        let rec = SharedTxn::new(TxnRecord { zxid: Zxid::new(epoch, self.counter), time_ms: now_ms() as i64, txn });
        rep.store.append(&rec);
        self.out.propose(rec.clone());
        self.broadcast(&ZabMsg::Proposal(rec));
    }

    fn defer(&mut self, origin: Origin, msg: ZabMsg) {
        self.deferred.push_back(Deferred { after: self.out.last_proposed(), origin, msg });
    }

    fn handle_forward(&mut self, rep: &mut Replica, origin: Origin, fwd: Forward) {
        match fwd {
            Forward::CreateSession { token, timeout_ms } => {
                self.next_session += 1;
                let epoch = self.epoch.expect("established") as u64;
                let session = SessionId((epoch << 32) | self.next_session);
                self.creating.insert(session);
                self.owners.insert(session, origin);
                self.tracker.add(session, timeout_ms, now_ms());
                match origin {
                    Origin::Local => rep.front.assigned(token, session),
                    Origin::Learner(c) => self.send_to(c, ZabMsg::SessionAssigned { token, session }),
                }
                self.propose(rep, Txn::CreateSession { session, timeout_ms });
            }
            Forward::Revalidate { token, session } => {
                let valid = self.live(rep, session);
                if valid {
                    self.tracker.touch(session, now_ms());
                    self.owners.insert(session, origin);
                }
                match origin {
                    Origin::Local => rep.front.revalidated(token, valid, &rep.tree, rep.cfg.id),
                    Origin::Learner(c) => self.send_to(c, ZabMsg::Revalidated { token, valid }),
                }
            }
            Forward::Write { session, xid, op } => {
                if !self.live(rep, session) {
                    self.defer(origin, ZabMsg::Rejected { session, xid, code: ErrorCode::SessionExpired });
                } else if op == zksim_model::Op::CloseSession {
                    // Not owner-checked, as in ZooKeeper: closeSession is the session's last
                    // request, and the expirer issues it without being the owner.
                    self.closing.insert(session);
                    self.tracker.remove(session);
                    self.owners.remove(&session);
                    self.propose(rep, Txn::CloseSession { session, reason: CloseReason::Closed });
                } else if !self.owned_by(rep, session, origin) {
                    // ZooKeeper's checkSession: the session moved to another server since this
                    // request was sent; committing it now could reorder it after the session's
                    // newer requests. It becomes an error txn that changes nothing.
                    self.propose(rep, Txn::Error { session, xid, code: ErrorCode::SessionMoved });
                } else {
                    self.tracker.touch(session, now_ms());
                    self.propose(rep, Txn::Client { session, xid, op });
                }
            }
            Forward::Sync { session, xid } => self.defer(origin, ZabMsg::Synced { session, xid }),
            Forward::Expire { session } => self.expire(rep, session),
            Forward::Touch { sessions } => {
                for s in sessions {
                    self.tracker.touch(s, now_ms());
                }
            }
        }
    }

    /// ZooKeeper's `SessionTrackerImpl.checkSession` owner test: a session without an owner
    /// adopts the forwarding server; one owned by another server has moved. The planted
    /// `no-session-moved` bug skips the test.
    fn owned_by(&mut self, rep: &Replica, session: SessionId, origin: Origin) -> bool {
        if rep.cfg.bugs.has(Bug::NoSessionMoved) {
            return true;
        }
        *self.owners.entry(session).or_insert(origin) == origin
    }

    fn expire(&mut self, rep: &mut Replica, session: SessionId) {
        if self.live(rep, session) {
            self.closing.insert(session);
            self.tracker.remove(session);
            self.owners.remove(&session);
            self.propose(rep, Txn::CloseSession { session, reason: CloseReason::Expired });
        }
    }

    /// Sends the learner on `conn` its sync, the outstanding proposals and NEWLEADER.
    fn sync_learner(&mut self, rep: &Replica, conn: ConnId, learner_zxid: Zxid) {
        let committed = self.out.last_committed();
        let mode = match plan(learner_zxid, rep.store.floor(), &rep.history, committed) {
            Plan::Diff { from } => SyncMode::Diff { txns: txns_after(&rep.history, from, committed) },
            // Planted bug ZOOKEEPER-1154: take the learner's log for a prefix of ours and send
            // what comes after its last zxid, leaving its divergent tail in place.
            Plan::Trunc { .. } if rep.cfg.bugs.has(Bug::DiffInsteadOfTrunc) => {
                SyncMode::Diff { txns: txns_after(&rep.history, learner_zxid, committed) }
            }
            Plan::Trunc { to } => SyncMode::Trunc { to, txns: txns_after(&rep.history, to, committed) },
            Plan::Snap => SyncMode::Snap { zxid: rep.tree.last_zxid(), tree: Box::new(rep.tree.clone()) },
        };
        if let SyncMode::Snap { zxid, .. } = &mode {
            assert_eq!(*zxid, committed, "a snapshot sent to a learner is the committed tree");
        }
        self.send_to(conn, ZabMsg::Sync(mode));
        for p in self.out.pending() {
            self.send_to(conn, ZabMsg::Proposal(p.clone()));
        }
        self.send_to(conn, ZabMsg::NewLeader { epoch: self.epoch.expect("epoch known before sync") });
        if let Some(l) = self.learners.get_mut(&conn) {
            l.phase = Phase::Syncing;
        }
    }

    fn quorum_heard(&self, rep: &Replica, now: u64) -> bool {
        let limit = rep.cfg.sync_limit * rep.cfg.tick_ms;
        let mut voters = vec![rep.cfg.id];
        voters.extend(
            self.learners
                .values()
                .filter(|l| l.phase == Phase::Active && now.saturating_sub(l.last_heard_ms) <= limit)
                .filter_map(|l| l.sid),
        );
        rep.cfg.is_quorum(&voters)
    }

    /// Sends (or answers locally) the deferred answers at the front whose txn passes `done`.
    fn release_deferred(&mut self, rep: &mut Replica, done: impl Fn(Zxid) -> bool) {
        while self.deferred.front().is_some_and(|d| done(d.after)) {
            let d = self.deferred.pop_front().expect("front exists");
            match (d.origin, d.msg) {
                (Origin::Learner(c), msg) => self.send_to(c, msg),
                (Origin::Local, ZabMsg::Synced { session, xid }) => rep.front.synced(session, xid, &rep.tree),
                (Origin::Local, ZabMsg::Rejected { session, xid, code }) => {
                    rep.front.rejected(session, xid, code, &rep.tree)
                }
                (Origin::Local, other) => panic!("{}: unexpected local deferred answer {other:?}", rep.cfg.id),
            }
        }
    }
}

/// Leads until the quorum is lost (or never formed); returns why.
pub async fn lead(rep: &mut Replica) -> String {
    let me = rep.cfg.id;
    let start = now_ms();
    let init_deadline = start + rep.cfg.init_limit * rep.cfg.tick_ms;
    let committed = rep.tree.last_zxid();
    assert_eq!(committed, rep.store.last_logged(), "a new leader's tree holds its whole log");
    let mut l = Leader {
        epoch: None,
        accepted: [(me, rep.store.accepted_epoch())].into_iter().collect(),
        ack_epochs: BTreeSet::new(),
        newleader_acks: BTreeSet::new(),
        established: false,
        learners: BTreeMap::new(),
        out: Outstanding::new(committed),
        counter: 0,
        next_session: 0,
        tracker: SessionTracker::new(rep.cfg.tick_ms),
        creating: BTreeSet::new(),
        closing: BTreeSet::new(),
        owners: BTreeMap::new(),
        deferred: VecDeque::new(),
        ticks: 0,
    };
    let parked = std::mem::take(&mut rep.parked_peers);
    let mut backlog: VecDeque<Input> = parked.into();
    let tick = Duration::from_millis(rep.cfg.tick_ms);
    let mut next_tick = crate::server::task::now() + tick;
    // One timer per tick, however many messages arrive in between (crate::deadline).
    let mut tick_timer = Deadline::at(next_tick);
    loop {
        // Discovery: propose a new epoch once a quorum (us included) reported.
        if l.epoch.is_none() && rep.cfg.is_quorum(l.accepted.keys()) {
            let epoch = new_epoch(&l.accepted);
            assert!(epoch > rep.store.accepted_epoch(), "{me}: a leader proposes an epoch above any it accepted");
            rep.store.set_accepted_epoch(epoch).await;
            l.epoch = Some(epoch);
            l.ack_epochs.insert(me);
            for (c, lr) in l.learners.iter_mut() {
                if lr.phase == Phase::AwaitInfo && lr.sid.is_some() {
                    lr.phase = Phase::AwaitAckEpoch;
                    let _ = c;
                    lr.link.send(ZabMsg::LeaderInfo { epoch });
                }
            }
        }
        // Our own NEWLEADER ack: currentEpoch persisted once a quorum acked the epoch.
        if let Some(epoch) = l.epoch {
            if !l.newleader_acks.contains(&me) && rep.cfg.is_quorum(&l.ack_epochs) {
                rep.store.fsync().await;
                rep.store.set_current_epoch(epoch).await;
                l.newleader_acks.insert(me);
            }
            if !l.established && rep.cfg.is_quorum(&l.newleader_acks) {
                l.established = true;
                rep.note_epoch_leader(epoch, me);
                rep.set_role(Role::Leading, epoch);
                // Late joiners must see leader and followers agree on the new epoch (ZOOKEEPER-1732).
                rep.election.update_election_vote(epoch);
                // The whole history we synced the quorum to is now committed.
                for t in &rep.history {
                    rep.recorder.commit(me, t);
                }
                rep.known_committed = committed;
                for (s, timeout) in rep.tree.sessions() {
                    l.tracker.add(s, timeout, now_ms());
                }
                for lr in l.learners.values().filter(|lr| lr.phase == Phase::Active) {
                    lr.link.send(ZabMsg::UpToDate);
                }
            }
        }
        if !l.established && now_ms() > init_deadline {
            return format!("no quorum synced within initLimit (epoch {:?})", l.epoch);
        }

        let input = if let Some(i) = backlog.pop_front() {
            Some(i)
        } else {
            tick_timer.reset(next_tick);
            tokio::select! {
                // `biased`: fixed polling order, so the schedule depends on the seed alone.
                biased;
                i = rep.inputs.recv() => i,
                _ = &mut tick_timer => None,
            }
        };
        let mut batch: Vec<Input> = input.into_iter().collect();
        while let Ok(i) = rep.inputs.try_recv() {
            batch.push(i);
        }
        if crate::server::task::now() >= next_tick {
            next_tick += tick;
            l.ticks += 1;
            let now = now_ms();
            for lr in l.learners.values().filter(|lr| lr.phase != Phase::AwaitInfo) {
                lr.link.send(ZabMsg::Ping);
            }
            if l.established {
                if !l.quorum_heard(rep, now) {
                    return "lost contact with a quorum for syncLimit".into();
                }
                for s in l.tracker.expire(now) {
                    l.expire(rep, s);
                }
                let touched = rep.front.take_touched();
                for s in touched {
                    l.tracker.touch(s, now);
                }
                if l.ticks.is_multiple_of(rep.cfg.reap_every_ticks) {
                    for txn in reap_candidates(&rep.tree, now as i64) {
                        l.propose(rep, txn);
                    }
                }
            }
        }
        for input in batch {
            if let Some(why) = handle(rep, &mut l, input).await {
                return why;
            }
        }
        // Our own frontend's requests.
        if l.established {
            for fwd in std::mem::take(&mut rep.front.outbox) {
                l.handle_forward(rep, Origin::Local, fwd);
            }
        }
        // Group commit: one fsync for everything proposed in this batch, then our own ack.
        if rep.store.is_dirty() {
            rep.store.fsync().await;
        }
        if l.established && l.out.last_proposed() > l.out.last_committed() {
            l.out.ack(me, rep.store.last_logged().min(l.out.last_proposed()));
        }
        // Planted bug commit-without-quorum: the leader's own (durable) ack is enough.
        let alone = rep.cfg.bugs.has(Bug::CommitWithoutQuorum);
        let committable = l.out.take_committable(|acks| rep.cfg.is_quorum(acks) || (alone && acks.contains(&me)));
        for txn in committable {
            // Answers waiting for earlier txns go out before this commit: a session's sync
            // followed by a pipelined write must complete in that order on its server.
            l.release_deferred(rep, |after| after < txn.zxid);
            l.broadcast(&ZabMsg::Commit { zxid: txn.zxid });
            l.creating.remove(match &txn.txn {
                Txn::CreateSession { session, .. } => session,
                _ => &SessionId(0),
            });
            if let Txn::CloseSession { session, .. } = &txn.txn {
                l.closing.remove(session);
            }
            rep.apply_committed(&txn, true).await;
        }
        let committed = l.out.last_committed();
        l.release_deferred(rep, |after| after <= committed);
    }
}

/// Handles one input; `Some(reason)` means step down.
async fn handle(rep: &mut Replica, l: &mut Leader, input: Input) -> Option<String> {
    let me = rep.cfg.id;
    match input {
        Input::PeerAccepted { sender, receiver } => {
            let link = rep.link_peer(sender, receiver);
            l.learners.insert(link.id, Learner { link, sid: None, phase: Phase::AwaitInfo, last_heard_ms: now_ms() });
        }
        Input::PeerGone { conn } => {
            l.learners.remove(&conn);
        }
        Input::Peer { conn, msg } => {
            let lr = l.learners.get_mut(&conn)?;
            lr.last_heard_ms = now_ms();
            match (lr.phase, msg) {
                (Phase::AwaitInfo, ZabMsg::FollowerInfo { from, accepted_epoch, last_zxid: _ }) => {
                    if from == me || !rep.cfg.ensemble.contains(&from) {
                        l.learners.remove(&conn);
                        return None;
                    }
                    lr.sid = Some(from);
                    // A server reconnecting replaces its older connection.
                    let stale: Vec<ConnId> = l
                        .learners
                        .iter()
                        .filter(|(c, x)| **c != conn && x.sid == Some(from))
                        .map(|(c, _)| *c)
                        .collect();
                    for c in stale {
                        l.learners.remove(&c);
                    }
                    l.accepted.entry(from).and_modify(|e| *e = (*e).max(accepted_epoch)).or_insert(accepted_epoch);
                    if let Some(epoch) = l.epoch {
                        let lr = l.learners.get_mut(&conn).expect("just seen");
                        lr.phase = Phase::AwaitAckEpoch;
                        lr.link.send(ZabMsg::LeaderInfo { epoch });
                    }
                }
                (Phase::AwaitAckEpoch, ZabMsg::AckEpoch { current_epoch, last_zxid }) => {
                    let sid = lr.sid.expect("sid known after FOLLOWERINFO");
                    let mine = (rep.store.current_epoch(), rep.store.last_logged());
                    if let Some(current_epoch) = current_epoch {
                        if !l.established && learner_is_ahead(mine, (current_epoch, last_zxid)) {
                            return Some(format!(
                                "{sid} has a more recent history ({current_epoch}, {last_zxid}) than ours {mine:?}"
                            ));
                        }
                        l.ack_epochs.insert(sid);
                    }
                    l.sync_learner(rep, conn, last_zxid);
                }
                (Phase::Syncing, ZabMsg::AckNewLeader { epoch }) => {
                    assert_eq!(Some(epoch), l.epoch, "NEWLEADER ack for another epoch");
                    let sid = lr.sid.expect("sid known");
                    lr.phase = Phase::Active;
                    l.newleader_acks.insert(sid);
                    if l.established {
                        l.send_to(conn, ZabMsg::UpToDate);
                    }
                }
                (Phase::Active, ZabMsg::Ack { zxid }) => {
                    let sid = lr.sid.expect("sid known");
                    if zxid > l.out.last_committed() {
                        l.out.ack(sid, zxid);
                    }
                }
                (Phase::Syncing | Phase::Active, ZabMsg::Request(fwd)) => {
                    if l.established {
                        l.handle_forward(rep, Origin::Learner(conn), fwd);
                    }
                }
                (Phase::Syncing, ZabMsg::Ack { .. }) => {}
                (phase, msg) => {
                    tracing::debug!("{me}: dropping learner {conn} that sent {msg:?} in {phase:?}");
                    l.learners.remove(&conn);
                }
            }
        }
        Input::ClientAccepted { sender, receiver } => {
            let link = rep.link_client(sender, receiver);
            rep.front.accept(link);
        }
        Input::Client { conn, msg } => rep.front.on_message(conn, msg, l.established, &rep.tree),
        Input::ClientGone { conn } => rep.front.gone(conn),
        Input::Control { msg, reply } => {
            let answer = match msg {
                ControlMsg::FinalState => {
                    ControlReply::FinalState { last_zxid: rep.tree.last_zxid(), digest: rep.tree.digest() }
                }
                ControlMsg::ExpireSession(s) if l.established => {
                    l.expire(rep, s);
                    ControlReply::Expiring
                }
                ControlMsg::ExpireSession(_) => ControlReply::Unavailable,
            };
            let _ = reply.send(answer);
        }
    }
    None
}
