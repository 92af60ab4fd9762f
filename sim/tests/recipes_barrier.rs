//! Double barrier on the real ensemble: nobody passes before n members entered, everyone
//! passes and leaves, with a member paused past its session timeout or a server isolated;
//! passing at n−1 is caught.

mod recipe_support;

use recipe_support::{assert_pass, failures, named, run, run_with_bugs, workload, FaultPlan, Plan};
use zksim_model::recipes::barrier::check;
use zksim_model::{Bug, BugSet};
use zksim_sim::recipes::barrier::{self, BarrierParams};

const N: u32 = 10;

fn plan(seed: u64, fault: FaultPlan) -> Plan {
    // c3 enters at once (it is the one paused past its session timeout while the barrier is
    // still filling); the others spread over three seconds (the ensemble elects its leader in about one).
    let clients = (1..=N)
        .map(|c| {
            let stagger_ms = if c == 3 { 1 } else { 3_000 };
            (c, workload(BarrierParams { needed: N, stagger_ms, ..BarrierParams::default() }, barrier::workload))
        })
        .collect();
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
fn barrier_holds_and_everyone_passes_with_a_member_paused_past_its_session() {
    for seed in 0..2 {
        let h = run(plan(seed, FaultPlan::PauseClient(3)));
        let r = check(&h, "/barrier/b1", N);
        assert_pass(&format!("seed {seed}"), &r);
        assert_eq!(named(&r, "barrier-no-early-pass").checked, N as u64, "seed {seed}: every member passed");
        let c3_sessions: std::collections::BTreeSet<_> = h
            .records
            .iter()
            .filter_map(|r| match &r.event {
                zksim_model::Event::Recipe { client: zksim_model::ClientId(3), session, .. } => Some(*session),
                _ => None,
            })
            .collect();
        assert!(c3_sessions.len() >= 2, "seed {seed}: the paused member lost its session and entered again");
    }
}

#[test]
fn barrier_holds_with_a_server_isolated() {
    let h = run(plan(4, FaultPlan::IsolateServer(2)));
    assert_pass("isolate", &check(&h, "/barrier/b1", N));
}

#[test]
fn passing_at_n_minus_one_is_caught() {
    let h = run_with_bugs(plan(1, FaultPlan::None), BugSet::of(&[Bug::BarrierEarlyPass]));
    let r = check(&h, "/barrier/b1", N);
    let f = failures(named(&r, "barrier-no-early-pass"));
    assert!(
        f.iter().any(|s| s.contains("before the committed log first held 10 members")),
        "early pass caught: {r:#?}"
    );
}
