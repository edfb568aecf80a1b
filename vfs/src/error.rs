//! VFS errors, split by cause. Protocol crates map them to the wire in one place each.

use std::io;

/// Result alias.
pub type VfsResult<T> = Result<T, VfsError>;

/// What went wrong in a VFS call.
/// Not `non_exhaustive`: every mapping (NTSTATUS here, nfsstat3 in `nfs`) is an exhaustive
/// match, so a new kind cannot be forgotten.
#[derive(Debug, thiserror::Error)]
pub enum VfsError {
    /// The caller lacks permission (mode bits, ownership).
    #[error("permission denied")]
    Access,
    /// Only the owner (or root) may do this (chmod/chown/utimes of others' files).
    #[error("operation not permitted")]
    NotOwner,
    /// No such name.
    #[error("no such file or directory")]
    NotFound,
    /// The name exists already.
    #[error("file exists")]
    Exists,
    /// Not a directory where one is needed.
    #[error("not a directory")]
    NotDir,
    /// A directory where a non-directory is needed.
    #[error("is a directory")]
    IsDir,
    /// Directory not empty.
    #[error("directory not empty")]
    NotEmpty,
    /// The name is invalid (contains `/` or NUL, is empty, or is `.`/`..` where not allowed).
    #[error("invalid name")]
    InvalidName,
    /// The name is longer than [`crate::MAX_NAME_LEN`].
    #[error("name too long")]
    NameTooLong,
    /// The handle is unknown, forged, or names a deleted object.
    #[error("stale file handle")]
    Stale,
    /// The handle is malformed.
    #[error("bad file handle")]
    BadHandle,
    /// The export or share is read-only.
    #[error("read-only filesystem")]
    ReadOnly,
    /// No space left.
    #[error("no space left on device")]
    NoSpace,
    /// Quota exceeded.
    #[error("quota exceeded")]
    Quota,
    /// File too large.
    #[error("file too large")]
    TooBig,
    /// Too many links.
    #[error("too many links")]
    TooManyLinks,
    /// Cross-device operation.
    #[error("cross-device link")]
    CrossDevice,
    /// A guard (SETATTR ctime guard) did not match.
    #[error("attribute guard mismatch")]
    NotSync,
    /// An argument is invalid for this object (e.g. wrong type).
    #[error("invalid argument")]
    Invalid,
    /// The object type is not one this call can create (NFS3ERR_BADTYPE).
    #[error("bad object type")]
    BadType,
    /// Not supported by this filesystem.
    #[error("operation not supported")]
    NotSupported,
    /// Another open's share access refuses this access (or this open's refuses theirs).
    #[error("sharing violation")]
    SharingViolation,
    /// The file is delete pending: no new open may succeed.
    #[error("delete pending")]
    DeletePending,
    /// READ/WRITE into a byte range another open (or this one, shared) locked.
    #[error("byte range locked")]
    LockConflict,
    /// A byte-range lock could not be granted (the range is locked).
    #[error("lock not granted")]
    LockNotGranted,
    /// Unlock of a range this open does not hold locked.
    #[error("range not locked")]
    RangeNotLocked,
    /// The lock range overflows the 64-bit file offset space.
    #[error("invalid lock range")]
    InvalidLockRange,
    /// The request must wait (an oplock/lease break or a blocked lock): it was parked, or,
    /// for NFS, the client should retry (NFS3ERR_JUKEBOX).
    #[error("would block")]
    WouldBlock,
    /// A per-open or per-file cap (locks, waiters) was reached.
    #[error("out of lock resources")]
    NoResources,
    /// An oplock or lease acknowledgment that matches no break in progress.
    #[error("invalid oplock protocol")]
    InvalidOplockProtocol,
    /// A lease break acknowledgment for a lease that is not breaking (MS-SMB2 3.3.5.22.2).
    #[error("no break in progress")]
    BreakNotInProgress,
    /// A lease break acknowledgment naming a state outside the one broken to.
    #[error("break acknowledgment not accepted")]
    BreakAckMismatch,
    /// The backing store failed.
    #[error("I/O error: {0}")]
    Io(#[source] io::Error),
}

impl VfsError {
    /// Maps an OS error from the backing store.
    pub fn from_errno(errno: i32) -> VfsError {
        match errno {
            libc::EACCES => VfsError::Access,
            libc::EPERM => VfsError::NotOwner,
            libc::ENOENT => VfsError::NotFound,
            libc::EEXIST => VfsError::Exists,
            libc::ENOTDIR => VfsError::NotDir,
            libc::EISDIR => VfsError::IsDir,
            libc::ENOTEMPTY => VfsError::NotEmpty,
            libc::ENAMETOOLONG => VfsError::NameTooLong,
            libc::ESTALE => VfsError::Stale,
            libc::EROFS => VfsError::ReadOnly,
            libc::ENOSPC => VfsError::NoSpace,
            libc::EDQUOT => VfsError::Quota,
            libc::EFBIG => VfsError::TooBig,
            libc::EMLINK => VfsError::TooManyLinks,
            libc::EXDEV => VfsError::CrossDevice,
            libc::EINVAL => VfsError::Invalid,
            libc::ELOOP => VfsError::Access,
            libc::EOPNOTSUPP => VfsError::NotSupported,
            e => VfsError::Io(io::Error::from_raw_os_error(e)),
        }
    }

    /// The NTSTATUS for this error (MS-ERREF 2.3.1): the one mapping that the SMB wire and
    /// the audit log (for both protocols) use, so they never disagree.
    pub fn nt_status(&self) -> u32 {
        match self {
            VfsError::Access | VfsError::NotOwner => 0xC000_0022, // ACCESS_DENIED
            VfsError::NotFound => 0xC000_0034,                    // OBJECT_NAME_NOT_FOUND
            VfsError::Exists => 0xC000_0035,                      // OBJECT_NAME_COLLISION
            VfsError::NotDir => 0xC000_0103,                      // NOT_A_DIRECTORY
            VfsError::IsDir => 0xC000_00BA,                       // FILE_IS_A_DIRECTORY
            VfsError::NotEmpty => 0xC000_0101,                    // DIRECTORY_NOT_EMPTY
            VfsError::InvalidName | VfsError::NameTooLong => 0xC000_0033, // OBJECT_NAME_INVALID
            VfsError::Stale | VfsError::BadHandle => 0xC000_0128, // FILE_CLOSED
            VfsError::ReadOnly => 0xC000_00A2,                    // MEDIA_WRITE_PROTECTED
            VfsError::NoSpace | VfsError::Quota | VfsError::TooBig => 0xC000_007F, // DISK_FULL
            VfsError::TooManyLinks => 0xC000_0265,                // TOO_MANY_LINKS
            VfsError::CrossDevice => 0xC000_00D4,                 // NOT_SAME_DEVICE
            VfsError::Invalid | VfsError::NotSync | VfsError::BadType => 0xC000_000D, // INVALID_PARAMETER
            VfsError::NotSupported => 0xC000_00BB, // NOT_SUPPORTED
            VfsError::SharingViolation => 0xC000_0043, // SHARING_VIOLATION
            VfsError::DeletePending => 0xC000_0056, // DELETE_PENDING
            VfsError::LockConflict => 0xC000_0054, // FILE_LOCK_CONFLICT
            VfsError::LockNotGranted => 0xC000_0055, // LOCK_NOT_GRANTED
            VfsError::RangeNotLocked => 0xC000_007E, // RANGE_NOT_LOCKED
            VfsError::InvalidLockRange => 0xC000_01A1, // INVALID_LOCK_RANGE
            VfsError::WouldBlock => 0x0000_0103,   // PENDING
            VfsError::NoResources => 0xC000_009A,  // INSUFFICIENT_RESOURCES
            VfsError::InvalidOplockProtocol => 0xC000_00E3, // INVALID_OPLOCK_PROTOCOL
            VfsError::BreakNotInProgress => 0xC000_0001, // UNSUCCESSFUL
            VfsError::BreakAckMismatch => 0xC000_00D0, // REQUEST_NOT_ACCEPTED
            VfsError::Io(_) => 0xC000_00E9,        // UNEXPECTED_IO_ERROR
        }
    }

    /// True when the client caused it (logged at debug), false for backend faults.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, VfsError::Io(_))
    }
}

impl From<io::Error> for VfsError {
    fn from(e: io::Error) -> Self {
        match e.raw_os_error() {
            Some(n) => VfsError::from_errno(n),
            None => VfsError::Io(e),
        }
    }
}
