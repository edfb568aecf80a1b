//! Preallocation: [`crate::Vfs::allocate`] for LocalFs, `fallocate(2)` with
//! `FALLOC_FL_KEEP_SIZE` (blocks are reserved, the size stays).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use super::attr::attr_from_stat;
use super::{sys, LocalFs};
use crate::{Attr, Caller, FileHandle, FileKind, VfsError, VfsResult};

/// `fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, len)`.
fn fallocate_keep_size(fd: BorrowedFd<'_>, len: i64) -> std::io::Result<()> {
    // SAFETY: plain syscall on a borrowed, open descriptor; no pointers.
    let r = unsafe { libc::fallocate(fd.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, len) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl LocalFs {
    pub(super) fn allocate_impl(&self, c: &Caller, h: &FileHandle, len: u64) -> VfsResult<Attr> {
        let (_, a, _) = self.object(h)?;
        match a.kind {
            FileKind::Regular => {}
            FileKind::Directory => return Err(VfsError::IsDir),
            _ => return Err(VfsError::Invalid),
        }
        if !self.may(c, &a, true) {
            return Err(VfsError::Access);
        }
        let len = i64::try_from(len).map_err(|_| VfsError::TooBig)?;
        let fd = self.rw_fd(h)?;
        if len > 0 {
            fallocate_keep_size(fd.as_fd(), len)?;
        }
        Ok(attr_from_stat(&sys::fstat(fd.as_fd())?))
    }
}
