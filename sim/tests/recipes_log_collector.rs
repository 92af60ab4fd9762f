//! Log-collector assignment on the real ensemble: 2 master candidates and 10 collectors; a
//! collector paused past its session timeout is declared dead and its sources move (local and
//! global reassignment), overloaded collectors give sources back, a server crash changes
//! nothing; the planted bug `log-assign-ephemeral` (assignments in ephemeral nodes) loses
//! sources when a collector's session ends, and the properties say so.

mod recipe_support;

use recipe_support::{assert_pass, failures, named, run, run_with_bugs, workload, FaultPlan, Plan};
use zksim_model::history::RecipeAction;
use zksim_model::recipes::log_collector::{check, check_local_moves};
use zksim_model::{Bug, BugSet, Event};
use zksim_sim::recipes::log_collector::{self, LogCollectorParams, LogRole, Strategy};

const SOURCES: u32 = 12;
const DEAD_AFTER_MS: u64 = 800;
const BOUND_MS: u64 = 4_000;

/// c1, c2: master candidates; c3..c12 collectors, of which c10 and c11 (the first two in name
/// order, so the first a round-robin regroup fills) keep at most `small_capacity` sources.
fn plan(seed: u64, strategy: Strategy, small_capacity: u32, fault: FaultPlan) -> Plan {
    let clients = (1..=12u32)
        .map(|c| {
            let role = if c <= 2 { LogRole::Master } else { LogRole::Collector };
            let p = LogCollectorParams {
                role,
                strategy,
                capacity: if c == 10 || c == 11 { small_capacity } else { 0 },
                sources: SOURCES,
                dead_after_ms: DEAD_AFTER_MS,
                ..LogCollectorParams::default()
            };
            (c, workload(p, log_collector::workload))
        })
        .collect();
    Plan {
        seed,
        servers: 3,
        session_timeout_ms: 1_500,
        clients,
        fault,
        fault_at_ms: 2_000,
        fault_for_ms: 3_000,
        settle_ms: 5_000,
    }
}

fn checked(h: &zksim_model::History) -> Vec<zksim_model::check::PropertyReport> {
    check(h, "/logs", SOURCES, DEAD_AFTER_MS, BOUND_MS)
}

fn declared_dead(h: &zksim_model::History, who: &str) -> bool {
    h.records.iter().any(|r| {
        matches!(&r.event, Event::Recipe { note, .. }
            if matches!(&note.action, RecipeAction::DeclaredDead { collector } if collector == who))
    })
}

#[test]
fn local_reassignment_moves_a_paused_collectors_sources() {
    for seed in 0..2 {
        let h = run(plan(seed, Strategy::Local, 0, FaultPlan::PauseClient(5)));
        let r = checked(&h);
        assert_pass(&format!("seed {seed}"), &r);
        assert!(declared_dead(&h, "c5"), "seed {seed}: the paused collector c5 was declared dead");
        assert!(named(&r, "logs-assign-durable").checked >= 5, "seed {seed}: {r:?}");
        let minimal = check_local_moves(&h, "/logs", DEAD_AFTER_MS);
        assert_pass(&format!("seed {seed} local moves"), std::slice::from_ref(&minimal));
        assert!(minimal.checked >= 1, "seed {seed}: the returning c5 took sources from someone: {minimal:?}");
    }
}

#[test]
fn global_reassignment_with_overloaded_collectors_giving_back() {
    // The capacity-blind regroup gives c10 and c11 two sources each; they keep one and give
    // the other back, and the master hands those to collectors with room.
    let h = run(plan(4, Strategy::Global, 1, FaultPlan::ExpireClient(4)));
    assert_pass("global", &checked(&h));
    let gave_back = h.records.iter().any(|r| {
        matches!(&r.event, Event::Recipe { client, note, .. }
            if client.0 == 10 && matches!(&note.action, RecipeAction::Assigned { collector, .. } if collector == "pool"))
    });
    assert!(gave_back, "the overloaded collector c10 gave a source back");
}

#[test]
fn assignment_survives_a_master_side_server_crash() {
    let h = run(plan(2, Strategy::Local, 0, FaultPlan::CrashRestart(1)));
    assert_pass("crash", &checked(&h));
}

#[test]
fn ephemeral_assignments_are_caught_losing_sources() {
    let h =
        run_with_bugs(plan(1, Strategy::Local, 0, FaultPlan::ExpireClient(5)), BugSet::of(&[Bug::LogAssignEphemeral]));
    let r = checked(&h);
    let lost = failures(named(&r, "logs-assign-durable"));
    assert!(
        lost.iter().any(|s| s.contains("was lost") && s.contains("ended (an ephemeral node)")),
        "the durability property names the session end that dropped the sources: {r:#?}"
    );
    assert!(!failures(named(&r, "logs-assign-liveness")).is_empty(), "lost sources are never reassigned: {r:#?}");
    assert!(failures(named(&r, "logs-assign-exclusive")).is_empty(), "{r:#?}");
}

#[test]
fn a_newcomer_taking_from_the_first_collectors_is_caught() {
    // c5 comes back from its pause empty-handed and takes its share from the first collectors
    // in name order (c10 sorts first), emptying them, instead of from the most loaded.
    let h = run_with_bugs(
        plan(0, Strategy::Local, 0, FaultPlan::PauseClient(5)),
        BugSet::of(&[Bug::LogRebalanceFromFirst]),
    );
    let r = check_local_moves(&h, "/logs", DEAD_AFTER_MS);
    let f = failures(&r);
    assert!(
        f.iter().any(|s| s.contains("live collector c10 gave") && s.contains("to other collectors and kept 0")),
        "the property names the live donor left below the most loaded: {r:#?}"
    );
    assert_pass("the assignment itself stays exclusive and durable", &checked(&h)[..2]);
}
