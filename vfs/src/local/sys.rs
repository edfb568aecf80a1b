//! Thin safe wrappers over the `*at` syscalls LocalFs is built from.
//!
//! Every function takes an already-open directory fd and a single name component; none joins
//! strings into paths. Names are checked by the caller ([`super::names`]) before reaching here.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cstr(name: &[u8]) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// `openat(dir, name, flags | O_CLOEXEC | O_NOFOLLOW, mode)`.
pub fn openat(dir: BorrowedFd<'_>, name: &[u8], flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: c is a valid NUL-terminated string; the fd is borrowed for the call only.
    let fd = cvt(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            flags | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: fd was just returned by openat and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS`: opens a
/// relative path that cannot leave `dir`.
pub fn open_beneath(dir: BorrowedFd<'_>, path: &[u8], flags: i32) -> io::Result<OwnedFd> {
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
    const RESOLVE_NO_SYMLINKS: u64 = 0x04;
    const RESOLVE_BENEATH: u64 = 0x08;
    let c = cstr(path)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
    };
    // SAFETY: pointers are valid for the call; size matches the struct passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ret is a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// Opens a directory path (absolute or relative to the cwd) as `O_RDONLY | O_DIRECTORY` (usable as the mount fd of `open_by_handle_at`).
pub fn open_dir_path(path: &std::path::Path) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let c = cstr(path.as_os_str().as_bytes())?;
    // SAFETY: valid C string.
    let fd = cvt(unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: new fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fstat` (works on `O_PATH` fds).
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    // SAFETY: zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is valid for writes.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub fn fstatat(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<libc::stat> {
    let c = cstr(name)?;
    // SAFETY: as above.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: c and st valid.
    cvt(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(st)
}

/// `statx(dir, name, AT_SYMLINK_NOFOLLOW, mask)`: what `fstatat` gives plus, when asked and
/// the filesystem keeps it, the birth time.
pub fn statx_at(dir: BorrowedFd<'_>, name: &[u8], mask: u32) -> io::Result<libc::statx> {
    let c = cstr(name)?;
    // SAFETY: zeroed statx is a valid out-parameter.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: c and stx valid for the call.
    cvt(unsafe {
        libc::statx(
            dir.as_raw_fd(),
            c.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_STATX_SYNC_AS_STAT,
            mask,
            &mut stx,
        )
    })?;
    Ok(stx)
}

/// A kernel file handle (`struct file_handle`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelHandle {
    /// `handle_type`.
    pub kind: i32,
    /// `f_handle` bytes.
    pub bytes: Vec<u8>,
}

/// Largest `f_handle` we accept (fits our 56-byte VFS handle).
pub const MAX_KERNEL_HANDLE: usize = 40;

#[repr(C)]
struct RawHandle {
    handle_bytes: u32,
    handle_type: i32,
    f_handle: [u8; 128],
}

/// `name_to_handle_at(dir, name, 0)` (a final symlink is not followed: the call follows only
/// with `AT_SYMLINK_FOLLOW`); `name` empty means `dir` itself.
pub fn name_to_handle(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<KernelHandle> {
    let c = cstr(name)?;
    let mut raw = RawHandle {
        handle_bytes: 128,
        handle_type: 0,
        f_handle: [0; 128],
    };
    let mut mount_id: libc::c_int = 0;
    let flags = if name.is_empty() {
        libc::AT_EMPTY_PATH
    } else {
        0
    };
    // SAFETY: raw has room for 128 handle bytes as declared in handle_bytes.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut raw as *mut RawHandle,
            &mut mount_id as *mut libc::c_int,
            flags,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = raw.handle_bytes as usize;
    if n > MAX_KERNEL_HANDLE {
        return Err(io::Error::from_raw_os_error(libc::EOVERFLOW));
    }
    let bytes = raw
        .f_handle
        .get(..n)
        .map(|s| s.to_vec())
        .unwrap_or_default();
    Ok(KernelHandle {
        kind: raw.handle_type,
        bytes,
    })
}

/// `open_by_handle_at(mount, handle, flags | O_CLOEXEC)`. Needs CAP_DAC_READ_SEARCH.
pub fn open_by_handle(mount: BorrowedFd<'_>, h: &KernelHandle, flags: i32) -> io::Result<OwnedFd> {
    let mut raw = RawHandle {
        handle_bytes: 0,
        handle_type: h.kind,
        f_handle: [0; 128],
    };
    let n = h.bytes.len().min(MAX_KERNEL_HANDLE);
    raw.handle_bytes = n as u32;
    if let (Some(dst), Some(src)) = (raw.f_handle.get_mut(..n), h.bytes.get(..n)) {
        dst.copy_from_slice(src);
    }
    // SAFETY: raw is a valid file_handle for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mount.as_raw_fd(),
            &mut raw as *mut RawHandle,
            flags | libc::O_CLOEXEC,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// `mkdirat`.
pub fn mkdirat(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid args.
    cvt(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode as libc::mode_t) }).map(|_| ())
}

/// `symlinkat(target, dir, name)`.
pub fn symlinkat(target: &[u8], dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let t = cstr(target)?;
    let c = cstr(name)?;
    // SAFETY: valid args.
    cvt(unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), c.as_ptr()) }).map(|_| ())
}

/// `mknodat`.
pub fn mknodat(dir: BorrowedFd<'_>, name: &[u8], mode: u32, dev: u64) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid args.
    cvt(unsafe { libc::mknodat(dir.as_raw_fd(), c.as_ptr(), mode as libc::mode_t, dev) })
        .map(|_| ())
}

/// `unlinkat(dir, name, flags)`.
pub fn unlinkat(dir: BorrowedFd<'_>, name: &[u8], rmdir: bool) -> io::Result<()> {
    let c = cstr(name)?;
    let flags = if rmdir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: valid args.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), flags) }).map(|_| ())
}

/// `renameat2(dir, from, dir, to, RENAME_NOREPLACE)`: moves `from` to `to` in one directory
/// unless `to` exists (EEXIST), atomically.
pub fn rename_noreplace(dir: BorrowedFd<'_>, from: &[u8], to: &[u8]) -> io::Result<()> {
    let a = cstr(from)?;
    let b = cstr(to)?;
    // SAFETY: valid NUL-terminated names; the fd is borrowed for the call only.
    cvt(unsafe {
        libc::renameat2(
            dir.as_raw_fd(),
            a.as_ptr(),
            dir.as_raw_fd(),
            b.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    })
    .map(|_| ())
}

/// `renameat2(from_dir, from, to_dir, to, RENAME_EXCHANGE)`: swaps two names atomically
/// (both must exist).
pub fn rename_exchange(
    from_dir: BorrowedFd<'_>,
    from: &[u8],
    to_dir: BorrowedFd<'_>,
    to: &[u8],
) -> io::Result<()> {
    renameat2(from_dir, from, to_dir, to, libc::RENAME_EXCHANGE)
}

/// `renameat2(from_dir, from, to_dir, to, RENAME_NOREPLACE)` across directories.
pub fn rename_noreplace_to(
    from_dir: BorrowedFd<'_>,
    from: &[u8],
    to_dir: BorrowedFd<'_>,
    to: &[u8],
) -> io::Result<()> {
    renameat2(from_dir, from, to_dir, to, libc::RENAME_NOREPLACE)
}

fn renameat2(
    from_dir: BorrowedFd<'_>,
    from: &[u8],
    to_dir: BorrowedFd<'_>,
    to: &[u8],
    flags: libc::c_uint,
) -> io::Result<()> {
    let a = cstr(from)?;
    let b = cstr(to)?;
    // SAFETY: valid NUL-terminated names; the fds are borrowed for the call only.
    cvt(unsafe {
        libc::renameat2(
            from_dir.as_raw_fd(),
            a.as_ptr(),
            to_dir.as_raw_fd(),
            b.as_ptr(),
            flags,
        )
    })
    .map(|_| ())
}

/// `linkat(dir, from, dir, to, 0)`: a second name for the object `from` names (a symlink
/// itself, not its target). Fails with EEXIST if `to` exists.
pub fn link_names(dir: BorrowedFd<'_>, from: &[u8], to: &[u8]) -> io::Result<()> {
    let a = cstr(from)?;
    let b = cstr(to)?;
    // SAFETY: valid args.
    cvt(unsafe { libc::linkat(dir.as_raw_fd(), a.as_ptr(), dir.as_raw_fd(), b.as_ptr(), 0) })
        .map(|_| ())
}

/// The effective uid of this process (the owner of every object it makes).
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// `renameat(from_dir, from, to_dir, to)`.
pub fn renameat(
    from_dir: BorrowedFd<'_>,
    from: &[u8],
    to_dir: BorrowedFd<'_>,
    to: &[u8],
) -> io::Result<()> {
    let a = cstr(from)?;
    let b = cstr(to)?;
    // SAFETY: valid args.
    cvt(unsafe {
        libc::renameat(
            from_dir.as_raw_fd(),
            a.as_ptr(),
            to_dir.as_raw_fd(),
            b.as_ptr(),
        )
    })
    .map(|_| ())
}

/// `linkat(fd, "", dir, name, AT_EMPTY_PATH)`: links the object `fd` refers to.
pub fn link_fd(fd: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let empty = cstr(b"")?;
    let c = cstr(name)?;
    // SAFETY: valid args.
    cvt(unsafe {
        libc::linkat(
            fd.as_raw_fd(),
            empty.as_ptr(),
            dir.as_raw_fd(),
            c.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    })
    .map(|_| ())
}

/// `readlinkat(fd, "")` on an `O_PATH` fd of a symlink.
pub fn readlink_fd(fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    let empty = cstr(b"")?;
    let mut buf = vec![0u8; 4097];
    // SAFETY: buf is valid for buf.len() bytes.
    let n = unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
            empty.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// `fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)`.
pub fn fchown_fd(fd: BorrowedFd<'_>, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let empty = cstr(b"")?;
    let u = uid.unwrap_or(u32::MAX);
    let g = gid.unwrap_or(u32::MAX);
    // SAFETY: valid args; -1 (u32::MAX) means unchanged.
    cvt(unsafe {
        libc::fchownat(
            fd.as_raw_fd(),
            empty.as_ptr(),
            u,
            g,
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(|_| ())
}

/// `ftruncate`.
pub fn ftruncate(fd: BorrowedFd<'_>, size: u64) -> io::Result<()> {
    let size = i64::try_from(size).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // SAFETY: valid fd.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), size) }).map(|_| ())
}

/// A time for [`utimens_fd`]: `None` = omit, `Some(None)` = now, `Some(Some((s, ns)))` = given.
pub type TimeArg = Option<Option<(i64, u32)>>;

fn timespec(t: TimeArg) -> libc::timespec {
    match t {
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        Some(None) => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Some(Some((s, ns))) => libc::timespec {
            tv_sec: s,
            tv_nsec: i64::from(ns),
        },
    }
}

/// `pread` until `count` bytes or EOF, into a buffer that is never zeroed first: the kernel
/// writes into the vector's spare capacity and only the bytes it wrote become part of it.
pub fn pread_full(fd: BorrowedFd<'_>, offset: u64, count: usize) -> io::Result<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::with_capacity(count);
    while buf.len() < count {
        let done = buf.len();
        let off = i64::try_from(offset.saturating_add(done as u64))
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let want = count.saturating_sub(done);
        let spare = buf.spare_capacity_mut();
        let len = want.min(spare.len());
        // SAFETY: `spare` is writable for `spare.len()` >= `len` bytes; pread writes at most
        // `len` bytes there and never reads them.
        let n = unsafe { libc::pread(fd.as_raw_fd(), spare.as_mut_ptr().cast(), len, off) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        let n = (n as usize).min(len);
        // SAFETY: pread initialized the first `n` (<= len <= spare capacity) bytes past the
        // current length.
        unsafe { buf.set_len(done + n) };
    }
    Ok(buf)
}

/// `pwrite` all of `data`.
pub fn pwrite_all(fd: BorrowedFd<'_>, offset: u64, data: &[u8]) -> io::Result<()> {
    let mut done = 0usize;
    while done < data.len() {
        let off = i64::try_from(offset.saturating_add(done as u64))
            .map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
        let rest = data.get(done..).unwrap_or_default();
        // SAFETY: rest valid for reads of rest.len() bytes.
        let n = unsafe { libc::pwrite(fd.as_raw_fd(), rest.as_ptr().cast(), rest.len(), off) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        done += n as usize;
    }
    Ok(())
}

/// `fsync` or `fdatasync`.
pub fn sync(fd: BorrowedFd<'_>, data_only: bool) -> io::Result<()> {
    // SAFETY: valid fd.
    cvt(unsafe {
        if data_only {
            libc::fdatasync(fd.as_raw_fd())
        } else {
            libc::fsync(fd.as_raw_fd())
        }
    })
    .map(|_| ())
}

/// `fstatvfs`.
pub fn fstatvfs(fd: BorrowedFd<'_>) -> io::Result<libc::statvfs> {
    // SAFETY: zeroed statvfs is a valid out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid.
    cvt(unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// One raw directory entry.
pub struct RawDirent {
    /// Name.
    pub name: Vec<u8>,
    /// Inode.
    pub ino: u64,
    /// Position after this entry (`telldir` cookie).
    pub next: u64,
}

/// A directory stream positioned at a cookie.
pub struct DirStream {
    dir: *mut libc::DIR,
}

// SAFETY: the DIR* is used by one thread at a time (owned, not shared).
unsafe impl Send for DirStream {}

impl DirStream {
    /// Takes ownership of a directory fd opened `O_RDONLY | O_DIRECTORY`.
    pub fn new(fd: OwnedFd) -> io::Result<DirStream> {
        use std::os::fd::IntoRawFd;
        let raw = fd.into_raw_fd();
        // SAFETY: raw is a valid directory fd whose ownership passes to the DIR.
        let dir = unsafe { libc::fdopendir(raw) };
        if dir.is_null() {
            let e = io::Error::last_os_error();
            // SAFETY: fdopendir failed, so we still own raw.
            unsafe { libc::close(raw) };
            return Err(e);
        }
        Ok(DirStream { dir })
    }

    /// Moves to a cookie returned earlier in [`RawDirent::next`] (0 = start).
    pub fn seek(&mut self, cookie: u64) {
        // SAFETY: dir is valid.
        unsafe { libc::seekdir(self.dir, cookie as libc::c_long) };
    }

    /// Next entry, or `None` at the end.
    pub fn next_entry(&mut self) -> io::Result<Option<RawDirent>> {
        // SAFETY: errno reset to detect errors vs end.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: dir is valid.
        let ent = unsafe { libc::readdir64(self.dir) };
        if ent.is_null() {
            // SAFETY: reading errno.
            let errno = unsafe { *libc::__errno_location() };
            return if errno == 0 {
                Ok(None)
            } else {
                Err(io::Error::from_raw_os_error(errno))
            };
        }
        // SAFETY: ent points to a valid dirent64 until the next readdir call; d_name is
        // NUL-terminated.
        let (name, ino, next) = unsafe {
            let e = &*ent;
            let name = std::ffi::CStr::from_ptr(e.d_name.as_ptr())
                .to_bytes()
                .to_vec();
            (name, e.d_ino, e.d_off as u64)
        };
        Ok(Some(RawDirent { name, ino, next }))
    }
}

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: dir is valid and closed once.
        unsafe { libc::closedir(self.dir) };
    }
}

fn proc_path(fd: BorrowedFd<'_>) -> io::Result<CString> {
    cstr(format!("/proc/self/fd/{}", fd.as_raw_fd()).as_bytes())
}

/// `chmod` of the object an `O_PATH` fd refers to (through its `/proc/self/fd` link, which
/// names that very inode: no path is re-resolved).
pub fn chmod_fd(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    let p = proc_path(fd)?;
    // SAFETY: valid C string.
    cvt(unsafe { libc::chmod(p.as_ptr(), mode as libc::mode_t) }).map(|_| ())
}

/// `utimensat` of the object an `O_PATH` fd refers to.
pub fn utimens_fd(fd: BorrowedFd<'_>, atime: TimeArg, mtime: TimeArg) -> io::Result<()> {
    let p = proc_path(fd)?;
    let ts = [timespec(atime), timespec(mtime)];
    // SAFETY: valid args.
    cvt(unsafe { libc::utimensat(libc::AT_FDCWD, p.as_ptr(), ts.as_ptr(), 0) }).map(|_| ())
}

/// `getxattr` of the object an `O_PATH` fd refers to (through its `/proc/self/fd` link:
/// `fgetxattr` refuses `O_PATH` descriptors). `Ok(None)` when the attribute is absent.
pub fn getxattr_fd(fd: BorrowedFd<'_>, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    getxattr_path(&proc_path(fd)?, name, true)
}

/// `fgetxattr` of an open (not `O_PATH`) descriptor: one syscall and no path walk.
/// `Ok(None)` when the attribute is absent.
pub fn fgetxattr(fd: BorrowedFd<'_>, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let n = cstr(name)?;
    let get = |buf: *mut libc::c_void, len: usize| {
        // SAFETY: valid fd and C string; buf is writable for len bytes (or NULL with len 0).
        unsafe { libc::fgetxattr(fd.as_raw_fd(), n.as_ptr(), buf, len) }
    };
    xattr_loop(get)
}

/// `lgetxattr` of entry `entry` of directory `dir` (a single name component, not followed if
/// it is a symlink), through `/proc/self/fd/<dir>/<entry>`: one syscall and no open, for
/// listings. `Ok(None)` when the attribute is absent.
pub fn getxattr_at(dir: BorrowedFd<'_>, entry: &[u8], name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    if entry.contains(&b'/') {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    if let Some(r) = getxattrat(dir, entry, name) {
        return r;
    }
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(entry);
    getxattr_path(&cstr(&p)?, name, false)
}

/// `getxattrat(2)` (Linux 6.13; the number is the same in every architecture's table since
/// the tables were unified) with `AT_SYMLINK_NOFOLLOW`: a walk of one component instead of
/// the five of a `/proc/self/fd/N/name` path. `None` when the kernel lacks it (then the
/// `/proc` path is used, and not tried again).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn getxattrat(
    dir: BorrowedFd<'_>,
    entry: &[u8],
    name: &[u8],
) -> Option<io::Result<Option<Vec<u8>>>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static MISSING: AtomicBool = AtomicBool::new(false);
    const SYS_GETXATTRAT: libc::c_long = 464;
    /// `struct xattr_args` of the kernel uapi.
    #[repr(C)]
    struct XattrArgs {
        value: u64,
        size: u32,
        flags: u32,
    }
    if MISSING.load(Ordering::Relaxed) {
        return None;
    }
    let (p, n) = match (cstr(entry), cstr(name)) {
        (Ok(p), Ok(n)) => (p, n),
        (Err(e), _) | (_, Err(e)) => return Some(Err(e)),
    };
    let get = |buf: *mut u8, len: usize| -> isize {
        let mut args = XattrArgs {
            value: buf as u64,
            size: len as u32,
            flags: 0,
        };
        // SAFETY: valid fd and C strings; args points to a live struct of the size passed;
        // buf is writable for len bytes (or NULL with 0).
        unsafe {
            libc::syscall(
                SYS_GETXATTRAT,
                dir.as_raw_fd(),
                p.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW as libc::c_uint,
                n.as_ptr(),
                &mut args as *mut XattrArgs,
                std::mem::size_of::<XattrArgs>(),
            ) as isize
        }
    };
    let mut buf = vec![0u8; 256];
    loop {
        let r = get(buf.as_mut_ptr(), buf.len());
        if r >= 0 {
            buf.truncate(r as usize);
            return Some(Ok(Some(buf)));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENOSYS) => {
                MISSING.store(true, Ordering::Relaxed);
                return None;
            }
            Some(libc::ENODATA) => return Some(Ok(None)),
            Some(libc::ERANGE) => {
                let size = get(std::ptr::null_mut(), 0);
                if size < 0 {
                    let e = io::Error::last_os_error();
                    return Some(if e.raw_os_error() == Some(libc::ENODATA) {
                        Ok(None)
                    } else {
                        Err(e)
                    });
                }
                buf = vec![0u8; (size as usize).max(buf.len().saturating_mul(2))];
            }
            _ => return Some(Err(e)),
        }
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn getxattrat(
    _dir: BorrowedFd<'_>,
    _entry: &[u8],
    _name: &[u8],
) -> Option<io::Result<Option<Vec<u8>>>> {
    None
}

/// `getxattr` of a path (`lgetxattr` when not `follow`); `Ok(None)` when absent.
pub(crate) fn getxattr_path(p: &CString, name: &[u8], follow: bool) -> io::Result<Option<Vec<u8>>> {
    let n = cstr(name)?;
    let get = |buf: *mut libc::c_void, len: usize| {
        // SAFETY: valid C strings; buf is writable for len bytes (or NULL with len 0).
        unsafe {
            if follow {
                libc::getxattr(p.as_ptr(), n.as_ptr(), buf, len)
            } else {
                libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf, len)
            }
        }
    };
    xattr_loop(get)
}

/// The buffer loop of the `getxattr` family around `get(buf, len)`.
fn xattr_loop(get: impl Fn(*mut libc::c_void, usize) -> isize) -> io::Result<Option<Vec<u8>>> {
    // Most values (DOS attributes) are small: try a small buffer first, then ask the size.
    let mut buf = vec![0u8; 256];
    loop {
        let r = get(buf.as_mut_ptr().cast(), buf.len());
        if r >= 0 {
            buf.truncate(r as usize);
            return Ok(Some(buf));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENODATA) => return Ok(None),
            Some(libc::ERANGE) => {
                let size = get(std::ptr::null_mut(), 0);
                if size < 0 {
                    let e = io::Error::last_os_error();
                    return if e.raw_os_error() == Some(libc::ENODATA) {
                        Ok(None)
                    } else {
                        Err(e)
                    };
                }
                // The value may grow between the calls: loop (ERANGE again) until it fits.
                buf = vec![0u8; (size as usize).max(buf.len().saturating_mul(2))];
            }
            _ => return Err(e),
        }
    }
}

/// `setxattr` of the object an `O_PATH` fd refers to (create or replace).
pub fn setxattr_fd(fd: BorrowedFd<'_>, name: &[u8], value: &[u8]) -> io::Result<()> {
    let p = proc_path(fd)?;
    let n = cstr(name)?;
    // SAFETY: valid C strings; value is readable for value.len() bytes.
    cvt(unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
    .map(|_| ())
}

/// `removexattr` of the object an `O_PATH` fd refers to; an absent attribute is not an error.
pub fn removexattr_fd(fd: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let p = proc_path(fd)?;
    let n = cstr(name)?;
    // SAFETY: valid C strings.
    match cvt(unsafe { libc::removexattr(p.as_ptr(), n.as_ptr()) }) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENODATA) => Ok(()),
        Err(e) => Err(e),
    }
}
