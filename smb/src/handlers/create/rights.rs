//! CREATE stage 3: the rights a caller has on an object, from the mode bits (the VFS's POSIX
//! answer) narrowed by a stored DACL ([`crate::handlers::security::dacl_limit`]); never widened.

use shoal_smb_proto::NtStatus;
use shoal_vfs::perm::{
    ACCESS_DELETE, ACCESS_EXECUTE, ACCESS_EXTEND, ACCESS_LOOKUP, ACCESS_MODIFY, ACCESS_READ,
};
use shoal_vfs::{Attr, Caller, FileHandle, Vfs};

use super::check::access;
use crate::error::{fail, SmbError};
use crate::handlers::security::dacl_limit;

/// Every POSIX access bit the SMB rights are derived from.
pub(crate) const MASK: u32 =
    ACCESS_READ | ACCESS_LOOKUP | ACCESS_MODIFY | ACCESS_EXTEND | ACCESS_DELETE | ACCESS_EXECUTE;

/// The SMB rights a caller has on an object, from the VFS's POSIX answer.
pub(crate) fn granted_from(vfs_bits: u32, read_only: bool) -> u32 {
    use access::*;
    let mut g = READ_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE | READ_EA;
    if vfs_bits & ACCESS_READ != 0 {
        // FILE_EXECUTE on a file only lets the client map it for execution, which reading
        // already allows; POSIX x bits are not asked for (GENERIC_ALL on a 0644 file works,
        // as with Samba's default create mask 0744).
        g |= READ_DATA | EXECUTE;
    }
    if vfs_bits & (ACCESS_EXECUTE | ACCESS_LOOKUP) != 0 {
        g |= EXECUTE;
    }
    if !read_only && vfs_bits & (ACCESS_MODIFY | ACCESS_EXTEND) != 0 {
        // Not DELETE: removing a name is a right on the parent directory (write permission,
        // and FILE_DELETE_CHILD when the parent has a stored DACL), added by the caller.
        g |= WRITE_DATA | APPEND_DATA | WRITE_EA | WRITE_ATTRIBUTES | DELETE_CHILD;
    }
    g
}

/// Maximal access of `caller` on the existing object `h` (attributes `a`) linked in `dir`
/// (`named`: false for a share root, which cannot be deleted through the share).
pub(crate) fn maximal_existing(
    vfs: &dyn Vfs,
    caller: &Caller,
    dir: &FileHandle,
    h: &FileHandle,
    a: &Attr,
    named: bool,
    read_only: bool,
) -> Result<u32, SmbError> {
    let (bits, _) = vfs.access(caller, h, MASK)?;
    let mut maximal = granted_from(bits, read_only);
    if !read_only && (a.uid == caller.uid || caller.is_root()) {
        // The owner may always change attributes and the security descriptor (chmod).
        maximal |= access::WRITE_ATTRIBUTES | access::WRITE_DAC | access::WRITE_OWNER;
    }
    if !read_only && named {
        // Deleting is a right on the parent directory in POSIX ...
        if let Ok((pbits, pa)) = vfs.access(caller, dir, ACCESS_MODIFY) {
            // ... and FILE_DELETE_CHILD if the parent has a stored DACL.
            if pbits & ACCESS_MODIFY != 0
                && dacl_limit(vfs, caller, dir, &pa) & access::DELETE_CHILD != 0
            {
                maximal |= access::DELETE;
            }
        }
    }
    // A stored security descriptor's DACL narrows the mode bits' answer.
    Ok(maximal & dacl_limit(vfs, caller, h, a))
}

/// Fails with ACCESS_DENIED unless `maximal` covers `wanted`.
pub(crate) fn require(wanted: u32, maximal: u32) -> Result<(), SmbError> {
    if wanted & !maximal != 0 {
        tracing::debug!(
            wanted = format_args!("{wanted:#x}"),
            maximal = format_args!("{maximal:#x}"),
            "access denied"
        );
        return fail(NtStatus::ACCESS_DENIED);
    }
    Ok(())
}

/// The creator holds every right on what it created (MS-FSA: the new object's security
/// descriptor is inherited; here the owner's mode bits).
pub(crate) fn creator_maximal() -> u32 {
    granted_from(MASK, false)
        | access::DELETE
        | access::WRITE_ATTRIBUTES
        | access::WRITE_DAC
        | access::WRITE_OWNER
}

/// MS-FSA 2.1.5.1.1: creating needs FILE_ADD_FILE / FILE_ADD_SUBDIRECTORY on the parent. The
/// VFS checks the mode bits; a stored DACL of the parent may narrow them.
pub(crate) fn may_add(
    vfs: &dyn Vfs,
    caller: &Caller,
    dir: &FileHandle,
    new_dir: bool,
) -> Result<(), SmbError> {
    let add = if new_dir { 0x4 } else { 0x2 };
    if dacl_limit(vfs, caller, dir, &vfs.getattr(caller, dir)?) & add == 0 {
        return fail(NtStatus::ACCESS_DENIED);
    }
    Ok(())
}
