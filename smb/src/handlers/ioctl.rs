//! IOCTL (MS-SMB2 3.3.5.15): pipe transceive and VALIDATE_NEGOTIATE_INFO.

use shoal_smb_proto::ioctl::{encode_ioctl_response, IoctlRequest, FSCTL_DFS_GET_REFERRALS, FSCTL_PIPE_TRANSCEIVE, FSCTL_VALIDATE_NEGOTIATE_INFO};
use shoal_smb_proto::negotiate::{encode_validate_negotiate_response, ValidateNegotiateInfo};
use shoal_smb_proto::NtStatus;

use super::tree_of;
use crate::conn::dispatch::{Reply, Req};
use crate::conn::state::{Conn, OpenKind};
use crate::error::{fail, SmbError};

/// IOCTL.
pub(crate) fn handle(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let io = IoctlRequest::decode(req.msg)?;
    let _ = tree_of(conn, req)?;
    match io.ctl_code {
        FSCTL_VALIDATE_NEGOTIATE_INFO => validate_negotiate(conn, &io),
        FSCTL_PIPE_TRANSCEIVE => {
            let id = req.file_id(io.file_id);
            let Some(open) = conn.opens.get_mut(&id).filter(|o| o.session_id == req.session_id && o.tree_id == req.tree_id)
            else {
                return fail(NtStatus::FILE_CLOSED);
            };
            let OpenKind::Pipe(p) = &mut open.kind else { return fail(NtStatus::INVALID_DEVICE_REQUEST) };
            p.write(io.input)?;
            let (data, more) = p.read(io.max_output as usize);
            let mut body = Vec::with_capacity(data.len() + 48);
            encode_ioctl_response(&mut body, io.ctl_code, id, &data);
            Ok(Reply::with_status(if more { NtStatus::BUFFER_OVERFLOW } else { NtStatus::SUCCESS }, body))
        }
        FSCTL_DFS_GET_REFERRALS => fail(NtStatus::FS_DRIVER_REQUIRED),
        _ => fail(NtStatus::NOT_SUPPORTED),
    }
}

/// MS-SMB2 3.3.5.15.12: the values must match what NEGOTIATE saw, else the connection is
/// terminated (a man in the middle downgraded it).
fn validate_negotiate(conn: &mut Conn, io: &IoctlRequest<'_>) -> Result<Reply, SmbError> {
    let v = ValidateNegotiateInfo::decode(io.input)?;
    let Some(dialect) = conn.negotiated() else { return Err(SmbError::Disconnect("validate before negotiate")) };
    if dialect == shoal_smb_proto::Dialect::SMB3_1_1 {
        // 3.1.1 is protected by preauth integrity; Windows closes the connection here too.
        return Err(SmbError::Disconnect("VALIDATE_NEGOTIATE_INFO on 3.1.1"));
    }
    // The greatest common dialect of the request's list must be the one negotiated.
    let best = shoal_smb_proto::Dialect::SUPPORTED.into_iter().find(|d| v.dialects.contains(d));
    // A connection negotiated through an SMB1 NEGOTIATE never saw the client's GUID,
    // capabilities or security mode: only the dialect can be checked.
    let params_match = conn.negotiated_via_smb1
        || (v.guid == conn.client_guid
            && v.security_mode == conn.client_security_mode
            && v.capabilities == conn.client_capabilities);
    if best != Some(dialect) || !params_match {
        return Err(SmbError::Disconnect("VALIDATE_NEGOTIATE_INFO mismatch"));
    }
    if (io.max_output as usize) < 24 {
        return fail(NtStatus::INVALID_PARAMETER);
    }
    let mut out = Vec::with_capacity(24);
    encode_validate_negotiate_response(&mut out, conn.server_capabilities, &conn.shared.server_guid, conn.server_security_mode, dialect);
    let mut body = Vec::new();
    encode_ioctl_response(&mut body, io.ctl_code, io.file_id, &out);
    Ok(Reply::ok(body))
}
