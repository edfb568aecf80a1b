//! CREATE stage 4: the lock manager admits the open (delete pending, oplock/lease breaks,
//! share access) in one atomic check under the file's lock, before anything is overwritten.

use std::sync::Arc;

use shoal_smb_proto::NtStatus;
use shoal_vfs::lock::{lease, FileKey, Link, LockManager, OpenGrant, OpenRequest, SinkId, Waiter};
use shoal_vfs::{Attr, FileKind, VfsError};

use crate::error::SmbError;

/// What the lock manager needs to admit this CREATE's open.
pub(crate) struct Admit {
    pub locks: Arc<LockManager>,
    /// The connection that will hold the open (breaks go there).
    pub sink: SinkId,
    /// ShareAccess.
    pub share: u32,
    /// FILE_DELETE_ON_CLOSE: the open (not the file) is marked; the file becomes delete
    /// pending when this open closes.
    pub delete_on_close: bool,
    /// Oplock or lease asked for.
    pub caching: lease::Request,
    /// Where to park if a break must be waited for (`None`: cannot park).
    pub waiter: Option<Waiter>,
    /// The object's path from the backing store's root, lowercase (`OpenRecord::path`).
    pub path: String,
    /// The file the request was parked on, when it was.
    pub parked_on: std::sync::Mutex<Option<FileKey>>,
}

impl Admit {
    /// Admits an open of the object with attributes `a` for `access`.
    pub fn open(
        &self,
        a: &Attr,
        access: u32,
        overwrite: bool,
        link: Option<&Link>,
    ) -> Result<OpenGrant, SmbError> {
        let req = OpenRequest {
            key: FileKey::of(a),
            sink: self.sink,
            access,
            share: self.share,
            delete_on_close: self.delete_on_close,
            is_dir: a.kind == FileKind::Directory,
            overwrite,
            link,
            path: Some(&self.path),
            caching: &self.caching,
            waiter: self.waiter,
        };
        let out = self.locks.open(&req);
        if matches!(out, Err(VfsError::WouldBlock)) && self.waiter.is_some() {
            *self.parked_on.lock().unwrap_or_else(|p| p.into_inner()) = Some(req.key);
        }
        out.map_err(conflict)
    }

    /// The file a [`VfsError::WouldBlock`] parked this request on.
    pub fn parked_on(&self) -> Option<FileKey> {
        *self.parked_on.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes an admitted open back (a later stage of the CREATE failed).
    pub fn undo(&self, key: FileKey, grant: &OpenGrant) {
        self.locks.close(key, grant.id);
    }

    /// True when the file is delete pending (checked early so that DELETE_PENDING wins over
    /// an access check, as on Windows; [`Admit::open`] checks again under the lock).
    pub fn delete_pending(&self, a: &Attr) -> bool {
        self.locks.is_delete_pending(FileKey::of(a))
    }
}

/// A lock-manager refusal as the client sees it. Not `SmbError::Vfs`: the audit layer never
/// saw it, so the open handler logs it as a failed open with this status.
fn conflict(e: VfsError) -> SmbError {
    match e {
        // Parked (or would have to wait and cannot park): the handler decides.
        VfsError::WouldBlock => SmbError::Vfs(VfsError::WouldBlock),
        e => SmbError::Client(NtStatus(e.nt_status())),
    }
}
