//! Master election (ZooKeeper recipes; Curator `LeaderLatch`), on the lock machinery of
//! [`super::lock`]:
//! - `ephemeral_master`: create ephemeral `<path>/master`; losers `exists_w` it and retry.
//! - `hot_standby`: protected ephemeral-sequential children of `<path>`; the smallest is RUNNING,
//!   the others STANDBY, each watching its immediate predecessor; the winner checks that the
//!   lowest node's ephemeralOwner is its own session before leading (CURATOR-696).
//!
//! Planted bug `curator-696-leader-old-node` (the run's bug set): a leader keeps leading on its
//! old node after its session was Disconnected or Expired, and leads without checking that the
//! lowest node is its own session's.
//!
//! Records `Waiting`, `Leading { term = node czxid, node }`, `Woken`, `Abdicated` (at the end
//! of a term, or on Disconnected) and `Lost` (Expired). A leader leads for a random time, then
//! abdicates so that terms change hands during a run.

use super::lock::{run, LockParams, LockVariant};
use super::RecipeCtx;
use serde::{Deserialize, Serialize};

/// Which election algorithm a client runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ElectionVariant {
    EphemeralMaster,
    HotStandby,
}

/// Parameters of the election workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElectionParams {
    /// The election's directory.
    pub path: String,
    pub variant: ElectionVariant,
    /// How long a leader leads before abdicating, drawn uniformly.
    pub lead_min_ms: u64,
    pub lead_max_ms: u64,
    /// Pause before standing again, drawn uniformly.
    pub idle_min_ms: u64,
    pub idle_max_ms: u64,
}

impl Default for ElectionParams {
    fn default() -> ElectionParams {
        ElectionParams {
            path: "/election/a".to_string(),
            variant: ElectionVariant::HotStandby,
            lead_min_ms: 200,
            lead_max_ms: 800,
            idle_min_ms: 20,
            idle_max_ms: 200,
        }
    }
}

/// Runs the election workload until the harness says stop, then abdicates and closes.
pub async fn workload(ctx: RecipeCtx, params: ElectionParams) {
    let variant = match params.variant {
        ElectionVariant::EphemeralMaster => LockVariant::Naive,
        ElectionVariant::HotStandby => LockVariant::HerdFree,
    };
    let lock = LockParams {
        path: params.path.clone(),
        variant,
        hold_min_ms: params.lead_min_ms,
        hold_max_ms: params.lead_max_ms,
        idle_min_ms: params.idle_min_ms,
        idle_max_ms: params.idle_max_ms,
        writes_per_hold: 4,
        acquire_timeout_ms: 0,
    };
    run(ctx, lock, format!("election:{}", params.path), true).await
}
