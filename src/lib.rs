//! # zksim — the harness
//!
//! Scenarios as data ([`scenario`]), the runner that turns a scenario and a seed into a history
//! and verdicts, sweeps, shrinking and reports. The judge lives in `zksim-model`, the world and
//! the system under test in `zksim-sim`.

pub mod bench;
pub mod bugs;
pub mod coverage;
pub mod expect;
pub mod plan;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod shrink;
pub mod sweep;
