//! CHANGE_NOTIFY (MS-SMB2 3.3.5.19): accepted on directory opens and left pending (an async
//! interim response) until cancelled or until the directory handle is closed. Change
//! detection itself comes with the VFS's notification support.

use shoal_smb_proto::misc::ChangeNotifyRequest;
use shoal_smb_proto::NtStatus;

use super::tree_of;
use crate::conn::state::{Conn, OpenKind};
use crate::error::{fail, SmbError};
use crate::req::{Park, Reply, Req};

/// CHANGE_NOTIFY.
pub(crate) fn handle(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let n = ChangeNotifyRequest::decode(req.msg)?;
    let id = req.file_id(n.file_id);
    let _ = tree_of(conn, req)?;
    match conn.opens.get(&id) {
        Some(o) if o.session_id == req.session_id && o.tree_id == req.tree_id => match o.kind {
            OpenKind::File { is_dir: true, .. } => {}
            _ => return fail(NtStatus::INVALID_PARAMETER),
        },
        _ => return fail(NtStatus::FILE_CLOSED),
    }
    // Parked without a lock manager waiter: only CANCEL or closing the directory handle
    // (STATUS_NOTIFY_CLEANUP, MS-SMB2 3.3.5.10) ends it.
    let Some(async_id) = conn.park_token(req) else {
        return fail(NtStatus::INSUFFICIENT_RESOURCES);
    };
    Ok(Reply::parked(Park {
        async_id,
        key: None,
        handle: Some(id),
        deadline: None,
        cleanup: NtStatus::NOTIFY_CLEANUP,
    }))
}
