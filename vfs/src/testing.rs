//! Test helpers for crates that serve a [`Vfs`] (feature `testing`, for dev-dependencies only).

use std::sync::{Arc, Condvar, Mutex, PoisonError};

use crate::{
    Attr, Caller, CreateHow, DirEntry, FileHandle, FileKind, FsStat, SetAttr, Timespec, Vfs,
    VfsResult, WriteStability,
};

/// A READ of exactly this many bytes waits in the VFS until the gate opens.
pub const GATED_LEN: u32 = 1234;

/// A [`Vfs`] that passes every call to `inner`, except that a READ of [`GATED_LEN`] bytes
/// waits until [`GatedFs::release`]: lets a test hold one request inside the VFS.
pub struct GatedFs {
    inner: Arc<dyn Vfs>,
    open: Mutex<bool>,
    changed: Condvar,
}

impl GatedFs {
    /// A closed gate over `inner`.
    pub fn new(inner: Arc<dyn Vfs>) -> GatedFs {
        GatedFs {
            inner,
            open: Mutex::new(false),
            changed: Condvar::new(),
        }
    }

    /// Opens the gate: held READs go on, later ones pass.
    pub fn release(&self) {
        *self.open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.changed.notify_all();
    }
}

impl Vfs for GatedFs {
    fn root(&self, relative: &str) -> VfsResult<FileHandle> {
        self.inner.root(relative)
    }
    fn is_within(&self, handle: &FileHandle, root: &FileHandle) -> bool {
        self.inner.is_within(handle, root)
    }
    fn getattr(&self, caller: &Caller, handle: &FileHandle) -> VfsResult<Attr> {
        self.inner.getattr(caller, handle)
    }
    fn setattr(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        set: &SetAttr,
        guard_ctime: Option<Timespec>,
    ) -> VfsResult<Attr> {
        self.inner.setattr(caller, handle, set, guard_ctime)
    }
    fn lookup(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
    ) -> VfsResult<(FileHandle, Attr)> {
        self.inner.lookup(caller, dir, name)
    }
    fn access(&self, caller: &Caller, handle: &FileHandle, mask: u32) -> VfsResult<(u32, Attr)> {
        self.inner.access(caller, handle, mask)
    }
    fn readlink(&self, caller: &Caller, handle: &FileHandle) -> VfsResult<Vec<u8>> {
        self.inner.readlink(caller, handle)
    }
    fn read(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        offset: u64,
        count: u32,
    ) -> VfsResult<(Vec<u8>, bool, Attr)> {
        if count == GATED_LEN {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            while !*open {
                open = self
                    .changed
                    .wait(open)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        self.inner.read(caller, handle, offset, count)
    }
    fn write(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        offset: u64,
        data: &[u8],
        stability: WriteStability,
    ) -> VfsResult<(u32, WriteStability, Attr)> {
        self.inner.write(caller, handle, offset, data, stability)
    }
    fn create(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        how: &CreateHow,
    ) -> VfsResult<(FileHandle, Attr)> {
        self.inner.create(caller, dir, name, how)
    }
    fn mkdir(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)> {
        self.inner.mkdir(caller, dir, name, set)
    }
    fn symlink(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        target: &[u8],
        set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)> {
        self.inner.symlink(caller, dir, name, target, set)
    }
    fn mknod(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        kind: FileKind,
        rdev: (u32, u32),
        set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)> {
        self.inner.mknod(caller, dir, name, kind, rdev, set)
    }
    fn remove(&self, caller: &Caller, dir: &FileHandle, name: &[u8]) -> VfsResult<()> {
        self.inner.remove(caller, dir, name)
    }
    fn rmdir(&self, caller: &Caller, dir: &FileHandle, name: &[u8]) -> VfsResult<()> {
        self.inner.rmdir(caller, dir, name)
    }
    fn remove_if_same(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        object: (u64, u64),
        is_dir: bool,
    ) -> VfsResult<()> {
        self.inner.remove_if_same(caller, dir, name, object, is_dir)
    }
    fn rename(
        &self,
        caller: &Caller,
        from_dir: &FileHandle,
        from_name: &[u8],
        to_dir: &FileHandle,
        to_name: &[u8],
    ) -> VfsResult<()> {
        self.inner
            .rename(caller, from_dir, from_name, to_dir, to_name)
    }
    fn link(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        dir: &FileHandle,
        name: &[u8],
    ) -> VfsResult<Attr> {
        self.inner.link(caller, handle, dir, name)
    }
    fn readdir(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        cookie: u64,
        max: usize,
        plus: bool,
    ) -> VfsResult<(Vec<DirEntry>, bool)> {
        self.inner.readdir(caller, dir, cookie, max, plus)
    }
    fn fsstat(&self, caller: &Caller, handle: &FileHandle) -> VfsResult<FsStat> {
        self.inner.fsstat(caller, handle)
    }
    fn commit(&self, caller: &Caller, handle: &FileHandle) -> VfsResult<Attr> {
        self.inner.commit(caller, handle)
    }
    fn allocate(&self, caller: &Caller, handle: &FileHandle, len: u64) -> VfsResult<Attr> {
        self.inner.allocate(caller, handle, len)
    }
    fn get_xattr(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        name: &str,
    ) -> VfsResult<Option<Vec<u8>>> {
        self.inner.get_xattr(caller, handle, name)
    }
    fn set_xattr(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        name: &str,
        value: Option<&[u8]>,
    ) -> VfsResult<()> {
        self.inner.set_xattr(caller, handle, name, value)
    }
    fn write_verifier(&self) -> [u8; 8] {
        self.inner.write_verifier()
    }
}
