//! Access control lists, as ZooKeeper 3.8 checks them.
//!
//! A node's ACL is a list of (permissions, identity) entries; an operation is allowed when some
//! entry grants one of the permission bits it needs to an identity the caller holds. zksim's
//! clients never authenticate (there is no addAuth), so the only identity anyone holds is
//! `world:anyone`, and an `auth` entry — "whoever created this" — cannot be expanded: the server
//! refuses it with InvalidACL, as it refuses an empty list.

use crate::types::ErrorCode;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::{Hash, Hasher};

/// ZooKeeper's permission bits (`ZooDefs.Perms`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Perms(pub u32);

impl Perms {
    pub const READ: Perms = Perms(1);
    pub const WRITE: Perms = Perms(2);
    pub const CREATE: Perms = Perms(4);
    pub const DELETE: Perms = Perms(8);
    pub const ADMIN: Perms = Perms(16);
    pub const ALL: Perms = Perms(31);

    /// The bits of both.
    pub const fn union(self, other: Perms) -> Perms {
        Perms(self.0 | other.0)
    }

    /// The bits of `self` that `other` lacks.
    pub const fn without(self, other: Perms) -> Perms {
        Perms(self.0 & !other.0)
    }

    /// True when the two share a bit: ZooKeeper grants an operation needing `READ | ADMIN`
    /// (getACL) to an entry holding either.
    pub const fn intersects(self, other: Perms) -> bool {
        self.0 & other.0 != 0
    }
}

impl fmt::Debug for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(Perms, char); 5] =
            [(Perms::READ, 'r'), (Perms::WRITE, 'w'), (Perms::CREATE, 'c'), (Perms::DELETE, 'd'), (Perms::ADMIN, 'a')];
        let letters: String = NAMES.iter().filter(|(p, _)| self.intersects(*p)).map(|(_, c)| *c).collect();
        write!(f, "{letters}")
    }
}

/// Who an entry grants its permissions to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AclId {
    /// `world:anyone`: every client.
    Anyone,
    /// `auth:`: the creating client's authenticated identities. A request carrying one is
    /// refused (InvalidACL) unless the client authenticated, which zksim's clients never do.
    Creator,
}

impl AclId {
    /// ZooKeeper's (scheme, id) for this identity.
    pub fn scheme_and_id(self) -> (&'static str, &'static str) {
        match self {
            AclId::Anyone => ("world", "anyone"),
            AclId::Creator => ("auth", ""),
        }
    }
}

/// One entry of an ACL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclEntry {
    pub perms: Perms,
    pub id: AclId,
}

/// An ACL as a client sends it or a node holds it. Nearly every node in a run has the open ACL
/// (`world:anyone` with every permission, ZooKeeper's `OPEN_ACL_UNSAFE`), so that one is held
/// without a heap list; the two forms cannot both describe it (the constructor normalizes).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Vec<AclEntry>", from = "Vec<AclEntry>")]
pub struct Acl(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Open,
    /// Any list but exactly `[world:anyone ALL]`, boxed so an ACL is one word in every op and
    /// node (a boxed slice would be two): the extra allocation is only for the rare non-open list.
    #[allow(clippy::box_collection)]
    Entries(Box<Vec<AclEntry>>),
}

const OPEN: [AclEntry; 1] = [AclEntry { perms: Perms::ALL, id: AclId::Anyone }];

impl Acl {
    /// `world:anyone` with every permission.
    pub fn open() -> Acl {
        Acl(Repr::Open)
    }

    /// `world:anyone` with exactly `perms`.
    pub fn anyone(perms: Perms) -> Acl {
        Acl::from_entries(vec![AclEntry { perms, id: AclId::Anyone }])
    }

    /// The ACL holding `entries`, in order (an empty list is representable: the server refuses
    /// it, see [`Self::fixup`]).
    pub fn from_entries(entries: Vec<AclEntry>) -> Acl {
        if entries[..] == OPEN[..] {
            Acl(Repr::Open)
        } else {
            Acl(Repr::Entries(Box::new(entries)))
        }
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[AclEntry] {
        match &self.0 {
            Repr::Open => &OPEN,
            Repr::Entries(e) => e,
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self.0, Repr::Open)
    }

    /// What the server stores for a requested ACL (PrepRequestProcessor.fixupACL): exact
    /// duplicates dropped, first occurrence kept; an empty list, or an `auth` entry from a client
    /// with no authenticated identity, is InvalidACL.
    pub fn fixup(&self) -> Result<Acl, ErrorCode> {
        let entries = self.entries();
        if entries.is_empty() || entries.iter().any(|e| e.id == AclId::Creator) {
            return Err(ErrorCode::InvalidACL);
        }
        if self.is_open() || entries.len() == 1 {
            return Ok(self.clone());
        }
        let mut unique: Vec<AclEntry> = Vec::with_capacity(entries.len());
        for e in entries {
            if !unique.contains(e) {
                unique.push(*e);
            }
        }
        Ok(Acl::from_entries(unique))
    }

    /// True when some entry grants a client (which holds only `world:anyone`) one of the bits
    /// of `needed` (ZooKeeperServer.checkACL). An empty stored list allows everything, as in the
    /// server, though fixup never stores one.
    pub fn allows(&self, needed: Perms) -> bool {
        match &self.0 {
            // Every check of every recipe's node lands here.
            Repr::Open => needed.intersects(Perms::ALL),
            Repr::Entries(e) => e.is_empty() || e.iter().any(|e| e.id == AclId::Anyone && e.perms.intersects(needed)),
        }
    }
}

/// The open ACL feeds the hasher nothing, so the chain digest of a log (recorded in histories)
/// is what it was before creates carried an ACL, and hashing the common case costs nothing.
impl Hash for Acl {
    fn hash<H: Hasher>(&self, state: &mut H) {
        if let Repr::Entries(entries) = &self.0 {
            entries[..].hash(state);
        }
    }
}

impl Default for Acl {
    fn default() -> Acl {
        Acl::open()
    }
}

impl fmt::Debug for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_open() {
            return write!(f, "open");
        }
        let entries: Vec<String> = self
            .entries()
            .iter()
            .map(|e| {
                let (scheme, id) = e.id.scheme_and_id();
                format!("{scheme}:{id}={:?}", e.perms)
            })
            .collect();
        write!(f, "[{}]", entries.join(", "))
    }
}

impl From<Acl> for Vec<AclEntry> {
    fn from(acl: Acl) -> Vec<AclEntry> {
        acl.entries().to_vec()
    }
}

impl From<Vec<AclEntry>> for Acl {
    fn from(entries: Vec<AclEntry>) -> Acl {
        Acl::from_entries(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acl_is_one_word() {
        assert_eq!(std::mem::size_of::<Acl>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn open_has_one_form() {
        assert!(Acl::anyone(Perms::ALL).is_open());
        assert!(!Acl::anyone(Perms::READ).is_open());
        assert_eq!(Acl::open().entries(), &OPEN);
    }

    #[test]
    fn fixup_refuses_empty_and_unexpandable_auth_and_drops_duplicates() {
        assert_eq!(Acl::from_entries(vec![]).fixup(), Err(ErrorCode::InvalidACL));
        let creator = AclEntry { perms: Perms::ALL, id: AclId::Creator };
        assert_eq!(Acl::from_entries(vec![creator]).fixup(), Err(ErrorCode::InvalidACL));
        let r = AclEntry { perms: Perms::READ, id: AclId::Anyone };
        let w = AclEntry { perms: Perms::WRITE, id: AclId::Anyone };
        let fixed = Acl::from_entries(vec![r, w, r]).fixup().unwrap();
        assert_eq!(fixed.entries(), &[r, w]);
    }

    #[test]
    fn a_permission_is_granted_by_any_entry_holding_one_of_its_bits() {
        let read_only = Acl::anyone(Perms::READ);
        assert!(read_only.allows(Perms::READ));
        assert!(!read_only.allows(Perms::WRITE));
        assert!(read_only.allows(Perms::READ.union(Perms::ADMIN)), "getACL needs READ or ADMIN");
        assert!(!Acl::anyone(Perms::ALL.without(Perms::DELETE)).allows(Perms::DELETE));
        assert!(Acl::open().allows(Perms::ADMIN));
    }

    #[test]
    fn reads_as_scheme_id_and_permission_letters() {
        assert_eq!(format!("{:?}", Acl::anyone(Perms::READ.union(Perms::ADMIN))), "[world:anyone=ra]");
        assert_eq!(format!("{:?}", Acl::open()), "open");
    }

    #[test]
    fn serializes_as_its_entries() {
        let json = serde_json::to_string(&Acl::anyone(Perms::READ)).unwrap();
        assert_eq!(json, r#"[{"perms":1,"id":"anyone"}]"#);
        let back: Acl = serde_json::from_str(r#"[{"perms":31,"id":"anyone"}]"#).unwrap();
        assert!(back.is_open());
    }
}
