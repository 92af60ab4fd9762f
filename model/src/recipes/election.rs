//! Master-election properties, judged from the history alone (the `election:<dir>` recipe notes,
//! the committed log, session changes and faults).
//!
//! - `election-unique`: every `Leading { term, node }` names one session per term, and is
//!   justified by the committed order: `node` (whose czxid is `term`) was the committed master
//!   (`<dir>/master`, or the lowest sequential child of `<dir>`), owned by the leader's session,
//!   at some instant before the claim; and two leaders' terms do not overlap, with the rule of
//!   `lock-belief-overlap` (a leader told Disconnected/Expired must abdicate at once; a
//!   fault-explained overlap is reported as an unfenced window, not a failure).
//! - `election-liveness`: after the last fault no candidate waits longer than the bound, and
//!   while candidates wait a leader is elected at least once per bound.
//!
//! Election is the lock with other words, so the checks run the lock checks of
//! [`super::locks`] on the election notes read as lock notes (Leading = Acquired with the term
//! as token, Abdicated = Released), worded for an election ([`Wording::ELECTION`]). As there, a
//! crash of a leader's node ends its term as far as beliefs go.

use super::coord_log::CommittedLog;
use super::locks::{exclusive_overlap_liveness, notes_with, LockCheckConfig, Note, Wording};
use crate::check::{PropertyReport, Verdict, Violation};
use crate::history::{Event, History, RecipeAction};
use crate::types::{SessionId, Zxid};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The election notes read as lock notes: `Leading { term, node }` is `Acquired` with the term
/// as token, `Abdicated` is `Released`; the history's own lock notes are not among them.
fn as_lock_notes(h: &History) -> Vec<Note<'_>> {
    notes_with(h, "election:", |action| match action {
        RecipeAction::Leading { term, node } => Cow::Owned(RecipeAction::Acquired { token: *term, node: node.clone() }),
        RecipeAction::Abdicated => Cow::Owned(RecipeAction::Released { node: String::new() }),
        a => Cow::Borrowed(a),
    })
}

fn rename(mut r: PropertyReport, name: &str) -> PropertyReport {
    r.name = name.to_string();
    r
}

/// One session per term.
fn one_session_per_term(h: &History) -> Vec<Violation> {
    let mut terms: BTreeMap<(String, Zxid), SessionId> = BTreeMap::new();
    let mut out = Vec::new();
    for r in &h.records {
        let Event::Recipe { session, note, client } = &r.event else { continue };
        let RecipeAction::Leading { term, .. } = &note.action else { continue };
        let prev = *terms.entry((note.recipe.clone(), *term)).or_insert(*session);
        if prev != *session {
            out.push(
                Violation::new(format!(
                    "two sessions led term {term} of {}: {prev} and {session} (client {client})",
                    note.recipe
                ))
                .at(*term),
            );
        }
    }
    out
}

/// Every election property with its default configuration.
pub fn check_election(h: &History) -> Vec<PropertyReport> {
    check_election_on(h, &CommittedLog::of(h))
}

/// Every election property with its default configuration, given `h`'s committed log (shared
/// with other checkers).
pub fn check_election_on(h: &History, log: &CommittedLog) -> Vec<PropertyReport> {
    let notes = as_lock_notes(h);
    if notes.is_empty() {
        return ["election-unique", "election-liveness"]
            .iter()
            .map(|n| PropertyReport {
                name: n.to_string(),
                verdict: Verdict::NotApplicable { reason: "no election recipe in the history".into() },
                checked: 0,
                note: None,
            })
            .collect();
    }
    let [exclusive, overlap, liveness] =
        exclusive_overlap_liveness(h, log, &notes, &LockCheckConfig::default(), &Wording::ELECTION);
    let mut violations = one_session_per_term(h);
    let mut notes = Vec::new();
    for r in [&exclusive, &overlap] {
        if let Verdict::Fail { violations: v, .. } = &r.verdict {
            violations.extend(v.iter().cloned());
        }
        if let Some(n) = &r.note {
            notes.push(n.clone());
        }
    }
    let verdict = if violations.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail { total: violations.len(), violations: violations.into_iter().take(20).collect() }
    };
    let unique = PropertyReport {
        name: "election-unique".into(),
        verdict,
        checked: exclusive.checked + overlap.checked,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    };
    vec![unique, rename(liveness, "election-liveness")]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Fault, RecipeNote, Record};
    use crate::testkit::recipe_history;
    use crate::types::{ClientId, SessionState, SimTime};
    use crate::Node;

    const MS: u64 = 1_000_000;

    fn note(t: u64, c: u32, action: RecipeAction) -> Record {
        Record {
            time: SimTime(t * MS),
            event: Event::Recipe {
                client: ClientId(c),
                session: SessionId(c as u64),
                note: RecipeNote { recipe: "election:/e".into(), action },
            },
        }
    }

    fn lead(t: u64, c: u32) -> Record {
        note(t, c, RecipeAction::Leading { term: Zxid(t), node: "/e/master".into() })
    }

    fn unique_failures(records: Vec<Record>) -> Vec<String> {
        let reports = check_election(&recipe_history(&[1, 2], records));
        match &reports.iter().find(|r| r.name == "election-unique").expect("reported").verdict {
            Verdict::Fail { violations, .. } => violations.iter().map(|v| v.summary.clone()).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn an_ignored_disconnect_is_worded_as_leading_and_a_crash_ends_the_term() {
        let told = Record {
            time: SimTime(5 * MS),
            event: Event::Session {
                client: ClientId(1),
                session: SessionId(1),
                state: SessionState::Disconnected,
                server: None,
                timeout_ms: None,
            },
        };
        let f = unique_failures(vec![lead(0, 1), told.clone(), lead(30, 2), note(200, 1, RecipeAction::Abdicated)]);
        assert!(f.iter().any(|s| s.contains("kept believing it led election /e for")), "{f:?}");
        assert!(!f.iter().any(|s| s.contains("lock")), "election words only: {f:?}");
        // c1's node crashed before it was told anything: its term ended there, no overlap.
        let crash = Record {
            time: SimTime(2 * MS),
            event: Event::Fault { fault: Fault::Crash { node: Node::Client(ClientId(1)), torn: false } },
        };
        let f = unique_failures(vec![lead(0, 1), crash, told, lead(30, 2), note(200, 1, RecipeAction::Abdicated)]);
        assert!(!f.iter().any(|s| s.contains("kept believing") || s.contains("both believed")), "{f:?}");
    }
}
