//! Host monitoring (seed use case): agents create ephemeral `<root>/<host>` and write their
//! runtime status (an increasing sequence number) every `period_ms`; a monitor watches the
//! children (online/offline) and reads each host's status, and records what it shows:
//! `OnlineView { hosts }` when its online set changes, `StatusSeen { host, seq }` when a newer
//! status arrives (it never shows an older one than it showed before).
//!
//! The monitor also re-reads every `resync_ms` (a safety net: the replicated server currently
//! has no watches).

use super::coord_util::{ensure_path, retry};
use super::RecipeCtx;
use crate::client::{ZkClient, ZkError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use zksim_model::history::{RecipeAction, RecipeNote};
use zksim_model::{CreateMode, Data, ErrorCode};

/// Host monitoring workload parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostMonitorParams {
    pub root: String,
    pub role: HostRole,
    /// Agents' status period.
    pub period_ms: u64,
    /// Monitor's re-read period without events.
    pub resync_ms: u64,
}

impl Default for HostMonitorParams {
    fn default() -> Self {
        HostMonitorParams { root: "/machines".into(), role: HostRole::Agent, period_ms: 100, resync_ms: 300 }
    }
}

/// Agent (a monitored host) or monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostRole {
    Agent,
    Monitor,
}

/// The recipe instance name in the history (`hosts:<root>`).
pub fn recipe_name(root: &str) -> String {
    format!("hosts:{root}")
}

#[derive(Default)]
struct State {
    seq: u64,
    view: Option<Vec<String>>,
    shown: BTreeMap<String, u64>,
}

/// Runs an agent or the monitor until stop.
pub async fn workload(mut ctx: RecipeCtx, params: HostMonitorParams) {
    let mut st = State::default();
    while let Some(zk) = ctx.new_session().await {
        let r = match params.role {
            HostRole::Agent => agent(&ctx, &zk, &params, &mut st).await,
            HostRole::Monitor => monitor(&ctx, &zk, &params, &mut st).await,
        };
        if ctx.stop.raised() || r.is_ok() {
            let _ = zk.close().await;
            break;
        }
        zk.abandon();
    }
}

fn note(p: &HostMonitorParams, action: RecipeAction) -> RecipeNote {
    RecipeNote { recipe: recipe_name(&p.root), action }
}

async fn agent(ctx: &RecipeCtx, zk: &ZkClient, p: &HostMonitorParams, st: &mut State) -> Result<(), ZkError> {
    ensure_path(zk, &p.root).await?;
    let me = format!("{}/{}", p.root, ctx.client);
    loop {
        if ctx.stop.raised() {
            return Ok(());
        }
        match zk.create(&me, Data::text(&st.seq.to_string()), CreateMode::Ephemeral).await {
            Ok(_) => break,
            Err(ZkError::ConnectionLoss) => continue,
            Err(ZkError::Api(ErrorCode::NodeExists)) => {
                if retry(|| zk.exists(&me)).await?.map(|s| s.ephemeral_owner) == Some(zk.session_id()) {
                    break;
                }
                // Our expired session's node, not yet removed.
                ctx.sleep_ms(100).await;
            }
            Err(e) => return Err(e),
        }
    }
    while !ctx.stop.raised() {
        st.seq += 1;
        let data = Data::text(&st.seq.to_string());
        // Writing the same status again is idempotent: retry over ConnectionLoss.
        retry(|| zk.set_data(&me, data.clone(), -1)).await?;
        zk.record_recipe(note(p, RecipeAction::Heartbeat { seq: st.seq }));
        ctx.sleep_ms(p.period_ms).await;
    }
    Ok(())
}

async fn monitor(ctx: &RecipeCtx, zk: &ZkClient, p: &HostMonitorParams, st: &mut State) -> Result<(), ZkError> {
    ensure_path(zk, &p.root).await?;
    while !ctx.stop.raised() {
        let (mut hosts, _, w) = retry(|| zk.get_children_w(&p.root)).await?;
        hosts.sort();
        if st.view.as_ref() != Some(&hosts) {
            zk.record_recipe(note(p, RecipeAction::OnlineView { hosts: hosts.clone() }));
            st.view = Some(hosts.clone());
        }
        for h in &hosts {
            let path = format!("{}/{h}", p.root);
            let data = match retry(|| zk.get_data(&path)).await {
                Ok((d, _)) => d,
                Err(ZkError::Api(ErrorCode::NoNode)) => continue,
                Err(e) => return Err(e),
            };
            let Some(seq) = std::str::from_utf8(data.as_slice()).ok().and_then(|s| s.parse::<u64>().ok()) else {
                continue;
            };
            // Show only newer statuses (a read from a lagging server may be older).
            if st.shown.get(h).is_none_or(|s| seq > *s) {
                st.shown.insert(h.clone(), seq);
                zk.record_recipe(note(p, RecipeAction::StatusSeen { host: h.clone(), seq }));
            }
        }
        tokio::select! {
            // `biased`: fixed polling order, so the schedule depends on the seed alone.
            biased;
            r = w => { r?; }
            _ = madsim::time::sleep(Duration::from_millis(p.resync_ms)) => {}
        }
    }
    Ok(())
}
