//! CREATE stages 2 and 5 (blocking): name resolution, component by component with
//! `vfs.lookup` from the share root (never by joining strings), then opening, overwriting or
//! creating the object, with the access check (stage 3, [`super::rights`]) and the lock
//! manager's admission (stage 4, [`super::admit`]) in between, so nothing is overwritten
//! before the open is known to be allowed.

use shoal_smb_proto::create::{action, disposition, options};
use shoal_smb_proto::query_info::attributes;
use shoal_smb_proto::NtStatus;
use shoal_vfs::lock::{FileKey, Link, OpenGrant};
use shoal_vfs::{Attr, Caller, CreateHow, FileHandle, FileKind, SetAttr, Vfs, VfsError};

use super::admit::Admit;
use super::check::access;
use super::rights::{self, creator_maximal, maximal_existing};
use crate::error::{fail, SmbError};
use crate::handlers::dos::{self, DosInfo};
use crate::handlers::file_info;

/// Where a path leads.
pub(crate) struct Target {
    /// The directory the last component is looked up in (the share root for an empty path).
    pub dir: FileHandle,
    /// The last component (`None`: the share root itself).
    pub last: Option<String>,
    /// The object, if it exists.
    pub existing: Option<(FileHandle, Attr)>,
}

impl Target {
    /// Where the object is (or will be) linked.
    pub fn link(&self) -> Option<Link> {
        self.last.as_ref().map(|n| Link {
            parent: self.dir.clone(),
            name: n.as_bytes().to_vec(),
        })
    }
}

/// Stage 2: resolves `parts` from `root`.
pub(crate) fn resolve(
    vfs: &dyn Vfs,
    caller: &Caller,
    root: &FileHandle,
    parts: &[String],
) -> Result<Target, SmbError> {
    let mut dir = root.clone();
    let (last, walk) = match parts.split_last() {
        Some((l, w)) => (Some(l.clone()), w),
        None => (None, &[][..]),
    };
    for p in walk {
        match vfs.lookup(caller, &dir, p.as_bytes()) {
            Ok((h, a)) if a.kind == FileKind::Directory => dir = h,
            // Stale: a directory of the path was removed meanwhile (another client's
            // clean-up); the path is gone, not the handle of an open (FILE_CLOSED).
            Ok(_) | Err(VfsError::NotFound | VfsError::NotDir | VfsError::Stale) => {
                return fail(NtStatus::OBJECT_PATH_NOT_FOUND)
            }
            Err(e) => return Err(e.into()),
        }
    }
    let existing = match &last {
        // The share root itself (no component): its attributes are needed only here; every
        // lookup checks the directory it looks in.
        None => Some((dir.clone(), vfs.getattr(caller, &dir)?)),
        Some(name) => match vfs.lookup(caller, &dir, name.as_bytes()) {
            Ok(found) => Some(found),
            Err(VfsError::NotFound) => None,
            Err(VfsError::Stale) => return fail(NtStatus::OBJECT_PATH_NOT_FOUND),
            Err(e) => return Err(e.into()),
        },
    };
    Ok(Target {
        dir,
        last,
        existing,
    })
}

/// What the request asks for, as the open/create stage needs it.
pub(crate) struct Plan<'a> {
    pub read_only: bool,
    pub disposition: u32,
    pub options: u32,
    pub file_attributes: u32,
    /// DesiredAccess, generic rights mapped.
    pub desired: u32,
    pub admit: &'a Admit,
}

impl Plan<'_> {
    fn wanted(&self) -> u32 {
        self.desired & !access::MAXIMUM_ALLOWED
    }

    /// The access the open is granted: its maximal access for MAXIMUM_ALLOWED.
    fn effective(&self, maximal: u32) -> u32 {
        if self.desired & access::MAXIMUM_ALLOWED != 0 {
            maximal | self.wanted()
        } else {
            self.wanted()
        }
    }
}

/// What a successful open or create resolved to.
pub(crate) struct Opened {
    pub handle: FileHandle,
    pub attr: Attr,
    /// Where it is linked (`None`: the share root).
    pub link: Option<Link>,
    pub action: u32,
    /// Maximal access of the caller (MxAc).
    pub maximal: u32,
    /// Access granted to this open.
    pub granted: u32,
    /// Stored DOS attributes and creation time ([`dos`]), when there are any.
    pub dos: Option<DosInfo>,
    /// The file as the lock manager knows it, and the admitted open.
    pub key: FileKey,
    pub grant: OpenGrant,
}

/// Stage 5 for an existing object: type and disposition checks, access, admission, then the
/// overwrite if asked for (undoing the admission if that fails).
pub(crate) fn open_existing(
    vfs: &dyn Vfs,
    caller: &Caller,
    t: &Target,
    h: FileHandle,
    a: Attr,
    plan: &Plan<'_>,
) -> Result<Opened, SmbError> {
    let is_dir = a.kind == FileKind::Directory;
    if plan.options & options::DIRECTORY_FILE != 0 && !is_dir {
        return fail(NtStatus::NOT_A_DIRECTORY);
    }
    if plan.options & options::NON_DIRECTORY_FILE != 0 && is_dir {
        return fail(NtStatus::FILE_IS_A_DIRECTORY);
    }
    if plan.disposition == disposition::CREATE {
        return fail(NtStatus::OBJECT_NAME_COLLISION);
    }
    if plan.admit.delete_pending(&a) {
        return fail(NtStatus::DELETE_PENDING);
    }
    let maximal = maximal_existing(
        vfs,
        caller,
        &t.dir,
        &h,
        &a,
        t.last.is_some(),
        plan.read_only,
    )?;
    rights::require(plan.wanted(), maximal)?;
    if plan.options & options::DELETE_ON_CLOSE != 0 && !is_dir && a.mode & 0o222 == 0 {
        // A read-only file cannot be deleted (MS-FSA 2.1.5.1.2.1).
        return fail(NtStatus::CANNOT_DELETE);
    }
    let stored = if matches!(a.kind, FileKind::Regular | FileKind::Directory) {
        dos::load(vfs, caller, &h)
    } else {
        None
    };
    let overwrite = matches!(
        plan.disposition,
        disposition::OVERWRITE | disposition::OVERWRITE_IF | disposition::SUPERSEDE
    );
    if overwrite {
        if is_dir {
            return fail(NtStatus::INVALID_PARAMETER);
        }
        if plan.read_only {
            return fail(NtStatus::ACCESS_DENIED);
        }
        if maximal & access::WRITE_DATA == 0 {
            return fail(NtStatus::ACCESS_DENIED);
        }
        // MS-FSA 2.1.5.1.2.1: overwriting a HIDDEN (SYSTEM) file without asking for HIDDEN
        // (SYSTEM) again "MUST be failed with STATUS_ACCESS_DENIED".
        let had = stored.map_or(0, |d| d.attributes);
        if plan.disposition != disposition::SUPERSEDE
            && had & (attributes::HIDDEN | attributes::SYSTEM) & !plan.file_attributes != 0
        {
            return fail(NtStatus::ACCESS_DENIED);
        }
    }
    let granted = plan.effective(maximal);
    if plan.options & options::DELETE_ON_CLOSE != 0 && granted & access::DELETE == 0 {
        // MAXIMUM_ALLOWED without DELETE among the rights: delete on close needs it granted.
        return fail(NtStatus::ACCESS_DENIED);
    }
    let key = FileKey::of(&a);
    let link = t.link();
    let grant = plan.admit.open(&a, granted, overwrite, link.as_ref())?;
    let done = if overwrite {
        overwrite_file(vfs, caller, &h, &a, stored, plan)
    } else {
        Ok((a, action::OPENED, stored))
    };
    match done {
        Ok((attr, act, dos)) => Ok(Opened {
            handle: h,
            attr,
            link,
            action: act,
            maximal,
            granted,
            dos,
            key,
            grant,
        }),
        Err(e) => {
            plan.admit.undo(key, &grant);
            Err(e)
        }
    }
}

/// Truncates and re-attributes a file for OVERWRITE, OVERWRITE_IF and SUPERSEDE.
fn overwrite_file(
    vfs: &dyn Vfs,
    caller: &Caller,
    h: &FileHandle,
    a: &Attr,
    stored: Option<DosInfo>,
    plan: &Plan<'_>,
) -> Result<(Attr, u32, Option<DosInfo>), SmbError> {
    let mut set = SetAttr {
        size: Some(0),
        ..SetAttr::default()
    };
    if plan.file_attributes & attributes::READONLY != 0 {
        set.mode = Some(a.mode & !0o222);
    }
    // The attributes are replaced (ARCHIVE added); the creation time stays.
    let creation_time = stored.unwrap_or_else(|| DosInfo::fallback(a)).creation_time;
    vfs.setattr(caller, h, &set, None)?;
    let d = DosInfo {
        attributes: (plan.file_attributes & dos::STORED) | attributes::ARCHIVE,
        creation_time,
    };
    dos::store_best_effort(vfs, caller, h, &d);
    let a = vfs.getattr(caller, h)?;
    let act = if plan.disposition == disposition::SUPERSEDE {
        action::SUPERSEDED
    } else {
        action::OVERWRITTEN
    };
    Ok((a, act, Some(d)))
}

/// Stage 5 for a name that does not exist: creates the file or directory, stores its DOS
/// attributes, and admits the open (removing what it made if that fails).
pub(crate) fn create_new(
    vfs: &dyn Vfs,
    caller: &Caller,
    t: &Target,
    plan: &Plan<'_>,
) -> Result<Opened, SmbError> {
    let Some(name) = &t.last else {
        return fail(NtStatus::OBJECT_NAME_NOT_FOUND);
    };
    if matches!(plan.disposition, disposition::OPEN | disposition::OVERWRITE) {
        return fail(NtStatus::OBJECT_NAME_NOT_FOUND);
    }
    if plan.read_only {
        return fail(NtStatus::MEDIA_WRITE_PROTECTED);
    }
    let ro = plan.file_attributes & attributes::READONLY != 0;
    let new_dir = plan.options & options::DIRECTORY_FILE != 0;
    if ro && !new_dir && plan.options & options::DELETE_ON_CLOSE != 0 {
        // MS-FSA 2.1.5.1.1: a new read-only file cannot be delete-on-close.
        return fail(NtStatus::CANNOT_DELETE);
    }
    rights::may_add(vfs, caller, &t.dir, new_dir)?;
    let (h, a) = if new_dir {
        vfs.mkdir(
            caller,
            &t.dir,
            name.as_bytes(),
            &SetAttr {
                mode: Some(0o755),
                ..SetAttr::default()
            },
        )?
    } else {
        let mode = if ro { 0o444 } else { 0o644 };
        let how = CreateHow::Guarded(SetAttr {
            mode: Some(mode),
            ..SetAttr::default()
        });
        vfs.create(caller, &t.dir, name.as_bytes(), &how)?
    };
    // The requested attributes (a new file gets ARCHIVE, as on NTFS) and the creation time,
    // which POSIX does not keep; storing them changes the ctime: stat again.
    let d = DosInfo {
        attributes: (plan.file_attributes & dos::STORED)
            | if new_dir { 0 } else { attributes::ARCHIVE },
        creation_time: file_info(&a).creation_time,
    };
    dos::store_best_effort(vfs, caller, &h, &d);
    let a = vfs.getattr(caller, &h)?;
    let maximal = creator_maximal();
    let granted = plan.effective(maximal);
    let key = FileKey::of(&a);
    // Another client may have opened the new name already (deny-all): the create fails as a
    // whole and only the object it made goes.
    let link = t.link();
    let grant = match plan.admit.open(&a, granted, false, link.as_ref()) {
        Ok(g) => g,
        Err(e) => {
            let _ =
                vfs.remove_if_same(caller, &t.dir, name.as_bytes(), (a.fsid, a.fileid), new_dir);
            return Err(e);
        }
    };
    Ok(Opened {
        handle: h,
        attr: a,
        link,
        action: action::CREATED,
        maximal,
        granted,
        dos: Some(d),
        key,
        grant,
    })
}

/// MS-SMB2 3.3.5.9.3 (AllocationSize): a file this create made, overwrote or superseded gets
/// `size` bytes reserved (the size stays 0); the reply's AllocationSize shows it. Opens of an
/// existing file and directories ignore it, as Windows does. A backend that cannot
/// preallocate ignores it too (it is advisory); running out of space fails the create, and
/// a file it made goes again.
pub(crate) fn apply_allocation_size(
    vfs: &dyn Vfs,
    caller: &Caller,
    o: &mut Opened,
    size: Option<u64>,
) -> Result<(), SmbError> {
    let Some(size) = size.filter(|s| *s > 0) else {
        return Ok(());
    };
    if o.attr.kind != FileKind::Regular || o.action == action::OPENED {
        return Ok(());
    }
    // More than the caller could ever write is refused before anything is reserved, as NTFS
    // answers (a client must not be able to pin the whole volume with one empty file).
    let result = if vfs
        .fsstat(caller, &o.handle)
        .is_ok_and(|st| size > st.avail_bytes)
    {
        Err(SmbError::Client(NtStatus::DISK_FULL))
    } else {
        match vfs.allocate(caller, &o.handle, size) {
            Ok(a) => {
                o.attr = a;
                Ok(())
            }
            Err(VfsError::NotSupported | VfsError::Invalid) => Ok(()),
            Err(e) => Err(e.into()),
        }
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            if o.action == action::CREATED {
                if let Some(link) = &o.link {
                    let object = (o.attr.fsid, o.attr.fileid);
                    if let Err(e) =
                        vfs.remove_if_same(caller, &link.parent, &link.name, object, false)
                    {
                        tracing::warn!(error = %e, "allocation failed and the new file not removed");
                    }
                }
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of the path removed meanwhile (another client's clean-up): the CREATE
    /// answers OBJECT_PATH_NOT_FOUND, never FILE_CLOSED (the handle status of a stale open).
    #[test]
    fn a_path_whose_directory_went_away_is_not_found() {
        let dir = std::env::temp_dir().join(format!("shoal-create-stale-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("b/d/e")).unwrap();
        let vfs = shoal_vfs::LocalFs::open(&dir.join("b"), &dir.join("key")).unwrap();
        let root = vfs.root("").unwrap();
        let caller = Caller {
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            sid: None,
            client_addr: "127.0.0.1:1".parse().unwrap(),
            zone: shoal_vfs::ZoneId::SYSTEM,
            protocol: shoal_vfs::Protocol::Smb3,
        };
        let (d, _) = vfs.lookup(&caller, &root, b"d").unwrap();
        std::fs::remove_dir_all(dir.join("b/d")).unwrap();
        // The VFS calls the removed directory's handle stale.
        assert!(matches!(
            vfs.lookup(&caller, &d, b"x"),
            Err(VfsError::Stale)
        ));
        for parts in [
            vec!["x".to_string()],
            vec!["e".to_string(), "f".to_string()],
        ] {
            let status = resolve(&vfs, &caller, &d, &parts)
                .map(|_| NtStatus::SUCCESS)
                .unwrap_or_else(|e| e.status());
            assert_eq!(status, NtStatus::OBJECT_PATH_NOT_FOUND, "{parts:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
