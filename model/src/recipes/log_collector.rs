//! Log-collector assignment properties (recipe `logs:<root>`, `sim/src/recipes/log_collector.rs`).
//!
//! Layout the recipe keeps (and these checks read from the committed log):
//! - `<root>/collectors/<host>`: a collector's node; its data is the comma-separated list of the
//!   sources assigned to it (written by the master, or by the collector giving sources back);
//! - `<root>/pool`: the unassigned sources (created by the first master with every source);
//! - `<root>/status/<host>`: the collector's heartbeat (`seq=<n> load=<k> cap=<c>`).
//!
//! "Holders" of a source are the pool and the collectors whose node lists it.
//!
//! - `logs-assign-exclusive` (safety): at every committed zxid each source has at most one
//!   holder — no source is assigned to two collectors (or to a collector and the pool) at once;
//!   and every `Assigned { source, collector }` a client recorded was committed before it said so.
//! - `logs-assign-durable` (safety): from the moment a source is first held, it has a holder at
//!   every committed zxid: an assignment leaves a collector only by a write that hands it to
//!   another holder, never by the collector's death (a session ending deletes only ephemeral
//!   nodes, so this is what catches assignments kept in ephemeral nodes).
//! - `logs-assign-liveness` (eventually): when the liveness phase ends (the first session close:
//!   the harness's stop) every source is held by exactly one *live* collector (one whose status
//!   had a committed heartbeat within `dead_after_ms` of the stop), none is left in the pool,
//!   and that final assignment was in place no later than `bound_ms` after the last fault.
//!
//! Only the log before the stop is judged: at the stop clients close their sessions on purpose.

use super::coord_log::{committed_changes, last_fault_time, ms, notes, rec_ref, report, Change};
use crate::check::{PropertyReport, Violation};
use crate::history::{CloseReason, Event, History, RecipeAction, Txn};
use crate::types::{Data, EventType, SessionState, SimTime, Zxid};
use std::collections::{BTreeMap, BTreeSet};

/// The holder name the pool of unassigned sources goes by (in data and in `Assigned` notes).
pub const POOL: &str = "pool";

/// The name of source number `i` (`src-00`, `src-01`, …).
pub fn source_name(i: u32) -> String {
    format!("src-{i:02}")
}

/// The sources an assignment node's data lists (comma-separated; empty data: none).
pub fn parse_sources(data: &Data) -> BTreeSet<String> {
    std::str::from_utf8(data.as_slice())
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The data of an assignment node listing `sources`.
pub fn format_sources<'a>(sources: impl IntoIterator<Item = &'a String>) -> Data {
    let v: Vec<&str> = sources.into_iter().map(String::as_str).collect();
    Data::text(&v.join(","))
}

/// When the liveness phase ended: the first session closed on purpose (the harness's stop).
fn stop_time(history: &History) -> SimTime {
    history
        .records
        .iter()
        .find(|r| match &r.event {
            Event::Session { state: SessionState::Closed, .. } => true,
            Event::Commit { txn, .. } => matches!(txn.txn, Txn::CloseSession { reason: CloseReason::Closed, .. }),
            _ => false,
        })
        .map_or(SimTime(u64::MAX), |r| r.time)
}

/// Every log-collector property for the recipe rooted at `root` with `sources` sources.
pub fn check(history: &History, root: &str, sources: u32, dead_after_ms: u64, bound_ms: u64) -> Vec<PropertyReport> {
    let names = ["logs-assign-exclusive", "logs-assign-durable", "logs-assign-liveness"];
    let recipe = format!("logs:{root}");
    let (changes, closes) = committed_changes(history);
    let close_zxids: BTreeSet<Zxid> = closes.iter().map(|c| c.0).collect();
    let stop = stop_time(history);
    let pool_path = format!("{root}/pool");
    let coll_prefix = format!("{root}/collectors/");
    let status_prefix = format!("{root}/status/");
    // The holder an assignment node stands for.
    let holder_of = |path: &str| -> Option<String> {
        if path == pool_path {
            return Some(POOL.to_string());
        }
        path.strip_prefix(&coll_prefix).filter(|h| !h.contains('/')).map(str::to_string)
    };
    let ns = notes(history, &recipe);
    if ns.is_empty() && !changes.iter().any(|c| holder_of(&c.path).is_some()) {
        return names
            .iter()
            .map(|n| super::coord_log::not_applicable(n, format!("no log-collector recipe at {root} in the history")))
            .collect();
    }

    let mut held: BTreeMap<String, BTreeSet<String>> = BTreeMap::new(); // holder → sources
    let mut seen: BTreeSet<String> = BTreeSet::new(); // sources ever held
                                                      // (source, holder) → time it first became held there (for `Assigned` notes).
    let mut first_held: BTreeMap<(String, String), SimTime> = BTreeMap::new();
    let mut last_status: BTreeMap<String, SimTime> = BTreeMap::new();
    let mut last_assign_change: Option<(SimTime, usize)> = None;
    let (mut exclusive, mut durable) = (Vec::new(), Vec::new());
    // Episodes already reported (a double or lost source is reported once until it heals).
    let (mut doubled, mut lost): (BTreeSet<String>, BTreeSet<String>) = (BTreeSet::new(), BTreeSet::new());
    let mut zxids_checked = 0u64;
    let before_stop: Vec<&Change> = changes.iter().take_while(|c| c.time < stop).collect();
    let mut i = 0;
    while i < before_stop.len() {
        // One transaction at a time: a move is a multi whose changes only make sense together.
        let zxid = before_stop[i].zxid;
        let mut j = i;
        let mut touched: Vec<(&Change, String, BTreeSet<String>)> = Vec::new(); // change, holder, dropped sources
        while j < before_stop.len() && before_stop[j].zxid == zxid {
            let c = before_stop[j];
            j += 1;
            if let Some(h) = c.path.strip_prefix(&status_prefix) {
                if c.kind != EventType::NodeDeleted {
                    last_status.insert(h.to_string(), c.time);
                }
                continue;
            }
            let Some(h) = holder_of(&c.path) else { continue };
            let now: BTreeSet<String> = match (&c.kind, &c.data) {
                (EventType::NodeDeleted, _) | (_, None) => BTreeSet::new(),
                (_, Some(d)) => parse_sources(d),
            };
            let before = held.get(&h).cloned().unwrap_or_default();
            if before != now {
                last_assign_change = Some((c.time, c.rec));
            }
            for s in now.difference(&before) {
                first_held.entry((s.clone(), h.clone())).or_insert(c.time);
                seen.insert(s.clone());
            }
            let dropped: BTreeSet<String> = before.difference(&now).cloned().collect();
            touched.push((c, h.clone(), dropped));
            held.insert(h, now);
        }
        let rec = before_stop[i].rec;
        let time = before_stop[i].time;
        i = j;
        if touched.is_empty() {
            continue;
        }
        zxids_checked += 1;
        let mut holders_of: BTreeMap<&String, Vec<&String>> = BTreeMap::new();
        for (h, ss) in &held {
            for s in ss {
                holders_of.entry(s).or_default().push(h);
            }
        }
        for s in &seen {
            let hs = holders_of.get(s).cloned().unwrap_or_default();
            if hs.len() > 1 {
                if doubled.insert(s.clone()) {
                    exclusive.push(
                        Violation::new(format!(
                            "source {s} is assigned to {} at once after zxid {zxid} ({:.1} ms)",
                            hs.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(" and "),
                            ms(time)
                        ))
                        .at(zxid)
                        .record(rec_ref(history, rec))
                        .expected("every source has at most one holder (a collector or the pool) at every zxid"),
                    );
                }
            } else {
                doubled.remove(s);
            }
            if hs.is_empty() {
                if lost.insert(s.clone()) {
                    let dropper = touched.iter().find(|t| t.2.contains(s));
                    let how = match dropper {
                        None => "no holder lists it".to_string(),
                        Some((c, h, _)) => lost_how(c, h, close_zxids.contains(&zxid)),
                    };
                    durable.push(
                        Violation::new(format!(
                            "source {s} was lost at zxid {zxid} ({:.1} ms): {how}, and no other holder took it",
                            ms(time)
                        ))
                        .at(zxid)
                        .record(rec_ref(history, rec))
                        .expected(
                            "assignments survive a collector's death: a source leaves a collector only by a write \
                             handing it to another holder",
                        ),
                    );
                }
            } else {
                lost.remove(s);
            }
        }
    }

    // Every `Assigned` note was committed before it was recorded.
    let mut assigned_notes = 0u64;
    for n in &ns {
        let RecipeAction::Assigned { source, collector } = n.action else { continue };
        assigned_notes += 1;
        let ok = first_held.get(&(source.clone(), collector.clone())).is_some_and(|t| *t <= n.time);
        if !ok && n.time < stop {
            exclusive.push(
                Violation::new(format!(
                    "{} recorded assigning {source} to {collector}, which the committed log had not done",
                    n.client
                ))
                .record(rec_ref(history, n.rec))
                .expected("a recipe records an assignment only after it committed"),
            );
        }
    }

    // Liveness at the stop.
    let mut liveness = Vec::new();
    let expected: Vec<String> = (0..sources).map(source_name).collect();
    // Without a stop (a history cut short), the liveness judgement is at the history's end.
    let stop = if stop.0 == u64::MAX { super::coord_log::end_time(history) } else { stop };
    let live_since = SimTime(stop.0.saturating_sub(dead_after_ms * 1_000_000));
    let live: BTreeSet<&String> = last_status.iter().filter(|(_, t)| **t >= live_since).map(|(h, _)| h).collect();
    let mut per_collector: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &expected {
        let hs: Vec<&String> = held.iter().filter(|(_, ss)| ss.contains(s)).map(|(h, _)| h).collect();
        let why = match hs.as_slice() {
            [] => Some("is held by nobody (lost)".to_string()),
            [h] if h.as_str() == POOL => Some("is still unassigned (in the pool)".to_string()),
            [h] if !live.contains(h) => Some(format!("is assigned to {h}, which is not live (no recent heartbeat)")),
            [h] => {
                *per_collector.entry(h.as_str()).or_default() += 1;
                None
            }
            _ => Some(format!("is assigned to {} holders", hs.len())),
        };
        if let Some(why) = why {
            liveness.push(
                Violation::new(format!("when the run stopped ({:.1} ms), source {s} {why}", ms(stop)))
                    .expected("after the faults heal every source is assigned to exactly one live collector"),
            );
        }
    }
    if let (Some((t, rec)), Some(f)) = (last_assign_change, last_fault_time(history)) {
        let deadline = SimTime(f.0 + bound_ms * 1_000_000);
        if liveness.is_empty() && t > deadline && t <= stop {
            liveness.push(
                Violation::new(format!(
                    "assignments were still changing at {:.1} ms, over {bound_ms} ms after the last fault ({:.1} ms)",
                    ms(t),
                    ms(f)
                ))
                .record(rec_ref(history, rec))
                .expected(format!("the assignment settles within {bound_ms} ms of the last fault")),
            );
        }
    }
    vec![
        report(
            names[0],
            zxids_checked + assigned_notes,
            exclusive,
            Some(format!("{assigned_notes} assignments recorded")),
        ),
        report(names[1], zxids_checked, durable, Some(format!("{} sources tracked", seen.len()))),
        report(
            names[2],
            expected.len() as u64,
            liveness,
            Some(format!("{} live collectors at the stop, load {:?}", live.len(), per_collector)),
        ),
    ]
}

/// `logs-local-minimal-moves` (safety, `local` strategy only): local reassignment moves only
/// what it must. In every committed transaction that moves sources between collectors, a
/// collector not declared dead gives sources to another collector only as one of the most
/// loaded: afterwards it holds at least as many as the most loaded live collector, minus one
/// (the master's greedy step takes from the current maximum, so a donor never ends lower).
/// Sources of collectors declared dead (and give-backs to the pool) may go anywhere. A
/// collector counts as declared dead from a `DeclaredDead` note until its status changes again
/// (changes within `dead_after_ms` before the move are ignored: the master may not have read
/// them yet).
pub fn check_local_moves(history: &History, root: &str, dead_after_ms: u64) -> PropertyReport {
    let name = "logs-local-minimal-moves";
    let recipe = format!("logs:{root}");
    let (changes, _) = committed_changes(history);
    let coll_prefix = format!("{root}/collectors/");
    let status_prefix = format!("{root}/status/");
    let collector_of = |path: &str| path.strip_prefix(&coll_prefix).filter(|h| !h.contains('/')).map(str::to_string);
    let declared: Vec<(SimTime, &String)> = notes(history, &recipe)
        .iter()
        .filter_map(|n| match n.action {
            RecipeAction::DeclaredDead { collector } => Some((n.time, collector)),
            _ => None,
        })
        .collect();
    if declared.is_empty() && !changes.iter().any(|c| collector_of(&c.path).is_some()) {
        return super::coord_log::not_applicable(name, format!("no log-collector recipe at {root} in the history"));
    }
    let mut status_times: BTreeMap<String, Vec<SimTime>> = BTreeMap::new();
    for c in &changes {
        if let Some(h) = c.path.strip_prefix(&status_prefix) {
            status_times.entry(h.to_string()).or_default().push(c.time);
        }
    }
    let grace = dead_after_ms * 1_000_000;
    let dead = |h: &String, t: SimTime| {
        declared.iter().any(|(n, who)| {
            *who == h
                && *n <= t
                && status_times.get(h).into_iter().flatten().all(|s| *s <= *n || *s > t || s.0 + grace > t.0)
        })
    };
    let mut held: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut violations = Vec::new();
    let mut moves_checked = 0u64;
    let mut i = 0;
    while i < changes.len() {
        let (zxid, time, rec) = (changes[i].zxid, changes[i].time, changes[i].rec);
        let before = held.clone();
        while i < changes.len() && changes[i].zxid == zxid {
            let c = &changes[i];
            i += 1;
            let Some(h) = collector_of(&c.path) else { continue };
            let now = match (&c.kind, &c.data) {
                (EventType::NodeDeleted, _) | (_, None) => BTreeSet::new(),
                (_, Some(d)) => parse_sources(d),
            };
            held.insert(h, now);
        }
        // Sources that left one collector for another in this transaction.
        let empty = BTreeSet::new();
        let gained: BTreeSet<String> =
            held.iter().flat_map(|(h, ss)| ss.difference(before.get(h).unwrap_or(&empty)).cloned()).collect();
        let live: Vec<&String> = held.keys().filter(|h| !dead(h, time)).collect();
        let max_after = live.iter().map(|h| held[*h].len()).max().unwrap_or(0);
        for (h, was) in &before {
            let now = held.get(h).cloned().unwrap_or_default();
            let given: Vec<&String> = was.difference(&now).filter(|s| gained.contains(*s)).collect();
            if given.is_empty() {
                continue;
            }
            moves_checked += 1;
            if dead(h, time) || now.len() + 1 >= max_after {
                continue;
            }
            let most = live.iter().filter(|x| held[**x].len() == max_after).map(|x| x.as_str()).collect::<Vec<_>>();
            violations.push(
                Violation::new(format!(
                    "at zxid {zxid} ({:.1} ms) live collector {h} gave {} of its {} sources ({}) to other collectors and \
                     kept {}, while {} held {max_after}",
                    ms(time),
                    given.len(),
                    was.len(),
                    given.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                    now.len(),
                    most.join(", "),
                ))
                .at(zxid)
                .record(rec_ref(history, rec))
                .expected(
                    "local reassignment moves only the dead collector's sources; a newcomer takes load only from the \
                     most loaded (a donor keeps at least the maximum load minus one)",
                ),
            );
        }
    }
    report(name, moves_checked, violations, Some(format!("{moves_checked} donations by collectors")))
}

/// How the change `c` to holder `h`'s node dropped a source (`closing`: the transaction was a
/// session's end).
fn lost_how(c: &Change, h: &str, closing: bool) -> String {
    let who = c.session.map_or_else(|| "?".to_string(), |s| s.to_string());
    match c.kind {
        EventType::NodeDeleted if closing => {
            format!("{h}'s node {} was deleted when session {who} ended (an ephemeral node)", c.path)
        }
        EventType::NodeDeleted => format!("{h}'s node {} was deleted by session {who}", c.path),
        _ => format!("a write by session {who} dropped it from {h}'s node {}", c.path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Verdict;
    use crate::history::{RecipeNote, Record, TxnRecord};
    use crate::op::{MultiOp, Op};
    use crate::types::{ClientId, CreateMode, ServerId, SessionId};

    fn commit(z: u64, txn: Txn) -> Record {
        Record {
            time: SimTime(z * 1_000_000),
            event: Event::Commit { server: ServerId(1), txn: TxnRecord { zxid: Zxid(z), time_ms: z as i64, txn } },
        }
    }

    fn write(z: u64, op: Op) -> Record {
        commit(z, Txn::Client { session: SessionId(7), xid: z, op })
    }

    fn create(z: u64, path: &str, data: &str) -> Record {
        write(
            z,
            Op::Create {
                path: path.into(),
                data: Data::text(data),
                mode: CreateMode::Persistent,
                acl: crate::Acl::open(),
            },
        )
    }

    fn set(path: &str, data: &str) -> MultiOp {
        MultiOp::SetData { path: path.into(), data: Data::text(data), version: -1 }
    }

    fn assigned(t: u64, source: &str, collector: &str) -> Record {
        Record {
            time: SimTime(t * 1_000_000),
            event: Event::Recipe {
                client: ClientId(1),
                session: SessionId(7),
                note: RecipeNote {
                    recipe: "logs:/logs".into(),
                    action: RecipeAction::Assigned { source: source.into(), collector: collector.into() },
                },
            },
        }
    }

    fn history(records: Vec<Record>) -> History {
        crate::testkit::recipe_history(&[1], records)
    }

    fn verdict<'a>(r: &'a [PropertyReport], name: &str) -> &'a Verdict {
        &r.iter().find(|p| p.name == name).expect("property reported").verdict
    }

    /// Two sources, two collectors with fresh heartbeats; `moves` are the assignment writes.
    fn run(moves: Vec<Record>) -> Vec<PropertyReport> {
        let mut recs = vec![
            commit(1, Txn::CreateSession { session: SessionId(7), timeout_ms: 1000 }),
            create(2, "/logs", ""),
            create(3, "/logs/collectors", ""),
            create(4, "/logs/status", ""),
            create(5, "/logs/collectors/c3", ""),
            create(6, "/logs/collectors/c4", ""),
            create(7, "/logs/pool", "src-00,src-01"),
        ];
        recs.extend(moves);
        recs.push(write(90, Op::SetData { path: "/logs/status/c3".into(), data: Data::text("seq=1"), version: -1 }));
        recs.push(write(91, Op::SetData { path: "/logs/status/c4".into(), data: Data::text("seq=1"), version: -1 }));
        recs.insert(7, create(8, "/logs/status/c3", "seq=0"));
        recs.insert(8, create(9, "/logs/status/c4", "seq=0"));
        check(&history(recs), "/logs", 2, 1_000, 1_000_000)
    }

    #[test]
    fn atomic_moves_pass_every_property() {
        let r = run(vec![
            write(10, Op::Multi { ops: vec![set("/logs/pool", "src-01"), set("/logs/collectors/c3", "src-00")] }),
            assigned(10, "src-00", "c3"),
            write(11, Op::Multi { ops: vec![set("/logs/pool", ""), set("/logs/collectors/c4", "src-01")] }),
            assigned(11, "src-01", "c4"),
        ]);
        for p in &r {
            assert!(matches!(p.verdict, Verdict::Pass), "{r:#?}");
        }
    }

    #[test]
    fn a_non_atomic_move_is_a_double_assignment_and_an_early_note_is_caught() {
        // src-00 joins c3 before it leaves the pool; the note comes before the commit.
        let r = run(vec![
            assigned(9, "src-00", "c3"),
            write(10, Op::SetData { path: "/logs/collectors/c3".into(), data: Data::text("src-00"), version: -1 }),
            write(11, Op::SetData { path: "/logs/pool".into(), data: Data::text("src-01"), version: -1 }),
            write(12, Op::Multi { ops: vec![set("/logs/pool", ""), set("/logs/collectors/c4", "src-01")] }),
        ]);
        let Verdict::Fail { violations, .. } = verdict(&r, "logs-assign-exclusive") else { panic!("{r:#?}") };
        assert!(
            violations.iter().any(|v| v.summary.contains("source src-00 is assigned to c3 and pool")),
            "{violations:#?}"
        );
        assert!(
            violations.iter().any(|v| v.summary.contains("which the committed log had not done")),
            "{violations:#?}"
        );
        assert!(matches!(verdict(&r, "logs-assign-durable"), Verdict::Pass), "{r:#?}");
        assert!(matches!(verdict(&r, "logs-assign-liveness"), Verdict::Pass), "{r:#?}");
    }

    #[test]
    fn a_dropped_source_is_lost_and_never_assigned() {
        let r = run(vec![
            write(10, Op::Multi { ops: vec![set("/logs/pool", "src-01"), set("/logs/collectors/c3", "src-00")] }),
            write(11, Op::Multi { ops: vec![set("/logs/pool", ""), set("/logs/collectors/c4", "src-01")] }),
            write(12, Op::SetData { path: "/logs/collectors/c3".into(), data: Data::text(""), version: -1 }),
        ]);
        let Verdict::Fail { violations, .. } = verdict(&r, "logs-assign-durable") else { panic!("{r:#?}") };
        assert!(violations[0].summary.contains("source src-00 was lost at zxid"), "{violations:#?}");
        let Verdict::Fail { violations, .. } = verdict(&r, "logs-assign-liveness") else { panic!("{r:#?}") };
        assert!(violations[0].summary.contains("source src-00 is held by nobody"), "{violations:#?}");
    }

    #[test]
    fn a_live_donor_left_below_the_most_loaded_breaks_minimal_moves() {
        // c3 holds both sources; c4 (a newcomer) takes one: minimal. Then c4 takes c3's last
        // one while c3 is live: c3 ends with none while c4 holds two.
        let give = |z, c3: &str, c4: &str| {
            write(z, Op::Multi { ops: vec![set("/logs/collectors/c3", c3), set("/logs/collectors/c4", c4)] })
        };
        let mut recs = vec![
            commit(1, Txn::CreateSession { session: SessionId(7), timeout_ms: 1000 }),
            create(2, "/logs", ""),
            create(3, "/logs/collectors", ""),
            create(4, "/logs/collectors/c3", "src-00,src-01"),
            create(5, "/logs/collectors/c4", ""),
            give(6, "src-00", "src-01"),
        ];
        let h = history(recs.clone());
        assert!(matches!(check_local_moves(&h, "/logs", 1_000).verdict, Verdict::Pass));
        recs.push(give(7, "", "src-00,src-01"));
        let r = check_local_moves(&history(recs), "/logs", 1_000);
        let Verdict::Fail { violations, .. } = &r.verdict else { panic!("{r:#?}") };
        assert!(violations[0].summary.contains("live collector c3 gave 1 of its 1 sources (src-00)"), "{r:#?}");
        assert!(violations[0].summary.contains("kept 0, while c4 held 2"), "{r:#?}");
    }

    #[test]
    fn sources_round_trip_through_data() {
        let s: BTreeSet<String> = [source_name(3), source_name(10)].into_iter().collect();
        let d = format_sources(&s);
        assert_eq!(d, Data::text("src-03,src-10"));
        assert_eq!(parse_sources(&d), s);
        assert!(parse_sources(&Data::null()).is_empty());
    }
}
