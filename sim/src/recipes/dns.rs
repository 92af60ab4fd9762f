//! Dynamic DNS (ZooKeeper recipes): a name node holds an address; an updater rewrites it and
//! resolvers watch it. The mechanism is config pub/sub's ([`super::config`]); addresses are
//! `10.53.0.<version>`-style strings whose trailing number is the update's version, and the
//! instance is recorded as `dns:<path>`.

use super::config::{run, ConfigParams};
use super::RecipeCtx;

/// DNS workload parameters: those of config pub/sub (`path` is the name node; the publisher is
/// the updater, subscribers are resolvers).
pub type DnsParams = ConfigParams;

/// The recipe instance name in the history (`dns:<path>`).
pub fn recipe_name(path: &str) -> String {
    format!("dns:{path}")
}

/// Runs a DNS updater or resolver until stop.
pub async fn workload(ctx: RecipeCtx, params: DnsParams) {
    let name = recipe_name(&params.path);
    run(ctx, params, name, "10.53.0.").await
}
