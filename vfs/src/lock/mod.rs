//! # The lock manager: one owner for the state opens of a file share
//!
//! Samba keeps it in `locking.tdb` and `brlock.tdb`, ksmbd in a per-inode open list; here it
//! is one protocol-neutral subsystem that SMB and NFS (and later NLM and the cluster) use:
//!
//! - [`share`]: share-access checks between opens (MS-FSA 2.1.5.1.2).
//! - [`brl`]: byte-range locks of a file and the I/O checks against them.
//! - [`lease`]: oplocks and leases: what a new open may be granted and what must be broken.
//! - [`events`]: breaks and wake-ups sent to connections ([`EventSink`]).
//! - [`store`]: where per-file records live ([`LockStore`]; [`MemoryStore`] for one node).
//! - [`manager`]: [`LockManager`], the API: one atomic check per request under the file's
//!   lock (share access, delete pending, oplock/lease state, byte ranges), never a
//!   check-then-act window between protocols.
//!
//! Records are keyed by [`FileKey`] (fsid, inode); opens by [`OpenId`], which carries the node
//! that made it, so a cluster store can route a record to its owner and move it.

pub mod brl;
pub mod events;
pub mod lease;
pub mod manager;
pub mod share;
pub mod store;
#[cfg(test)]
mod tests;

pub use events::{lease_state, EventSink, LockEvent, OplockLevel, SinkId};
pub use manager::{
    CloseOutcome, LockConfig, LockManager, NfsIntent, OpenGrant, OpenRequest, Waiter,
};
pub use store::{FileRecord, LockStore, MemoryStore, OpenRecord};

use crate::FileHandle;

/// A file as the lock manager knows it: (fsid, inode) from [`crate::Attr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey {
    /// Filesystem id ([`crate::Attr::fsid`]).
    pub fsid: u64,
    /// Inode number ([`crate::Attr::fileid`]).
    pub ino: u64,
}

impl FileKey {
    /// The key of an object with these attributes.
    pub fn of(attr: &crate::Attr) -> FileKey {
        FileKey {
            fsid: attr.fsid,
            ino: attr.fileid,
        }
    }
}

/// One open of a file, unique in the cluster: the node that made it and a number unique on
/// that node for the life of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpenId {
    /// Node id (0 on a single node).
    pub node: u32,
    /// Unique per node.
    pub seq: u64,
}

/// Where an object is linked: its parent directory and name (for delete on close).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The parent directory.
    pub parent: FileHandle,
    /// The name in it.
    pub name: Vec<u8>,
}

/// Access mask bits the share-mode and lease checks look at (MS-SMB2 2.2.13.1.1).
pub mod access {
    /// FILE_READ_DATA.
    pub const READ_DATA: u32 = 0x0000_0001;
    /// FILE_WRITE_DATA.
    pub const WRITE_DATA: u32 = 0x0000_0002;
    /// FILE_APPEND_DATA.
    pub const APPEND_DATA: u32 = 0x0000_0004;
    /// FILE_EXECUTE.
    pub const EXECUTE: u32 = 0x0000_0020;
    /// DELETE.
    pub const DELETE: u32 = 0x0001_0000;
}

/// ShareAccess bits (MS-SMB2 2.2.13).
pub mod share_access {
    /// FILE_SHARE_READ.
    pub const READ: u32 = 0x1;
    /// FILE_SHARE_WRITE.
    pub const WRITE: u32 = 0x2;
    /// FILE_SHARE_DELETE.
    pub const DELETE: u32 = 0x4;
    /// All three.
    pub const ALL: u32 = 0x7;
}
