//! What a client call can fail with, split the way recipes need it: definite errors (the
//! operation did not take effect), indeterminate ones (it may have), and a dead session.

use std::fmt;
use zksim_model::ErrorCode;

/// Why a [`super::ZkClient`] call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkError {
    /// A definite error from the service: the operation did not take effect (NoNode,
    /// NodeExists, BadVersion, ...). Never ConnectionLoss or SessionExpired.
    Api(ErrorCode),
    /// A failed multi: nothing took effect. `results` per sub-op, as ZooKeeper reports them.
    Multi { code: ErrorCode, results: Vec<ErrorCode> },
    /// The connection was lost before the outcome was known, or the request waited too long
    /// for a connection. The operation MAY have taken effect: protected creates look for it.
    ConnectionLoss,
    /// The session is gone (learned from the service, or the service answered SessionExpired):
    /// its ephemerals and watches are gone. The client is dead; make a new one.
    SessionExpired,
    /// The application closed (or abandoned) this client.
    Closed,
    /// The watch was removed by `remove_watches` before it fired.
    WatchRemoved,
    /// The server answered with a value of the wrong shape for the request (a server bug; the
    /// answer is in the history as it came).
    Protocol(String),
}

impl ZkError {
    /// The error an operation's definite failure code maps to.
    pub fn from_code(code: ErrorCode) -> ZkError {
        match code {
            ErrorCode::ConnectionLoss => ZkError::ConnectionLoss,
            ErrorCode::SessionExpired => ZkError::SessionExpired,
            c => ZkError::Api(c),
        }
    }

    /// ZooKeeper's code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ZkError::Api(c) | ZkError::Multi { code: c, .. } => *c,
            ZkError::ConnectionLoss => ErrorCode::ConnectionLoss,
            ZkError::SessionExpired | ZkError::Closed => ErrorCode::SessionExpired,
            ZkError::WatchRemoved => ErrorCode::NoWatcher,
            ZkError::Protocol(_) => ErrorCode::MarshallingError,
        }
    }

    /// True when the operation may have taken effect (only ConnectionLoss).
    pub fn is_indeterminate(&self) -> bool {
        matches!(self, ZkError::ConnectionLoss)
    }

    /// True when the session is over (expired or closed): retrying on this client is useless.
    pub fn is_session_over(&self) -> bool {
        matches!(self, ZkError::SessionExpired | ZkError::Closed)
    }
}

impl fmt::Display for ZkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZkError::Api(c) => write!(f, "{c}"),
            ZkError::Multi { code, results } => write!(f, "multi failed with {code}: {results:?}"),
            ZkError::ConnectionLoss => write!(f, "ConnectionLoss (outcome unknown)"),
            ZkError::SessionExpired => write!(f, "SessionExpired"),
            ZkError::Closed => write!(f, "client closed"),
            ZkError::WatchRemoved => write!(f, "watch removed"),
            ZkError::Protocol(why) => write!(f, "protocol violation by the server: {why}"),
        }
    }
}

impl std::error::Error for ZkError {}

/// Why [`super::ZkClient::connect`] could not establish a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// The configuration is unusable.
    Config(String),
    /// No server accepted a new session before the connect deadline.
    Timeout { attempts: u32, last_failure: String },
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Config(why) => write!(f, "bad client configuration: {why}"),
            ConnectError::Timeout { attempts, last_failure } => {
                write!(f, "no session after {attempts} connection attempts (last: {last_failure})")
            }
        }
    }
}

impl std::error::Error for ConnectError {}
