//! Unique-ID naming on the real ensemble under a server crash.

mod recipe_support;

use recipe_support::{assert_pass, named, run, workload, FaultPlan, Plan};
use zksim_model::recipes::naming::check;
use zksim_sim::recipes::naming::{self, NamingParams};

#[test]
fn ids_are_unique_and_increasing_under_a_server_crash() {
    let clients = (1..=10u32).map(|c| (c, workload(NamingParams::default(), naming::workload))).collect();
    let h = run(Plan {
        seed: 1,
        servers: 3,
        session_timeout_ms: 1_500,
        clients,
        fault: FaultPlan::CrashRestart(1),
        fault_at_ms: 1_500,
        fault_for_ms: 2_000,
        settle_ms: 2_000,
    });
    let r = check(&h, "/ids");
    assert_pass("crash", &r);
    assert_eq!(named(&r, "naming-unique").checked, 200);
}
