//! FIFO queue properties (recipe `queue:<path>`), judged from the committed log and the
//! consumers' and producers' notes.
//!
//! The queue's items are the sequential nodes created under `<path>/` whose name holds
//! `item-<id>-`; an item's position is its sequence number (assigned in commit order).
//! - `queue-fifo`: with several consumers FIFO means (a) in the committed order, an item leaves
//!   the queue only when no older item (smaller sequence) is still in it, and (b) each consumer
//!   processes items in increasing sequence order.
//! - `queue-no-loss`: every item the log enqueued has left the queue by the end of the run, and
//!   every item a producer says it produced is in the log.
//! - `queue-no-duplicate`: exactly-once processing: each item id is enqueued at most once and
//!   processed (`Consumed`) by at most one consumer, once.

use super::coord_log::{ms, notes, rec_ref, report, sequence_of, CommittedLog};
use crate::check::{PropertyReport, Violation};
use crate::history::{History, RecipeAction};
use crate::types::{EventType, SimTime, Zxid};
use std::collections::BTreeMap;

/// The item id embedded in an item node's name (`...item-<id>-<seq>`).
fn item_of(name: &str) -> Option<&str> {
    let start = name.find("item-")? + "item-".len();
    let end = name.rfind('-')?;
    (end > start).then(|| &name[start..end])
}

struct Item {
    node: String,
    id: String,
    created: Zxid,
    created_rec: usize,
    removed: Option<(Zxid, SimTime)>,
}

/// Every queue property for the queue at `path`.
pub fn check(history: &History, path: &str) -> Vec<PropertyReport> {
    check_on(history, &CommittedLog::of(history), path)
}

/// Every queue property for the queue at `path`, given `history`'s committed log (shared with
/// other checkers).
pub fn check_on(history: &History, log: &CommittedLog, path: &str) -> Vec<PropertyReport> {
    let recipe = format!("queue:{path}");
    let prefix = format!("{path}/");
    let changes = &log.changes;
    // seq → item, in sequence order.
    let mut items: BTreeMap<u64, Item> = BTreeMap::new();
    let mut by_node: BTreeMap<String, u64> = BTreeMap::new();
    let mut fifo = Vec::new();
    let mut live: BTreeMap<u64, ()> = BTreeMap::new();
    for c in changes {
        let Some(name) = c.path.strip_prefix(&prefix) else { continue };
        if name.contains('/') {
            continue;
        }
        let (Some(seq), Some(id)) = (sequence_of(name), item_of(name)) else { continue };
        match c.kind {
            EventType::NodeCreated => {
                items.insert(
                    seq,
                    Item {
                        node: c.path.clone(),
                        id: id.to_string(),
                        created: c.zxid,
                        created_rec: c.rec,
                        removed: None,
                    },
                );
                by_node.insert(c.path.clone(), seq);
                live.insert(seq, ());
            }
            EventType::NodeDeleted => {
                live.remove(&seq);
                if let Some((older, _)) = live.iter().next().filter(|(o, _)| **o < seq) {
                    let o = &items[older];
                    fifo.push(
                        Violation::new(format!(
                            "item {} ({}) left the queue at zxid {} while the older item {} ({}, enqueued at zxid {}) \
                             was still queued",
                            id, c.path, c.zxid, o.id, o.node, o.created
                        ))
                        .at(c.zxid)
                        .record(rec_ref(history, c.rec))
                        .record(rec_ref(history, o.created_rec))
                        .expected("items leave the queue in sequence (creation) order")
                        .observed(format!("sequence {seq} removed before sequence {older}")),
                    );
                }
                if let Some(it) = items.get_mut(&seq) {
                    it.removed = Some((c.zxid, c.time));
                }
            }
            _ => {}
        }
    }
    let ns = notes(history, &recipe);
    // (b) per consumer order.
    let mut last_by_client: BTreeMap<_, (u64, usize)> = BTreeMap::new();
    let mut consumed_by_item: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut consumed = 0u64;
    let mut produced = Vec::new();
    for (i, n) in ns.iter().enumerate() {
        match n.action {
            RecipeAction::Consumed { item, node } => {
                consumed += 1;
                consumed_by_item.entry(item.clone()).or_default().push(i);
                let Some(seq) = sequence_of(node) else { continue };
                if let Some((prev, prec)) = last_by_client.get(&n.client).copied() {
                    if seq <= prev {
                        fifo.push(
                            Violation::new(format!(
                                "consumer {} processed {node} (sequence {seq}) after sequence {prev}",
                                n.client
                            ))
                            .record(rec_ref(history, ns[prec].rec))
                            .record(rec_ref(history, n.rec))
                            .expected("each consumer processes items in increasing sequence order"),
                        );
                    }
                }
                last_by_client.insert(n.client, (seq, i));
            }
            RecipeAction::Produced { item, node } => produced.push((i, item.clone(), node.clone())),
            _ => {}
        }
    }
    let mut out = vec![report("queue-fifo", items.len() as u64 + consumed, fifo, None)];

    let mut loss = Vec::new();
    for it in items.values().filter(|it| it.removed.is_none()) {
        loss.push(
            Violation::new(format!(
                "item {} ({}, enqueued at zxid {}) was never consumed: still queued at the end of the run",
                it.id, it.node, it.created
            ))
            .at(it.created)
            .record(rec_ref(history, it.created_rec))
            .expected("every enqueued item is consumed by the end of the liveness phase"),
        );
    }
    for (i, item, node) in &produced {
        if !by_node.contains_key(node) {
            loss.push(
                Violation::new(format!(
                    "producer {} says it enqueued {item} as {node}, which no committed transaction created",
                    ns[*i].client
                ))
                .record(rec_ref(history, ns[*i].rec))
                .expected("a produced item is in the committed log"),
            );
        }
    }
    out.push(report("queue-no-loss", items.len() as u64 + produced.len() as u64, loss, None));

    let mut dup = Vec::new();
    let mut enq: BTreeMap<&str, Vec<&Item>> = BTreeMap::new();
    for it in items.values() {
        enq.entry(it.id.as_str()).or_default().push(it);
    }
    for (id, its) in enq.iter().filter(|(_, v)| v.len() > 1) {
        let mut v = Violation::new(format!(
            "item {id} was enqueued {} times: {}",
            its.len(),
            its.iter().map(|i| format!("{} at zxid {}", i.node, i.created)).collect::<Vec<_>>().join(", ")
        ))
        .at(its[1].created)
        .expected("a producer's retried create enqueues its item once (protected create)");
        for i in its {
            v = v.record(rec_ref(history, i.created_rec));
        }
        dup.push(v);
    }
    for (item, idx) in consumed_by_item.iter().filter(|(_, v)| v.len() > 1) {
        let who: Vec<String> = idx.iter().map(|i| format!("{} at {:.1} ms", ns[*i].client, ms(ns[*i].time))).collect();
        let mut v = Violation::new(format!("item {item} was processed {} times: by {}", idx.len(), who.join(", ")))
            .expected("exactly-once processing: one consumer processes each item, once")
            .observed("the item's consuming transaction cannot have committed for each of them");
        for i in idx {
            v = v.record(rec_ref(history, ns[*i].rec));
        }
        dup.push(v);
    }
    out.push(report("queue-no-duplicate", items.len() as u64 + consumed, dup, None));
    out
}

/// Herd figures of the queue at `path`, per item taken (`Consumed`): watch notifications
/// delivered to its clients, reads in reaction, and futile wakeups (a consumer woken that took
/// nothing before its next wakeup). Every consumer watches the queue's children, so each
/// enqueue wakes every idle consumer and all but one wake in vain: O(consumers) per take.
pub fn herd_figures(history: &History, path: &str) -> BTreeMap<String, f64> {
    super::coord_log::herd_counts(history, path, &format!("queue:{path}"), |a| {
        matches!(a, RecipeAction::Consumed { .. })
    })
    .figures("queue", "take")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Verdict;
    use crate::history::{Event, RecipeNote, Record, Txn, TxnRecord};
    use crate::op::Op;
    use crate::types::{ClientId, CreateMode, Data, ServerId, SessionId};

    fn commit(z: u64, txn: Txn) -> Record {
        Record {
            time: SimTime(z * 1_000_000),
            event: Event::Commit { server: ServerId(1), txn: TxnRecord { zxid: Zxid(z), time_ms: z as i64, txn } },
        }
    }

    fn write(z: u64, op: Op) -> Record {
        commit(z, Txn::Client { session: SessionId(7), xid: z, op })
    }

    fn consumed(t: u64, client: u32, item: &str, node: &str) -> Record {
        Record {
            time: SimTime(t * 1_000_000),
            event: Event::Recipe {
                client: ClientId(client),
                session: SessionId(7),
                note: RecipeNote {
                    recipe: "queue:/q".into(),
                    action: RecipeAction::Consumed { item: item.into(), node: node.into() },
                },
            },
        }
    }

    fn history(records: Vec<Record>) -> History {
        crate::testkit::recipe_history(&[1], records)
    }

    fn create(z: u64, path: &str, mode: CreateMode) -> Record {
        write(z, Op::Create { path: path.into(), data: Data::null(), mode, acl: crate::Acl::open() })
    }

    fn verdict<'a>(r: &'a [PropertyReport], name: &str) -> &'a Verdict {
        &r.iter().find(|p| p.name == name).expect("property reported").verdict
    }

    #[test]
    fn fifo_loss_and_duplicates_are_judged_from_the_log_and_the_notes() {
        let seq = CreateMode::PersistentSequential;
        let mut recs = vec![
            commit(1, Txn::CreateSession { session: SessionId(7), timeout_ms: 1000 }),
            create(2, "/q", CreateMode::Persistent),
            create(3, "/q/item-a-", seq),
            create(4, "/q/item-b-", seq),
            create(5, "/q/item-a-", seq),
        ];
        // Correct so far: take 0 then 1, then 2.
        let mut ok = recs.clone();
        ok.push(write(6, Op::Delete { path: "/q/item-a-0000000000".into(), version: -1 }));
        ok.push(consumed(6, 2, "a", "/q/item-a-0000000000"));
        ok.push(write(7, Op::Delete { path: "/q/item-b-0000000001".into(), version: -1 }));
        ok.push(consumed(7, 2, "b", "/q/item-b-0000000001"));
        let r = check(&history(ok), "/q");
        assert!(matches!(verdict(&r, "queue-fifo"), Verdict::Pass), "{r:#?}");
        // Item 2 (a duplicate enqueue of "a") is still queued.
        assert!(matches!(verdict(&r, "queue-no-loss"), Verdict::Fail { total: 1, .. }), "{r:#?}");
        assert!(matches!(verdict(&r, "queue-no-duplicate"), Verdict::Fail { total: 1, .. }), "{r:#?}");

        // Out of order removal and a double delivery.
        recs.push(write(6, Op::Delete { path: "/q/item-b-0000000001".into(), version: -1 }));
        recs.push(consumed(6, 2, "b", "/q/item-b-0000000001"));
        recs.push(consumed(6, 3, "b", "/q/item-b-0000000001"));
        let r = check(&history(recs), "/q");
        let Verdict::Fail { violations, .. } = verdict(&r, "queue-fifo") else { panic!("fifo must fail: {r:#?}") };
        assert!(violations[0].summary.contains("while the older item a"), "{}", violations[0].summary);
        let Verdict::Fail { violations, .. } = verdict(&r, "queue-no-duplicate") else { panic!("{r:#?}") };
        assert!(violations.iter().any(|v| v.summary.contains("item b was processed 2 times")), "{violations:#?}");
    }
}
