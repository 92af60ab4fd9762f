//! A single register with read, write and compare-and-set (Porcupine's etcd model, Knossos's
//! cas-register).

use super::model::{Model, Operation};

/// A register holding an `i64`, initially `initial`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Register {
    pub initial: i64,
}

/// What a client asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterInput {
    Read,
    Write(i64),
    Cas { from: i64, to: i64 },
}

/// What it was told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterOutput {
    /// A read saw this value.
    Value(i64),
    /// A write was acknowledged.
    Written,
    /// A CAS succeeded (`true`) or found another value (`false`).
    Cas(bool),
}

impl Model for Register {
    type State = i64;
    type Input = RegisterInput;
    type Output = RegisterOutput;

    fn init(&self) -> i64 {
        self.initial
    }

    fn step(&self, state: &i64, input: &RegisterInput, output: Option<&RegisterOutput>) -> Vec<i64> {
        use RegisterInput as I;
        use RegisterOutput as O;
        let s = *state;
        match (input, output) {
            (I::Read, None) => vec![s],
            (I::Read, Some(O::Value(v))) if *v == s => vec![s],
            (I::Write(v), None | Some(O::Written)) => vec![*v],
            (I::Cas { from, to }, None) => vec![if s == *from { *to } else { s }],
            (I::Cas { from, to }, Some(O::Cas(true))) if s == *from => vec![*to],
            (I::Cas { from, .. }, Some(O::Cas(false))) if s != *from => vec![s],
            _ => vec![],
        }
    }

    fn describe(&self, op: &Operation<RegisterInput, RegisterOutput>) -> String {
        use super::model::Completion;
        let out = match &op.completion {
            Completion::Returned { output, .. } => match output {
                RegisterOutput::Value(v) => format!("{v}"),
                RegisterOutput::Written => "ok".into(),
                RegisterOutput::Cas(b) => format!("{b}"),
            },
            Completion::Indeterminate => "?".into(),
        };
        match op.input {
            RegisterInput::Read => format!("read() -> {out}"),
            RegisterInput::Write(v) => format!("write({v}) -> {out}"),
            RegisterInput::Cas { from, to } => format!("cas({from}, {to}) -> {out}"),
        }
    }
}
