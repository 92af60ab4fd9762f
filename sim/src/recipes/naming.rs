//! Unique-ID naming (ZooKeeper recipes): each id is a protected PERSISTENT_SEQUENTIAL create of
//! `<path>/job-`, whose sequence suffix (`job-0000000001`) is the id. The protected create keeps
//! a create retried after ConnectionLoss from allocating a second id. Records
//! `IdAllocated { id }` (the node's name).

use super::coord_util::ensure_path;
use super::RecipeCtx;
use crate::client::{ZkClient, ZkError};
use serde::{Deserialize, Serialize};
use zksim_model::history::{RecipeAction, RecipeNote};
use zksim_model::{CreateMode, Data};

/// Naming workload parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NamingParams {
    pub path: String,
    /// Ids each client allocates (then it idles until stop).
    pub ids: u64,
    pub period_ms: u64,
}

impl Default for NamingParams {
    fn default() -> Self {
        NamingParams { path: "/ids".into(), ids: 20, period_ms: 50 }
    }
}

/// The recipe instance name in the history (`naming:<path>`).
pub fn recipe_name(path: &str) -> String {
    format!("naming:{path}")
}

/// Runs an id allocator until stop.
pub async fn workload(mut ctx: RecipeCtx, params: NamingParams) {
    let mut done = 0u64;
    while let Some(zk) = ctx.new_session().await {
        let r = allocate(&ctx, &zk, &params, &mut done).await;
        if ctx.stop.raised() || r.is_ok() {
            let _ = zk.close().await;
            break;
        }
        zk.abandon();
    }
}

async fn allocate(ctx: &RecipeCtx, zk: &ZkClient, p: &NamingParams, done: &mut u64) -> Result<(), ZkError> {
    ensure_path(zk, &p.path).await?;
    while *done < p.ids && !ctx.stop.raised() {
        let node =
            zk.create_protected(&format!("{}/job-", p.path), Data::null(), CreateMode::PersistentSequential).await?;
        let id = node.rsplit('/').next().unwrap_or_default().to_string();
        zk.record_recipe(RecipeNote { recipe: recipe_name(&p.path), action: RecipeAction::IdAllocated { id } });
        *done += 1;
        ctx.sleep_ms(p.period_ms).await;
    }
    while !ctx.stop.raised() {
        ctx.sleep_ms(100).await;
    }
    Ok(())
}
