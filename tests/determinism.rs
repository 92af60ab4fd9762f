//! The whole system is deterministic: a scenario with the same seed gives a byte-identical
//! history (servers, clients, faults, commits), and different seeds give different ones.

use std::path::Path;
use zksim::runner;
use zksim::scenario::Scenario;
use zksim_model::jsonl::{fingerprint, history_bytes};

fn swarm() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kv/kv-swarm.toml");
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn same_seed_gives_byte_identical_history() {
    let s = swarm();
    let a = history_bytes(&runner::run(&s, 7).history);
    let b = history_bytes(&runner::run(&s, 7).history);
    assert!(a.len() > 10_000, "the run must do real work");
    assert_eq!(fingerprint(&a), fingerprint(&b), "seed 7 of {} gave two different histories", s.name);
}

#[test]
fn different_seeds_give_different_histories() {
    let s = swarm();
    let a = history_bytes(&runner::run(&s, 7).history);
    let b = history_bytes(&runner::run(&s, 8).history);
    assert_ne!(fingerprint(&a), fingerprint(&b));
}
