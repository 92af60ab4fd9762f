//! Shared driver for the coordination-recipe tests: an ensemble, client nodes each running a
//! recipe workload (as world processes, so the nemesis can pause or isolate them), one fault,
//! a settle (liveness) phase, then stop and the history.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use zksim_model::history::HISTORY_FORMAT;
use zksim_model::{ClientId, Event, Header, History, Node, ServerId, SessionState};
use zksim_sim::client::complete_unfinished;
use zksim_sim::recipes::{RecipeCtx, StopSignal};
use zksim_sim::server::control::ControlClient;
use zksim_sim::server::testkit::{ensemble, world_with_servers};
use zksim_sim::{process, WorldConfig};

/// What a client node runs.
pub type Workload = Arc<dyn Fn(RecipeCtx) -> Pin<Box<dyn Future<Output = ()>>> + Send + Sync>;

/// Wraps an async workload function and its params.
pub fn workload<P, F, Fut>(params: P, f: F) -> Workload
where
    P: Clone + Send + Sync + 'static,
    F: Fn(RecipeCtx, P) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    Arc::new(move |ctx| Box::pin(f(ctx, params.clone())))
}

/// The one fault of a test.
#[derive(Clone, Copy, Debug)]
pub enum FaultPlan {
    None,
    /// Crash server `s<n>`, restart it after the fault's duration.
    CrashRestart(u32),
    /// Isolate server `s<n>` from everyone, then heal.
    IsolateServer(u32),
    /// Pause client `c<n>` (past its session timeout when the duration says so), then resume.
    PauseClient(u32),
    /// Ask the service to expire client `c<n>`'s current session.
    ExpireClient(u32),
    /// Crash client node `c<n>` (its process is gone), restart it after the fault's duration
    /// (the process starts again from scratch, with `incarnation` 1).
    CrashClient(u32),
}

/// A test run.
pub struct Plan {
    pub seed: u64,
    pub servers: u32,
    pub session_timeout_ms: u64,
    pub clients: Vec<(u32, Workload)>,
    pub fault: FaultPlan,
    pub fault_at_ms: u64,
    pub fault_for_ms: u64,
    /// The liveness phase: time after the fault heals before stop is raised.
    pub settle_ms: u64,
}

/// Runs the plan with no planted bug; returns the history.
pub fn run(plan: Plan) -> History {
    run_with_bugs(plan, zksim_model::BugSet::NONE)
}

/// Runs the plan with the planted bugs `bugs` switched on; returns the history.
pub fn run_with_bugs(plan: Plan, bugs: zksim_model::BugSet) -> History {
    let mut world = world_with_servers(WorldConfig::with_seed(plan.seed), plan.servers, |_| {});
    let stop = StopSignal::new();
    let finished = Arc::new(AtomicU32::new(0));
    let servers = ensemble(plan.servers);
    let clients: Vec<ClientId> = plan.clients.iter().map(|(c, _)| ClientId(*c)).collect();
    for (c, w) in &plan.clients {
        let (w, stop, finished, servers) = (w.clone(), stop.clone(), finished.clone(), servers.clone());
        let timeout = plan.session_timeout_ms;
        let id = ClientId(*c);
        world.add_node(
            Node::Client(id),
            process(move |pctx| {
                let ctx = RecipeCtx {
                    client: id,
                    servers: servers.clone(),
                    session_timeout_ms: timeout,
                    recorder: pctx.recorder.clone(),
                    rng: pctx.seeds.stream(&format!("{}/recipe/{}", pctx.node, pctx.incarnation)),
                    incarnation: pctx.incarnation,
                    stop: stop.clone(),
                    bugs,
                };
                let (w, finished) = (w.clone(), finished.clone());
                async move {
                    w(ctx).await;
                    finished.fetch_add(1, Ordering::Relaxed);
                }
            }),
        );
    }
    let n_clients = plan.clients.len() as u32;
    let (_, rec) = world.run(|nemesis| async move {
        let control = ControlClient::new();
        nemesis.set_expirer(control.expirer(servers.clone()));
        let sleep = |ms| madsim::time::sleep(Duration::from_millis(ms));
        sleep(plan.fault_at_ms).await;
        match plan.fault {
            FaultPlan::None => {}
            FaultPlan::CrashRestart(s) => nemesis.crash(Node::Server(ServerId(s)), false).expect("crash"),
            FaultPlan::IsolateServer(s) => nemesis.isolate(Node::Server(ServerId(s))).expect("isolate"),
            FaultPlan::PauseClient(c) => nemesis.pause(Node::Client(ClientId(c))).expect("pause"),
            FaultPlan::CrashClient(c) => nemesis.crash(Node::Client(ClientId(c)), false).expect("crash"),
            FaultPlan::ExpireClient(c) => {
                let session = nemesis.recorder().snapshot().iter().rev().find_map(|r| match &r.event {
                    Event::Session { client, session, state: SessionState::SyncConnected, .. }
                        if *client == ClientId(c) =>
                    {
                        Some(*session)
                    }
                    _ => None,
                });
                if let Some(s) = session {
                    let _ = nemesis.expire_session(s).await;
                }
            }
        }
        sleep(plan.fault_for_ms).await;
        match plan.fault {
            FaultPlan::CrashRestart(s) => nemesis.restart(Node::Server(ServerId(s))).expect("restart"),
            FaultPlan::IsolateServer(_) => nemesis.heal(),
            FaultPlan::PauseClient(c) => nemesis.resume(Node::Client(ClientId(c))).expect("resume"),
            FaultPlan::CrashClient(c) => nemesis.restart(Node::Client(ClientId(c))).expect("restart"),
            _ => {}
        }
        sleep(plan.settle_ms).await;
        stop.raise();
        for _ in 0..200 {
            if finished.load(Ordering::Relaxed) == n_clients {
                break;
            }
            sleep(100).await;
        }
        control.record_final_states(&nemesis, nemesis.recorder(), &servers).await;
        complete_unfinished(nemesis.recorder());
    });
    History {
        header: Header {
            format: HISTORY_FORMAT,
            scenario: "recipe-test".into(),
            seed: plan.seed,
            config_hash: String::new(),
            servers: ensemble(plan.servers),
            clients,
            tick_ms: 100,
        },
        records: rec.take(),
    }
}

/// Panics unless every report passed, printing the failures.
pub fn assert_pass(what: &str, reports: &[zksim_model::check::PropertyReport]) {
    for r in reports {
        assert!(
            matches!(r.verdict, zksim_model::check::Verdict::Pass),
            "{what}: property {} did not pass: {:#?}",
            r.name,
            r.verdict
        );
    }
}

/// The report named `name`, which must exist.
pub fn named<'a>(
    reports: &'a [zksim_model::check::PropertyReport],
    name: &str,
) -> &'a zksim_model::check::PropertyReport {
    reports.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no property {name}"))
}

/// True when the report failed; its violations' summaries.
pub fn failures(r: &zksim_model::check::PropertyReport) -> Vec<String> {
    match &r.verdict {
        zksim_model::check::Verdict::Fail { violations, .. } => violations.iter().map(|v| v.summary.clone()).collect(),
        _ => vec![],
    }
}
