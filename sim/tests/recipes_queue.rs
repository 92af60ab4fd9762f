//! FIFO queue on the real ensemble: exactly-once processing under a server crash and a client
//! pause past its session timeout; the planted bugs are caught.

mod recipe_support;

use recipe_support::{assert_pass, failures, named, run, run_with_bugs, workload, FaultPlan, Plan};
use zksim_model::history::RecipeAction;
use zksim_model::recipes::queue::check;
use zksim_model::{Bug, BugSet, Event};
use zksim_sim::recipes::queue::{self, QueueParams, QueueRole, QueueVariant};

fn plan(seed: u64, variant: QueueVariant, fault: FaultPlan) -> Plan {
    let mut clients = Vec::new();
    for c in 1..=12u32 {
        let role = if c <= 5 { QueueRole::Producer } else { QueueRole::Consumer };
        let p = QueueParams { role, variant, items: 12, ..QueueParams::default() };
        clients.push((c, workload(p, queue::workload)));
    }
    Plan {
        seed,
        servers: 3,
        session_timeout_ms: 1_500,
        clients,
        fault,
        fault_at_ms: 1_500,
        fault_for_ms: 2_500,
        settle_ms: 3_000,
    }
}

#[test]
fn queue_is_fifo_exactly_once_under_server_crash() {
    for seed in 0..2 {
        let h = run(plan(seed, QueueVariant::Correct, FaultPlan::CrashRestart(1)));
        let reports = check(&h, "/queue");
        assert_pass(&format!("seed {seed}"), &reports);
        assert!(named(&reports, "queue-no-loss").checked >= 60, "seed {seed}: 60 items judged: {reports:?}");
    }
}

#[test]
fn queue_is_fifo_exactly_once_when_a_consumer_pauses_past_its_session() {
    let h = run(plan(7, QueueVariant::Correct, FaultPlan::PauseClient(8)));
    assert_pass("pause", &check(&h, "/queue"));
}

#[test]
fn a_producer_restarted_after_a_crash_resumes_where_it_was() {
    // standard seed 6: a producer's node crashed mid-way; its restarted process enqueued its
    // items from 0 again (queue-no-duplicate: every item before the crash enqueued twice).
    for seed in 0..2 {
        let mut p = plan(seed, QueueVariant::Correct, FaultPlan::CrashClient(1));
        for (_, w) in p.clients.iter_mut().take(5) {
            let params =
                QueueParams { role: QueueRole::Producer, items: 40, produce_period_ms: 50, ..QueueParams::default() };
            *w = workload(params, queue::workload);
        }
        p.fault_for_ms = 1_000;
        p.settle_ms = 8_000;
        let h = run(p);
        let crash = h.records.iter().find(|r| matches!(r.event, Event::Fault { .. })).expect("crashed").time;
        let (before, after): (Vec<_>, Vec<_>) = h
            .records
            .iter()
            .filter(|r| {
                matches!(&r.event, Event::Recipe { client, note, .. }
                    if client.0 == 1 && matches!(note.action, RecipeAction::Produced { .. }))
            })
            .partition(|r| r.time < crash);
        assert!(
            !before.is_empty() && !after.is_empty(),
            "seed {seed}: c1 produced {} then {}",
            before.len(),
            after.len()
        );
        let reports = check(&h, "/queue");
        assert_pass(&format!("seed {seed}"), &reports);
        assert!(named(&reports, "queue-no-loss").checked >= 200, "seed {seed}: 200 items judged: {reports:?}");
    }
}

#[test]
fn unchecked_delete_is_caught_as_double_delivery() {
    let h = run_with_bugs(plan(3, QueueVariant::Correct, FaultPlan::None), BugSet::of(&[Bug::QueueDeleteUnchecked]));
    let reports = check(&h, "/queue");
    let f = failures(named(&reports, "queue-no-duplicate"));
    assert!(!f.is_empty(), "double delivery caught: {reports:#?}");
    assert!(f[0].contains("was processed 2 times") || f[0].contains("times: by"), "{f:?}");
}

#[test]
fn blind_produce_retry_is_caught_as_duplicate_enqueue() {
    let mut caught = Vec::new();
    for seed in 0..4 {
        let h = run(plan(seed, QueueVariant::BrokenRetryProduce, FaultPlan::CrashRestart(1)));
        let reports = check(&h, "/queue");
        caught.extend(failures(named(&reports, "queue-no-duplicate")));
        if !caught.is_empty() {
            break;
        }
    }
    assert!(caught.iter().any(|s| s.contains("was enqueued 2 times")), "duplicate enqueue caught: {caught:?}");
}
