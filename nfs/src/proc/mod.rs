//! The 22 NFSv3 procedures (RFC 1813 section 3.3), grouped by family:
//! - [`attr`]: GETATTR, SETATTR, ACCESS, FSSTAT, FSINFO, PATHCONF
//! - [`lookup`]: LOOKUP, READLINK
//! - [`io`]: READ, WRITE, COMMIT
//! - [`create`]: CREATE, MKDIR, SYMLINK, MKNOD
//! - [`remove`]: REMOVE, RMDIR, RENAME, LINK
//! - [`readdir`]: READDIR, READDIRPLUS
//!
//! Each handler resolves its handles through [`Ctx::target`] (export, client rules, squash),
//! runs its VFS calls on the blocking pool in one closure, and returns the typed result.

mod attr;
mod create;
mod io;
mod lookup;
mod readdir;
mod remove;
mod smb_state;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use shoal_nfs_proto::nfs3::args::Args;
use shoal_nfs_proto::nfs3::types::{NfsFh3, WccData};
use shoal_nfs_proto::nfs3::Nfsstat3;
use shoal_nfs_proto::rpc::Credential;
use shoal_nfs_proto::Encode;
use shoal_vfs::{Attr, Caller, FileHandle, Vfs, VfsResult};

use crate::conv::{fattr3, wcc_attr};
use crate::dispatch::Shared;
use crate::export::Export;

/// What a handler knows about its call.
pub(crate) struct Ctx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) peer: SocketAddr,
    pub(crate) cred: Credential,
}

/// A handle resolved for this caller.
pub(crate) struct Target {
    pub(crate) export: Arc<Export>,
    pub(crate) handle: FileHandle,
    pub(crate) caller: Caller,
    pub(crate) read_only: bool,
}

impl Ctx {
    /// Resolves a wire handle: unknown export → STALE, client not allowed → ACCES; builds the
    /// caller after squash.
    pub(crate) fn target(&self, fh: &NfsFh3) -> Result<Target, Nfsstat3> {
        let (export, handle) = self.shared.exports.split(fh)?;
        // A genuine handle of another export presented under this export's id would get this
        // export's rules on an object outside its tree: refuse it as stale.
        if !self.shared.vfs.is_within(&handle, &export.root) {
            tracing::debug!(export = %export.path, "handle from another export");
            return Err(Nfsstat3::NFS3ERR_STALE);
        }
        let entry = export.admit(self.peer).map_err(|why| {
            tracing::debug!(export = %export.path, ?why, "client not admitted by the export");
            match why {
                crate::export::Denied::NotListed => Nfsstat3::NFS3ERR_ACCES,
                crate::export::Denied::InsecurePort => Nfsstat3::NFS3ERR_PERM,
            }
        })?;
        let caller = crate::export::caller(entry, &self.cred, self.peer, export.zone);
        Ok(Target {
            export: export.clone(),
            handle,
            caller,
            read_only: entry.read_only,
        })
    }

    /// [`Ctx::target`] for a modifying procedure: read-only → ROFS (R1).
    pub(crate) fn writable(&self, fh: &NfsFh3) -> Result<Target, Nfsstat3> {
        let t = self.target(fh)?;
        if t.read_only {
            return Err(Nfsstat3::NFS3ERR_ROFS);
        }
        Ok(t)
    }

    /// Runs `f`, which may block. On the multi-threaded runtime it runs in place
    /// (`block_in_place`: the worker hands its other tasks to another thread), which saves the
    /// two thread hand-offs of `spawn_blocking` per call (context switches were a tenth of the
    /// CPU profile of a 100,000-entry READDIRPLUS listing); elsewhere (tests on a
    /// current-thread runtime) on the blocking pool. A panic in the VFS becomes SERVERFAULT
    /// either way.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Vfs) -> T + Send + 'static,
    ) -> Result<T, Nfsstat3> {
        let vfs = self.shared.vfs.clone();
        let in_place = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if in_place {
            let r = tokio::task::block_in_place(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&*vfs)))
            });
            return r.map_err(|_| {
                tracing::error!("VFS call panicked");
                Nfsstat3::NFS3ERR_SERVERFAULT
            });
        }
        tokio::task::spawn_blocking(move || f(&*vfs))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "VFS task failed");
                Nfsstat3::NFS3ERR_SERVERFAULT
            })
    }
}

/// Attributes before and after a change, as `wcc_data`.
pub(crate) fn wcc(before: Option<&Attr>, after: Option<&Attr>) -> WccData {
    WccData {
        before: before.map(wcc_attr),
        after: after.map(fattr3),
    }
}

/// `getattr` that turns failure into "no attributes" (for `post_op_attr`).
pub(crate) fn attr_of(vfs: &dyn Vfs, caller: &Caller, handle: &FileHandle) -> Option<Attr> {
    vfs.getattr(caller, handle).ok()
}

/// Flattens a blocking VFS result.
pub(crate) fn flat<T>(r: Result<VfsResult<T>, Nfsstat3>) -> Result<T, Nfsstat3> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(crate::error::nfsstat(&e)),
        Err(s) => Err(s),
    }
}

/// Runs one NFSv3 procedure and encodes its result after the reply header. READ returns its
/// data instead of copying it into `out`; it goes on the wire right after `out`.
pub(crate) async fn run(ctx: &Ctx, args: Args, out: &mut BytesMut) -> Option<Bytes> {
    match args {
        // READ's data is not copied into `out`: it is returned and sent after it.
        Args::Read(a) => return io::read_split(ctx, a, out).await,
        Args::Null => {}
        Args::Getattr(fh) => attr::getattr(ctx, fh).await.encode(out),
        Args::Setattr(a) => attr::setattr(ctx, a).await.encode(out),
        Args::Lookup(a) => lookup::lookup(ctx, a).await.encode(out),
        Args::Access(a) => attr::access(ctx, a).await.encode(out),
        Args::Readlink(fh) => lookup::readlink(ctx, fh).await.encode(out),
        Args::Write(a) => io::write(ctx, a).await.encode(out),
        Args::Create(a) => create::create(ctx, a).await.encode(out),
        Args::Mkdir(a) => create::mkdir(ctx, a).await.encode(out),
        Args::Symlink(a) => create::symlink(ctx, a).await.encode(out),
        Args::Mknod(a) => create::mknod(ctx, a).await.encode(out),
        Args::Remove(a) => remove::remove(ctx, a, false).await.encode(out),
        Args::Rmdir(a) => remove::remove(ctx, a, true).await.encode(out),
        Args::Rename(a) => remove::rename(ctx, a).await.encode(out),
        Args::Link(a) => remove::link(ctx, a).await.encode(out),
        Args::Readdir(a) => readdir::readdir(ctx, a).await.encode(out),
        Args::Readdirplus(a) => readdir::readdirplus(ctx, a).await.encode(out),
        Args::Fsstat(fh) => attr::fsstat(ctx, fh).await.encode(out),
        Args::Fsinfo(fh) => attr::fsinfo(ctx, fh).await.encode(out),
        Args::Pathconf(fh) => attr::pathconf(ctx, fh).await.encode(out),
        Args::Commit(a) => io::commit(ctx, a).await.encode(out),
    }
    None
}
