//! Value types the VFS speaks in.

/// Longest name component accepted (bytes), as on Linux filesystems.
pub const MAX_NAME_LEN: usize = 255;

/// Longest handle a VFS hands out (NFSv3 allows 64; the NFS layer prefixes 8 bytes).
pub const MAX_HANDLE_LEN: usize = 56;

/// An opaque, restart-stable handle to one object.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FileHandle(Vec<u8>);

impl FileHandle {
    /// Wraps bytes received from a client; `None` when too long or empty.
    pub fn from_bytes(bytes: &[u8]) -> Option<FileHandle> {
        if bytes.is_empty() || bytes.len() > MAX_HANDLE_LEN {
            return None;
        }
        Some(FileHandle(bytes.to_vec()))
    }

    /// Wraps bytes made by a VFS implementation.
    pub fn from_vec(bytes: Vec<u8>) -> FileHandle {
        FileHandle(bytes)
    }

    /// The bytes, as sent on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for FileHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileHandle(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// Seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timespec {
    /// Seconds.
    pub secs: i64,
    /// Nanoseconds, 0..1e9.
    pub nanos: u32,
}

/// Object type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// Regular file.
    Regular,
    /// Directory.
    Directory,
    /// Block device.
    BlockDevice,
    /// Character device.
    CharDevice,
    /// Symbolic link.
    Symlink,
    /// Socket.
    Socket,
    /// FIFO.
    Fifo,
}

/// Attributes of an object (what NFSv3 `fattr3` and SMB info classes need).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    /// Type.
    pub kind: FileKind,
    /// Permission bits (07777).
    pub mode: u32,
    /// Link count.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Bytes allocated.
    pub used: u64,
    /// Device numbers (major, minor) for device files.
    pub rdev: (u32, u32),
    /// Filesystem id.
    pub fsid: u64,
    /// File id (inode number); stable, usable as SMB file id / NFS fileid.
    pub fileid: u64,
    /// Last access.
    pub atime: Timespec,
    /// Last modification.
    pub mtime: Timespec,
    /// Last status change.
    pub ctime: Timespec,
}

/// A time to set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SetTime {
    /// Leave unchanged.
    #[default]
    Keep,
    /// Set to the server's current time.
    ServerNow,
    /// Set to this time.
    Client(Timespec),
}

/// Attributes to change (NFSv3 `sattr3`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// New permission bits.
    pub mode: Option<u32>,
    /// New owner.
    pub uid: Option<u32>,
    /// New group.
    pub gid: Option<u32>,
    /// New size (truncate/extend).
    pub size: Option<u64>,
    /// New access time.
    pub atime: SetTime,
    /// New modification time.
    pub mtime: SetTime,
}

/// How CREATE treats an existing name (RFC 1813 3.3.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreateHow {
    /// Create, or open (and apply the attributes to) an existing file.
    Unchecked(SetAttr),
    /// Fail with `Exists` if the name exists.
    Guarded(SetAttr),
    /// Exclusive create: the verifier is stored with the file; a retransmitted CREATE with the
    /// same verifier succeeds, another one fails with `Exists`.
    Exclusive([u8; 8]),
}

/// How durable a write must be (NFSv3 `stable_how`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WriteStability {
    /// May stay in server memory until COMMIT.
    Unstable,
    /// Data durable before reply.
    DataSync,
    /// Data and metadata durable before reply.
    FileSync,
}

/// One directory entry.
#[derive(Clone, Debug)]
pub struct DirEntry {
    /// Name bytes.
    pub name: Vec<u8>,
    /// File id (inode number).
    pub fileid: u64,
    /// Cookie to resume after this entry.
    pub cookie: u64,
    /// Handle and attributes, filled for `readdir(.., plus = true)` when available.
    pub plus: Option<(FileHandle, Attr)>,
}

/// Filesystem space figures (NFSv3 FSSTAT).
#[derive(Clone, Debug, Default)]
pub struct FsStat {
    /// Total bytes.
    pub total_bytes: u64,
    /// Free bytes.
    pub free_bytes: u64,
    /// Bytes available to the caller.
    pub avail_bytes: u64,
    /// Total file slots.
    pub total_files: u64,
    /// Free file slots.
    pub free_files: u64,
    /// File slots available to the caller.
    pub avail_files: u64,
}

/// The only extended-attribute namespace [`crate::Vfs::get_xattr`] / [`crate::Vfs::set_xattr`]
/// reach (`trusted.`, `security.` and `system.` stay the server's and the kernel's).
pub const XATTR_NAMESPACE: &str = "user.";

/// The one extended attribute outside [`XATTR_NAMESPACE`] that [`crate::Vfs::get_xattr`] /
/// [`crate::Vfs::set_xattr`] also reach: the SMB security descriptor a client set (stored like
/// Samba's `acl_xattr` keeps `security.NTACL`, in the `security.` namespace, which only a
/// process with CAP_SYS_ADMIN can write, so a local user cannot forge it). Its own name, not
/// `security.NTACL`, because the value format differs from Samba's.
pub const SECURITY_DESCRIPTOR_XATTR: &str = "security.shoal.NTACL";

/// Longest extended-attribute name, prefix included (Linux `XATTR_NAME_MAX`).
pub const MAX_XATTR_NAME_LEN: usize = 255;

/// Largest extended-attribute value (Linux `XATTR_SIZE_MAX`, 64 KiB).
pub const MAX_XATTR_VALUE_LEN: usize = 64 * 1024;

/// A listing entry with the value of the extended attribute asked for
/// ([`crate::Vfs::readdir_with_xattr`]), `None` when absent.
pub type DirEntryXattr = (DirEntry, Option<Vec<u8>>);
