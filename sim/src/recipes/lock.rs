//! Exclusive lock (ZooKeeper recipes; Curator `InterProcessMutex`), with a fenced resource.
//!
//! - `naive`: create ephemeral `<path>/lock`; losers `exists_w` it and retry on delete. Every
//!   release wakes every waiter (the herd).
//! - `herd_free`: protected EPHEMERAL_SEQUENTIAL `<path>/_c_<id>-lock-NNNNNNNNNN`, getChildren
//!   without a watch, lowest wins, the others watch only their immediate predecessor and re-list
//!   on its deletion (never assuming they now hold it).
//!
//! A grant's fencing token is the lock node's czxid. The fenced resource is the znode
//! `<path>-resource` holding the highest token it accepted; the holder writes it with a
//! versioned setData (CAS) and the resource rejects a token lower than the stored one.
//!
//! Planted bugs (switched on by the run's [`zksim_model::BugSet`], each shown failing a property
//! by a test and a `scenarios/bugs/` scenario): `lock-watch-parent` and `lock-watch-first` (a
//! herd-free lock's waiters herd), `lock-no-relist` (two holders), `curator-206-ignore-expiry`,
//! `curator-45-unprotected-create` (orphan node), `curator-498-adopt-expired-node` (a create
//! given up client-side continues on a new session and adopts the old session's doomed node:
//! two holders; scenario only), and, when run as an election, `curator-696-leader-old-node`.

use super::protected::{create_protected, create_with_id, protected_id, sequence_of, stat_of, Attempt};
use super::RecipeCtx;
use crate::client::{SessionEvents, ZkClient, ZkError};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use zksim_model::history::{RecipeAction, RecipeNote};
use zksim_model::{Bug, CreateMode, Data, ErrorCode, SessionState, Zxid};

/// Which lock algorithm a client runs (both correct; the broken behaviours are planted bugs
/// switched on by the run's bug set, see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockVariant {
    /// Ephemeral `<path>/lock`; every loser watches it (a herd on each release, by design).
    Naive,
    /// Ephemeral-sequential nodes; each waiter watches only its immediate predecessor.
    HerdFree,
}

/// Parameters of the lock workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LockParams {
    /// The lock's directory; the fenced resource is `<path>-resource`.
    pub path: String,
    pub variant: LockVariant,
    /// How long a holder holds, drawn uniformly.
    pub hold_min_ms: u64,
    pub hold_max_ms: u64,
    /// Pause between a release and the next attempt, drawn uniformly.
    pub idle_min_ms: u64,
    pub idle_max_ms: u64,
    /// Fenced writes per hold (spread over the hold).
    pub writes_per_hold: u32,
    /// A sequential-lock waiter gives up (deletes its node, records `Released`) after this long
    /// and tries again later (Curator's `acquire(time)`); 0 = wait forever.
    pub acquire_timeout_ms: u64,
}

impl Default for LockParams {
    fn default() -> LockParams {
        LockParams {
            path: "/locks/a".to_string(),
            variant: LockVariant::HerdFree,
            hold_min_ms: 50,
            hold_max_ms: 300,
            idle_min_ms: 20,
            idle_max_ms: 200,
            writes_per_hold: 2,
            acquire_timeout_ms: 0,
        }
    }
}

/// Why a round ended early.
enum Stop {
    /// The session is over: start again with a new one.
    SessionOver,
    /// The harness said stop.
    Halt,
    /// The waiter timed out and gave up its node.
    GaveUp,
}

fn map(e: ZkError) -> Stop {
    if e.is_session_over() {
        Stop::SessionOver
    } else {
        // Definite API errors on our own nodes mean the world changed under us (e.g. the parent
        // vanished): the simplest safe reaction is a new session.
        Stop::SessionOver
    }
}

/// One lock client, in one session.
struct Locker<'a> {
    ctx: &'a mut RecipeCtx,
    p: &'a LockParams,
    recipe: String,
    zk: ZkClient,
    events: SessionEvents,
    /// Run as master election: notes say Leading/Abdicated, no fenced writes, and the winner
    /// checks the lowest node's ephemeralOwner is its own session (CURATOR-696).
    election: bool,
    /// Planted bug CURATOR-498: the protected id of a create attempt that did not finish,
    /// kept across sessions so the next session continues that attempt.
    carried: &'a mut Option<String>,
}

impl Locker<'_> {
    /// True when the planted bug `b` is switched on for this run.
    fn bug(&self, b: Bug) -> bool {
        self.ctx.bugs.has(b)
    }

    /// The holder ignores Disconnected/Expired and carries on: CURATOR-206 for a lock,
    /// CURATOR-696 for a leader latch.
    fn ignores_expiry(&self) -> bool {
        if self.election {
            self.bug(Bug::LeaderOnOldNode)
        } else {
            self.bug(Bug::IgnoreExpiry)
        }
    }

    fn note(&self, action: RecipeAction) {
        let action = match action {
            RecipeAction::Acquired { token, node } if self.election => RecipeAction::Leading { term: token, node },
            RecipeAction::Released { .. } | RecipeAction::Suspended if self.election => RecipeAction::Abdicated,
            a => a,
        };
        self.zk.record_recipe(RecipeNote { recipe: self.recipe.clone(), action });
    }

    /// Retries `f` over ConnectionLoss (reads and idempotent writes only).
    async fn retry<T, F, Fut>(&self, mut f: F) -> Result<T, ZkError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ZkError>>,
    {
        loop {
            match f().await {
                Err(ZkError::ConnectionLoss) => {
                    if self.ctx.stop.raised() && self.zk.state() != SessionState::SyncConnected {
                        return Err(ZkError::ConnectionLoss);
                    }
                    if self.ignores_expiry() {
                        // A holder carrying on with a dead session fails at once, every time:
                        // pace its retries so the planted bug cannot spin without time passing.
                        madsim::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                other => return other,
            }
        }
    }

    /// Creates the lock directory's ancestors and the resource (idempotent).
    async fn setup(&self) -> Result<(), ZkError> {
        let mut prefix = String::new();
        for part in self.p.path.split('/').filter(|s| !s.is_empty()) {
            prefix = format!("{prefix}/{part}");
            let zk = &self.zk;
            let path = prefix.clone();
            match self.retry(|| zk.create(&path, Data::null(), CreateMode::Persistent)).await {
                Ok(_) | Err(ZkError::Api(ErrorCode::NodeExists)) => {}
                Err(e) => return Err(e),
            }
        }
        let res = format!("{}-resource", self.p.path);
        let zk = &self.zk;
        match self.retry(|| zk.create(&res, Data::text("0"), CreateMode::Persistent)).await {
            Ok(_) | Err(ZkError::Api(ErrorCode::NodeExists)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Acquires the lock; returns (node, token).
    async fn acquire(&mut self) -> Result<(String, Zxid), Stop> {
        self.note(RecipeAction::Waiting);
        match self.p.variant {
            LockVariant::Naive => self.acquire_naive().await,
            LockVariant::HerdFree => self.acquire_sequential().await,
        }
    }

    async fn acquire_naive(&mut self) -> Result<(String, Zxid), Stop> {
        let node = format!("{}/lock", self.p.path);
        let mut woken = false;
        loop {
            if self.ctx.stop.raised() {
                return Err(Stop::Halt);
            }
            let got = match self.zk.create(&node, Data::null(), CreateMode::Ephemeral).await {
                // The czxid (token) is read back: the plain create reports no Stat.
                Ok(_) => match stat_of(&self.zk, &node).await {
                    Ok(Some(s)) if s.ephemeral_owner == self.zk.session_id() => Some(s.czxid),
                    Ok(_) => return Err(Stop::SessionOver),
                    Err(e) => return Err(map(e)),
                },
                Err(ZkError::Api(ErrorCode::NodeExists)) => None,
                Err(ZkError::ConnectionLoss) => {
                    // Did our lost create take effect? Ours if it is an ephemeral of our session.
                    let zk = &self.zk;
                    match self.retry(|| zk.exists(&node)).await {
                        Ok(Some(s)) if s.ephemeral_owner == self.zk.session_id() => Some(s.czxid),
                        Ok(_) => None,
                        Err(e) => return Err(map(e)),
                    }
                }
                Err(e) => return Err(map(e)),
            };
            if woken {
                self.note(RecipeAction::Woken { acquired: got.is_some() });
            }
            if let Some(token) = got {
                return Ok((node, token));
            }
            let zk = &self.zk;
            match self.retry(|| zk.exists_w(&node)).await {
                Ok((None, _)) => woken = false,
                Ok((Some(_), w)) => {
                    w.await.map_err(map)?;
                    woken = true;
                }
                Err(e) => return Err(map(e)),
            }
        }
    }

    async fn acquire_sequential(&mut self) -> Result<(String, Zxid), Stop> {
        // curator-45-unprotected-create: a create retried after ConnectionLoss without the lookup.
        let protected = !self.bug(Bug::UnprotectedCreate);
        let want = format!("{}/lock-", self.p.path);
        let (node, stat) = if self.bug(Bug::AdoptExpiredNode) {
            // curator-498-adopt-expired-node: the id outlives the session that drew it, and a
            // continued attempt adopts the node carrying it without asking who owns it.
            let (id, attempt) = match self.carried.take() {
                Some(id) => (id, Attempt::CarriedOver),
                None => (protected_id(&mut self.ctx.rng), Attempt::Fresh),
            };
            *self.carried = Some(id.clone());
            // Curator 3 simulates expiry client-side: a create that cannot finish for most of
            // the session timeout gives the session up (the service may still hold it) and
            // goes on with a new one.
            let patience = Duration::from_millis(self.ctx.session_timeout_ms * 2 / 3);
            let create =
                create_with_id(&self.zk, &id, &want, Data::null(), CreateMode::EphemeralSequential, protected, attempt);
            let r = match madsim::time::timeout(patience, create).await {
                Ok(r) => r.map_err(map)?,
                Err(_) => return Err(Stop::SessionOver),
            };
            *self.carried = None;
            r
        } else {
            create_protected(
                &self.zk,
                &mut self.ctx.rng,
                &want,
                Data::null(),
                CreateMode::EphemeralSequential,
                protected,
            )
            .await
            .map_err(map)?
        };
        let token = stat.czxid;
        let me = node.rsplit('/').next().expect("a created path has a name").to_string();
        let mut woken = false;
        loop {
            if self.ctx.stop.raised() {
                self.release(&node).await;
                return Err(Stop::Halt);
            }
            let zk = &self.zk;
            let dir = self.p.path.clone();
            // lock-watch-parent: list with a watch on the lock directory's children (the
            // naive lock's way), so every create and delete under it wakes every waiter.
            let (kids, parent_watch) = if self.bug(Bug::LockWatchParent) {
                let (kids, _, w) = self.retry(|| zk.get_children_w(&dir)).await.map_err(map)?;
                (kids, Some(w))
            } else {
                (self.retry(|| zk.get_children(&dir)).await.map_err(map)?.0, None)
            };
            let mut kids: Vec<(u64, String)> =
                kids.into_iter().filter_map(|k| sequence_of(&k).map(|s| (s, k))).collect();
            kids.sort();
            let Some(idx) = kids.iter().position(|(_, k)| *k == me) else {
                // Our node is gone while the session lives on (cannot happen with a correct
                // service unless the session is ending): start over with a new session.
                return Err(Stop::SessionOver);
            };
            if woken {
                self.note(RecipeAction::Woken { acquired: idx == 0 });
            }
            if idx == 0 {
                if self.election && !self.bug(Bug::LeaderOnOldNode) {
                    // CURATOR-696: lead only on a node this very session owns.
                    let owner = stat_of(&self.zk, &node).await.map_err(map)?.map(|s| s.ephemeral_owner);
                    if owner != Some(self.zk.session_id()) {
                        return Err(Stop::SessionOver);
                    }
                }
                return Ok((node, token));
            }
            let timeout = match self.p.acquire_timeout_ms {
                0 => Duration::from_secs(365 * 86_400),
                ms => Duration::from_millis(ms),
            };
            let wake = if let Some(w) = parent_watch {
                Some(w)
            } else {
                // lock-watch-first: every waiter watches the lowest node, not its predecessor.
                let target = if self.bug(Bug::LockWatchFirst) { &kids[0].1 } else { &kids[idx - 1].1 };
                let target = format!("{}/{}", self.p.path, target);
                let zk = &self.zk;
                match self.retry(|| zk.exists_w(&target)).await.map_err(map)? {
                    (None, _) => None,
                    (Some(_), w) => Some(w),
                }
            };
            match wake {
                None => woken = false,
                Some(w) => {
                    tokio::select! {
                        // `biased`: fixed polling order, so the schedule depends on the seed alone.
                        biased;
                        r = w => r.map_err(map).map(|_| ())?,
                        _ = madsim::time::sleep(timeout) => {
                            if !self.release(&node).await {
                                return Err(Stop::SessionOver);
                            }
                            self.note(RecipeAction::Released { node });
                            return Err(Stop::GaveUp);
                        }
                    }
                    if self.bug(Bug::LockNoRelist) {
                        // lock-no-relist: "my watch fired" taken for "I hold the lock".
                        self.note(RecipeAction::Woken { acquired: true });
                        return Ok((node, token));
                    }
                    woken = true;
                }
            }
        }
    }

    /// Deletes our lock node, retrying over ConnectionLoss; NoNode is fine (already gone).
    ///
    /// The naive lock's node is one path for every holder (`<path>/lock`): after a lost delete
    /// that path may already name the next holder's node (our delete committed, someone else
    /// created the lock), and a blind retry would delete it (standard seeds 29 and 37: an
    /// abdicating leader's retried delete removed the next leader's master node, so a third
    /// client was elected while the second still led). So a retry first looks: it deletes
    /// again only a node our session still owns. (A sequential node's name is never reused: a
    /// retry there can only find our node or nothing.) Known limit: a lost delete still in the
    /// service's pipeline when we look can commit after it; the service refuses those once the
    /// session has moved to another server (SessionMoved), which narrows this to the proposals
    /// already made.
    async fn release(&self, node: &str) -> bool {
        let zk = &self.zk;
        let shared_path = self.p.variant == LockVariant::Naive;
        loop {
            let r = if shared_path { zk.delete(node, -1).await } else { self.retry(|| zk.delete(node, -1)).await };
            match r {
                Ok(()) | Err(ZkError::Api(ErrorCode::NoNode)) => return true,
                Err(ZkError::ConnectionLoss) => {
                    if self.ctx.stop.raised() && zk.state() != SessionState::SyncConnected {
                        return false;
                    }
                    if self.ignores_expiry() {
                        madsim::time::sleep(Duration::from_millis(50)).await;
                    }
                    match self.retry(|| zk.exists(node)).await {
                        Ok(Some(s)) if s.ephemeral_owner == zk.session_id() => {}
                        // Gone, or someone else's now: ours is released.
                        Ok(_) => return true,
                        Err(_) => return false,
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// One fenced write with `token`: read the stored token, reject a stale one, CAS ours in.
    /// `writer` may be another session (the curator-206 holder writes through a new one, since
    /// the resource is not part of the lock service).
    async fn fenced_write(&self, writer: &ZkClient, token: Zxid) -> Result<(), ZkError> {
        let res = format!("{}-resource", self.p.path);
        loop {
            // A holder that loses its connection mid-write is SUSPENDED (Curator): it must stop
            // acting as holder now, not retry until it reconnects. (The CURATOR-206 bug path
            // keeps retrying, as the buggy client did.)
            let (data, stat) = if self.ignores_expiry() {
                self.retry(|| writer.get_data(&res)).await?
            } else {
                writer.get_data(&res).await?
            };
            let stored: u64 = String::from_utf8_lossy(data.0.as_deref().unwrap_or(&[])).parse().unwrap_or(0);
            if token.0 < stored {
                writer.record_recipe(RecipeNote {
                    recipe: self.recipe.clone(),
                    action: RecipeAction::Fenced { token, accepted: false },
                });
                return Ok(());
            }
            // The connection may have dropped since the read's reply (standard seeds 152 and
            // 481): a write made now would wait for a reconnect while we went on believing.
            if !self.ignores_expiry() && writer.state() != SessionState::SyncConnected {
                return Err(ZkError::ConnectionLoss);
            }
            match writer.set_data(&res, Data::text(&token.0.to_string()), stat.version).await {
                Ok(_) => {
                    writer.record_recipe(RecipeNote {
                        recipe: self.recipe.clone(),
                        action: RecipeAction::Fenced { token, accepted: true },
                    });
                    return Ok(());
                }
                // Lost CAS: read again (a CAS retried blindly could apply twice).
                Err(ZkError::Api(ErrorCode::BadVersion)) => {}
                // Unknown outcome: the bugged holder reads again; a correct one is suspended.
                Err(ZkError::ConnectionLoss) if self.ignores_expiry() => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Holds the lock for a random time, writing the fenced resource; returns when released.
    async fn hold(&mut self, node: String, token: Zxid) -> Result<(), Stop> {
        self.note(RecipeAction::Acquired { token, node: node.clone() });
        let hold = self.ctx.rng.gen_range(self.p.hold_min_ms..=self.p.hold_max_ms.max(self.p.hold_min_ms));
        let writes = self.p.writes_per_hold.max(1);
        let slice = Duration::from_millis(hold / writes as u64 + 1);
        let mut writer = self.zk.clone();
        for _ in 0..writes {
            // A holder that lost its connection (say, found out on waking from a pause) is
            // SUSPENDED before it acts again, not after a write that waits for a reconnect.
            if !self.ignores_expiry() && self.zk.state() != SessionState::SyncConnected {
                return self.lost_or_suspended(&node, ZkError::ConnectionLoss).await;
            }
            let wrote = if self.election { Ok(()) } else { self.fenced_write(&writer, token).await };
            if let Err(e) = wrote {
                if self.ignores_expiry() && e.is_session_over() {
                    // CURATOR-206: carries on with a new session, still "holding".
                    let Some(z) = self.ctx.new_session().await else { return Err(Stop::Halt) };
                    writer = z;
                    continue;
                }
                return self.lost_or_suspended(&node, e).await;
            }
            let sleep = madsim::time::sleep(slice);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    // `biased`: fixed polling order, so the schedule depends on the seed alone.
                    biased;
                    // Session events first: a disconnect that is already known must end the
                    // holding before the next slice's write.
                    ev = self.events.next() => match ev {
                        Some(SessionState::SyncConnected) => {}
                        // The event stream of an expired session ends: wait out the slice
                        // rather than spin on its end.
                        None if self.ignores_expiry() => {
                            (&mut sleep).await;
                            break;
                        }
                        _ if self.ignores_expiry() => {}
                        Some(SessionState::Disconnected) => {
                            return self.lost_or_suspended(&node, ZkError::ConnectionLoss).await
                        }
                        _ => return self.lost_or_suspended(&node, ZkError::SessionExpired).await,
                    },
                    _ = &mut sleep => break,
                }
            }
        }
        if self.ignores_expiry() && writer.session_id() != self.zk.session_id() {
            // Its lock session is long gone; it "releases" and moves to the new session.
            self.note(RecipeAction::Released { node });
            writer.abandon();
            return Err(Stop::SessionOver);
        }
        // Stop believing before giving the node up: the next holder may act as soon as the
        // delete commits, before its reply reaches us.
        self.note(RecipeAction::Released { node: node.clone() });
        if self.release(&node).await {
            Ok(())
        } else {
            self.note(RecipeAction::Lost);
            Err(Stop::SessionOver)
        }
    }

    /// Disconnected ⇒ SUSPENDED (we may have lost it: stop acting as holder, release once the
    /// connection is back); Expired ⇒ LOST.
    async fn lost_or_suspended(&mut self, node: &str, e: ZkError) -> Result<(), Stop> {
        if e.is_session_over() {
            self.note(RecipeAction::Lost);
            return Err(Stop::SessionOver);
        }
        self.note(RecipeAction::Suspended);
        if self.release(node).await {
            self.note(RecipeAction::Released { node: node.to_string() });
            Ok(())
        } else {
            self.note(RecipeAction::Lost);
            Err(Stop::SessionOver)
        }
    }
}

/// Runs the lock workload until the harness says stop, then releases and closes.
pub async fn workload(ctx: RecipeCtx, params: LockParams) {
    let recipe = format!("lock:{}", params.path);
    run(ctx, params, recipe, false).await
}

/// The lock (or, with `election`, master election) loop: new session on expiry, until stop.
pub(crate) async fn run(mut ctx: RecipeCtx, params: LockParams, recipe: String, election: bool) {
    assert!(params.path.starts_with('/') && !params.path.ends_with('/'), "lock path is absolute: {}", params.path);
    let mut carried = None;
    loop {
        let Some(zk) = ctx.new_session().await else { return };
        let events = zk.session_events();
        let mut l = Locker {
            ctx: &mut ctx,
            p: &params,
            recipe: recipe.clone(),
            zk: zk.clone(),
            events,
            election,
            carried: &mut carried,
        };
        if l.setup().await.is_err() {
            zk.abandon();
            continue;
        }
        let halted = loop {
            if l.ctx.stop.raised() {
                break true;
            }
            let round = match l.acquire().await {
                Ok((node, token)) => l.hold(node, token).await,
                Err(s) => Err(s),
            };
            match round {
                Ok(()) | Err(Stop::GaveUp) => {}
                Err(Stop::Halt) => break true,
                Err(Stop::SessionOver) => break false,
            }
            let idle = l.ctx.rng.gen_range(params.idle_min_ms..=params.idle_max_ms.max(params.idle_min_ms));
            l.ctx.sleep_ms(idle).await;
        };
        if halted {
            let _ = zk.close().await;
            return;
        }
        zk.abandon();
    }
}
