//! When faults could have kept a lock holder from knowing it lost the lock.
//!
//! A holder learns that its session is gone only through its server; while a fault is active
//! (a partition, a paused or crashed node, message loss) or while a harness-ordered expiry is
//! on its way to the commit, another client can be granted the lock first. Such overlaps are
//! unfenced windows no lock service can prevent, not recipe bugs. A fault counts when it was
//! *active* at any moment of the window — one that started before the holder acquired and was
//! still on counts too (lock-herd-free-loss-oneway seed 113: acquired through a server cut off
//! by a one-way partition that began earlier; lock-herd-free-faults seed 278: acquired 3 ms
//! after the harness ordered the holder's session expired, before the close committed).

use crate::history::{Event, Fault, History, Node, Txn};
use crate::types::{SessionId, SimTime};
use std::collections::{BTreeMap, BTreeSet};

/// The intervals during which some fault was active, merged per kind (unsorted overall).
pub struct Disturbed {
    intervals: Vec<(SimTime, SimTime)>,
}

impl Disturbed {
    pub fn of(h: &History) -> Disturbed {
        let end = h.records.last().map_or(SimTime(0), |r| r.time);
        let mut intervals = Vec::new();
        let mut partitioned: Option<SimTime> = None;
        let mut lossy: Option<SimTime> = None;
        let mut stopped: BTreeMap<Node, SimTime> = BTreeMap::new();
        let mut expiring: BTreeMap<SessionId, SimTime> = BTreeMap::new();
        let mut closed: BTreeSet<SessionId> = BTreeSet::new();
        for r in &h.records {
            match &r.event {
                Event::Fault { fault } => {
                    // Every fault is at least a point of disturbance.
                    intervals.push((r.time, r.time));
                    match fault {
                        Fault::Partition { .. } | Fault::PartitionOneWay { .. } | Fault::Isolate { .. } => {
                            partitioned.get_or_insert(r.time);
                        }
                        Fault::Heal => {
                            if let Some(from) = partitioned.take() {
                                intervals.push((from, r.time));
                            }
                        }
                        Fault::Crash { node, .. } | Fault::Pause { node } => {
                            stopped.entry(*node).or_insert(r.time);
                        }
                        Fault::Restart { node } | Fault::Resume { node } => {
                            if let Some(from) = stopped.remove(node) {
                                intervals.push((from, r.time));
                            }
                        }
                        Fault::SetLossRate { rate } if *rate > 0.0 => {
                            lossy.get_or_insert(r.time);
                        }
                        Fault::SetLossRate { .. } => {
                            if let Some(from) = lossy.take() {
                                intervals.push((from, r.time));
                            }
                        }
                        Fault::ExpireSession { session } => {
                            if !closed.contains(session) {
                                expiring.entry(*session).or_insert(r.time);
                            }
                        }
                        Fault::SetLatency { .. } => {}
                    }
                }
                Event::Commit { txn, .. } => {
                    if let Txn::CloseSession { session, .. } = txn.txn {
                        closed.insert(session);
                        if let Some(from) = expiring.remove(&session) {
                            intervals.push((from, r.time));
                        }
                    }
                }
                _ => {}
            }
        }
        // Whatever is still active runs to the end of the history.
        let open = partitioned.into_iter().chain(lossy).chain(stopped.into_values()).chain(expiring.into_values());
        intervals.extend(open.map(|from| (from, end)));
        Disturbed { intervals }
    }

    /// True when some fault was active at a moment of [from, to].
    pub fn any_in(&self, from: SimTime, to: SimTime) -> bool {
        self.intervals.iter().any(|&(a, b)| a <= to && b >= from)
    }
}
