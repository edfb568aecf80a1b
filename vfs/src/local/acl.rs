//! A stored security descriptor binds every caller of [`LocalFs`] ([`crate::acl`]): the mode
//! bits decide first (`perm`), then the DACL can take rights away, never add them. One-line
//! hooks at the permission points of `mod.rs`, `modify.rs` and `dir.rs` call in here.
//!
//! What is checked, and for whom:
//! - Adding an entry to a directory (CREATE, SYMLINK, MKNOD, LINK, the target of a RENAME):
//!   FILE_ADD_FILE, or FILE_ADD_SUBDIRECTORY for a directory (MKDIR, a directory moved in),
//!   on the directory (MS-FSA 2.1.5.1.1). Removing one (REMOVE, RMDIR, the source or a
//!   replaced target of a RENAME): FILE_DELETE_CHILD on the directory, or DELETE on the
//!   object's own stored descriptor (MS-FSA 2.1.5.1.2.1). For every caller: these are single
//!   calls in SMB too.
//! - Data (READ, WRITE, a SETATTR of the size or, by a non-owner, of the times, READDIR) and the
//!   NFS ACCESS answer: for NFS callers. NFS has no open, so each call is checked; an SMB open is
//!   checked once, when it is made, by the SMB CREATE against the same evaluation, and keeps the
//!   rights it was granted for its life, as MS-FSA says (the creator of a file may write it
//!   whatever DACL it inherited).
//! - New files and directories get the DACL their parent's inheritable ACEs give them
//!   ([`crate::acl::inherit`]) before they appear under their name, whichever protocol made them.
//!
//! Cost: one `fgetxattr` on the descriptor READ/WRITE already use (the descriptor cache keeps
//! it), about a microsecond when nothing is stored; a decode and an ACE walk when something is.
//!
//! An NFS caller carries no SID: the users its uid maps to ([`crate::acl::UserSids`], installed
//! with [`LocalFs::with_user_sids`]) are added to its token, so an ACE naming an SMB user binds
//! that user's uid over NFS too.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use super::{sys, LocalFs};
use crate::acl::eval::{self, rights, unix_group_sid, unix_user_sid};
use crate::acl::{inherit, SecurityDescriptor, Sid, UserSids};
use crate::{
    Attr, Caller, FileKind, Protocol, SetAttr, SetTime, VfsError, VfsResult,
    SECURITY_DESCRIPTOR_XATTR,
};

/// The descriptor state of a [`LocalFs`].
#[derive(Default)]
pub(super) struct AclState {
    /// Maps a caller's uid to its users' SIDs (none installed: only Unix SIDs).
    user_sids: Option<Arc<dyn UserSids>>,
}

/// Whether data calls are checked for this caller on each call (NFS: no opens; see the module
/// comment for SMB).
fn per_call(c: &Caller) -> bool {
    c.protocol == Protocol::Nfs3
}

/// Only regular files and directories carry a descriptor.
fn carries(a: &Attr) -> bool {
    matches!(a.kind, FileKind::Regular | FileKind::Directory)
}

/// The descriptor in what a `getxattr` returned; an unsupported attribute reads as none, any
/// other failure refuses the call (never fail open).
fn stored(r: std::io::Result<Option<Vec<u8>>>) -> VfsResult<Option<SecurityDescriptor>> {
    match r {
        Ok(Some(raw)) => Ok(eval::decode_stored(&raw)),
        Ok(None) => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "security descriptor unreadable; call refused");
            Err(VfsError::Access)
        }
    }
}

const NAME: &[u8] = SECURITY_DESCRIPTOR_XATTR.as_bytes();

impl LocalFs {
    /// Installs the map from uids to the SIDs of the users they belong to (the server's user
    /// database), so NFS callers match ACEs that name those users.
    pub fn with_user_sids(mut self, map: Arc<dyn UserSids>) -> LocalFs {
        self.acl.user_sids = Some(map);
        self
    }

    /// The SIDs the caller's uid maps to; none for a caller that brings its own SID (SMB).
    fn mapped_sids(&self, c: &Caller) -> Vec<Sid> {
        match (&c.sid, &self.acl.user_sids) {
            (None, Some(m)) => m.sids_of_uid(c.uid),
            _ => Vec::new(),
        }
    }

    /// What the descriptor `sd` of an object with attributes `a` leaves the caller.
    fn limit_of(&self, c: &Caller, a: &Attr, sd: Option<SecurityDescriptor>) -> u32 {
        match sd {
            Some(sd) => eval::limit(c, a, &sd, self.mapped_sids(c)),
            None => u32::MAX,
        }
    }

    /// The rights the DACL stored on the object open as `fd` (`O_PATH` when `opened` is false,
    /// else a read or write descriptor) leaves the caller.
    fn acl_limit_fd(&self, c: &Caller, fd: &OwnedFd, a: &Attr, opened: bool) -> VfsResult<u32> {
        if c.is_root() || !carries(a) {
            return Ok(u32::MAX);
        }
        let raw = if opened {
            sys::fgetxattr(fd.as_fd(), NAME)
        } else {
            sys::getxattr_fd(fd.as_fd(), NAME)
        };
        Ok(self.limit_of(c, a, stored(raw)?))
    }

    /// READ / WRITE hook: `fd` is the descriptor the data moves through, `need`
    /// FILE_READ_DATA or FILE_WRITE_DATA. NFS callers only (see the module comment).
    pub(super) fn acl_data(&self, c: &Caller, fd: &OwnedFd, a: &Attr, need: u32) -> VfsResult<()> {
        if !per_call(c) || self.acl_limit_fd(c, fd, a, true)? & need == need {
            return Ok(());
        }
        Err(VfsError::Access)
    }

    /// SETATTR hook (NFS callers; `fd` is `O_PATH`), after the POSIX rules allowed `set`: a
    /// size change needs FILE_WRITE_DATA, and setting the times, for anyone but the owner (who
    /// may always, as POSIX says), FILE_WRITE_ATTRIBUTES. Mode and owner changes stay the
    /// owner's and root's (POSIX) and do not rewrite the descriptor.
    pub(super) fn acl_setattr(
        &self,
        c: &Caller,
        fd: &OwnedFd,
        a: &Attr,
        set: &SetAttr,
    ) -> VfsResult<()> {
        if !per_call(c) {
            return Ok(());
        }
        let mut need = 0;
        if set.size.is_some_and(|s| s != a.size) {
            need |= rights::WRITE_DATA;
        }
        if c.uid != a.uid && (set.atime != SetTime::Keep || set.mtime != SetTime::Keep) {
            need |= rights::WRITE_ATTRIBUTES;
        }
        if need == 0 || self.acl_limit_fd(c, fd, a, false)? & need == need {
            return Ok(());
        }
        Err(VfsError::Access)
    }

    /// READDIR hook: FILE_LIST_DIRECTORY (NFS callers; `fd` is the directory's `O_PATH`).
    pub(super) fn acl_list(&self, c: &Caller, fd: &OwnedFd, a: &Attr) -> VfsResult<()> {
        if !per_call(c) || self.acl_limit_fd(c, fd, a, false)? & rights::READ_DATA != 0 {
            return Ok(());
        }
        Err(VfsError::Access)
    }

    /// ACCESS hook: narrows the mode bits' `granted` ACCESS3 bits by the DACL (NFS callers).
    pub(super) fn acl_access(
        &self,
        c: &Caller,
        h: &crate::FileHandle,
        a: &Attr,
        granted: u32,
    ) -> VfsResult<u32> {
        if !per_call(c) || c.is_root() || !carries(a) {
            return Ok(granted);
        }
        // Through the handle's cached readable descriptor when there is one (`fgetxattr`).
        let sd = match self.get_xattr_impl(c, h, SECURITY_DESCRIPTOR_XATTR) {
            Ok(v) => stored(Ok(v))?,
            Err(VfsError::NotSupported) => None,
            Err(e) => return Err(e),
        };
        Ok(eval::narrow_access(
            granted,
            self.limit_of(c, a, sd),
            a.kind,
        ))
    }

    /// Hook of every call that adds an entry to directory `dir_fd` (`O_PATH`, attributes `da`):
    /// FILE_ADD_SUBDIRECTORY for a directory, else FILE_ADD_FILE (MS-FSA 2.1.5.1.1).
    pub(super) fn acl_may_add(
        &self,
        c: &Caller,
        dir_fd: &OwnedFd,
        da: &Attr,
        is_dir: bool,
    ) -> VfsResult<()> {
        let need = if is_dir {
            rights::ADD_SUBDIRECTORY
        } else {
            rights::ADD_FILE
        };
        if self.acl_limit_fd(c, dir_fd, da, false)? & need == 0 {
            return Err(VfsError::Access);
        }
        Ok(())
    }

    /// Hook of every call that removes entry `name` (attributes `child`) from directory
    /// `dir_fd` (`O_PATH`, attributes `da`): FILE_DELETE_CHILD on the directory, or DELETE
    /// granted by the entry's own descriptor, stored or synthesized (MS-FSA 2.1.5.1.2.1).
    pub(super) fn acl_may_delete(
        &self,
        c: &Caller,
        dir_fd: &OwnedFd,
        da: &Attr,
        name: &[u8],
        child: &Attr,
    ) -> VfsResult<()> {
        let parent = self.acl_limit_fd(c, dir_fd, da, false)?;
        if parent & rights::DELETE_CHILD != 0 {
            return Ok(());
        }
        let own = if carries(child) {
            match stored(sys::getxattr_at(dir_fd.as_fd(), name, NAME))? {
                Some(sd) => Some(eval::grants(c, child, &sd, self.mapped_sids(c))),
                // No descriptor stored: the synthesized one grants its owner DELETE with the
                // owner's w bit (as Windows' default DACL gives the creator), so a user who may
                // add files but not delete others' still deletes their own (SMB's
                // delete-on-close of a file it created, too).
                None if c.uid == child.uid && child.mode & 0o200 != 0 => Some(rights::DELETE),
                None => None,
            }
        } else {
            None
        };
        if eval::may_delete(parent, own) {
            Ok(())
        } else {
            Err(VfsError::Access)
        }
    }

    /// Hook of RENAME: removing `from_name` (attributes `src`) from `from_fd` and adding it to
    /// `to_fd` (a replaced target is a removal too, checked by the caller with
    /// [`LocalFs::acl_may_delete`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn acl_may_move(
        &self,
        c: &Caller,
        (from_fd, fa): (&OwnedFd, &Attr),
        from_name: &[u8],
        src: &Attr,
        (to_fd, ta): (&OwnedFd, &Attr),
    ) -> VfsResult<()> {
        self.acl_may_delete(c, from_fd, fa, from_name, src)?;
        self.acl_may_add(c, to_fd, ta, src.kind == FileKind::Directory)
    }

    /// Gives the object just made as `fd` (not yet under its name) the DACL the inheritable
    /// ACEs of its directory `dir_fd` (attributes `da`) give it; nothing when the directory has
    /// no stored descriptor or nothing inheritable. The owner SID is the caller's (its SMB SID,
    /// the SID of the user its uid maps to, else `S-1-22-1-<uid>`), the group the Unix SID of
    /// the group the object gets (the directory's when it is setgid).
    pub(super) fn acl_inherit(
        &self,
        c: &Caller,
        dir_fd: &OwnedFd,
        da: &Attr,
        fd: OwnedFd,
        is_dir: bool,
    ) -> VfsResult<OwnedFd> {
        let Some(parent) = stored(sys::getxattr_fd(dir_fd.as_fd(), NAME))? else {
            return Ok(fd);
        };
        let owner = c
            .sid
            .as_deref()
            .and_then(Sid::parse)
            .or_else(|| self.mapped_sids(c).into_iter().next())
            .unwrap_or_else(|| unix_user_sid(c.uid));
        let gid = if da.mode & 0o2000 != 0 { da.gid } else { c.gid };
        let Some(sd) = inherit::for_new_object(&parent, is_dir, owner, unix_group_sid(gid)) else {
            return Ok(fd);
        };
        let Some(value) =
            eval::encode_stored(&sd).filter(|v| v.len() <= crate::MAX_XATTR_VALUE_LEN)
        else {
            tracing::warn!("inherited security descriptor too large; create refused");
            return Err(VfsError::TooBig);
        };
        sys::setxattr_fd(fd.as_fd(), NAME, &value)?;
        Ok(fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{ace_type, control, Ace, Acl};
    use crate::{CreateHow, FileHandle, SetAttr, Vfs, WriteStability, ZoneId};
    use std::os::unix::fs::PermissionsExt;

    struct Tmp(std::path::PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    struct Map;
    impl UserSids for Map {
        fn sids_of_uid(&self, uid: u32) -> Vec<Sid> {
            (uid == 1001)
                .then(|| Sid::parse("S-1-5-21-9-9-9-1001"))
                .flatten()
                .into_iter()
                .collect()
        }
    }

    fn setup(tag: &str) -> (Tmp, LocalFs, FileHandle) {
        let base = std::env::temp_dir().join(format!("shoal-acl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("b")).unwrap();
        std::fs::set_permissions(base.join("b"), std::fs::Permissions::from_mode(0o777)).unwrap();
        let fs = LocalFs::open(&base.join("b"), &base.join("key"))
            .unwrap()
            .with_user_sids(Arc::new(Map));
        let root = fs.root("").unwrap();
        (Tmp(base), fs, root)
    }

    fn caller(uid: u32, protocol: Protocol) -> Caller {
        Caller {
            uid,
            gid: uid,
            groups: vec![],
            sid: None,
            client_addr: "127.0.0.1:700".parse().unwrap(),
            zone: ZoneId::SYSTEM,
            protocol,
        }
    }

    fn store(fs: &LocalFs, h: &FileHandle, aces: Vec<Ace>) {
        let sd = SecurityDescriptor {
            control: control::SELF_RELATIVE | control::DACL_PRESENT,
            owner: None,
            group: None,
            sacl: None,
            dacl: Some(Acl::new(aces)),
        };
        let v = eval::encode_stored(&sd).unwrap();
        fs.set_xattr(
            &caller(0, Protocol::Nfs3),
            h,
            SECURITY_DESCRIPTOR_XATTR,
            Some(&v),
        )
        .unwrap();
    }

    fn file(fs: &LocalFs, root: &FileHandle, name: &[u8]) -> FileHandle {
        let how = CreateHow::Unchecked(SetAttr {
            mode: Some(0o666),
            ..SetAttr::default()
        });
        let (h, _) = fs
            .create(&caller(0, Protocol::Nfs3), root, name, &how)
            .unwrap();
        fs.write(
            &caller(0, Protocol::Nfs3),
            &h,
            0,
            &[7; 4096],
            WriteStability::Unstable,
        )
        .unwrap();
        h
    }

    #[test]
    fn a_deny_ace_binds_mapped_nfs_callers_and_smb_opens_keep_their_rights() {
        let (_t, fs, root) = setup("deny");
        let h = file(&fs, &root, b"f");
        let bob = Sid::parse("S-1-5-21-9-9-9-1001").unwrap();
        store(
            &fs,
            &h,
            vec![
                Ace::new(ace_type::ACCESS_DENIED, 0, rights::READ_DATA, &bob),
                Ace::new(ace_type::ACCESS_ALLOWED, 0, rights::ALL, &eval::everyone()),
            ],
        );
        let nfs_bob = caller(1001, Protocol::Nfs3);
        assert!(matches!(
            fs.read(&nfs_bob, &h, 0, 10),
            Err(VfsError::Access)
        ));
        assert!(fs.read(&caller(1002, Protocol::Nfs3), &h, 0, 10).is_ok());
        // An SMB open was checked when it was made; its reads are not checked again.
        assert!(fs.read(&caller(1001, Protocol::Smb3), &h, 0, 10).is_ok());
        let (bits, _) = fs.access(&nfs_bob, &h, 0x3f).unwrap();
        assert_eq!(bits & crate::perm::ACCESS_READ, 0);
    }

    #[test]
    fn new_objects_inherit_for_every_protocol_and_adding_is_checked() {
        let (_t, fs, root) = setup("inherit");
        let (d, _) = fs
            .mkdir(
                &caller(0, Protocol::Nfs3),
                &root,
                b"d",
                &SetAttr {
                    mode: Some(0o777),
                    ..SetAttr::default()
                },
            )
            .unwrap();
        let creator_owner = Sid::parse("S-1-3-0").unwrap();
        let carol = eval::unix_user_sid(1002);
        store(
            &fs,
            &d,
            vec![
                Ace::new(ace_type::ACCESS_DENIED, 0, rights::ADD_FILE, &carol),
                Ace::new(ace_type::ACCESS_ALLOWED, 0x0B, rights::ALL, &creator_owner),
                Ace::new(ace_type::ACCESS_ALLOWED, 0, rights::ALL, &eval::everyone()),
            ],
        );
        let how = CreateHow::Guarded(SetAttr::default());
        // Refused for SMB and NFS callers alike.
        for p in [Protocol::Nfs3, Protocol::Smb3] {
            assert!(matches!(
                fs.create(&caller(1002, p), &d, b"c", &how),
                Err(VfsError::Access)
            ));
        }
        let (h, _) = fs
            .create(&caller(1001, Protocol::Nfs3), &d, b"n", &how)
            .unwrap();
        let raw = fs
            .get_xattr(&caller(0, Protocol::Nfs3), &h, SECURITY_DESCRIPTOR_XATTR)
            .unwrap()
            .unwrap();
        let sd = eval::decode_stored(&raw).unwrap();
        let bob = Sid::parse("S-1-5-21-9-9-9-1001").unwrap();
        assert_eq!(sd.owner.as_ref(), Some(&bob));
        let aces = sd.dacl.unwrap().aces;
        assert_eq!(aces.len(), 1);
        assert_eq!((aces[0].flags, aces[0].sid()), (0x10, Some(bob)));
    }

    #[test]
    fn a_drop_box_lets_users_delete_their_own_files_only() {
        let (_t, fs, root) = setup("dropbox");
        let set = SetAttr {
            mode: Some(0o777),
            ..SetAttr::default()
        };
        let (d, _) = fs
            .mkdir(&caller(0, Protocol::Nfs3), &root, b"d", &set)
            .unwrap();
        file(&fs, &d, b"theirs");
        let add = rights::ADD_FILE | rights::READ_DATA | rights::EXECUTE;
        store(
            &fs,
            &d,
            vec![Ace::new(
                ace_type::ACCESS_ALLOWED,
                0,
                add,
                &eval::everyone(),
            )],
        );
        let how = CreateHow::Guarded(SetAttr {
            mode: Some(0o644),
            ..SetAttr::default()
        });
        for p in [Protocol::Nfs3, Protocol::Smb3] {
            let carol = caller(1002, p);
            fs.create(&carol, &d, b"mine", &how).unwrap();
            // Not someone else's (mode 0666 would let her), but her own.
            assert!(matches!(
                fs.remove(&carol, &d, b"theirs"),
                Err(VfsError::Access)
            ));
            fs.remove(&carol, &d, b"mine").unwrap();
        }
    }

    #[test]
    fn delete_on_close_of_an_owned_file_is_not_asked_of_the_descriptors_again() {
        let (_t, fs, root) = setup("doc");
        let set = SetAttr {
            mode: Some(0o777),
            ..SetAttr::default()
        };
        let (d, _) = fs
            .mkdir(&caller(0, Protocol::Nfs3), &root, b"d", &set)
            .unwrap();
        let how = CreateHow::Guarded(SetAttr {
            mode: Some(0o666),
            ..SetAttr::default()
        });
        let carol = caller(1002, Protocol::Smb3);
        let dave = caller(1003, Protocol::Smb3);
        let (hc, c) = fs.create(&carol, &d, b"carols", &how).unwrap();
        let (hd, _) = fs.create(&dave, &d, b"daves", &how).unwrap();
        // Neither the directory nor the files grant DELETE / DELETE_CHILD to anyone.
        let no_delete = rights::ALL & !(rights::DELETE | rights::DELETE_CHILD);
        for h in [&d, &hc, &hd] {
            store(
                &fs,
                h,
                vec![Ace::new(
                    ace_type::ACCESS_ALLOWED,
                    0,
                    no_delete,
                    &eval::everyone(),
                )],
            );
        }
        assert!(matches!(
            fs.remove(&carol, &d, b"carols"),
            Err(VfsError::Access)
        ));
        // Someone else's file: the descriptors still decide (the mode bits would allow it).
        let (_, dv) = fs.lookup(&carol, &d, b"daves").unwrap();
        assert!(matches!(
            fs.remove_if_same(&carol, &d, b"daves", (dv.fsid, dv.fileid), false),
            Err(VfsError::Access)
        ));
        // Her own file, opened with DELETE granted: removed on close.
        fs.remove_if_same(&carol, &d, b"carols", (c.fsid, c.fileid), false)
            .unwrap();
        assert!(matches!(
            fs.lookup(&carol, &d, b"carols"),
            Err(VfsError::NotFound)
        ));
    }

    /// `cargo test --release -p shoal-vfs -- --ignored --nocapture descriptor_cost`: the cost of
    /// the check on READ, per call, without and with a stored descriptor (SMB callers skip it:
    /// the baseline).
    #[test]
    #[ignore]
    fn descriptor_cost_on_read() {
        let (_t, fs, root) = setup("cost");
        let plain = file(&fs, &root, b"plain");
        let with = file(&fs, &root, b"with");
        store(
            &fs,
            &with,
            vec![
                Ace::new(
                    ace_type::ACCESS_DENIED,
                    0,
                    rights::WRITE_DATA,
                    &eval::unix_user_sid(7),
                ),
                Ace::new(ace_type::ACCESS_ALLOWED, 0, rights::ALL, &eval::everyone()),
            ],
        );
        let n = 200_000u32;
        for (what, h) in [("no descriptor", &plain), ("descriptor", &with)] {
            for p in [Protocol::Smb3, Protocol::Nfs3] {
                let c = caller(1002, p);
                let t = std::time::Instant::now();
                for _ in 0..n {
                    fs.read(&c, h, 0, 4096).unwrap();
                }
                let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
                println!("READ 4 KiB, {what}, {p:?}: {us:.2} us/call");
            }
        }
    }
}
