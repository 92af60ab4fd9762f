//! Host monitoring on the real ensemble: the monitor's online set follows the agents' live
//! sessions (an agent paused past its session timeout drops out and comes back) and statuses
//! it shows never go back.

mod recipe_support;

use recipe_support::{assert_pass, named, run, workload, FaultPlan, Plan};
use zksim_model::recipes::host_monitor::check;
use zksim_sim::recipes::host_monitor::{self, HostMonitorParams, HostRole};

fn plan(seed: u64, fault: FaultPlan) -> Plan {
    let clients = (1..=11u32)
        .map(|c| {
            let role = if c == 1 { HostRole::Monitor } else { HostRole::Agent };
            (c, workload(HostMonitorParams { role, ..HostMonitorParams::default() }, host_monitor::workload))
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
fn monitor_follows_an_agent_paused_past_its_session() {
    for seed in 0..2 {
        let h = run(plan(seed, FaultPlan::PauseClient(5)));
        let r = check(&h, "/machines", 3_000);
        assert_pass(&format!("seed {seed}"), &r);
        assert!(named(&r, "monitor-status-monotonic").checked >= 50, "seed {seed}: statuses judged: {r:?}");
        // The paused agent's node went away while it was paused: a view without c5.
        let dropped = h.records.iter().any(|r| {
            matches!(&r.event, zksim_model::Event::Recipe { note, .. }
                if matches!(&note.action, zksim_model::history::RecipeAction::OnlineView { hosts }
                    if hosts.len() == 9 && !hosts.contains(&"c5".to_string())))
        });
        assert!(dropped, "seed {seed}: the monitor saw c5 go offline");
    }
}

#[test]
fn monitor_survives_a_server_crash() {
    let h = run(plan(3, FaultPlan::CrashRestart(1)));
    assert_pass("crash", &check(&h, "/machines", 3_000));
}
