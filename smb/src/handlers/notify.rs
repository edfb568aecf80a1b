//! CHANGE_NOTIFY (MS-SMB2 3.3.5.19): accepted on directory opens and left pending (an async
//! interim response) until cancelled or until the directory handle is closed. Change
//! detection itself comes with the VFS's notification support.

use shoal_smb_proto::misc::ChangeNotifyRequest;
use shoal_smb_proto::NtStatus;

use super::tree_of;
use crate::conn::pending::Pending;
use crate::conn::state::{Conn, OpenKind};
use crate::error::{fail, SmbError};
use crate::req::{Reply, Req};

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
    let signer = conn.sessions.get(&req.session_id).and_then(|s| {
        let e = s.established.as_ref()?;
        (req.hdr.is_signed() || e.signing_required)
            .then_some(e.signer)
            .flatten()
    });
    let pending = Pending {
        async_id: 0,
        message_id: req.hdr.message_id,
        command: req.hdr.command,
        session_id: req.session_id,
        tree_id: req.tree_id,
        file_id: id,
        signer,
    };
    match conn.add_pending(pending) {
        Some(async_id) => Ok(Reply {
            status: NtStatus::PENDING,
            async_id: Some(async_id),
            ..Reply::default()
        }),
        None => fail(NtStatus::INSUFFICIENT_RESOURCES),
    }
}
