//! The leader's periodic reaping of emptied containers and expired TTL nodes (ZooKeeper's
//! `ContainerManager.getCandidates`). The leader proposes one `DeleteContainer`/`DeleteTtl`
//! txn per candidate; the tree re-checks at apply time what ZooKeeper's PrepRequestProcessor
//! does (the node exists, is childless and no ephemeral), so a node that gained a child in
//! between survives, while a TTL node set in between goes all the same, as in ZooKeeper.

use super::datatree::DataTree;
use zksim_model::history::Txn;

/// The container/TTL deletions the leader should propose now, sorted by path: containers that
/// had a child (stored create counter > 0; a never-used container is kept, as with
/// `maxNeverUsedIntervalMs = 0`) and are now empty, and TTL nodes that are childless and were
/// last modified more than their ttl ago.
pub fn reap_candidates(tree: &DataTree, now_ms: i64) -> Vec<Txn> {
    let mut out = Vec::new();
    for (path, stat) in tree.containers() {
        let creates = tree.child_creates(path).expect("indexed container exists");
        if stat.num_children == 0 && creates > 0 {
            out.push(Txn::DeleteContainer { path: path.to_string() });
        }
    }
    for (path, ttl_ms, stat) in tree.ttl_nodes() {
        if stat.num_children == 0 && now_ms.saturating_sub(stat.mtime) > ttl_ms {
            out.push(Txn::DeleteTtl { path: path.to_string() });
        }
    }
    out.sort_by(|a, b| txn_path(a).cmp(txn_path(b)));
    out
}

fn txn_path(t: &Txn) -> &str {
    match t {
        Txn::DeleteContainer { path } | Txn::DeleteTtl { path } => path,
        other => panic!("the reaper proposes only server deletes, not {other:?}"),
    }
}
