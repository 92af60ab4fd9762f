//! Double barrier (ZooKeeper recipes): the barrier node's data holds n; members enter by
//! creating an ephemeral child `<path>/<client>`, wait (children watch) until n members are in
//! or the `ready` node exists, the one that sees n creates `ready`, and all pass. To leave, a
//! member deletes its node and waits until every member node is gone.
//!
//! `ready` is what makes the barrier safe to leave: once members start leaving, a slow member
//! counting children could see fewer than n and never pass. A member whose session expires
//! before it passes enters again with its new session.
//!
//! Members re-list after `resync_ms` without an event (a safety net: the replicated server
//! currently has no watches).
//!
//! Planted bug `barrier-early-pass` (the run's bug set): a member passes when it sees n−1
//! members.

use super::coord_util::{ensure_path, retry};
use super::RecipeCtx;
use crate::client::{ZkClient, ZkError};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use zksim_model::history::{RecipeAction, RecipeNote};
use zksim_model::{Bug, CreateMode, Data, ErrorCode};

/// Barrier workload parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BarrierParams {
    pub path: String,
    /// Members needed (n), written as the barrier node's data.
    pub needed: u32,
    /// Each member enters after a random delay below this, so arrivals spread out.
    pub stagger_ms: u64,
    /// Time spent inside the barrier before leaving.
    pub hold_ms: u64,
    pub resync_ms: u64,
}

impl Default for BarrierParams {
    fn default() -> Self {
        BarrierParams { path: "/barrier/b1".into(), needed: 10, stagger_ms: 1_000, hold_ms: 200, resync_ms: 300 }
    }
}

/// The recipe instance name in the history (`barrier:<path>`).
pub fn recipe_name(path: &str) -> String {
    format!("barrier:{path}")
}

/// The name of the node the first passing member creates.
pub const READY: &str = "ready";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Enter,
    Leave,
    Done,
}

/// Runs one barrier member until stop.
pub async fn workload(mut ctx: RecipeCtx, params: BarrierParams) {
    let delay = ctx.rng.gen_range(0..params.stagger_ms.max(1));
    ctx.sleep_ms(delay).await;
    let mut phase = Phase::Enter;
    while let Some(zk) = ctx.new_session().await {
        let r = member(&ctx, &zk, &params, &mut phase).await;
        if ctx.stop.raised() || r.is_ok() {
            let _ = zk.close().await;
            break;
        }
        zk.abandon();
    }
}

fn note(p: &BarrierParams, action: RecipeAction) -> RecipeNote {
    RecipeNote { recipe: recipe_name(&p.path), action }
}

/// Lists the members (not `ready`), waiting for a child event or the resync period first when
/// `wait`. Returns (members, ready exists).
async fn members(zk: &ZkClient, p: &BarrierParams, wait: bool) -> Result<(usize, bool), ZkError> {
    let (kids, _, w) = retry(|| zk.get_children_w(&p.path)).await?;
    if wait {
        tokio::select! {
            // `biased`: fixed polling order, so the schedule depends on the seed alone.
            biased;
            r = w => { r?; }
            _ = madsim::time::sleep(Duration::from_millis(p.resync_ms)) => {}
        }
        let (kids, _) = retry(|| zk.get_children(&p.path)).await?;
        return Ok((kids.iter().filter(|k| *k != READY).count(), kids.iter().any(|k| k == READY)));
    }
    Ok((kids.iter().filter(|k| *k != READY).count(), kids.iter().any(|k| k == READY)))
}

async fn member(ctx: &RecipeCtx, zk: &ZkClient, p: &BarrierParams, phase: &mut Phase) -> Result<(), ZkError> {
    if let Some(slash) = p.path.rfind('/').filter(|i| *i > 0) {
        ensure_path(zk, &p.path[..slash]).await?;
    }
    match retry(|| zk.create(&p.path, Data::text(&p.needed.to_string()), CreateMode::Persistent)).await {
        Ok(_) | Err(ZkError::Api(ErrorCode::NodeExists)) => {}
        Err(e) => return Err(e),
    }
    let (data, _) = retry(|| zk.get_data(&p.path)).await?;
    let needed: u32 = std::str::from_utf8(data.as_slice()).ok().and_then(|s| s.parse().ok()).unwrap_or(p.needed);
    let me = format!("{}/{}", p.path, ctx.client);
    if *phase == Phase::Enter {
        // Enter: our ephemeral member node (after ConnectionLoss, NodeExists owned by this
        // session means the lost create took effect).
        loop {
            match zk.create(&me, Data::null(), CreateMode::Ephemeral).await {
                Ok(_) => break,
                Err(ZkError::ConnectionLoss) => continue,
                Err(ZkError::Api(ErrorCode::NodeExists)) => {
                    let owner = retry(|| zk.exists(&me)).await?.map(|s| s.ephemeral_owner);
                    if owner == Some(zk.session_id()) {
                        break;
                    }
                    // A node of our expired session, not yet removed: wait for its removal.
                    ctx.sleep_ms(100).await;
                }
                Err(e) => return Err(e),
            }
            if ctx.stop.raised() {
                return Ok(());
            }
        }
        zk.record_recipe(note(p, RecipeAction::BarrierEntered { node: me.clone() }));
        let threshold = if ctx.bugs.has(Bug::BarrierEarlyPass) {
            // barrier-early-pass: one short.
            (needed as usize).saturating_sub(1)
        } else {
            needed as usize
        };
        let mut wait = false;
        loop {
            if ctx.stop.raised() {
                return Ok(());
            }
            let (count, ready) = members(zk, p, wait).await?;
            wait = true;
            if ready || count >= threshold {
                if !ready {
                    let ready_path = format!("{}/{READY}", p.path);
                    match retry(|| zk.create(&ready_path, Data::null(), CreateMode::Persistent)).await {
                        Ok(_) | Err(ZkError::Api(ErrorCode::NodeExists)) => {}
                        Err(e) => return Err(e),
                    }
                }
                zk.record_recipe(note(p, RecipeAction::BarrierPassed { members: count as u32, needed }));
                break;
            }
        }
        *phase = Phase::Leave;
        ctx.sleep_ms(p.hold_ms).await;
    }
    if *phase == Phase::Leave {
        match retry(|| zk.delete(&me, -1)).await {
            Ok(()) | Err(ZkError::Api(ErrorCode::NoNode)) => {}
            Err(e) => return Err(e),
        }
        let mut wait = false;
        loop {
            if ctx.stop.raised() {
                return Ok(());
            }
            let (count, _) = members(zk, p, wait).await?;
            wait = true;
            if count == 0 {
                zk.record_recipe(note(p, RecipeAction::BarrierLeft));
                break;
            }
        }
        *phase = Phase::Done;
    }
    while !ctx.stop.raised() {
        ctx.sleep_ms(100).await;
    }
    Ok(())
}
