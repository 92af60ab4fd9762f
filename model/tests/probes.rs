//! Conformance of the reference model against the ZooKeeper 3.8.0 probes
//! (`testdata/zookeeper-3.8-probes.json`). Every required case must pass; the few that cannot run
//! are listed here by name with the reason, and the test fails if the list goes stale.

use zksim_model::model_target::ModelTarget;
use zksim_model::probes::{parse_cases, run_case, CaseReport, Namespace};
use zksim_model::ZkModel;

const CORPUS: &str = include_str!("../testdata/zookeeper-3.8-probes.json");

/// Cases the model does not run, with the reason. Each must actually come out `Unsupported` (or,
/// for the known-bug cases, fail): a stale entry fails the test.
const SKIPPED: &[(&str, &str)] = &[
    // Every optional case runs: ACLs (world:anyone entries, InvalidACL for `auth` without
    // credentials), raw opcodes and flags, multi_read, getEphemerals, getAllChildrenNumber.
];

/// Cases showing 3.8.0 bugs; the model follows the fixed behaviour (ZOOKEEPER-4466, -4471).
const KNOWN_BUGS: &[(&str, &str)] = zksim_model::probes::KNOWN_3_8_0_BUGS;

fn target_for(ns: Namespace) -> ModelTarget {
    ModelTarget::new(match ns {
        Namespace::Chroot => ZkModel::new(),
        Namespace::Root => ZkModel::fresh_server(),
    })
}

#[test]
fn reference_model_passes_the_probes() {
    let cases = parse_cases(CORPUS).expect("the corpus parses");
    assert_eq!(cases.len(), 142, "the vendored corpus has 142 cases");
    let (mut pass, mut failures, mut problems) = (0, Vec::new(), Vec::new());
    for case in &cases {
        let skip = SKIPPED.iter().find(|(n, _)| *n == case.name);
        let bug = KNOWN_BUGS.iter().find(|(n, _)| *n == case.name);
        let report = run_case(case, &mut target_for(case.namespace));
        match (report, skip, bug) {
            (CaseReport::Pass, None, None) => pass += 1,
            (CaseReport::Pass, _, _) => {
                problems.push(format!("{}: listed as skipped but passes: unlist it", case.name))
            }
            (CaseReport::Unsupported(u), Some((_, why)), _) => {
                println!("skipped {} (op {}: {}): {why}", case.name, u.op_index, u.reason)
            }
            (CaseReport::Unsupported(u), None, _) => {
                problems.push(format!("{}: unsupported at op {}: {}", case.name, u.op_index, u.reason))
            }
            (CaseReport::Fail(m), None, Some((_, why))) => {
                println!("known 3.8.0 bug {} (ops {:?} differ, as expected): {why}", case.name, m.differing())
            }
            (CaseReport::Fail(m), _, _) => failures.push(m.to_string()),
        }
    }
    println!("probes: {pass} of {} cases pass, {} skipped, {} known-bug", cases.len(), SKIPPED.len(), KNOWN_BUGS.len());
    for f in &failures {
        println!("{f}");
    }
    for p in &problems {
        println!("{p}");
    }
    assert!(
        failures.is_empty() && problems.is_empty(),
        "{} cases fail, {} problems (diffs above)",
        failures.len(),
        problems.len()
    );
    assert_eq!(pass, cases.len() - SKIPPED.len() - KNOWN_BUGS.len());
}

/// With 3.8.0's own watch bookkeeping (one mode per entry, the last registration wins; typed
/// removal takes the entry whatever its mode) the model answers every recorded case, the two
/// known-bug cases included: the bugs are re-created, not papered over.
#[test]
fn reference_model_with_3_8_0_watch_rules_passes_every_case() {
    use zksim_model::reference::WatchRules;
    let cases = parse_cases(CORPUS).expect("the corpus parses");
    let mut failures = Vec::new();
    for case in &cases {
        let model = match case.namespace {
            Namespace::Chroot => ZkModel::new(),
            Namespace::Root => ZkModel::fresh_server(),
        };
        match run_case(case, &mut ModelTarget::new(model.with_watch_rules(WatchRules::Zk380))) {
            CaseReport::Pass => {}
            CaseReport::Fail(m) => failures.push(m.to_string()),
            CaseReport::Unsupported(u) => {
                failures.push(format!("{}: unsupported at op {}: {}", case.name, u.op_index, u.reason))
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
