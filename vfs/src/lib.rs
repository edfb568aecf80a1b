//! # shoal-vfs: the layer every protocol talks to
//!
//! Tour:
//! - [`acl`]: security descriptors (codec, access evaluation, inheritance) that bind every
//!   protocol; [`LocalFs`] enforces them at its permission points.
//! - [`caller`]: who is asking ([`Caller`]: uid, gids, client address, zone, protocol).
//! - [`types`]: what the VFS speaks in ([`Attr`], [`SetAttr`], [`FileHandle`], [`DirEntry`], ...).
//! - [`error`]: [`VfsError`], split by cause; protocol crates map it to NTSTATUS / nfsstat3.
//! - [`Vfs`] (this file): the trait. Every call takes a [`Caller`]; implementations enforce
//!   permissions for that caller (mode bits, narrowed by a stored security descriptor: [`acl`])
//!   and create files owned by it.
//! - [`local`]: [`LocalFs`], a backing directory on a local filesystem. Every name is resolved
//!   with `openat`-style calls relative to an already-open directory, never by joining strings, so
//!   no request reaches outside the root (`..`, absolute paths, symlinks, NUL bytes, races).
//!
//! - [`lock`]: the lock manager: share modes, delete pending, byte-range locks, oplocks and
//!   leases, one record per file behind a store trait, shared by SMB and NFS.
//!
//! Later: cluster membership.
//!
//! The trait is synchronous: calls are plain syscalls. Async protocol code runs them on a
//! blocking pool (`tokio::task::spawn_blocking`).

#![warn(missing_docs)]

pub mod acl;
pub mod caller;
pub mod error;
pub mod local;
pub mod lock;
pub mod perm;
#[cfg(feature = "testing")]
pub mod testing;
pub mod types;

pub use caller::{Caller, Protocol, ZoneId};
pub use error::{VfsError, VfsResult};
pub use local::LocalFs;
pub use types::{
    Attr, CreateHow, DirEntry, DirEntryXattr, FileHandle, FileKind, FsStat, SetAttr, SetTime,
    Timespec, WriteStability, MAX_HANDLE_LEN, MAX_NAME_LEN, MAX_XATTR_NAME_LEN,
    MAX_XATTR_VALUE_LEN, SECURITY_DESCRIPTOR_XATTR, XATTR_NAMESPACE,
};

/// A filesystem as the protocols see it: handle based, every call on behalf of a [`Caller`].
///
/// Handles are opaque, at most [`MAX_HANDLE_LEN`] bytes, stable across restarts of the server
/// (they name inode + generation), and forged or foreign handles are refused with
/// [`VfsError::Stale`].
pub trait Vfs: Send + Sync + 'static {
    /// Handle of a directory inside the backing store, given as a relative path
    /// (`""` or `"."` is the root). Used to find export and share roots at start-up.
    fn root(&self, relative: &str) -> VfsResult<FileHandle>;

    /// True when `handle` was reached from `root` (a handle from [`Vfs::root`]): protocol
    /// layers use it to refuse a handle of one export presented under another.
    fn is_within(&self, handle: &FileHandle, root: &FileHandle) -> bool;

    /// Attributes of an object.
    fn getattr(&self, caller: &Caller, handle: &FileHandle) -> VfsResult<Attr>;

    /// Changes attributes. `guard_ctime`, when given, must equal the current ctime
    /// (NFSv3 SETATTR guard) or [`VfsError::NotSync`] is returned.
    fn setattr(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        set: &SetAttr,
        guard_ctime: Option<Timespec>,
    ) -> VfsResult<Attr>;

    /// Looks `name` up in directory `dir`. `..` of a root handed out by [`Vfs::root`] is
    /// that root itself. Symlinks are returned as objects, never followed.
    fn lookup(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
    ) -> VfsResult<(FileHandle, Attr)>;

    /// Which of the `ACCESS_*` bits in `mask` the caller is granted (see [`perm`]).
    fn access(&self, caller: &Caller, handle: &FileHandle, mask: u32) -> VfsResult<(u32, Attr)>;

    /// Target of a symbolic link.
    fn readlink(&self, caller: &Caller, handle: &FileHandle) -> VfsResult<Vec<u8>>;

    /// Reads up to `count` bytes at `offset`; returns the data and whether EOF was reached.
    fn read(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        offset: u64,
        count: u32,
    ) -> VfsResult<(Vec<u8>, bool, Attr)>;

    /// Writes `data` at `offset`; `stability` says how durable it must be before returning.
    /// Returns bytes written, the stability achieved, and the new attributes.
    fn write(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        offset: u64,
        data: &[u8],
        stability: WriteStability,
    ) -> VfsResult<(u32, WriteStability, Attr)>;

    /// Creates a regular file.
    fn create(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        how: &CreateHow,
    ) -> VfsResult<(FileHandle, Attr)>;

    /// Creates a directory.
    fn mkdir(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)>;

    /// Creates a symbolic link `name` -> `target` (the target is stored, not resolved).
    fn symlink(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        target: &[u8],
        set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)>;

    /// Creates a special file (FIFO or socket; devices need root and are refused otherwise).
    fn mknod(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        kind: FileKind,
        rdev: (u32, u32),
        set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)>;

    /// Removes a non-directory.
    fn remove(&self, caller: &Caller, dir: &FileHandle, name: &[u8]) -> VfsResult<()>;

    /// Removes an empty directory.
    fn rmdir(&self, caller: &Caller, dir: &FileHandle, name: &[u8]) -> VfsResult<()>;

    /// Removes `dir/name` (an empty directory when `is_dir`) only if that name still names
    /// `object` ((fsid, fileid), as [`Attr`] gives them), else [`VfsError::NotFound`] and
    /// nothing is removed: delete-on-close removes the name that was opened, never an object
    /// (another user's hard link, say) put under that name since. [`LocalFs`] checks and
    /// removes the same object (no window); this default looks the name up first.
    ///
    /// For an object whose DELETE right the protocol granted when it was opened (SMB
    /// delete-on-close, and undoing a create): when `caller` owns the object (or is root),
    /// stored security descriptors are not evaluated again, as Windows does not re-check at
    /// close (the creator of a file in a directory whose DACL grants no DELETE_CHILD still
    /// deletes it on close). An owner may rewrite the object's DACL anyway, so this grants
    /// nothing new; for anyone else the descriptors decide as for [`Vfs::remove`]. The mode
    /// bits always decide: write permission on `dir` and the sticky-bit ownership rule.
    fn remove_if_same(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        object: (u64, u64),
        is_dir: bool,
    ) -> VfsResult<()> {
        let (_, a) = self.lookup(caller, dir, name)?;
        if (a.fsid, a.fileid) != object {
            return Err(VfsError::NotFound);
        }
        if is_dir {
            self.rmdir(caller, dir, name)
        } else {
            self.remove(caller, dir, name)
        }
    }

    /// Renames `from_dir/from_name` to `to_dir/to_name`, replacing a compatible target.
    fn rename(
        &self,
        caller: &Caller,
        from_dir: &FileHandle,
        from_name: &[u8],
        to_dir: &FileHandle,
        to_name: &[u8],
    ) -> VfsResult<()>;

    /// Makes a hard link to `handle` as `dir/name`.
    fn link(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        dir: &FileHandle,
        name: &[u8],
    ) -> VfsResult<Attr>;

    /// Lists a directory from `cookie` (0 = start). At most `max` entries; returns the
    /// entries and whether the end was reached. Cookies are stable positions: a listing resumed
    /// from any cookie this returned neither repeats nor skips entries. `.` and `..` are
    /// included. With `plus`, each entry carries its handle and attributes.
    fn readdir(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        cookie: u64,
        max: usize,
        plus: bool,
    ) -> VfsResult<(Vec<DirEntry>, bool)>;

    /// Space and file counts of the filesystem holding `handle`.
    fn fsstat(&self, caller: &Caller, handle: &FileHandle) -> VfsResult<FsStat>;

    /// Makes earlier unstable writes to `handle` durable.
    fn commit(&self, caller: &Caller, handle: &FileHandle) -> VfsResult<Attr>;

    /// Reserves storage for the first `len` bytes of a regular file without changing its size
    /// (SMB's AllocationSize, MS-SMB2 2.2.13.2.6; `fallocate(FALLOC_FL_KEEP_SIZE)` in
    /// [`LocalFs`]). Needs write permission. A backend that cannot preallocate answers
    /// [`VfsError::NotSupported`] (the default); callers treat that as advisory.
    fn allocate(&self, caller: &Caller, handle: &FileHandle, len: u64) -> VfsResult<Attr> {
        let _ = (caller, handle, len);
        Err(VfsError::NotSupported)
    }

    /// Value of extended attribute `name` of an object, `None` when it has none. Only the
    /// [`XATTR_NAMESPACE`] (`user.`) namespace and [`SECURITY_DESCRIPTOR_XATTR`] are reachable
    /// (protocol code never passes a client-chosen name through unprefixed); other names are
    /// refused with [`VfsError::Invalid`], symlinks and special files with
    /// [`VfsError::NotSupported`].
    /// Like [`Vfs::getattr`] this is metadata: no read permission is checked here (protocol
    /// layers check their own rights, e.g. SMB FILE_READ_ATTRIBUTES / FILE_READ_EA).
    fn get_xattr(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        name: &str,
    ) -> VfsResult<Option<Vec<u8>>>;

    /// Sets (`Some`) or removes (`None`; removing an absent one succeeds) extended attribute
    /// `name`, in the `user.` namespace only, value at most [`MAX_XATTR_VALUE_LEN`] bytes
    /// (else [`VfsError::TooBig`]).
    /// The caller must own the object or have write permission on it (the rule `utimes` to
    /// "now" follows).
    fn set_xattr(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        name: &str,
        value: Option<&[u8]>,
    ) -> VfsResult<()>;

    /// [`Vfs::readdir`] with `plus`, each entry with the value of extended attribute `name`
    /// (`None` when absent, unreadable or not a regular file or directory): what
    /// [`Vfs::get_xattr`] on each entry's handle would say, without a call per entry. The
    /// default does just that; [`LocalFs`] reads the attribute by name relative to the open
    /// directory, one syscall per entry, in the pass that stats it.
    fn readdir_with_xattr(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        cookie: u64,
        max: usize,
        name: &str,
    ) -> VfsResult<(Vec<DirEntryXattr>, bool)> {
        let (entries, eof) = self.readdir(caller, dir, cookie, max, true)?;
        let with = entries
            .into_iter()
            .map(|e| {
                let v = match &e.plus {
                    Some((h, a)) if matches!(a.kind, FileKind::Regular | FileKind::Directory) => {
                        self.get_xattr(caller, h, name).ok().flatten()
                    }
                    _ => None,
                };
                (e, v)
            })
            .collect();
        Ok((with, eof))
    }

    /// Changes whenever the server restarts, so clients know to resend unstable writes.
    fn write_verifier(&self) -> [u8; 8];
}
