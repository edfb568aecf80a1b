//! VFS errors on the wire: the one place [`VfsError`] becomes `nfsstat3` / `mountstat3`.

use shoal_nfs_proto::mount::Mountstat3;
use shoal_nfs_proto::nfs3::Nfsstat3;
use shoal_vfs::VfsError;

/// Maps a VFS error to its NFSv3 status, logging backend faults at `warn`.
pub(crate) fn nfsstat(e: &VfsError) -> Nfsstat3 {
    if !e.is_client_error() {
        tracing::warn!(error = %e, "backend error");
    }
    match e {
        VfsError::Access => Nfsstat3::NFS3ERR_ACCES,
        VfsError::NotOwner => Nfsstat3::NFS3ERR_PERM,
        VfsError::NotFound => Nfsstat3::NFS3ERR_NOENT,
        VfsError::Exists => Nfsstat3::NFS3ERR_EXIST,
        VfsError::NotDir => Nfsstat3::NFS3ERR_NOTDIR,
        VfsError::IsDir => Nfsstat3::NFS3ERR_ISDIR,
        VfsError::NotEmpty => Nfsstat3::NFS3ERR_NOTEMPTY,
        VfsError::InvalidName => Nfsstat3::NFS3ERR_INVAL,
        VfsError::NameTooLong => Nfsstat3::NFS3ERR_NAMETOOLONG,
        VfsError::Stale => Nfsstat3::NFS3ERR_STALE,
        VfsError::BadHandle => Nfsstat3::NFS3ERR_BADHANDLE,
        VfsError::ReadOnly => Nfsstat3::NFS3ERR_ROFS,
        VfsError::NoSpace => Nfsstat3::NFS3ERR_NOSPC,
        VfsError::Quota => Nfsstat3::NFS3ERR_DQUOT,
        VfsError::TooBig => Nfsstat3::NFS3ERR_FBIG,
        VfsError::TooManyLinks => Nfsstat3::NFS3ERR_MLINK,
        VfsError::CrossDevice => Nfsstat3::NFS3ERR_XDEV,
        VfsError::NotSync => Nfsstat3::NFS3ERR_NOT_SYNC,
        VfsError::Invalid => Nfsstat3::NFS3ERR_INVAL,
        VfsError::NotSupported => Nfsstat3::NFS3ERR_NOTSUPP,
        VfsError::Io(_) => Nfsstat3::NFS3ERR_IO,
        // An SMB open's share mode or byte-range lock refuses the access. nfs-ganesha answers
        // JUKEBOX here (ERR_FSAL_SHARE_DENIED/ERR_FSAL_LOCKED), as knfsd did for mandatory
        // locks (EAGAIN): the Linux client then retries without end, hanging the application
        // for as long as the SMB user keeps the file open, which can be hours. We answer
        // ACCES: the application gets EACCES at once, as a local process does against a
        // share mode, and can retry itself. JUKEBOX is kept for what is over in seconds.
        VfsError::SharingViolation | VfsError::LockConflict | VfsError::DeletePending => {
            Nfsstat3::NFS3ERR_ACCES
        }
        // An SMB oplock/lease break is outstanding: retry later (RFC 1813 2.6); the break
        // completes or times out (`[locks] break_timeout`).
        VfsError::WouldBlock => Nfsstat3::NFS3ERR_JUKEBOX,
        VfsError::BadType => Nfsstat3::NFS3ERR_BADTYPE,
        VfsError::LockNotGranted
        | VfsError::RangeNotLocked
        | VfsError::InvalidLockRange
        | VfsError::NoResources
        | VfsError::InvalidOplockProtocol
        | VfsError::BreakNotInProgress
        | VfsError::BreakAckMismatch => Nfsstat3::NFS3ERR_SERVERFAULT,
    }
}

/// MOUNT's view of the same statuses (RFC 1813 appendix I, 5.1.5).
pub(crate) fn mountstat(s: Nfsstat3) -> Mountstat3 {
    match s {
        Nfsstat3::NFS3ERR_PERM => Mountstat3::MNT3ERR_PERM,
        Nfsstat3::NFS3ERR_NOENT | Nfsstat3::NFS3ERR_STALE => Mountstat3::MNT3ERR_NOENT,
        Nfsstat3::NFS3ERR_IO => Mountstat3::MNT3ERR_IO,
        Nfsstat3::NFS3ERR_ACCES => Mountstat3::MNT3ERR_ACCES,
        Nfsstat3::NFS3ERR_NOTDIR => Mountstat3::MNT3ERR_NOTDIR,
        Nfsstat3::NFS3ERR_INVAL => Mountstat3::MNT3ERR_INVAL,
        Nfsstat3::NFS3ERR_NAMETOOLONG => Mountstat3::MNT3ERR_NAMETOOLONG,
        Nfsstat3::NFS3ERR_NOTSUPP => Mountstat3::MNT3ERR_NOTSUPP,
        _ => Mountstat3::MNT3ERR_SERVERFAULT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_examples() {
        assert_eq!(nfsstat(&VfsError::Stale), Nfsstat3::NFS3ERR_STALE);
        assert_eq!(nfsstat(&VfsError::ReadOnly), Nfsstat3::NFS3ERR_ROFS);
        assert_eq!(nfsstat(&VfsError::NotSync), Nfsstat3::NFS3ERR_NOT_SYNC);
        assert_eq!(
            nfsstat(&VfsError::SharingViolation),
            Nfsstat3::NFS3ERR_ACCES
        );
        assert_eq!(nfsstat(&VfsError::LockConflict), Nfsstat3::NFS3ERR_ACCES);
        assert_eq!(nfsstat(&VfsError::WouldBlock), Nfsstat3::NFS3ERR_JUKEBOX);
        assert_eq!(
            mountstat(Nfsstat3::NFS3ERR_ACCES),
            Mountstat3::MNT3ERR_ACCES
        );
    }
}
