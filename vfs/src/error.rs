//! VFS errors, split by cause. Protocol crates map them to the wire in one place each.

use std::io;

/// Result alias.
pub type VfsResult<T> = Result<T, VfsError>;

/// What went wrong in a VFS call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
