//! The replicated coordination server: ZAB replication over the simulated network, durable
//! storage on the simulated disk, sessions, and the client and control ports.
//!
//! Entry points: [`server_process`] (what a server node runs), [`ServerConfig`],
//! [`control::ControlClient`] (expirer, final states) for the harness, and
//! [`testkit`] to build a world with an ensemble.

pub mod config;
pub mod conn;
pub mod control;
pub mod frontend;
pub mod process;
pub mod replica;
pub mod session_tracker;
pub mod standin;
pub mod storage;
pub mod task;
pub mod testkit;
#[cfg(test)]
mod tests;
pub mod zab;

pub use config::ServerConfig;
pub use process::server_process;
