//! The Markdown report of fixed scenario+seed pairs, pinned with insta: any change in the
//! service's behaviour, the checkers or the report (or any nondeterminism) shows up here in
//! review. Updating a snapshot is a reviewed act: `cargo insta review`.

use std::path::Path;
use zksim::report::markdown::{render, RunFacts};
use zksim::runner;
use zksim::scenario::Scenario;

fn report(rel: &str, seed: u64) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let out = runner::run(&scenario, seed);
    let replay = format!("cargo run --release -- replay {rel} --seed {seed}");
    render(&out.history, &RunFacts { properties: &out.properties, replay: &replay, sections: &[] })
}

#[test]
fn kv_basic_seed_1() {
    insta::assert_snapshot!(report("scenarios/kv/kv-basic.toml", 1));
}

#[test]
fn kv_crash_restart_seed_2() {
    insta::assert_snapshot!(report("scenarios/kv/kv-crash-restart.toml", 2));
}
