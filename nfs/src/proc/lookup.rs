//! LOOKUP and READLINK (RFC 1813 3.3.3, 3.3.5). Symlinks are returned as objects, never
//! followed by the server: the client resolves them, and the VFS keeps every lookup inside
//! the backing store.

use shoal_nfs_proto::nfs3::res::{LookupOk, LookupRes, ReadlinkOk, ReadlinkRes, Reply};
use shoal_nfs_proto::nfs3::types::{Diropargs3, NfsFh3};

use super::{attr_of, Ctx};
use crate::conv::fattr3;

/// LOOKUP.
pub(crate) async fn lookup(ctx: &Ctx, a: Diropargs3) -> LookupRes {
    let t = match ctx.target(&a.dir) {
        Ok(t) => t,
        Err(s) => return Reply::Fail(s, None),
    };
    let export = t.export.clone();
    let r = ctx
        .blocking(move |v| {
            let r = v.lookup(&t.caller, &t.handle, &a.name);
            let dir = attr_of(v, &t.caller, &t.handle);
            (r, dir)
        })
        .await;
    match r {
        Ok((Ok((handle, attr)), dir)) => Reply::Ok(LookupOk {
            object: export.wrap(&handle),
            obj_attributes: Some(fattr3(&attr)),
            dir_attributes: dir.as_ref().map(fattr3),
        }),
        Ok((Err(e), dir)) => Reply::Fail(crate::error::nfsstat(&e), dir.as_ref().map(fattr3)),
        Err(s) => Reply::Fail(s, None),
    }
}

/// READLINK.
pub(crate) async fn readlink(ctx: &Ctx, fh: NfsFh3) -> ReadlinkRes {
    let t = match ctx.target(&fh) {
        Ok(t) => t,
        Err(s) => return Reply::Fail(s, None),
    };
    let r = ctx
        .blocking(move |v| {
            let r = v.readlink(&t.caller, &t.handle);
            (r, attr_of(v, &t.caller, &t.handle))
        })
        .await;
    match r {
        Ok((Ok(data), attr)) => Reply::Ok(ReadlinkOk {
            symlink_attributes: attr.as_ref().map(fattr3),
            data,
        }),
        Ok((Err(e), attr)) => Reply::Fail(crate::error::nfsstat(&e), attr.as_ref().map(fattr3)),
        Err(s) => Reply::Fail(s, None),
    }
}
