//! Task-coordination properties (recipe `tasks:<root>`, `sim/src/recipes/task_coord.rs`): the
//! replication-bus use case — tasks registered in groups, a hot standby per task, cold standbys
//! scanning a group, and console commands every worker acts on.
//!
//! Layout the recipe keeps (and these checks read from the committed log):
//! - `<root>/groups/<group>/<task>`: the task (persistent; registration creates it if absent);
//! - `<root>/groups/<group>/<task>/instances/<..>-<seq>`: one EPHEMERAL_SEQUENTIAL node per
//!   instance serving the task; the smallest sequence is RUNNING, the others STANDBY;
//! - `<root>/groups/<group>/<task>/progress`: the RUNNING instance's progress (a decimal number);
//! - `<root>/commands/cmd-<seq>`: console commands (persistent sequential).
//!
//! A task is named `<group>/<task>` in notes and messages.
//!
//! - `task-single-running` (safety): at every committed zxid at most one instance acts as the
//!   RUNNING one: every committed progress write comes from the session owning the task's
//!   lowest-sequence instance at that zxid, and every `TaskState { running: true }` note is
//!   justified (the client's session owned the lowest instance at some instant before it).
//! - `task-resume-progress` (safety): a new RUNNING resumes (`Progress { resumed: true }`) from
//!   progress no older than the progress committed when it resumed (its predecessor's last), and
//!   committed progress never goes backwards.
//! - `task-command-once` (safety + eventually): every worker (a client that noted `Waiting`)
//!   acts on each console command at most once, only after the command was committed, and —
//!   when the run lasts `bound_ms` past the later of the command and the last fault — at least
//!   once before the stop.
//! - `task-running-liveness` (eventually): after the last fault, every registered task has
//!   committed progress at least once per `bound_ms` until the stop (a RUNNING instance exists).

use super::coord_log::{committed_changes, end_time, last_fault_time, ms, notes, rec_ref, report, sequence_of};
use crate::check::{PropertyReport, Violation};
use crate::history::{CloseReason, Event, History, RecipeAction, Txn};
use crate::types::{ClientId, Data, EventType, SessionId, SessionState, SimTime, Zxid};
use std::collections::BTreeMap;

/// The property names, in report order.
pub const PROPERTIES: [&str; 4] =
    ["task-single-running", "task-resume-progress", "task-command-once", "task-running-liveness"];

/// The recipe instance name in the history.
pub fn recipe_name(root: &str) -> String {
    format!("tasks:{root}")
}

/// The name of task number `i` (`task-00`, …).
pub fn task_name(i: u32) -> String {
    format!("task-{i:02}")
}

/// The directory of a group's tasks.
pub fn group_dir(root: &str, group: &str) -> String {
    format!("{root}/groups/{group}")
}

/// The console's command directory.
pub fn commands_dir(root: &str) -> String {
    format!("{root}/commands")
}

/// A progress node's data.
pub fn progress_data(value: u64) -> Data {
    Data::text(&value.to_string())
}

/// The value a progress node's data holds (`None`: not a number).
pub fn parse_progress(d: &Data) -> Option<u64> {
    std::str::from_utf8(d.as_slice()).ok()?.trim().parse().ok()
}

/// What a path under `<root>/groups/` is to the recipe.
enum Node<'p> {
    Task(String),
    Progress(String),
    Instance(String, &'p str),
}

fn classify<'p>(groups: &str, path: &'p str) -> Option<Node<'p>> {
    let rest = path.strip_prefix(groups)?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [g, t] => Some(Node::Task(format!("{g}/{t}"))),
        [g, t, "progress"] => Some(Node::Progress(format!("{g}/{t}"))),
        [g, t, "instances", name] => Some(Node::Instance(format!("{g}/{t}"), name)),
        _ => None,
    }
}

/// When the liveness phase ended: the first session closed on purpose (the harness's stop).
fn stop_time(history: &History) -> SimTime {
    let first_close = history.records.iter().find(|r| match &r.event {
        Event::Session { state: SessionState::Closed, .. } => true,
        Event::Commit { txn, .. } => matches!(txn.txn, Txn::CloseSession { reason: CloseReason::Closed, .. }),
        _ => false,
    });
    first_close.map_or_else(|| end_time(history), |r| r.time)
}

/// One committed progress value.
#[derive(Clone, Copy)]
struct Committed {
    value: u64,
    zxid: Zxid,
    time: SimTime,
    rec: usize,
    session: Option<SessionId>,
}

/// One action on a command: when, the note's record, the session.
type Acted = (SimTime, usize, SessionId);

/// Every task-coordination property of the recipe rooted at `root`.
pub fn check(history: &History, root: &str, bound_ms: u64) -> Vec<PropertyReport> {
    let recipe = recipe_name(root);
    let groups = format!("{root}/groups/");
    let cmd_prefix = format!("{}/", commands_dir(root));
    let ns = notes(history, &recipe);
    let (changes, _) = committed_changes(history);
    if ns.is_empty() && !changes.iter().any(|c| c.path.starts_with(&groups)) {
        return PROPERTIES
            .iter()
            .map(|n| {
                super::coord_log::not_applicable(n, format!("no task-coordination recipe at {root} in the history"))
            })
            .collect();
    }
    let stop = stop_time(history);

    // Replay the committed log: instances per task (by sequence), progress, commands.
    let mut instances: BTreeMap<String, BTreeMap<(u64, String), SessionId>> = BTreeMap::new();
    let mut registered: BTreeMap<String, SimTime> = BTreeMap::new();
    let mut progress: BTreeMap<String, Vec<Committed>> = BTreeMap::new();
    let mut became_lowest: BTreeMap<(String, SessionId), SimTime> = BTreeMap::new();
    let mut commands: BTreeMap<String, SimTime> = BTreeMap::new();
    let (mut single, mut resume) = (Vec::new(), Vec::new());
    let mut writes_checked = 0u64;
    for c in &changes {
        if let Some(name) = c.path.strip_prefix(&cmd_prefix) {
            if c.kind == EventType::NodeCreated && !name.contains('/') {
                commands.entry(name.to_string()).or_insert(c.time);
            }
            continue;
        }
        let Some(node) = classify(&groups, &c.path) else { continue };
        match node {
            Node::Task(t) => {
                if c.kind == EventType::NodeCreated {
                    registered.entry(t).or_insert(c.time);
                }
            }
            Node::Instance(t, name) => {
                let Some(seq) = sequence_of(name) else { continue };
                let set = instances.entry(t.clone()).or_default();
                match c.kind {
                    EventType::NodeCreated => {
                        set.insert((seq, name.to_string()), c.owner.unwrap_or(SessionId(0)));
                    }
                    EventType::NodeDeleted => {
                        set.remove(&(seq, name.to_string()));
                    }
                    _ => {}
                }
                if let Some((_, owner)) = set.iter().next() {
                    became_lowest.entry((t, *owner)).or_insert(c.time);
                }
            }
            Node::Progress(t) => {
                let Some(value) = c.data.as_ref().and_then(parse_progress) else { continue };
                let now = Committed { value, zxid: c.zxid, time: c.time, rec: c.rec, session: c.session };
                let hist = progress.entry(t.clone()).or_default();
                if c.kind == EventType::NodeDataChanged {
                    writes_checked += 1;
                    let lowest = instances.get(&t).and_then(|s| s.iter().next());
                    let writer = c.session.unwrap_or(SessionId(0));
                    let bad = match lowest {
                        Some((_, owner)) if *owner == writer => None,
                        Some(((_, name), owner)) => {
                            Some(format!("while the RUNNING instance (lowest sequence) was {name} of session {owner}"))
                        }
                        None => Some("while the task had no instance at all".to_string()),
                    };
                    if let Some(why) = bad {
                        single.push(
                            Violation::new(format!(
                                "session {writer} wrote {t}'s progress ({value}) at zxid {} ({:.1} ms) {why}",
                                c.zxid,
                                ms(c.time)
                            ))
                            .at(c.zxid)
                            .record(rec_ref(history, c.rec))
                            .expected(
                                "only the instance with the smallest sequence (RUNNING) acts on a task: \
                                 at most one RUNNING instance per task at every committed zxid",
                            ),
                        );
                    }
                    if let Some(prev) = hist.last().filter(|p| p.value > value) {
                        resume.push(
                            Violation::new(format!(
                                "{t}'s committed progress went back from {} (zxid {}) to {value} at zxid {} ({:.1} ms), \
                                 written by session {writer}",
                                prev.value,
                                prev.zxid,
                                c.zxid,
                                ms(c.time)
                            ))
                            .at(c.zxid)
                            .record(rec_ref(history, c.rec))
                            .expected("a RUNNING instance continues from the progress its predecessor committed"),
                        );
                    }
                }
                hist.push(now);
            }
        }
    }

    // Notes: RUNNING claims justified; resumes from fresh progress; commands acted once.
    let mut workers: BTreeMap<ClientId, SimTime> = BTreeMap::new();
    let mut acted: BTreeMap<(ClientId, String), Vec<Acted>> = BTreeMap::new();
    let (mut claims, mut resumes) = (0u64, 0u64);
    let mut once = Vec::new();
    for n in &ns {
        match n.action {
            RecipeAction::Waiting => {
                workers.entry(n.client).or_insert(n.time);
            }
            RecipeAction::TaskState { task, running: true } => {
                claims += 1;
                let ok = became_lowest.get(&(task.clone(), n.session)).is_some_and(|t| *t <= n.time);
                if !ok {
                    single.push(
                        Violation::new(format!(
                            "{} (session {}) believed it was RUNNING {task} at {:.1} ms, but its session never owned \
                             the task's lowest-sequence instance before then",
                            n.client,
                            n.session,
                            ms(n.time)
                        ))
                        .record(rec_ref(history, n.rec))
                        .expected("an instance is RUNNING only when its node has the smallest sequence"),
                    );
                }
            }
            RecipeAction::Progress { task, value, resumed: true } => {
                resumes += 1;
                let committed = progress.get(task).and_then(|h| h.iter().rev().find(|p| p.time <= n.time));
                if let Some(p) = committed.filter(|p| p.value > *value) {
                    let by = p.session.map_or_else(|| "?".to_string(), |s| s.to_string());
                    resume.push(
                        Violation::new(format!(
                            "{} became RUNNING for {task} at {:.1} ms and resumed from progress {value}, but progress \
                             {} had been committed by session {by} at zxid {} ({:.1} ms): the work in between is redone",
                            n.client,
                            ms(n.time),
                            p.value,
                            p.zxid,
                            ms(p.time)
                        ))
                        .at(p.zxid)
                        .record(rec_ref(history, n.rec))
                        .record(rec_ref(history, p.rec))
                        .expected(
                            "a new RUNNING instance resumes from progress no older than the last progress its \
                             predecessor committed",
                        ),
                    );
                }
            }
            RecipeAction::CommandActed { command } => {
                acted.entry((n.client, command.clone())).or_default().push((n.time, n.rec, n.session));
                match commands.get(command) {
                    Some(t) if *t <= n.time => {}
                    _ => once.push(
                        Violation::new(format!(
                            "{} acted on command {command} at {:.1} ms, which the committed log had not created",
                            n.client,
                            ms(n.time)
                        ))
                        .record(rec_ref(history, n.rec))
                        .expected("workers act only on commands the console committed"),
                    ),
                }
            }
            _ => {}
        }
    }
    for ((client, command), times) in &acted {
        if let [(t0, _, s0), (t1, rec, s1), ..] = times.as_slice() {
            once.push(
                Violation::new(format!(
                    "{client} acted on command {command} {} times: first at {:.1} ms (session {s0}), again at {:.1} ms \
                     (session {s1})",
                    times.len(),
                    ms(*t0),
                    ms(*t1)
                ))
                .record(rec_ref(history, *rec))
                .expected("each worker acts on each console command exactly once, across its sessions"),
            );
        }
    }
    let last_fault = last_fault_time(history).unwrap_or(SimTime(0));
    let bound = bound_ms * 1_000_000;
    for (command, t) in &commands {
        let due = SimTime(t.0.max(last_fault.0) + bound);
        if due > stop {
            continue;
        }
        for worker in workers.keys() {
            if !acted.contains_key(&(*worker, command.clone())) {
                once.push(
                    Violation::new(format!(
                        "{worker} never acted on command {command} (committed at {:.1} ms) before the stop ({:.1} ms)",
                        ms(*t),
                        ms(stop)
                    ))
                    .expected(format!(
                        "every live worker acts on every console command within {bound_ms} ms (after faults heal)"
                    )),
                );
            }
        }
    }

    // Liveness: after the last fault, progress at least once per bound on every task.
    let mut liveness = Vec::new();
    for (task, since) in &registered {
        let from = SimTime(last_fault.0.max(since.0));
        if from >= stop {
            continue;
        }
        let mut at = from;
        let times =
            progress.get(task).into_iter().flatten().map(|p| p.time).filter(|t| *t > from && *t <= stop).chain([stop]);
        for t in times {
            if t.0 - at.0 > bound {
                liveness.push(
                    Violation::new(format!(
                        "{task} had no progress from {:.1} ms to {:.1} ms (after the last fault at {:.1} ms): no \
                         RUNNING instance for over {bound_ms} ms",
                        ms(at),
                        ms(t),
                        ms(last_fault)
                    ))
                    .expected(format!("after faults heal every task has a RUNNING instance within {bound_ms} ms")),
                );
                break;
            }
            at = t;
        }
    }

    let n_actions: usize = acted.values().map(Vec::len).sum();
    vec![
        report(
            PROPERTIES[0],
            writes_checked + claims,
            single,
            Some(format!("{writes_checked} progress writes, {claims} RUNNING claims")),
        ),
        report(PROPERTIES[1], writes_checked + resumes, resume, Some(format!("{resumes} resumes"))),
        report(
            PROPERTIES[2],
            n_actions as u64,
            once,
            Some(format!("{} commands, {} workers, {n_actions} actions", commands.len(), workers.len())),
        ),
        report(PROPERTIES[3], registered.len() as u64, liveness, Some(format!("{} tasks", registered.len()))),
    ]
}

/// Herd figures of the console commands (`task_…`): watch notifications on the command
/// directory per command acted on. Every worker must hear every command, so one notification
/// per action is the floor, not a herd.
pub fn herd_figures(history: &History, root: &str) -> BTreeMap<String, f64> {
    let c = super::coord_log::herd_counts(history, &commands_dir(root), &recipe_name(root), |a| {
        matches!(a, RecipeAction::CommandActed { .. })
    });
    c.figures("task", "action")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Verdict;
    use crate::history::{RecipeNote, Record, TxnRecord};
    use crate::op::{MultiOp, Op};
    use crate::types::{CreateMode, ServerId};

    const A: SessionId = SessionId(7);
    const B: SessionId = SessionId(8);

    fn commit(z: u64, txn: Txn) -> Record {
        Record {
            time: SimTime(z * 1_000_000),
            event: Event::Commit { server: ServerId(1), txn: TxnRecord { zxid: Zxid(z), time_ms: z as i64, txn } },
        }
    }

    fn write(z: u64, s: SessionId, op: Op) -> Record {
        commit(z, Txn::Client { session: s, xid: z, op })
    }

    fn create(z: u64, s: SessionId, path: &str, mode: CreateMode) -> Record {
        write(z, s, Op::Create { path: path.into(), data: Data::text("0"), mode, acl: crate::Acl::open() })
    }

    fn fenced(z: u64, s: SessionId, inst: &str, value: u64) -> Record {
        let ops = vec![
            MultiOp::Check { path: format!("/t/groups/g/a/instances/{inst}"), version: -1 },
            MultiOp::SetData { path: "/t/groups/g/a/progress".into(), data: progress_data(value), version: -1 },
        ];
        write(z, s, Op::Multi { ops })
    }

    fn note(t: u64, client: u32, s: SessionId, action: RecipeAction) -> Record {
        Record {
            time: SimTime(t * 1_000_000),
            event: Event::Recipe {
                client: ClientId(client),
                session: s,
                note: RecipeNote { recipe: "tasks:/t".into(), action },
            },
        }
    }

    fn running(t: u64, client: u32, s: SessionId) -> Record {
        note(t, client, s, RecipeAction::TaskState { task: "g/a".into(), running: true })
    }

    fn resumed(t: u64, client: u32, s: SessionId, value: u64) -> Record {
        note(t, client, s, RecipeAction::Progress { task: "g/a".into(), value, resumed: true })
    }

    /// Task g/a with instances of A (seq 1) and B (seq 2); A runs and writes progress 1, 2.
    fn base() -> Vec<Record> {
        vec![
            commit(1, Txn::CreateSession { session: A, timeout_ms: 1000 }),
            commit(2, Txn::CreateSession { session: B, timeout_ms: 1000 }),
            create(3, A, "/t", CreateMode::Persistent),
            create(4, A, "/t/groups", CreateMode::Persistent),
            create(5, A, "/t/groups/g", CreateMode::Persistent),
            create(6, A, "/t/groups/g/a", CreateMode::Persistent),
            create(7, A, "/t/groups/g/a/instances", CreateMode::Persistent),
            create(8, A, "/t/groups/g/a/progress", CreateMode::Persistent),
            create(9, A, "/t/groups/g/a/instances/c1-", CreateMode::EphemeralSequential),
            create(10, B, "/t/groups/g/a/instances/c2-", CreateMode::EphemeralSequential),
            note(10, 1, A, RecipeAction::Waiting),
            note(10, 2, B, RecipeAction::Waiting),
            running(11, 1, A),
            resumed(11, 1, A, 0),
            fenced(12, A, "c1-0000000000", 1),
            fenced(13, A, "c1-0000000000", 2),
        ]
    }

    fn history(records: Vec<Record>) -> History {
        crate::testkit::recipe_history(&[1, 2], records)
    }

    fn verdict<'a>(r: &'a [PropertyReport], name: &str) -> &'a Verdict {
        &r.iter().find(|p| p.name == name).expect("property reported").verdict
    }

    fn summaries(r: &[PropertyReport], name: &str) -> Vec<String> {
        match verdict(r, name) {
            Verdict::Fail { violations, .. } => violations.iter().map(|v| v.summary.clone()).collect(),
            v => panic!("{name} did not fail: {v:?}"),
        }
    }

    /// A's session ends; B takes over from progress `from` and writes `from + 1`.
    fn switchover(from: u64) -> Vec<Record> {
        let mut recs = base();
        recs.push(commit(14, Txn::CloseSession { session: A, reason: CloseReason::Expired }));
        recs.push(running(15, 2, B));
        recs.push(resumed(15, 2, B, from));
        recs.push(fenced(16, B, "c2-0000000001", from + 1));
        recs
    }

    #[test]
    fn a_clean_switchover_passes_every_property() {
        let r = check(&history(switchover(2)), "/t", 1_000_000);
        for p in &r {
            assert!(matches!(p.verdict, Verdict::Pass), "{r:#?}");
        }
    }

    #[test]
    fn a_standby_writing_progress_is_a_second_running_instance() {
        let mut recs = base();
        recs.push(running(14, 2, B));
        recs.push(fenced(15, B, "c2-0000000001", 3));
        let r = check(&history(recs), "/t", 1_000_000);
        let s = summaries(&r, "task-single-running");
        assert!(s.iter().any(|v| v.contains("wrote g/a's progress (3)") && v.contains("c1-0000000000")), "{s:#?}");
        assert!(s.iter().any(|v| v.contains("believed it was RUNNING g/a")), "{s:#?}");
    }

    #[test]
    fn resuming_from_stale_progress_is_caught() {
        let r = check(&history(switchover(0)), "/t", 1_000_000);
        let s = summaries(&r, "task-resume-progress");
        assert!(s.iter().any(|v| v.contains("resumed from progress 0, but progress 2 had been committed")), "{s:#?}");
        assert!(s.iter().any(|v| v.contains("went back from 2")), "{s:#?}");
    }

    #[test]
    fn a_command_acted_on_twice_or_never_is_caught() {
        let mut recs = switchover(2);
        recs.push(create(17, B, "/t/commands", CreateMode::Persistent));
        recs.push(create(18, B, "/t/commands/cmd-", CreateMode::PersistentSequential));
        let cmd = || RecipeAction::CommandActed { command: "cmd-0000000000".into() };
        recs.push(note(19, 2, B, cmd()));
        recs.push(note(25, 2, SessionId(9), cmd()));
        recs.push(fenced(30, B, "c2-0000000001", 4));
        let r = check(&history(recs), "/t", 5);
        let s = summaries(&r, "task-command-once");
        assert!(s.iter().any(|v| v.contains("c2 acted on command cmd-0000000000 2 times")), "{s:#?}");
        assert!(s.iter().any(|v| v.contains("c1 never acted on command cmd-0000000000")), "{s:#?}");
    }

    #[test]
    fn a_task_without_progress_after_the_faults_is_not_live() {
        let mut recs = switchover(2);
        recs.push(Record { time: SimTime(17_000_000), event: Event::Fault { fault: crate::history::Fault::Heal } });
        recs.push(fenced(40, B, "c2-0000000001", 4));
        let r = check(&history(recs), "/t", 10);
        let s = summaries(&r, "task-running-liveness");
        assert!(s.iter().any(|v| v.contains("g/a had no progress from 17.0 ms to 40.0 ms")), "{s:#?}");
    }

    #[test]
    fn progress_round_trips() {
        assert_eq!(parse_progress(&progress_data(42)), Some(42));
        assert_eq!(parse_progress(&Data::text("x")), None);
    }
}
