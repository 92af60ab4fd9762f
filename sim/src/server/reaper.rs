//! The leader's periodic reaping of emptied containers and expired TTL nodes (ZooKeeper's
//! ContainerManager).

use super::datatree::DataTree;
use zksim_model::history::Txn;

/// The container/TTL deletions the leader should propose now.
pub fn reap_candidates(tree: &DataTree, now_ms: i64) -> Vec<Txn> {
    let _ = (tree, now_ms);
    todo!()
}
