//! What the coordination-recipe properties share: the committed log replayed through the
//! reference model as a list of node changes, the recipe notes of one recipe instance, and
//! report building.

use crate::check::{PropertyReport, Verdict, Violation};
use crate::history::{Event, History, RecipeAction, Txn, TxnRecord};
use crate::reference::{Trigger, ZkModel};
use crate::types::{ClientId, Data, EventType, SessionId, SimTime, Zxid};

/// Violations kept per property (the total is always counted).
const MAX_VIOLATIONS: usize = 20;

/// One change the committed log made to a node.
#[derive(Clone, Debug)]
pub struct Change {
    /// Index of the Commit record.
    pub rec: usize,
    pub zxid: Zxid,
    pub time: SimTime,
    /// The session whose transaction made it (client writes and session closes).
    pub session: Option<SessionId>,
    /// NodeCreated, NodeDeleted or NodeDataChanged.
    pub kind: EventType,
    pub path: String,
    /// The node's data after the change (creates and data changes).
    pub data: Option<Data>,
    /// The node's ephemeral owner after a create (0: persistent).
    pub owner: Option<SessionId>,
}

/// The committed log (first transaction per zxid, in zxid order) replayed through the reference
/// model once: every node creation, deletion and data change, in order, each session close, and
/// how many transactions there were. One run's recipe checkers can share it (the runner builds
/// it once); each `check` function without `_on` builds its own.
#[derive(Clone, Debug)]
pub struct CommittedLog {
    /// Every node creation, deletion and data change, in zxid order (a transaction's changes in
    /// the order it made them).
    pub changes: Vec<Change>,
    /// Each session close, as `(zxid, time, session)`.
    pub closes: Vec<(Zxid, SimTime, SessionId)>,
    /// Distinct zxids replayed.
    pub txns: u64,
}

/// The committed log replayed through the reference model: its node changes and session closes
/// (see [`CommittedLog`]).
pub fn committed_changes(history: &History) -> (Vec<Change>, Vec<(Zxid, SimTime, SessionId)>) {
    let log = CommittedLog::of(history);
    (log.changes, log.closes)
}

impl CommittedLog {
    /// Replays `history`'s committed log.
    pub fn of(history: &History) -> CommittedLog {
        let mut commits: Vec<(Zxid, usize)> = history
            .records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match &r.event {
                Event::Commit { txn, .. } => Some((txn.zxid, i)),
                _ => None,
            })
            .collect();
        commits.sort();
        commits.dedup_by_key(|c| c.0);
        let mut log = CommittedLog::empty(commits.len() as u64);
        let mut model = ZkModel::new();
        for (_, rec) in commits {
            let Event::Commit { txn, .. } = &history.records[rec].event else { unreachable!("filtered above") };
            let applied = model.apply(txn);
            log.record(history, &model, rec, txn, applied.triggers);
        }
        log
    }

    /// A log of `txns` transactions, before any is recorded.
    pub(crate) fn empty(txns: u64) -> CommittedLog {
        CommittedLog { changes: Vec::new(), closes: Vec::new(), txns }
    }

    /// Records what the transaction of Commit record `rec` did: `model` has just applied it,
    /// which gave `triggers`. Its node creations, deletions and data changes become changes
    /// (with the node's data and owner after it), and a session close is listed.
    pub(crate) fn record(
        &mut self,
        history: &History,
        model: &ZkModel,
        rec: usize,
        txn: &TxnRecord,
        triggers: Vec<Trigger>,
    ) {
        let time = history.records[rec].time;
        let session = match &txn.txn {
            Txn::Client { session, .. } => Some(*session),
            Txn::CloseSession { session, .. } => {
                self.closes.push((txn.zxid, time, *session));
                Some(*session)
            }
            _ => None,
        };
        for t in triggers {
            if !matches!(t.kind, EventType::NodeCreated | EventType::NodeDeleted | EventType::NodeDataChanged) {
                continue;
            }
            let (data, owner) = if t.kind == EventType::NodeDeleted {
                (None, None)
            } else {
                match model.data_and_stat(&t.path) {
                    Some((data, stat)) => (Some(data.clone()), Some(stat.ephemeral_owner)),
                    None => (None, None),
                }
            };
            self.changes.push(Change { rec, zxid: txn.zxid, time, session, kind: t.kind, path: t.path, data, owner });
        }
    }
}

/// One recipe note of an instance, with where and by whom it was recorded.
#[derive(Clone, Debug)]
pub struct NoteAt<'h> {
    pub rec: usize,
    pub time: SimTime,
    pub client: ClientId,
    pub session: SessionId,
    pub action: &'h RecipeAction,
}

/// The notes recorded for recipe instance `recipe`, in history order.
pub fn notes<'h>(history: &'h History, recipe: &str) -> Vec<NoteAt<'h>> {
    history
        .records
        .iter()
        .enumerate()
        .filter_map(|(rec, r)| match &r.event {
            Event::Recipe { client, session, note } if note.recipe == recipe => {
                Some(NoteAt { rec, time: r.time, client: *client, session: *session, action: &note.action })
            }
            _ => None,
        })
        .collect()
}

/// The time of the last Fault record (the last fault applied or healed), if any.
pub fn last_fault_time(history: &History) -> Option<SimTime> {
    history.records.iter().rev().find(|r| matches!(r.event, Event::Fault { .. })).map(|r| r.time)
}

/// The time of the last record of the history.
pub fn end_time(history: &History) -> SimTime {
    history.records.last().map(|r| r.time).unwrap_or(SimTime(0))
}

/// A property's report from its violations.
pub fn report(name: &str, checked: u64, mut violations: Vec<Violation>, note: Option<String>) -> PropertyReport {
    let verdict = if violations.is_empty() {
        Verdict::Pass
    } else {
        let total = violations.len();
        violations.truncate(MAX_VIOLATIONS);
        Verdict::Fail { total, violations }
    };
    PropertyReport { name: name.to_string(), verdict, checked, note }
}

/// A property that had nothing to judge.
pub fn not_applicable(name: &str, reason: impl Into<String>) -> PropertyReport {
    PropertyReport {
        name: name.to_string(),
        verdict: Verdict::NotApplicable { reason: reason.into() },
        checked: 0,
        note: None,
    }
}

/// Milliseconds of simulated time, for messages.
pub fn ms(t: SimTime) -> f64 {
    t.as_millis_f64()
}

/// A record reference for a violation.
pub fn rec_ref(history: &History, rec: usize) -> crate::check::explain::RecordRef {
    crate::check::explain::render_record(rec, &history.records[rec])
}

/// The sequence number of a sequential node name (its last ten characters).
pub fn sequence_of(name: &str) -> Option<u64> {
    let tail = name.get(name.len().checked_sub(10)?..)?;
    tail.parse().ok()
}

/// Herd counts of one recipe instance: the watch notifications delivered to its clients for
/// nodes at or under `path`, the reads they issued in reaction (from a notification until their
/// next progress note), and the wakeups that were futile (no progress note before the client's
/// next notification or the end of the run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HerdCounts {
    /// Progress notes (items taken, members passed...): the denominator.
    pub progress: u64,
    pub notifications: u64,
    pub reads_in_reaction: u64,
    pub futile: u64,
}

impl HerdCounts {
    /// The figures per progress note, keyed `<prefix>_<figure>`, for the run summary.
    pub fn figures(&self, prefix: &str, per: &str) -> std::collections::BTreeMap<String, f64> {
        let div = |x: u64| if self.progress == 0 { 0.0 } else { x as f64 / self.progress as f64 };
        [
            (format!("{prefix}_{per}s"), self.progress as f64),
            (format!("{prefix}_notifications"), self.notifications as f64),
            (format!("{prefix}_notifications_per_{per}"), div(self.notifications)),
            (format!("{prefix}_reads_in_reaction_per_{per}"), div(self.reads_in_reaction)),
            (format!("{prefix}_futile_wakeups_per_{per}"), div(self.futile)),
        ]
        .into_iter()
        .collect()
    }
}

/// Counts the herd of recipe instance `recipe` watching nodes at or under `path`; a note for
/// which `progress` holds is the unit figures are given per.
pub fn herd_counts(
    history: &History,
    path: &str,
    recipe: &str,
    progress: impl Fn(&RecipeAction) -> bool,
) -> HerdCounts {
    use crate::op::Op;
    use std::collections::BTreeSet;
    let under = format!("{path}/");
    let mut c = HerdCounts::default();
    // Clients woken and not yet progressed since.
    let mut pending: BTreeSet<ClientId> = BTreeSet::new();
    for r in &history.records {
        match &r.event {
            Event::Watch { client, event, .. } if event.path == path || event.path.starts_with(&under) => {
                c.notifications += 1;
                if !pending.insert(*client) {
                    c.futile += 1;
                }
            }
            Event::Invoke { client, op: Op::GetChildren { .. } | Op::Exists { .. } | Op::GetData { .. }, .. }
                if pending.contains(client) =>
            {
                c.reads_in_reaction += 1;
            }
            Event::Recipe { client, note, .. } if note.recipe == recipe && progress(&note.action) => {
                c.progress += 1;
                pending.remove(client);
            }
            _ => {}
        }
    }
    c.futile += pending.len() as u64;
    c
}
