//! `session-expiry` and `ephemeral-cleanup`.
//!
//! session-expiry — an expiry is a violation only when nothing could explain it. For a session S
//! expired by a closeSession(Expired) committed at time t with negotiated timeout T, all of:
//! 1. S's client recorded SyncConnected at or before t − T and no other state for S after that
//!    up to t (it stayed connected to one server);
//! 2. no `ExpireSession` fault named S before t;
//! 3. S's client process did not crash after that SyncConnected (a crashed client stops pinging,
//!    and the restarted process opens a new session: the old one is left to expire);
//! 4. the ensemble was undisturbed over [t − T, t]: no partition, isolation, crash, pause or
//!    message loss active at any moment of it, no latency above T/3, and no server changed role
//!    in it (a client that is neither paused nor cut off pings at least every T/3, so its
//!    server keeps touching the session).
//!
//! Then the service expired a session that kept pinging. When the history has no Session
//! records at all, the property is NotApplicable. T comes from the Session records' timeout, or
//! the createSession transaction.
//!
//! ephemeral-cleanup — the closeSession transaction deletes the session's ephemerals at once:
//! no ephemeral create of S commits after S's close (ZOOKEEPER-1208), no read at or after the
//! close's zxid shows a node owned by S (a Stat naming S, or a getChildren listing a node the
//! close deleted), and the reference model itself holds none after it.

use super::explain::Violation;
use super::index::HistoryIndex;
use super::replay::Replay;
use crate::history::{CloseReason, Event, Fault, Node, Txn};
use crate::op::{MultiOp, Op, OpResult, Outcome};
use crate::types::{ClientId, SessionId, SessionState, SimTime};
use std::collections::{BTreeMap, BTreeSet};

/// Times at which the ensemble went from undisturbed to disturbed or back, plus role changes.
struct Disturbances {
    /// (time, disturbed after this record). Only records that change something are listed.
    changes: Vec<(SimTime, bool)>,
    roles: Vec<SimTime>,
    expire_faults: BTreeMap<SessionId, SimTime>,
    /// Per client, the times its process crashed, in order.
    client_crashes: BTreeMap<ClientId, Vec<SimTime>>,
}

impl Disturbances {
    fn build(ix: &HistoryIndex<'_>, timeout_ms: u64) -> Disturbances {
        let mut partitioned = false;
        let mut down = BTreeSet::new();
        let mut paused = BTreeSet::new();
        let mut loss = false;
        let mut slow = false;
        let mut changes = Vec::new();
        let mut roles = Vec::new();
        let mut expire_faults = BTreeMap::new();
        let mut client_crashes: BTreeMap<ClientId, Vec<SimTime>> = BTreeMap::new();
        for r in &ix.history.records {
            match &r.event {
                Event::Fault { fault } => {
                    match fault {
                        Fault::Partition { .. } | Fault::PartitionOneWay { .. } | Fault::Isolate { .. } => {
                            partitioned = true
                        }
                        Fault::Heal => partitioned = false,
                        Fault::Crash { node, .. } => {
                            if let Node::Client(c) = node {
                                client_crashes.entry(*c).or_default().push(r.time);
                            }
                            down.insert(*node);
                        }
                        Fault::Restart { node } => {
                            down.remove(node);
                        }
                        Fault::Pause { node } => {
                            paused.insert(*node);
                        }
                        Fault::Resume { node } => {
                            paused.remove(node);
                        }
                        Fault::SetLossRate { rate } => loss = *rate > 0.0,
                        Fault::SetLatency { latency_ms_max, .. } => {
                            slow = latency_ms_max.saturating_mul(3) >= timeout_ms
                        }
                        Fault::ExpireSession { session } => {
                            expire_faults.entry(*session).or_insert(r.time);
                        }
                    }
                    let disturbed = partitioned || !down.is_empty() || !paused.is_empty() || loss || slow;
                    // Every fault record is itself a change point (even one that leaves the state
                    // as it was: a second partition reshapes the network).
                    changes.push((r.time, disturbed));
                }
                Event::Role { .. } => roles.push(r.time),
                _ => {}
            }
        }
        Disturbances { changes, roles, expire_faults, client_crashes }
    }

    /// True when something disturbed the ensemble at any moment of [from, to].
    fn any_in(&self, from: SimTime, to: SimTime) -> bool {
        let k = self.changes.partition_point(|&(t, _)| t < from);
        let before = k > 0 && self.changes[k - 1].1;
        let inside = self.changes.get(k).is_some_and(|&(t, _)| t <= to);
        let role = self.roles.get(self.roles.partition_point(|&t| t < from)).is_some_and(|&t| t <= to);
        before || inside || role
    }

    /// True when `client`'s process crashed in (from, to].
    fn client_crashed_in(&self, client: ClientId, from: SimTime, to: SimTime) -> bool {
        self.client_crashes.get(&client).is_some_and(|ts| ts.iter().any(|&t| t > from && t <= to))
    }
}

/// Session-expiry violations; `None` when the history has no Session records.
pub fn expiry(ix: &HistoryIndex<'_>) -> Option<(Vec<Violation>, u64)> {
    if ix.sessions.is_empty() {
        return None;
    }
    let mut timeouts: BTreeMap<SessionId, u64> = BTreeMap::new();
    let mut states: BTreeMap<SessionId, Vec<(usize, ClientId, SessionState)>> = BTreeMap::new();
    for &(rec, client, s, state, t) in &ix.sessions {
        states.entry(s).or_default().push((rec, client, state));
        if let Some(t) = t {
            timeouts.insert(s, t);
        }
    }
    for c in &ix.log {
        if let Txn::CreateSession { session, timeout_ms } = c.txn.txn {
            timeouts.entry(session).or_insert(timeout_ms);
        }
    }
    let mut v = Vec::new();
    let mut checked = 0;
    let mut by_timeout: BTreeMap<u64, Disturbances> = BTreeMap::new();
    for c in &ix.log {
        let Txn::CloseSession { session, reason: CloseReason::Expired } = c.txn.txn else { continue };
        let Some(&timeout) = timeouts.get(&session) else { continue };
        checked += 1;
        let t = ix.history.records[c.rec as usize].time;
        let from = SimTime(t.0.saturating_sub(timeout * 1_000_000));
        let d = by_timeout.entry(timeout).or_insert_with(|| Disturbances::build(ix, timeout));
        if d.expire_faults.get(&session).is_some_and(|&ft| ft <= t) || d.any_in(from, t) {
            continue;
        }
        let Some(hist) = states.get(&session) else { continue };
        // The last state recorded for the session before the close.
        let k = hist.partition_point(|&(rec, _, _)| rec < c.rec as usize);
        if k == 0 {
            continue;
        }
        let (rec, client, state) = hist[k - 1];
        let connected_at = ix.history.records[rec].time;
        if state != SessionState::SyncConnected || connected_at > from || d.client_crashed_in(client, connected_at, t) {
            continue;
        }
        v.push(
            Violation::new(format!(
                "session {session} was expired while its client stayed connected and nothing disturbed the ensemble for its whole {timeout}ms timeout"
            ))
            .record(ix.record_ref(rec))
            .record(ix.commit_ref(c))
            .expected(format!("no expiry: connected since {}, undisturbed from {from} to {t}", ix.history.records[rec].time))
            .observed(format!("closeSession(Expired) at {}", c.txn.zxid)),
        );
    }
    Some((v, checked))
}

/// Ephemeral-cleanup violations.
pub fn ephemerals(ix: &HistoryIndex<'_>, r: &Replay) -> (Vec<Violation>, u64) {
    let mut v: Vec<Violation> = r.model_findings.clone();
    v.extend(r.listed_after_close.iter().cloned());
    if r.closes.is_empty() {
        // No session closed: nothing below could be late.
        return (v, 0);
    }
    let close_zxid = |s: SessionId| r.closes.get(&s).map(|&(p, _)| (p, ix.log[p].zxid));
    for (n, o) in ix.ops.iter().enumerate() {
        let Some((cp, cz)) = close_zxid(ix.session_of(o)) else { continue };
        // An ephemeral create of the session that committed after its close and reported Ok.
        let creates_ephemeral = match o.op {
            Op::Create { mode, .. } => mode.is_ephemeral(),
            Op::Multi { ops } => ops.iter().any(|m| matches!(m, MultiOp::Create { mode, .. } if mode.is_ephemeral())),
            _ => false,
        };
        if creates_ephemeral && o.acked() {
            if let Some(z) = r.write_zxid(ix, n) {
                if z > cz {
                    v.push(
                        Violation::new(format!(
                            "op {} created an ephemeral for session {} after the session was closed at {cz}",
                            ix.op_id_of(o).0,
                            ix.session_of(o)
                        ))
                        .at(z)
                        .op(ix.op_ref(n))
                        .record(ix.commit_ref(&ix.log[cp]))
                        .expected("SessionExpired: a closed session owns nothing"),
                    );
                }
            }
        }
    }
    // Reads, by anyone, that show a node owned by a session at or after its close.
    for (n, o) in ix.ops.iter().enumerate() {
        if o.is_write() {
            continue;
        }
        let (Some(Outcome::Ok { value }), Some(z)) = (o.definite(), o.reply_zxid()) else { continue };
        let stat = match value {
            OpResult::GetData { stat, .. } => Some(stat),
            OpResult::Exists { stat } => stat.as_ref(),
            _ => None,
        };
        let Some(stat) = stat else { continue };
        if stat.ephemeral_owner.0 == 0 {
            continue;
        }
        if let Some((cp, cz)) = close_zxid(stat.ephemeral_owner) {
            if z >= cz {
                v.push(
                    Violation::new(format!(
                        "op {} saw {} still owned by session {} at zxid {z}, after the session closed at {cz}",
                        ix.op_id_of(o).0,
                        o.op.path().unwrap_or("?"),
                        stat.ephemeral_owner
                    ))
                    .at(z)
                    .op(ix.op_ref(n))
                    .record(ix.commit_ref(&ix.log[cp]))
                    .expected("the ephemeral deleted by the close transaction"),
                );
            }
        }
    }
    (v, r.closes.len() as u64)
}
