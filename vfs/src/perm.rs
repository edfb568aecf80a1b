//! POSIX permission checks for a [`Caller`] against an object's owner, group and mode.
//!
//! The server process usually runs as root, so the kernel would allow everything: these checks
//! are what enforces mode bits for the caller.

use crate::{Attr, Caller, FileKind};

/// Read data / list directory (NFSv3 ACCESS3_READ).
pub const ACCESS_READ: u32 = 0x0001;
/// Look up a name in a directory (ACCESS3_LOOKUP).
pub const ACCESS_LOOKUP: u32 = 0x0002;
/// Modify data / rewrite directory entries (ACCESS3_MODIFY).
pub const ACCESS_MODIFY: u32 = 0x0004;
/// Append / add entries (ACCESS3_EXTEND).
pub const ACCESS_EXTEND: u32 = 0x0008;
/// Delete directory entries (ACCESS3_DELETE).
pub const ACCESS_DELETE: u32 = 0x0010;
/// Execute a file (ACCESS3_EXECUTE).
pub const ACCESS_EXECUTE: u32 = 0x0020;

/// The rwx bits (4, 2, 1) that apply to `caller` on an object with `attr`.
pub fn rwx(caller: &Caller, attr: &Attr) -> u32 {
    if caller.is_root() {
        // Root may read and write anything; execute only if some x bit is set (or a directory).
        let x = if attr.kind == FileKind::Directory || attr.mode & 0o111 != 0 {
            1
        } else {
            0
        };
        return 6 | x;
    }
    if caller.uid == attr.uid {
        (attr.mode >> 6) & 7
    } else if caller.in_group(attr.gid) {
        (attr.mode >> 3) & 7
    } else {
        attr.mode & 7
    }
}

/// True when the caller may read the object.
pub fn may_read(caller: &Caller, attr: &Attr) -> bool {
    rwx(caller, attr) & 4 != 0
}

/// True when the caller may write the object.
pub fn may_write(caller: &Caller, attr: &Attr) -> bool {
    rwx(caller, attr) & 2 != 0
}

/// True when the caller may execute / search the object.
pub fn may_exec(caller: &Caller, attr: &Attr) -> bool {
    rwx(caller, attr) & 1 != 0
}

/// True when the caller owns the object (or is root).
pub fn is_owner(caller: &Caller, attr: &Attr) -> bool {
    caller.is_root() || caller.uid == attr.uid
}

/// Whether the caller may remove `child` from directory `dir`: write + search on the
/// directory, and the sticky bit rule (owner of the file or of the directory).
pub fn may_delete_from(caller: &Caller, dir: &Attr, child: &Attr) -> bool {
    if !(may_write(caller, dir) && may_exec(caller, dir)) {
        return false;
    }
    if dir.mode & 0o1000 != 0 {
        return caller.is_root() || caller.uid == dir.uid || caller.uid == child.uid;
    }
    true
}

/// The `ACCESS_*` bits of `mask` granted to `caller` on an object with `attr`.
pub fn access_mask(caller: &Caller, attr: &Attr, mask: u32) -> u32 {
    let bits = rwx(caller, attr);
    let mut granted = 0;
    let is_dir = attr.kind == FileKind::Directory;
    if bits & 4 != 0 {
        granted |= ACCESS_READ;
    }
    if bits & 2 != 0 {
        granted |= ACCESS_MODIFY | ACCESS_EXTEND;
        if is_dir {
            granted |= ACCESS_DELETE;
        }
    }
    if bits & 1 != 0 {
        granted |= if is_dir {
            ACCESS_LOOKUP
        } else {
            ACCESS_EXECUTE
        };
    }
    if is_dir && bits & 1 == 0 {
        // Without search permission nothing inside can be changed.
        granted &= !(ACCESS_MODIFY | ACCESS_EXTEND | ACCESS_DELETE);
    }
    granted & mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Protocol, Timespec, ZoneId};

    fn caller(uid: u32, gid: u32) -> Caller {
        Caller {
            uid,
            gid,
            groups: vec![],
            sid: None,
            client_addr: "127.0.0.1:1".parse().unwrap(),
            zone: ZoneId::SYSTEM,
            protocol: Protocol::Nfs3,
        }
    }

    fn attr(kind: FileKind, mode: u32, uid: u32, gid: u32) -> Attr {
        Attr {
            kind,
            mode,
            nlink: 1,
            uid,
            gid,
            size: 0,
            used: 0,
            rdev: (0, 0),
            fsid: 0,
            fileid: 1,
            atime: Timespec::default(),
            mtime: Timespec::default(),
            ctime: Timespec::default(),
        }
    }

    #[test]
    fn owner_group_other_bits() {
        let a = attr(FileKind::Regular, 0o640, 1000, 100);
        assert!(may_read(&caller(1000, 1), &a));
        assert!(may_write(&caller(1000, 1), &a));
        assert!(may_read(&caller(1001, 100), &a));
        assert!(!may_write(&caller(1001, 100), &a));
        assert!(!may_read(&caller(1002, 2), &a));
    }

    #[test]
    fn root_reads_but_does_not_execute_without_x() {
        let a = attr(FileKind::Regular, 0o000, 1000, 100);
        assert!(may_read(&caller(0, 0), &a));
        assert!(!may_exec(&caller(0, 0), &a));
    }

    #[test]
    fn sticky_directory_limits_deletion() {
        let dir = attr(FileKind::Directory, 0o1777, 0, 0);
        let file = attr(FileKind::Regular, 0o644, 1000, 100);
        assert!(may_delete_from(&caller(1000, 100), &dir, &file));
        assert!(!may_delete_from(&caller(1001, 100), &dir, &file));
    }

    #[test]
    fn access_mask_for_directory_without_search() {
        let dir = attr(FileKind::Directory, 0o766, 1000, 100);
        let got = access_mask(&caller(1001, 100), &dir, 0x3f);
        assert_eq!(got, ACCESS_READ);
    }
}
