//! `struct stat` → [`Attr`].

use crate::{Attr, FileKind, Timespec};

fn ts(secs: i64, nanos: i64) -> Timespec {
    Timespec {
        secs,
        nanos: u32::try_from(nanos).unwrap_or(0),
    }
}

/// Converts a stat result.
pub fn attr_from_stat(st: &libc::stat) -> Attr {
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => FileKind::Directory,
        libc::S_IFLNK => FileKind::Symlink,
        libc::S_IFBLK => FileKind::BlockDevice,
        libc::S_IFCHR => FileKind::CharDevice,
        libc::S_IFSOCK => FileKind::Socket,
        libc::S_IFIFO => FileKind::Fifo,
        _ => FileKind::Regular,
    };
    Attr {
        kind,
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
