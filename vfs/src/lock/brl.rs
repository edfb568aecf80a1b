//! Byte-range locks of one file (MS-FSA 2.1.5.7 byte-range lock, 2.1.4.10 the I/O check).
//!
//! Locks belong to an open. Shared locks of different opens may overlap; an exclusive lock
//! overlaps nothing but the shared locks... of nobody: it is granted only where no other lock
//! lies. A READ through an open fails where another open holds an exclusive lock; a WRITE
//! fails where another open holds any lock, or where its own open holds a shared one.
//! Zero-length locks never conflict with I/O.

use super::OpenId;
use crate::VfsError;

/// One lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteLock {
    /// The open that holds it.
    pub open: OpenId,
    /// First byte.
    pub start: u64,
    /// Length in bytes (0 is allowed: it locks no byte).
    pub len: u64,
    /// Exclusive (write) lock, else shared (read).
    pub exclusive: bool,
}

impl ByteLock {
    /// Last byte + 1, saturating (callers refuse ranges that overflow).
    fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }

    /// True when this lock and [start, start+len) share a byte. A zero-length range shares
    /// none, except that a zero-length lock conflicts with an exclusive range strictly
    /// containing its offset (Windows semantics, smbtorture smb2.lock zerobytelength).
    fn overlaps(&self, start: u64, len: u64) -> bool {
        let end = start.saturating_add(len);
        match (self.len, len) {
            (0, 0) => false,
            (0, _) => start < self.start && self.start < end,
            (_, 0) => self.start < start && start < self.end(),
            _ => self.start < end && start < self.end(),
        }
    }
}

/// The locks of one file.
#[derive(Clone, Debug, Default)]
pub struct LockList {
    locks: Vec<ByteLock>,
}

impl LockList {
    /// No locks.
    pub fn is_empty(&self) -> bool {
        self.locks.is_empty()
    }

    /// How many locks `open` holds.
    pub fn count_of(&self, open: OpenId) -> usize {
        self.locks.iter().filter(|l| l.open == open).count()
    }

    /// Every lock (admin views, tests).
    pub fn iter(&self) -> impl Iterator<Item = &ByteLock> {
        self.locks.iter()
    }

    /// Would `lock` be granted now?
    pub fn can_lock(&self, lock: &ByteLock) -> Result<(), VfsError> {
        if lock.start.checked_add(lock.len).is_none() && lock.len > 0 {
            return Err(VfsError::InvalidLockRange);
        }
        let conflict = self.locks.iter().any(|l| {
            // A shared lock may sit on a range its own open holds exclusively.
            l.overlaps(lock.start, lock.len)
                && (lock.exclusive || (l.exclusive && l.open != lock.open))
        });
        if conflict {
            Err(VfsError::LockNotGranted)
        } else {
            Ok(())
        }
    }

    /// Adds `lock` if it is granted now; `max_per_open` caps the locks one open may hold.
    pub fn lock(&mut self, lock: ByteLock, max_per_open: usize) -> Result<(), VfsError> {
        self.can_lock(&lock)?;
        if self.count_of(lock.open) >= max_per_open {
            return Err(VfsError::NoResources);
        }
        self.locks.push(lock);
        Ok(())
    }

    /// Removes the lock of `open` that is exactly [start, start+len) (MS-FSA 2.1.5.8: an
    /// unlock names a lock, not a range to carve out).
    pub fn unlock(&mut self, open: OpenId, start: u64, len: u64) -> Result<ByteLock, VfsError> {
        match self
            .locks
            .iter()
            .position(|l| l.open == open && l.start == start && l.len == len)
        {
            Some(i) => Ok(self.locks.remove(i)),
            None => Err(VfsError::RangeNotLocked),
        }
    }

    /// Drops every lock of `open` (it closed); true when it held any.
    pub fn release_open(&mut self, open: OpenId) -> bool {
        let before = self.locks.len();
        self.locks.retain(|l| l.open != open);
        before != self.locks.len()
    }

    /// The I/O check: a READ (`write` false) or WRITE of [offset, offset+len) through `open`
    /// (`None`: a protocol without opens, NFSv3, which is treated as a foreign open).
    pub fn check_io(
        &self,
        open: Option<OpenId>,
        offset: u64,
        len: u64,
        write: bool,
    ) -> Result<(), VfsError> {
        if len == 0 {
            return Ok(());
        }
        let conflict = self.locks.iter().any(|l| {
            l.len > 0
                && l.overlaps(offset, len)
                && if write {
                    Some(l.open) != open || !l.exclusive
                } else {
                    l.exclusive && Some(l.open) != open
                }
        });
        if conflict {
            Err(VfsError::LockConflict)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(n: u64) -> OpenId {
        OpenId { node: 0, seq: n }
    }

    fn lk(o: u64, start: u64, len: u64, exclusive: bool) -> ByteLock {
        ByteLock {
            open: open(o),
            start,
            len,
            exclusive,
        }
    }

    #[test]
    fn shared_locks_stack_exclusive_ones_do_not() {
        let mut l = LockList::default();
        l.lock(lk(1, 0, 10, false), 10).unwrap();
        l.lock(lk(2, 5, 10, false), 10).unwrap();
        assert!(matches!(
            l.lock(lk(3, 9, 1, true), 10),
            Err(VfsError::LockNotGranted)
        ));
        l.lock(lk(3, 10, 1, true), 10).unwrap_err(); // open 2 holds 5..15
        l.lock(lk(3, 15, 1, true), 10).unwrap();
    }

    #[test]
    fn io_against_locks() {
        let mut l = LockList::default();
        l.lock(lk(1, 100, 10, true), 10).unwrap();
        assert!(l.check_io(Some(open(1)), 100, 10, true).is_ok());
        assert!(l.check_io(Some(open(2)), 105, 1, false).is_err());
        assert!(l.check_io(None, 95, 6, true).is_err());
        assert!(l.check_io(Some(open(2)), 110, 5, true).is_ok());
        l.lock(lk(2, 200, 10, false), 10).unwrap();
        assert!(l.check_io(Some(open(2)), 200, 1, true).is_err());
        assert!(l.check_io(Some(open(1)), 200, 1, false).is_ok());
    }

    #[test]
    fn unlock_names_a_whole_lock() {
        let mut l = LockList::default();
        l.lock(lk(1, 0, 10, true), 10).unwrap();
        assert!(matches!(
            l.unlock(open(1), 0, 5),
            Err(VfsError::RangeNotLocked)
        ));
        assert!(l.unlock(open(2), 0, 10).is_err());
        l.unlock(open(1), 0, 10).unwrap();
        assert!(l.is_empty());
    }

    #[test]
    fn caps_and_overflow() {
        let mut l = LockList::default();
        l.lock(lk(1, 0, 1, true), 1).unwrap();
        assert!(matches!(
            l.lock(lk(1, 5, 1, true), 1),
            Err(VfsError::NoResources)
        ));
        assert!(matches!(
            l.lock(lk(2, u64::MAX, 2, true), 9),
            Err(VfsError::InvalidLockRange)
        ));
    }
}
