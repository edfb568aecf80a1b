//! Conversions between VFS types and their NFSv3 XDR forms.

use shoal_nfs_proto::nfs3::types::{Fattr3, Nfstime3, Sattr3, SetTime3, Specdata3, WccAttr};
use shoal_nfs_proto::nfs3::{Ftype3, StableHow};
use shoal_vfs::{Attr, FileKind, SetAttr, SetTime, Timespec, WriteStability};

/// `nfstime3` has unsigned 32-bit seconds: times before 1970 or after 2106 are clamped.
pub(crate) fn time3(t: Timespec) -> Nfstime3 {
    Nfstime3 {
        seconds: t.secs.clamp(0, i64::from(u32::MAX)) as u32,
        nseconds: t.nanos.min(999_999_999),
    }
}

pub(crate) fn timespec(t: Nfstime3) -> Timespec {
    Timespec {
        secs: i64::from(t.seconds),
        nanos: t.nseconds.min(999_999_999),
    }
}

pub(crate) fn ftype(kind: FileKind) -> Ftype3 {
    match kind {
        FileKind::Regular => Ftype3::NF3REG,
        FileKind::Directory => Ftype3::NF3DIR,
        FileKind::BlockDevice => Ftype3::NF3BLK,
        FileKind::CharDevice => Ftype3::NF3CHR,
        FileKind::Symlink => Ftype3::NF3LNK,
        FileKind::Socket => Ftype3::NF3SOCK,
        FileKind::Fifo => Ftype3::NF3FIFO,
    }
}

pub(crate) fn file_kind(t: Ftype3) -> Option<FileKind> {
    Some(match t {
        Ftype3::NF3REG => FileKind::Regular,
        Ftype3::NF3DIR => FileKind::Directory,
        Ftype3::NF3BLK => FileKind::BlockDevice,
        Ftype3::NF3CHR => FileKind::CharDevice,
        Ftype3::NF3LNK => FileKind::Symlink,
        Ftype3::NF3SOCK => FileKind::Socket,
        Ftype3::NF3FIFO => FileKind::Fifo,
        _ => return None,
    })
}

pub(crate) fn fattr3(a: &Attr) -> Fattr3 {
    Fattr3 {
        ftype: ftype(a.kind),
        mode: a.mode & 0o7777,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        size: a.size,
        used: a.used,
        rdev: Specdata3 {
            major: a.rdev.0,
            minor: a.rdev.1,
        },
        fsid: a.fsid,
        fileid: a.fileid,
        atime: time3(a.atime),
        mtime: time3(a.mtime),
        ctime: time3(a.ctime),
    }
}

pub(crate) fn wcc_attr(a: &Attr) -> WccAttr {
    WccAttr {
        size: a.size,
        mtime: time3(a.mtime),
        ctime: time3(a.ctime),
    }
}

fn set_time(t: SetTime3) -> SetTime {
    match t {
        SetTime3::DontChange => SetTime::Keep,
        SetTime3::ServerTime => SetTime::ServerNow,
        SetTime3::ClientTime(t) => SetTime::Client(timespec(t)),
    }
}

pub(crate) fn set_attr(s: &Sattr3) -> SetAttr {
    SetAttr {
        mode: s.mode.map(|m| m & 0o7777),
        uid: s.uid,
        gid: s.gid,
        size: s.size,
        atime: set_time(s.atime),
        mtime: set_time(s.mtime),
    }
}

pub(crate) fn stability(s: StableHow) -> WriteStability {
    match s {
        StableHow::UNSTABLE => WriteStability::Unstable,
        StableHow::DATA_SYNC => WriteStability::DataSync,
        _ => WriteStability::FileSync,
    }
}

pub(crate) fn stable_how(s: WriteStability) -> StableHow {
    match s {
        WriteStability::Unstable => StableHow::UNSTABLE,
        WriteStability::DataSync => StableHow::DATA_SYNC,
        WriteStability::FileSync => StableHow::FILE_SYNC,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_clamp() {
        assert_eq!(time3(Timespec { secs: -5, nanos: 1 }).seconds, 0);
        assert_eq!(
            time3(Timespec {
                secs: i64::MAX,
                nanos: 1
            })
            .seconds,
            u32::MAX
        );
    }

    #[test]
    fn stability_round_trip() {
        for s in [
            WriteStability::Unstable,
            WriteStability::DataSync,
            WriteStability::FileSync,
        ] {
            assert_eq!(stability(stable_how(s)), s);
        }
    }
}
