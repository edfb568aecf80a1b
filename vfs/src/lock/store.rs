//! Where per-file lock records live.
//!
//! The manager reads and changes a file's record only inside [`LockStore::with_file`], which
//! holds that file's lock for the duration: every check and the change it guards happen under
//! one lock. [`MemoryStore`] keeps records in a sharded map for one node. A cluster store
//! keeps hot records on the node that owns them ([`FileRecord::owner_node`]) and moves
//! ownership on demand, as CTDB does; the trait does not assume records are local.

use dashmap::DashMap;

use super::brl::LockList;
use super::events::SinkId;
use super::lease::{FileLeases, Held};
use super::manager::Waiter;
use super::{FileKey, Link, OpenId};

/// One open as the lock manager records it.
#[derive(Clone, Debug)]
pub struct OpenRecord {
    /// The open.
    pub id: OpenId,
    /// The connection (or service) that holds it; breaks go there.
    pub sink: SinkId,
    /// Granted access mask (after generic mapping).
    pub access: u32,
    /// ShareAccess it was opened with.
    pub share: u32,
    /// FILE_DELETE_ON_CLOSE was set on this open (at create or by SET_INFO on it): when it
    /// closes, the file becomes delete pending.
    pub delete_on_close: bool,
    /// The object is a directory.
    pub is_dir: bool,
    /// The oplock or lease this open holds.
    pub held: Held,
    /// Where this open named the object (parent directory and name; `None` for a share root).
    /// With hard links the opens of one file may name different links: delete on close
    /// removes the one named by the open that made the file delete pending.
    pub link: Option<Link>,
    /// Where the open named the object (lowercase, `/`-separated, from the backing store's
    /// root), when the protocol says: a directory rename refuses while an open lies below
    /// (`LockManager::open_below`).
    pub path: Option<std::sync::Arc<str>>,
}

/// Everything shared by the opens of one file.
#[derive(Debug, Default)]
pub struct FileRecord {
    /// The node whose manager serves this record (0 on a single node).
    pub owner_node: u32,
    /// Open instances, oldest first.
    pub opens: Vec<OpenRecord>,
    /// No new open may succeed; the file is unlinked when its last open closes.
    pub delete_pending: bool,
    /// The link to remove at the last close of a delete-pending file: the one named by the
    /// open that made it delete pending.
    pub link: Option<Link>,
    /// Byte-range locks.
    pub locks: LockList,
    /// Leases and oplock breaks in progress.
    pub leases: FileLeases,
    /// Requests parked on this file (waiting for a break or a range).
    pub waiters: Vec<Waiter>,
}

impl FileRecord {
    /// True when nothing refers to the file any more: the record can be dropped.
    pub fn is_idle(&self) -> bool {
        self.opens.is_empty()
            && self.waiters.is_empty()
            && self.locks.is_empty()
            && self.leases.is_empty()
    }
}

/// Where records live.
pub trait LockStore: Send + Sync {
    /// Runs `f` on the record of `key` (an empty one if there is none) under that file's lock;
    /// a record left idle ([`FileRecord::is_idle`]) is dropped afterwards.
    fn with_file(&self, key: FileKey, f: &mut dyn FnMut(&mut FileRecord));

    /// Runs `f` on the record of `key` if there is one, without creating it (read-only,
    /// e.g. the byte-range check on every READ and WRITE).
    fn peek(&self, key: FileKey, f: &mut dyn FnMut(&FileRecord));

    /// True when `f` holds for some record (a scan of every record: for rare questions such
    /// as "is any file below this directory open").
    fn any(&self, f: &mut dyn FnMut(&FileRecord) -> bool) -> bool;

    /// How many files have records (admin views, tests).
    fn len(&self) -> usize;

    /// True when no file has a record.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Records of one node, in memory: a sharded map (`dashmap`), so opens of different files
/// seldom contend (docs/decisions.md has the measurement against one mutex).
#[derive(Default)]
pub struct MemoryStore {
    files: DashMap<FileKey, FileRecord>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl LockStore for MemoryStore {
    fn with_file(&self, key: FileKey, f: &mut dyn FnMut(&mut FileRecord)) {
        let idle = {
            let mut rec = self.files.entry(key).or_default();
            f(&mut rec);
            rec.is_idle()
        };
        if idle {
            self.files.remove_if(&key, |_, r| r.is_idle());
        }
    }

    fn peek(&self, key: FileKey, f: &mut dyn FnMut(&FileRecord)) {
        if let Some(rec) = self.files.get(&key) {
            f(&rec);
        }
    }

    fn any(&self, f: &mut dyn FnMut(&FileRecord) -> bool) -> bool {
        self.files.iter().any(|r| f(r.value()))
    }

    fn len(&self) -> usize {
        self.files.len()
    }
}
