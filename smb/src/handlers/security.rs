//! Security descriptors that clients set and read back, as Samba's `vfs objects = acl_xattr`
//! does: SET_INFO with SMB2_0_INFO_SECURITY (MS-SMB2 3.3.5.21.3), QUERY_INFO security
//! (3.3.5.20.3) and the SecD create context (2.2.13.2.1).
//!
//! Storage: the whole self-relative descriptor (MS-DTYP 2.4.6), after a one-byte format
//! version, in the extended attribute [`SECURITY_DESCRIPTOR_XATTR`] (`security.` namespace:
//! only a privileged process writes it, so a local user cannot forge one). An object without
//! it shows the descriptor synthesized from uid, gid and mode ([`synthesized`]).
//!
//! Ownership: an owner SID that names a Unix user shoal knows — the session's own SID, or
//! `S-1-22-1-<uid>` — changes the file's uid too (chown), and a group SID `S-1-22-2-<gid>` or
//! the session's primary group its gid; the VFS decides whether the caller may (else
//! STATUS_INVALID_OWNER). Other SIDs (another user's domain SID, BUILTIN, Everyone, ...) are
//! only stored: there is no SID-to-uid lookup for users other than the caller yet.
//!
//! The codec, the access evaluation and inheritance are protocol-neutral, in
//! [`shoal_vfs::acl`]: the VFS enforces a stored descriptor for NFS callers too, and gives an
//! object any protocol creates the DACL its parent's inheritable ACEs give it (MS-DTYP 2.5.3.4)
//! before it appears. Generic rights in a DACL that is set are mapped to file rights, except in
//! inherit-only ACEs, as Windows stores them.
//!
//! Enforcement: opens keep the mode bits' answer and, when a descriptor is stored, are further
//! limited by what its DACL grants the caller ([`dacl_limit`], [`shoal_vfs::acl::eval::limit`]).
//! The DACL never grants more than the mode bits. An open keeps the rights it was granted (MS-FSA),
//! so the VFS does not check the DACL again on each READ/WRITE of an SMB open; namespace changes
//! (create, delete, rename, link) it checks for every caller.

use shoal_smb_proto::security::{mask_from_rwx, OWNER_RIGHTS};
use shoal_smb_proto::security_descriptor::{decode_status, STATUS_INVALID_OWNER};
use shoal_smb_proto::NtStatus;
use shoal_vfs::acl::eval::{self, unix_group_sid, unix_user_sid};
use shoal_vfs::acl::{ace_type, control, info, rights, Ace, Acl, SecurityDescriptor, Sid};
use shoal_vfs::{Attr, Caller, FileHandle, FileKind, SetAttr, Vfs, VfsError};
use shoal_vfs::{MAX_XATTR_VALUE_LEN, SECURITY_DESCRIPTOR_XATTR};

use crate::blocking::blocking;
use crate::conn::state::Identity;
use crate::error::{fail, SmbError};

/// WRITE_DAC (MS-DTYP 2.4.3).
const WRITE_DAC: u32 = rights::WRITE_DAC;
/// WRITE_OWNER.
const WRITE_OWNER: u32 = rights::WRITE_OWNER;
/// ACCESS_SYSTEM_SECURITY.
const SYSTEM_SECURITY: u32 = 0x0100_0000;

/// The descriptor of an object without a stored one: owner and group as SIDs (the session's
/// SID for its own uid, else `S-1-22-1-uid`; `S-1-22-2-gid`), and a DACL of the mode bits for
/// owner, group and Everyone.
pub(crate) fn synthesized(identity: &Identity, a: &Attr) -> SecurityDescriptor {
    let owner = if a.uid == identity.uid {
        Sid::parse(&identity.sid).unwrap_or_else(|| unix_user_sid(a.uid))
    } else {
        unix_user_sid(a.uid)
    };
    let group = unix_group_sid(a.gid);
    let everyone = eval::everyone();
    let allow = ace_type::ACCESS_ALLOWED;
    let aces = vec![
        Ace::new(
            allow,
            0,
            mask_from_rwx((a.mode >> 6) & 7) | OWNER_RIGHTS,
            &owner,
        ),
        Ace::new(allow, 0, mask_from_rwx((a.mode >> 3) & 7), &group),
        Ace::new(allow, 0, mask_from_rwx(a.mode & 7), &everyone),
    ];
    SecurityDescriptor {
        control: control::SELF_RELATIVE | control::DACL_PRESENT,
        owner: Some(owner),
        group: Some(group),
        sacl: None,
        dacl: Some(Acl::new(aces)),
    }
}

/// The stored descriptor of an object, `None` when it has none (or it is unreadable: logged,
/// and the synthesized one is shown instead).
pub(crate) fn load(
    vfs: &dyn Vfs,
    caller: &Caller,
    h: &FileHandle,
) -> Result<Option<SecurityDescriptor>, SmbError> {
    let raw = match vfs.get_xattr(caller, h, SECURITY_DESCRIPTOR_XATTR) {
        Ok(Some(v)) => v,
        Ok(None) | Err(VfsError::NotSupported) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(eval::decode_stored(&raw))
}

/// Stores `sd` durably on the object.
fn store(
    vfs: &dyn Vfs,
    caller: &Caller,
    h: &FileHandle,
    sd: &SecurityDescriptor,
) -> Result<(), SmbError> {
    let Some(v) = eval::encode_stored(sd) else {
        return fail(NtStatus::INSUFFICIENT_RESOURCES);
    };
    if v.len() > MAX_XATTR_VALUE_LEN {
        return fail(NtStatus::INSUFFICIENT_RESOURCES);
    }
    vfs.set_xattr(caller, h, SECURITY_DESCRIPTOR_XATTR, Some(&v))?;
    Ok(())
}

/// The rights the stored descriptor's DACL leaves the caller on an existing object (every
/// right when none is stored, or for root): [`eval::limit`]. CREATE intersects this with the
/// mode bits' answer. The caller's SMB SID is in its token; no uid mapping is needed.
pub(crate) fn dacl_limit(vfs: &dyn Vfs, caller: &Caller, h: &FileHandle, a: &Attr) -> u32 {
    if caller.is_root() || !matches!(a.kind, FileKind::Regular | FileKind::Directory) {
        return u32::MAX;
    }
    match load(vfs, caller, h) {
        Ok(Some(sd)) => eval::limit(caller, a, &sd, Vec::new()),
        Ok(None) => u32::MAX,
        Err(e) => {
            tracing::warn!(error = %e, "security descriptor unreadable; open refused");
            0
        }
    }
}

/// The uid an owner SID maps to, when shoal knows one.
fn uid_of(identity: &Identity, sid: &Sid) -> Option<u32> {
    if Sid::parse(&identity.sid).as_ref() == Some(sid) {
        return Some(identity.uid);
    }
    sid.rid_under(22, &[1])
}

/// Whether the caller may make `owner` an object's owner: root may name anyone; others only
/// themselves (their session SID or their Unix user SID `S-1-22-1-<uid>`).
fn may_own(caller: &Caller, identity: &Identity, owner: &Sid) -> bool {
    caller.is_root()
        || Sid::parse(&identity.sid).as_ref() == Some(owner)
        || *owner == unix_user_sid(caller.uid)
}

/// The gid a group SID maps to, when shoal knows one.
fn gid_of(sid: &Sid) -> Option<u32> {
    sid.rid_under(22, &[2])
}

/// Merges `new`'s parts named by `additional` into the object's descriptor, chowns for mapped
/// owner and group SIDs, and stores the result (blocking).
fn apply(
    vfs: &dyn Vfs,
    caller: &Caller,
    identity: &Identity,
    h: &FileHandle,
    new: &SecurityDescriptor,
    additional: u32,
) -> Result<(), SmbError> {
    let a = vfs.getattr(caller, h)?;
    if !matches!(a.kind, FileKind::Regular | FileKind::Directory) {
        return fail(NtStatus::NOT_SUPPORTED);
    }
    if additional & info::OWNER != 0 {
        if let Some(owner) = &new.owner {
            if !may_own(caller, identity, owner) {
                // MS-FSA 2.1.5.16 / Windows: an owner SID that is not the caller's own (and no
                // SeRestorePrivilege, which only root has here) is STATUS_INVALID_OWNER.
                return Err(SmbError::Client(STATUS_INVALID_OWNER));
            }
        }
    }
    let mut sd = match load(vfs, caller, h)? {
        Some(sd) => sd,
        None => synthesized(identity, &a),
    };
    let mut new = new.clone();
    new.map_generic_rights();
    sd.merge(&new, additional);
    let mut set = SetAttr::default();
    if additional & info::OWNER != 0 {
        if let Some(uid) = new.owner.as_ref().and_then(|o| uid_of(identity, o)) {
            if uid != a.uid {
                set.uid = Some(uid);
            }
        }
    }
    if additional & info::GROUP != 0 {
        if let Some(gid) = new.group.as_ref().and_then(gid_of) {
            if gid != a.gid {
                set.gid = Some(gid);
            }
        }
    }
    if set != SetAttr::default() {
        match vfs.setattr(caller, h, &set, None) {
            Ok(_) => {}
            // MS-FSA 2.1.5.16: an owner the caller may not assign.
            Err(VfsError::Access | VfsError::NotOwner) => {
                return Err(SmbError::Client(STATUS_INVALID_OWNER))
            }
            Err(e) => return Err(e.into()),
        }
    }
    store(vfs, caller, h, &sd)
}

/// SET_INFO with InfoType SMB2_0_INFO_SECURITY (MS-SMB2 3.3.5.21.3): checks the open's rights
/// for the parts named in AdditionalInformation, decodes the buffer, merges and stores.
pub(crate) async fn set(
    vfs: std::sync::Arc<dyn Vfs>,
    caller: Caller,
    identity: Identity,
    h: FileHandle,
    granted: u32,
    additional: u32,
    buffer: &[u8],
) -> Result<(), SmbError> {
    // MS-FSA 2.1.5.16: OWNER/GROUP/LABEL need WRITE_OWNER, DACL WRITE_DAC, SACL
    // ACCESS_SYSTEM_SECURITY, else STATUS_ACCESS_DENIED.
    let mut need = 0;
    if additional & (info::OWNER | info::GROUP | info::LABEL) != 0 {
        need |= WRITE_OWNER;
    }
    if additional & info::DACL != 0 {
        need |= WRITE_DAC;
    }
    if additional & info::SACL != 0 {
        need |= SYSTEM_SECURITY;
    }
    if granted & need != need {
        return fail(NtStatus::ACCESS_DENIED);
    }
    let new =
        SecurityDescriptor::decode(buffer).map_err(|_| SmbError::Client(decode_status(buffer)))?;
    let parts = additional & (info::OWNER | info::GROUP | info::DACL | info::SACL);
    if parts == 0 {
        return Ok(());
    }
    blocking(move || apply(&*vfs, &caller, &identity, &h, &new, parts)).await
}

/// The SecD create context's descriptor (MS-SMB2 2.2.13.2.1), decoded before anything is
/// created so a malformed one fails the CREATE.
pub(crate) fn create_context(
    contexts: &[shoal_smb_proto::create::CreateContext<'_>],
) -> Result<Option<SecurityDescriptor>, SmbError> {
    let Some(c) = contexts
        .iter()
        .find(|c| c.name == shoal_smb_proto::create::context::SECD)
    else {
        return Ok(None);
    };
    SecurityDescriptor::decode(c.data)
        .map(Some)
        .map_err(|_| SmbError::Client(decode_status(c.data)))
}

/// Where CREATE made an object: its parent directory and name, so a SecD that cannot be applied
/// undoes the create.
pub(crate) struct Created {
    /// The new object.
    pub handle: FileHandle,
    /// Its directory (`None` only for a share root, which CREATE never makes).
    pub parent: Option<FileHandle>,
    /// Its name in `parent`.
    pub name: Vec<u8>,
    /// A directory (removed with rmdir).
    pub is_dir: bool,
}

/// Gives an object CREATE just made the parts a SecD create context carries (blocking). The DACL
/// it inherits from its parent directory the VFS stored already, before the object appeared
/// ([`shoal_vfs::acl::inherit`]); a SecD with a DACL replaces it (and its DACL control bits),
/// one without DACL_PRESENT keeps the inherited or default DACL, as Windows does.
fn on_create_inner(
    vfs: &dyn Vfs,
    caller: &Caller,
    identity: &Identity,
    created: &Created,
    secd: Option<&SecurityDescriptor>,
) -> Result<(), SmbError> {
    let Some(secd) = secd else {
        return Ok(());
    };
    let parts = secd.parts() & (info::OWNER | info::GROUP | info::DACL);
    apply(vfs, caller, identity, &created.handle, secd, parts)
}

/// [`on_create_inner`], undoing the create when it fails (as on Windows, where the object never
/// appears when its SecD cannot be applied, e.g. an owner the caller may not assign). Blocking:
/// CREATE runs it in the same VFS job as the create itself.
pub(crate) fn on_create(
    vfs: &dyn Vfs,
    caller: &Caller,
    identity: &Identity,
    created: &Created,
    secd: Option<&SecurityDescriptor>,
) -> Result<(), SmbError> {
    let result = on_create_inner(vfs, caller, identity, created, secd);
    if result.is_err() {
        if let Some(dir) = &created.parent {
            // Only the object this CREATE made goes, never whatever holds the name by now.
            let undone = vfs.getattr(caller, &created.handle).and_then(|a| {
                vfs.remove_if_same(
                    caller,
                    dir,
                    &created.name,
                    (a.fsid, a.fileid),
                    created.is_dir,
                )
            });
            if let Err(e) = undone {
                tracing::warn!(error = %e, "descriptor not applied and the new object not removed");
            }
        }
    }
    result
}

/// QUERY_INFO security (MS-SMB2 3.3.5.20.3): the stored descriptor, or the synthesized one,
/// with only the parts AdditionalInformation asks for.
pub(crate) async fn query(
    vfs: std::sync::Arc<dyn Vfs>,
    caller: Caller,
    identity: Identity,
    h: FileHandle,
    additional: u32,
) -> Result<Vec<u8>, SmbError> {
    blocking(move || {
        let sd = match load(&*vfs, &caller, &h)? {
            Some(sd) => sd,
            None => synthesized(&identity, &vfs.getattr(&caller, &h)?),
        };
        Ok(sd.select(additional).to_bytes())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            user: "alice".into(),
            uid: 1000,
            gid: 100,
            sid: "S-1-5-21-1-2-3-1000".into(),
            guest: false,
        }
    }

    #[test]
    fn owner_and_group_sids_map_to_ids() {
        let id = identity();
        assert_eq!(
            uid_of(&id, &Sid::parse("S-1-5-21-1-2-3-1000").unwrap()),
            Some(1000)
        );
        assert_eq!(uid_of(&id, &Sid::parse("S-1-22-1-7").unwrap()), Some(7));
        assert_eq!(
            uid_of(&id, &Sid::parse("S-1-5-21-1-2-3-1001").unwrap()),
            None
        );
        assert_eq!(uid_of(&id, &Sid::parse("S-1-1-0").unwrap()), None);
        assert_eq!(gid_of(&Sid::parse("S-1-22-2-50").unwrap()), Some(50));
        assert_eq!(gid_of(&Sid::parse("S-1-22-1-50").unwrap()), None);
    }
}
