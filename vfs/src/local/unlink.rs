//! remove/rmdir, rename, and "remove this name if it still names this object", with no
//! window between the permission check and the act (issue 11, items 4 and 5).
//!
//! In a sticky directory (and for a rename across directories, where moving a directory
//! needs write permission on it) the check depends on the object a name points to; the kernel
//! checks nothing for the server (root). Checking with `fstatat(name)` and then acting on
//! `name` would remove or move whatever another client renamed there in between. So:
//! 1. check the object `name` names (a cheap refusal that touches nothing);
//! 2. hide it: `renameat2(name, tmp, RENAME_NOREPLACE)` to an unpredictable temporary name no
//!    client can name ([`super::born`]);
//! 3. `fstatat(tmp)`: the object now hidden cannot change any more; it must be the object
//!    checked (same dev and inode) and pass the check again;
//! 4. act on `tmp` (`unlinkat`, or for a rename `RENAME_NOREPLACE`/`RENAME_EXCHANGE` into
//!    the target name, the replaced object landing on a temporary name where it is checked
//!    in turn before it is unlinked); on any refusal put every name back.
//!
//! A plain remove in a directory without the sticky bit acts directly: there the rule does
//! not depend on the object (write + search on the directory), and the kernel itself refuses
//! `unlinkat` of a directory without `AT_REMOVEDIR` and the converse.

use std::os::fd::{AsFd, OwnedFd};

use super::attr::attr_from_stat;
use super::{born, names, sys, LocalFs};
use crate::perm;
use crate::{Attr, Caller, FileHandle, FileKind, VfsError, VfsResult};

/// Attempts of a rename whose names keep changing under it before it gives up.
const RENAME_TRIES: usize = 3;

fn sticky(a: &Attr) -> bool {
    a.mode & 0o1000 != 0
}

fn same(a: &Attr, b: &Attr) -> bool {
    (a.fsid, a.fileid) == (b.fsid, b.fileid)
}

/// Puts a hidden object back under `name`. If the name was taken meanwhile the object stays
/// under its temporary name (logged with both names: nothing is overwritten).
fn unhide(dir: &OwnedFd, tmp: &[u8], name: &[u8]) {
    if let Err(e) = sys::rename_noreplace(dir.as_fd(), tmp, name) {
        tracing::warn!(
            error = %e,
            tmp = %String::from_utf8_lossy(tmp),
            name = %String::from_utf8_lossy(name),
            "a hidden object could not be put back under its name"
        );
    }
}

/// Hides `name` under a fresh temporary name; returns that name and what it names now.
fn hide(dir: &OwnedFd, name: &[u8]) -> VfsResult<(Vec<u8>, Attr)> {
    let tmp = born::temp_name()?;
    sys::rename_noreplace(dir.as_fd(), name, &tmp)?;
    match sys::fstatat(dir.as_fd(), &tmp) {
        Ok(st) => Ok((tmp, attr_from_stat(&st))),
        Err(e) => {
            unhide(dir, &tmp, name);
            Err(e.into())
        }
    }
}

fn kind_matches(rmdir: bool, a: &Attr) -> VfsResult<()> {
    match (rmdir, a.kind == FileKind::Directory) {
        (true, false) => Err(VfsError::NotDir),
        (false, true) => Err(VfsError::IsDir),
        _ => Ok(()),
    }
}

impl LocalFs {
    /// REMOVE / RMDIR of `dir/name`; with `expect` ((fsid, fileid)), only if `name` still
    /// names that object ([`VfsError::NotFound`] otherwise: nothing is removed).
    pub(super) fn unlink_impl(
        &self,
        c: &Caller,
        dir: &FileHandle,
        name: &[u8],
        rmdir: bool,
        expect: Option<(u64, u64)>,
    ) -> VfsResult<()> {
        match name {
            b"." => return Err(VfsError::Invalid),
            b".." => {
                return Err(if rmdir {
                    VfsError::NotEmpty
                } else {
                    VfsError::Invalid
                })
            }
            _ => names::check(name)?,
        }
        let (dfd, da, _) = self.searchable_dir(c, dir)?;
        let allowed = |child: &Attr| -> VfsResult<()> {
            if let Some(id) = expect {
                if (child.fsid, child.fileid) != id {
                    return Err(VfsError::NotFound);
                }
            }
            kind_matches(rmdir, child)?;
            if !perm::may_delete_from(c, &da, child) {
                return Err(VfsError::Access);
            }
            Ok(())
        };
        let child = attr_from_stat(&sys::fstatat(dfd.as_fd(), name)?);
        allowed(&child)?;
        // The descriptor check reads the entry by name; the hidden object is checked to be the
        // same inode below, so the object checked is the object removed. Removing an object
        // its owner opened with DELETE granted (`expect`) does not ask the descriptors again
        // (`Vfs::remove_if_same`).
        if expect.is_none() || !(child.uid == c.uid || c.is_root()) {
            self.acl_may_delete(c, &dfd, &da, name, &child)?;
        }
        if expect.is_none() && !sticky(&da) {
            sys::unlinkat(dfd.as_fd(), name, rmdir)?;
            self.gens.forget(child.fileid);
            return Ok(());
        }
        let (tmp, hidden) = hide(&dfd, name)?;
        if !same(&hidden, &child) {
            unhide(&dfd, &tmp, name);
            return Err(if expect.is_some() {
                VfsError::NotFound
            } else {
                VfsError::Stale // replaced in the window: the client looks again
            });
        }
        if let Err(e) = allowed(&hidden) {
            unhide(&dfd, &tmp, name);
            return Err(e);
        }
        if let Err(e) = sys::unlinkat(dfd.as_fd(), &tmp, rmdir) {
            unhide(&dfd, &tmp, name);
            return Err(e.into());
        }
        self.gens.forget(hidden.fileid);
        Ok(())
    }

    pub(super) fn rename_impl(
        &self,
        c: &Caller,
        from_dir: &FileHandle,
        from_name: &[u8],
        to_dir: &FileHandle,
        to_name: &[u8],
    ) -> VfsResult<()> {
        names::check(from_name)?;
        names::check(to_name)?;
        let (ffd, fa, ftag) = self.searchable_dir(c, from_dir)?;
        let (tfd, ta, ttag) = self.searchable_dir(c, to_dir)?;
        if ftag != ttag {
            return Err(VfsError::CrossDevice);
        }
        let mut last = VfsError::Stale;
        for _ in 0..RENAME_TRIES {
            match self.rename_once(c, (&ffd, &fa, from_name), (&tfd, &ta, to_name)) {
                Err(VfsError::Stale) => last = VfsError::Stale,
                other => return other,
            }
        }
        Err(last)
    }

    /// One attempt; [`VfsError::Stale`] when a name changed under it (everything put back).
    fn rename_once(
        &self,
        c: &Caller,
        (ffd, fa, from_name): (&OwnedFd, &Attr, &[u8]),
        (tfd, ta, to_name): (&OwnedFd, &Attr, &[u8]),
    ) -> VfsResult<()> {
        let src_ok = |src: &Attr| -> VfsResult<()> {
            if !perm::may_delete_from(c, fa, src) || !perm::may_write(c, ta) {
                return Err(VfsError::Access);
            }
            if src.kind == FileKind::Directory && fa.fileid != ta.fileid && !perm::may_write(c, src)
            {
                // Moving a directory rewrites its `..` entry.
                return Err(VfsError::Access);
            }
            Ok(())
        };
        let dst_ok = |src: &Attr, dst: &Attr| -> VfsResult<()> {
            match (
                src.kind == FileKind::Directory,
                dst.kind == FileKind::Directory,
            ) {
                (true, false) => return Err(VfsError::NotDir),
                (false, true) => return Err(VfsError::IsDir),
                _ => {}
            }
            if !perm::may_delete_from(c, ta, dst) {
                return Err(VfsError::Access);
            }
            Ok(())
        };
        let src = attr_from_stat(&sys::fstatat(ffd.as_fd(), from_name)?);
        src_ok(&src)?;
        self.acl_may_move(c, (ffd, fa), from_name, &src, (tfd, ta))?;
        let dst = match sys::fstatat(tfd.as_fd(), to_name) {
            Ok(st) => Some(attr_from_stat(&st)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(d) = &dst {
            if same(d, &src) {
                return Ok(()); // same object: nothing to do (POSIX)
            }
            dst_ok(&src, d)?;
            self.acl_may_delete(c, tfd, ta, to_name, d)?;
        }
        let careful = sticky(fa) || sticky(ta) || fa.fileid != ta.fileid;
        if !careful {
            sys::renameat(ffd.as_fd(), from_name, tfd.as_fd(), to_name)?;
            if let Some(d) = dst {
                self.gens.forget(d.fileid);
            }
            return Ok(());
        }
        // Hide the source, check what is hidden, then move it in.
        let (tmp, hidden) = hide(ffd, from_name)?;
        if !same(&hidden, &src) {
            unhide(ffd, &tmp, from_name);
            return Err(VfsError::Stale);
        }
        if let Err(e) = src_ok(&hidden) {
            unhide(ffd, &tmp, from_name);
            return Err(e);
        }
        let Some(d) = dst else {
            return match sys::rename_noreplace_to(ffd.as_fd(), &tmp, tfd.as_fd(), to_name) {
                Ok(()) => Ok(()),
                Err(e) => {
                    unhide(ffd, &tmp, from_name);
                    if e.raw_os_error() == Some(libc::EEXIST) {
                        Err(VfsError::Stale) // the target appeared: check it
                    } else {
                        Err(e.into())
                    }
                }
            };
        };
        // Swap: the source takes the target name, the replaced object lands on `tmp`, where
        // nothing can change it; it must be the object checked before it goes.
        if let Err(e) = sys::rename_exchange(ffd.as_fd(), &tmp, tfd.as_fd(), to_name) {
            unhide(ffd, &tmp, from_name);
            return Err(e.into());
        }
        let undo = |e: VfsError| -> VfsError {
            if let Err(x) = sys::rename_exchange(ffd.as_fd(), &tmp, tfd.as_fd(), to_name) {
                tracing::warn!(error = %x, "a rename could not be undone");
            } else {
                unhide(ffd, &tmp, from_name);
            }
            e
        };
        let replaced = match sys::fstatat(ffd.as_fd(), &tmp) {
            Ok(st) => attr_from_stat(&st),
            Err(e) => return Err(undo(e.into())),
        };
        if !same(&replaced, &d) {
            return Err(undo(VfsError::Stale));
        }
        if let Err(e) = dst_ok(&src, &replaced) {
            return Err(undo(e));
        }
        let rmdir = replaced.kind == FileKind::Directory;
        if let Err(e) = sys::unlinkat(ffd.as_fd(), &tmp, rmdir) {
            return Err(undo(e.into()));
        }
        self.gens.forget(replaced.fileid);
        Ok(())
    }
}
