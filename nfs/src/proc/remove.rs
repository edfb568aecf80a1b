//! REMOVE, RMDIR, RENAME, LINK (RFC 1813 3.3.12 - 3.3.15).

use shoal_nfs_proto::nfs3::args::{LinkArgs, RenameArgs};
use shoal_nfs_proto::nfs3::res::{LinkRes, LinkWcc, RemoveRes, RenameRes, RenameWcc, Reply};
use shoal_nfs_proto::nfs3::types::{Diropargs3, WccData};
use shoal_nfs_proto::nfs3::Nfsstat3;

use shoal_vfs::lock::NfsIntent;

use super::{attr_of, smb_state, wcc, Ctx};
use crate::conv::fattr3;

/// REMOVE (`dir == false`) or RMDIR (`dir == true`).
pub(crate) async fn remove(ctx: &Ctx, a: Diropargs3, dir: bool) -> RemoveRes {
    let t = match ctx.writable(&a.dir) {
        Ok(t) => t,
        Err(s) => return Reply::Fail(s, WccData::default()),
    };
    let locks = ctx.shared.locks.clone();
    let r = ctx
        .blocking(move |v| {
            let before = attr_of(v, &t.caller, &t.handle);
            let r = smb_state::check_name(
                &locks,
                v,
                &t.caller,
                &t.handle,
                &a.name,
                NfsIntent::Namespace,
            )
            .and_then(|()| {
                if dir {
                    v.rmdir(&t.caller, &t.handle, &a.name)
                } else {
                    v.remove(&t.caller, &t.handle, &a.name)
                }
            });
            (before, r, attr_of(v, &t.caller, &t.handle))
        })
        .await;
    match r {
        Ok((before, Ok(()), after)) => Reply::Ok(wcc(before.as_ref(), after.as_ref())),
        Ok((before, Err(e), after)) => Reply::Fail(
            crate::error::nfsstat(&e),
            wcc(before.as_ref(), after.as_ref()),
        ),
        Err(s) => Reply::Fail(s, WccData::default()),
    }
}

/// RENAME: both directories must be in the same export (else NFS3ERR_XDEV), so one
/// export's rules cover the whole operation.
pub(crate) async fn rename(ctx: &Ctx, a: RenameArgs) -> RenameRes {
    let (from, to) = match (ctx.writable(&a.from.dir), ctx.writable(&a.to.dir)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(s), _) | (_, Err(s)) => return Reply::Fail(s, RenameWcc::default()),
    };
    if from.export.id != to.export.id {
        return Reply::Fail(Nfsstat3::NFS3ERR_XDEV, RenameWcc::default());
    }
    let locks = ctx.shared.locks.clone();
    let r = ctx
        .blocking(move |v| {
            let c = &from.caller;
            let (fb, tb) = (attr_of(v, c, &from.handle), attr_of(v, c, &to.handle));
            // The source, and the target a rename would replace.
            let ns = NfsIntent::Namespace;
            let r = smb_state::check_name(&locks, v, c, &from.handle, &a.from.name, ns)
                .and_then(|()| smb_state::check_name(&locks, v, c, &to.handle, &a.to.name, ns))
                .and_then(|()| v.rename(c, &from.handle, &a.from.name, &to.handle, &a.to.name));
            let (fa, ta) = (attr_of(v, c, &from.handle), attr_of(v, c, &to.handle));
            let w = RenameWcc {
                fromdir_wcc: wcc(fb.as_ref(), fa.as_ref()),
                todir_wcc: wcc(tb.as_ref(), ta.as_ref()),
            };
            (r, w)
        })
        .await;
    match r {
        Ok((Ok(()), w)) => Reply::Ok(w),
        Ok((Err(e), w)) => Reply::Fail(crate::error::nfsstat(&e), w),
        Err(s) => Reply::Fail(s, RenameWcc::default()),
    }
}

/// LINK: the file and the directory must be in the same export (else NFS3ERR_XDEV).
pub(crate) async fn link(ctx: &Ctx, a: LinkArgs) -> LinkRes {
    let (file, dir) = match (ctx.target(&a.file), ctx.writable(&a.link.dir)) {
        (Ok(f), Ok(d)) => (f, d),
        (Err(s), _) | (_, Err(s)) => return Reply::Fail(s, LinkWcc::default()),
    };
    if file.export.id != dir.export.id {
        return Reply::Fail(Nfsstat3::NFS3ERR_XDEV, LinkWcc::default());
    }
    let r = ctx
        .blocking(move |v| {
            let c = &dir.caller;
            let before = attr_of(v, c, &dir.handle);
            let r = v.link(c, &file.handle, &dir.handle, &a.link.name);
            let after = attr_of(v, c, &dir.handle);
            (r, before, after, attr_of(v, c, &file.handle))
        })
        .await;
    match r {
        Ok((Ok(attr), before, after, _)) => Reply::Ok(LinkWcc {
            file_attributes: Some(fattr3(&attr)),
            linkdir_wcc: wcc(before.as_ref(), after.as_ref()),
        }),
        Ok((Err(e), before, after, fattr)) => Reply::Fail(
            crate::error::nfsstat(&e),
            LinkWcc {
                file_attributes: fattr.as_ref().map(fattr3),
                linkdir_wcc: wcc(before.as_ref(), after.as_ref()),
            },
        ),
        Err(s) => Reply::Fail(s, LinkWcc::default()),
    }
}
