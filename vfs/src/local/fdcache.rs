//! Open descriptors kept per handle, so a client streaming READs or WRITEs to a file does
//! not pay `open_by_handle_at` + `close` (and the handle's MAC check) on every call.
//!
//! Only handles that passed authentication are inserted, so a byte-identical handle found here
//! is authentic. A cached descriptor pins its inode, so a deleted object stays reachable
//! through it: callers treat a link count of 0 as a stale handle, as a reopen would.
//! Eviction is first-in first-out at [`CAPACITY`] entries.

use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

/// Most handles with cached descriptors (each holds one to three descriptors).
pub const CAPACITY: usize = 512;

/// Descriptors of one object.
#[derive(Clone)]
pub struct Entry {
    /// `O_PATH` descriptor.
    pub path: Arc<OwnedFd>,
    /// Read-write descriptor of a regular file, once one was needed.
    pub rw: Option<Arc<OwnedFd>>,
    /// Read-only descriptor (regular file or directory) for `fgetxattr`, once one was needed:
    /// `O_PATH` descriptors need a `/proc/self/fd` walk, several times the cost.
    pub ro: Option<Arc<OwnedFd>>,
    /// Root tag of the handle.
    pub tag: u32,
}

/// The cache.
#[derive(Default)]
pub struct FdCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Vec<u8>, Entry>,
    order: VecDeque<Vec<u8>>,
}

impl FdCache {
    /// The entry for these handle bytes.
    pub fn get(&self, handle: &[u8]) -> Option<Entry> {
        self.inner.lock().ok()?.map.get(handle).cloned()
    }

    /// Inserts or replaces an entry.
    pub fn put(&self, handle: &[u8], entry: Entry) {
        let Ok(mut g) = self.inner.lock() else { return };
        if g.map.insert(handle.to_vec(), entry).is_none() {
            g.order.push_back(handle.to_vec());
        }
        while g.order.len() > CAPACITY {
            if let Some(old) = g.order.pop_front() {
                g.map.remove(&old);
            }
        }
    }

    /// Drops an entry (stale object).
    pub fn remove(&self, handle: &[u8]) {
        if let Ok(mut g) = self.inner.lock() {
            if g.map.remove(handle).is_some() {
                g.order.retain(|k| k.as_slice() != handle);
            }
        }
    }
}
