//! GETATTR, SETATTR, ACCESS (RFC 1813 3.3.1, 3.3.2, 3.3.4), FSSTAT, FSINFO, PATHCONF
//! (3.3.18, 3.3.19, 3.3.20).

use shoal_nfs_proto::nfs3::args::{AccessArgs, SetattrArgs};
use shoal_nfs_proto::nfs3::res::{
    AccessOk, AccessRes, FsinfoOk, FsinfoRes, FsstatOk, FsstatRes, GetattrRes, PathconfOk,
    PathconfRes, Reply, SetattrRes, Void,
};
use shoal_nfs_proto::nfs3::types::{NfsFh3, Nfstime3, WccData};
use shoal_nfs_proto::nfs3::{FSF3_CANSETTIME, FSF3_HOMOGENEOUS, FSF3_LINK, FSF3_SYMLINK};

use shoal_vfs::lock::NfsIntent;

use super::{attr_of, flat, smb_state, wcc, Ctx};
use crate::conv::{fattr3, set_attr, timespec};

/// GETATTR: `fattr3` of the object.
pub(crate) async fn getattr(ctx: &Ctx, fh: NfsFh3) -> GetattrRes {
    let t = match ctx.target(&fh) {
        Ok(t) => t,
        Err(s) => return Reply::Fail(s, Void),
    };
    match flat(ctx.blocking(move |v| v.getattr(&t.caller, &t.handle)).await) {
        Ok(a) => Reply::Ok(fattr3(&a)),
        Err(s) => Reply::Fail(s, Void),
    }
}

/// SETATTR. 3.3.2: "If guard.check is TRUE, the server must compare the value of
/// guard.obj_ctime to the current ctime of the object. If the values are different, the
/// server must preserve the object attributes and must return a status of NFS3ERR_NOT_SYNC."
/// The VFS does the comparison (`guard_ctime`).
pub(crate) async fn setattr(ctx: &Ctx, a: SetattrArgs) -> SetattrRes {
    let t = match ctx.writable(&a.object) {
        Ok(t) => t,
        Err(s) => return Reply::Fail(s, WccData::default()),
    };
    let set = set_attr(&a.new_attributes);
    let guard = a.guard.map(timespec);
    let locks = ctx.shared.locks.clone();
    let r = ctx
        .blocking(move |v| {
            let before = attr_of(v, &t.caller, &t.handle);
            let allowed = match (&before, set.size) {
                (Some(b), Some(_)) => smb_state::check(&locks, b, NfsIntent::Truncate),
                _ => Ok(()),
            };
            let r = allowed.and_then(|()| v.setattr(&t.caller, &t.handle, &set, guard));
            (before, r)
        })
        .await;
    match r {
        Ok((before, Ok(after))) => Reply::Ok(wcc(before.as_ref(), Some(&after))),
        Ok((before, Err(e))) => Reply::Fail(
            crate::error::nfsstat(&e),
            wcc(before.as_ref(), before.as_ref()),
        ),
        Err(s) => Reply::Fail(s, WccData::default()),
    }
}

/// ACCESS: only the bits the VFS grants for this caller. On a read-only export the
/// modifying bits are never granted.
pub(crate) async fn access(ctx: &Ctx, a: AccessArgs) -> AccessRes {
    let t = match ctx.target(&a.object) {
        Ok(t) => t,
        Err(s) => return Reply::Fail(s, None),
    };
    let read_only = t.read_only;
    let mask = a.access & 0x3f;
    match flat(
        ctx.blocking(move |v| v.access(&t.caller, &t.handle, mask))
            .await,
    ) {
        Ok((mut granted, attr)) => {
            if read_only {
                granted &= !(shoal_nfs_proto::nfs3::ACCESS3_MODIFY
                    | shoal_nfs_proto::nfs3::ACCESS3_EXTEND
                    | shoal_nfs_proto::nfs3::ACCESS3_DELETE);
            }
            Reply::Ok(AccessOk {
                obj_attributes: Some(fattr3(&attr)),
                access: granted & mask,
            })
        }
        Err(s) => Reply::Fail(s, None),
    }
}

/// FSSTAT.
pub(crate) async fn fsstat(ctx: &Ctx, fh: NfsFh3) -> FsstatRes {
    let t = match ctx.target(&fh) {
        Ok(t) => t,
        Err(s) => return Reply::Fail(s, None),
    };
    let r = ctx
        .blocking(move |v| {
            let attr = attr_of(v, &t.caller, &t.handle);
            v.fsstat(&t.caller, &t.handle).map(|s| (s, attr))
        })
        .await;
    match flat(r) {
        Ok((s, attr)) => Reply::Ok(FsstatOk {
            obj_attributes: attr.as_ref().map(fattr3),
            tbytes: s.total_bytes,
            fbytes: s.free_bytes,
            abytes: s.avail_bytes,
            tfiles: s.total_files,
            ffiles: s.free_files,
            afiles: s.avail_files,
            invarsec: 0,
        }),
        Err(s) => Reply::Fail(s, None),
    }
}

/// FSINFO: 1 MiB transfers (or less when the record cap is smaller), 64 KiB READDIR
/// preference, nanosecond times, hard and symbolic links, settable times.
pub(crate) async fn fsinfo(ctx: &Ctx, fh: NfsFh3) -> FsinfoRes {
    let t = match ctx.target(&fh) {
        Ok(t) => t,
        Err(s) => return Reply::Fail(s, None),
    };
    let io_max = ctx.shared.io_max;
    match flat(ctx.blocking(move |v| v.getattr(&t.caller, &t.handle)).await) {
        Ok(attr) => Reply::Ok(FsinfoOk {
            obj_attributes: Some(fattr3(&attr)),
            rtmax: io_max,
            rtpref: io_max,
            rtmult: 4096,
            wtmax: io_max,
            wtpref: io_max,
            wtmult: 4096,
            dtpref: 64 * 1024,
            maxfilesize: i64::MAX as u64,
            time_delta: Nfstime3 {
                seconds: 0,
                nseconds: 1,
            },
            properties: FSF3_LINK | FSF3_SYMLINK | FSF3_HOMOGENEOUS | FSF3_CANSETTIME,
        }),
        Err(s) => Reply::Fail(s, None),
    }
}

/// PATHCONF: names up to 255 bytes, never truncated, chown restricted, case preserving.
pub(crate) async fn pathconf(ctx: &Ctx, fh: NfsFh3) -> PathconfRes {
    let t = match ctx.target(&fh) {
        Ok(t) => t,
        Err(s) => return Reply::Fail(s, None),
    };
    match flat(ctx.blocking(move |v| v.getattr(&t.caller, &t.handle)).await) {
        Ok(attr) => Reply::Ok(PathconfOk {
            obj_attributes: Some(fattr3(&attr)),
            linkmax: 65000,
            name_max: shoal_vfs::MAX_NAME_LEN as u32,
            no_trunc: true,
            chown_restricted: true,
            case_insensitive: false,
            case_preserving: true,
        }),
        Err(s) => Reply::Fail(s, None),
    }
}
