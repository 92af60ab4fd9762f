//! Recipes: client code on the service's client API, written the way Curator and kazoo write
//! them — surviving ConnectionLoss (protected creates) and SessionExpired (give up what the
//! session owned, start again with a new session) — and recording what they believed and did
//! (`Event::Recipe`), so their properties are checked from the history alone.
//!
//! Each recipe module exposes a params struct (deserialized from a scenario file, unknown
//! fields denied) and `pub async fn workload(ctx: RecipeCtx, params) ` that a client node runs
//! until the harness says stop.

mod ctx;
pub mod election;
pub mod lock;
pub mod protected;
pub mod rwlock;

pub use ctx::{RecipeCtx, StopSignal};
pub mod barrier;
pub mod config;
pub mod coord_util;
pub mod dns;
pub mod host_monitor;
pub mod log_collector;
pub mod naming;
pub mod queue;
pub mod task_coord;
