//! WGL on register and key-value histories with known answers.

use zksim_model::wgl::kv::{KvInput, KvMap, KvOutput};
use zksim_model::wgl::register::{Register, RegisterInput as I, RegisterOutput as O};
use zksim_model::wgl::{check_operations, Budget, Completion, Operation, Verdict};

fn op(id: u64, input: I, call: u64, ret: u64, out: O) -> Operation<I, O> {
    Operation { id, client: id, input, call, completion: Completion::Returned { time: ret, output: out } }
}

fn lost(id: u64, input: I, call: u64) -> Operation<I, O> {
    Operation { id, client: id, input, call, completion: Completion::Indeterminate }
}

fn verdict(ops: &[Operation<I, O>]) -> Verdict {
    check_operations(&Register::default(), ops, Budget::default()).verdict
}

#[test]
fn concurrent_write_and_reads_are_linearizable() {
    // write(1) overlaps both reads: one sees 0 then the other 1 is fine.
    let h =
        [op(1, I::Write(1), 0, 10, O::Written), op(2, I::Read, 1, 4, O::Value(0)), op(3, I::Read, 5, 8, O::Value(1))];
    assert_eq!(verdict(&h), Verdict::Ok);
}

#[test]
fn new_then_old_read_is_illegal() {
    // Porcupine's README example: once a read saw 1, a later read cannot see 0.
    let h =
        [op(1, I::Write(1), 0, 10, O::Written), op(2, I::Read, 1, 4, O::Value(1)), op(3, I::Read, 5, 8, O::Value(0))];
    match verdict(&h) {
        Verdict::Illegal(w) => {
            assert_eq!(w.stuck, 3, "the second read cannot be placed: {w:?}");
            assert!(w.prefix.len() >= 2, "write and first read linearize: {w:?}");
        }
        other => panic!("expected Illegal, got {other:?}"),
    }
}

#[test]
fn read_of_never_written_value_is_illegal() {
    let h = [op(1, I::Write(1), 0, 2, O::Written), op(2, I::Read, 3, 4, O::Value(7))];
    assert!(matches!(verdict(&h), Verdict::Illegal(_)));
}

#[test]
fn sequential_read_must_see_completed_write() {
    let h = [op(1, I::Write(5), 0, 2, O::Written), op(2, I::Read, 3, 4, O::Value(0))];
    assert!(matches!(verdict(&h), Verdict::Illegal(_)));
    let ok = [op(1, I::Write(5), 0, 2, O::Written), op(2, I::Read, 3, 4, O::Value(5))];
    assert_eq!(verdict(&ok), Verdict::Ok);
}

#[test]
fn cas_results_are_checked() {
    let ok = [
        op(1, I::Cas { from: 0, to: 1 }, 0, 5, O::Cas(true)),
        op(2, I::Cas { from: 0, to: 2 }, 1, 6, O::Cas(false)),
        op(3, I::Read, 7, 8, O::Value(1)),
    ];
    assert_eq!(verdict(&ok), Verdict::Ok);
    let both_won =
        [op(1, I::Cas { from: 0, to: 1 }, 0, 5, O::Cas(true)), op(2, I::Cas { from: 0, to: 2 }, 1, 6, O::Cas(true))];
    assert!(matches!(verdict(&both_won), Verdict::Illegal(_)));
}

#[test]
fn indeterminate_write_may_or_may_not_apply() {
    // It applied: a later read sees it.
    let applied = [lost(1, I::Write(3), 0), op(2, I::Read, 5, 6, O::Value(3))];
    assert_eq!(verdict(&applied), Verdict::Ok);
    // It did not: reads keep seeing 0.
    let not_applied = [lost(1, I::Write(3), 0), op(2, I::Read, 5, 6, O::Value(0))];
    assert_eq!(verdict(&not_applied), Verdict::Ok);
    // But it cannot apply before it was invoked.
    let too_early = [op(2, I::Read, 0, 1, O::Value(3)), lost(1, I::Write(3), 5)];
    assert!(matches!(verdict(&too_early), Verdict::Illegal(_)));
    // Nor apply, then un-apply.
    let flicker = [lost(1, I::Write(3), 0), op(2, I::Read, 5, 6, O::Value(3)), op(3, I::Read, 7, 8, O::Value(0))];
    assert!(matches!(verdict(&flicker), Verdict::Illegal(_)));
}

#[test]
fn budget_exhaustion_is_unknown_not_a_guess() {
    let h: Vec<_> = (0..40)
        .map(|i| op(i, I::Write(i as i64), 0, 100, O::Written))
        .chain([op(99, I::Read, 101, 102, O::Value(-1))])
        .collect();
    let out = check_operations(&Register::default(), &h, Budget::steps(50));
    assert!(matches!(out.verdict, Verdict::Unknown { .. }), "{:?}", out.verdict);
    assert!(out.steps <= 50);
}

#[test]
fn malformed_input_is_unknown() {
    let h = [op(1, I::Read, 5, 4, O::Value(0))];
    match verdict(&h) {
        Verdict::Unknown { reason } => assert!(reason.contains("before its call"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn many_concurrent_writes_finish_quickly_thanks_to_memoization() {
    // 12 clients, each writing then reading its own value back under heavy overlap.
    let mut h = Vec::new();
    let mut id = 0;
    for round in 0..20u64 {
        for c in 0..12u64 {
            let t = round * 100 + c;
            h.push(op(id, I::Write((round * 12 + c) as i64), t, t + 50, O::Written));
            id += 1;
        }
        let last = (round * 12 + 11) as i64;
        h.push(op(id, I::Read, round * 100 + 60, round * 100 + 70, O::Value(last)));
        id += 1;
    }
    // Every write of a round overlaps the round's read, so the read may see the last one.
    let out = check_operations(&Register::default(), &h, Budget::steps(5_000_000));
    assert_eq!(out.verdict, Verdict::Ok, "after {} steps", out.steps);
}

#[test]
fn kv_partitions_by_key() {
    let get = |id, k: &str, call, ret, v: &str| Operation {
        id,
        client: 0,
        input: KvInput::Get { key: k.into() },
        call,
        completion: Completion::Returned { time: ret, output: KvOutput::Value(v.into()) },
    };
    let put = |id, k: &str, v: &str, call, ret| Operation {
        id,
        client: 0,
        input: KvInput::Put { key: k.into(), value: v.into() },
        call,
        completion: Completion::Returned { time: ret, output: KvOutput::Done },
    };
    let ok = vec![put(1, "a", "x", 0, 1), put(2, "b", "y", 0, 1), get(3, "a", 2, 3, "x"), get(4, "b", 2, 3, "y")];
    let out = check_operations(&KvMap, &ok, Budget::default());
    assert_eq!(out.verdict, Verdict::Ok);
    assert_eq!(out.partitions, 2);
    let bad = vec![put(1, "a", "x", 0, 1), get(2, "b", 2, 3, "x")];
    match check_operations(&KvMap, &bad, Budget::default()).verdict {
        Verdict::Illegal(w) => assert_eq!(w.stuck, 2),
        other => panic!("{other:?}"),
    }
}
