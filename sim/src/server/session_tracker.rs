//! The leader's session deadlines, bucketed by tick like ZooKeeper's `SessionTrackerImpl`:
//! a session expires at the first tick boundary after its timeout has passed since its last
//! activity, so expiry checks only look at one bucket per tick.

use std::collections::{BTreeMap, BTreeSet};
use zksim_model::SessionId;

/// Session deadlines, in simulated milliseconds.
#[derive(Debug)]
pub struct SessionTracker {
    tick_ms: u64,
    /// session → (timeout, bucket it expires at)
    sessions: BTreeMap<SessionId, (u64, u64)>,
    buckets: BTreeMap<u64, BTreeSet<SessionId>>,
}

impl SessionTracker {
    /// An empty tracker with `tick_ms` buckets.
    pub fn new(tick_ms: u64) -> SessionTracker {
        assert!(tick_ms > 0, "tick must be positive");
        SessionTracker { tick_ms, sessions: BTreeMap::new(), buckets: BTreeMap::new() }
    }

    fn bucket(&self, deadline_ms: u64) -> u64 {
        deadline_ms.div_ceil(self.tick_ms) * self.tick_ms
    }

    /// Starts tracking `session` (or renews it), with its deadline `timeout_ms` from `now_ms`.
    pub fn add(&mut self, session: SessionId, timeout_ms: u64, now_ms: u64) {
        self.remove(session);
        let b = self.bucket(now_ms + timeout_ms);
        self.sessions.insert(session, (timeout_ms, b));
        self.buckets.entry(b).or_default().insert(session);
    }

    /// Renews a tracked session after activity. Unknown sessions are ignored (closed ones).
    pub fn touch(&mut self, session: SessionId, now_ms: u64) {
        if let Some((timeout, _)) = self.sessions.get(&session).copied() {
            self.add(session, timeout, now_ms);
        }
    }

    /// Stops tracking `session`.
    pub fn remove(&mut self, session: SessionId) {
        if let Some((_, b)) = self.sessions.remove(&session) {
            if let Some(set) = self.buckets.get_mut(&b) {
                set.remove(&session);
                if set.is_empty() {
                    self.buckets.remove(&b);
                }
            }
        }
    }

    /// Removes and returns the sessions whose deadline is at or before `now_ms`.
    pub fn expire(&mut self, now_ms: u64) -> Vec<SessionId> {
        let due: Vec<u64> = self.buckets.range(..=now_ms).map(|(b, _)| *b).collect();
        let mut out = Vec::new();
        for b in due {
            for s in self.buckets.remove(&b).unwrap_or_default() {
                self.sessions.remove(&s);
                out.push(s);
            }
        }
        out
    }

    /// True when `session` is tracked.
    pub fn contains(&self, session: SessionId) -> bool {
        self.sessions.contains_key(&session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_at_the_tick_after_their_timeout_unless_touched() {
        let mut t = SessionTracker::new(100);
        t.add(SessionId(1), 250, 0);
        t.add(SessionId(2), 250, 0);
        assert!(t.expire(250).is_empty(), "deadlines round up to the next tick");
        t.touch(SessionId(2), 200);
        assert_eq!(t.expire(300), vec![SessionId(1)]);
        assert!(!t.contains(SessionId(1)));
        assert_eq!(t.expire(500), vec![SessionId(2)]);
    }
}
