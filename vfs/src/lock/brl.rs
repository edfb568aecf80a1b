//! Byte-range locks of one file (MS-FSA 2.1.5.8 lock, 2.1.5.9 unlock, 2.1.4.10 the conflict
//! check shared by lock requests and I/O).
//!
//! Locks belong to an open ([`OpenId`]). The rules, as Windows applies them (smbtorture
//! smb2.lock stacking, zerobytelength, rw-shared, rw-exclusive):
//! - An exclusive lock request conflicts with every overlapping lock, including the
//!   requesting open's own (exclusive locks do not stack, nor go on top of a shared one).
//! - A shared lock request conflicts with overlapping exclusive locks of other opens only:
//!   shared locks stack, and an open may put a shared lock on its own exclusive range.
//! - A READ conflicts with overlapping exclusive locks of other opens; a WRITE with any
//!   overlapping lock except an exclusive one of its own open (a WRITE into the writer's own
//!   shared lock fails too).
//! - Overlap is computed on inclusive last bytes (2.1.4.10), so a zero-length range at X
//!   overlaps a range that contains X other than at its first byte, the {0, 0} range overlaps
//!   nothing, and a lock on the very last byte (offset `u64::MAX`, length 1) is valid.
//! - An unlock names a lock exactly (offset, length, open); of several stacked ones the
//!   exclusive one goes first (2.1.5.9).
//!
//! Owners that are not SMB opens use the same list. NFSv3 I/O has no open at all and passes
//! `None` (it conflicts like a foreign open). NLM (issue 14) will take locks through the NLM
//! service's own [`super::EventSink`]: each NLM owner (client host + svid) gets an [`OpenId`]
//! minted by the manager for that sink, so its locks conflict with SMB opens' like any other
//! open's, and its blocked locks park as [`super::Waiter`]s of that sink. POSIX semantics
//! that NLM needs beyond this (lock splitting and merging on unlock of a sub-range, upgrade
//! of an owner's own lock in place) belong in an NLM-owner mode of this list, not in SMB's.

use super::OpenId;
use crate::VfsError;

/// One lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteLock {
    /// The open that holds it.
    pub open: OpenId,
    /// First byte.
    pub start: u64,
    /// Length in bytes (0 is allowed: it locks no byte, but conflicts as 2.1.4.10 says).
    pub len: u64,
    /// Exclusive (write) lock, else shared (read).
    pub exclusive: bool,
}

/// The last byte of [start, start+len) (MS-FSA 2.1.4.10 LastByteOffset: start - 1 for an
/// empty range, which makes an empty range overlap only ranges strictly around its offset).
/// Ranges that would pass the end of the 64-bit space are cut at `u64::MAX` (lock requests
/// are refused before, with [`VfsError::InvalidLockRange`]).
fn last_byte(start: u64, len: u64) -> u64 {
    if len == 0 {
        start.wrapping_sub(1)
    } else {
        start.saturating_add(len - 1)
    }
}

/// MS-FSA 2.1.4.10: do [a_start, +a_len) and [b_start, +b_len) overlap?
fn ranges_overlap(a_start: u64, a_len: u64, b_start: u64, b_len: u64) -> bool {
    if (a_start == 0 && a_len == 0) || (b_start == 0 && b_len == 0) {
        return false;
    }
    a_start <= last_byte(b_start, b_len) && last_byte(a_start, a_len) >= b_start
}

impl ByteLock {
    /// MS-FSA 2.1.4.10: does an access to [start, start+len) through `open` (`None`: no open,
    /// NFSv3) conflict with this lock? `exclusive` is the intent (an exclusive lock or a
    /// WRITE), `lock_intent` says whether it is a lock request or I/O.
    fn conflicts(
        &self,
        open: Option<OpenId>,
        start: u64,
        len: u64,
        exclusive: bool,
        lock_intent: bool,
    ) -> bool {
        if !ranges_overlap(self.start, self.len, start, len) {
            return false;
        }
        if self.exclusive {
            Some(self.open) != open || (exclusive && lock_intent)
        } else {
            exclusive
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

    /// Would `lock` be granted now? MS-FSA 2.1.5.8: a range past the last 64-bit offset is
    /// [`VfsError::InvalidLockRange`]; a conflict is [`VfsError::LockNotGranted`].
    pub fn can_lock(&self, lock: &ByteLock) -> Result<(), VfsError> {
        if lock.len > 0 && lock.start.checked_add(lock.len - 1).is_none() {
            return Err(VfsError::InvalidLockRange);
        }
        let conflict = self
            .locks
            .iter()
            .any(|l| l.conflicts(Some(lock.open), lock.start, lock.len, lock.exclusive, true));
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

    /// Removes the lock of `open` that is exactly [start, start+len) (MS-FSA 2.1.5.9: an
    /// unlock names a lock, not a range to carve out); of stacked ones the exclusive lock
    /// goes first, else the newest shared one.
    pub fn unlock(&mut self, open: OpenId, start: u64, len: u64) -> Result<ByteLock, VfsError> {
        let same = |l: &ByteLock| l.open == open && l.start == start && l.len == len;
        let pos = self
            .locks
            .iter()
            .position(|l| same(l) && l.exclusive)
            .or_else(|| self.locks.iter().rposition(same));
        match pos {
            Some(i) => Ok(self.locks.remove(i)),
            None => Err(VfsError::RangeNotLocked),
        }
    }

    /// How many locks the file has (a mark for [`LockList::rollback`]).
    pub fn len(&self) -> usize {
        self.locks.len()
    }

    /// Removes the locks added since `len()` was `mark` (a multi-element request that
    /// failed part-way: MS-SMB2 3.3.5.14.2 unlocks what the request took).
    pub fn rollback(&mut self, mark: usize) {
        self.locks.truncate(mark);
    }

    /// Drops every lock of `open` (it closed); true when it held any.
    pub fn release_open(&mut self, open: OpenId) -> bool {
        let before = self.locks.len();
        self.locks.retain(|l| l.open != open);
        before != self.locks.len()
    }

    /// The I/O check (MS-FSA 2.1.4.10 without lock intent): a READ (`write` false) or WRITE
    /// of [offset, offset+len) through `open` (`None`: a protocol without opens, NFSv3,
    /// which conflicts like a foreign open). A conflict is [`VfsError::LockConflict`].
    pub fn check_io(
        &self,
        open: Option<OpenId>,
        offset: u64,
        len: u64,
        write: bool,
    ) -> Result<(), VfsError> {
        if self
            .locks
            .iter()
            .any(|l| l.conflicts(open, offset, len, write, false))
        {
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

    /// smbtorture smb2.lock zerobytelength: the same results with one open and with two.
    #[test]
    fn zero_length_locks() {
        /// (first lock, second lock, granted), each lock (offset, length).
        type Case = ((u64, u64), (u64, u64), bool);
        let table: &[Case] = &[
            ((10, 0), (10, 0), true),
            ((10, 0), (9, 1), true),
            ((10, 0), (10, 1), true),
            ((10, 0), (11, 1), true),
            ((10, 0), (9, 2), false),
            ((10, 0), (10, 2), true),
            ((10, 0), (9, 3), false),
            ((9, 1), (10, 0), true),
            ((10, 1), (10, 0), true),
            ((11, 1), (10, 0), true),
            ((9, 2), (10, 0), false),
            ((10, 2), (10, 0), true),
            ((9, 3), (10, 0), false),
            ((0, 0), (0, 0), true),
        ];
        for second in [1, 2] {
            for &((s1, l1), (s2, l2), ok) in table {
                let mut l = LockList::default();
                l.lock(lk(1, s1, l1, true), 10).unwrap();
                let got = l.lock(lk(second, s2, l2, true), 10);
                assert_eq!(got.is_ok(), ok, "{s1}/{l1} then {s2}/{l2} by {second}");
            }
        }
    }

    /// smbtorture smb2.lock stacking and unlock.
    #[test]
    fn stacking_and_unlock_order() {
        let mut l = LockList::default();
        l.lock(lk(1, 0, 10, true), 10).unwrap();
        // Shared on its own exclusive range, twice.
        l.lock(lk(1, 0, 10, false), 10).unwrap();
        l.lock(lk(1, 0, 10, false), 10).unwrap();
        // Not for another open, and exclusive never stacks.
        assert!(l.lock(lk(2, 0, 10, false), 10).is_err());
        assert!(l.lock(lk(1, 0, 10, true), 10).is_err());
        // The exclusive one is unlocked first: the other open can then share.
        l.unlock(open(1), 0, 10).unwrap();
        l.lock(lk(2, 0, 10, false), 10).unwrap();
        l.unlock(open(1), 0, 10).unwrap();
        l.unlock(open(1), 0, 10).unwrap();
        assert!(l.unlock(open(1), 0, 10).is_err());
        // Exclusive over one's own shared lock is refused.
        l.lock(lk(3, 50, 10, false), 10).unwrap();
        assert!(l.lock(lk(3, 50, 10, true), 10).is_err());
    }

    /// smbtorture smb2.lock lock: the last byte of the 64-bit space can be locked.
    #[test]
    fn range_ends() {
        let mut l = LockList::default();
        l.lock(lk(1, u64::MAX, 1, true), 10).unwrap();
        assert!(matches!(
            l.lock(lk(2, u64::MAX, 1, true), 10),
            Err(VfsError::LockNotGranted)
        ));
        assert!(matches!(
            l.lock(lk(2, u64::MAX, u64::MAX, true), 10),
            Err(VfsError::InvalidLockRange)
        ));
        // max/0 locks never conflict, with the same open or another.
        l.lock(lk(1, u64::MAX, 0, true), 10).unwrap();
        l.lock(lk(2, u64::MAX, 0, true), 10).unwrap();
        l.lock(lk(2, 1 << 63, 1, true), 10).unwrap();
        assert!(l.lock(lk(1, (1 << 63) - 1, 2, true), 10).is_err());
    }

    /// smbtorture smb2.lock rw-shared / rw-exclusive, and 2.1.4.10 for zero-length locks.
    #[test]
    fn io_through_own_and_foreign_locks() {
        let mut l = LockList::default();
        l.lock(lk(1, 0, 100, false), 10).unwrap();
        assert!(l.check_io(Some(open(1)), 0, 100, false).is_ok());
        assert!(matches!(
            l.check_io(Some(open(1)), 0, 100, true),
            Err(VfsError::LockConflict)
        ));
        assert!(l.check_io(Some(open(2)), 50, 100, true).is_err());
        assert!(l.check_io(None, 99, 1, false).is_ok());
        assert!(l.check_io(None, 100, 1, true).is_ok());
        let mut l = LockList::default();
        l.lock(lk(1, 10, 0, true), 10).unwrap();
        assert!(l.check_io(Some(open(2)), 10, 5, true).is_ok());
        assert!(l.check_io(Some(open(2)), 5, 5, true).is_ok());
        assert!(l.check_io(Some(open(2)), 5, 6, false).is_err());
        assert!(l.check_io(Some(open(1)), 5, 6, true).is_ok());
    }
}
