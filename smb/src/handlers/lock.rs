//! LOCK (MS-SMB2 3.3.5.14): byte-range locks through the lock manager.
//!
//! A request either unlocks (its first element has SMB2_LOCKFLAG_UNLOCK: every element must
//! be a plain unlock, processed in order until one fails; nothing is rolled back) or locks
//! (every element shared or exclusive; several only with FAIL_IMMEDIATELY each; one
//! [`LockManager::lock`] call takes them all or, on a conflict, none). A single element
//! without FAIL_IMMEDIATELY is a blocking lock: it waits for the range ([`park`]).
//!
//! Lock sequence replay (3.3.5.14, [`LockSequences`]): a client that resends a LOCK after a
//! lost connection names it by (LockSequenceIndex, LockSequenceNumber); a repeat of the last
//! successful one on the open is answered SUCCESS without doing it again.
//!
//! [`LockManager::lock`]: shoal_vfs::lock::LockManager::lock

use shoal_smb_proto::lock::{encode_lock_response, flags, LockElement, LockRequest};
use shoal_smb_proto::misc::FileId;
use shoal_smb_proto::negotiate::capabilities;
use shoal_smb_proto::{Dialect, NtStatus};
use shoal_vfs::lock::brl::ByteLock;
use shoal_vfs::lock::{FileKey, OpenId};
use shoal_vfs::VfsError;

use super::tree_of;
use crate::conn::state::{Conn, OpenKind};
use crate::error::{fail, SmbError};
use crate::req::{Park, Reply, Req};

/// Open.LockSequenceArray (MS-SMB2 3.3.1.10): the last LockSequenceNumber that succeeded in
/// each of the 64 buckets, and whether this open is checked at all.
#[derive(Clone, Debug)]
pub(crate) struct LockSequences {
    /// Replay detection applies to this open whatever the dialect (Open.IsResilient,
    /// Open.IsDurable or Open.IsPersistent: set by whoever makes the handle so).
    pub verify: bool,
    /// SequenceNumber of each bucket, or [`LockSequences::INVALID`].
    slots: [u8; 64],
}

impl Default for LockSequences {
    fn default() -> LockSequences {
        LockSequences {
            verify: false,
            slots: [LockSequences::INVALID; 64],
        }
    }
}

impl LockSequences {
    /// A bucket with no valid entry (numbers are 4 bits).
    const INVALID: u8 = 0xFF;

    /// 3.3.5.14: is (index, number) a replay of the last successful request of its bucket?
    /// When not, the bucket is invalidated until the request succeeds ([`Self::record`]).
    /// Indexes outside 1..=64 are not checked.
    fn is_replay(&mut self, index: u32, number: u8) -> bool {
        let Some(slot) = Self::bucket(index).and_then(|i| self.slots.get_mut(i)) else {
            return false;
        };
        if *slot == number {
            return true;
        }
        *slot = Self::INVALID;
        false
    }

    /// The request (index, number) succeeded.
    fn record(&mut self, index: u32, number: u8) {
        if let Some(slot) = Self::bucket(index).and_then(|i| self.slots.get_mut(i)) {
            *slot = number & 0xF;
        }
    }

    fn bucket(index: u32) -> Option<usize> {
        (1..=64)
            .contains(&index)
            .then(|| usize::try_from(index - 1).ok())
            .flatten()
    }
}

/// Whether lock sequences are verified for this request (3.3.5.14): not on 2.0.2; on a
/// resilient, durable or persistent open ([`LockSequences::verify`]); on 3.x when the
/// server advertised multichannel.
fn verifies_sequence(conn: &Conn, seq: &LockSequences) -> bool {
    match conn.negotiated() {
        None | Some(Dialect::SMB2_0_2) => false,
        Some(d) => {
            seq.verify
                || (d.is_smb3() && conn.server_capabilities & capabilities::MULTI_CHANNEL != 0)
        }
    }
}

/// LOCK.
pub(crate) async fn handle(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let l = LockRequest::decode(req.msg)?;
    let id = req.file_id(l.file_id);
    let _ = tree_of(conn, req)?;
    if l.locks.is_empty() {
        // 3.3.5.14: "If the LockCount field is zero, the server MUST fail the request with
        // STATUS_INVALID_PARAMETER."
        return fail(NtStatus::INVALID_PARAMETER);
    }
    let verify = match conn.opens.get(&id) {
        Some(o) if o.session_id == req.session_id && o.tree_id == req.tree_id => {
            verifies_sequence(conn, &o.lock_sequences)
        }
        _ => return fail(NtStatus::FILE_CLOSED),
    };
    let Some(open) = conn.opens.get_mut(&id) else {
        return fail(NtStatus::FILE_CLOSED);
    };
    if verify
        && open
            .lock_sequences
            .is_replay(l.lock_sequence_index, l.lock_sequence_number)
    {
        return Ok(lock_reply());
    }
    let target = match (&open.kind, open.lock) {
        (OpenKind::File { is_dir: false, .. }, Some(target)) => target,
        // MS-FSA 2.1.5.8: no byte-range locks on directories.
        (OpenKind::File { is_dir: true, .. }, _) => return fail(NtStatus::INVALID_PARAMETER),
        (OpenKind::Pipe(_), _) => return fail(NtStatus::INVALID_DEVICE_REQUEST),
        (OpenKind::File { .. }, None) => {
            tracing::debug!("LOCK on an open the lock manager does not know");
            return fail(NtStatus::NOT_SUPPORTED);
        }
    };
    let manager = conn.shared.config.locks.clone();
    let result = match plan(&l.locks)? {
        Plan::Unlock => unlock_each(&manager, target.key, target.id, &l.locks),
        Plan::Lock { blocking } => {
            let locks: Vec<ByteLock> = l
                .locks
                .iter()
                .map(|e| ByteLock {
                    open: target.id,
                    start: e.offset,
                    len: e.length,
                    exclusive: e.flags & flags::EXCLUSIVE != 0,
                })
                .collect();
            if blocking {
                if let Some(parked) = park(conn, req, id, target.key, &locks)? {
                    return Ok(parked);
                }
                Ok(())
            } else {
                manager.lock(target.key, &locks, None)
            }
        }
    };
    result?;
    if verify {
        if let Some(o) = conn.opens.get_mut(&id) {
            o.lock_sequences
                .record(l.lock_sequence_index, l.lock_sequence_number);
        }
    }
    Ok(lock_reply())
}

/// What a valid request does.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// Unlock each element in order.
    Unlock,
    /// Lock all elements; `blocking`: one element without FAIL_IMMEDIATELY.
    Lock { blocking: bool },
}

/// The flag checks of 3.3.5.14.1 (unlock) and 3.3.5.14.2 (lock): the first element decides.
fn plan(locks: &[LockElement]) -> Result<Plan, SmbError> {
    let Some(first) = locks.first() else {
        return fail(NtStatus::INVALID_PARAMETER);
    };
    if first.flags & flags::UNLOCK != 0 {
        // Unlock elements are checked one by one as they are processed (an earlier unlock
        // that fails answers RANGE_NOT_LOCKED before a later bad element is seen).
        return Ok(Plan::Unlock);
    }
    // 3.3.5.14.2: more than one element, any without FAIL_IMMEDIATELY: INVALID_PARAMETER;
    // an UNLOCK among locks, or any combination not defined in 2.2.26.1: INVALID_PARAMETER.
    let many = locks.len() > 1;
    for e in locks {
        let kind = e.flags & !flags::FAIL_IMMEDIATELY;
        if kind != flags::SHARED && kind != flags::EXCLUSIVE {
            return fail(NtStatus::INVALID_PARAMETER);
        }
        if many && e.flags & flags::FAIL_IMMEDIATELY == 0 {
            return fail(NtStatus::INVALID_PARAMETER);
        }
    }
    Ok(Plan::Lock {
        blocking: !many && first.flags & flags::FAIL_IMMEDIATELY == 0,
    })
}

/// 3.3.5.14.1: each element must be exactly SMB2_LOCKFLAG_UNLOCK; they are unlocked in order
/// and the first failure ends the request (earlier unlocks stay done).
fn unlock_each(
    manager: &shoal_vfs::lock::LockManager,
    key: FileKey,
    open: OpenId,
    locks: &[LockElement],
) -> Result<(), VfsError> {
    for e in locks {
        if e.flags != flags::UNLOCK {
            return Err(VfsError::Invalid);
        }
        // MS-FSA 2.1.5.9: a range past the last 64-bit offset.
        if e.length > 0 && e.offset.checked_add(e.length - 1).is_none() {
            return Err(VfsError::InvalidLockRange);
        }
        manager.unlock(key, open, e.offset, e.length)?;
    }
    Ok(())
}

/// A blocking lock (one element, no FAIL_IMMEDIATELY): 3.3.5.14.2 says the server waits until
/// it can be granted. The lock manager takes the lock or parks the request in one call
/// (`Waiter { sink, token: AsyncId }`); a parked request gets an interim STATUS_PENDING and is
/// run again, whole (flag and replay checks included), when a range of the file is unlocked
/// or an open of it closes. `None`: granted now. What smbtorture smb2.lock expects of a
/// parked lock: CANCEL answers CANCELLED; closing the waiting handle answers it
/// RANGE_NOT_LOCKED; TREE_DISCONNECT and LOGOFF close the holder's opens, which wakes and
/// grants the waiter (the connection cancels the manager waiter whenever the request ends
/// otherwise).
fn park(
    conn: &mut Conn,
    req: &Req<'_>,
    handle: FileId,
    key: FileKey,
    locks: &[ByteLock],
) -> Result<Option<Reply>, SmbError> {
    let manager = conn.shared.config.locks.clone();
    let Some(token) = conn.park_token(req) else {
        // Too many requests wait on this connection: this one cannot.
        manager.lock(key, locks, None)?;
        return Ok(None);
    };
    match manager.lock(key, locks, Some(conn.waiter(token))) {
        Ok(()) => Ok(None),
        Err(VfsError::WouldBlock) => Ok(Some(Reply::parked(Park {
            async_id: token,
            key: Some(key),
            handle: Some(handle),
            deadline: None,
            cleanup: NtStatus::RANGE_NOT_LOCKED,
        }))),
        Err(e) => Err(e.into()),
    }
}

fn lock_reply() -> Reply {
    let mut body = Vec::with_capacity(4);
    encode_lock_response(&mut body);
    Reply::ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(flags: u32) -> LockElement {
        LockElement {
            offset: 0,
            length: 1,
            flags,
        }
    }

    fn status(r: Result<Plan, SmbError>) -> NtStatus {
        r.map(|_| NtStatus::SUCCESS).unwrap_or_else(|e| e.status())
    }

    /// The flag permutations of smbtorture smb2.lock valid-request.
    #[test]
    fn flag_combinations() {
        use flags::*;
        let bad = NtStatus::INVALID_PARAMETER;
        assert_eq!(status(plan(&[el(0)])), bad);
        assert_eq!(status(plan(&[el(!0x17)])), bad);
        assert_eq!(status(plan(&[el(SHARED | EXCLUSIVE)])), bad);
        assert_eq!(status(plan(&[el(0), el(UNLOCK)])), bad);
        assert_eq!(status(plan(&[el(0), el(0)])), bad);
        assert_eq!(status(plan(&[el(SHARED), el(SHARED)])), bad);
        assert_eq!(
            status(plan(&[el(SHARED | FAIL_IMMEDIATELY), el(UNLOCK)])),
            bad
        );
        assert_eq!(
            plan(&[
                el(SHARED | FAIL_IMMEDIATELY),
                el(EXCLUSIVE | FAIL_IMMEDIATELY)
            ])
            .unwrap(),
            Plan::Lock { blocking: false }
        );
        assert_eq!(
            plan(&[el(EXCLUSIVE)]).unwrap(),
            Plan::Lock { blocking: true }
        );
        // Unlock mode is decided by the first element; the rest is checked as it goes.
        assert_eq!(plan(&[el(UNLOCK), el(0)]).unwrap(), Plan::Unlock);
        assert_eq!(plan(&[el(UNLOCK | SHARED)]).unwrap(), Plan::Unlock);
    }

    #[test]
    fn unlock_elements_must_be_plain_unlocks() {
        use shoal_vfs::lock::{LockConfig, LockManager};
        let m = LockManager::in_memory(LockConfig::default());
        let key = FileKey { fsid: 1, ino: 2 };
        let open = OpenId { node: 0, seq: 1 };
        for f in [
            flags::UNLOCK | flags::SHARED,
            flags::UNLOCK | flags::EXCLUSIVE,
            flags::UNLOCK | flags::FAIL_IMMEDIATELY,
        ] {
            assert!(matches!(
                unlock_each(&m, key, open, &[el(f)]),
                Err(VfsError::Invalid)
            ));
        }
        assert!(matches!(
            unlock_each(&m, key, open, &[el(flags::UNLOCK)]),
            Err(VfsError::RangeNotLocked)
        ));
        let past_end = LockElement {
            offset: u64::MAX,
            length: 2,
            flags: flags::UNLOCK,
        };
        assert!(matches!(
            unlock_each(&m, key, open, &[past_end]),
            Err(VfsError::InvalidLockRange)
        ));
    }

    /// smbtorture smb2.lock replay_*: buckets 1..=64 remember the last success; 0 and 65
    /// are never checked; a new number invalidates the bucket until it succeeds.
    #[test]
    fn lock_sequence_replay() {
        let mut s = LockSequences::default();
        assert!(!s.is_replay(1, 1));
        s.record(1, 1);
        assert!(s.is_replay(1, 1));
        assert!(!s.is_replay(1, 2)); // fails, not recorded
        assert!(!s.is_replay(1, 1)); // the bucket was invalidated
        assert!(!s.is_replay(2, 1));
        s.record(64, 2);
        assert!(s.is_replay(64, 2));
        s.record(0, 1);
        assert!(!s.is_replay(0, 1));
        s.record(65, 1);
        assert!(!s.is_replay(65, 1));
    }
}
