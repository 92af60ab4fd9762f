//! Shared (read/write) lock properties, from the `rwlock:<dir>` recipe notes (a node whose name
//! has `W-` before its sequence is a write lock, `R-` a read lock):
//! - `rwlock-exclusive`: a write holding interval (`Acquired` until `Released`/`Suspended`/
//!   `Lost`) overlaps no other client's interval (read or write); readers may overlap each
//!   other. As for `lock-belief-overlap`, an overlap that a fault between the earlier
//!   acquisition and the overlap's start could explain is reported as a window in the note.
//! - `rwlock-liveness`: the rule of `lock-liveness` (no waiter waits longer than the bound after
//!   the last fault; someone acquires at least once per bound while someone waits). A reader
//!   that waits on a LATER writer (kazoo #649) deadlocks and fails it.

use super::disturbed::Disturbed;
use super::locks::{liveness_of, notes_with, LockCheckConfig};
use crate::check::{PropertyReport, RecordRef, Verdict, Violation};
use crate::history::{Event, History, RecipeAction};
use crate::types::{ClientId, SimTime};
use std::borrow::Cow;
use std::collections::BTreeMap;

struct Hold {
    client: ClientId,
    dir: String,
    write: bool,
    from: SimTime,
    to: SimTime,
    index: usize,
}

fn is_write(node: &str) -> bool {
    node.len() > 12 && node[..node.len() - 10].ends_with("W-")
}

fn holds(h: &History) -> Vec<Hold> {
    let end = h.records.last().map(|r| r.time).unwrap_or(SimTime(0));
    let mut open: BTreeMap<(ClientId, String), (SimTime, usize, bool)> = BTreeMap::new();
    let mut out = Vec::new();
    for (index, r) in h.records.iter().enumerate() {
        let Event::Recipe { client, note, .. } = &r.event else { continue };
        let Some(dir) = note.recipe.strip_prefix("rwlock:") else { continue };
        let key = (*client, dir.to_string());
        match &note.action {
            RecipeAction::Acquired { node, .. } => {
                if let Some((from, i, write)) = open.insert(key, (r.time, index, is_write(node))) {
                    out.push(Hold { client: *client, dir: dir.to_string(), write, from, to: r.time, index: i });
                }
            }
            RecipeAction::Released { .. } | RecipeAction::Suspended | RecipeAction::Lost => {
                if let Some((from, i, write)) = open.remove(&key) {
                    out.push(Hold { client: *client, dir: dir.to_string(), write, from, to: r.time, index: i });
                }
            }
            _ => {}
        }
    }
    for ((client, dir), (from, index, write)) in open {
        out.push(Hold { client, dir, write, from, to: end, index });
    }
    out.sort_by_key(|x| (x.from, x.index));
    out
}

fn exclusive(h: &History) -> PropertyReport {
    let hs = holds(h);
    let disturbed = Disturbed::of(h);
    let mut violations = Vec::new();
    let mut windows = Vec::new();
    for (i, a) in hs.iter().enumerate() {
        for b in &hs[i + 1..] {
            if b.from >= a.to {
                // Sorted by start: no later hold overlaps `a` either.
                break;
            }
            if a.dir != b.dir || a.client == b.client || !(a.write || b.write) {
                continue;
            }
            let (start, end) = (b.from, a.to.min(b.to));
            if end <= start {
                continue;
            }
            let ms = (end.0 - start.0) as f64 / 1e6;
            if disturbed.any_in(a.from, start) {
                windows.push(format!("{} & {} on {}: {:.1} ms", a.client, b.client, a.dir, ms));
                continue;
            }
            let kind = |w: bool| if w { "write" } else { "read" };
            violations.push(
                Violation::new(format!(
                    "client {} held a {} lock and client {} a {} lock on {} at once for {:.1} ms",
                    a.client,
                    kind(a.write),
                    b.client,
                    kind(b.write),
                    a.dir,
                    ms
                ))
                .record(RecordRef { index: a.index, time: a.from, what: "Acquired".into() })
                .record(RecordRef { index: b.index, time: b.from, what: "Acquired".into() }),
            );
        }
    }
    let verdict = if violations.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail { total: violations.len(), violations: violations.into_iter().take(20).collect() }
    };
    let note = (!windows.is_empty()).then(|| format!("unfenced-overlap windows: {}", windows.join("; ")));
    PropertyReport { name: "rwlock-exclusive".into(), verdict, checked: hs.len() as u64, note }
}

/// Every read/write lock property with its default configuration.
pub fn check_rwlock(h: &History) -> Vec<PropertyReport> {
    check_rwlock_with(h, &LockCheckConfig::default())
}

/// Every read/write lock property.
pub fn check_rwlock_with(h: &History, cfg: &LockCheckConfig) -> Vec<PropertyReport> {
    // Liveness is the lock's rule on the rwlock notes read as lock notes.
    let notes = notes_with(h, "rwlock:", Cow::Borrowed);
    let mut liveness = liveness_of(h, &notes, cfg);
    liveness.name = "rwlock-liveness".into();
    vec![exclusive(h), liveness]
}
