//! Session end: close (by the client) and expiry (by the leader) are one transaction that
//! deletes every ephemeral of the session.

use super::write::TxnCtx;
use super::{done, failed, Applied, ZkModel};
use crate::history::CloseReason;
use crate::types::{ErrorCode, SessionId, Zxid};

impl ZkModel {
    /// Ends `session`: its ephemerals go in this one transaction (their parents' pzxid becomes
    /// `zxid`, visible cversion +1 per node), then its watches. A closing session still receives
    /// the notifications for its own ephemerals (they are sent before its socket closes); an
    /// expired one receives nothing. Ending a session that is not open fails with SessionExpired.
    pub(super) fn close_session(
        &mut self,
        session: SessionId,
        reason: CloseReason,
        zxid: Zxid,
        time_ms: i64,
    ) -> Applied {
        if !self.sessions.remove(&session) {
            return failed(ErrorCode::SessionExpired);
        }
        if reason == CloseReason::Expired {
            self.watches.drop_session(session);
        }
        let mut ctx = TxnCtx::new(&mut self.tree, zxid, time_ms, session);
        for p in ctx.tree.ephemerals_of(session) {
            ctx.remove(&p);
        }
        let triggers = std::mem::take(&mut ctx.triggers);
        let events = self.fire(&triggers, zxid);
        self.watches.drop_session(session);
        assert!(self.ephemerals_of(session).is_empty(), "a closed session owns no ephemerals");
        done(triggers, events)
    }
}
