//! CLOSE (MS-SMB2 3.3.5.10): drops the open, deletes a delete-pending file when this was its
//! last open, logs the close for audit, and answers the attributes with POSTQUERY_ATTRIB.

use shoal_smb_proto::close::{encode_close_response, CloseRequest, CLOSE_FLAG_POSTQUERY_ATTRIB};
use shoal_smb_proto::NtStatus;

use super::{caller_for, tree_of};
use crate::blocking::run_blocking;
use crate::conn::state::{Conn, OpenKind};
use crate::error::{fail, SmbError};
use crate::req::{Reply, Req};

/// CLOSE.
pub(crate) async fn handle(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let c = CloseRequest::decode(req.msg)?;
    let id = req.file_id(c.file_id);
    let (identity, share) = tree_of(conn, req)?;
    match conn.opens.get(&id) {
        Some(o) if o.session_id == req.session_id && o.tree_id == req.tree_id => {}
        _ => return fail(NtStatus::FILE_CLOSED),
    }
    let Some(open) = conn.opens.remove(&id) else {
        return fail(NtStatus::FILE_CLOSED);
    };
    conn.cleanup_pending_for(id);
    let OpenKind::File {
        handle,
        is_dir,
        io,
        audit_name,
        ..
    } = open.kind
    else {
        let mut body = Vec::new();
        encode_close_response(&mut body, None);
        return Ok(Reply::ok(body));
    };
    // The open leaves the lock manager: its byte-range locks and share of a lease go, parked
    // requests on the file are woken, and a delete-pending file whose last open this was is
    // unlinked below.
    let closed = open
        .lock
        .map(|l| (l.key, conn.shared.config.locks.close(l.key, l.id)));
    let unlink = closed
        .as_ref()
        .and_then(|(key, out)| out.unlink.clone().map(|link| (link, (key.fsid, key.ino))));
    let inode = closed.as_ref().map(|(key, _)| key.ino);
    let vfs = conn.shared.vfs.clone();
    let caller = caller_for(conn, &identity, &share);
    let auditor = super::auditor(conn);
    let post = c.flags & CLOSE_FLAG_POSTQUERY_ATTRIB != 0;
    // Nothing to ask the VFS (no attributes wanted, no delete on close, no audit record):
    // answer here rather than take a round trip to the blocking pool (issue 7).
    if !post && unlink.is_none() && auditor.is_none() {
        drop(handle);
        let mut body = Vec::new();
        encode_close_response(&mut body, None);
        return Ok(Reply::ok(body));
    }
    let info = run_blocking(move || {
        // Attributes are taken before a delete on close (Windows answers them too).
        let info = if post {
            vfs.getattr(&caller, &handle)
                .ok()
                .map(|a| super::dos::info_of(&*vfs, &caller, &handle, &a))
        } else {
            None
        };
        if let Some((link, object)) = unlink {
            // Only the object opened: never what was put under its name since.
            let r = vfs.remove_if_same(&caller, &link.parent, &link.name, object, is_dir);
            if let Err(e) = r {
                tracing::debug!(error = %e, "delete on close failed");
            }
        }
        if let Some(a) = &auditor {
            use std::sync::atomic::Ordering::Relaxed;
            if let Err(e) = a.smb_close(
                &caller,
                &audit_name,
                is_dir,
                inode,
                io.bytes_read.load(Relaxed),
                io.bytes_written.load(Relaxed),
            ) {
                tracing::warn!(error = %e, "audit: close event not logged");
            }
        }
        Ok(info)
    })
    .await?;
    let mut body = Vec::new();
    encode_close_response(&mut body, info.as_ref());
    Ok(Reply::ok(body))
}
