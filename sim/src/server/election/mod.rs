//! ZooKeeper's fast leader election (`FastLeaderElection` over `QuorumCnxManager`).
//!
//! Each server keeps an [`Election`] for its whole life: it listens on [`crate::net::ELECTION_PORT`],
//! keeps a connection to every peer, and answers peers' notifications at all times (a LOOKING
//! peer that hears from a FOLLOWING or LEADING server learns the established leader). The server
//! calls [`Election::look_for_leader`] whenever it is LOOKING and tells the module what it does
//! next through [`Election::set_state`].

mod config;
mod peer_state;
mod vote;

pub use config::ElectionConfig;
pub use peer_state::PeerState;
pub use vote::{compare_votes, Vote};

use zksim_model::Zxid;

/// One server's leader election module. Dropping it stops its tasks.
pub struct Election {
    cfg: ElectionConfig,
}

impl Election {
    /// Starts the module: binds the election port and starts connecting to peers.
    pub async fn start(cfg: ElectionConfig) -> std::io::Result<Election> {
        Ok(Election { cfg })
    }

    /// This server's configuration.
    pub fn config(&self) -> &ElectionConfig {
        &self.cfg
    }

    /// Runs one election (logical clock + 1) with this server's last zxid and current epoch and
    /// returns the agreed vote once a quorum agrees and no better vote arrived within
    /// `finalize_wait`. Never returns without a quorum. On return the module already answers
    /// peers as LEADING (the vote names this server) or FOLLOWING.
    pub async fn look_for_leader(&self, last_zxid: Zxid, current_epoch: u32) -> Vote {
        let _ = (last_zxid, current_epoch);
        todo!("fast leader election")
    }

    /// Tells the module what this server now does, so it answers LOOKING peers correctly.
    pub fn set_state(&self, state: PeerState, vote: Vote) {
        let _ = (state, vote);
        todo!("fast leader election")
    }
}
