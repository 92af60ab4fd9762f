//! The `kv` workload's operation generator: random reads and writes over a few keys, shaped to
//! hit ZooKeeper's interesting cases often — version conflicts, sequential names, ephemerals
//! vanishing with their session, multis that fail half-way, watches on missing nodes.

use crate::rng::SimRng;
use rand::Rng;
use zksim_model::{Acl, CreateMode, Data, MultiOp, Op, Perms};

/// Draws operations for one client.
pub struct KvGen {
    keys: u32,
    counter: u64,
    acls: bool,
}

impl KvGen {
    /// A generator over `/kv/k0`…`/kv/k{keys-1}` (children of `/kv`, created by the first op).
    pub fn new(keys: u32) -> KvGen {
        assert!(keys > 0, "the kv workload needs at least one key");
        KvGen { keys, counter: 0, acls: false }
    }

    /// Also draws setACL, getACL and creates with restricted ACLs. Off, the draws are exactly
    /// those of a generator without ACLs (no extra random numbers are taken).
    pub fn with_acls(mut self, on: bool) -> KvGen {
        self.acls = on;
        self
    }

    /// An ACL that refuses something: every node can still be deleted (DELETE is the parent's
    /// permission, and `/kv` stays open), so no key is stuck for good.
    fn acl(rng: &mut SimRng) -> Acl {
        match rng.gen_range(0..7) {
            0 | 1 => Acl::open(),
            2 => Acl::anyone(Perms::READ),
            3 => Acl::anyone(Perms::READ.union(Perms::WRITE)),
            4 => Acl::anyone(Perms::ALL.without(Perms::ADMIN)),
            5 => Acl::anyone(Perms::ALL.without(Perms::READ)),
            // Neither READ nor ADMIN: even getACL is refused.
            _ => Acl::anyone(Perms::WRITE),
        }
    }

    fn acl_op(&mut self, rng: &mut SimRng) -> Op {
        let path = self.key(rng);
        if rng.gen_bool(0.5) {
            Op::GetAcl { path }
        } else {
            Op::SetAcl { path, acl: Self::acl(rng), version: Self::version(rng) }
        }
    }

    fn key(&self, rng: &mut SimRng) -> String {
        format!("/kv/k{}", rng.gen_range(0..self.keys))
    }

    fn data(&mut self, client: u32) -> Data {
        self.counter += 1;
        Data::text(&format!("c{client}-{}", self.counter))
    }

    fn version(rng: &mut SimRng) -> i32 {
        // Mostly "any", sometimes a small guess: conflicts and successes both happen.
        if rng.gen_bool(0.6) {
            -1
        } else {
            rng.gen_range(0..4)
        }
    }

    fn mode(rng: &mut SimRng) -> CreateMode {
        match rng.gen_range(0..10) {
            0..=4 => CreateMode::Persistent,
            5..=6 => CreateMode::Ephemeral,
            7 => CreateMode::PersistentSequential,
            _ => CreateMode::EphemeralSequential,
        }
    }

    /// The operation that sets up the key space (idempotent: NodeExists is fine).
    pub fn setup() -> Op {
        Op::Create { path: "/kv".into(), data: Data::text(""), mode: CreateMode::Persistent, acl: Acl::open() }
    }

    /// The next operation for `client`.
    pub fn next(&mut self, client: u32, rng: &mut SimRng) -> Op {
        if self.acls && rng.gen_bool(0.15) {
            return self.acl_op(rng);
        }
        let path = self.key(rng);
        match rng.gen_range(0..100) {
            0..=19 => Op::GetData { path, watch: rng.gen_bool(0.3) },
            20..=29 => Op::Exists { path, watch: rng.gen_bool(0.3) },
            30..=37 => Op::GetChildren { path: "/kv".into(), watch: rng.gen_bool(0.3) },
            38..=41 => Op::Sync { path },
            42..=61 => Op::SetData { path, data: self.data(client), version: Self::version(rng) },
            62..=79 => {
                let mode = Self::mode(rng);
                let path = if mode.is_sequential() { format!("{path}-") } else { path };
                let acl = if self.acls { Self::acl(rng) } else { Acl::open() };
                Op::Create { path, data: self.data(client), mode, acl }
            }
            80..=91 => Op::Delete { path, version: Self::version(rng) },
            _ => {
                let n = rng.gen_range(1..=3);
                let ops = (0..n)
                    .map(|_| {
                        let p = self.key(rng);
                        match rng.gen_range(0..4) {
                            0 => MultiOp::Create {
                                path: p,
                                data: self.data(client),
                                mode: CreateMode::Persistent,
                                acl: Acl::open(),
                            },
                            1 => MultiOp::Delete { path: p, version: Self::version(rng) },
                            2 => MultiOp::SetData { path: p, data: self.data(client), version: Self::version(rng) },
                            _ => MultiOp::Check { path: p, version: Self::version(rng) },
                        }
                    })
                    .collect();
                Op::Multi { ops }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Seeds;

    #[test]
    fn draws_every_kind_and_stays_in_the_key_space() {
        let mut g = KvGen::new(3);
        let mut rng = Seeds::new(1).stream("kv");
        let mut names = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let op = g.next(1, &mut rng);
            names.insert(op.name());
            if let Some(p) = op.path() {
                assert!(p.starts_with("/kv"), "{p}");
            }
        }
        let expected = ["children", "create", "delete", "exists", "get", "multi", "set", "sync"];
        assert_eq!(names.into_iter().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn with_acls_adds_acl_ops_and_without_draws_the_same() {
        let (mut plain, mut off) = (KvGen::new(3), KvGen::new(3).with_acls(false));
        let (mut a, mut b) = (Seeds::new(2).stream("kv"), Seeds::new(2).stream("kv"));
        for _ in 0..500 {
            assert_eq!(plain.next(1, &mut a), off.next(1, &mut b), "acls off changes nothing");
        }
        let mut g = KvGen::new(3).with_acls(true);
        let mut rng = Seeds::new(1).stream("kv");
        let ops: Vec<Op> = (0..2000).map(|_| g.next(1, &mut rng)).collect();
        let names: std::collections::BTreeSet<_> = ops.iter().map(Op::name).collect();
        assert!(names.contains("set_acl") && names.contains("get_acl"), "{names:?}");
        assert!(ops.iter().any(|op| matches!(op, Op::Create { acl, .. } if !acl.is_open())));
    }
}
