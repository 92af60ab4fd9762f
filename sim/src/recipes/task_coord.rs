//! Task coordination (the replication-bus use case; `REFERENCES.md` §3): tasks registered in
//! groups, a hot standby per task, cold standbys scanning a group, and console-driven
//! scheduling.
//!
//! Nodes under `root` (default `/tasks`; layout in `zksim_model::recipes::task_coord`):
//! - `groups/<group>/<task>`: registration — the first worker to serve a task creates it (and its
//!   `instances` directory and `progress` node, `0`) if absent; NodeExists is success.
//! - `groups/<group>/<task>/instances/<client>-<seq>`: a worker serving the task joins with a
//!   protected EPHEMERAL_SEQUENTIAL node. The smallest sequence is RUNNING, the rest STANDBY;
//!   when the RUNNING instance's session ends its node goes and the next smallest takes over.
//! - `groups/<group>/<task>/progress`: the RUNNING instance's progress. A new RUNNING reads it
//!   and resumes from it; every step writes `value + 1` in ONE multi with a check of its own
//!   instance node and the progress version read, so a former RUNNING (session gone, node gone)
//!   or a lost race cannot commit (fencing).
//! - `commands/cmd-<seq>`: the console's commands (persistent sequential). Workers watch the
//!   directory and act on each command once (remembered across sessions in process memory).
//!
//! Roles: a `hot` worker registers and joins the tasks `first_task .. first_task + tasks` of its
//! group at start; a `cold` worker joins nothing at start but scans the group's tasks every poll
//! and joins a task left with no instance at all. A RUNNING instance hands over after
//! `handover_ms` (deletes its node and joins again at the back), so switchovers happen in every
//! run. Workers poll every `poll_ms` (instance lists and progress), and wake early on a command.
//!
//! Records: `Waiting` (a worker started), `TaskState { running }` (RUNNING / STANDBY),
//! `Progress { resumed: true }` (the value a new RUNNING resumes from), `Progress { resumed:
//! false }` (a committed progress write), `CommandActed`.
//!
//! Planted bugs: `task-resume-stale-progress` (a new RUNNING resumes from the value it last
//! knew, writing unversioned), `task-command-reacted` (the acted-on commands are remembered per
//! session, so a new session acts on them again), `task-sort-by-name` (instances ordered by
//! their full names, protected prefix included: the instance acting RUNNING is not the one
//! with the smallest sequence, and a handover can make two act at once).

use super::coord_util::{ensure_path, retry};
use super::RecipeCtx;
use crate::client::{Watch, ZkClient, ZkError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use zksim_model::history::{RecipeAction, RecipeNote};
use zksim_model::recipes::coord_log::sequence_of;
use zksim_model::recipes::task_coord::{
    commands_dir, group_dir, parse_progress, progress_data, recipe_name, task_name,
};
use zksim_model::{Bug, CreateMode, Data, ErrorCode, MultiOp, MultiSubResult};

/// Task-coordination workload parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaskParams {
    pub root: String,
    pub role: TaskRole,
    pub group: String,
    /// Hot workers: the first task they serve, and how many.
    pub first_task: u32,
    pub tasks: u32,
    /// Poll period of workers (instances, progress, cold scans).
    pub poll_ms: u64,
    /// A RUNNING instance hands over to the next after this long (0: never).
    pub handover_ms: u64,
    /// Console: how many commands, and the pause between two.
    pub commands: u32,
    pub command_every_ms: u64,
}

impl Default for TaskParams {
    fn default() -> Self {
        TaskParams {
            root: "/tasks".into(),
            role: TaskRole::Hot,
            group: "g1".into(),
            first_task: 0,
            tasks: 3,
            poll_ms: 100,
            handover_ms: 1_500,
            commands: 6,
            command_every_ms: 1_000,
        }
    }
}

/// A hot-standby worker, a cold-standby worker, or the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskRole {
    Hot,
    Cold,
    Console,
}

/// Runs a worker or the console until stop, with a new session after each expiry.
pub async fn workload(mut ctx: RecipeCtx, params: TaskParams) {
    let mut st = WorkerMemory::default();
    while let Some(zk) = ctx.new_session().await {
        let r = match params.role {
            TaskRole::Console => console(&ctx, &zk, &params, &mut st).await,
            TaskRole::Hot | TaskRole::Cold => worker(&ctx, &zk, &params, &mut st).await,
        };
        if ctx.stop.raised() || r.is_ok() {
            let _ = zk.close().await;
            break;
        }
        zk.abandon();
    }
}

fn note(p: &TaskParams, zk: &ZkClient, action: RecipeAction) {
    zk.record_recipe(RecipeNote { recipe: recipe_name(&p.root), action });
}

/// What a worker (or the console) remembers across its sessions: process memory.
#[derive(Default)]
struct WorkerMemory {
    started: bool,
    /// Commands acted on (the console: commands issued).
    acted: BTreeSet<String>,
    issued: u32,
    /// The last progress this worker knew per task (only the planted bug resumes from it).
    known: BTreeMap<String, u64>,
}

// ------------------------------------------------------------------------------------------
// Console

async fn console(ctx: &RecipeCtx, zk: &ZkClient, p: &TaskParams, st: &mut WorkerMemory) -> Result<(), ZkError> {
    let dir = commands_dir(&p.root);
    ensure_path(zk, &dir).await?;
    while !ctx.stop.raised() && st.issued < p.commands {
        ctx.sleep_ms(p.command_every_ms).await;
        // A lost answer may leave a duplicate command: a distinct command every worker acts on,
        // which is harmless, unlike a lost one.
        let data = Data::text(&format!("command {}", st.issued));
        let path = format!("{dir}/cmd-");
        retry(|| zk.create(&path, data.clone(), CreateMode::PersistentSequential)).await?;
        st.issued += 1;
    }
    while !ctx.stop.raised() {
        ctx.sleep_ms(p.poll_ms).await;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Worker

/// This session's instance of one task.
struct Instance {
    /// The instance node's full path.
    node: String,
    running: bool,
    since_ms: u64,
    /// Progress value and version as last read or written (`None`: read it again).
    progress: Option<(u64, i32)>,
    /// STANDBY recorded since joining.
    noted_standby: bool,
}

fn now_ms() -> u64 {
    crate::recorder::now().0 / 1_000_000
}

async fn worker(ctx: &RecipeCtx, zk: &ZkClient, p: &TaskParams, st: &mut WorkerMemory) -> Result<(), ZkError> {
    let group = group_dir(&p.root, &p.group);
    let cmds = commands_dir(&p.root);
    ensure_path(zk, &group).await?;
    ensure_path(zk, &cmds).await?;
    if !std::mem::replace(&mut st.started, true) {
        note(p, zk, RecipeAction::Waiting);
    }
    // The planted bug: what was acted on is remembered per session only.
    if ctx.bugs.has(Bug::TaskCommandReacted) {
        st.acted.clear();
    }
    let mut mine: BTreeMap<String, Instance> = BTreeMap::new();
    if p.role == TaskRole::Hot {
        for i in p.first_task..p.first_task + p.tasks {
            let task = task_name(i);
            register(zk, &group, &task).await?;
            mine.insert(task.clone(), join(ctx, zk, &group, &task).await?);
        }
    }
    let mut cmd_watch: Option<Watch> = None;
    while !ctx.stop.raised() {
        if p.role == TaskRole::Cold {
            scan(ctx, zk, &group, &mut mine).await?;
        }
        let tasks: Vec<String> = mine.keys().cloned().collect();
        for task in tasks {
            step(ctx, zk, p, st, &group, &task, &mut mine).await?;
        }
        if cmd_watch.is_none() {
            let (mut kids, _, w) = retry(|| zk.get_children_w(&cmds)).await?;
            kids.sort();
            for k in kids {
                if st.acted.insert(k.clone()) {
                    note(p, zk, RecipeAction::CommandActed { command: k });
                }
            }
            cmd_watch = Some(w);
        }
        let w = cmd_watch.as_mut().expect("armed above");
        tokio::select! {
            // `biased`: fixed polling order, so the schedule depends on the seed alone.
            biased;
            r = w => { cmd_watch = None; r?; }
            _ = madsim::time::sleep(Duration::from_millis(p.poll_ms)) => {}
        }
    }
    Ok(())
}

/// Registration: creates the task, its instance directory and its progress node if absent.
async fn register(zk: &ZkClient, group: &str, task: &str) -> Result<(), ZkError> {
    let t = format!("{group}/{task}");
    for (path, data) in [
        (t.clone(), Data::null()),
        (format!("{t}/instances"), Data::null()),
        (format!("{t}/progress"), progress_data(0)),
    ] {
        match retry(|| zk.create(&path, data.clone(), CreateMode::Persistent)).await {
            Ok(_) | Err(ZkError::Api(ErrorCode::NodeExists)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Joins a task's instances (protected, so a lost answer does not leave a second instance).
async fn join(ctx: &RecipeCtx, zk: &ZkClient, group: &str, task: &str) -> Result<Instance, ZkError> {
    let path = format!("{group}/{task}/instances/{}-", ctx.client);
    let node = zk.create_protected(&path, Data::null(), CreateMode::EphemeralSequential).await?;
    Ok(Instance { node, running: false, since_ms: now_ms(), progress: None, noted_standby: false })
}

/// Cold standby: joins the group's tasks left with no instance at all.
async fn scan(
    ctx: &RecipeCtx,
    zk: &ZkClient,
    group: &str,
    mine: &mut BTreeMap<String, Instance>,
) -> Result<(), ZkError> {
    let (mut tasks, _) = retry(|| zk.get_children(group)).await?;
    tasks.sort();
    for task in tasks {
        if mine.contains_key(&task) {
            continue;
        }
        let dir = format!("{group}/{task}/instances");
        let (kids, _) = match retry(|| zk.get_children(&dir)).await {
            Ok(r) => r,
            // Registered but its directory not yet created: the registrar is still at it.
            Err(ZkError::Api(ErrorCode::NoNode)) => continue,
            Err(e) => return Err(e),
        };
        if kids.is_empty() {
            mine.insert(task.clone(), join(ctx, zk, group, &task).await?);
        }
    }
    Ok(())
}

/// One poll of one task: RUNNING or STANDBY by the smallest sequence; a RUNNING instance
/// resumes, makes progress (fenced), and hands over after its term.
async fn step(
    ctx: &RecipeCtx,
    zk: &ZkClient,
    p: &TaskParams,
    st: &mut WorkerMemory,
    group: &str,
    task: &str,
    mine: &mut BTreeMap<String, Instance>,
) -> Result<(), ZkError> {
    let key = format!("{}/{task}", p.group);
    let dir = format!("{group}/{task}/instances");
    let progress_path = format!("{group}/{task}/progress");
    let (kids, _) = retry(|| zk.get_children(&dir)).await?;
    let inst = mine.get_mut(task).expect("stepping a joined task");
    let my_name = inst.node.rsplit('/').next().unwrap_or_default().to_string();
    if !kids.contains(&my_name) {
        // Our node is gone while the session lives: only our own handover deletes it, and that
        // rejoins at once; anything else means the session is over.
        return Err(ZkError::SessionExpired);
    }
    // Order by sequence number: names carry a protected prefix and the client's name. The
    // planted bug orders by the whole name, so the session-unique prefix decides.
    let lowest = if ctx.bugs.has(Bug::TaskSortByName) {
        kids.iter().min().cloned()
    } else {
        kids.iter().filter_map(|k| sequence_of(k).map(|s| (s, k))).min().map(|(_, k)| k.clone())
    };
    if lowest.as_deref() != Some(my_name.as_str()) {
        if inst.running || !inst.noted_standby {
            inst.running = false;
            inst.noted_standby = true;
            note(p, zk, RecipeAction::TaskState { task: key, running: false });
        }
        return Ok(());
    }
    let stale = ctx.bugs.has(Bug::TaskResumeStale);
    if !inst.running {
        inst.running = true;
        inst.since_ms = now_ms();
        note(p, zk, RecipeAction::TaskState { task: key.clone(), running: true });
        inst.progress = None;
        let from = if stale {
            // The planted bug: carry on from what this worker last knew, unversioned.
            Some((st.known.get(&key).copied().unwrap_or(0), -1))
        } else {
            read_progress(zk, &progress_path).await?
        };
        let Some((value, _)) = from else { return Ok(()) };
        inst.progress = from;
        note(p, zk, RecipeAction::Progress { task: key.clone(), value, resumed: true });
    }
    if inst.progress.is_none() {
        inst.progress = read_progress(zk, &progress_path).await?;
    }
    let Some((value, version)) = inst.progress else { return Ok(()) };
    let next = value + 1;
    let ops = vec![
        MultiOp::Check { path: inst.node.clone(), version: -1 },
        MultiOp::SetData { path: progress_path.clone(), data: progress_data(next), version },
    ];
    match zk.multi(ops).await {
        Ok(res) => {
            let v = res.iter().find_map(|r| match r {
                MultiSubResult::SetData { stat } => Some(stat.version),
                _ => None,
            });
            inst.progress = if stale { Some((next, -1)) } else { v.map(|v| (next, v)) };
            st.known.insert(key.clone(), next);
            note(p, zk, RecipeAction::Progress { task: key.clone(), value: next, resumed: false });
        }
        // Unknown outcome or lost race: read again next poll (a continuation, not a resume).
        Err(ZkError::ConnectionLoss) | Err(ZkError::Multi { .. }) => inst.progress = None,
        Err(e) => return Err(e),
    }
    if p.handover_ms > 0 && now_ms().saturating_sub(inst.since_ms) >= p.handover_ms {
        // Step down: STANDBY first (belief before action), then leave and join at the back.
        note(p, zk, RecipeAction::TaskState { task: key, running: false });
        match retry(|| zk.delete(&inst.node, -1)).await {
            Ok(()) | Err(ZkError::Api(ErrorCode::NoNode)) => {}
            Err(e) => return Err(e),
        }
        let fresh = join(ctx, zk, group, task).await?;
        mine.insert(task.to_string(), Instance { noted_standby: true, ..fresh });
    }
    Ok(())
}

/// The committed progress and its version (`None`: the node holds no number — not ours to fix).
async fn read_progress(zk: &ZkClient, path: &str) -> Result<Option<(u64, i32)>, ZkError> {
    let (d, s) = retry(|| zk.get_data(path)).await?;
    Ok(parse_progress(&d).map(|v| (v, s.version)))
}
