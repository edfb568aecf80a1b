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
    let OpenKind::File { handle, .. } = open.kind else {
        let mut body = Vec::new();
        encode_close_response(&mut body, None);
        return Ok(Reply::ok(body));
    };
    let vfs = conn.shared.vfs.clone();
    let caller = caller_for(conn, &identity, &share);
    let auditor = super::auditor(conn);
    let post = c.flags & CLOSE_FLAG_POSTQUERY_ATTRIB != 0;
    let forgotten = crate::open_table::forget(req.session_id, id);
    // Nothing to ask the VFS (no attributes wanted, no delete on close, no audit record):
    // answer here rather than take a round trip to the blocking pool (issue 7).
    let no_io = !post
        && forgotten
            .as_ref()
            .is_none_or(|(_, unlink)| unlink.is_none() && auditor.is_none());
    if no_io {
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
        if let Some((o, unlink)) = forgotten {
            if let Some((parent, name)) = unlink {
                // Only the object opened: never what was put under its name since.
                let r = vfs.remove_if_same(&caller, &parent, &name, o.file, o.is_dir);
                if let Err(e) = r {
                    tracing::debug!(error = %e, "delete on close failed");
                }
            }
            if let Some(a) = &auditor {
                if let Err(e) = a.smb_close(
                    &caller,
                    &o.audit_name,
                    o.is_dir,
                    Some(o.file.1),
                    o.bytes_read,
                    o.bytes_written,
                ) {
                    tracing::warn!(error = %e, "audit: close event not logged");
                }
            }
        }
        Ok(info)
    })
    .await?;
    let mut body = Vec::new();
    encode_close_response(&mut body, info.as_ref());
    Ok(Reply::ok(body))
}
