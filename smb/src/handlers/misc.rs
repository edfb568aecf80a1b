//! ECHO (MS-SMB2 3.3.5.17) and FLUSH (3.3.5.11).

use shoal_smb_proto::session::encode_empty_response;
use shoal_smb_proto::NtStatus;

use crate::conn::dispatch::{Reply, Req};
use crate::conn::state::Conn;
use crate::error::{fail, SmbError};

/// ECHO.
pub(crate) fn echo(req: &Req<'_>) -> Result<Reply, SmbError> {
    shoal_smb_proto::misc::decode_echo(req.msg)?;
    let mut body = Vec::new();
    encode_empty_response(&mut body);
    Ok(Reply::ok(body))
}

/// FLUSH: writes are already synchronous to the VFS.
pub(crate) fn flush(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let id = req.file_id(shoal_smb_proto::misc::decode_flush(req.msg)?);
    if !matches!(conn.opens.get(&id), Some(o) if o.session_id == req.session_id) {
        return fail(NtStatus::FILE_CLOSED);
    }
    let mut body = Vec::new();
    encode_empty_response(&mut body);
    Ok(Reply::ok(body))
}
