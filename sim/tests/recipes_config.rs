//! Config pub/sub and dynamic DNS on the real ensemble: subscribers converge to the last
//! published version after a server is isolated, or after a subscriber's session expires; a
//! subscriber that forgets to re-arm its watch is caught.

mod recipe_support;

use recipe_support::{assert_pass, failures, named, run, workload, FaultPlan, Plan};
use zksim_model::recipes::config::{check, check_dns};
use zksim_sim::recipes::config::{self, ConfigParams, ConfigRole, ConfigVariant};
use zksim_sim::recipes::dns;

const BOUND_MS: u64 = 3_000;

fn plan(seed: u64, path: &str, dns_mode: bool, variant: ConfigVariant, fault: FaultPlan) -> Plan {
    let mut clients = Vec::new();
    for c in 1..=11u32 {
        let role = if c == 1 { ConfigRole::Publisher } else { ConfigRole::Subscriber };
        let p = ConfigParams { path: path.into(), role, variant, versions: 15, publish_period_ms: 100, resync_ms: 500 };
        let w = if dns_mode { workload(p, dns::workload) } else { workload(p, config::workload) };
        clients.push((c, w));
    }
    Plan {
        seed,
        servers: 3,
        session_timeout_ms: 1_500,
        clients,
        fault,
        fault_at_ms: 1_500,
        fault_for_ms: 2_000,
        settle_ms: 3_000,
    }
}

#[test]
fn config_subscribers_converge_after_a_server_is_isolated() {
    for seed in 0..2 {
        let h = run(plan(seed, "/config/app", false, ConfigVariant::Correct, FaultPlan::IsolateServer(1)));
        let r = check(&h, "/config/app", BOUND_MS);
        assert_pass(&format!("seed {seed}"), &r);
        assert!(named(&r, "config-converges").checked >= 10, "seed {seed}: every subscriber judged: {r:?}");
    }
}

#[test]
fn config_subscriber_converges_after_its_session_expires() {
    let h = run(plan(5, "/config/app", false, ConfigVariant::Correct, FaultPlan::ExpireClient(4)));
    assert_pass("expire", &check(&h, "/config/app", BOUND_MS));
    let c4_sessions: std::collections::BTreeSet<_> = h
        .records
        .iter()
        .filter_map(|r| match &r.event {
            zksim_model::Event::Session { client: zksim_model::ClientId(4), session, .. } => Some(*session),
            _ => None,
        })
        .collect();
    assert!(c4_sessions.len() >= 2, "the expired subscriber started a new session: {c4_sessions:?}");
}

#[test]
fn dns_resolvers_converge_after_a_server_crash() {
    let h = run(plan(2, "/dns/svc", true, ConfigVariant::Correct, FaultPlan::CrashRestart(2)));
    let r = check_dns(&h, "/dns/svc", BOUND_MS);
    assert_pass("dns crash", &r);
    assert!(named(&r, "dns-converges").checked >= 10);
}

#[test]
fn subscriber_without_rearm_is_caught() {
    let h = run(plan(1, "/config/app", false, ConfigVariant::BrokenNoRearm, FaultPlan::None));
    let r = check(&h, "/config/app", BOUND_MS);
    let f = failures(named(&r, "config-converges"));
    assert!(f.iter().any(|s| s.contains("never converged")), "no-rearm caught: {r:#?}");
}
