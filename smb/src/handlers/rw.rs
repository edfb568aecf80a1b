//! READ (MS-SMB2 3.3.5.12) and WRITE (3.3.5.13) on files and named pipes.

use shoal_smb_proto::rw::{encode_read_response, encode_write_response, ReadRequest, WriteRequest};
use shoal_smb_proto::NtStatus;
use shoal_vfs::WriteStability;

use super::{blocking, caller_for, tree_of};
use crate::conn::dispatch::{Reply, Req};
use crate::conn::state::{Conn, OpenKind};
use crate::error::{fail, SmbError};

/// FILE_READ_DATA.
const READ_DATA: u32 = 0x1;
/// FILE_WRITE_DATA | FILE_APPEND_DATA.
const WRITE_DATA: u32 = 0x6;

/// MS-SMB2 3.3.5.2.5: a multi-credit request must carry a charge covering its payload.
fn check_charge(conn: &Conn, req: &Req<'_>, len: u32) -> Result<(), SmbError> {
    if conn.server_capabilities & shoal_smb_proto::negotiate::capabilities::LARGE_MTU != 0 {
        let needed = u32::from(req.hdr.credit_charge.max(1)) * 65536;
        if len > needed {
            return fail(NtStatus::INVALID_PARAMETER);
        }
    } else if len > 65536 {
        return fail(NtStatus::INVALID_PARAMETER);
    }
    Ok(())
}

/// READ.
pub(crate) async fn read(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let r = ReadRequest::decode(req.msg)?;
    let id = req.file_id(r.file_id);
    let (identity, share) = tree_of(conn, req)?;
    check_charge(conn, req, r.length)?;
    if r.length > conn.shared.config.max_io() {
        return fail(NtStatus::INVALID_PARAMETER);
    }
    let Some(open) = conn.opens.get_mut(&id).filter(|o| o.session_id == req.session_id && o.tree_id == req.tree_id)
    else {
        return fail(NtStatus::FILE_CLOSED);
    };
    let (data, status) = match &mut open.kind {
        OpenKind::Pipe(p) => {
            let (data, more) = p.read(r.length as usize);
            if data.is_empty() {
                return fail(NtStatus(0xC000_00D9)); // STATUS_PIPE_EMPTY
            }
            (data, if more { NtStatus::BUFFER_OVERFLOW } else { NtStatus::SUCCESS })
        }
        OpenKind::File { is_dir: true, .. } => return fail(NtStatus::INVALID_DEVICE_REQUEST),
        OpenKind::File { handle, .. } => {
            if open.granted & READ_DATA == 0 {
                return fail(NtStatus::ACCESS_DENIED);
            }
            let handle = handle.clone();
            let vfs = conn.shared.vfs.clone();
            let caller = caller_for(conn, &identity, &share);
            let (data, _eof, _) = blocking(move || Ok(vfs.read(&caller, &handle, r.offset, r.length)?)).await?;
            if data.is_empty() || (data.len() as u64) < u64::from(r.minimum_count) {
                return fail(NtStatus::END_OF_FILE);
            }
            (data, NtStatus::SUCCESS)
        }
    };
    let mut body = Vec::with_capacity(data.len() + 16);
    encode_read_response(&mut body, &data, 0);
    Ok(Reply::with_status(status, body))
}

/// WRITE.
pub(crate) async fn write(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let w = WriteRequest::decode(req.msg)?;
    let id = req.file_id(w.file_id);
    let (identity, share) = tree_of(conn, req)?;
    check_charge(conn, req, u32::try_from(w.data.len()).unwrap_or(u32::MAX))?;
    let Some(open) = conn.opens.get_mut(&id).filter(|o| o.session_id == req.session_id && o.tree_id == req.tree_id)
    else {
        return fail(NtStatus::FILE_CLOSED);
    };
    let count = match &mut open.kind {
        OpenKind::Pipe(p) => p.write(w.data)?,
        OpenKind::File { is_dir: true, .. } => return fail(NtStatus::INVALID_DEVICE_REQUEST),
        OpenKind::File { handle, .. } => {
            if open.granted & WRITE_DATA == 0 {
                return fail(NtStatus::ACCESS_DENIED);
            }
            let handle = handle.clone();
            let vfs = conn.shared.vfs.clone();
            let caller = caller_for(conn, &identity, &share);
            let data = w.data.to_vec();
            let (n, _, _) =
                blocking(move || Ok(vfs.write(&caller, &handle, w.offset, &data, WriteStability::FileSync)?)).await?;
            n
        }
    };
    let mut body = Vec::new();
    encode_write_response(&mut body, count);
    Ok(Reply::ok(body))
}
