//! FIFO distributed queue (ZooKeeper recipes; Curator's `DistributedQueue`).
//!
//! Producers create PERSISTENT_SEQUENTIAL items `<path>/item-<client>.<n>-<seq>` with a protected
//! create, so a create retried after ConnectionLoss does not enqueue the item twice: the lookup
//! lists the queue and then the completion records (a consumer may take the item between the
//! lost answer and the lookup; it keeps its name there). A producer whose session ended with a
//! create in doubt looks for that item by name in its next session. A producer whose process
//! crashed and restarted has lost its count: it recovers it from the service (the highest `<n>`
//! of its items in the queue or the completion records, which it enqueued in order, one at a
//! time) instead of enqueueing items 0, 1, … again (standard seed 6: a producer crashed after
//! 27 items and enqueued them all a second time). Consumers
//! list the queue and take items in sequence order (the smallest first).
//!
//! Delivery guarantee: EXACTLY-ONCE PROCESSING. Processing an item is one multi that deletes the
//! item and creates its completion record `<path>-done/<item node>` (data: a nonce naming the
//! consumer's attempt). Only one such multi can commit per item; a consumer records `Consumed`
//! only when its multi committed (a definite success, or after ConnectionLoss the completion
//! record carries its nonce).
//!
//! Broken behaviours, to prove the checkers catch them:
//! - planted bug `queue-delete-unchecked` (the run's bug set): the consumer deletes without
//!   looking at the answer and processes anyway (two consumers that listed the same item both
//!   process it: double delivery);
//! - variant `broken_retry_produce`: the producer retries an indeterminate create blindly (no
//!   protected lookup): a create that did commit is enqueued twice.

use super::coord_util::ensure_path;
use super::RecipeCtx;
use crate::client::{ZkClient, ZkError};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use zksim_model::history::{RecipeAction, RecipeNote};
use zksim_model::{Acl, Bug, CreateMode, Data, ErrorCode, MultiOp};

/// Queue workload parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueParams {
    /// The queue's znode; completion records go under `<path>-done`.
    pub path: String,
    pub role: QueueRole,
    /// Items each producer enqueues (then it idles until stop).
    pub items: u64,
    /// Pause between two produced items.
    pub produce_period_ms: u64,
    /// Simulated processing time per consumed item.
    pub process_ms: u64,
    pub variant: QueueVariant,
}

impl Default for QueueParams {
    fn default() -> Self {
        QueueParams {
            path: "/queue".into(),
            role: QueueRole::Consumer,
            items: 20,
            produce_period_ms: 30,
            process_ms: 5,
            variant: QueueVariant::Correct,
        }
    }
}

/// Which side of the queue a client plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueRole {
    Producer,
    Consumer,
}

/// The correct recipe or a planted bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueVariant {
    Correct,
    BrokenRetryProduce,
}

/// The recipe instance name in the history (`queue:<path>`).
pub fn recipe_name(path: &str) -> String {
    format!("queue:{path}")
}

/// The sequence number of a sequential node name (its last ten characters).
pub fn sequence_of(name: &str) -> Option<u64> {
    let tail = name.get(name.len().checked_sub(10)?..)?;
    tail.parse().ok()
}

/// The item id embedded in an item node's name (`...item-<id>-<seq>`).
pub fn item_of(name: &str) -> Option<&str> {
    let start = name.find("item-")? + "item-".len();
    let end = name.rfind('-')?;
    (end > start).then(|| &name[start..end])
}

#[derive(Default)]
struct ProducerState {
    next: u64,
    /// The current item's create may have committed in a session that is now over.
    uncertain: bool,
    /// A restarted process: `next` must first be recovered from the service.
    recover: bool,
}

#[derive(Default)]
struct ConsumerState {
    /// A consuming multi whose outcome is unknown: (item node name, nonce).
    pending: Option<(String, String)>,
    attempts: u64,
}

/// Runs one queue client until the harness says stop, with a new session after each expiry.
pub async fn workload(mut ctx: RecipeCtx, params: QueueParams) {
    let mut prod = ProducerState { recover: ctx.incarnation > 0, ..ProducerState::default() };
    let mut cons = ConsumerState::default();
    while let Some(zk) = ctx.new_session().await {
        let r = match params.role {
            QueueRole::Producer => produce(&ctx, &zk, &params, &mut prod).await,
            QueueRole::Consumer => consume(&ctx, &zk, &params, &mut cons).await,
        };
        if ctx.stop.raised() || r.is_ok() {
            let _ = zk.close().await;
            break;
        }
        zk.abandon();
    }
}

fn note(params: &QueueParams, action: RecipeAction) -> RecipeNote {
    RecipeNote { recipe: recipe_name(&params.path), action }
}

async fn produce(ctx: &RecipeCtx, zk: &ZkClient, p: &QueueParams, st: &mut ProducerState) -> Result<(), ZkError> {
    ensure_path(zk, &p.path).await?;
    ensure_path(zk, &format!("{}-done", p.path)).await?;
    if st.recover && p.variant == QueueVariant::Correct {
        st.next = recover_next(zk, p, &ctx.client.to_string()).await?;
        st.recover = false;
    }
    while st.next < p.items && !ctx.stop.raised() {
        let item = format!("{}.{}", ctx.client, st.next);
        if st.uncertain && p.variant == QueueVariant::Correct {
            // The previous session's create may have committed: look for the item by name, in
            // the queue and among the completion records, before enqueueing it again.
            if let Some(node) = find_item(zk, p, &item).await? {
                zk.record_recipe(note(p, RecipeAction::Produced { item, node }));
                st.next += 1;
                st.uncertain = false;
                continue;
            }
        }
        let want = format!("{}/item-{item}-", p.path);
        let data = Data::text(&item);
        let created = match p.variant {
            QueueVariant::BrokenRetryProduce => loop {
                match zk.create(&want, data.clone(), CreateMode::PersistentSequential).await {
                    // The planted bug: a blind retry of a create that may have committed.
                    Err(ZkError::ConnectionLoss) => continue,
                    r => break r,
                }
            },
            _ => {
                let done = format!("{}-done", p.path);
                zk.create_protected_or_moved(&want, data, CreateMode::PersistentSequential, Some(&done)).await
            }
        };
        match created {
            Ok(node) => {
                zk.record_recipe(note(p, RecipeAction::Produced { item, node }));
                st.next += 1;
                st.uncertain = false;
                ctx.sleep_ms(p.produce_period_ms).await;
            }
            Err(e) if e.is_session_over() => {
                st.uncertain = true;
                return Err(e);
            }
            Err(e) => panic!("queue producer {}: create {want} failed definitely: {e}", ctx.client),
        }
    }
    while !ctx.stop.raised() {
        ctx.sleep_ms(100).await;
    }
    Ok(())
}

/// The number of the next item a restarted producer `client` should enqueue: one past the
/// highest of its items in the queue or among the completion records (0: none). Its earlier
/// incarnation enqueued items in order, each after the previous one's create had definitely
/// committed, so every lower item is there too. Syncs first, so a lagging server cannot hide
/// the last one. Known limit (as for the protected lookup): a create of the crashed
/// incarnation still in the service's pipeline may commit after this listing.
async fn recover_next(zk: &ZkClient, p: &QueueParams, client: &str) -> Result<u64, ZkError> {
    let mine = format!("{client}.");
    let mut next = 0;
    for dir in [p.path.clone(), format!("{}-done", p.path)] {
        let kids = loop {
            if let Err(ZkError::ConnectionLoss) = zk.sync(&dir).await {
                continue;
            }
            match zk.get_children(&dir).await {
                Ok((kids, _)) => break kids,
                Err(ZkError::ConnectionLoss) => continue,
                Err(e) => return Err(e),
            }
        };
        for k in &kids {
            let n = item_of(k).and_then(|i| i.strip_prefix(&mine)).and_then(|n| n.parse::<u64>().ok());
            if let Some(n) = n {
                next = next.max(n + 1);
            }
        }
    }
    Ok(next)
}

async fn find_item(zk: &ZkClient, p: &QueueParams, item: &str) -> Result<Option<String>, ZkError> {
    let needle = format!("item-{item}-");
    for dir in [p.path.clone(), format!("{}-done", p.path)] {
        let kids = loop {
            match zk.get_children(&dir).await {
                Ok((kids, _)) => break kids,
                Err(ZkError::ConnectionLoss) => continue,
                Err(e) => return Err(e),
            }
        };
        if let Some(k) = kids.into_iter().find(|k| k.contains(&needle)) {
            return Ok(Some(format!("{}/{k}", p.path)));
        }
    }
    Ok(None)
}

/// Resolves a consuming multi whose answer was lost: it committed iff the completion record
/// exists and carries our nonce. `Ok(true)` ⇒ consumed by us.
async fn resolve(zk: &ZkClient, p: &QueueParams, name: &str, nonce: &str) -> Result<bool, ZkError> {
    let done = format!("{}-done/{name}", p.path);
    loop {
        match zk.get_data(&done).await {
            Ok((data, _)) => return Ok(data == Data::text(nonce)),
            Err(ZkError::Api(ErrorCode::NoNode)) => return Ok(false),
            Err(ZkError::ConnectionLoss) => continue,
            Err(e) => return Err(e),
        }
    }
}

async fn consume(ctx: &RecipeCtx, zk: &ZkClient, p: &QueueParams, st: &mut ConsumerState) -> Result<(), ZkError> {
    ensure_path(zk, &p.path).await?;
    ensure_path(zk, &format!("{}-done", p.path)).await?;
    if let Some((name, nonce)) = st.pending.clone() {
        if resolve(zk, p, &name, &nonce).await? {
            let item = item_of(&name).unwrap_or_default().to_string();
            zk.record_recipe(note(p, RecipeAction::Consumed { item, node: format!("{}/{name}", p.path) }));
        }
        st.pending = None;
    }
    loop {
        if ctx.stop.raised() {
            return Ok(());
        }
        let (kids, watch) = match zk.get_children_w(&p.path).await {
            Ok((kids, _, w)) => (kids, w),
            Err(ZkError::ConnectionLoss) => {
                ctx.sleep_ms(20).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut items: Vec<(u64, String)> =
            kids.into_iter().filter(|k| k.contains("item-")).filter_map(|k| Some((sequence_of(&k)?, k))).collect();
        items.sort();
        if items.is_empty() {
            // Wake on the child watch, or after a while to notice the stop signal.
            tokio::select! {
                // `biased`: fixed polling order, so the schedule depends on the seed alone.
                biased;
                _ = watch => {}
                _ = madsim::time::sleep(Duration::from_millis(200)) => {}
            }
            continue;
        }
        for (_, name) in items {
            if ctx.stop.raised() {
                return Ok(());
            }
            let node = format!("{}/{name}", p.path);
            // The item id is only needed for the Consumed note: parsed when one is recorded.
            let item = || item_of(&name).unwrap_or_default().to_string();
            match ctx.bugs.has(Bug::QueueDeleteUnchecked) {
                true => match zk.delete(&node, -1).await {
                    // queue-delete-unchecked: process whatever the delete said.
                    Err(e) if e.is_session_over() => return Err(e),
                    _ => {
                        zk.record_recipe(note(p, RecipeAction::Consumed { item: item(), node }));
                        ctx.sleep_ms(p.process_ms).await;
                    }
                },
                false => {
                    st.attempts += 1;
                    let nonce = format!("{}/{}/{}", ctx.client, zk.session_id(), st.attempts);
                    let ops = vec![
                        MultiOp::Delete { path: node.clone(), version: -1 },
                        MultiOp::Create {
                            path: format!("{}-done/{name}", p.path),
                            data: Data::text(&nonce),
                            mode: CreateMode::Persistent,
                            acl: Acl::open(),
                        },
                    ];
                    let consumed = match zk.multi(ops).await {
                        Ok(_) => true,
                        // Another consumer took it (NoNode): the next one.
                        Err(ZkError::Multi { .. }) => false,
                        Err(ZkError::ConnectionLoss) => {
                            st.pending = Some((name.clone(), nonce.clone()));
                            let ours = resolve(zk, p, &name, &nonce).await?;
                            st.pending = None;
                            if !ours {
                                // Not ours: the item may still be there (our multi did not
                                // commit). List again rather than take a younger item first.
                                break;
                            }
                            true
                        }
                        Err(e) if e.is_session_over() => {
                            st.pending = Some((name.clone(), nonce));
                            return Err(e);
                        }
                        Err(e) => panic!("queue consumer {}: multi on {node} failed: {e}", ctx.client),
                    };
                    if consumed {
                        zk.record_recipe(note(p, RecipeAction::Consumed { item: item(), node }));
                        ctx.sleep_ms(p.process_ms).await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        let n = "_c_1a-3-item-c4.7-0000000012";
        assert_eq!(sequence_of(n), Some(12));
        assert_eq!(item_of(n), Some("c4.7"));
        assert_eq!(item_of("item-c1.0-0000000000"), Some("c1.0"));
        assert_eq!(sequence_of("x"), None);
    }
}
