//! Exclusive-lock properties, judged from the history alone: the recipes' `Event::Recipe`
//! records (what clients believed and did), the committed log (`Event::Commit`, replayed through
//! the reference model to know who owned the lock at every zxid) and faults.
//!
//! A lock instance is named `lock:<dir>` by the recipe; its lock nodes are `<dir>/lock` (naive)
//! or the sequential children of `<dir>` (herd-free: the lowest sequence owns the lock); its
//! fenced resource is `<dir>-resource`, whose data is the highest token accepted.
//!
//! Properties:
//! - `lock-exclusive`: in the committed order at most one session owns the lock at any zxid (by
//!   construction of "owner = the lowest lock node"), and every `Acquired { node }` belief is
//!   justified: `node` was the committed owner, owned by the believer's session, at some instant
//!   between its creation and the belief. A client that takes "predecessor deleted" for
//!   "acquired" while a lower node still exists fails here.
//! - `lock-fencing`: the committed values of the resource never decrease (a stale token is
//!   never accepted), and every `Fenced { accepted: true }` token is one the resource holds.
//! - `lock-belief-overlap`: client-side holding intervals (`Acquired` until the first
//!   `Released`, `Suspended` or `Lost` of that client) of two clients do not overlap. RULE:
//!   (1) a holder whose session was reported Disconnected or Expired to it must drop its belief
//!   within 10 ms; an overlap past that fails (it was told and ignored it: CURATOR-206);
//!   (2) otherwise an overlap that a fault could explain (any fault active at a moment between
//!   the earlier holder's acquisition and the overlap's start — a partition, pause, crash or
//!   message loss in force, or an ordered expiry not yet committed (see [`super::disturbed`]),
//!   or either belief held on a session whose expiry had committed before the overlap began,
//!   acquired from a server that had not applied it yet: the holder could not
//!   yet know it lost the lock) is reported in the note
//!   as an unfenced-overlap window with its duration, not as a failure — no lock service can
//!   prevent it, fencing makes it harmless; (3) any other overlap fails. A crash of the
//!   client's node ends its belief (and its waiting): the process is gone, and its restarted
//!   incarnation starts from scratch in a new session (standard seed 2: a leader crashed while
//!   leading, its next incarnation was told Disconnected 11 s later, which is not a holder
//!   ignoring Disconnected).
//! - `lock-liveness`: after the last fault, (a) no waiting episode (`Waiting` until `Acquired`,
//!   `Released` (gave up), `Lost` or `Suspended`) lasts longer than the bound, and (b) while
//!   someone waits, someone acquires at least once per bound (an orphan node that blocks
//!   everyone, CURATOR-45, fails (b) even when waiters time out and retry).
//! - `lock-herd`: a herd-free (sequential) lock wakes at most [`HERD_FUTILE_PER_RELEASE`]
//!   waiters in vain per release (see there for why); waiters that watch the lock directory's
//!   children or the lowest node (the herd) fail. The naive lock herds by design: not judged.

use super::coord_log::CommittedLog;
use super::disturbed::Disturbed;
use crate::check::{PropertyReport, RecordRef, Verdict, Violation};
use crate::history::{Event, Fault, History, Node, RecipeAction};
use crate::op::Op;
use crate::types::{ClientId, EventType, SessionId, SessionState, SimTime, Zxid};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// Tunables of the lock checks.
#[derive(Clone, Debug)]
pub struct LockCheckConfig {
    /// Liveness bound after the last fault, in simulated milliseconds.
    pub liveness_bound_ms: u64,
}

impl Default for LockCheckConfig {
    fn default() -> LockCheckConfig {
        LockCheckConfig { liveness_bound_ms: 20_000 }
    }
}

const NS_PER_MS: u64 = 1_000_000;

/// How soon after Disconnected/Expired a holder must have dropped its belief.
const GRACE_NS: u64 = 10 * NS_PER_MS;

/// How violations name the recipe: the lock checks also judge elections (`election.rs`), whose
/// reports should speak of leading, not of holding a lock.
#[derive(Clone, Copy, Debug)]
pub struct Wording {
    /// "believed it acquired /l/lock-…": `acquired`.
    pub acquired: &'static str,
    /// "never the committed owner of the lock": `owner`.
    pub owner: &'static str,
    /// "kept believing it held lock /l": `held`.
    pub held: &'static str,
    /// "client c1 waited for lock /l": `waited`.
    pub waited: &'static str,
    /// "nobody acquired lock /l": `nobody`.
    pub nobody: &'static str,
}

impl Wording {
    /// A lock's words.
    pub const LOCK: Wording = Wording {
        acquired: "acquired",
        owner: "committed owner of the lock",
        held: "held lock",
        waited: "waited for lock",
        nobody: "acquired lock",
    };
    /// A master election's words.
    pub const ELECTION: Wording = Wording {
        acquired: "was elected on",
        owner: "committed master of the election",
        held: "led election",
        waited: "waited to lead election",
        nobody: "was elected in election",
    };
}

/// When each client's node crashed (in time order). A crashed process believes nothing and
/// waits for nothing: its beliefs end there.
fn crashes(h: &History) -> BTreeMap<ClientId, Vec<SimTime>> {
    let mut out: BTreeMap<ClientId, Vec<SimTime>> = BTreeMap::new();
    for r in &h.records {
        if let Event::Fault { fault: Fault::Crash { node: Node::Client(c), .. } } = &r.event {
            out.entry(*c).or_default().push(r.time);
        }
    }
    out
}

/// The end of an interval of `client`'s that began at `from` and was closed (by a note, or the
/// end of the history) at `to`: the first crash of its node in between, if any.
fn ended_by_crash(crashes: &BTreeMap<ClientId, Vec<SimTime>>, client: ClientId, from: SimTime, to: SimTime) -> SimTime {
    crashes.get(&client).and_then(|ts| ts.iter().find(|t| **t >= from && **t < to)).copied().unwrap_or(to)
}

/// The lock directories the notes name.
fn lock_dirs(notes: &[Note<'_>]) -> BTreeSet<String> {
    notes.iter().map(|n| n.dir.to_string()).collect()
}

/// The sequence a sequential node's name ends with.
fn sequence_of(name: &str) -> Option<u64> {
    if name.len() < 10 {
        return None;
    }
    name[name.len() - 10..].parse().ok()
}

/// One span of committed ownership of a lock.
#[derive(Clone, Debug)]
struct Owner {
    node: String,
    session: SessionId,
    from: SimTime,
    zxid: Zxid,
}

/// What the committed log tells the lock checks.
struct Committed {
    /// Committed ownership of each lock dir over time.
    owners: BTreeMap<String, Vec<Owner>>,
    /// Distinct zxids replayed.
    txns: u64,
    /// The successful setData transactions of the fenced resources (`<dir>-resource`), in zxid
    /// order: (zxid, resource path, the token written).
    resource_writes: Vec<(Zxid, String, u64)>,
}

/// The ownership of each lock dir over time and the fenced resources' writes, from the
/// committed log's node changes (each zxid once, at the time its first Commit record was
/// written). Each dir's children are followed change by change; after a transaction that
/// changed them, the owner is looked up again: `<dir>/lock` if present, else the lowest
/// sequential child (its ephemeral owner is the session that holds it).
fn committed(h: &History, log: &CommittedLog, dirs: &BTreeSet<String>) -> Committed {
    let resources: BTreeSet<String> = dirs.iter().map(|d| format!("{d}-resource")).collect();
    // Each dir's children (name -> ephemeral owner) as the log has left them so far.
    let mut children: BTreeMap<&str, BTreeMap<&str, SessionId>> =
        dirs.iter().map(|d| (d.as_str(), BTreeMap::new())).collect();
    let mut current: BTreeMap<&str, Option<(String, SessionId)>> = dirs.iter().map(|d| (d.as_str(), None)).collect();
    let mut owners: BTreeMap<String, Vec<Owner>> = dirs.iter().map(|d| (d.clone(), Vec::new())).collect();
    let mut resource_writes = Vec::new();
    let mut touched: BTreeSet<&str> = BTreeSet::new();
    for (i, c) in log.changes.iter().enumerate() {
        if let Some((parent, name)) = c.path.rsplit_once('/') {
            if let Some(kids) = children.get_mut(parent) {
                match c.kind {
                    EventType::NodeCreated => {
                        kids.insert(name, c.owner.unwrap_or(SessionId(0)));
                        touched.insert(parent);
                    }
                    EventType::NodeDeleted => {
                        kids.remove(name);
                        touched.insert(parent);
                    }
                    _ => {}
                }
            }
        }
        if c.kind == EventType::NodeDataChanged && resources.contains(&c.path) {
            // A resource's setData (a failed one changes nothing, so it is not in the log).
            let Event::Commit { txn, .. } = &h.records[c.rec].event else {
                unreachable!("changes cite Commit records")
            };
            if let crate::Txn::Client { op: Op::SetData { path, data, .. }, .. } = &txn.txn {
                let token: u64 = String::from_utf8_lossy(data.0.as_deref().unwrap_or(&[])).parse().unwrap_or(0);
                resource_writes.push((c.zxid, path.clone(), token));
            }
        }
        // After the transaction's last change, the owners of the dirs it touched.
        if log.changes.get(i + 1).is_some_and(|next| next.zxid == c.zxid) {
            continue;
        }
        for dir in std::mem::take(&mut touched) {
            let owner = owner_in(dir, &children[dir]);
            let prev = current.get_mut(dir).expect("every dir has an entry");
            if *prev != owner {
                if let Some((node, session)) = &owner {
                    owners.get_mut(dir).expect("every dir has a list").push(Owner {
                        node: node.clone(),
                        session: *session,
                        from: c.time,
                        zxid: c.zxid,
                    });
                }
                *prev = owner;
            }
        }
    }
    Committed { owners, txns: log.txns, resource_writes }
}

/// The owner of `dir`'s lock given its children (name -> ephemeral owner): `<dir>/lock` if
/// present, else the lowest sequential child.
fn owner_in(dir: &str, kids: &BTreeMap<&str, SessionId>) -> Option<(String, SessionId)> {
    let (name, session) = match kids.get_key_value("lock") {
        Some((name, session)) => (*name, *session),
        None => kids.iter().filter_map(|(k, s)| sequence_of(k).map(|q| (q, *k, *s))).min().map(|(_, k, s)| (k, s))?,
    };
    Some((format!("{dir}/{name}"), session))
}

fn rref(h: &History, index: usize, what: impl Into<String>) -> RecordRef {
    RecordRef { index, time: h.records[index].time, what: what.into() }
}

fn verdict(violations: Vec<Violation>) -> Verdict {
    if violations.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail { total: violations.len(), violations: violations.into_iter().take(20).collect() }
    }
}

/// A lock note with where it is. Election and the read/write lock reuse the lock checks on
/// their own notes read as lock notes, hence an action that may be a translated copy.
pub(super) struct Note<'a> {
    pub index: usize,
    pub time: SimTime,
    pub client: ClientId,
    pub session: SessionId,
    pub dir: &'a str,
    pub action: Cow<'a, RecipeAction>,
}

/// The notes of the recipes whose instance is named `<prefix><dir>` (`lock:`, `election:`,
/// `rwlock:`), in history order, each action read through `translate`.
pub(super) fn notes_with<'a>(
    h: &'a History,
    prefix: &str,
    translate: impl Fn(&'a RecipeAction) -> Cow<'a, RecipeAction>,
) -> Vec<Note<'a>> {
    h.records
        .iter()
        .enumerate()
        .filter_map(|(index, r)| match &r.event {
            Event::Recipe { client, session, note } => note.recipe.strip_prefix(prefix).map(|dir| Note {
                index,
                time: r.time,
                client: *client,
                session: *session,
                dir,
                action: translate(&note.action),
            }),
            _ => None,
        })
        .collect()
}

/// The `lock:<dir>` notes.
fn notes(h: &History) -> Vec<Note<'_>> {
    notes_with(h, "lock:", Cow::Borrowed)
}

fn exclusive(h: &History, notes: &[Note<'_>], committed: &Committed, w: &Wording) -> PropertyReport {
    // The earliest time each (node, session) became the committed owner: a belief is justified
    // when that is no later than the belief.
    let mut first_owned: BTreeMap<(&str, &str, SessionId), SimTime> = BTreeMap::new();
    for (dir, spans) in &committed.owners {
        for o in spans {
            let t = first_owned.entry((dir.as_str(), o.node.as_str(), o.session)).or_insert(o.from);
            *t = (*t).min(o.from);
        }
    }
    let mut violations = Vec::new();
    let mut checked = committed.txns;
    for n in notes {
        let RecipeAction::Acquired { node, token } = &*n.action else { continue };
        checked += 1;
        let justified = first_owned.get(&(n.dir, node.as_str(), n.session)).is_some_and(|from| *from <= n.time);
        if !justified {
            let spans = &committed.owners[n.dir];
            let at = spans.iter().rev().find(|o| o.from <= n.time);
            let observed = match at {
                Some(o) => format!("committed owner then: {} of session {} (since zxid {})", o.node, o.session, o.zxid),
                None => "no committed owner then".to_string(),
            };
            violations.push(
                Violation::new(format!(
                    "client {} (session {}) believed it {} {} (token {}) but that node was never the {} up to then",
                    n.client, n.session, w.acquired, node, token, w.owner
                ))
                .record(rref(h, n.index, "Acquired"))
                .at(*token)
                .expected(format!("{node} is the lowest lock node, owned by session {}", n.session))
                .observed(observed),
            );
        }
    }
    PropertyReport { name: "lock-exclusive".into(), verdict: verdict(violations), checked, note: None }
}

fn fencing(h: &History, notes: &[Note<'_>], committed: &Committed) -> PropertyReport {
    let mut highest: BTreeMap<&str, u64> = BTreeMap::new();
    let mut accepted: BTreeSet<(&str, u64)> = BTreeSet::new();
    let mut violations = Vec::new();
    let mut checked = 0;
    for (zxid, path, token) in &committed.resource_writes {
        let token = *token;
        checked += 1;
        let hi = highest.entry(path.as_str()).or_insert(0);
        if token < *hi {
            violations.push(
                Violation::new(format!("the fenced resource {path} accepted stale token {token} after {hi}"))
                    .at(*zxid)
                    .expected(format!("a token >= {hi}"))
                    .observed(format!("{token}")),
            );
        }
        *hi = (*hi).max(token);
        accepted.insert((path.as_str(), token));
    }
    for n in notes {
        if let RecipeAction::Fenced { token, accepted: true } = &*n.action {
            checked += 1;
            let res = format!("{}-resource", n.dir);
            if !accepted.contains(&(res.as_str(), token.0)) {
                violations.push(
                    Violation::new(format!(
                        "client {} says {res} accepted token {} but no committed write holds it",
                        n.client, token
                    ))
                    .record(rref(h, n.index, "Fenced")),
                );
            }
        }
    }
    PropertyReport { name: "lock-fencing".into(), verdict: verdict(violations), checked, note: None }
}

/// A client's belief that it holds a lock.
struct Belief<'a> {
    client: ClientId,
    session: SessionId,
    dir: &'a str,
    from: SimTime,
    to: SimTime,
    index: usize,
}

/// Holding intervals, sorted by start (then record index).
fn beliefs<'a>(h: &History, notes: &[Note<'a>]) -> Vec<Belief<'a>> {
    let end = h.records.last().map(|r| r.time).unwrap_or(SimTime(0));
    let crashed = crashes(h);
    let close = |client, from, to| ended_by_crash(&crashed, client, from, to);
    let mut open: BTreeMap<(ClientId, &str), (SimTime, usize, SessionId)> = BTreeMap::new();
    let mut out = Vec::new();
    for n in notes {
        let key = (n.client, n.dir);
        match &*n.action {
            RecipeAction::Acquired { .. } => {
                if let Some((from, index, session)) = open.insert(key, (n.time, n.index, n.session)) {
                    let to = close(n.client, from, n.time);
                    out.push(Belief { client: n.client, session, dir: n.dir, from, to, index });
                }
            }
            RecipeAction::Released { .. } | RecipeAction::Suspended | RecipeAction::Lost => {
                if let Some((from, index, session)) = open.remove(&key) {
                    let to = close(n.client, from, n.time);
                    out.push(Belief { client: n.client, session, dir: n.dir, from, to, index });
                }
            }
            _ => {}
        }
    }
    for ((client, dir), (from, index, session)) in open {
        out.push(Belief { client, session, dir, from, to: close(client, from, end), index });
    }
    out.sort_by_key(|b| (b.from, b.index));
    out
}

fn belief_overlap(h: &History, notes: &[Note<'_>], w: &Wording) -> PropertyReport {
    let bs = beliefs(h, notes);
    let disturbed = Disturbed::of(h);
    // When each session was expired. A holder whose session the service expired (the
    // session-expiry property judges whether rightly) learns it only when its server applies
    // the close; until then reads from that server can still show it the lowest node
    // (lock-herd-free-loss-oneway seed 230: expired by a partition healed 39 ms before, the
    // holder acquired through its lagging server after the close had committed).
    let mut expired: BTreeMap<SessionId, SimTime> = BTreeMap::new();
    for r in &h.records {
        if let Event::Commit { txn, .. } = &r.event {
            if let crate::history::Txn::CloseSession { session, reason: crate::history::CloseReason::Expired } = txn.txn
            {
                expired.entry(session).or_insert(r.time);
            }
        }
    }
    // When each client was told its session was in doubt or gone.
    let mut told: BTreeMap<ClientId, Vec<SimTime>> = BTreeMap::new();
    for r in &h.records {
        if let Event::Session { client, state: SessionState::Disconnected | SessionState::Expired, .. } = &r.event {
            told.entry(*client).or_default().push(r.time);
        }
    }
    let mut violations = Vec::new();
    let mut windows = Vec::new();
    for (i, a) in bs.iter().enumerate() {
        for b in &bs[i + 1..] {
            if b.from >= a.to {
                // Sorted by start: no later belief overlaps `a` either.
                break;
            }
            if a.dir != b.dir || a.client == b.client {
                continue;
            }
            let start = b.from;
            let end = a.to.min(b.to);
            if end <= start {
                continue;
            }
            let ms = (end.0 - start.0) as f64 / 1e6;
            // A holder told Disconnected/Expired must stop believing at once.
            let told_at = told.get(&a.client).and_then(|ts| ts.iter().find(|t| **t >= a.from && **t < a.to));
            if let Some(t) = told_at.filter(|t| a.to.0 > t.0 + GRACE_NS && end.0 > t.0 + GRACE_NS) {
                violations.push(
                    Violation::new(format!(
                        "client {} kept believing it {} {} for {:.1} ms after its session was Disconnected/Expired (at {}), overlapping client {} for {:.1} ms",
                        a.client,
                        w.held,
                        a.dir,
                        (a.to.0 - t.0) as f64 / 1e6,
                        t,
                        b.client,
                        ms
                    ))
                    .record(rref(h, a.index, format!("{} Acquired", a.client)))
                    .record(rref(h, b.index, format!("{} Acquired", b.client))),
                );
                continue;
            }
            let excused = disturbed.any_in(a.from, start)
                || expired.get(&a.session).is_some_and(|t| *t <= start)
                || expired.get(&b.session).is_some_and(|t| *t <= start);
            if excused {
                windows.push(format!("{} & {} on {}: {:.1} ms from {}", a.client, b.client, a.dir, ms, start));
            } else {
                violations.push(
                    Violation::new(format!(
                        "clients {} and {} both believed they {} {} for {:.1} ms, with no pause or \
                         partition to explain it",
                        a.client, b.client, w.held, a.dir, ms
                    ))
                    .record(rref(h, a.index, format!("{} Acquired", a.client)))
                    .record(rref(h, b.index, format!("{} Acquired", b.client))),
                );
            }
        }
    }
    let note = (!windows.is_empty()).then(|| format!("unfenced-overlap windows: {}", windows.join("; ")));
    PropertyReport { name: "lock-belief-overlap".into(), verdict: verdict(violations), checked: bs.len() as u64, note }
}

fn liveness(h: &History, ns: &[Note<'_>], cfg: &LockCheckConfig, w: &Wording) -> PropertyReport {
    let bound = cfg.liveness_bound_ms * NS_PER_MS;
    let healed =
        h.records.iter().filter(|r| matches!(r.event, Event::Fault { .. })).map(|r| r.time).max().unwrap_or(SimTime(0));
    let Some(end) = ns.iter().map(|n| n.time).max() else {
        return PropertyReport {
            name: "lock-liveness".into(),
            verdict: Verdict::NotApplicable { reason: "no lock notes".into() },
            checked: 0,
            note: None,
        };
    };
    let crashed = crashes(h);
    let mut violations = Vec::new();
    let mut waiting: BTreeMap<(ClientId, &str), (SimTime, usize)> = BTreeMap::new();
    // Waiting episodes [start, end) and acquisitions, per dir.
    let mut episodes: Vec<(&str, ClientId, SimTime, SimTime, usize)> = Vec::new();
    let mut acquisitions: BTreeMap<&str, Vec<SimTime>> = BTreeMap::new();
    for n in ns {
        let key = (n.client, n.dir);
        match &*n.action {
            RecipeAction::Waiting => {
                waiting.insert(key, (n.time, n.index));
            }
            RecipeAction::Acquired { .. }
            | RecipeAction::Released { .. }
            | RecipeAction::Lost
            | RecipeAction::Suspended => {
                if matches!(&*n.action, RecipeAction::Acquired { .. }) {
                    acquisitions.entry(n.dir).or_default().push(n.time);
                }
                if let Some((from, index)) = waiting.remove(&key) {
                    episodes.push((n.dir, n.client, from, ended_by_crash(&crashed, n.client, from, n.time), index));
                }
            }
            _ => {}
        }
    }
    for ((client, dir), (from, index)) in waiting {
        episodes.push((dir, client, from, ended_by_crash(&crashed, client, from, end), index));
    }
    for (dir, client, from, to, index) in &episodes {
        let start = (*from).max(healed);
        if to.0 > start.0 + bound {
            violations.push(
                Violation::new(format!(
                    "client {client} {} {dir} {:.1} s after the last fault, more than the bound {} ms",
                    w.waited,
                    (to.0 - start.0) as f64 / 1e9,
                    cfg.liveness_bound_ms
                ))
                .record(rref(h, *index, "Waiting")),
            );
        }
    }
    // (b) someone acquires at least once per bound while someone waits.
    let dirs: BTreeSet<&str> = episodes.iter().map(|e| e.0).collect();
    for dir in dirs {
        let acq = acquisitions.get(dir).cloned().unwrap_or_default();
        let mut t = healed;
        while t.0 + bound <= end.0 {
            let win_end = SimTime(t.0 + bound);
            let someone_waits = episodes.iter().any(|e| e.0 == dir && e.2 < win_end && e.3 > t);
            let someone_acquires = acq.iter().any(|a| *a >= t && *a <= win_end);
            if someone_waits && !someone_acquires {
                violations.push(Violation::new(format!(
                    "nobody {} {dir} between {t} and {win_end} although clients were waiting \
                     (after the last fault)",
                    w.nobody
                )));
                break;
            }
            t = SimTime(t.0 + bound / 2);
        }
    }
    PropertyReport {
        name: "lock-liveness".into(),
        verdict: verdict(violations),
        checked: episodes.len() as u64,
        note: Some(format!("bound {} ms after the last fault at {}", cfg.liveness_bound_ms, healed)),
    }
}

/// Herd counts of the locks whose directory `dir_ok` accepts.
#[derive(Clone, Copy, Debug, Default)]
struct HerdCounts {
    releases: u64,
    notifications: u64,
    reads: u64,
    wakeups: u64,
    futile: u64,
}

fn herd_counts(h: &History, dir_ok: impl Fn(&str) -> bool) -> HerdCounts {
    let dirs: BTreeSet<&str> = notes(h).into_iter().map(|n| n.dir).filter(|d| dir_ok(d)).collect();
    let prefixes: Vec<String> = dirs.iter().map(|d| format!("{d}/")).collect();
    let under = |p: &str| prefixes.iter().any(|d| p.starts_with(d.as_str()));
    let mut c = HerdCounts::default();
    let mut holding: BTreeSet<(ClientId, String)> = BTreeSet::new();
    let mut reacting: BTreeSet<ClientId> = BTreeSet::new();
    for r in &h.records {
        match &r.event {
            Event::Watch { client, event, .. } if under(&event.path) => {
                c.notifications += 1;
                reacting.insert(*client);
            }
            Event::Invoke { client, op: Op::GetChildren { .. } | Op::Exists { .. } | Op::GetData { .. }, .. }
                if reacting.contains(client) =>
            {
                c.reads += 1;
            }
            Event::Recipe { client, note, .. } => {
                let Some(dir) = note.recipe.strip_prefix("lock:") else { continue };
                if !dirs.contains(dir) {
                    continue;
                }
                reacting.remove(client);
                match &note.action {
                    RecipeAction::Acquired { .. } => {
                        holding.insert((*client, dir.to_string()));
                    }
                    RecipeAction::Released { .. } if holding.remove(&(*client, dir.to_string())) => c.releases += 1,
                    RecipeAction::Lost | RecipeAction::Suspended => {
                        holding.remove(&(*client, dir.to_string()));
                    }
                    RecipeAction::Woken { acquired } => {
                        c.wakeups += 1;
                        if !acquired {
                            c.futile += 1;
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    c
}

/// Herd figures over every lock in the history: per release (a `Released` after an
/// `Acquired`), the watch notifications delivered to lock waiters, the reads they issued in
/// reaction (between a notification and the client's next lock note), the wakeups (`Woken`) and
/// the futile ones (`Woken { acquired: false }`). Herd-free: 1 wakeup and 0 futile per release;
/// naive: O(waiters).
pub fn herd_figures(h: &History) -> BTreeMap<String, f64> {
    let c = herd_counts(h, |_| true);
    let per = |x: u64| if c.releases == 0 { 0.0 } else { x as f64 / c.releases as f64 };
    let mut m = BTreeMap::new();
    m.insert("releases".to_string(), c.releases as f64);
    m.insert("notifications".to_string(), c.notifications as f64);
    m.insert("notifications_per_release".to_string(), per(c.notifications));
    m.insert("reads_in_reaction_per_release".to_string(), per(c.reads));
    m.insert("wakeups_per_release".to_string(), per(c.wakeups));
    m.insert("futile_wakeups_per_release".to_string(), per(c.futile));
    m
}

/// The bound of `lock-herd`: futile wakeups per release of a herd-free lock.
///
/// Why 1: a herd-free waiter watches only its immediate predecessor, so a release wakes exactly
/// the next waiter, which then holds the lock (not futile). A waiter is woken in vain only when
/// its predecessor left without holding (gave up after its acquire timeout, or its session
/// expired) — at most one futile wakeup per such departure, and departures are rarer than
/// releases in any run where the lock makes progress. Watching the parent's children or the
/// first node instead wakes every waiter on every release: O(waiters) futile wakeups each.
pub const HERD_FUTILE_PER_RELEASE: f64 = 1.0;

/// `lock-herd`: a herd-free (sequential) lock wakes at most [`HERD_FUTILE_PER_RELEASE`] waiters
/// in vain per release. A naive lock (`<dir>/lock`) herds by design and is not judged.
fn herd(h: &History, notes: &[Note<'_>]) -> PropertyReport {
    // A lock is herd-free when its grants are sequential nodes (`.../lock-NNNNNNNNNN`).
    let mut sequential: BTreeMap<&str, bool> = BTreeMap::new();
    for n in notes {
        if let RecipeAction::Acquired { node, .. } = &*n.action {
            let name = node.rsplit('/').next().unwrap_or(node);
            *sequential.entry(n.dir).or_insert(true) &= sequence_of(name).is_some();
        }
    }
    let judged: BTreeSet<&str> = sequential.iter().filter(|(_, s)| **s).map(|(d, _)| *d).collect();
    if judged.is_empty() {
        let reason = if sequential.is_empty() {
            "no lock was acquired"
        } else {
            "naive lock (every loser watches the one lock node): it herds by design"
        };
        return PropertyReport {
            name: "lock-herd".into(),
            verdict: Verdict::NotApplicable { reason: reason.into() },
            checked: 0,
            note: None,
        };
    }
    let mut violations = Vec::new();
    let mut notes_out = Vec::new();
    let mut checked = 0;
    for dir in &judged {
        let c = herd_counts(h, |d| d == *dir);
        checked += c.wakeups;
        let per = c.futile as f64 / c.releases.max(1) as f64;
        notes_out.push(format!(
            "{dir}: {} releases, {} wakeups, {} futile ({per:.2} per release), {} notifications",
            c.releases, c.wakeups, c.futile, c.notifications
        ));
        if per > HERD_FUTILE_PER_RELEASE {
            violations.push(
                Violation::new(format!(
                    "herd effect on lock {dir}: {} futile wakeups over {} releases ({per:.2} per release, bound \
                     {HERD_FUTILE_PER_RELEASE}); waiters are woken by changes that do not let them acquire",
                    c.futile, c.releases
                ))
                .expected(format!(
                    "a herd-free lock wakes only the next waiter: at most {HERD_FUTILE_PER_RELEASE} futile wakeup \
                     per release"
                ))
                .observed(format!(
                    "{:.2} wakeups and {:.2} notifications per release",
                    c.wakeups as f64 / c.releases.max(1) as f64,
                    c.notifications as f64 / c.releases.max(1) as f64
                )),
            );
        }
    }
    PropertyReport { name: "lock-herd".into(), verdict: verdict(violations), checked, note: Some(notes_out.join("; ")) }
}

/// Every lock property with its default configuration.
pub fn check_locks(h: &History) -> Vec<PropertyReport> {
    check_locks_with(h, &LockCheckConfig::default())
}

/// Every lock property.
pub fn check_locks_with(h: &History, cfg: &LockCheckConfig) -> Vec<PropertyReport> {
    check_locks_on(h, &CommittedLog::of(h), cfg)
}

/// Every lock property, given `h`'s committed log (shared with other checkers).
pub fn check_locks_on(h: &History, log: &CommittedLog, cfg: &LockCheckConfig) -> Vec<PropertyReport> {
    let notes = notes(h);
    if notes.is_empty() {
        return ["lock-exclusive", "lock-fencing", "lock-belief-overlap", "lock-liveness", "lock-herd"]
            .iter()
            .map(|n| not_applicable(n))
            .collect();
    }
    let committed = committed(h, log, &lock_dirs(&notes));
    vec![
        exclusive(h, &notes, &committed, &Wording::LOCK),
        fencing(h, &notes, &committed),
        belief_overlap(h, &notes, &Wording::LOCK),
        liveness(h, &notes, cfg, &Wording::LOCK),
        herd(h, &notes),
    ]
}

fn not_applicable(name: &str) -> PropertyReport {
    PropertyReport {
        name: name.to_string(),
        verdict: Verdict::NotApplicable { reason: "no lock recipe in the history".into() },
        checked: 0,
        note: None,
    }
}

/// What election checks with the lock's rules, on its notes read as lock notes (`Leading` as
/// `Acquired`, `Abdicated` as `Released`): `lock-exclusive`, `lock-belief-overlap` and
/// `lock-liveness`, as [`check_locks_with`] would report them, violations worded with `w`.
pub(super) fn exclusive_overlap_liveness(
    h: &History,
    log: &CommittedLog,
    notes: &[Note<'_>],
    cfg: &LockCheckConfig,
    w: &Wording,
) -> [PropertyReport; 3] {
    if notes.is_empty() {
        return ["lock-exclusive", "lock-belief-overlap", "lock-liveness"].map(not_applicable);
    }
    let committed = committed(h, log, &lock_dirs(notes));
    [exclusive(h, notes, &committed, w), belief_overlap(h, notes, w), liveness(h, notes, cfg, w)]
}

/// `lock-liveness` over `notes` (the read/write lock's notes read as lock notes), as
/// [`check_locks_with`] would report it.
pub(super) fn liveness_of(h: &History, notes: &[Note<'_>], cfg: &LockCheckConfig) -> PropertyReport {
    if notes.is_empty() {
        return not_applicable("lock-liveness");
    }
    liveness(h, notes, cfg, &Wording::LOCK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Fault, Header, RecipeNote, Record};
    use crate::types::ServerId;

    /// `lock-belief-overlap` of a whole history's lock notes.
    fn belief_overlap(h: &History) -> PropertyReport {
        super::belief_overlap(h, &notes(h), &Wording::LOCK)
    }

    /// `lock-liveness` of a whole history's lock notes.
    fn liveness(h: &History, cfg: &LockCheckConfig) -> PropertyReport {
        super::liveness(h, &notes(h), cfg, &Wording::LOCK)
    }

    fn note(t_ms: u64, client: u32, action: RecipeAction) -> Record {
        Record {
            time: SimTime(t_ms * NS_PER_MS),
            event: Event::Recipe {
                client: ClientId(client),
                session: SessionId(client as u64),
                note: RecipeNote { recipe: "lock:/l".into(), action },
            },
        }
    }

    fn history(records: Vec<Record>) -> History {
        let header = Header {
            format: crate::history::HISTORY_FORMAT,
            scenario: "t".into(),
            seed: 0,
            config_hash: String::new(),
            servers: vec![ServerId(1)],
            clients: vec![],
            tick_ms: 0,
        };
        History { header, records }
    }

    fn acq(t: u64, c: u32) -> Record {
        note(t, c, RecipeAction::Acquired { token: Zxid(t), node: format!("/l/n{c}") })
    }

    fn rel(t: u64, c: u32) -> Record {
        note(t, c, RecipeAction::Released { node: format!("/l/n{c}") })
    }

    #[test]
    fn overlap_rule_fails_unexplained_excuses_faults_and_fails_ignored_expiry() {
        let plain = history(vec![acq(0, 1), acq(10, 2), rel(20, 1), rel(30, 2)]);
        assert!(matches!(belief_overlap(&plain).verdict, Verdict::Fail { .. }), "unexplained overlap fails");

        let pause = Record {
            time: SimTime(5 * NS_PER_MS),
            event: Event::Fault { fault: Fault::Pause { node: crate::Node::Client(ClientId(1)) } },
        };
        let paused = history(vec![acq(0, 1), pause, acq(10, 2), rel(20, 1), rel(30, 2)]);
        let r = belief_overlap(&paused);
        assert_eq!(r.verdict, Verdict::Pass, "a pause explains the overlap");
        assert!(r.note.as_deref().is_some_and(|n| n.contains("unfenced-overlap")), "reported as a window: {r:?}");

        let told = Record {
            time: SimTime(8 * NS_PER_MS),
            event: Event::Session {
                client: ClientId(1),
                session: SessionId(1),
                state: SessionState::Expired,
                server: None,
                timeout_ms: None,
            },
        };
        let pause = Record {
            time: SimTime(5 * NS_PER_MS),
            event: Event::Fault { fault: Fault::Pause { node: crate::Node::Client(ClientId(1)) } },
        };
        let ignored = history(vec![acq(0, 1), pause, told, acq(10, 2), rel(200, 1), rel(300, 2)]);
        let Verdict::Fail { violations, .. } = belief_overlap(&ignored).verdict else { panic!("ignored expiry fails") };
        assert!(violations[0].summary.contains("kept believing"), "{}", violations[0].summary);

        let sequential = history(vec![acq(0, 1), rel(10, 1), acq(10, 2), rel(20, 2)]);
        assert_eq!(belief_overlap(&sequential).verdict, Verdict::Pass);
    }

    #[test]
    fn a_fault_active_since_before_the_acquisition_explains_an_overlap_one_that_ended_does_not() {
        let fault = |t: u64, fault: Fault| Record { time: SimTime(t * NS_PER_MS), event: Event::Fault { fault } };
        let cut = || Fault::Isolate { node: crate::Node::Server(ServerId(2)) };
        // Partitioned from before the acquisition until after the overlap began.
        let active = history(vec![fault(0, cut()), acq(5, 1), acq(10, 2), fault(12, Fault::Heal), rel(20, 1)]);
        assert_eq!(belief_overlap(&active).verdict, Verdict::Pass, "an active partition explains it");
        // Healed before the holder acquired: nothing was in force during the window.
        let healed = history(vec![fault(0, cut()), fault(2, Fault::Heal), acq(5, 1), acq(10, 2), rel(20, 1)]);
        assert!(matches!(belief_overlap(&healed).verdict, Verdict::Fail { .. }), "a healed partition explains nothing");
        // An ordered expiry counts until the session's close commits.
        let close = |t: u64| Record {
            time: SimTime(t * NS_PER_MS),
            event: Event::Commit {
                server: ServerId(1),
                txn: crate::history::TxnRecord {
                    zxid: Zxid(t),
                    time_ms: t as i64,
                    txn: crate::history::Txn::CloseSession {
                        session: SessionId(1),
                        reason: crate::history::CloseReason::Expired,
                    },
                },
            },
        };
        let expire = || Fault::ExpireSession { session: SessionId(1) };
        let pending = history(vec![fault(3, expire()), acq(5, 1), close(8), acq(10, 2), rel(20, 1)]);
        assert_eq!(belief_overlap(&pending).verdict, Verdict::Pass, "an expiry on its way explains it");
        // Once committed, the holder's own expiry still explains a later overlap: its server may
        // not have applied the close yet when it read itself the lowest.
        let done = history(vec![fault(1, expire()), close(3), acq(5, 1), acq(10, 2), rel(20, 1)]);
        assert_eq!(belief_overlap(&done).verdict, Verdict::Pass, "the holder's own expiry explains it");
        // Another session's committed expiry does not.
        let other = history(vec![fault(1, expire()), close(3), acq(5, 3), acq(10, 2), rel(20, 3)]);
        assert!(
            matches!(belief_overlap(&other).verdict, Verdict::Fail { .. }),
            "someone else's expiry explains nothing"
        );
    }

    #[test]
    fn a_belief_on_an_already_expired_session_is_a_window_not_a_failure() {
        // lock-herd-free-loss-oneway seed 75: c2's session expired (committed at 5 ms); a
        // lagging server still listed c2's node first, so c2 acquired at 10 ms, overlapping c1
        // (who rightly acquired after the expiry) until c2 heard of it 1 ms later.
        let close = Record {
            time: SimTime(5 * NS_PER_MS),
            event: Event::Commit {
                server: ServerId(1),
                txn: crate::history::TxnRecord {
                    zxid: Zxid(5),
                    time_ms: 5,
                    txn: crate::history::Txn::CloseSession {
                        session: SessionId(2),
                        reason: crate::history::CloseReason::Expired,
                    },
                },
            },
        };
        let stale = history(vec![close.clone(), acq(8, 1), acq(10, 2), rel(11, 2), rel(20, 1)]);
        let r = belief_overlap(&stale);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(r.note.as_deref().is_some_and(|n| n.contains("unfenced-overlap")), "reported as a window: {r:?}");
        // Without the expiry it is unexplained.
        let plain = history(vec![acq(8, 1), acq(10, 2), rel(11, 2), rel(20, 1)]);
        assert!(matches!(belief_overlap(&plain).verdict, Verdict::Fail { .. }));
    }

    fn crash(t: u64, c: u32) -> Record {
        Record {
            time: SimTime(t * NS_PER_MS),
            event: Event::Fault { fault: Fault::Crash { node: crate::Node::Client(ClientId(c)), torn: false } },
        }
    }

    fn disconnected(t: u64, c: u32, session: u64) -> Record {
        Record {
            time: SimTime(t * NS_PER_MS),
            event: Event::Session {
                client: ClientId(c),
                session: SessionId(session),
                state: SessionState::Disconnected,
                server: None,
                timeout_ms: None,
            },
        }
    }

    #[test]
    fn a_crash_of_the_holders_node_ends_its_belief() {
        // standard seed 2: c1 crashed while holding (leading), c2 acquired after c1's session
        // expired, c1's restarted incarnation (a new session) was told Disconnected and later
        // acquired again. The crash ended c1's first belief: no overlap, nothing ignored.
        let records = || vec![acq(0, 1), crash(5, 1), acq(10, 2), disconnected(20, 1, 11), rel(40, 2), acq(50, 1)];
        let r = belief_overlap(&history(records()));
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert_eq!(r.note, None, "no overlap at all: {r:?}");
        // Without the crash, c1 kept believing after it was told Disconnected: that fails.
        let mut kept = records();
        kept.remove(1);
        let Verdict::Fail { violations, .. } = belief_overlap(&history(kept)).verdict else {
            panic!("a holder that ignores Disconnected fails")
        };
        assert!(violations[0].summary.contains("kept believing it held lock /l"), "{}", violations[0].summary);
        // A crash of another client's node ends nothing of c1's.
        let mut other = records();
        other[1] = crash(5, 3);
        assert!(matches!(belief_overlap(&history(other)).verdict, Verdict::Fail { .. }));
        // A crash before the belief began ends nothing either.
        let late = vec![crash(0, 1), acq(1, 1), acq(10, 2), disconnected(20, 1, 11), rel(40, 2), acq(50, 1)];
        assert!(matches!(belief_overlap(&history(late)).verdict, Verdict::Fail { .. }));
    }

    #[test]
    fn a_crash_ends_a_waiting_episode() {
        let cfg = LockCheckConfig { liveness_bound_ms: 100 };
        let waiting = |t| note(t, 1, RecipeAction::Waiting);
        // c1 waits from 0, its node crashes at 50 and it never comes back to the lock; c2 keeps
        // acquiring. Not a waiter starved for 1 s.
        let mut records = vec![waiting(0), crash(50, 1)];
        for t in (0..1000).step_by(50) {
            records.push(acq(t + 10, 2));
            records.push(rel(t + 20, 2));
        }
        records.sort_by_key(|r| r.time);
        let r = liveness(&history(records.clone()), &cfg);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        records.retain(|r| !matches!(r.event, Event::Fault { .. }));
        let Verdict::Fail { violations, .. } = liveness(&history(records), &cfg).verdict else {
            panic!("a waiter never served fails")
        };
        assert!(violations[0].summary.contains("waited for lock /l"), "{}", violations[0].summary);
    }

    /// Two clients take a sequential lock in turn and write the fenced resource; with `bad`, the
    /// second believes it acquired while the first's node is still the lowest, the resource
    /// accepts a stale token, and a client claims a token no write holds.
    fn turns(bad: bool) -> History {
        use crate::testkit::{ops, HistoryBuilder};
        use crate::types::{CreateMode, Data};
        let seq = || Op::Create {
            path: "/l/lock-".into(),
            data: Data::text(""),
            mode: CreateMode::EphemeralSequential,
            acl: crate::Acl::open(),
        };
        let note = |b: &mut HistoryBuilder, c: u32, action: RecipeAction| {
            b.push(Event::Recipe {
                client: ClientId(c),
                session: SessionId(c as u64),
                note: RecipeNote { recipe: "lock:/l".into(), action },
            });
        };
        let acquired = |seq: u64, node: &str| RecipeAction::Acquired { token: Zxid(seq), node: node.into() };
        let (first, second) = ("/l/lock-0000000000", "/l/lock-0000000001");
        let mut b = HistoryBuilder::new();
        b.open_session(1, 1, 1, 4000);
        b.open_session(2, 2, 1, 4000);
        b.write(1, 1, ops::create("/l", ""));
        b.write(1, 1, ops::create("/l-resource", "0"));
        b.write(1, 1, seq());
        b.write(2, 2, seq());
        note(&mut b, 1, acquired(0, first));
        b.write(1, 1, ops::set("/l-resource", "5"));
        note(&mut b, 1, RecipeAction::Fenced { token: Zxid(5), accepted: true });
        if bad {
            note(&mut b, 2, acquired(1, second));
        }
        b.write(1, 1, ops::delete(first));
        note(&mut b, 1, RecipeAction::Released { node: first.into() });
        if !bad {
            note(&mut b, 2, acquired(1, second));
        }
        b.write(2, 2, ops::set("/l-resource", if bad { "3" } else { "7" }));
        note(&mut b, 2, RecipeAction::Fenced { token: Zxid(if bad { 9 } else { 7 }), accepted: true });
        note(&mut b, 2, RecipeAction::Released { node: second.into() });
        b.build("t")
    }

    #[test]
    fn exclusive_and_fencing_are_judged_from_the_committed_log() {
        let verdict_of = |h: &History, name: &str| {
            check_locks(h).into_iter().find(|r| r.name == name).expect("every property is reported").verdict
        };
        let good = turns(false);
        assert_eq!(verdict_of(&good, "lock-exclusive"), Verdict::Pass);
        assert_eq!(verdict_of(&good, "lock-fencing"), Verdict::Pass);

        let bad = turns(true);
        let Verdict::Fail { violations, .. } = verdict_of(&bad, "lock-exclusive") else {
            panic!("an early belief fails")
        };
        assert!(
            violations[0].summary.contains("acquired /l/lock-0000000001 (token 0x1) but that node was never"),
            "{violations:?}"
        );
        let Verdict::Fail { violations, .. } = verdict_of(&bad, "lock-fencing") else { panic!("stale tokens fail") };
        let summaries: Vec<&str> = violations.iter().map(|v| v.summary.as_str()).collect();
        assert_eq!(summaries.len(), 2, "{summaries:?}");
        assert!(summaries[0].contains("accepted stale token 3 after 5"), "{summaries:?}");
        assert!(summaries[1].contains("accepted token 0x9 but no committed write holds it"), "{summaries:?}");
    }
}
