//! The runner: a scenario and a seed in, a history and verdicts out.
//!
//! It builds the world (servers running the replicated service, clients running workloads or
//! recipes), executes the materialized fault plan during the safety phase, lets the liveness
//! phase run healed, winds the clients down, reads every server's final state, and judges the
//! history. A panic anywhere in the simulation (a broken invariant) ends the run as a failure
//! with its message; the history up to that point is kept.

use crate::coverage;
use crate::plan::materialize;
use crate::report::summary::{PropertyKind, PropertyResult, Verdict, Violation};
use crate::scenario::{FaultSpec, Scenario, Workload};
use rand::Rng;
use std::collections::BTreeMap;
use std::time::Duration;
use zksim_model::check::{check_history, check_history_with_log, CheckConfig, CheckReport, Verdict as CheckVerdict};
use zksim_model::history::HISTORY_FORMAT;
use zksim_model::recipes::locks::LockCheckConfig;
use zksim_model::{ClientId, ErrorCode, Event, Header, History, Node, Outcome, ServerId, SessionState};
use zksim_sim::nemesis::NemesisError;
use zksim_sim::recipes::{RecipeCtx, StopSignal};
use zksim_sim::server::control::ControlClient;
use zksim_sim::server::{server_process, ServerConfig};
use zksim_sim::workload::kv::KvGen;
use zksim_sim::{process, Nemesis, Recorder, World, WorldConfig};

/// Everything one run produced.
pub struct RunOutput {
    pub history: History,
    /// The model checkers' report (absent only if the run could not be judged at all).
    pub check: CheckReport,
    /// Every property with its kind and verdict, as reports show them.
    pub properties: Vec<PropertyResult>,
    pub coverage: BTreeMap<String, bool>,
    /// Herd-effect figures (per release: notifications, wakeups, futile wakeups, reads), for
    /// scenarios that run a lock.
    pub herd: BTreeMap<String, f64>,
    /// What stopped the run early (a panic: a broken invariant), if anything.
    pub error: Option<String>,
    /// Faults the plan asked for that could not be applied (e.g. expiring a client that has no
    /// session yet), with why.
    pub skipped_faults: Vec<String>,
}

impl RunOutput {
    /// True when no property failed and nothing stopped the run.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.properties.iter().all(|p| p.verdict != Verdict::Fail)
    }

    /// The first failure, in one paragraph.
    pub fn first_failure(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(format!("run stopped: {e}"));
        }
        self.properties.iter().find(|p| p.verdict == Verdict::Fail).map(|p| {
            let v = p.violations.first().map(|v| v.summary.clone()).unwrap_or_default();
            format!("{}: {v}", p.name)
        })
    }
}

/// A stable hash of the scenario's full configuration.
pub fn config_hash(scenario: &Scenario) -> String {
    let text = serde_json::to_string(scenario).expect("a scenario always serializes");
    format!("{:016x}", zksim_model::jsonl::fingerprint(text.as_bytes()))
}

/// The client ids of each client group, in order.
fn client_groups(scenario: &Scenario) -> Vec<(ClientId, usize)> {
    let mut out = Vec::new();
    let mut next = 1;
    for (g, group) in scenario.clients.iter().enumerate() {
        for _ in 0..group.count {
            out.push((ClientId(next), g));
            next += 1;
        }
    }
    out
}

/// Runs `scenario` with `seed`.
pub fn run(scenario: &Scenario, seed: u64) -> RunOutput {
    let servers: Vec<ServerId> = (1..=scenario.ensemble.servers).map(ServerId).collect();
    let clients = client_groups(scenario);
    let mut wc = WorldConfig::with_seed(seed);
    wc.latency_ms_min = scenario.network.latency_ms_min;
    wc.latency_ms_max = scenario.network.latency_ms_max;
    wc.loss_rate = scenario.network.loss_rate;
    wc.fsync_ms_min = scenario.ensemble.fsync_ms_min;
    wc.fsync_ms_max = scenario.ensemble.fsync_ms_max;
    wc.time_limit = Duration::from_millis(scenario.phases.safety_ms + scenario.phases.liveness_ms + 300_000);
    let mut world = World::new(wc);
    for id in &servers {
        let mut cfg = ServerConfig::new(*id, servers.clone());
        cfg.tick_ms = scenario.ensemble.tick_ms;
        cfg.snapshot_every = scenario.ensemble.snapshot_every;
        cfg.bugs = scenario.bug_set();
        world.add_node(Node::Server(*id), server_process(cfg));
    }
    let stop = StopSignal::new();
    let bugs = scenario.bug_set();
    for (client, g) in &clients {
        let group = scenario.clients[*g].clone();
        let (servers, stop, client) = (servers.clone(), stop.clone(), *client);
        world.add_node(
            Node::Client(client),
            process(move |ctx| {
                let rctx = RecipeCtx {
                    client,
                    servers: servers.clone(),
                    session_timeout_ms: group.session_timeout_ms,
                    recorder: ctx.recorder.clone(),
                    rng: ctx.seeds.stream(&format!("{}/workload/{}", ctx.node, ctx.incarnation)),
                    incarnation: ctx.incarnation,
                    stop: stop.clone(),
                    bugs,
                };
                let run = group.run.clone();
                async move {
                    match run {
                        Workload::Kv { keys, think_ms, pipeline, acls } => {
                            kv_workload(rctx, KvGen::new(keys).with_acls(acls), think_ms, pipeline).await
                        }
                        Workload::Config(p) => zksim_sim::recipes::config::workload(rctx, p).await,
                        Workload::Dns(p) => zksim_sim::recipes::dns::workload(rctx, p).await,
                        Workload::Naming(p) => zksim_sim::recipes::naming::workload(rctx, p).await,
                        Workload::HostMonitor(p) => zksim_sim::recipes::host_monitor::workload(rctx, p).await,
                        Workload::LogCollector(p) => zksim_sim::recipes::log_collector::workload(rctx, p).await,
                        Workload::Lock(p) => zksim_sim::recipes::lock::workload(rctx, p).await,
                        Workload::Election(p) => zksim_sim::recipes::election::workload(rctx, p).await,
                        Workload::Queue(p) => zksim_sim::recipes::queue::workload(rctx, p).await,
                        Workload::Rwlock(p) => zksim_sim::recipes::rwlock::workload(rctx, p).await,
                        Workload::Barrier(p) => zksim_sim::recipes::barrier::workload(rctx, p).await,
                        Workload::TaskCoord(p) => zksim_sim::recipes::task_coord::workload(rctx, p).await,
                    }
                }
            }),
        );
    }
    let recorder = world.recorder();
    let plan = materialize(scenario, seed);
    let (safety, liveness) = (scenario.phases.safety_ms, scenario.phases.liveness_ms);
    let max_timeout = scenario.clients.iter().map(|g| g.session_timeout_ms).max().unwrap_or(0);
    let ensemble = servers.clone();
    let driver_recorder = recorder.clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        world.run(move |nemesis: Nemesis| async move {
            let control = ControlClient::new();
            nemesis.set_expirer(control.expirer(ensemble.clone()));
            #[allow(clippy::disallowed_methods)] // madsim's Instant: simulated time
            let start = madsim::time::Instant::now();
            let mut skipped = Vec::new();
            for f in &plan {
                madsim::time::sleep_until(start + Duration::from_millis(f.at_ms)).await;
                if let Err(e) = apply(&nemesis, &f.fault, &driver_recorder).await {
                    skipped.push(format!("at {} ms, {:?}: {e}", f.at_ms, f.fault));
                }
            }
            madsim::time::sleep_until(start + Duration::from_millis(safety + liveness)).await;
            // Wind down: clients close their sessions; then let expiries and replication settle
            // before reading final states, so they compare like with like.
            stop.raise();
            madsim::time::sleep(Duration::from_millis(2 * max_timeout.max(1000) + 2000)).await;
            zksim_sim::client::complete_unfinished(&driver_recorder);
            control.record_final_states(&nemesis, &driver_recorder, &ensemble).await;
            skipped
        })
    }));
    let (error, skipped_faults) = match outcome {
        Ok((skipped, _)) => (None, skipped),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a simulated process panicked (no message)".into());
            (Some(msg), Vec::new())
        }
    };
    judge(scenario, seed, &servers, &clients, recorder, error, skipped_faults)
}

fn judge(
    scenario: &Scenario,
    seed: u64,
    servers: &[ServerId],
    clients: &[(ClientId, usize)],
    recorder: Recorder,
    error: Option<String>,
    skipped_faults: Vec<String>,
) -> RunOutput {
    let history = History {
        header: Header {
            format: HISTORY_FORMAT,
            scenario: scenario.name.clone(),
            seed,
            config_hash: config_hash(scenario),
            servers: servers.to_vec(),
            clients: clients.iter().map(|(c, _)| *c).collect(),
            tick_ms: scenario.ensemble.tick_ms,
        },
        records: recorder.take(),
    };
    let cfg = CheckConfig {
        strict_sync_reads: scenario.check.strict_sync_reads,
        require_caught_up: error.is_none(),
        fresh_server: true,
        max_violations: 20,
    };
    // The recipe checkers of locks, elections and queues read the committed log's node changes:
    // the model checker's replay records them as it goes, rather than a second replay.
    let needs_log = scenario
        .clients
        .iter()
        .any(|g| matches!(g.run, Workload::Lock(_) | Workload::Election(_) | Workload::Queue(_)));
    let (check, log) = if needs_log {
        let (check, log) = check_history_with_log(&history, &cfg);
        (check, Some(log))
    } else {
        (check_history(&history, &cfg), None)
    };
    let wanted =
        |name: &str| scenario.check.properties.is_empty() || scenario.check.properties.iter().any(|p| p == name);
    let mut properties: Vec<PropertyResult> =
        check.properties.iter().filter(|p| wanted(&p.name)).map(|p| convert(p, PropertyKind::Always)).collect();
    if wanted("clients-make-progress") && scenario.clients.iter().all(|g| matches!(g.run, Workload::Kv { .. })) {
        properties.push(progress_after_heal(scenario, &history));
    }
    // Recipe properties, once per distinct recipe instance in the scenario.
    let log = || log.as_ref().expect("the committed log is kept for lock, election and queue workloads");
    let mut recipe_reports: Vec<zksim_model::check::PropertyReport> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for g in &scenario.clients {
        match &g.run {
            Workload::Kv { .. } => {}
            Workload::Config(_) | Workload::Dns(_) | Workload::Naming(_) | Workload::HostMonitor(_) => {
                recipe_reports.extend(coordination_reports(scenario, &g.run, &history, &mut seen))
            }
            Workload::LogCollector(p) if seen.insert(format!("logs:{}", p.root)) => {
                recipe_reports.extend(zksim_model::recipes::log_collector::check(
                    &history,
                    &p.root,
                    p.sources,
                    p.dead_after_ms,
                    p.dead_after_ms + recipe_bound_ms(scenario),
                ));
                if p.strategy == zksim_sim::recipes::log_collector::Strategy::Local {
                    recipe_reports.push(zksim_model::recipes::log_collector::check_local_moves(
                        &history,
                        &p.root,
                        p.dead_after_ms,
                    ));
                }
            }
            Workload::Lock(p) if seen.insert(format!("lock:{}", p.path)) => recipe_reports
                .extend(zksim_model::recipes::locks::check_locks_on(&history, log(), &LockCheckConfig::default())),
            Workload::Election(p) if seen.insert(format!("election:{}", p.path)) => {
                recipe_reports.extend(zksim_model::recipes::election::check_election_on(&history, log()))
            }
            Workload::Queue(p) if seen.insert(format!("queue:{}", p.path)) => {
                recipe_reports.extend(zksim_model::recipes::queue::check_on(&history, log(), &p.path))
            }
            Workload::Rwlock(p) if seen.insert(format!("rwlock:{}", p.path)) => {
                recipe_reports.extend(zksim_model::recipes::rwlock::check_rwlock(&history))
            }
            Workload::Barrier(p) if seen.insert(format!("barrier:{}", p.path)) => {
                recipe_reports.extend(zksim_model::recipes::barrier::check(&history, &p.path, p.needed))
            }
            Workload::TaskCoord(p) if seen.insert(format!("tasks:{}", p.root)) => recipe_reports
                .extend(zksim_model::recipes::task_coord::check(&history, &p.root, recipe_bound_ms(scenario))),
            _ => {}
        }
    }
    for p in recipe_reports.iter().filter(|p| wanted(&p.name)) {
        properties.push(convert(p, PropertyKind::Always));
    }
    let coverage = coverage::goals(&history);
    let herd = herd_figures(scenario, &history);
    RunOutput { history, check, properties, coverage, herd, error, skipped_faults }
}

/// A model-checker property report as the reports show it (safety unless named `*-liveness`).
pub fn property_result(p: &zksim_model::check::PropertyReport) -> PropertyResult {
    convert(p, PropertyKind::Always)
}

/// Herd-effect figures of the scenario's lock (unprefixed, as before), queue (`queue_…`) and
/// barrier (`barrier_…`) recipes.
fn herd_figures(scenario: &Scenario, history: &History) -> BTreeMap<String, f64> {
    let mut herd = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for g in &scenario.clients {
        match &g.run {
            Workload::Lock(_) if seen.insert("lock".to_string()) => {
                herd.extend(zksim_model::recipes::locks::herd_figures(history))
            }
            Workload::Queue(p) if seen.insert(format!("queue:{}", p.path)) => {
                herd.extend(zksim_model::recipes::queue::herd_figures(history, &p.path))
            }
            Workload::Barrier(p) if seen.insert(format!("barrier:{}", p.path)) => {
                herd.extend(zksim_model::recipes::barrier::herd_figures(history, &p.path))
            }
            Workload::TaskCoord(p) if seen.insert(format!("tasks:{}", p.root)) => {
                herd.extend(zksim_model::recipes::task_coord::herd_figures(history, &p.root))
            }
            _ => {}
        }
    }
    herd
}

/// A model-checker property report as the reports show it.
fn convert(p: &zksim_model::check::PropertyReport, kind: PropertyKind) -> PropertyResult {
    let (verdict, violations) = match &p.verdict {
        CheckVerdict::Pass => (Verdict::Pass, vec![]),
        CheckVerdict::Fail { violations, .. } => (
            Verdict::Fail,
            violations
                .iter()
                .map(|v| Violation {
                    summary: v.summary.clone(),
                    explanation: v.to_string(),
                    ops: v.ops.iter().map(|o| o.op_id).collect(),
                    times_ns: {
                        let mut t: Vec<u64> =
                            v.ops.iter().map(|o| o.invoked.0).chain(v.records.iter().map(|r| r.time.0)).collect();
                        t.sort_unstable();
                        t.dedup();
                        t
                    },
                })
                .collect(),
        ),
        CheckVerdict::Unknown { .. } => (Verdict::Unknown, vec![]),
        CheckVerdict::NotApplicable { .. } => (Verdict::NotApplicable, vec![]),
    };
    // Liveness properties are named so; everything else the checkers report is safety.
    let eventually = p.name.ends_with("-liveness") || p.name.ends_with("-converges");
    let kind = if eventually { PropertyKind::Eventually } else { kind };
    PropertyResult { name: p.name.clone(), kind, verdict, violations }
}

/// How long after the last fault a recipe's view may take to converge: two session timeouts
/// (an expired session's ephemerals leave the log within one) plus reaction and resync time.
fn recipe_bound_ms(scenario: &Scenario) -> u64 {
    let max_timeout = scenario.clients.iter().map(|g| g.session_timeout_ms).max().unwrap_or(0);
    2 * max_timeout + 4_000
}

/// The properties of a config, DNS, naming or host-monitoring instance, the first time `seen`
/// meets it.
fn coordination_reports(
    scenario: &Scenario,
    run: &Workload,
    history: &History,
    seen: &mut std::collections::BTreeSet<String>,
) -> Vec<zksim_model::check::PropertyReport> {
    use zksim_model::recipes::{config, host_monitor, naming};
    let bound = recipe_bound_ms(scenario);
    match run {
        Workload::Config(p) if seen.insert(format!("config:{}", p.path)) => config::check(history, &p.path, bound),
        Workload::Dns(p) if seen.insert(format!("dns:{}", p.path)) => config::check_dns(history, &p.path, bound),
        Workload::Naming(p) if seen.insert(format!("naming:{}", p.path)) => naming::check(history, &p.path),
        Workload::HostMonitor(p) if seen.insert(format!("hosts:{}", p.root)) => {
            host_monitor::check(history, &p.root, bound)
        }
        _ => Vec::new(),
    }
}

/// Liveness: once every fault is healed (the safety phase is over) and the service had time
/// to elect and reconnect, every client completes an operation successfully.
fn progress_after_heal(scenario: &Scenario, history: &History) -> PropertyResult {
    let max_timeout = scenario.clients.iter().map(|g| g.session_timeout_ms).max().unwrap_or(0);
    let grace_ms = 2 * max_timeout + 5_000;
    let from = scenario.phases.safety_ms + grace_ms;
    let to = scenario.phases.safety_ms + scenario.phases.liveness_ms;
    let name = "clients-make-progress".to_string();
    if to <= from + 1_000 || history.header.clients.is_empty() {
        return PropertyResult {
            name,
            kind: PropertyKind::Eventually,
            verdict: Verdict::NotApplicable,
            violations: vec![],
        };
    }
    let mut invoked: BTreeMap<zksim_model::OpId, ClientId> = BTreeMap::new();
    let mut progressed: BTreeMap<ClientId, bool> = history.header.clients.iter().map(|c| (*c, false)).collect();
    for r in &history.records {
        match &r.event {
            Event::Invoke { op_id, client, .. } => {
                invoked.insert(*op_id, *client);
            }
            Event::Complete { op_id, outcome, .. } => {
                let t = r.time.as_millis();
                if t >= from
                    && t <= to
                    && !outcome.is_indeterminate()
                    && outcome.error() != Some(ErrorCode::ConnectionLoss)
                {
                    if let Some(c) = invoked.get(op_id) {
                        progressed.insert(*c, true);
                    }
                }
            }
            _ => {}
        }
    }
    let stuck: Vec<String> = progressed.iter().filter(|(_, ok)| !**ok).map(|(c, _)| c.to_string()).collect();
    if stuck.is_empty() {
        return PropertyResult { name, kind: PropertyKind::Eventually, verdict: Verdict::Pass, violations: vec![] };
    }
    PropertyResult {
        name,
        kind: PropertyKind::Eventually,
        verdict: Verdict::Fail,
        violations: vec![Violation {
            summary: format!("{} client(s) completed no operation after every fault healed", stuck.len()),
            explanation: format!(
                "clients {} got no definite answer between {from} ms (safety phase end + {grace_ms} ms grace) and {to} ms",
                stuck.join(", ")
            ),
            ops: vec![],
            // The liveness window's start: from there on, the stuck clients did nothing.
            times_ns: vec![from * 1_000_000],
        }],
    }
}

/// Applies one planned fault.
async fn apply(nemesis: &Nemesis, fault: &FaultSpec, recorder: &Recorder) -> Result<(), NemesisError> {
    match fault {
        FaultSpec::Partition { groups } => nemesis.partition(groups.clone()),
        FaultSpec::PartitionOneWay { from, to } => nemesis.partition_one_way(from.clone(), to.clone()),
        FaultSpec::Isolate { node } => nemesis.isolate(*node),
        FaultSpec::Heal {} => {
            nemesis.heal();
            Ok(())
        }
        FaultSpec::Crash { node, torn } => nemesis.crash(*node, *torn),
        FaultSpec::Restart { node } => nemesis.restart(*node),
        FaultSpec::Pause { node } => nemesis.pause(*node),
        FaultSpec::Resume { node } => nemesis.resume(*node),
        FaultSpec::SetLossRate { rate } => nemesis.set_loss_rate(*rate),
        FaultSpec::SetLatency { latency_ms_min, latency_ms_max } => {
            nemesis.set_latency(*latency_ms_min, *latency_ms_max);
            Ok(())
        }
        FaultSpec::ExpireSession { client } => {
            let Node::Client(c) = client else {
                return Err(NemesisError::Expiry(format!("{client} is not a client")));
            };
            // The client's current session: the last one it connected with and that has not ended.
            let current = recorder.inspect(|records| {
                let mut current = None;
                for r in records {
                    if let Event::Session { client: who, session, state, .. } = r.event {
                        if who == *c {
                            match state {
                                SessionState::SyncConnected => current = Some(session),
                                SessionState::Expired | SessionState::Closed => current = None,
                                SessionState::Disconnected => {}
                            }
                        }
                    }
                }
                current
            });
            let session = current.ok_or_else(|| NemesisError::Expiry(format!("{client} has no live session")))?;
            nemesis.expire_session(session).await
        }
    }
}

/// The `kv` workload: random operations from [`KvGen`], `pipeline` at a time (sent together,
/// awaited together), a new session whenever one expires.
async fn kv_workload(mut ctx: RecipeCtx, mut gen: KvGen, think_ms: u64, pipeline: u32) {
    while let Some(zk) = ctx.new_session().await {
        let _ = zk.execute(KvGen::setup()).await;
        loop {
            if ctx.stop.raised() {
                let _ = zk.close().await;
                return;
            }
            let pause = ctx.rng.gen_range(0..=2 * think_ms);
            ctx.sleep_ms(pause).await;
            let ops: Vec<_> = (0..pipeline.max(1)).map(|_| gen.next(ctx.client.0, &mut ctx.rng)).collect();
            // join_all polls in order, so the requests are submitted (numbered) in draw order.
            let outs = futures::future::join_all(ops.into_iter().map(|op| zk.execute(op))).await;
            if outs.iter().any(|o| matches!(o, Outcome::Err { code: ErrorCode::SessionExpired })) {
                zk.abandon();
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use zksim_model::{Op, OpId, OpResult, Record, SessionId, SimTime};

    fn scenario() -> Scenario {
        let text = "[[clients]]\ncount = 2\nsession_timeout_ms = 1000\nrun = { kind = \"kv\" }\n\
                    [phases]\nsafety_ms = 5000\nliveness_ms = 20000\n";
        Scenario::parse(Path::new("t.toml"), text).unwrap()
    }

    fn history(completing: &[u32]) -> History {
        let mut records = Vec::new();
        for (i, c) in completing.iter().enumerate() {
            let op_id = OpId(i as u64 + 1);
            let t = SimTime::from_millis(15_000 + i as u64);
            records.push(Record {
                time: t,
                event: Event::Invoke {
                    op_id,
                    client: ClientId(*c),
                    session: SessionId(*c as u64),
                    xid: 1,
                    op: Op::Sync { path: "/".into() },
                },
            });
            records.push(Record {
                time: t,
                event: Event::Complete {
                    op_id,
                    outcome: Outcome::Ok { value: OpResult::Synced { path: "/".into() } },
                    zxid: None,
                    server: None,
                },
            });
        }
        History {
            header: Header {
                format: HISTORY_FORMAT,
                scenario: "t".into(),
                seed: 0,
                config_hash: String::new(),
                servers: vec![ServerId(1)],
                clients: vec![ClientId(1), ClientId(2)],
                tick_ms: 100,
            },
            records,
        }
    }

    #[test]
    fn progress_after_heal_fails_naming_the_stuck_client() {
        let p = progress_after_heal(&scenario(), &history(&[1]));
        assert_eq!(p.verdict, Verdict::Fail);
        assert!(p.violations[0].explanation.contains("c2"), "{}", p.violations[0].explanation);
        assert!(!p.violations[0].explanation.contains("c1,"), "c1 made progress");
    }

    #[test]
    fn progress_after_heal_passes_when_every_client_completes() {
        assert_eq!(progress_after_heal(&scenario(), &history(&[1, 2])).verdict, Verdict::Pass);
    }
}
