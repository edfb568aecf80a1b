//! The check of an NFS request against SMB state (share modes, byte-range locks, leases) in
//! the lock manager, before the request touches an object. NFSv3 has no opens: each READ,
//! WRITE, size change, REMOVE, RENAME and truncating CREATE asks the manager whether SMB
//! opens of the object allow it ([`LockManager::nfs_access`]); a refusal becomes an
//! `nfsstat3` in `crate::error` (the one mapping).
//!
//! The object's key is (fsid, fileid) from attributes the handler already has (WRITE and
//! SETATTR fetch the pre-operation attributes anyway, READ gets them with the data). Name
//! operations have only the directory's: they look the name up, but only while some file has
//! lock state at all, so a server without SMB opens pays nothing.
//!
//! The check and the VFS call are two steps: an SMB open arriving between them is not seen
//! by this request (the same window a local process has against Samba's share modes).

use shoal_vfs::lock::{FileKey, LockManager, NfsIntent};
use shoal_vfs::{Attr, Caller, FileHandle, Vfs, VfsError, VfsResult};

/// The check for an object whose attributes are known.
pub(crate) fn check(locks: &LockManager, attr: &Attr, intent: NfsIntent) -> VfsResult<()> {
    locks.nfs_access(FileKey::of(attr), intent)
}

/// The check for the object `name` in `dir`, if there is one (a name that does not resolve
/// has no SMB state; the operation itself reports that).
pub(crate) fn check_name(
    locks: &LockManager,
    vfs: &dyn Vfs,
    caller: &Caller,
    dir: &FileHandle,
    name: &[u8],
    intent: NfsIntent,
) -> VfsResult<()> {
    if locks.file_count() == 0 {
        return Ok(());
    }
    match vfs.lookup(caller, dir, name) {
        Ok((_, attr)) => check(locks, &attr, intent),
        Err(VfsError::Io(e)) => Err(VfsError::Io(e)),
        Err(_) => Ok(()),
    }
}
