//! Errors of the SMB service and the one place they become NTSTATUS codes.

use shoal_smb_proto::{DecodeError, NtStatus};
use shoal_vfs::VfsError;

/// What went wrong handling a request, split by cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmbError {
    /// The client sent something malformed.
    #[error("malformed request: {0}")]
    Decode(#[from] DecodeError),
    /// The client did something the protocol forbids; answered with this status.
    #[error("client error: {0:?}")]
    Client(NtStatus),
    /// The backing store refused or failed.
    #[error("vfs: {0}")]
    Vfs(#[from] VfsError),
    /// The client broke the protocol badly enough that the connection is closed.
    #[error("protocol violation: {0}")]
    Disconnect(&'static str),
    /// shoal's own fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl SmbError {
    /// The one mapping to NTSTATUS.
    pub fn status(&self) -> NtStatus {
        match self {
            SmbError::Decode(_) => NtStatus::INVALID_PARAMETER,
            SmbError::Client(s) => *s,
            SmbError::Vfs(e) => vfs_status(e),
            SmbError::Disconnect(_) => NtStatus::INVALID_PARAMETER,
            SmbError::Internal(_) => NtStatus::INTERNAL_ERROR,
        }
    }

    /// True when the client caused it (logged at debug), false for shoal's or the backend's.
    pub fn is_client_error(&self) -> bool {
        match self {
            SmbError::Vfs(e) => e.is_client_error(),
            SmbError::Internal(_) => false,
            _ => true,
        }
    }
}

/// VFS errors as NTSTATUS.
pub fn vfs_status(e: &VfsError) -> NtStatus {
    if shoal_audit::is_refusal(e) {
        // Guaranteed audit mode could not make the event durable.
        return NtStatus::ACCESS_DENIED;
    }
    NtStatus(e.nt_status())
}

/// Shorthand for a client error with a status.
pub fn fail<T>(s: NtStatus) -> Result<T, SmbError> {
    Err(SmbError::Client(s))
}
