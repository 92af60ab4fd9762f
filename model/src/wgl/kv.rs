//! A key-value map with get, put and append, partitioned by key (Porcupine's kv model): each
//! key is an independent register, so each key's sub-history is checked alone.

use super::model::{Model, Operation};
use std::collections::BTreeMap;

/// The map model. Every key starts as the empty string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvMap;

/// What a client asked. Every input names one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvInput {
    Get { key: String },
    Put { key: String, value: String },
    Append { key: String, value: String },
}

impl KvInput {
    /// The key the operation touches.
    pub fn key(&self) -> &str {
        match self {
            KvInput::Get { key } | KvInput::Put { key, .. } | KvInput::Append { key, .. } => key,
        }
    }
}

/// What it was told: the value for a get, nothing for put/append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOutput {
    Value(String),
    Done,
}

impl Model for KvMap {
    /// The whole map; after partitioning, each part only ever touches one key.
    type State = BTreeMap<String, String>;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn step(&self, state: &Self::State, input: &KvInput, output: Option<&KvOutput>) -> Vec<Self::State> {
        let current = state.get(input.key()).map_or("", String::as_str);
        match (input, output) {
            (KvInput::Get { .. }, None) => vec![state.clone()],
            (KvInput::Get { .. }, Some(KvOutput::Value(v))) if v == current => vec![state.clone()],
            (KvInput::Put { key, value }, None | Some(KvOutput::Done)) => {
                let mut next = state.clone();
                next.insert(key.clone(), value.clone());
                vec![next]
            }
            (KvInput::Append { key, value }, None | Some(KvOutput::Done)) => {
                let mut next = state.clone();
                next.insert(key.clone(), format!("{current}{value}"));
                vec![next]
            }
            _ => vec![],
        }
    }

    fn partition(&self, ops: &[Operation<KvInput, KvOutput>]) -> Vec<Vec<usize>> {
        let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, op) in ops.iter().enumerate() {
            by_key.entry(op.input.key()).or_default().push(i);
        }
        by_key.into_values().collect()
    }
}
