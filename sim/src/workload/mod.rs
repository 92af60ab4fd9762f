//! Client workloads that are not recipes: generic operation mixes that exercise the service and
//! the history checkers directly.

pub mod kv;
