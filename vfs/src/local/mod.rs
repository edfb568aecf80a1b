//! [`LocalFs`]: a backing directory on a local filesystem, confined to its root.
//!
//! How confinement works:
//! - Objects are reached only through handles this server issued (HMAC-authenticated, see
//!   [`handle`]) and re-opened with `open_by_handle_at`, so a client cannot name an object it
//!   was never given.
//! - Names are single components checked by [`names`] (no `/`, no NUL, at most 255 bytes) and
//!   resolved with `openat(dirfd, name, O_NOFOLLOW)` relative to an open directory: symlinks
//!   are returned as objects, never followed; `..` of a root is the root itself.
//! - Objects on another mount below the root are refused (handles are per filesystem).
//! - A directory handle is honoured only while the directory is below the root it was issued
//!   under, and `..` never goes above the backing root (`contain.rs`; knfsd's subtree check).
//! - New objects are made under unpredictable temporary names no client can name, and chowned
//!   only through their own descriptor (`born.rs`); checks that depend on the object a name
//!   points to (sticky directories, delete on close) check the object they act on (`unlink.rs`).
//!
//! The server normally runs as root (it needs CAP_DAC_READ_SEARCH for `open_by_handle_at` and
//! CAP_CHOWN to give new files to the caller), so mode bits are enforced here, in
//! [`crate::perm`], for the [`Caller`].
//!
//! Files: `sys.rs` syscall wrappers, `handle.rs` handle format, `names.rs` name checks,
//! `attr.rs` stat conversion, `modify.rs` the calls that make objects or change attributes,
//! `born.rs` temporary names, `unlink.rs` remove/rename, `contain.rs` the subtree check,
//! `dir.rs` listing,
//! `gencache.rs` inode generations remembered by listings, `fdcache.rs` cached descriptors,
//! `xattr.rs` extended attributes (`user.` namespace).

mod acl;
mod alloc;
mod attr;
mod born;
mod contain;
mod dir;
mod fdcache;
mod gencache;
pub mod handle;
mod modify;
pub mod names;
pub mod sys;
mod unlink;
mod xattr;

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::perm;
use crate::{
    Attr, Caller, CreateHow, DirEntry, DirEntryXattr, FileHandle, FileKind, FsStat, Protocol,
    SetAttr, Timespec, Vfs, VfsError, VfsResult, WriteStability,
};
use attr::attr_from_stat;
use handle::HandleCodec;

/// Largest single read or write LocalFs performs (protocols cap lower).
pub const MAX_IO: u32 = 8 * 1024 * 1024;

/// A backing directory served through the [`Vfs`] trait.
pub struct LocalFs {
    /// `O_PATH` fd of the backing root; also the mount fd for `open_by_handle_at`.
    root_fd: OwnedFd,
    /// Device of the backing root; objects on other devices are refused.
    dev: u64,
    /// (dev, ino) of the backing root: no `..` walk goes above it.
    backing_id: (u64, u64),
    codec: HandleCodec,
    /// Root tag -> (dev, ino) of each root handed out by [`Vfs::root`].
    roots: RwLock<HashMap<u32, (u64, u64)>>,
    verifier: [u8; 8],
    /// Directory streams kept open between listing calls.
    streams: dir::Streams,
    /// Descriptors kept per handle.
    fds: fdcache::FdCache,
    /// Inode generations seen by listings.
    gens: gencache::GenCache,
    /// Depth of each directory below its root, last found ([`contain`]).
    depths: contain::Depths,
    /// Stored security descriptors' state (`acl.rs`).
    acl: acl::AclState,
}

/// A shared descriptor.
type Fd = Arc<OwnedFd>;

impl LocalFs {
    /// Opens `backing` (which must exist). The handle key is read from `key_file`, or created
    /// there (32 random bytes, mode 0600) on first use: keep it to keep handles valid across
    /// restarts.
    pub fn open(backing: &Path, key_file: &Path) -> io::Result<LocalFs> {
        let root_fd = sys::open_dir_path(backing)?;
        let st = sys::fstat(root_fd.as_fd())?;
        let secret = load_or_create_key(key_file)?;
        let mut verifier = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut verifier)
            .map_err(|_| io::Error::other("no randomness for the write verifier"))?;
        let fs = LocalFs {
            root_fd,
            dev: st.st_dev,
            backing_id: (st.st_dev, st.st_ino),
            codec: HandleCodec::new(&secret),
            roots: RwLock::new(HashMap::new()),
            verifier,
            streams: Default::default(),
            fds: Default::default(),
            gens: Default::default(),
            depths: Default::default(),
            acl: Default::default(),
        };
        // Probe: handles must be re-openable, which needs CAP_DAC_READ_SEARCH.
        let kh = sys::name_to_handle(fs.root_fd.as_fd(), b"").map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{}: file handles not supported: {e}", backing.display()),
            )
        })?;
        sys::open_by_handle(fs.root_fd.as_fd(), &kh, libc::O_PATH).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot re-open file handles under {} ({e}); shoal serve needs \
                     CAP_DAC_READ_SEARCH and CAP_CHOWN: run it as root",
                    backing.display()
                ),
            )
        })?;
        Ok(fs)
    }

    /// Re-opens the object a handle names, with `flags` (e.g. `O_PATH`).
    fn open_handle(&self, h: &FileHandle, flags: i32) -> VfsResult<(OwnedFd, u32)> {
        let d = self.codec.decode(h)?;
        if !self
            .roots
            .read()
            .map(|r| r.contains_key(&d.root_tag))
            .unwrap_or(false)
        {
            return Err(VfsError::Stale);
        }
        match sys::open_by_handle(self.root_fd.as_fd(), &d.kernel, flags) {
            Ok(fd) => Ok((fd, d.root_tag)),
            Err(e) => match e.raw_os_error() {
                Some(libc::ESTALE) | Some(libc::ENOENT) | Some(libc::EINVAL) => {
                    Err(VfsError::Stale)
                }
                _ => Err(e.into()),
            },
        }
    }

    /// The cached descriptors of a handle, opening (`O_PATH`) and caching them on a miss.
    fn cached(&self, h: &FileHandle) -> VfsResult<fdcache::Entry> {
        if let Some(e) = self.fds.get(h.as_bytes()) {
            return Ok(e);
        }
        let (fd, tag) = self.open_handle(h, libc::O_PATH)?;
        let e = fdcache::Entry {
            path: Arc::new(fd),
            rw: None,
            ro: None,
            tag,
        };
        self.fds.put(h.as_bytes(), e.clone());
        Ok(e)
    }

    /// Stats a cached object; a deleted one (no links left) is stale, as a reopen would say.
    fn stat_cached(&self, h: &FileHandle, fd: &OwnedFd) -> VfsResult<Attr> {
        let a = attr_from_stat(&sys::fstat(fd.as_fd())?);
        if a.nlink == 0 {
            self.fds.remove(h.as_bytes());
            return Err(VfsError::Stale);
        }
        Ok(a)
    }

    /// The object (`O_PATH`) and its attributes. A directory must still be below the root
    /// its handle was issued under ([`contain`]).
    fn object(&self, h: &FileHandle) -> VfsResult<(Fd, Attr, u32)> {
        let e = self.cached(h)?;
        let a = self.stat_cached(h, &e.path)?;
        if a.kind == FileKind::Directory {
            self.check_contained(&e.path, (a.fsid, a.fileid), e.tag)?;
        }
        Ok((e.path, a, e.tag))
    }

    /// A read-write descriptor of a regular file (cached).
    fn rw_fd(&self, h: &FileHandle) -> VfsResult<Fd> {
        let mut e = self.cached(h)?;
        if let Some(rw) = &e.rw {
            return Ok(rw.clone());
        }
        // Read-only backing stores (or immutable files) still serve reads.
        let fd = match self.open_handle(h, libc::O_RDWR) {
            Ok((fd, _)) => fd,
            Err(VfsError::ReadOnly | VfsError::Access | VfsError::NotOwner) => {
                self.open_handle(h, libc::O_RDONLY)?.0
            }
            Err(e) => return Err(e),
        };
        let fd = Arc::new(fd);
        e.rw = Some(fd.clone());
        self.fds.put(h.as_bytes(), e);
        Ok(fd)
    }

    /// A directory the caller may search, as `O_PATH`.
    fn searchable_dir(&self, c: &Caller, h: &FileHandle) -> VfsResult<(Fd, Attr, u32)> {
        let (fd, a, tag) = self.object(h)?;
        if a.kind != FileKind::Directory {
            return Err(VfsError::NotDir);
        }
        if !perm::may_exec(c, &a) {
            return Err(VfsError::Access);
        }
        Ok((fd, a, tag))
    }

    /// A directory the caller may add entries to or remove them from.
    fn writable_dir(&self, c: &Caller, h: &FileHandle) -> VfsResult<(Fd, Attr, u32)> {
        let (fd, a, tag) = self.searchable_dir(c, h)?;
        if !perm::may_write(c, &a) {
            return Err(VfsError::Access);
        }
        Ok((fd, a, tag))
    }

    /// Handle for an object open as `fd`, reached under root `tag`.
    fn handle_of(&self, fd: &OwnedFd, tag: u32) -> VfsResult<FileHandle> {
        let kh = sys::name_to_handle(fd.as_fd(), b"")?;
        self.codec.encode(tag, &kh)
    }

    fn is_root(&self, tag: u32, a: &Attr) -> bool {
        self.roots
            .read()
            .map(|r| r.get(&tag) == Some(&(a.fsid, a.fileid)))
            .unwrap_or(false)
    }

    /// Opens the child `name` of `dir_fd` as `O_PATH` without following symlinks, refusing
    /// objects on other filesystems.
    fn child(&self, dir_fd: &OwnedFd, name: &[u8]) -> VfsResult<(OwnedFd, Attr)> {
        let fd = sys::openat(dir_fd.as_fd(), name, libc::O_PATH, 0)?;
        let st = sys::fstat(fd.as_fd())?;
        if st.st_dev != self.dev {
            return Err(VfsError::Access);
        }
        Ok((fd, attr_from_stat(&st)))
    }

    /// Lookup of `.`/`..`/a name in an open directory under root `tag`.
    fn lookup_in(
        &self,
        dir_fd: &OwnedFd,
        dir_attr: &Attr,
        tag: u32,
        name: &[u8],
    ) -> VfsResult<(OwnedFd, Attr)> {
        match name {
            b"." => {
                let fd = sys::openat(dir_fd.as_fd(), b".", libc::O_PATH, 0)?;
                Ok((fd, dir_attr.clone()))
            }
            b".."
                if self.is_root(tag, dir_attr)
                    || (dir_attr.fsid, dir_attr.fileid) == self.backing_id =>
            {
                let fd = sys::openat(dir_fd.as_fd(), b".", libc::O_PATH, 0)?;
                Ok((fd, dir_attr.clone()))
            }
            b".." => {
                // The parent is checked too: the directory may have moved since its own check.
                let (fd, a) = self.child(dir_fd, b"..")?;
                self.check_contained(&fd, (a.fsid, a.fileid), tag)?;
                Ok((fd, a))
            }
            _ => {
                names::check(name)?;
                self.child(dir_fd, name)
            }
        }
    }

    /// Read/write permission with knfsd's owner override for NFS (the owner of a file may
    /// read and write it through NFS whatever the mode, as it may have opened it before a
    /// chmod).
    fn may(&self, c: &Caller, a: &Attr, write: bool) -> bool {
        if c.protocol == Protocol::Nfs3 && c.uid == a.uid {
            return true;
        }
        if write {
            perm::may_write(c, a)
        } else {
            perm::may_read(c, a)
        }
    }
}

fn load_or_create_key(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read(path) {
        Ok(k) if k.len() >= 32 => return Ok(k),
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: handle key shorter than 32 bytes", path.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut key = vec![0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
        .map_err(|_| io::Error::other("no randomness for the handle key"))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(&key)?;
    f.sync_all()?;
    Ok(key)
}

fn root_tag_for(relative: &str) -> u32 {
    let norm = relative.trim_matches('/');
    let norm = if norm.is_empty() || norm == "." {
        ""
    } else {
        norm
    };
    let d = ring::digest::digest(&ring::digest::SHA256, norm.as_bytes());
    let b = d.as_ref();
    u32::from_le_bytes([
        b.first().copied().unwrap_or(0),
        b.get(1).copied().unwrap_or(0),
        b.get(2).copied().unwrap_or(0),
        b.get(3).copied().unwrap_or(0),
    ])
}

impl Vfs for LocalFs {
    fn root(&self, relative: &str) -> VfsResult<FileHandle> {
        let rel = relative.trim_matches('/');
        let fd = if rel.is_empty() || rel == "." {
            sys::openat(
                self.root_fd.as_fd(),
                b".",
                libc::O_PATH | libc::O_DIRECTORY,
                0,
            )?
        } else {
            sys::open_beneath(
                self.root_fd.as_fd(),
                rel.as_bytes(),
                libc::O_PATH | libc::O_DIRECTORY,
            )?
        };
        let st = sys::fstat(fd.as_fd())?;
        if st.st_dev != self.dev {
            return Err(VfsError::CrossDevice);
        }
        let tag = root_tag_for(rel);
        if let Ok(mut r) = self.roots.write() {
            r.insert(tag, (st.st_dev, st.st_ino));
        }
        self.handle_of(&fd, tag)
    }

    fn is_within(&self, handle: &FileHandle, root: &FileHandle) -> bool {
        match (self.codec.decode(handle), self.codec.decode(root)) {
            (Ok(a), Ok(b)) => a.root_tag == b.root_tag,
            _ => false,
        }
    }

    fn getattr(&self, _c: &Caller, h: &FileHandle) -> VfsResult<Attr> {
        Ok(self.object(h)?.1)
    }

    fn setattr(
        &self,
        c: &Caller,
        h: &FileHandle,
        set: &SetAttr,
        guard: Option<Timespec>,
    ) -> VfsResult<Attr> {
        self.setattr_impl(c, h, set, guard)
    }

    fn lookup(&self, c: &Caller, dir: &FileHandle, name: &[u8]) -> VfsResult<(FileHandle, Attr)> {
        let (dfd, da, tag) = self.searchable_dir(c, dir)?;
        let (fd, a) = self.lookup_in(&dfd, &da, tag, name)?;
        if name != b"." && name != b".." {
            // What was opened is checked too (`..` already is, in `lookup_in`).
            if a.kind == FileKind::Directory {
                self.check_child_contained(&fd, (a.fsid, a.fileid), (da.fsid, da.fileid), tag)?;
            } else {
                self.check_contained(&dfd, (da.fsid, da.fileid), tag)?;
            }
        }
        Ok((self.handle_of(&fd, tag)?, a))
    }

    fn access(&self, c: &Caller, h: &FileHandle, mask: u32) -> VfsResult<(u32, Attr)> {
        let (_, a, _) = self.object(h)?;
        let mut granted = perm::access_mask(c, &a, mask);
        if c.protocol == Protocol::Nfs3 && c.uid == a.uid && a.kind == FileKind::Regular {
            granted |= mask & (perm::ACCESS_READ | perm::ACCESS_MODIFY | perm::ACCESS_EXTEND);
        }
        let granted = self.acl_access(c, h, &a, granted)?;
        Ok((granted, a))
    }

    fn readlink(&self, _c: &Caller, h: &FileHandle) -> VfsResult<Vec<u8>> {
        let (fd, a, _) = self.object(h)?;
        if a.kind != FileKind::Symlink {
            return Err(VfsError::Invalid);
        }
        Ok(sys::readlink_fd(fd.as_fd())?)
    }

    fn read(
        &self,
        c: &Caller,
        h: &FileHandle,
        offset: u64,
        count: u32,
    ) -> VfsResult<(Vec<u8>, bool, Attr)> {
        let (_, a, _) = self.object(h)?;
        match a.kind {
            FileKind::Regular => {}
            FileKind::Directory => return Err(VfsError::IsDir),
            _ => return Err(VfsError::Invalid),
        }
        if !self.may(c, &a, false) {
            return Err(VfsError::Access);
        }
        let fd = self.rw_fd(h)?;
        self.acl_data(c, &fd, &a, crate::acl::rights::READ_DATA)?;
        let data = sys::pread_full(fd.as_fd(), offset, count.min(MAX_IO) as usize)?;
        let a = attr_from_stat(&sys::fstat(fd.as_fd())?);
        let eof = offset.saturating_add(data.len() as u64) >= a.size;
        Ok((data, eof, a))
    }

    fn write(
        &self,
        c: &Caller,
        h: &FileHandle,
        offset: u64,
        data: &[u8],
        stability: WriteStability,
    ) -> VfsResult<(u32, WriteStability, Attr)> {
        let (pfd, a, _) = self.object(h)?;
        match a.kind {
            FileKind::Regular => {}
            FileKind::Directory => return Err(VfsError::IsDir),
            _ => return Err(VfsError::Invalid),
        }
        if !self.may(c, &a, true) {
            return Err(VfsError::Access);
        }
        if data.len() > MAX_IO as usize {
            return Err(VfsError::Invalid);
        }
        if a.mode & 0o6000 != 0 {
            self.clear_setid(c, &pfd)?;
        }
        let fd = self.rw_fd(h)?;
        self.acl_data(c, &fd, &a, crate::acl::rights::WRITE_DATA)?;
        sys::pwrite_all(fd.as_fd(), offset, data)?;
        match stability {
            WriteStability::Unstable => {}
            WriteStability::DataSync => sys::sync(fd.as_fd(), true)?,
            WriteStability::FileSync => sys::sync(fd.as_fd(), false)?,
        }
        let a = attr_from_stat(&sys::fstat(fd.as_fd())?);
        Ok((data.len() as u32, stability, a))
    }

    fn create(
        &self,
        c: &Caller,
        dir: &FileHandle,
        name: &[u8],
        how: &CreateHow,
    ) -> VfsResult<(FileHandle, Attr)> {
        self.create_impl(c, dir, name, how)
    }

    fn allocate(&self, c: &Caller, h: &FileHandle, len: u64) -> VfsResult<Attr> {
        self.allocate_impl(c, h, len)
    }

    fn mkdir(
        &self,
        c: &Caller,
        dir: &FileHandle,
        name: &[u8],
        set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)> {
        self.mkdir_impl(c, dir, name, set)
    }

    fn symlink(
        &self,
        c: &Caller,
        dir: &FileHandle,
        name: &[u8],
        target: &[u8],
        set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)> {
        self.symlink_impl(c, dir, name, target, set)
    }

    fn mknod(
        &self,
        c: &Caller,
        dir: &FileHandle,
        name: &[u8],
        kind: FileKind,
        rdev: (u32, u32),
        set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)> {
        self.mknod_impl(c, dir, name, kind, rdev, set)
    }

    fn remove(&self, c: &Caller, dir: &FileHandle, name: &[u8]) -> VfsResult<()> {
        self.unlink_impl(c, dir, name, false, None)
    }

    fn rmdir(&self, c: &Caller, dir: &FileHandle, name: &[u8]) -> VfsResult<()> {
        self.unlink_impl(c, dir, name, true, None)
    }

    fn remove_if_same(
        &self,
        c: &Caller,
        dir: &FileHandle,
        name: &[u8],
        object: (u64, u64),
        is_dir: bool,
    ) -> VfsResult<()> {
        self.unlink_impl(c, dir, name, is_dir, Some(object))
    }

    fn rename(
        &self,
        c: &Caller,
        from_dir: &FileHandle,
        from_name: &[u8],
        to_dir: &FileHandle,
        to_name: &[u8],
    ) -> VfsResult<()> {
        self.rename_impl(c, from_dir, from_name, to_dir, to_name)
    }

    fn link(&self, c: &Caller, h: &FileHandle, dir: &FileHandle, name: &[u8]) -> VfsResult<Attr> {
        self.link_impl(c, h, dir, name)
    }

    fn readdir(
        &self,
        c: &Caller,
        dir: &FileHandle,
        cookie: u64,
        max: usize,
        plus: bool,
    ) -> VfsResult<(Vec<DirEntry>, bool)> {
        let (entries, eof) = self.readdir_impl(c, dir, cookie, max, plus, None)?;
        Ok((entries.into_iter().map(|(e, _)| e).collect(), eof))
    }

    fn readdir_with_xattr(
        &self,
        c: &Caller,
        dir: &FileHandle,
        cookie: u64,
        max: usize,
        name: &str,
    ) -> VfsResult<(Vec<DirEntryXattr>, bool)> {
        xattr::check_name(name)?;
        self.readdir_impl(c, dir, cookie, max, true, Some(name))
    }

    fn fsstat(&self, _c: &Caller, h: &FileHandle) -> VfsResult<FsStat> {
        let (fd, _, _) = self.object(h)?;
        let s = sys::fstatvfs(fd.as_fd())?;
        let frsize = s.f_frsize;
        Ok(FsStat {
            total_bytes: s.f_blocks.saturating_mul(frsize),
            free_bytes: s.f_bfree.saturating_mul(frsize),
            avail_bytes: s.f_bavail.saturating_mul(frsize),
            total_files: s.f_files,
            free_files: s.f_ffree,
            avail_files: s.f_favail,
        })
    }

    fn commit(&self, _c: &Caller, h: &FileHandle) -> VfsResult<Attr> {
        let (_, a, _) = self.object(h)?;
        let flags = match a.kind {
            FileKind::Regular => libc::O_RDONLY,
            FileKind::Directory => libc::O_RDONLY | libc::O_DIRECTORY,
            _ => return Ok(a),
        };
        let (fd, _) = self.open_handle(h, flags)?;
        sys::sync(fd.as_fd(), false)?;
        Ok(attr_from_stat(&sys::fstat(fd.as_fd())?))
    }

    fn get_xattr(&self, c: &Caller, h: &FileHandle, name: &str) -> VfsResult<Option<Vec<u8>>> {
        self.get_xattr_impl(c, h, name)
    }

    fn set_xattr(
        &self,
        c: &Caller,
        h: &FileHandle,
        name: &str,
        value: Option<&[u8]>,
    ) -> VfsResult<()> {
        self.set_xattr_impl(c, h, name, value)
    }

    fn write_verifier(&self) -> [u8; 8] {
        self.verifier
    }
}

#[cfg(test)]
mod security_tests;
#[cfg(test)]
mod tests;
