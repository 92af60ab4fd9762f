//! Task coordination on the real ensemble: a console (c1), hot workers c2..c6 standing by for
//! tasks 00..02, and a cold worker c7 scanning the group. Each property passes on the correct
//! recipe under a fault, and fails — with a message saying what went wrong — on a broken variant:
//! the planted bugs `task-sort-by-name` (task-single-running), `task-resume-stale-progress`
//! (task-resume-progress) and `task-command-reacted` (task-command-once); for
//! task-running-liveness, a recorded history whose task stops making progress.

mod recipe_support;

use recipe_support::{assert_pass, failures, named, run, run_with_bugs, workload, FaultPlan, Plan};
use zksim_model::history::RecipeAction;
use zksim_model::recipes::task_coord::check;
use zksim_model::{Bug, BugSet, Event, MultiOp, Op, Txn};
use zksim_sim::recipes::task_coord::{self, TaskParams, TaskRole};

const BOUND_MS: u64 = 3_000;

fn plan(seed: u64, fault: FaultPlan) -> Plan {
    let clients = (1..=7u32)
        .map(|c| {
            let role = match c {
                1 => TaskRole::Console,
                7 => TaskRole::Cold,
                _ => TaskRole::Hot,
            };
            let p = TaskParams {
                role,
                tasks: 3,
                handover_ms: 1_000,
                commands: 4,
                command_every_ms: 600,
                ..TaskParams::default()
            };
            (c, workload(p, task_coord::workload))
        })
        .collect();
    Plan {
        seed,
        servers: 3,
        session_timeout_ms: 1_500,
        clients,
        fault,
        fault_at_ms: 2_000,
        fault_for_ms: 2_000,
        settle_ms: 5_000,
    }
}

fn checked(h: &zksim_model::History) -> Vec<zksim_model::check::PropertyReport> {
    check(h, "/tasks", BOUND_MS)
}

fn count(h: &zksim_model::History, f: impl Fn(&RecipeAction) -> bool) -> usize {
    h.records.iter().filter(|r| matches!(&r.event, Event::Recipe { note, .. } if f(&note.action))).count()
}

#[test]
fn switchover_after_expiry_and_pause_passes_every_property() {
    for (seed, fault) in [(1, FaultPlan::ExpireClient(2)), (2, FaultPlan::PauseClient(3))] {
        let h = run(plan(seed, fault));
        let r = checked(&h);
        assert_pass(&format!("seed {seed}"), &r);
        let resumes = count(&h, |a| matches!(a, RecipeAction::Progress { resumed: true, .. }));
        assert!(resumes >= 6, "seed {seed}: switchovers happened ({resumes} resumes)");
        assert!(named(&r, "task-command-once").checked >= 4 * 6, "seed {seed}: {r:?}");
    }
}

#[test]
fn single_running_catches_instances_sorted_by_name() {
    let h = run_with_bugs(plan(1, FaultPlan::None), BugSet::of(&[Bug::TaskSortByName]));
    let r = checked(&h);
    let f = failures(named(&r, "task-single-running"));
    assert!(
        f.iter().any(|s| s.contains("progress") && s.contains("while the RUNNING instance (lowest sequence) was")),
        "the property names the write by an instance that was not the smallest sequence: {r:#?}"
    );
}

#[test]
fn resume_progress_catches_a_running_that_resumes_from_its_own_stale_value() {
    let h = run_with_bugs(plan(1, FaultPlan::ExpireClient(2)), BugSet::of(&[Bug::TaskResumeStale]));
    let r = checked(&h);
    let f = failures(named(&r, "task-resume-progress"));
    assert!(
        f.iter().any(|s| s.contains("resumed from progress") && s.contains("the work in between is redone")),
        "the property names the stale resume and the committed progress it ignored: {r:#?}"
    );
    assert!(failures(named(&r, "task-single-running")).is_empty(), "still one RUNNING at a time: {r:#?}");
}

#[test]
fn command_once_catches_a_worker_that_acts_again_after_a_new_session() {
    let h = run_with_bugs(plan(1, FaultPlan::ExpireClient(4)), BugSet::of(&[Bug::TaskCommandReacted]));
    let r = checked(&h);
    let f = failures(named(&r, "task-command-once"));
    assert!(f.iter().any(|s| s.starts_with("c4 acted on command cmd-") && s.contains("2 times")), "{r:#?}");
}

#[test]
fn liveness_catches_a_task_that_stops_making_progress() {
    // The correct run, with task-01's progress writes after the fault taken out of the log: as
    // if its RUNNING instance hung while keeping its session (no standby can take over).
    let mut h = run(plan(3, FaultPlan::ExpireClient(2)));
    assert_pass("before doctoring", &checked(&h));
    let fault_at = h.records.iter().find(|r| matches!(r.event, Event::Fault { .. })).expect("a fault").time;
    let stalled = |op: &Op| match op {
        Op::Multi { ops } => {
            ops.iter().any(|o| matches!(o, MultiOp::SetData { path, .. } if path.ends_with("task-01/progress")))
        }
        _ => false,
    };
    h.records.retain(|r| match &r.event {
        Event::Commit { txn, .. } => !(r.time > fault_at && matches!(&txn.txn, Txn::Client { op, .. } if stalled(op))),
        _ => true,
    });
    let r = checked(&h);
    let f = failures(named(&r, "task-running-liveness"));
    assert!(f.iter().any(|s| s.starts_with("g1/task-01 had no progress from")), "{r:#?}");
    assert!(f.iter().all(|s| s.contains("task-01")), "only the stalled task: {r:#?}");
}
