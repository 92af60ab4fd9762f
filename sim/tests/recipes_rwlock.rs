//! The shared (read/write) lock on the real replicated service: the correct recipe keeps
//! writers exclusive and stays live; a reader waiting on a later writer (planted bug
//! `kazoo-649-read-waits-later-writer`) deadlocks and fails `rwlock-liveness`.

use std::time::Duration;
use zksim_model::check::{PropertyReport, Verdict};
use zksim_model::history::{Header, RecipeAction, HISTORY_FORMAT};
use zksim_model::recipes::locks::LockCheckConfig;
use zksim_model::recipes::rwlock::check_rwlock_with;
use zksim_model::{Bug, BugSet, ClientId, Event, History};
use zksim_sim::client::complete_unfinished;
use zksim_sim::recipes::rwlock::{workload, RwLockParams};
use zksim_sim::recipes::{RecipeCtx, StopSignal};
use zksim_sim::server::testkit::{ensemble, world_with_servers, ClientNode};
use zksim_sim::{Nemesis, Seeds, WorldConfig};

const CLIENTS: u32 = 10;

fn run(seed: u64, bugs: BugSet, run_ms: u64) -> History {
    let world = world_with_servers(WorldConfig::with_seed(seed), 3, |_| {});
    let (_, rec) = world.run(move |nemesis: Nemesis| async move {
        let recorder = nemesis.recorder().clone();
        let stop = StopSignal::new();
        let seeds = Seeds::new(seed);
        let mut tasks = Vec::new();
        for id in 1..=CLIENTS {
            let ctx = RecipeCtx {
                client: ClientId(id),
                servers: ensemble(3),
                session_timeout_ms: 4_000,
                recorder: recorder.clone(),
                rng: seeds.stream(&format!("rwlock/c{id}")),
                incarnation: 0,
                stop: stop.clone(),
                bugs,
            };
            let params = RwLockParams::default();
            let node = ClientNode::new(id);
            tasks.push(madsim::task::spawn(async move { node.run(workload(ctx, params)).await }));
        }
        madsim::time::sleep(Duration::from_millis(run_ms)).await;
        stop.raise();
        for t in tasks {
            let _ = madsim::time::timeout(Duration::from_secs(20), t).await;
        }
        complete_unfinished(&recorder);
    });
    History {
        header: Header {
            format: HISTORY_FORMAT,
            scenario: format!("rwlock-{bugs:?}"),
            seed,
            config_hash: String::new(),
            servers: ensemble(3),
            clients: (1..=CLIENTS).map(ClientId).collect(),
            tick_ms: 0,
        },
        records: rec.take(),
    }
}

fn count(h: &History, write: bool) -> usize {
    h.records
        .iter()
        .filter(|r| {
            matches!(&r.event, Event::Recipe { note, .. }
            if matches!(&note.action, RecipeAction::Acquired { node, .. } if node.contains("W-") == write))
        })
        .count()
}

fn report<'a>(reports: &'a [PropertyReport], name: &str) -> &'a PropertyReport {
    reports.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no report {name}"))
}

const BOUND: LockCheckConfig = LockCheckConfig { liveness_bound_ms: 6_000 };

#[test]
fn correct_rwlock_is_exclusive_for_writers_and_live() {
    let h = run(41, BugSet::NONE, 12_000);
    assert!(count(&h, true) >= 5 && count(&h, false) >= 5, "reads {} writes {}", count(&h, false), count(&h, true));
    let reports = check_rwlock_with(&h, &BOUND);
    for name in ["rwlock-exclusive", "rwlock-liveness"] {
        let r = report(&reports, name);
        assert!(matches!(r.verdict, Verdict::Pass), "{name} should pass: {r:?}");
        assert!(r.checked > 0, "{name} checked nothing");
    }
}

#[test]
fn reader_waiting_on_a_later_writer_deadlocks() {
    let h = run(42, BugSet::of(&[Bug::ReadWaitsLaterWriter]), 12_000);
    let reports = check_rwlock_with(&h, &BOUND);
    let r = report(&reports, "rwlock-liveness");
    let Verdict::Fail { violations, .. } = &r.verdict else { panic!("rwlock-liveness should fail: {r:?}") };
    eprintln!("kazoo-649-read-waits-later-writer: {}", violations[0].summary);
}
