//! ECHO (MS-SMB2 3.3.5.17) and FLUSH (3.3.5.11).

use shoal_smb_proto::session::encode_empty_response;
use shoal_smb_proto::NtStatus;

use crate::conn::state::{Conn, OpenKind};
use crate::error::{fail, SmbError};
use crate::req::{Reply, Req};

/// ECHO.
pub(crate) fn echo(req: &Req<'_>) -> Result<Reply, SmbError> {
    shoal_smb_proto::misc::decode_echo(req.msg)?;
    let mut body = Vec::new();
    encode_empty_response(&mut body);
    Ok(Reply::ok(body))
}

/// FLUSH: makes the open's unstable writes durable (`vfs.commit`). MS-SMB2 3.3.5.11: the
/// open must have been granted FILE_WRITE_DATA or FILE_APPEND_DATA.
pub(crate) async fn flush(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let id = req.file_id(shoal_smb_proto::misc::decode_flush(req.msg)?);
    let (identity, share) = super::tree_of(conn, req)?;
    let (handle, granted) = match conn.opens.get(&id) {
        Some(o) if o.session_id == req.session_id && o.tree_id == req.tree_id => match &o.kind {
            OpenKind::File { handle, .. } => (Some(handle.clone()), o.granted),
            OpenKind::Pipe(_) => (None, o.granted),
        },
        _ => return fail(NtStatus::FILE_CLOSED),
    };
    if let Some(handle) = handle {
        if granted & 0x6 == 0 {
            return fail(NtStatus::ACCESS_DENIED);
        }
        let vfs = conn.shared.vfs.clone();
        let caller = super::caller_for(conn, &identity, &share);
        crate::blocking::blocking(move || Ok(vfs.commit(&caller, &handle).map(|_| ())?)).await?;
    }
    let mut body = Vec::new();
    encode_empty_response(&mut body);
    Ok(Reply::ok(body))
}
