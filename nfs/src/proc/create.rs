//! CREATE, MKDIR, SYMLINK, MKNOD (RFC 1813 3.3.8 - 3.3.11): all return `post_op_fh3`,
//! `post_op_attr` and the directory's `wcc_data`.

use shoal_nfs_proto::nfs3::args::{CreateArgs, CreateHow3, MkdirArgs, MknodArgs, SymlinkArgs};
use shoal_nfs_proto::nfs3::res::{CreateOk, CreateRes, Reply};
use shoal_nfs_proto::nfs3::types::{NfsFh3, WccData};
use shoal_nfs_proto::nfs3::Nfsstat3;
use shoal_vfs::{Attr, Caller, CreateHow, FileHandle, FileKind, Vfs, VfsResult};

use shoal_vfs::lock::NfsIntent;

use super::{attr_of, smb_state, wcc, Ctx};
use crate::conv::{fattr3, file_kind, set_attr};

/// Runs `make` in directory `dir` with before/after attributes of the directory.
async fn make_in(
    ctx: &Ctx,
    dir: &NfsFh3,
    make: impl FnOnce(&dyn Vfs, &Caller, &FileHandle) -> VfsResult<(FileHandle, Attr)> + Send + 'static,
) -> CreateRes {
    let t = match ctx.writable(dir) {
        Ok(t) => t,
        Err(s) => return Reply::Fail(s, WccData::default()),
    };
    let export = t.export.clone();
    let r = ctx
        .blocking(move |v| {
            let before = attr_of(v, &t.caller, &t.handle);
            let r = make(v, &t.caller, &t.handle);
            let after = attr_of(v, &t.caller, &t.handle);
            (before, r, after)
        })
        .await;
    match r {
        Ok((before, Ok((handle, attr)), after)) => Reply::Ok(CreateOk {
            obj: Some(export.wrap(&handle)),
            obj_attributes: Some(fattr3(&attr)),
            dir_wcc: wcc(before.as_ref(), after.as_ref()),
        }),
        Ok((before, Err(e), after)) => Reply::Fail(
            crate::error::nfsstat(&e),
            wcc(before.as_ref(), after.as_ref()),
        ),
        Err(s) => Reply::Fail(s, WccData::default()),
    }
}

/// CREATE. 3.3.8: UNCHECKED creates or truncates-by-attributes an existing file; GUARDED
/// fails with NFS3ERR_EXIST if the name exists; EXCLUSIVE stores the verifier so a
/// retransmission succeeds and any other CREATE of the name fails (the VFS does this).
pub(crate) async fn create(ctx: &Ctx, a: CreateArgs) -> CreateRes {
    let how = match &a.how {
        CreateHow3::Unchecked(s) => CreateHow::Unchecked(set_attr(s)),
        CreateHow3::Guarded(s) => CreateHow::Guarded(set_attr(s)),
        CreateHow3::Exclusive(verf) => CreateHow::Exclusive(*verf),
    };
    let name = a.whereto.name;
    // UNCHECKED over an existing file with a size truncates it: SMB opens must allow that.
    let truncates = matches!(&how, CreateHow::Unchecked(s) if s.size.is_some());
    let locks = ctx.shared.locks.clone();
    make_in(ctx, &a.whereto.dir, move |v, c, d| {
        if truncates {
            smb_state::check_name(&locks, v, c, d, &name, NfsIntent::Truncate)?;
        }
        v.create(c, d, &name, &how)
    })
    .await
}

/// MKDIR.
pub(crate) async fn mkdir(ctx: &Ctx, a: MkdirArgs) -> CreateRes {
    let set = set_attr(&a.attributes);
    let name = a.whereto.name;
    make_in(ctx, &a.whereto.dir, move |v, c, d| {
        v.mkdir(c, d, &name, &set)
    })
    .await
}

/// SYMLINK: the target is stored as given, never resolved by the server.
pub(crate) async fn symlink(ctx: &Ctx, a: SymlinkArgs) -> CreateRes {
    let set = set_attr(&a.attributes);
    let (name, target) = (a.whereto.name, a.target);
    make_in(ctx, &a.whereto.dir, move |v, c, d| {
        v.symlink(c, d, &name, &target, &set)
    })
    .await
}

/// MKNOD. 3.3.11: regular files, directories and symlinks are made by other procedures:
/// "NFS3ERR_BADTYPE" for those.
pub(crate) async fn mknod(ctx: &Ctx, a: MknodArgs) -> CreateRes {
    let kind = match file_kind(a.ftype) {
        Some(
            k @ (FileKind::CharDevice | FileKind::BlockDevice | FileKind::Socket | FileKind::Fifo),
        ) => k,
        _ => return Reply::Fail(Nfsstat3::NFS3ERR_BADTYPE, WccData::default()),
    };
    let set = set_attr(&a.attributes);
    let rdev = (a.spec.major, a.spec.minor);
    let name = a.whereto.name;
    make_in(ctx, &a.whereto.dir, move |v, c, d| {
        v.mknod(c, d, &name, kind, rdev, &set)
    })
    .await
}
