//! Preallocation: [`crate::Vfs::allocate`] for LocalFs, `fallocate(2)` with
//! `FALLOC_FL_KEEP_SIZE` (blocks are reserved, the size stays).
//!
//! Bounded (issue 11): a client's AllocationSize (SMB CREATE context, SET_INFO) may not take
//! the filesystem below a reserve of free space, [`ALLOC_RESERVE_PERCENT`] of its size
//! (docs/limits.md); beyond that it is `NoSpace` (STATUS_DISK_FULL) and nothing is reserved.
//! The check and the `fallocate` are done on one descriptor under one process-wide lock, so
//! concurrent requests cannot together pass the bound.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use super::attr::attr_from_stat;
use super::{sys, LocalFs};
use crate::{Attr, Caller, FileHandle, FileKind, VfsError, VfsResult};

/// Percent of the filesystem's size that preallocation always leaves free.
pub const ALLOC_RESERVE_PERCENT: u64 = 5;

/// Serializes the free-space check with the `fallocate` it guards.
static ALLOC_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Whether growing the blocks of the file open on `fd` to `len` bytes leaves the reserve.
// `statvfs` fields are not u64 on every target.
#[allow(clippy::useless_conversion)]
fn leaves_reserve(fd: BorrowedFd<'_>, len: u64) -> VfsResult<bool> {
    let st = sys::fstat(fd)?;
    let used = u64::try_from(st.st_blocks).unwrap_or(0).saturating_mul(512);
    let more = len.saturating_sub(used);
    if more == 0 {
        return Ok(true);
    }
    let v = sys::fstatvfs(fd)?;
    let frsize = u64::from(v.f_frsize).max(1);
    let size = u64::from(v.f_blocks).saturating_mul(frsize);
    let avail = u64::from(v.f_bavail).saturating_mul(frsize);
    let reserve = size / 100 * ALLOC_RESERVE_PERCENT;
    Ok(more <= avail.saturating_sub(reserve))
}

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
        let ilen = i64::try_from(len).map_err(|_| VfsError::TooBig)?;
        let fd = self.rw_fd(h)?;
        if ilen > 0 {
            let _guard = ALLOC_LOCK.lock().unwrap_or_else(|p| p.into_inner());
            if !leaves_reserve(fd.as_fd(), len)? {
                return Err(VfsError::NoSpace);
            }
            fallocate_keep_size(fd.as_fd(), ilen)?;
        }
        Ok(attr_from_stat(&sys::fstat(fd.as_fd())?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{CreateHow, Vfs, ZoneId};

    /// An AllocationSize of all the free space is refused (nothing reserved); one that
    /// leaves the reserve is granted.
    #[test]
    #[allow(clippy::useless_conversion)]
    fn preallocation_leaves_a_reserve_free() {
        let base = std::env::temp_dir().join(format!("shoal-alloc-{}", std::process::id()));
        std::fs::create_dir_all(base.join("b")).unwrap();
        let fs = LocalFs::open(&base.join("b"), &base.join("key")).unwrap();
        let root = fs.root("").unwrap();
        let c = Caller {
            uid: 0,
            gid: 0,
            groups: vec![],
            sid: None,
            client_addr: "127.0.0.1:700".parse().unwrap(),
            zone: ZoneId::SYSTEM,
            protocol: crate::Protocol::Smb2,
        };
        let how = CreateHow::Unchecked(crate::SetAttr::default());
        let (h, _) = fs.create(&c, &root, b"big", &how).unwrap();
        let fd = fs.rw_fd(&h).unwrap();
        let v = sys::fstatvfs(fd.as_fd()).unwrap();
        let frsize = u64::from(v.f_frsize);
        let avail = u64::from(v.f_bavail) * frsize;
        let size = u64::from(v.f_blocks) * frsize;
        let reserve = size / 100 * ALLOC_RESERVE_PERCENT;
        assert!(matches!(fs.allocate(&c, &h, avail), Err(VfsError::NoSpace)));
        assert!(matches!(
            fs.allocate(&c, &h, avail.saturating_sub(reserve / 2)),
            Err(VfsError::NoSpace)
        ));
        assert_eq!(fs.getattr(&c, &h).unwrap().used, 0);
        let a = fs.allocate(&c, &h, 1 << 20).unwrap();
        assert!(a.used >= 1 << 20);
        let _ = std::fs::remove_dir_all(&base);
    }
}
