//! `struct stat` → [`Attr`].

use crate::{Attr, FileKind, Timespec};

fn ts(secs: i64, nanos: i64) -> Timespec {
    Timespec {
        secs,
        nanos: u32::try_from(nanos).unwrap_or(0),
    }
}

fn kind_of(mode: u32) -> FileKind {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileKind::Directory,
        libc::S_IFLNK => FileKind::Symlink,
        libc::S_IFBLK => FileKind::BlockDevice,
        libc::S_IFCHR => FileKind::CharDevice,
        libc::S_IFSOCK => FileKind::Socket,
        libc::S_IFIFO => FileKind::Fifo,
        _ => FileKind::Regular,
    }
}

/// Converts a stat result.
pub fn attr_from_stat(st: &libc::stat) -> Attr {
    Attr {
        kind: kind_of(st.st_mode),
        mode: st.st_mode & 0o7777,
        nlink: u32::try_from(st.st_nlink).unwrap_or(u32::MAX),
        uid: st.st_uid,
        gid: st.st_gid,
        size: u64::try_from(st.st_size).unwrap_or(0),
        used: u64::try_from(st.st_blocks).unwrap_or(0).saturating_mul(512),
        rdev: (libc::major(st.st_rdev), libc::minor(st.st_rdev)),
        fsid: st.st_dev,
        fileid: st.st_ino,
        atime: ts(st.st_atime, st.st_atime_nsec),
        mtime: ts(st.st_mtime, st.st_mtime_nsec),
        ctime: ts(st.st_ctime, st.st_ctime_nsec),
    }
}

fn stx_ts(t: &libc::statx_timestamp) -> Timespec {
    Timespec {
        secs: t.tv_sec,
        nanos: if t.tv_nsec < 1_000_000_000 {
            t.tv_nsec
        } else {
            0
        },
    }
}

/// Converts a statx result (of a call asking at least `STATX_BASIC_STATS`) exactly as
/// [`attr_from_stat`] converts the `stat` of the same object.
pub fn attr_from_statx(stx: &libc::statx) -> Attr {
    let mode = u32::from(stx.stx_mode);
    Attr {
        kind: kind_of(mode),
        mode: mode & 0o7777,
        nlink: stx.stx_nlink,
        uid: stx.stx_uid,
        gid: stx.stx_gid,
        size: stx.stx_size,
        used: stx.stx_blocks.saturating_mul(512),
        rdev: (stx.stx_rdev_major, stx.stx_rdev_minor),
        fsid: libc::makedev(stx.stx_dev_major, stx.stx_dev_minor),
        fileid: stx.stx_ino,
        atime: stx_ts(&stx.stx_atime),
        mtime: stx_ts(&stx.stx_mtime),
        ctime: stx_ts(&stx.stx_ctime),
    }
}
