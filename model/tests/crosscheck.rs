//! The zxid-witness checker and the WGL search agree on random small ZooKeeper histories.
//!
//! The witness checker is at least as strict as WGL: it verifies one specific order (the
//! service's zxids) where WGL searches them all. So on valid histories both pass; on histories
//! with one write result perturbed the witness checker always fails, and whenever WGL finds the
//! history illegal the witness checker fails too (witness Pass ⇒ WGL Ok).

use proptest::prelude::*;
use zksim_model::check::{check_history, names, CheckConfig, Verdict};
use zksim_model::testkit::synthetic::{generate, perturb, Params};
use zksim_model::wgl::zookeeper::ZkWrites;
use zksim_model::wgl::{check_operations, Budget, Verdict as Wgl};

fn wgl(h: &zksim_model::History) -> Wgl {
    let ops = ZkWrites::operations(h);
    check_operations(&ZkWrites::default(), &ops, Budget::steps(2_000_000)).verdict
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn valid_histories_pass_both(seed in any::<u64>()) {
        let h = generate(&Params::small(seed));
        let r = check_history(&h, &CheckConfig::default());
        prop_assert!(r.passed(), "witness checker rejects a valid history:\n{}", r);
        prop_assert_eq!(wgl(&h), Wgl::Ok);
    }

    #[test]
    fn perturbed_write_results_are_caught(seed in any::<u64>(), pick in any::<u64>()) {
        let mut h = generate(&Params::small(seed));
        prop_assume!(perturb(&mut h, pick, true).is_some());
        let r = check_history(&h, &CheckConfig::default());
        let witness_fails = matches!(r.get(names::LINEARIZABLE_WRITES).unwrap().verdict, Verdict::Fail { .. });
        prop_assert!(witness_fails, "a perturbed write result went unnoticed:\n{}", r);
        // Soundness of the witness: WGL never finds it illegal while the witness passes. (WGL may
        // find another order that explains a perturbed result: that is legal for WGL.)
        let w = wgl(&h);
        prop_assert!(!matches!(w, Wgl::Unknown { .. }), "WGL ran out of budget: {:?}", w);
    }

    #[test]
    fn perturbed_read_results_are_caught(seed in any::<u64>(), pick in any::<u64>()) {
        let mut h = generate(&Params::small(seed));
        prop_assume!(perturb(&mut h, pick, false).is_some());
        let r = check_history(&h, &CheckConfig::default());
        prop_assert!(!r.passed(), "a perturbed result went unnoticed:\n{}", r);
    }
}

/// Over many seeds, WGL also rejects most perturbed-write histories: a perturbation the search
/// can explain by another order is rare, and never one the witness checker accepts.
#[test]
fn wgl_usually_agrees_on_perturbed_writes() {
    let (mut both, mut total) = (0, 0);
    for seed in 0..200u64 {
        let mut h = generate(&Params::small(seed));
        if perturb(&mut h, seed.wrapping_mul(7919), true).is_none() {
            continue;
        }
        total += 1;
        let r = check_history(&h, &CheckConfig::default());
        assert!(!r.passed(), "seed {seed}: witness missed it");
        if matches!(wgl(&h), Wgl::Illegal(_)) {
            both += 1;
        }
    }
    assert!(total > 100, "enough perturbed histories ({total})");
    assert!(both * 10 >= total * 8, "WGL rejected only {both} of {total} perturbed histories");
}

/// The generator really produces what the cross-check claims to cover.
#[test]
fn generator_exercises_indeterminacy_watches_and_errors() {
    use zksim_model::{Event, Outcome};
    let (mut lost, mut watches, mut errors) = (0, 0, 0);
    for seed in 0..50u64 {
        for r in &generate(&Params::small(seed)).records {
            match &r.event {
                Event::Complete { outcome: Outcome::Indeterminate { .. }, .. } => lost += 1,
                Event::Complete { outcome: Outcome::Err { .. }, zxid: Some(_), .. } => errors += 1,
                Event::Watch { .. } => watches += 1,
                _ => {}
            }
        }
    }
    assert!(lost > 10 && watches > 10 && errors > 10, "lost {lost}, watches {watches}, error txns {errors}");
}
