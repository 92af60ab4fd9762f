//! Log-collector task assignment (the seed use case of ZooKeeper: Hunt et al., ATC'10 §2.4;
//! `REFERENCES.md` §3).
//!
//! Nodes under `root` (default `/logs`):
//! - `collectors/<host>`: one PERSISTENT node per collector, created when it registers; its data
//!   is the comma-separated list of sources assigned to it. Persistent, so an assignment
//!   outlives the collector's session: when the collector dies its sources are still written
//!   down, and the master moves them explicitly.
//! - `status/<host>`: the collector's heartbeat, `seq=<n> load=<k> cap=<c>`, rewritten every
//!   `heartbeat_ms` (`seq` increases).
//! - `pool`: sources not assigned to anyone (the first master creates it holding every source).
//! - `master`: the master's EPHEMERAL node (create-ephemeral election; losers wait for it to go).
//!
//! The master polls (it does not watch, to save traffic): a collector whose status `seq` has not
//! changed for `dead_after_ms` is declared dead (`DeclaredDead`), and its sources are reassigned:
//! - `local` strategy: only the dead collector's sources move, each to the least-loaded live
//!   collector with room; a newcomer (or a collector back from the dead) takes sources from the
//!   most loaded until loads differ by at most one.
//! - `global` strategy: whenever the set of live collectors changes, every source is regrouped
//!   round-robin over the live collectors (capacity-blind, as the naive regroup is).
//!
//! Pool sources go to the least-loaded live collector with room. A collector that finds itself
//! overloaded (more sources than its `capacity`) gives the excess back to the pool itself (local
//! reassignment by the collector).
//!
//! Every move is ONE multi of versioned setData's over the nodes it touches (the source leaves
//! one holder and joins another atomically; a concurrent writer — a stale master, a collector
//! giving back — makes it fail with BadVersion and the round starts again from fresh reads).
//! So a source is never in two holders, and never in none. Each committed move is recorded as
//! `Assigned { source, collector }` (`collector` = `pool` for a give-back).
//!
//! Planted bug `log-assign-ephemeral`: collectors register EPHEMERAL nodes, so the assignment
//! they hold vanishes with their session (crash, pause past the timeout, expiry); the master
//! cannot see sources that are no longer written anywhere, so they are lost.
//!
//! Planted bug `log-rebalance-from-first`: with the `local` strategy a newcomer takes its share
//! (sources / live collectors) from the collectors in name order, whatever their load, instead
//! of from the most loaded (caught by `logs-local-minimal-moves`).

use super::coord_util::{ensure_path, retry};
use super::RecipeCtx;
use crate::client::{ZkClient, ZkError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use zksim_model::history::{RecipeAction, RecipeNote};
use zksim_model::recipes::log_collector::{format_sources, parse_sources, source_name, POOL};
use zksim_model::{Bug, CreateMode, Data, ErrorCode, MultiOp};

/// Log-collector workload parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogCollectorParams {
    pub root: String,
    pub role: LogRole,
    /// Sources to distribute (`src-00`…): the master's pool when it first creates it.
    pub sources: u32,
    /// Collectors' status period.
    pub heartbeat_ms: u64,
    /// The master declares a collector dead after its status is unchanged this long.
    pub dead_after_ms: u64,
    /// The master's polling period.
    pub poll_ms: u64,
    pub strategy: Strategy,
    /// A collector keeps at most this many sources and gives the rest back (0: no limit).
    pub capacity: u32,
}

impl Default for LogCollectorParams {
    fn default() -> Self {
        LogCollectorParams {
            root: "/logs".into(),
            role: LogRole::Collector,
            sources: 12,
            heartbeat_ms: 100,
            dead_after_ms: 1_000,
            poll_ms: 200,
            strategy: Strategy::Local,
            capacity: 0,
        }
    }
}

/// A collector, or a master candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogRole {
    Collector,
    Master,
}

/// How the master reassigns after a membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Move only the dead collector's sources; newcomers take from the most loaded.
    Local,
    /// Regroup every source over the live collectors.
    Global,
}

/// The recipe instance name in the history (`logs:<root>`).
pub fn recipe_name(root: &str) -> String {
    format!("logs:{root}")
}

/// Runs a collector or a master candidate until stop, with a new session after each expiry.
pub async fn workload(mut ctx: RecipeCtx, params: LogCollectorParams) {
    let mut seq = 0u64;
    let mut master = MasterState::default();
    while let Some(zk) = ctx.new_session().await {
        let r = match params.role {
            LogRole::Collector => collector(&ctx, &zk, &params, &mut seq).await,
            LogRole::Master => run_master(&ctx, &zk, &params, &mut master).await,
        };
        if ctx.stop.raised() || r.is_ok() {
            let _ = zk.close().await;
            break;
        }
        zk.abandon();
    }
}

fn note(p: &LogCollectorParams, action: RecipeAction) -> RecipeNote {
    RecipeNote { recipe: recipe_name(&p.root), action }
}

fn status_data(seq: u64, load: usize, cap: u32) -> Data {
    Data::text(&format!("seq={seq} load={load} cap={cap}"))
}

/// `(seq, cap)` of a status node's data.
fn parse_status(d: &Data) -> Option<(u64, u32)> {
    let s = std::str::from_utf8(d.as_slice()).ok()?;
    let field = |k: &str| s.split(' ').find_map(|f| f.strip_prefix(k)).and_then(|v| v.parse::<u64>().ok());
    Some((field("seq=")?, field("cap=")? as u32))
}

// ------------------------------------------------------------------------------------------
// Collector

async fn collector(ctx: &RecipeCtx, zk: &ZkClient, p: &LogCollectorParams, seq: &mut u64) -> Result<(), ZkError> {
    let host = ctx.client.to_string();
    let me = format!("{}/collectors/{host}", p.root);
    let status = format!("{}/status/{host}", p.root);
    ensure_path(zk, &format!("{}/collectors", p.root)).await?;
    ensure_path(zk, &format!("{}/status", p.root)).await?;
    let ephemeral = ctx.bugs.has(Bug::LogAssignEphemeral);
    // The planted bug: the assignment lives in an ephemeral node owned by this session.
    let mode = if ephemeral { CreateMode::Ephemeral } else { CreateMode::Persistent };
    loop {
        if ctx.stop.raised() {
            return Ok(());
        }
        match zk.create(&me, Data::null(), mode).await {
            Ok(_) => break,
            Err(ZkError::ConnectionLoss) => continue,
            Err(ZkError::Api(ErrorCode::NodeExists)) => {
                // Persistent: registered before (keeps its assignment). Ephemeral: ours (a
                // create whose answer was lost), or an expired session's node still there.
                if !ephemeral || retry(|| zk.exists(&me)).await?.map(|s| s.ephemeral_owner) == Some(zk.session_id()) {
                    break;
                }
                ctx.sleep_ms(100).await;
            }
            Err(e) => return Err(e),
        }
    }
    match retry(|| zk.create(&status, status_data(*seq, 0, p.capacity), CreateMode::Persistent)).await {
        Ok(_) | Err(ZkError::Api(ErrorCode::NodeExists)) => {}
        Err(e) => return Err(e),
    }
    while !ctx.stop.raised() {
        let (mine, stat) = match retry(|| zk.get_data(&me)).await {
            Ok((d, s)) => (parse_sources(&d), s),
            // Only with the planted bug: our ephemeral node went with an old session.
            Err(ZkError::Api(ErrorCode::NoNode)) => return Err(ZkError::SessionExpired),
            Err(e) => return Err(e),
        };
        *seq += 1;
        let data = status_data(*seq, mine.len(), p.capacity);
        // Rewriting the same status is idempotent: retry over ConnectionLoss.
        retry(|| zk.set_data(&status, data.clone(), -1)).await?;
        zk.record_recipe(note(p, RecipeAction::Heartbeat { seq: *seq }));
        if p.capacity > 0 && mine.len() > p.capacity as usize {
            give_back(zk, p, &me, mine, stat.version).await?;
        }
        ctx.sleep_ms(p.heartbeat_ms).await;
    }
    Ok(())
}

/// Local reassignment by an overloaded collector: the sources over its capacity go back to the
/// pool, in one versioned multi (a concurrent master move makes it fail; the next heartbeat
/// tries again from fresh reads).
async fn give_back(
    zk: &ZkClient,
    p: &LogCollectorParams,
    me: &str,
    mine: BTreeSet<String>,
    version: i32,
) -> Result<(), ZkError> {
    let pool_path = format!("{}/pool", p.root);
    let (pool_data, pool_stat) = match retry(|| zk.get_data(&pool_path)).await {
        Ok(r) => r,
        Err(ZkError::Api(ErrorCode::NoNode)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let keep: BTreeSet<String> = mine.iter().take(p.capacity as usize).cloned().collect();
    let excess: Vec<String> = mine.difference(&keep).cloned().collect();
    let mut pool = parse_sources(&pool_data);
    pool.extend(excess.iter().cloned());
    let ops = vec![
        MultiOp::SetData { path: me.to_string(), data: format_sources(&keep), version },
        MultiOp::SetData { path: pool_path, data: format_sources(&pool), version: pool_stat.version },
    ];
    match zk.multi(ops).await {
        Ok(_) => {
            for s in excess {
                zk.record_recipe(note(p, RecipeAction::Assigned { source: s, collector: POOL.into() }));
            }
            Ok(())
        }
        // Lost race or unknown outcome: the next heartbeat reads again.
        Err(ZkError::Multi { .. }) | Err(ZkError::ConnectionLoss) => Ok(()),
        Err(e) => Err(e),
    }
}

// ------------------------------------------------------------------------------------------
// Master

/// What a master candidate remembers across sessions and terms.
#[derive(Default)]
struct MasterState {
    /// Per collector: the last status seq seen and when it (first) had that value.
    seen: BTreeMap<String, (Option<u64>, u64)>,
    /// Collectors declared dead and not seen alive since.
    declared: BTreeSet<String>,
    /// Live set at the last global regroup.
    regrouped: Option<BTreeSet<String>>,
}

fn now_ms() -> u64 {
    crate::recorder::now().0 / 1_000_000
}

async fn run_master(
    ctx: &RecipeCtx,
    zk: &ZkClient,
    p: &LogCollectorParams,
    st: &mut MasterState,
) -> Result<(), ZkError> {
    let master = format!("{}/master", p.root);
    ensure_path(zk, &format!("{}/collectors", p.root)).await?;
    ensure_path(zk, &format!("{}/status", p.root)).await?;
    loop {
        if ctx.stop.raised() {
            return Ok(());
        }
        // Create-ephemeral election: the winner's node holds its name.
        match zk.create(&master, Data::text(&ctx.client.to_string()), CreateMode::Ephemeral).await {
            Ok(_) => {}
            Err(ZkError::ConnectionLoss) => continue,
            Err(ZkError::Api(ErrorCode::NodeExists)) => {
                let (stat, w) = retry(|| zk.exists_w(&master)).await?;
                match stat {
                    None => continue,
                    // Our own create, whose answer was lost.
                    Some(s) if s.ephemeral_owner == zk.session_id() => {}
                    Some(_) => {
                        tokio::select! {
                            // `biased`: fixed polling order, so the schedule depends on the seed alone.
                            biased;
                            r = w => { r?; }
                            _ = madsim::time::sleep(Duration::from_millis(p.poll_ms)) => {}
                        }
                        continue;
                    }
                }
            }
            Err(e) => return Err(e),
        }
        // Leading: a fresh view of everyone's liveness (they get `dead_after_ms` of grace).
        st.seen.clear();
        st.regrouped = None;
        lead(ctx, zk, p, st, &master).await?;
    }
}

/// One holder's assignment as read: its sources and the node's version.
struct Holding {
    sources: BTreeSet<String>,
    version: i32,
}

async fn lead(
    ctx: &RecipeCtx,
    zk: &ZkClient,
    p: &LogCollectorParams,
    st: &mut MasterState,
    master: &str,
) -> Result<(), ZkError> {
    let pool_path = format!("{}/pool", p.root);
    let all: Vec<String> = (0..p.sources).map(source_name).collect();
    match retry(|| zk.create(&pool_path, format_sources(&all), CreateMode::Persistent)).await {
        Ok(_) | Err(ZkError::Api(ErrorCode::NodeExists)) => {}
        Err(e) => return Err(e),
    }
    while !ctx.stop.raised() {
        // Still the master? (Every write is versioned, so a stale master cannot corrupt the
        // assignment; this only keeps it from churning.)
        match retry(|| zk.exists(master)).await? {
            Some(s) if s.ephemeral_owner == zk.session_id() => {}
            _ => return Ok(()),
        }
        match round(ctx, zk, p, st, &pool_path).await {
            Ok(()) | Err(ZkError::ConnectionLoss) | Err(ZkError::Multi { .. }) => {}
            Err(ZkError::Api(ErrorCode::NoNode)) | Err(ZkError::Api(ErrorCode::BadVersion)) => {}
            Err(e) => return Err(e),
        }
        ctx.sleep_ms(p.poll_ms).await;
    }
    Ok(())
}

/// One polling round: read everything, decide liveness, compute and commit the moves.
async fn round(
    ctx: &RecipeCtx,
    zk: &ZkClient,
    p: &LogCollectorParams,
    st: &mut MasterState,
    pool_path: &str,
) -> Result<(), ZkError> {
    let dir = format!("{}/collectors", p.root);
    let (mut hosts, _) = retry(|| zk.get_children(&dir)).await?;
    hosts.sort();
    let mut held: BTreeMap<String, Holding> = BTreeMap::new();
    let mut caps: BTreeMap<String, u32> = BTreeMap::new();
    let now = now_ms();
    let mut live: BTreeSet<String> = BTreeSet::new();
    for h in &hosts {
        let (node, status_path) = (format!("{dir}/{h}"), format!("{}/status/{h}", p.root));
        let (d, s) = match retry(|| zk.get_data(&node)).await {
            Ok(r) => r,
            Err(ZkError::Api(ErrorCode::NoNode)) => continue,
            Err(e) => return Err(e),
        };
        held.insert(h.clone(), Holding { sources: parse_sources(&d), version: s.version });
        let status = match retry(|| zk.get_data(&status_path)).await {
            Ok((d, _)) => parse_status(&d),
            Err(ZkError::Api(ErrorCode::NoNode)) => None,
            Err(e) => return Err(e),
        };
        let seq = status.map(|s| s.0);
        caps.insert(h.clone(), status.map_or(0, |s| s.1));
        let entry = st.seen.entry(h.clone()).or_insert((seq, now));
        if entry.0 != seq {
            *entry = (seq, now);
            st.declared.remove(h);
        }
        if now.saturating_sub(entry.1) < p.dead_after_ms && seq.is_some() {
            live.insert(h.clone());
        } else if st.declared.insert(h.clone()) {
            zk.record_recipe(note(p, RecipeAction::DeclaredDead { collector: h.clone() }));
        }
    }
    let (pd, ps) = retry(|| zk.get_data(pool_path)).await?;
    held.insert(POOL.to_string(), Holding { sources: parse_sources(&pd), version: ps.version });

    // The plan: holder → sources after this round.
    let mut plan: BTreeMap<String, BTreeSet<String>> =
        held.iter().map(|(h, x)| (h.clone(), x.sources.clone())).collect();
    let room = |plan: &BTreeMap<String, BTreeSet<String>>, h: &String| {
        let cap = caps.get(h).copied().unwrap_or(0);
        cap == 0 || plan.get(h).map_or(0, |s| s.len()) < cap as usize
    };
    let least_loaded = |plan: &BTreeMap<String, BTreeSet<String>>| {
        live.iter()
            .filter(|h| room(plan, h))
            .min_by_key(|h| (plan.get(*h).map_or(0, |s| s.len()), (*h).clone()))
            .cloned()
    };
    if p.strategy == Strategy::Global && st.regrouped.as_ref() != Some(&live) && !live.is_empty() {
        // Regroup everything, round-robin over the live collectors.
        let order: Vec<&String> = live.iter().collect();
        let mut every: Vec<String> = plan.values().flatten().cloned().collect();
        every.sort();
        for s in plan.values_mut() {
            s.clear();
        }
        for (i, s) in every.into_iter().enumerate() {
            plan.entry(order[i % order.len()].clone()).or_default().insert(s);
        }
        st.regrouped = Some(live.clone());
    } else {
        // The dead collectors' sources and the pool go to the least loaded, one at a time.
        let mut orphans: Vec<(String, String)> = Vec::new();
        for (h, ss) in &plan {
            if h == POOL || !live.contains(h) {
                orphans.extend(ss.iter().map(|s| (h.clone(), s.clone())));
            }
        }
        for (from, s) in orphans {
            let Some(to) = least_loaded(&plan) else { break };
            plan.get_mut(&from).expect("orphans come from the plan").remove(&s);
            plan.entry(to).or_default().insert(s);
        }
        // A newcomer takes sources from the most loaded until loads differ by at most one.
        if p.strategy == Strategy::Local && ctx.bugs.has(Bug::LogRebalanceFromFirst) {
            // The planted bug: each empty collector takes its share from the first collectors
            // by name, whatever their load.
            let total: usize = live.iter().map(|h| plan.get(h).map_or(0, |s| s.len())).sum();
            let share = total.div_ceil(live.len().max(1));
            let newcomers: Vec<String> =
                live.iter().filter(|h| plan.get(*h).is_none_or(|s| s.is_empty())).cloned().collect();
            for n in newcomers {
                for donor in live.iter().filter(|h| **h != n) {
                    while plan.get(&n).map_or(0, |s| s.len()) < share {
                        let Some(s) = plan.get(donor).and_then(|s| s.iter().next_back().cloned()) else { break };
                        plan.get_mut(donor).expect("present").remove(&s);
                        plan.entry(n.clone()).or_default().insert(s);
                    }
                }
            }
        } else if p.strategy == Strategy::Local {
            loop {
                let most =
                    live.iter().max_by_key(|h| (plan.get(*h).map_or(0, |s| s.len()), std::cmp::Reverse((*h).clone())));
                let (Some(most), Some(least)) = (most.cloned(), least_loaded(&plan)) else { break };
                let (nm, nl) = (plan.get(&most).map_or(0, |s| s.len()), plan.get(&least).map_or(0, |s| s.len()));
                if nm <= nl + 1 {
                    break;
                }
                let s =
                    plan.get(&most).and_then(|s| s.iter().next_back().cloned()).expect("the most loaded holds some");
                plan.get_mut(&most).expect("present").remove(&s);
                plan.entry(least).or_default().insert(s);
            }
        }
    }

    // A plan only moves sources between holders it read: none appears, none vanishes.
    assert!(plan.keys().all(|h| held.contains_key(h)), "log master planned for a holder it did not read");
    let count = |m: &mut dyn Iterator<Item = &BTreeSet<String>>| m.map(|s| s.len()).sum::<usize>();
    assert_eq!(
        count(&mut plan.values()),
        count(&mut held.values().map(|x| &x.sources)),
        "log master's plan must conserve sources"
    );
    // Commit the changed holders in one versioned multi.
    let mut ops = Vec::new();
    let mut moved: Vec<(String, String)> = Vec::new();
    for (h, now_has) in &plan {
        let before = held.get(h).map(|x| &x.sources);
        if before == Some(now_has) {
            continue;
        }
        let Some(x) = held.get(h) else { continue };
        let path = if h == POOL { pool_path.to_string() } else { format!("{dir}/{h}") };
        ops.push(MultiOp::SetData { path, data: format_sources(now_has), version: x.version });
        moved.extend(now_has.difference(&x.sources).map(|s| (s.clone(), h.clone())));
    }
    if ops.is_empty() {
        return Ok(());
    }
    zk.multi(ops).await?;
    for (source, collector) in moved {
        zk.record_recipe(note(p, RecipeAction::Assigned { source, collector }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips() {
        assert_eq!(parse_status(&status_data(7, 3, 4)), Some((7, 4)));
        assert_eq!(parse_status(&Data::text("garbage")), None);
    }
}
