//! The vocabulary shared by every part of zksim: identifiers, zxids, Stat, node kinds, error
//! codes and watch events, spelled the way ZooKeeper spells them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A ZooKeeper transaction id: epoch in the high 32 bits, counter in the low 32 bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Zxid(pub u64);

impl Zxid {
    /// The zxid of the empty tree, before any transaction.
    pub const ZERO: Zxid = Zxid(0);

    /// Builds a zxid from its epoch and counter halves.
    pub fn new(epoch: u32, counter: u32) -> Zxid {
        Zxid(((epoch as u64) << 32) | counter as u64)
    }

    /// The leader epoch that issued this zxid.
    pub fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The position of this zxid within its epoch.
    pub fn counter(self) -> u32 {
        self.0 as u32
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// A client session id, as assigned by the service. 0 means "no session" and never names one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// A simulated client process (a node in the simulated world), numbered from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(pub u32);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A server of the ensemble, numbered from 1 (ZooKeeper's `myid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServerId(pub u32);

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// Identifies one client operation within a history: invocation and completion share it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OpId(pub u64);

/// Simulated time since the start of the run, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SimTime(pub u64);

impl SimTime {
    /// Milliseconds, for display.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// Whole milliseconds.
    pub fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// From milliseconds.
    pub fn from_millis(ms: u64) -> SimTime {
        SimTime(ms * 1_000_000)
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}s", self.0 as f64 / 1e9)
    }
}

/// Node data: ZooKeeper distinguishes a null buffer from an empty one, so both exist here.
/// Serialized as JSON `null`, a string when the bytes are UTF-8, or `{"hex": "..."}` otherwise,
/// so nothing is ever lost in a history file.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Data(pub Option<Vec<u8>>);

impl Data {
    /// No buffer at all (`null`).
    pub fn null() -> Data {
        Data(None)
    }

    /// A buffer holding the UTF-8 bytes of `s`.
    pub fn text(s: &str) -> Data {
        Data(Some(s.as_bytes().to_vec()))
    }

    /// A buffer holding `b`.
    pub fn bytes(b: impl Into<Vec<u8>>) -> Data {
        Data(Some(b.into()))
    }

    /// Length as ZooKeeper's Stat.dataLength reports it (null counts as 0).
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |b| b.len())
    }

    /// True when the buffer is null or empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, empty for null.
    pub fn as_slice(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }

    /// Lossy text form, for reports and recipes that store text.
    pub fn to_text(&self) -> String {
        String::from_utf8_lossy(self.as_slice()).into_owned()
    }
}

impl Serialize for Data {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match &self.0 {
            None => s.serialize_none(),
            Some(b) => match std::str::from_utf8(b) {
                Ok(text) => s.serialize_str(text),
                Err(_) => {
                    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                    let mut m = s.serialize_map(Some(1))?;
                    m.serialize_entry("hex", &hex)?;
                    m.end()
                }
            },
        }
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Hex { hex: String },
        }
        let repr: Option<Repr> = Option::deserialize(d)?;
        match repr {
            None => Ok(Data(None)),
            Some(Repr::Text(t)) => Ok(Data(Some(t.into_bytes()))),
            Some(Repr::Hex { hex }) => {
                if hex.len() % 2 != 0 {
                    return Err(serde::de::Error::custom("hex data must have an even number of digits"));
                }
                let mut out = Vec::with_capacity(hex.len() / 2);
                for i in (0..hex.len()).step_by(2) {
                    let byte = u8::from_str_radix(&hex[i..i + 2], 16)
                        .map_err(|_| serde::de::Error::custom(format!("bad hex digit pair {:?}", &hex[i..i + 2])))?;
                    out.push(byte);
                }
                Ok(Data(Some(out)))
            }
        }
    }
}

/// ZooKeeper's Stat of a node. Times are simulated milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stat {
    pub czxid: Zxid,
    pub mzxid: Zxid,
    pub pzxid: Zxid,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// The cversion a client sees: 2 × child creates − numChildren in ZooKeeper 3.8.
    pub cversion: i32,
    pub aversion: i32,
    /// 0 unless the node is ephemeral. Containers and TTL nodes also show 0 (the server masks them).
    pub ephemeral_owner: SessionId,
    pub data_length: i32,
    pub num_children: i32,
}

/// How a node is created (ZooKeeper's `CreateMode`). TTLs are kept as the client sent them, since
/// an out-of-range TTL is an input the service must reject with BadArguments, not a type error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CreateMode {
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
    Container,
    PersistentWithTtl {
        ttl_ms: i64,
    },
    PersistentSequentialWithTtl {
        ttl_ms: i64,
    },
    /// A raw create request no mode describes: an unknown flag, or a createTTL request whose
    /// flags name a non-TTL mode. The server refuses it with BadArguments before any other
    /// check; it is representable because a client can send it.
    Invalid {
        opcode: i32,
        flags: i32,
    },
}

impl CreateMode {
    /// True for the two sequential modes (and the sequential TTL mode).
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl { .. }
        )
    }

    /// True for the ephemeral modes.
    pub fn is_ephemeral(self) -> bool {
        matches!(self, CreateMode::Ephemeral | CreateMode::EphemeralSequential)
    }

    /// The TTL, for TTL modes.
    pub fn ttl_ms(self) -> Option<i64> {
        match self {
            CreateMode::PersistentWithTtl { ttl_ms } | CreateMode::PersistentSequentialWithTtl { ttl_ms } => {
                Some(ttl_ms)
            }
            _ => None,
        }
    }
}

/// ZooKeeper's `KeeperException.Code`, by Java name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// Only inside a failed multi: this op would have succeeded but was rolled back.
    Ok,
    SystemError,
    RuntimeInconsistency,
    DataInconsistency,
    ConnectionLoss,
    MarshallingError,
    Unimplemented,
    OperationTimeout,
    BadArguments,
    NewConfigNoQuorum,
    ReconfigInProgress,
    UnknownSession,
    ApiError,
    NoNode,
    NoAuth,
    BadVersion,
    NoChildrenForEphemerals,
    NodeExists,
    NotEmpty,
    SessionExpired,
    InvalidCallback,
    InvalidACL,
    AuthFailed,
    SessionMoved,
    NotReadOnly,
    EphemeralOnLocalSession,
    NoWatcher,
    RequestTimeout,
    ReconfigDisabled,
    SessionClosedRequireSaslAuth,
    QuotaExceeded,
    Throttled,
}

impl ErrorCode {
    /// The numeric code ZooKeeper puts on the wire.
    pub fn code(self) -> i32 {
        use ErrorCode::*;
        match self {
            Ok => 0,
            SystemError => -1,
            RuntimeInconsistency => -2,
            DataInconsistency => -3,
            ConnectionLoss => -4,
            MarshallingError => -5,
            Unimplemented => -6,
            OperationTimeout => -7,
            BadArguments => -8,
            NewConfigNoQuorum => -13,
            ReconfigInProgress => -14,
            UnknownSession => -12,
            ApiError => -100,
            NoNode => -101,
            NoAuth => -102,
            BadVersion => -103,
            NoChildrenForEphemerals => -108,
            NodeExists => -110,
            NotEmpty => -111,
            SessionExpired => -112,
            InvalidCallback => -113,
            InvalidACL => -114,
            AuthFailed => -115,
            SessionMoved => -118,
            NotReadOnly => -119,
            EphemeralOnLocalSession => -120,
            NoWatcher => -121,
            RequestTimeout => -122,
            ReconfigDisabled => -123,
            SessionClosedRequireSaslAuth => -124,
            QuotaExceeded => -125,
            Throttled => -127,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The node event types a watch can deliver (ZooKeeper's `Watcher.Event.EventType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventType {
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
}

/// A watch notification: the event, the node, and the zxid of the transaction that fired it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WatchedEvent {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub path: String,
    pub zxid: Zxid,
}

/// The mode of `addWatch` (3.6+).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddWatchMode {
    Persistent,
    PersistentRecursive,
}

/// Which watches `removeWatches` removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatcherKind {
    Data,
    Children,
    Any,
}

/// The connection states an application sees (ZooKeeper's `KeeperState`, the ones zksim models).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SessionState {
    /// Connected to a server (first connect or reconnect with the same session).
    SyncConnected,
    /// Lost the connection; the session may still be alive. Recipes must treat what they hold
    /// as "maybe lost" (Curator's SUSPENDED).
    Disconnected,
    /// The service expired the session: everything it owned is gone (Curator's LOST).
    Expired,
    /// The application closed the session.
    Closed,
}
