//! Curator-style protected create (`ProtectedUtils`): the node's name carries a prefix unique to
//! this call (`_c_<uuid-like id>-`), so that after a ConnectionLoss the client can list the
//! parent and adopt the node its lost create made instead of creating a second one (an orphan
//! that would block a lock forever: CURATOR-45). For ephemerals the adopted node must also be
//! owned by this session (CURATOR-498: a node left by an expiring earlier session with the same
//! id would otherwise be adopted).

use crate::client::{ZkClient, ZkError};
use crate::rng::SimRng;
use rand::Rng;
use zksim_model::{CreateMode, Data, ErrorCode, Stat};

/// The `_c_<id>-` prefix of one protected create: 32 hex digits from the caller's seeded rng,
/// grouped like a UUID.
pub fn protected_id(rng: &mut SimRng) -> String {
    let a: u128 = rng.gen();
    let h = format!("{a:032x}");
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// The name prefix carrying a protected id: `_c_<id>-`.
pub fn protected_prefix(id: &str) -> String {
    format!("_c_{id}-")
}

/// Splits `/a/b/name` into (`/a/b`, `name`); the root's children have parent `/`.
fn split(path: &str) -> Result<(String, String), ZkError> {
    let slash = path.rfind('/').ok_or(ZkError::Api(ErrorCode::BadArguments))?;
    let parent = if slash == 0 { "/".to_string() } else { path[..slash].to_string() };
    Ok((parent, path[slash + 1..].to_string()))
}

fn join(parent: &str, kid: &str) -> String {
    if parent == "/" {
        format!("/{kid}")
    } else {
        format!("{parent}/{kid}")
    }
}

/// Protected create of `<parent>/_c_<id>-<name>` (for a lock: `name` = `lock-`, a sequential
/// mode appends the sequence). Returns the created node's path and Stat. Retries over
/// ConnectionLoss until a definite answer or the session is over; after each ConnectionLoss it
/// first looks for its own node among the parent's children (ephemerals: owned by this session).
///
/// `protected == false` is the deliberately broken variant (CURATOR-45): it retries the create
/// blindly, so a create that took effect before the connection dropped leaves an orphan.
///
/// Known limit (as in Curator): a create still in the service's pipeline when the lookup runs
/// may commit after it, so the retry can leave a duplicate behind.
pub async fn create_protected(
    zk: &ZkClient,
    rng: &mut SimRng,
    path: &str,
    data: Data,
    mode: CreateMode,
    protected: bool,
) -> Result<(String, Stat), ZkError> {
    let id = protected_id(rng);
    create_with_id(zk, &id, path, data, mode, protected, Attempt::Fresh).await
}

/// How a protected create with a given id starts, and whom its lookup may adopt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// A new id: create first, on ConnectionLoss adopt only this session's ephemeral.
    Fresh,
    /// Planted bug CURATOR-498: the id of an attempt begun on an earlier session. It looks for
    /// its node first, as a retry does, and adopts whatever carries the id, whoever owns it.
    CarriedOver,
}

/// [`create_protected`] with the caller's id (see [`Attempt`]).
pub async fn create_with_id(
    zk: &ZkClient,
    id: &str,
    path: &str,
    data: Data,
    mode: CreateMode,
    protected: bool,
    attempt: Attempt,
) -> Result<(String, Stat), ZkError> {
    let (parent, name) = split(path)?;
    let prefix = protected_prefix(id);
    let full = join(&parent, &format!("{prefix}{name}"));
    let session = zk.session_id();
    let check_owner = attempt == Attempt::Fresh;
    let mut look_first = attempt == Attempt::CarriedOver;
    loop {
        if look_first {
            look_first = false;
        } else {
            match zk.create(&full, data.clone(), mode).await {
                Err(ZkError::ConnectionLoss) => {}
                // The service's plain create reports no Stat (ZooKeeper 3.8): read it back, for
                // the czxid that is the fencing token.
                Ok(created) => {
                    return match stat_of(zk, &created).await? {
                        Some(s) => Ok((created, s)),
                        None => Err(ZkError::Api(ErrorCode::NoNode)),
                    };
                }
                Err(e) => return Err(e),
            }
            if !protected {
                continue;
            }
        }
        // Did the lost create take effect? Look for our prefix until a definite answer. Sync
        // first, so a lagging follower cannot hide our own create (and make us create twice).
        let found = loop {
            if let Err(ZkError::ConnectionLoss) = zk.sync(&parent).await {
                continue;
            }
            match zk.get_children(&parent).await {
                Ok((kids, _)) => break kids.into_iter().find(|k| k.starts_with(&prefix)),
                Err(ZkError::ConnectionLoss) => continue,
                Err(e) => return Err(e),
            }
        };
        let Some(kid) = found else { continue };
        let candidate = join(&parent, &kid);
        match stat_of(zk, &candidate).await? {
            Some(s) if !check_owner || !mode.is_ephemeral() || s.ephemeral_owner == session => {
                return Ok((candidate, s))
            }
            // Deleted meanwhile, or an ephemeral of another session (CURATOR-498): create again.
            _ => continue,
        }
    }
}

/// The Stat of `path` (None: no such node), retrying over ConnectionLoss.
pub async fn stat_of(zk: &ZkClient, path: &str) -> Result<Option<Stat>, ZkError> {
    loop {
        match zk.exists(path).await {
            Err(ZkError::ConnectionLoss) => continue,
            other => return other,
        }
    }
}

/// The protected id a node name carries, if any (`_c_<id>-rest` ⇒ `<id>`).
pub fn protected_id_of(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("_c_")?;
    // The id is 36 characters (8-4-4-4-12 hex digits).
    if rest.len() > 36 && rest.as_bytes()[36] == b'-' {
        Some(&rest[..36])
    } else {
        None
    }
}

/// The sequence number a sequential node name ends with (its last 10 digits).
pub fn sequence_of(name: &str) -> Option<u64> {
    if name.len() < 10 {
        return None;
    }
    name[name.len() - 10..].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Seeds;

    #[test]
    fn ids_are_uuid_shaped_and_parse_back() {
        let mut rng = Seeds::new(7).stream("t");
        let id = protected_id(&mut rng);
        assert_eq!(id.len(), 36, "uuid-like id: {id}");
        let name = format!("{}lock-0000000012", protected_prefix(&id));
        assert_eq!(protected_id_of(&name), Some(id.as_str()));
        assert_eq!(sequence_of(&name), Some(12));
        assert_eq!(protected_id_of("lock-0000000012"), None);
        assert_ne!(id, protected_id(&mut rng), "two calls give two ids");
    }
}
