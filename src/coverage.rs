//! Coverage goals ("sometimes" properties): situations a good test run should reach at least
//! occasionally. A sweep that never reaches one has a hole in its testing. Computed from the
//! history alone.

use std::collections::{BTreeMap, BTreeSet};
use zksim_model::history::RecipeAction;
use zksim_model::{ClientId, Event, Fault, History, Node, OpId, Role, ServerId, SessionId, SessionState};

/// The goals and whether this run reached each.
pub fn goals(history: &History) -> BTreeMap<String, bool> {
    let mut leader: Option<ServerId> = None;
    let mut hit: BTreeSet<&'static str> = BTreeSet::new();
    let mut pending_writes: BTreeSet<OpId> = BTreeSet::new();
    let mut session_server: BTreeMap<SessionId, ServerId> = BTreeMap::new();
    let mut holding: BTreeMap<(ClientId, String), SessionId> = BTreeMap::new();
    let mut expired: BTreeSet<SessionId> = BTreeSet::new();
    let mut indeterminate_writes: BTreeSet<OpId> = BTreeSet::new();
    let mut write_invokes: BTreeMap<OpId, (SessionId, u64)> = BTreeMap::new();
    for r in &history.records {
        match &r.event {
            Event::Role { server, role, .. } => match role {
                Role::Leading => {
                    if leader.is_some_and(|l| l != *server) {
                        hit.insert("leader-changed");
                    }
                    leader = Some(*server);
                }
                Role::Down | Role::Looking if leader == Some(*server) => leader = None,
                _ => {}
            },
            Event::Fault { fault } => match fault {
                Fault::Crash { node: Node::Server(s), torn } if Some(*s) == leader => {
                    hit.insert("leader-crashed");
                    if !pending_writes.is_empty() {
                        hit.insert("leader-crashed-with-writes-in-flight");
                    }
                    if *torn {
                        hit.insert("torn-write-on-leader");
                    }
                }
                Fault::Crash { torn: true, .. } => {
                    hit.insert("torn-write");
                }
                Fault::Isolate { node: Node::Server(s) } if Some(*s) == leader => {
                    hit.insert("leader-isolated");
                }
                Fault::Partition { groups } => {
                    if let Some(l) = leader {
                        let size = history.header.servers.len();
                        let with_leader = groups.iter().find(|g| g.contains(&Node::Server(l)));
                        let servers_with =
                            with_leader.map_or(0, |g| g.iter().filter(|n| matches!(n, Node::Server(_))).count());
                        if with_leader.is_some() && servers_with * 2 <= size {
                            hit.insert("leader-in-minority-partition");
                        }
                    }
                }
                Fault::Pause { node: Node::Server(s) } if Some(*s) == leader => {
                    hit.insert("leader-paused");
                }
                Fault::Pause { node: Node::Client(_) } => {
                    hit.insert("client-paused");
                }
                Fault::ExpireSession { .. } => {
                    hit.insert("session-expiry-injected");
                }
                _ => {}
            },
            Event::Invoke { op_id, session, xid, op, .. } if op.is_write() => {
                pending_writes.insert(*op_id);
                write_invokes.insert(*op_id, (*session, *xid));
            }
            Event::Complete { op_id, outcome, .. } => {
                pending_writes.remove(op_id);
                if outcome.is_indeterminate() && write_invokes.contains_key(op_id) {
                    indeterminate_writes.insert(*op_id);
                }
            }
            Event::Session { session, state, server, .. } => match state {
                SessionState::SyncConnected => {
                    if let Some(s) = server {
                        if session_server.insert(*session, *s).is_some_and(|old| old != *s) {
                            hit.insert("client-reconnected-to-another-server");
                        }
                    }
                }
                SessionState::Expired => {
                    hit.insert("session-expired");
                    expired.insert(*session);
                    if holding.values().any(|s| s == session) {
                        hit.insert("holder-session-expired-while-holding");
                    }
                }
                _ => {}
            },
            Event::Recipe { client, session, note } => match &note.action {
                RecipeAction::Acquired { .. } | RecipeAction::Leading { .. } => {
                    holding.insert((*client, note.recipe.clone()), *session);
                }
                RecipeAction::Released { .. } | RecipeAction::Abdicated | RecipeAction::Lost => {
                    holding.remove(&(*client, note.recipe.clone()));
                }
                RecipeAction::Woken { acquired: false } => {
                    hit.insert("futile-wakeup");
                }
                RecipeAction::Fenced { accepted: false, .. } => {
                    hit.insert("fenced-resource-rejected-stale-token");
                }
                _ => {}
            },
            _ => {}
        }
    }
    // Whether each indeterminate write committed: one more pass over the Commit records, keeping
    // only the few (session, xid) asked about rather than every commit of every server.
    let wanted: BTreeSet<(SessionId, u64)> = indeterminate_writes.iter().map(|op| write_invokes[op]).collect();
    let mut committed: BTreeSet<(SessionId, u64)> = BTreeSet::new();
    if !wanted.is_empty() {
        for r in &history.records {
            if let Event::Commit { txn, .. } = &r.event {
                if let zksim_model::Txn::Client { session, xid, .. } = &txn.txn {
                    if wanted.contains(&(*session, *xid)) {
                        committed.insert((*session, *xid));
                    }
                }
            }
        }
    }
    for op in &indeterminate_writes {
        let key = write_invokes[op];
        if committed.contains(&key) {
            hit.insert("indeterminate-write-applied");
        } else {
            hit.insert("indeterminate-write-not-applied");
        }
    }
    ALL_GOALS.iter().map(|g| (g.to_string(), hit.contains(g))).collect()
}

/// Every goal, so a sweep can list the ones never reached.
pub const ALL_GOALS: &[&str] = &[
    "client-paused",
    "client-reconnected-to-another-server",
    "fenced-resource-rejected-stale-token",
    "futile-wakeup",
    "holder-session-expired-while-holding",
    "indeterminate-write-applied",
    "indeterminate-write-not-applied",
    "leader-changed",
    "leader-crashed",
    "leader-crashed-with-writes-in-flight",
    "leader-in-minority-partition",
    "leader-isolated",
    "leader-paused",
    "session-expired",
    "session-expiry-injected",
    "torn-write",
    "torn-write-on-leader",
];

#[cfg(test)]
mod tests {
    use super::*;
    use zksim_model::history::HISTORY_FORMAT;
    use zksim_model::{Header, Record, SimTime};

    fn history(events: Vec<Event>) -> History {
        History {
            header: Header {
                format: HISTORY_FORMAT,
                scenario: "t".into(),
                seed: 0,
                config_hash: String::new(),
                servers: vec![ServerId(1), ServerId(2), ServerId(3)],
                clients: vec![],
                tick_ms: 100,
            },
            records: events
                .into_iter()
                .enumerate()
                .map(|(i, event)| Record { time: SimTime(i as u64), event })
                .collect(),
        }
    }

    #[test]
    fn leader_crash_is_reached_only_when_the_leader_crashes() {
        let s = |n| ServerId(n);
        let lead = Event::Role { server: s(1), role: Role::Leading, epoch: 1 };
        let crash = |n| Event::Fault { fault: Fault::Crash { node: Node::Server(s(n)), torn: false } };
        assert!(goals(&history(vec![lead.clone(), crash(1)]))["leader-crashed"]);
        assert!(!goals(&history(vec![lead, crash(2)]))["leader-crashed"]);
        assert!(goals(&history(vec![])).values().all(|v| !v), "an empty run reaches nothing");
        assert_eq!(goals(&history(vec![])).len(), ALL_GOALS.len());
    }
}
