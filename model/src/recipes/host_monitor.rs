//! Host-monitoring properties (recipe `hosts:<root>`).
//!
//! - `monitor-online-set`: every host a monitor shows online had its node in the committed log
//!   at some point (no phantom), and each monitor's last view equals the hosts whose ephemeral
//!   nodes exist in the committed log when the liveness phase ends (the first session close:
//!   the harness's stop), reached no later than `bound_ms` after the
//!   later of the last change to that set and the last fault record (an expired host's node
//!   leaves the log within the session timeout; the bound covers the monitor's reaction).
//! - `monitor-status-monotonic`: per monitor and host, a status shown is never older than one
//!   shown before, and never newer than the host's last committed status.

use super::coord_log::{committed_changes, last_fault_time, ms, notes, rec_ref, report};
use crate::check::{PropertyReport, Violation};
use crate::history::{CloseReason, Event, History, RecipeAction, Txn};
use crate::types::{ClientId, EventType, SessionState, SimTime};
use std::collections::{BTreeMap, BTreeSet};

/// Every host-monitoring property for hosts under `root`.
pub fn check(history: &History, root: &str, bound_ms: u64) -> Vec<PropertyReport> {
    let recipe = format!("hosts:{root}");
    let prefix = format!("{root}/");
    let (changes, _) = committed_changes(history);
    let mut live: BTreeSet<String> = BTreeSet::new();
    let mut ever: BTreeSet<String> = BTreeSet::new();
    let mut max_seq: BTreeMap<String, u64> = BTreeMap::new();
    let mut set_changed = SimTime(0);
    // The liveness phase ends when the first client closes its session (the harness's stop):
    // from then on hosts leave on purpose.
    let stop = history
        .records
        .iter()
        .find(|r| match &r.event {
            Event::Session { state: SessionState::Closed, .. } => true,
            Event::Commit { txn, .. } => matches!(txn.txn, Txn::CloseSession { reason: CloseReason::Closed, .. }),
            _ => false,
        })
        .map_or(SimTime(u64::MAX), |r| r.time);
    // The online set is tracked only up to the stop; what was ever committed (hosts, highest
    // status) counts over the whole history, since a monitor may show a status committed just
    // after the stop (host-monitor-isolate-loss seed 270).
    for c in &changes {
        let Some(host) = c.path.strip_prefix(&prefix) else { continue };
        if host.contains('/') {
            continue;
        }
        let before_stop = c.time < stop;
        match c.kind {
            EventType::NodeCreated => {
                ever.insert(host.to_string());
                if before_stop {
                    live.insert(host.to_string());
                    set_changed = c.time;
                }
            }
            EventType::NodeDeleted if before_stop => {
                live.remove(host);
                set_changed = c.time;
            }
            _ => {}
        }
        if let Some(seq) = c.data.as_ref().and_then(|d| std::str::from_utf8(d.as_slice()).ok()?.parse::<u64>().ok()) {
            let m = max_seq.entry(host.to_string()).or_insert(0);
            *m = (*m).max(seq);
        }
    }
    let ns = notes(history, &recipe);
    let mut online = Vec::new();
    let mut mono = Vec::new();
    let mut last_view: BTreeMap<ClientId, (Vec<String>, SimTime, usize)> = BTreeMap::new();
    let mut shown: BTreeMap<(ClientId, String), (u64, usize)> = BTreeMap::new();
    let (mut views, mut statuses) = (0u64, 0u64);
    for n in &ns {
        match n.action {
            RecipeAction::OnlineView { hosts } => {
                views += 1;
                for h in hosts.iter().filter(|h| !ever.contains(*h)) {
                    online.push(
                        Violation::new(format!(
                            "monitor {} showed {h} online, which never had a node in {root}",
                            n.client
                        ))
                        .record(rec_ref(history, n.rec)),
                    );
                }
                if n.time < stop {
                    last_view.insert(n.client, (hosts.clone(), n.time, n.rec));
                }
            }
            RecipeAction::StatusSeen { host, seq } => {
                statuses += 1;
                let key = (n.client, host.clone());
                if let Some((prev, prec)) = shown.get(&key) {
                    if seq <= prev {
                        mono.push(
                            Violation::new(format!(
                                "monitor {} showed status {seq} of {host} after it had shown status {prev}",
                                n.client
                            ))
                            .record(rec_ref(history, *prec))
                            .record(rec_ref(history, n.rec))
                            .expected("a status shown is never older than one shown before"),
                        );
                    }
                }
                if max_seq.get(host).is_none_or(|m| seq > m) {
                    mono.push(
                        Violation::new(format!("monitor {} showed status {seq} of {host}, never committed", n.client))
                            .record(rec_ref(history, n.rec)),
                    );
                }
                shown.insert(key, (*seq, n.rec));
            }
            _ => {}
        }
    }
    let since = last_fault_time(history).map_or(set_changed, |f| f.max(set_changed));
    let deadline = SimTime(since.0 + bound_ms * 1_000_000);
    let want: Vec<String> = live.iter().cloned().collect();
    for (client, (hosts, t, rec)) in &last_view {
        if *hosts != want {
            online.push(
                Violation::new(format!(
                    "monitor {client}'s final online set {hosts:?} differs from the hosts with live nodes at the end \
                     of the log {want:?}"
                ))
                .record(rec_ref(history, *rec))
                .expected("the monitor's view converges to the live hosts"),
            );
        } else if *t > deadline {
            online.push(
                Violation::new(format!(
                    "monitor {client} reached the live set only at {:.1} ms, over {bound_ms} ms after {:.1} ms",
                    ms(*t),
                    ms(since)
                ))
                .record(rec_ref(history, *rec)),
            );
        }
    }
    vec![
        report("monitor-online-set", views, online, Some(format!("{} hosts live at the end", want.len()))),
        report("monitor-status-monotonic", statuses, mono, None),
    ]
}
