//! NFS version 3 (RFC 1813): constants, status codes, shared types, arguments and results.
//!
//! - [`types`]: `nfs_fh3`, `fattr3`, `sattr3`, `wcc_data`, `post_op_attr`, ...
//! - [`args`]: one decoder per procedure's arguments.
//! - [`res`]: one encoder per procedure's results.

pub mod args;
pub mod res;
pub mod types;

/// NFS program number.
pub const PROGRAM: u32 = 100003;
/// The version we serve.
pub const VERSION: u32 = 3;

/// `NFS3_FHSIZE`: longest file handle.
pub const FHSIZE: u32 = 64;
/// `NFS3_COOKIEVERFSIZE`.
pub const COOKIEVERFSIZE: usize = 8;
/// `NFS3_CREATEVERFSIZE`.
pub const CREATEVERFSIZE: usize = 8;
/// `NFS3_WRITEVERFSIZE`.
pub const WRITEVERFSIZE: usize = 8;

/// Longest file name we decode (`filename3` is unbounded in XDR; longer names than
/// 255 are answered `NFS3ERR_NAMETOOLONG` by the VFS, absurd ones are garbage).
pub const MAX_NAME: u32 = 1024;
/// Longest path (`nfspath3`, symlink target) we decode.
pub const MAX_PATH: u32 = 4096;
/// Largest READ/WRITE payload we decode or produce (1 MiB).
pub const MAX_IO: u32 = 1 << 20;

wire_enum! {
    /// NFSv3 procedure numbers (RFC 1813 section 3).
    NfsProc {
        /// `NFSPROC3_NULL`.
        NULL = 0,
        /// `NFSPROC3_GETATTR`.
        GETATTR = 1,
        /// `NFSPROC3_SETATTR`.
        SETATTR = 2,
        /// `NFSPROC3_LOOKUP`.
        LOOKUP = 3,
        /// `NFSPROC3_ACCESS`.
        ACCESS = 4,
        /// `NFSPROC3_READLINK`.
        READLINK = 5,
        /// `NFSPROC3_READ`.
        READ = 6,
        /// `NFSPROC3_WRITE`.
        WRITE = 7,
        /// `NFSPROC3_CREATE`.
        CREATE = 8,
        /// `NFSPROC3_MKDIR`.
        MKDIR = 9,
        /// `NFSPROC3_SYMLINK`.
        SYMLINK = 10,
        /// `NFSPROC3_MKNOD`.
        MKNOD = 11,
        /// `NFSPROC3_REMOVE`.
        REMOVE = 12,
        /// `NFSPROC3_RMDIR`.
        RMDIR = 13,
        /// `NFSPROC3_RENAME`.
        RENAME = 14,
        /// `NFSPROC3_LINK`.
        LINK = 15,
        /// `NFSPROC3_READDIR`.
        READDIR = 16,
        /// `NFSPROC3_READDIRPLUS`.
        READDIRPLUS = 17,
        /// `NFSPROC3_FSSTAT`.
        FSSTAT = 18,
        /// `NFSPROC3_FSINFO`.
        FSINFO = 19,
        /// `NFSPROC3_PATHCONF`.
        PATHCONF = 20,
        /// `NFSPROC3_COMMIT`.
        COMMIT = 21,
    }
}

wire_enum! {
    /// `nfsstat3` (RFC 1813 section 2.6).
    Nfsstat3 {
        /// Success.
        NFS3_OK = 0,
        /// Not owner.
        NFS3ERR_PERM = 1,
        /// No such file or directory.
        NFS3ERR_NOENT = 2,
        /// I/O error.
        NFS3ERR_IO = 5,
        /// No such device or address.
        NFS3ERR_NXIO = 6,
        /// Permission denied.
        NFS3ERR_ACCES = 13,
        /// File exists.
        NFS3ERR_EXIST = 17,
        /// Cross-device hard link.
        NFS3ERR_XDEV = 18,
        /// No such device.
        NFS3ERR_NODEV = 19,
        /// Not a directory.
        NFS3ERR_NOTDIR = 20,
        /// Is a directory.
        NFS3ERR_ISDIR = 21,
        /// Invalid argument.
        NFS3ERR_INVAL = 22,
        /// File too large.
        NFS3ERR_FBIG = 27,
        /// No space left on device.
        NFS3ERR_NOSPC = 28,
        /// Read-only file system.
        NFS3ERR_ROFS = 30,
        /// Too many hard links.
        NFS3ERR_MLINK = 31,
        /// Name too long.
        NFS3ERR_NAMETOOLONG = 63,
        /// Directory not empty.
        NFS3ERR_NOTEMPTY = 66,
        /// Quota exceeded.
        NFS3ERR_DQUOT = 69,
        /// Stale file handle.
        NFS3ERR_STALE = 70,
        /// Too many levels of remote in path.
        NFS3ERR_REMOTE = 71,
        /// Illegal NFS file handle.
        NFS3ERR_BADHANDLE = 10001,
        /// Update synchronization mismatch (SETATTR guard).
        NFS3ERR_NOT_SYNC = 10002,
        /// READDIR cookie is stale.
        NFS3ERR_BAD_COOKIE = 10003,
        /// Operation not supported.
        NFS3ERR_NOTSUPP = 10004,
        /// Buffer or request is too small.
        NFS3ERR_TOOSMALL = 10005,
        /// A failure on the server.
        NFS3ERR_SERVERFAULT = 10006,
        /// Type not supported by the server.
        NFS3ERR_BADTYPE = 10007,
        /// Try again later.
        NFS3ERR_JUKEBOX = 10008,
    }
}

wire_enum! {
    /// `ftype3` (RFC 1813 section 2.6).
    Ftype3 {
        /// Regular file.
        NF3REG = 1,
        /// Directory.
        NF3DIR = 2,
        /// Block device.
        NF3BLK = 3,
        /// Character device.
        NF3CHR = 4,
        /// Symbolic link.
        NF3LNK = 5,
        /// Socket.
        NF3SOCK = 6,
        /// Named pipe.
        NF3FIFO = 7,
    }
}

wire_enum! {
    /// `stable_how` (RFC 1813 section 3.3.7).
    StableHow {
        /// `UNSTABLE`.
        UNSTABLE = 0,
        /// `DATA_SYNC`.
        DATA_SYNC = 1,
        /// `FILE_SYNC`.
        FILE_SYNC = 2,
    }
}

/// `ACCESS3_READ`.
pub const ACCESS3_READ: u32 = 0x0001;
/// `ACCESS3_LOOKUP`.
pub const ACCESS3_LOOKUP: u32 = 0x0002;
/// `ACCESS3_MODIFY`.
pub const ACCESS3_MODIFY: u32 = 0x0004;
/// `ACCESS3_EXTEND`.
pub const ACCESS3_EXTEND: u32 = 0x0008;
/// `ACCESS3_DELETE`.
pub const ACCESS3_DELETE: u32 = 0x0010;
/// `ACCESS3_EXECUTE`.
pub const ACCESS3_EXECUTE: u32 = 0x0020;

/// FSINFO `properties`: hard links supported.
pub const FSF3_LINK: u32 = 0x0001;
/// FSINFO `properties`: symbolic links supported.
pub const FSF3_SYMLINK: u32 = 0x0002;
/// FSINFO `properties`: PATHCONF is the same for all objects.
pub const FSF3_HOMOGENEOUS: u32 = 0x0008;
/// FSINFO `properties`: SETATTR can set times.
pub const FSF3_CANSETTIME: u32 = 0x0010;
