//! CLOSE (MS-SMB2 3.3.5.10).

use shoal_smb_proto::close::{encode_close_response, CloseRequest, CLOSE_FLAG_POSTQUERY_ATTRIB};
use shoal_smb_proto::NtStatus;

use super::{blocking, caller_for, file_info, tree_of};
use crate::conn::dispatch::{Reply, Req};
use crate::conn::state::{Conn, OpenKind};
use crate::error::{fail, SmbError};

/// CLOSE.
pub(crate) async fn handle(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let c = CloseRequest::decode(req.msg)?;
    let id = req.file_id(c.file_id);
    let (identity, share) = tree_of(conn, req)?;
    match conn.opens.get(&id) {
        Some(o) if o.session_id == req.session_id && o.tree_id == req.tree_id => {}
        _ => return fail(NtStatus::FILE_CLOSED),
    }
    let Some(open) = conn.opens.remove(&id) else { return fail(NtStatus::FILE_CLOSED) };
    conn.cleanup_pending_for(id);
    let mut info = None;
    if c.flags & CLOSE_FLAG_POSTQUERY_ATTRIB != 0 {
        if let OpenKind::File { handle, .. } = open.kind {
            let vfs = conn.shared.vfs.clone();
            let caller = caller_for(conn, &identity, &share);
            info = blocking(move || Ok(vfs.getattr(&caller, &handle)?)).await.ok().map(|a| file_info(&a));
        }
    }
    let mut body = Vec::new();
    encode_close_response(&mut body, info.as_ref());
    Ok(Reply::ok(body))
}
