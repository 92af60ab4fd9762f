//! Master election on the real replicated service: the correct variants keep one leader per
//! term with no overlapping terms and elect a new leader after the leader's session expires;
//! the planted bug `curator-696-leader-old-node` fails `election-unique`.

use std::time::Duration;
use zksim_model::check::{PropertyReport, Verdict};
use zksim_model::history::{Header, RecipeAction, HISTORY_FORMAT};
use zksim_model::recipes::election::check_election;
use zksim_model::{Bug, BugSet, ClientId, Event, History, Record, SessionId};
use zksim_sim::client::complete_unfinished;
use zksim_sim::recipes::election::{workload, ElectionParams, ElectionVariant};
use zksim_sim::recipes::{RecipeCtx, StopSignal};
use zksim_sim::server::control::ControlClient;
use zksim_sim::server::testkit::{ensemble, world_with_servers, ClientNode};
use zksim_sim::{Nemesis, Seeds, WorldConfig};

const CLIENTS: u32 = 10;

fn run(seed: u64, variant: ElectionVariant, bugs: BugSet, run_ms: u64) -> History {
    let world = world_with_servers(WorldConfig::with_seed(seed), 3, |_| {});
    let (_, rec) = world.run(move |nemesis: Nemesis| async move {
        let recorder = nemesis.recorder().clone();
        let control = ControlClient::new();
        nemesis.set_expirer(control.expirer(ensemble(3)));
        let stop = StopSignal::new();
        let seeds = Seeds::new(seed);
        let mut tasks = Vec::new();
        for id in 1..=CLIENTS {
            let ctx = RecipeCtx {
                client: ClientId(id),
                servers: ensemble(3),
                session_timeout_ms: 4_000,
                recorder: recorder.clone(),
                rng: seeds.stream(&format!("election/c{id}")),
                incarnation: 0,
                stop: stop.clone(),
                bugs,
            };
            let params = ElectionParams { variant, ..ElectionParams::default() };
            let node = ClientNode::new(id);
            tasks.push(madsim::task::spawn(async move { node.run(workload(ctx, params)).await }));
        }
        madsim::time::sleep(Duration::from_millis(run_ms / 3)).await;
        // Expire the current leader's session.
        if let Some(leader) = leader(&recorder.snapshot()) {
            let _ = nemesis.expire_session(leader).await;
        }
        madsim::time::sleep(Duration::from_millis(run_ms * 2 / 3)).await;
        stop.raise();
        for t in tasks {
            let _ = madsim::time::timeout(Duration::from_secs(20), t).await;
        }
        complete_unfinished(&recorder);
    });
    History {
        header: Header {
            format: HISTORY_FORMAT,
            scenario: format!("election-{variant:?}"),
            seed,
            config_hash: String::new(),
            servers: ensemble(3),
            clients: (1..=CLIENTS).map(ClientId).collect(),
            tick_ms: 0,
        },
        records: rec.take(),
    }
}

fn leader(records: &[Record]) -> Option<SessionId> {
    records.iter().rev().find_map(|r| match &r.event {
        Event::Recipe { session, note, .. } if matches!(note.action, RecipeAction::Leading { .. }) => Some(*session),
        _ => None,
    })
}

fn terms(h: &History) -> usize {
    h.records
        .iter()
        .filter(
            |r| matches!(&r.event, Event::Recipe { note, .. } if matches!(note.action, RecipeAction::Leading { .. })),
        )
        .count()
}

fn report<'a>(reports: &'a [PropertyReport], name: &str) -> &'a PropertyReport {
    reports.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no report {name}"))
}

#[test]
fn correct_elections_keep_one_leader_and_recover_from_leader_expiry() {
    for (seed, variant) in [(11, ElectionVariant::HotStandby), (12, ElectionVariant::EphemeralMaster)] {
        let h = run(seed, variant, BugSet::NONE, 12_000);
        let ctx = format!("{variant:?} seed {seed}");
        assert!(terms(&h) >= 5, "{ctx}: leadership changed hands: {} terms", terms(&h));
        let reports = check_election(&h);
        for name in ["election-unique", "election-liveness"] {
            let r = report(&reports, name);
            assert!(matches!(r.verdict, Verdict::Pass), "{ctx}: {name} should pass: {r:?}");
            assert!(r.checked > 0, "{ctx}: {name} checked nothing");
        }
    }
}

#[test]
fn stale_leader_after_expiry_breaks_uniqueness() {
    let h = run(13, ElectionVariant::HotStandby, BugSet::of(&[Bug::LeaderOnOldNode]), 12_000);
    let reports = check_election(&h);
    let r = report(&reports, "election-unique");
    let Verdict::Fail { violations, .. } = &r.verdict else { panic!("election-unique should fail: {r:?}") };
    eprintln!("curator-696-leader-old-node: {}", violations[0].summary);
    assert!(violations[0].summary.contains("kept believing"), "{}", violations[0].summary);
}
