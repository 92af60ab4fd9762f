//! Double-barrier properties (recipe `barrier:<path>`).
//!
//! - `barrier-no-early-pass`: no member passes before the committed log has held `needed`
//!   member nodes (children of the barrier node other than `ready`) at once: a pass recorded
//!   earlier than that commit is a violation.
//! - `barrier-liveness`: every member that entered has passed and left by the end of the run.

use super::coord_log::{committed_changes, ms, notes, rec_ref, report};
use crate::check::{PropertyReport, Violation};
use crate::history::{History, RecipeAction};
use crate::types::{ClientId, EventType};
use std::collections::{BTreeMap, BTreeSet};

/// Every barrier property for the barrier at `path` needing `needed` members.
pub fn check(history: &History, path: &str, needed: u32) -> Vec<PropertyReport> {
    let recipe = format!("barrier:{path}");
    let prefix = format!("{path}/");
    let (changes, _) = committed_changes(history);
    let mut live: BTreeSet<String> = BTreeSet::new();
    let mut full = None;
    let mut max_seen = 0;
    for c in &changes {
        let Some(name) = c.path.strip_prefix(&prefix) else { continue };
        if name.contains('/') || name == "ready" {
            continue;
        }
        match c.kind {
            EventType::NodeCreated => {
                live.insert(name.to_string());
            }
            EventType::NodeDeleted => {
                live.remove(name);
            }
            _ => {}
        }
        max_seen = max_seen.max(live.len());
        if full.is_none() && live.len() >= needed as usize {
            full = Some((c.zxid, c.time, c.rec));
        }
    }
    let ns = notes(history, &recipe);
    let mut early = Vec::new();
    let mut entered: BTreeMap<ClientId, usize> = BTreeMap::new();
    let mut passed: BTreeSet<ClientId> = BTreeSet::new();
    let mut left: BTreeSet<ClientId> = BTreeSet::new();
    for n in &ns {
        match n.action {
            RecipeAction::BarrierEntered { .. } => {
                entered.entry(n.client).or_insert(n.rec);
            }
            RecipeAction::BarrierPassed { members, .. } => {
                passed.insert(n.client);
                let ok = full.is_some_and(|(_, t, _)| t <= n.time);
                if !ok {
                    let mut v = Violation::new(match full {
                        Some((z, t, _)) => format!(
                            "{} passed the barrier at {:.1} ms having counted {members} of {needed} members, before \
                             the committed log first held {needed} members (zxid {z}, {:.1} ms)",
                            n.client,
                            ms(n.time),
                            ms(t)
                        ),
                        None => format!(
                            "{} passed the barrier at {:.1} ms having counted {members} of {needed} members, but the \
                             committed log never held more than {max_seen} members at once",
                            n.client,
                            ms(n.time)
                        ),
                    })
                    .record(rec_ref(history, n.rec))
                    .expected(format!("no member passes before {needed} members have entered"));
                    if let Some((z, _, rec)) = full {
                        v = v.at(z).record(rec_ref(history, rec));
                    }
                    early.push(v);
                }
            }
            RecipeAction::BarrierLeft => {
                left.insert(n.client);
            }
            _ => {}
        }
    }
    let mut out = vec![report("barrier-no-early-pass", passed.len() as u64, early, None)];
    let mut stuck = Vec::new();
    for (client, rec) in &entered {
        let what = match (passed.contains(client), left.contains(client)) {
            (true, true) => continue,
            (false, _) => "never passed",
            (true, false) => "passed but never saw every member leave",
        };
        stuck.push(
            Violation::new(format!("{client} entered the barrier and {what} by the end of the run"))
                .record(rec_ref(history, *rec))
                .expected("every member that enters passes and leaves (the liveness phase)"),
        );
    }
    out.push(report(
        "barrier-liveness",
        entered.len() as u64,
        stuck,
        Some(format!("{} members entered", entered.len())),
    ));
    out
}

/// Herd figures of the barrier at `path`, per member step (`BarrierPassed` or `BarrierLeft`):
/// watch notifications delivered to members, reads in reaction, and futile wakeups (a member
/// woken that neither passed nor left before its next wakeup). Members watch the barrier's
/// children, so each arrival or departure wakes every waiting member: O(n) per step.
pub fn herd_figures(history: &History, path: &str) -> BTreeMap<String, f64> {
    super::coord_log::herd_counts(history, path, &format!("barrier:{path}"), |a| {
        matches!(a, RecipeAction::BarrierPassed { .. } | RecipeAction::BarrierLeft)
    })
    .figures("barrier", "step")
}
