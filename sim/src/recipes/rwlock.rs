//! Shared (read/write) lock (ZooKeeper recipes): protected EPHEMERAL_SEQUENTIAL `R-` / `W-`
//! children of `<path>`. A reader holds when no smaller `W-` exists and watches the largest
//! smaller `W-`; a writer holds when it is the lowest and watches its immediate predecessor.
//! On a wakeup the waiter re-lists. The planted bug `kazoo-649-read-waits-later-writer` (the
//! run's bug set) makes a reader wait on a LATER writer: it waits for a writer that waits for
//! it ⇒ deadlock.
//!
//! Records `Waiting`, `Acquired { token = czxid, node }` (the node name says R or W), `Woken`,
//! `Released` and `Lost`, under the recipe name `rwlock:<path>`.

use super::protected::{create_protected, sequence_of};
use super::RecipeCtx;
use crate::client::{ZkClient, ZkError};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use zksim_model::history::{RecipeAction, RecipeNote};
use zksim_model::{Bug, CreateMode, Data, ErrorCode};

/// Parameters of the read/write lock workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RwLockParams {
    pub path: String,
    /// Probability that a round takes the write lock.
    pub write_ratio: f64,
    pub hold_min_ms: u64,
    pub hold_max_ms: u64,
    pub idle_min_ms: u64,
    pub idle_max_ms: u64,
}

impl Default for RwLockParams {
    fn default() -> RwLockParams {
        RwLockParams {
            path: "/rwlocks/a".into(),
            write_ratio: 0.3,
            hold_min_ms: 50,
            hold_max_ms: 200,
            idle_min_ms: 20,
            idle_max_ms: 200,
        }
    }
}

fn note(zk: &ZkClient, recipe: &str, action: RecipeAction) {
    zk.record_recipe(RecipeNote { recipe: recipe.to_string(), action });
}

async fn retry<T, F, Fut>(mut f: F) -> Result<T, ZkError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ZkError>>,
{
    loop {
        match f().await {
            Err(ZkError::ConnectionLoss) => {}
            other => return other,
        }
    }
}

/// The kind and sequence of a lock child: `(is_write, seq)`.
fn parse(name: &str) -> Option<(bool, u64)> {
    let seq = sequence_of(name)?;
    let stem = &name[..name.len() - 10];
    if stem.ends_with("W-") {
        Some((true, seq))
    } else if stem.ends_with("R-") {
        Some((false, seq))
    } else {
        None
    }
}

/// One round: take the lock (read or write), hold, release. `Err` = the session is over.
async fn round(ctx: &mut RecipeCtx, p: &RwLockParams, zk: &ZkClient, recipe: &str) -> Result<(), ZkError> {
    let write = ctx.rng.gen_bool(p.write_ratio.clamp(0.0, 1.0));
    note(zk, recipe, RecipeAction::Waiting);
    let want = format!("{}/{}", p.path, if write { "W-" } else { "R-" });
    let (node, stat) =
        create_protected(zk, &mut ctx.rng, &want, Data::null(), CreateMode::EphemeralSequential, true).await?;
    let me = node.rsplit('/').next().expect("a created path has a name").to_string();
    let (_, my_seq) = parse(&me).expect("our own node parses");
    let mut woken = false;
    loop {
        if ctx.stop.raised() {
            let _ = retry(|| zk.delete(&node, -1)).await;
            return Err(ZkError::Closed);
        }
        let (kids, _) = retry(|| zk.get_children(&p.path)).await?;
        let mut kids: Vec<(u64, bool, String)> =
            kids.into_iter().filter_map(|k| parse(&k).map(|(w, s)| (s, w, k))).collect();
        kids.sort();
        if !kids.iter().any(|k| k.2 == me) {
            return Err(ZkError::SessionExpired);
        }
        let smaller: Vec<&(u64, bool, String)> = kids.iter().filter(|k| k.0 < my_seq).collect();
        let blocker = if write {
            smaller.last().copied()
        } else if ctx.bugs.has(Bug::ReadWaitsLaterWriter) {
            // kazoo #649: any writer blocks, and the reader waits on the first LATER one.
            if smaller.iter().any(|k| k.1) {
                smaller.iter().rev().find(|k| k.1).copied()
            } else {
                kids.iter().find(|k| k.1 && k.0 > my_seq)
            }
        } else {
            smaller.iter().rev().find(|k| k.1).copied()
        };
        if woken {
            note(zk, recipe, RecipeAction::Woken { acquired: blocker.is_none() });
        }
        let Some(blocker) = blocker else { break };
        let target = format!("{}/{}", p.path, blocker.2);
        match retry(|| zk.exists_w(&target)).await? {
            (None, _) => woken = false,
            (Some(_), w) => {
                tokio::select! {
                    // `biased`: fixed polling order, so the schedule depends on the seed alone.
                    biased;
                    r = w => { r?; }
                    // Bounded wait so that stop is noticed; a deadlocked waiter stays deadlocked.
                    _ = madsim::time::sleep(Duration::from_millis(5_000)) => {}
                }
                woken = true;
            }
        }
    }
    note(zk, recipe, RecipeAction::Acquired { token: stat.czxid, node: node.clone() });
    let hold = ctx.rng.gen_range(p.hold_min_ms..=p.hold_max_ms.max(p.hold_min_ms));
    ctx.sleep_ms(hold).await;
    note(zk, recipe, RecipeAction::Released { node: node.clone() });
    match retry(|| zk.delete(&node, -1)).await {
        Ok(()) | Err(ZkError::Api(ErrorCode::NoNode)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Runs the read/write lock workload until the harness says stop.
pub async fn workload(mut ctx: RecipeCtx, params: RwLockParams) {
    let recipe = format!("rwlock:{}", params.path);
    loop {
        let Some(zk) = ctx.new_session().await else { return };
        let mut prefix = String::new();
        let mut ok = true;
        for part in params.path.split('/').filter(|s| !s.is_empty()) {
            prefix = format!("{prefix}/{part}");
            match retry(|| zk.create(&prefix, Data::null(), CreateMode::Persistent)).await {
                Ok(_) | Err(ZkError::Api(ErrorCode::NodeExists)) => {}
                Err(_) => ok = false,
            }
        }
        while ok && !ctx.stop.raised() {
            if round(&mut ctx, &params, &zk, &recipe).await.is_err() {
                if !ctx.stop.raised() {
                    note(&zk, &recipe, RecipeAction::Lost);
                }
                break;
            }
            let idle = ctx.rng.gen_range(params.idle_min_ms..=params.idle_max_ms.max(params.idle_min_ms));
            ctx.sleep_ms(idle).await;
        }
        if ctx.stop.raised() {
            let _ = zk.close().await;
            return;
        }
        zk.abandon();
    }
}
