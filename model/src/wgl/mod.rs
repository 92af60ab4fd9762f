//! # wgl — a generic linearizability checker
//!
//! Wing & Gong's search with Lowe's just-in-time linearization and memoization, laid out the way
//! Porcupine (`anishathalye/porcupine`, `checker.go`, `model.go`) lays it out:
//!
//! - a [`Model`] is a sequential specification: an initial state and a pure `step` that says
//!   which states may follow a state when an operation with this input returned this output
//!   (an empty `Vec` means "impossible"; several states model nondeterminism);
//! - a history is a slice of [`Operation`]s with a call time and a [`Completion`]: either it
//!   returned (time and output) or it is indeterminate (it may or may not have taken effect and
//!   nothing was observed; the search may place it anywhere after its call, or leave it out);
//! - [`check_operations`] searches for a linearization under a step [`Budget`] (no wall clock:
//!   the same input always gives the same verdict) and answers Ok, Illegal (with the longest
//!   linearizable prefix it found and the operation that could not be placed) or Unknown.
//!
//! Models may split a history into independent sub-histories ([`Model::partition`], Horn &
//! Kroening's P-compositionality), which is sound only where operations in different parts
//! cannot observe each other.
//!
//! Ready-made models: [`register::Register`] (read/write/CAS), [`kv::KvMap`] (a map partitioned
//! by key) and [`zookeeper::ZkWrites`] (ZooKeeper writes and their results, over the reference
//! model).

mod checker;
pub mod kv;
mod model;
pub mod register;
pub mod zookeeper;

pub use checker::{check_operations, Budget, CheckOutcome, IllegalWitness, Verdict};
pub use model::{Completion, Model, Operation};
