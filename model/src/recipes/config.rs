//! Config pub/sub and dynamic DNS properties (recipes `config:<path>` and `dns:<path>`).
//!
//! - `config-converges` / `dns-converges`: every subscriber (a client that recorded
//!   `Observed`) ends holding the node's final committed version, and first held it no later
//!   than `bound_ms` after the later of that version's commit and the last fault record;
//!   a subscriber never goes back to an older version; every observed version was committed.

use super::coord_log::{committed_changes, last_fault_time, ms, notes, rec_ref, report};
use crate::check::{PropertyReport, Violation};
use crate::history::{History, RecipeAction};
use crate::types::{ClientId, Data, EventType, SimTime, Zxid};
use std::collections::BTreeMap;

fn version_of(data: &Data) -> Option<u64> {
    let s = std::str::from_utf8(data.as_slice()).ok()?;
    let digits = s.len() - s.bytes().rev().take_while(u8::is_ascii_digit).count();
    s[digits..].parse().ok()
}

/// `config-converges` for the config node at `path`.
pub fn check(history: &History, path: &str, bound_ms: u64) -> Vec<PropertyReport> {
    vec![converges(history, &format!("config:{path}"), path, bound_ms, "config-converges")]
}

/// `dns-converges` for the name node at `path`.
pub fn check_dns(history: &History, path: &str, bound_ms: u64) -> Vec<PropertyReport> {
    vec![converges(history, &format!("dns:{path}"), path, bound_ms, "dns-converges")]
}

fn converges(history: &History, recipe: &str, path: &str, bound_ms: u64, name: &str) -> PropertyReport {
    let (changes, _) = committed_changes(history);
    // version → (zxid, time) of its first commit.
    let mut committed: BTreeMap<u64, (Zxid, SimTime, usize)> = BTreeMap::new();
    let mut last: Option<(u64, Zxid, SimTime, usize)> = None;
    for c in changes.iter().filter(|c| c.path == path) {
        if matches!(c.kind, EventType::NodeCreated | EventType::NodeDataChanged) {
            if let Some(v) = c.data.as_ref().and_then(version_of) {
                committed.entry(v).or_insert((c.zxid, c.time, c.rec));
                last = Some((v, c.zxid, c.time, c.rec));
            }
        }
    }
    let ns = notes(history, recipe);
    let mut violations = Vec::new();
    // Per subscriber: its observations in order.
    let mut by_client: BTreeMap<ClientId, Vec<(u64, SimTime, usize)>> = BTreeMap::new();
    for n in &ns {
        if let RecipeAction::Observed { version } = n.action {
            by_client.entry(n.client).or_default().push((*version, n.time, n.rec));
        }
    }
    let Some((final_v, final_zxid, final_time, final_rec)) = last else {
        if by_client.is_empty() {
            return super::coord_log::not_applicable(name, format!("nothing was published at {path}"));
        }
        return report(
            name,
            0,
            vec![Violation::new(format!("subscribers observed values of {path}, which the log never wrote"))],
            None,
        );
    };
    let since = last_fault_time(history).map_or(final_time, |f| f.max(final_time));
    let deadline = SimTime(since.0 + bound_ms * 1_000_000);
    let mut checked = 0;
    for (client, obs) in &by_client {
        checked += obs.len() as u64;
        for w in obs.windows(2) {
            if w[1].0 < w[0].0 {
                violations.push(
                    Violation::new(format!(
                        "subscriber {client} went back from version {} to the older version {}",
                        w[0].0, w[1].0
                    ))
                    .record(rec_ref(history, w[0].2))
                    .record(rec_ref(history, w[1].2))
                    .expected("a subscriber never returns to an older version"),
                );
            }
        }
        for (v, _, rec) in obs {
            if !committed.contains_key(v) {
                violations.push(
                    Violation::new(format!(
                        "subscriber {client} observed version {v}, which no committed write of {path} set"
                    ))
                    .record(rec_ref(history, *rec)),
                );
            }
        }
        match obs.iter().find(|o| o.0 == final_v) {
            None => violations.push(
                Violation::new(format!(
                    "subscriber {client} never converged: it last held version {} while the final version of {path} \
                     is {final_v} (committed at zxid {final_zxid}, {:.1} ms)",
                    obs.last().map(|o| o.0).unwrap_or(0),
                    ms(final_time)
                ))
                .at(final_zxid)
                .record(rec_ref(history, final_rec))
                .record(rec_ref(history, obs.last().map(|o| o.2).unwrap_or(final_rec)))
                .expected(format!(
                    "every subscriber holds version {final_v} within {bound_ms} ms of the last fault healing"
                )),
            ),
            Some((_, t, rec)) if *t > deadline => violations.push(
                Violation::new(format!(
                    "subscriber {client} reached the final version {final_v} only at {:.1} ms, later than the bound \
                     ({bound_ms} ms after {:.1} ms)",
                    ms(*t),
                    ms(since)
                ))
                .record(rec_ref(history, *rec))
                .expected(format!("convergence within {bound_ms} ms")),
            ),
            Some(_) => {}
        }
    }
    report(name, checked, violations, Some(format!("{} subscribers, final version {final_v}", by_client.len())))
}
