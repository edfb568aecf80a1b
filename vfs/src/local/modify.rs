//! The calls that make objects or change attributes: setattr, create, mkdir, symlink, mknod,
//! link (remove/rmdir/rename are in `unlink`).

use std::os::fd::{AsFd, OwnedFd};

use super::attr::attr_from_stat;
use super::{born, names, sys, LocalFs};
use crate::perm;
use crate::{
    Attr, Caller, CreateHow, FileHandle, FileKind, SetAttr, SetTime, Timespec, VfsError, VfsResult,
};

fn time_arg(t: SetTime) -> sys::TimeArg {
    match t {
        SetTime::Keep => None,
        SetTime::ServerNow => Some(None),
        SetTime::Client(ts) => Some(Some((ts.secs, ts.nanos.min(999_999_999)))),
    }
}

impl LocalFs {
    /// Permission rules of POSIX `chmod`/`chown`/`truncate`/`utimes`, then applies `set` to the
    /// object open as `fd`.
    fn apply_set(&self, c: &Caller, fd: &OwnedFd, a: &Attr, set: &SetAttr) -> VfsResult<()> {
        let owner = perm::is_owner(c, a);
        if let Some(u) = set.uid {
            if u != a.uid && !c.is_root() {
                return Err(VfsError::NotOwner);
            }
        }
        if let Some(g) = set.gid {
            if g != a.gid && !(c.is_root() || (c.uid == a.uid && c.in_group(g))) {
                return Err(VfsError::NotOwner);
            }
        }
        if set.mode.is_some() && !owner {
            return Err(VfsError::NotOwner);
        }
        if let Some(_size) = set.size {
            match a.kind {
                FileKind::Regular => {}
                FileKind::Directory => return Err(VfsError::IsDir),
                _ => return Err(VfsError::Invalid),
            }
            if !(self.may(c, a, true)) {
                return Err(VfsError::Access);
            }
        }
        for t in [set.atime, set.mtime] {
            match t {
                SetTime::Keep => {}
                SetTime::ServerNow => {
                    if !owner && !perm::may_write(c, a) {
                        return Err(VfsError::Access);
                    }
                }
                SetTime::Client(_) => {
                    if !owner {
                        return Err(VfsError::NotOwner);
                    }
                }
            }
        }
        self.acl_setattr(c, fd, a, set)?;
        if set.uid.is_some() || set.gid.is_some() {
            sys::fchown_fd(fd.as_fd(), set.uid, set.gid)?;
        }
        if let Some(mode) = set.mode {
            if a.kind != FileKind::Symlink {
                let mut mode = mode & 0o7777;
                // A non-member may not set the setgid bit (POSIX chmod).
                let gid = set.gid.unwrap_or(a.gid);
                if !c.is_root() && !c.in_group(gid) {
                    mode &= !0o2000;
                }
                sys::chmod_fd(fd.as_fd(), mode)?;
            }
        }
        if let Some(size) = set.size {
            self.clear_setid(c, fd)?;
            let wfd = self.reopen(fd, libc::O_WRONLY)?;
            sys::ftruncate(wfd.as_fd(), size)?;
        }
        if (set.atime != SetTime::Keep || set.mtime != SetTime::Keep) && a.kind != FileKind::Symlink
        {
            sys::utimens_fd(fd.as_fd(), time_arg(set.atime), time_arg(set.mtime))?;
        }
        Ok(())
    }

    /// What the kernel's `file_remove_privs` does for an unprivileged writer: before a write
    /// or truncation by a caller that is neither the owner nor root, the setuid bit goes, and
    /// the setgid bit when group-execute is set (a setgid file without it marks mandatory
    /// locking and stays). Without this a user allowed to write someone else's setuid program
    /// could plant code that runs as its owner.
    pub(super) fn clear_setid(&self, c: &Caller, fd: &OwnedFd) -> VfsResult<()> {
        let a = attr_from_stat(&sys::fstat(fd.as_fd())?);
        if c.is_root() || c.uid == a.uid || a.kind != FileKind::Regular {
            return Ok(());
        }
        let mut bits = 0o4000;
        if a.mode & 0o010 != 0 {
            bits |= 0o2000;
        }
        if a.mode & bits != 0 {
            sys::chmod_fd(fd.as_fd(), a.mode & !bits)?;
        }
        Ok(())
    }

    /// Opens the object behind an `O_PATH` fd again with other flags.
    fn reopen(&self, fd: &OwnedFd, flags: i32) -> VfsResult<OwnedFd> {
        let kh = sys::name_to_handle(fd.as_fd(), b"")?;
        Ok(sys::open_by_handle(self.root_fd.as_fd(), &kh, flags)?)
    }

    pub(super) fn setattr_impl(
        &self,
        c: &Caller,
        h: &FileHandle,
        set: &SetAttr,
        guard: Option<Timespec>,
    ) -> VfsResult<Attr> {
        let (fd, a, _) = self.object(h)?;
        if let Some(ct) = guard {
            if ct != a.ctime {
                return Err(VfsError::NotSync);
            }
        }
        self.apply_set(c, &fd, &a, set)?;
        Ok(attr_from_stat(&sys::fstat(fd.as_fd())?))
    }

    /// Gives a new object to its creator: owner = caller, group = caller's, or the directory's
    /// when it has the setgid bit (BSD/SysV group inheritance as Linux does it).
    fn own_new(&self, c: &Caller, dir: &Attr, fd: &OwnedFd) -> VfsResult<()> {
        let gid = if dir.mode & 0o2000 != 0 {
            dir.gid
        } else {
            c.gid
        };
        sys::fchown_fd(fd.as_fd(), Some(c.uid), Some(gid))?;
        Ok(())
    }

    fn finish_new(
        &self,
        c: &Caller,
        dir: &Attr,
        fd: OwnedFd,
        tag: u32,
        mode: Option<u32>,
        set: Option<&SetAttr>,
    ) -> VfsResult<(FileHandle, Attr)> {
        self.own_new(c, dir, &fd)?;
        if let Some(mode) = mode {
            let mut mode = mode & 0o7777;
            // A directory made in a setgid directory keeps the inherited bit (Linux
            // `inode_init_owner`); otherwise a non-member may not set it.
            let inherited = dir.mode & 0o2000 != 0
                && sys::fstat(fd.as_fd())?.st_mode & libc::S_IFMT == libc::S_IFDIR;
            if !inherited
                && !c.is_root()
                && !c.in_group(if dir.mode & 0o2000 != 0 {
                    dir.gid
                } else {
                    c.gid
                })
            {
                mode &= !0o2000;
            }
            sys::chmod_fd(fd.as_fd(), mode)?;
        }
        if let Some(set) = set {
            if set.size.is_some() || set.atime != SetTime::Keep || set.mtime != SetTime::Keep {
                let a = attr_from_stat(&sys::fstat(fd.as_fd())?);
                let rest = SetAttr {
                    mode: None,
                    uid: None,
                    gid: None,
                    ..set.clone()
                };
                self.apply_set(c, &fd, &a, &rest)?;
            }
        }
        let a = attr_from_stat(&sys::fstat(fd.as_fd())?);
        Ok((self.handle_of(&fd, tag)?, a))
    }

    pub(super) fn create_impl(
        &self,
        c: &Caller,
        dir: &FileHandle,
        name: &[u8],
        how: &CreateHow,
    ) -> VfsResult<(FileHandle, Attr)> {
        names::check(name)?;
        let (dfd, da, tag) = self.writable_dir(c, dir)?;
        self.acl_may_add(c, &dfd, &da, false)?;
        let exists = match sys::fstatat(dfd.as_fd(), name) {
            Ok(_) => true,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => false,
            Err(e) => return Err(e.into()),
        };
        if !exists {
            // Made under an unpredictable temporary name and moved into place owned; set up
            // only through the descriptor `O_CREAT | O_EXCL` returned (see `born`).
            let tmp = born::temp_name()?;
            let fd = sys::openat(
                dfd.as_fd(),
                &tmp,
                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY,
                0o600,
            )?;
            let made = born::check_fresh(&fd, FileKind::Regular, 0o600)
                .and_then(|()| self.acl_inherit(c, &dfd, &da, fd, false))
                .and_then(|fd| match how {
                    CreateHow::Unchecked(set) | CreateHow::Guarded(set) => {
                        let mode = set.mode.or(Some(0o644));
                        let mut rest = set.clone();
                        rest.mode = None;
                        self.finish_new(c, &da, fd, tag, mode, Some(&rest))
                    }
                    CreateHow::Exclusive(verf) => {
                        self.own_new(c, &da, &fd)?;
                        sys::chmod_fd(fd.as_fd(), 0o600)?;
                        let (at, mt) = verifier_times(verf);
                        sys::utimens_fd(fd.as_fd(), Some(Some((at, 0))), Some(Some((mt, 0))))?;
                        let a = attr_from_stat(&sys::fstat(fd.as_fd())?);
                        Ok((self.handle_of(&fd, tag)?, a))
                    }
                });
            if let Some(done) = born::publish(&dfd, &tmp, name, false, made)? {
                return Ok(done);
            }
            // The name was taken meanwhile: the rules for an existing object apply.
        }
        let (fd, a) = self.child(&dfd, name)?;
        match how {
            CreateHow::Guarded(_) => Err(VfsError::Exists),
            CreateHow::Exclusive(verf) => {
                let (at, mt) = verifier_times(verf);
                if a.kind == FileKind::Regular && a.atime.secs == at && a.mtime.secs == mt {
                    // A retransmitted exclusive CREATE (RFC 1813 3.3.8).
                    Ok((self.handle_of(&fd, tag)?, a))
                } else {
                    Err(VfsError::Exists)
                }
            }
            CreateHow::Unchecked(set) => {
                if a.kind == FileKind::Directory {
                    return Err(VfsError::IsDir);
                }
                if a.kind != FileKind::Regular {
                    return Err(VfsError::Exists);
                }
                let only_size = SetAttr {
                    size: set.size,
                    ..SetAttr::default()
                };
                self.apply_set(c, &fd, &a, &only_size)?;
                let a = attr_from_stat(&sys::fstat(fd.as_fd())?);
                Ok((self.handle_of(&fd, tag)?, a))
            }
        }
    }

    pub(super) fn mkdir_impl(
        &self,
        c: &Caller,
        dir: &FileHandle,
        name: &[u8],
        set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)> {
        names::check(name)?;
        let (dfd, da, tag) = self.writable_dir(c, dir)?;
        self.acl_may_add(c, &dfd, &da, true)?;
        if sys::fstatat(dfd.as_fd(), name).is_ok() {
            return Err(VfsError::Exists);
        }
        // Made under an unpredictable temporary name, checked, and moved into place owned
        // (see `born`).
        let tmp = born::temp_name()?;
        sys::mkdirat(dfd.as_fd(), &tmp, 0o700)?;
        let made = sys::openat(dfd.as_fd(), &tmp, libc::O_PATH | libc::O_DIRECTORY, 0)
            .map_err(VfsError::from)
            .and_then(|fd| self.acl_inherit(c, &dfd, &da, fd, true))
            .and_then(|fd| {
                born::check_fresh(&fd, FileKind::Directory, 0o700)?;
                let mut mode = set.mode.unwrap_or(0o755) & 0o7777;
                if da.mode & 0o2000 != 0 {
                    mode |= 0o2000; // setgid directories propagate to subdirectories
                }
                let mut rest = set.clone();
                rest.mode = None;
                self.finish_new(c, &da, fd, tag, Some(mode), Some(&rest))
            });
        born::publish(&dfd, &tmp, name, true, made)?.ok_or(VfsError::Exists)
    }

    pub(super) fn symlink_impl(
        &self,
        c: &Caller,
        dir: &FileHandle,
        name: &[u8],
        target: &[u8],
        _set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)> {
        names::check(name)?;
        if target.is_empty() || target.len() > 4096 || target.contains(&0) {
            return Err(VfsError::Invalid);
        }
        let (dfd, da, tag) = self.writable_dir(c, dir)?;
        self.acl_may_add(c, &dfd, &da, false)?;
        // Made under an unpredictable temporary name, opened `O_PATH | O_NOFOLLOW`, checked,
        // chowned through that descriptor (`fchownat(AT_EMPTY_PATH)`), moved into place.
        let tmp = born::temp_name()?;
        sys::symlinkat(target, dfd.as_fd(), &tmp)?;
        let made = sys::openat(dfd.as_fd(), &tmp, libc::O_PATH, 0)
            .map_err(VfsError::from)
            .and_then(|fd| {
                born::check_fresh(&fd, FileKind::Symlink, 0o777)?;
                self.finish_new(c, &da, fd, tag, None, None)
            });
        born::publish(&dfd, &tmp, name, false, made)?.ok_or(VfsError::Exists)
    }

    pub(super) fn mknod_impl(
        &self,
        c: &Caller,
        dir: &FileHandle,
        name: &[u8],
        kind: FileKind,
        rdev: (u32, u32),
        set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)> {
        names::check(name)?;
        let (ifmt, dev) = match kind {
            FileKind::Fifo => (libc::S_IFIFO, 0),
            FileKind::Socket => (libc::S_IFSOCK, 0),
            FileKind::BlockDevice | FileKind::CharDevice => {
                if !c.is_root() {
                    return Err(VfsError::NotOwner);
                }
                let f = if kind == FileKind::BlockDevice {
                    libc::S_IFBLK
                } else {
                    libc::S_IFCHR
                };
                (f, libc::makedev(rdev.0, rdev.1))
            }
            _ => return Err(VfsError::BadType),
        };
        let (dfd, da, tag) = self.writable_dir(c, dir)?;
        self.acl_may_add(c, &dfd, &da, false)?;
        // As SYMLINK: temporary name, `O_PATH | O_NOFOLLOW` descriptor, checked, moved.
        let tmp = born::temp_name()?;
        sys::mknodat(dfd.as_fd(), &tmp, ifmt | 0o600, dev)?;
        let made = sys::openat(dfd.as_fd(), &tmp, libc::O_PATH, 0)
            .map_err(VfsError::from)
            .and_then(|fd| {
                born::check_fresh(&fd, kind, 0o600)?;
                let mut rest = set.clone();
                rest.mode = None;
                self.finish_new(
                    c,
                    &da,
                    fd,
                    tag,
                    Some(set.mode.unwrap_or(0o644)),
                    Some(&rest),
                )
            });
        born::publish(&dfd, &tmp, name, false, made)?.ok_or(VfsError::Exists)
    }

    pub(super) fn link_impl(
        &self,
        c: &Caller,
        h: &FileHandle,
        dir: &FileHandle,
        name: &[u8],
    ) -> VfsResult<Attr> {
        names::check(name)?;
        let (fd, a, tag) = self.object(h)?;
        if a.kind == FileKind::Directory {
            return Err(VfsError::IsDir);
        }
        if !may_link_source(c, &a) {
            return Err(VfsError::NotOwner);
        }
        let (dfd, da, dtag) = self.writable_dir(c, dir)?;
        self.acl_may_add(c, &dfd, &da, false)?;
        if tag != dtag {
            return Err(VfsError::CrossDevice);
        }
        sys::link_fd(fd.as_fd(), dfd.as_fd(), name)?;
        Ok(attr_from_stat(&sys::fstat(fd.as_fd())?))
    }
}

/// Linux `protected_hardlinks` (fs/namei.c `may_linkat`) for the caller, since the server
/// runs as root and the kernel's own check never applies to it: the caller owns the source,
/// or it is a regular file that is neither setuid nor setgid-and-group-executable and the
/// caller may read and write it; root (not squashed) may link anything.
fn may_link_source(c: &Caller, a: &Attr) -> bool {
    if c.is_root() || c.uid == a.uid {
        return true;
    }
    let setid = a.mode & 0o4000 != 0 || (a.mode & 0o2010 == 0o2010);
    a.kind == FileKind::Regular && !setid && perm::may_read(c, a) && perm::may_write(c, a)
}

/// Exclusive-create verifier stored in atime/mtime seconds (as knfsd does), kept within 31 bits
/// so every filesystem can hold it.
fn verifier_times(v: &[u8; 8]) -> (i64, i64) {
    let [a0, a1, a2, a3, m0, m1, m2, m3] = *v;
    let a = u32::from_be_bytes([a0, a1, a2, a3]) & 0x7fff_ffff;
    let m = u32::from_be_bytes([m0, m1, m2, m3]) & 0x7fff_ffff;
    (i64::from(a), i64::from(m))
}
