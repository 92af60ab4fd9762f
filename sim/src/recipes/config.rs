//! Configuration pub/sub (ZooKeeper recipes): a publisher writes numbered versions of a config
//! node; subscribers read it with a data watch and, on each event, read again and re-arm.
//! The same mechanism serves dynamic DNS ([`super::dns`]): the name node holds an address.
//!
//! Data is `<prefix><version>` (the version is the trailing number). Subscribers record
//! `Observed { version }` each time the value they hold changes; the publisher records
//! `Published { version }` once its write is known to have committed.
//!
//! Subscribers also re-read after `resync_ms` without an event (a staleness bound that holds
//! even if a watch is lost; the replicated server currently has no watches at all).
//!
//! Broken variant `broken_no_rearm`: after its first wakeup the subscriber reads once more
//! without a watch and never re-arms (nor resyncs), so it stops following the publisher.

use super::coord_util::{ensure_path, retry};
use super::RecipeCtx;
use crate::client::{ZkClient, ZkError};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use zksim_model::history::{RecipeAction, RecipeNote};
use zksim_model::{CreateMode, Data, ErrorCode};

/// Config pub/sub workload parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigParams {
    /// The config node.
    pub path: String,
    pub role: ConfigRole,
    /// Versions the publisher writes (1..=versions), then it idles until stop.
    pub versions: u64,
    /// Pause between two versions.
    pub publish_period_ms: u64,
    /// Subscribers re-read after this long without a watch event (a safety net bounding
    /// staleness, also when the service loses a watch); 0: watches only.
    pub resync_ms: u64,
    pub variant: ConfigVariant,
}

impl Default for ConfigParams {
    fn default() -> Self {
        ConfigParams {
            path: "/config/app".into(),
            role: ConfigRole::Subscriber,
            versions: 20,
            publish_period_ms: 150,
            resync_ms: 1_000,
            variant: ConfigVariant::Correct,
        }
    }
}

/// Publisher or subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigRole {
    Publisher,
    Subscriber,
}

/// The correct recipe or a planted bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigVariant {
    Correct,
    BrokenNoRearm,
}

/// The recipe instance name in the history (`config:<path>`).
pub fn recipe_name(path: &str) -> String {
    format!("config:{path}")
}

/// The version a value carries: its trailing decimal number.
pub fn version_of(data: &Data) -> Option<u64> {
    let s = std::str::from_utf8(data.as_slice()).ok()?;
    let digits = s.len() - s.bytes().rev().take_while(u8::is_ascii_digit).count();
    s[digits..].parse().ok()
}

/// Runs a config client until stop.
pub async fn workload(ctx: RecipeCtx, params: ConfigParams) {
    let name = recipe_name(&params.path);
    run(ctx, params, name, "config-v").await
}

/// The shared pub/sub loop: `recipe` names the instance, values are `<prefix><version>`.
pub(crate) async fn run(mut ctx: RecipeCtx, p: ConfigParams, recipe: String, prefix: &str) {
    let mut next = 1u64;
    let mut held: Option<u64> = None;
    while let Some(zk) = ctx.new_session().await {
        let r = match p.role {
            ConfigRole::Publisher => publish(&ctx, &zk, &p, &recipe, prefix, &mut next).await,
            ConfigRole::Subscriber => subscribe(&ctx, &zk, &p, &recipe, &mut held).await,
        };
        if ctx.stop.raised() || r.is_ok() {
            let _ = zk.close().await;
            break;
        }
        zk.abandon();
    }
}

async fn publish(
    ctx: &RecipeCtx,
    zk: &ZkClient,
    p: &ConfigParams,
    recipe: &str,
    prefix: &str,
    next: &mut u64,
) -> Result<(), ZkError> {
    if let Some(slash) = p.path.rfind('/').filter(|i| *i > 0) {
        ensure_path(zk, &p.path[..slash]).await?;
    }
    while *next <= p.versions && !ctx.stop.raised() {
        let data = Data::text(&format!("{prefix}{}", *next));
        // Setting the same value again is idempotent, so a retry after ConnectionLoss is safe.
        let r = retry(|| async {
            match zk.set_data(&p.path, data.clone(), -1).await {
                Err(ZkError::Api(ErrorCode::NoNode)) => {
                    match zk.create(&p.path, data.clone(), CreateMode::Persistent).await {
                        Err(ZkError::Api(ErrorCode::NodeExists)) => Err(ZkError::ConnectionLoss),
                        r => r.map(|_| ()),
                    }
                }
                r => r.map(|_| ()),
            }
        })
        .await;
        match r {
            Ok(()) => {
                zk.record_recipe(RecipeNote {
                    recipe: recipe.into(),
                    action: RecipeAction::Published { version: *next },
                });
                *next += 1;
                ctx.sleep_ms(p.publish_period_ms).await;
            }
            Err(e) if e.is_session_over() => return Err(e),
            Err(e) => panic!("publisher {}: write of {} failed definitely: {e}", ctx.client, p.path),
        }
    }
    while !ctx.stop.raised() {
        ctx.sleep_ms(100).await;
    }
    Ok(())
}

fn observe(zk: &ZkClient, recipe: &str, held: &mut Option<u64>, data: &Data) {
    let Some(v) = version_of(data) else { return };
    if *held != Some(v) {
        *held = Some(v);
        zk.record_recipe(RecipeNote { recipe: recipe.into(), action: RecipeAction::Observed { version: v } });
    }
}

/// Waits for `w` (or the resync period) while checking the stop signal; `Ok(true)` when it is
/// time to read again.
async fn wait_watch(ctx: &RecipeCtx, mut w: crate::client::Watch, resync_ms: u64) -> Result<bool, ZkError> {
    let deadline = crate::recorder::now().0 + resync_ms * 1_000_000;
    loop {
        if ctx.stop.raised() {
            return Ok(false);
        }
        if resync_ms > 0 && crate::recorder::now().0 >= deadline {
            return Ok(true);
        }
        tokio::select! {
            // `biased`: fixed polling order, so the schedule depends on the seed alone.
            biased;
            r = &mut w => return r.map(|_| true),
            _ = madsim::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

async fn subscribe(
    ctx: &RecipeCtx,
    zk: &ZkClient,
    p: &ConfigParams,
    recipe: &str,
    held: &mut Option<u64>,
) -> Result<(), ZkError> {
    // Subscribers create the (empty) node if it is missing, so they always hold a data watch
    // rather than an exist watch.
    ensure_path(zk, &p.path).await?;
    let mut fired = 0u64;
    loop {
        if ctx.stop.raised() {
            return Ok(());
        }
        if p.variant == ConfigVariant::BrokenNoRearm && fired > 0 {
            // The planted bug: one more read, no watch, and nothing after it.
            let (data, _) = retry(|| zk.get_data(&p.path)).await?;
            observe(zk, recipe, held, &data);
            while !ctx.stop.raised() {
                ctx.sleep_ms(100).await;
            }
            return Ok(());
        }
        match retry(|| zk.get_data_w(&p.path)).await {
            Ok((data, _, w)) => {
                observe(zk, recipe, held, &data);
                if !wait_watch(ctx, w, p.resync_ms).await? {
                    return Ok(());
                }
                fired += 1;
            }
            Err(ZkError::Api(ErrorCode::NoNode)) => {
                // Not published yet: wait for its creation.
                let (stat, w) = retry(|| zk.exists_w(&p.path)).await?;
                if stat.is_none() && !wait_watch(ctx, w, p.resync_ms).await? {
                    return Ok(());
                }
            }
            Err(e) => return Err(e),
        }
    }
}
