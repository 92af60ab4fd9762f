//! Conformance of the service's state machine — data tree, watch manager and container manager,
//! driven as one server by [`SingleServer`] — against the ZooKeeper 3.8.0 probes
//! (`model/testdata/zookeeper-3.8-probes.json`). Every required case must pass; the cases that
//! cannot run are listed by name with the reason, and the test fails if the list goes stale.

use zksim_model::probes::{parse_cases, run_case, CaseReport, Namespace};
use zksim_sim::server::{DataTree, SingleServer};

const CORPUS: &str = include_str!("../../model/testdata/zookeeper-3.8-probes.json");

/// Cases not run, with the reason. Each must come out `Unsupported`: a stale entry fails.
const SKIPPED: &[(&str, &str)] = &[
    // None: ACLs, raw create opcodes and flags, multi_read, getEphemerals and
    // getAllChildrenNumber all run.
];

/// Cases showing 3.8.0 bugs; the service implements the fixed behaviour.
const KNOWN_BUGS: &[(&str, &str)] = zksim_model::probes::KNOWN_3_8_0_BUGS;

fn target_for(ns: Namespace) -> SingleServer {
    SingleServer::new(match ns {
        Namespace::Chroot => DataTree::empty(),
        Namespace::Root => DataTree::new(),
    })
}

#[test]
fn datatree_passes_the_probes() {
    let cases = parse_cases(CORPUS).expect("the corpus parses");
    assert_eq!(cases.len(), 142, "the vendored corpus has 142 cases");
    let (mut pass, mut failures, mut problems) = (0, Vec::new(), Vec::new());
    for case in &cases {
        let skip = SKIPPED.iter().find(|(n, _)| *n == case.name);
        let bug = KNOWN_BUGS.iter().find(|(n, _)| *n == case.name);
        let mut target = target_for(case.namespace);
        let report = run_case(case, &mut target);
        target.tree().check_invariants();
        target.watches().check_invariants();
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
