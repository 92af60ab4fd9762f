//! The sequential-specification trait and the operation record the search consumes.

use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification, as Porcupine's `Model`.
///
/// `step` must be a pure function of its arguments: the search calls it many times on the same
/// state and memoizes on `(set of linearized operations, state)`.
pub trait Model {
    /// The abstract state. `Hash + Eq` for the memo table; cloned on every successful step.
    type State: Clone + Eq + Hash + Debug;
    type Input: Clone + Debug;
    type Output: Clone + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The states that may follow `state` when an operation with `input` took effect and
    /// returned `output`. `output` is `None` for an indeterminate operation, whose result
    /// nobody saw: return every state it could lead to. An empty `Vec` means the operation
    /// cannot have returned `output` from `state`.
    fn step(&self, state: &Self::State, input: &Self::Input, output: Option<&Self::Output>) -> Vec<Self::State>;

    /// Splits a history into independent parts (indices into `ops`) that can be checked
    /// separately. Only sound when no operation in one part can observe one in another. The
    /// default keeps the history whole.
    fn partition(&self, ops: &[Operation<Self::Input, Self::Output>]) -> Vec<Vec<usize>> {
        vec![(0..ops.len()).collect()]
    }

    /// A short human description of an operation, for explanations.
    fn describe(&self, op: &Operation<Self::Input, Self::Output>) -> String {
        match &op.completion {
            Completion::Returned { output, .. } => format!("{:?} -> {:?}", op.input, output),
            Completion::Indeterminate => format!("{:?} -> ?", op.input),
        }
    }
}

/// One operation of a concurrent history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// The caller's identifier, echoed in verdicts.
    pub id: u64,
    /// Which client issued it (for reports only: the search does not need it).
    pub client: u64,
    pub input: I,
    /// Invocation time, in any unit, as long as all operations use the same one.
    pub call: u64,
    pub completion: Completion<O>,
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion<O> {
    /// It returned `output` at `time` (≥ the call time).
    Returned { time: u64, output: O },
    /// Nobody knows whether it took effect (a timeout, a lost connection). The search may
    /// linearize it at any point after its call, or not at all.
    Indeterminate,
}
