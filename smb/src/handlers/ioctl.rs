//! IOCTL (MS-SMB2 3.3.5.15): pipe transceive, VALIDATE_NEGOTIATE_INFO, server-side copy
//! (SRV_REQUEST_RESUME_KEY, SRV_COPYCHUNK, SRV_COPYCHUNK_WRITE), SET_SPARSE (accepted, a
//! no-op: files are sparse whenever the backing filesystem makes them so),
//! GET_REPARSE_POINT (nothing is a reparse point), DFS referrals (no DFS),
//! QUERY_NETWORK_INTERFACE_INFO (the addresses SMB listens on, [`netif`]), GET_OBJECT_ID and
//! CREATE_OR_GET_OBJECT_ID (derived from the file id; nothing is stored).

use shoal_smb_proto::ioctl::{
    copychunk_limits, encode_copychunk_response, encode_ioctl_response, CopyChunkCopy,
    IoctlRequest, FSCTL_DFS_GET_REFERRALS, FSCTL_GET_REPARSE_POINT, FSCTL_PIPE_TRANSCEIVE,
    FSCTL_QUERY_NETWORK_INTERFACE_INFO, FSCTL_SET_SPARSE, FSCTL_SRV_COPYCHUNK,
    FSCTL_SRV_COPYCHUNK_WRITE, FSCTL_SRV_REQUEST_RESUME_KEY, FSCTL_VALIDATE_NEGOTIATE_INFO,
};
use shoal_smb_proto::ioctl::{
    encode_network_interfaces, encode_object_id, FILE_OBJECTID_BUFFER_LEN,
    FSCTL_CREATE_OR_GET_OBJECT_ID, FSCTL_GET_OBJECT_ID, IOCTL_IS_FSCTL, NETWORK_INTERFACE_INFO_LEN,
};
use shoal_smb_proto::misc::FileId;
use shoal_smb_proto::negotiate::{encode_validate_negotiate_response, ValidateNegotiateInfo};
use shoal_smb_proto::NtStatus;
use shoal_vfs::WriteStability;

use super::tree_of;
use crate::conn::state::{Conn, OpenKind};
use crate::error::{fail, SmbError};
use crate::req::{Reply, Req};

/// IOCTL.
pub(crate) async fn handle(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let io = IoctlRequest::decode(req.msg)?;
    let _ = tree_of(conn, req)?;
    match io.ctl_code {
        FSCTL_SRV_REQUEST_RESUME_KEY => {
            let id = req.file_id(io.file_id);
            file_open(conn, req, id)?;
            if io.max_output < 32 {
                return fail(NtStatus::INVALID_PARAMETER);
            }
            // The key names the open: its FileId and session (MS-SMB2 2.2.32.3: opaque).
            let mut out = Vec::with_capacity(32);
            out.extend_from_slice(&id.persistent.to_le_bytes());
            out.extend_from_slice(&id.volatile.to_le_bytes());
            out.extend_from_slice(&req.session_id.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes()); // ContextLength
            out.extend_from_slice(&[0; 4]);
            let mut body = Vec::new();
            encode_ioctl_response(&mut body, io.ctl_code, id, &out);
            Ok(Reply::ok(body))
        }
        FSCTL_SRV_COPYCHUNK | FSCTL_SRV_COPYCHUNK_WRITE => copychunk(conn, req, &io).await,
        FSCTL_SET_SPARSE => {
            let id = req.file_id(io.file_id);
            let (_, granted) = file_open(conn, req, id)?;
            if granted & (WRITE_DATA | 0x100) == 0 {
                return fail(NtStatus::ACCESS_DENIED);
            }
            let mut body = Vec::new();
            encode_ioctl_response(&mut body, io.ctl_code, id, &[]);
            Ok(Reply::ok(body))
        }
        FSCTL_GET_REPARSE_POINT => {
            file_open(conn, req, req.file_id(io.file_id))?;
            fail(NtStatus::NOT_A_REPARSE_POINT)
        }
        FSCTL_VALIDATE_NEGOTIATE_INFO => validate_negotiate(conn, &io),
        FSCTL_PIPE_TRANSCEIVE => {
            let id = req.file_id(io.file_id);
            let Some(open) = conn
                .opens
                .get_mut(&id)
                .filter(|o| o.session_id == req.session_id && o.tree_id == req.tree_id)
            else {
                return fail(NtStatus::FILE_CLOSED);
            };
            let OpenKind::Pipe(p) = &mut open.kind else {
                return fail(NtStatus::INVALID_DEVICE_REQUEST);
            };
            p.write(io.input)?;
            let (data, more) = p.read(io.max_output as usize);
            let mut body = Vec::with_capacity(data.len() + 48);
            encode_ioctl_response(&mut body, io.ctl_code, id, &data);
            Ok(Reply::with_status(
                if more {
                    NtStatus::BUFFER_OVERFLOW
                } else {
                    NtStatus::SUCCESS
                },
                body,
            ))
        }
        FSCTL_DFS_GET_REFERRALS => fail(NtStatus::NOT_FOUND),
        FSCTL_QUERY_NETWORK_INTERFACE_INFO => network_interfaces(conn, &io).await,
        FSCTL_GET_OBJECT_ID | FSCTL_CREATE_OR_GET_OBJECT_ID => object_id(conn, req, &io).await,
        // MS-SMB2 3.3.5.15: the open is looked up before the control code is acted on, so an
        // unknown FileId is FILE_CLOSED even for an unsupported FSCTL (smbtorture
        // smb2.compound.related5); QUERY_NETWORK_INTERFACE_INFO names no open.
        ctl if ctl != shoal_smb_proto::ioctl::FSCTL_QUERY_NETWORK_INTERFACE_INFO
            && !conn
                .opens
                .get(&req.file_id(io.file_id))
                .is_some_and(|o| o.session_id == req.session_id && o.tree_id == req.tree_id) =>
        {
            fail(NtStatus::FILE_CLOSED)
        }
        _ => fail(NtStatus::NOT_SUPPORTED),
    }
}

mod netif;

/// GET_OBJECT_ID / CREATE_OR_GET_OBJECT_ID (MS-FSCC 2.3.27, 2.3.7) on a file or directory
/// open: a FILE_OBJECTID_BUFFER derived from the file id, as Samba answers; an output
/// buffer smaller than it "MUST be failed with STATUS_INVALID_PARAMETER" (MS-FSA 2.1.5.10.1,
/// 2.1.5.10.13).
async fn object_id(
    conn: &mut Conn,
    req: &Req<'_>,
    io: &IoctlRequest<'_>,
) -> Result<Reply, SmbError> {
    let id = req.file_id(io.file_id);
    let (handle, _) = open_of(conn, req, id, true)?;
    if (io.max_output as usize) < FILE_OBJECTID_BUFFER_LEN {
        return fail(NtStatus::INVALID_PARAMETER);
    }
    let (identity, share) = tree_of(conn, req)?;
    let vfs = conn.shared.vfs.clone();
    let caller = super::caller_for(conn, &identity, &share);
    let attr = crate::blocking::blocking(move || Ok(vfs.getattr(&caller, &handle)?)).await?;
    let mut out = Vec::with_capacity(FILE_OBJECTID_BUFFER_LEN);
    encode_object_id(&mut out, attr.fileid, attr.fsid);
    let mut body = Vec::new();
    encode_ioctl_response(&mut body, io.ctl_code, id, &out);
    Ok(Reply::ok(body))
}

/// FSCTL_QUERY_NETWORK_INTERFACE_INFO (MS-SMB2 3.3.5.15.11): one NETWORK_INTERFACE_INFO per
/// address SMB is reachable on ([`netif`]). The FileId is not looked at (clients send all
/// ones); a list longer than MaxOutputResponse fails with STATUS_BUFFER_TOO_SMALL.
async fn network_interfaces(conn: &Conn, io: &IoctlRequest<'_>) -> Result<Reply, SmbError> {
    if io.flags & IOCTL_IS_FSCTL == 0 {
        return fail(NtStatus::INVALID_DEVICE_REQUEST);
    }
    // Reads /sys and /proc: file I/O, so on the blocking pool, not the connection's task.
    let listen = conn.shared.listen_addr;
    let list = crate::blocking::blocking(move || Ok(netif::interfaces(listen))).await?;
    let mut out = Vec::with_capacity(list.len() * NETWORK_INTERFACE_INFO_LEN);
    encode_network_interfaces(&mut out, &list);
    if out.len() > io.max_output as usize {
        return fail(NtStatus::BUFFER_TOO_SMALL);
    }
    let mut body = Vec::with_capacity(out.len() + 48);
    encode_ioctl_response(&mut body, io.ctl_code, io.file_id, &out);
    Ok(Reply::ok(body))
}

/// FILE_READ_DATA.
const READ_DATA: u32 = 0x1;
/// FILE_WRITE_DATA | FILE_APPEND_DATA.
const WRITE_DATA: u32 = 0x6;

/// The handle and granted access of a file open of this session and tree.
fn file_open(
    conn: &Conn,
    req: &Req<'_>,
    id: FileId,
) -> Result<(shoal_vfs::FileHandle, u32), SmbError> {
    open_of(conn, req, id, false)
}

/// The handle and granted access of an open of this session and tree: a file, or also a
/// directory with `allow_dir`; a pipe (or a directory without it) is INVALID_DEVICE_REQUEST.
fn open_of(
    conn: &Conn,
    req: &Req<'_>,
    id: FileId,
    allow_dir: bool,
) -> Result<(shoal_vfs::FileHandle, u32), SmbError> {
    match conn.opens.get(&id) {
        Some(o) if o.session_id == req.session_id && o.tree_id == req.tree_id => match &o.kind {
            OpenKind::File { handle, is_dir, .. } if allow_dir || !is_dir => {
                Ok((handle.clone(), o.granted))
            }
            OpenKind::File { .. } | OpenKind::Pipe(_) => fail(NtStatus::INVALID_DEVICE_REQUEST),
        },
        _ => fail(NtStatus::FILE_CLOSED),
    }
}

/// SRV_COPYCHUNK / SRV_COPYCHUNK_WRITE (MS-SMB2 3.3.5.15.6).
async fn copychunk(
    conn: &mut Conn,
    req: &Req<'_>,
    io: &IoctlRequest<'_>,
) -> Result<Reply, SmbError> {
    use copychunk_limits::*;
    let id = req.file_id(io.file_id);
    let (target, tgranted) = file_open(conn, req, id)?;
    if io.input.len() < 32 || io.max_output < 12 {
        return fail(NtStatus::INVALID_PARAMETER);
    }
    let cc = CopyChunkCopy::decode(io.input)?;
    let total: u64 = cc.chunks.iter().map(|c| u64::from(c.length)).sum();
    if cc.chunk_count > MAX_CHUNK_COUNT
        || cc
            .chunks
            .iter()
            .any(|c| c.length > MAX_CHUNK_SIZE || c.length == 0)
        || total > u64::from(MAX_TOTAL)
    {
        // The response carries the server's limits.
        let mut out = Vec::with_capacity(12);
        encode_copychunk_response(&mut out, MAX_CHUNK_COUNT, MAX_CHUNK_SIZE, MAX_TOTAL);
        let mut body = Vec::new();
        encode_ioctl_response(&mut body, io.ctl_code, id, &out);
        return Ok(Reply::with_status(NtStatus::INVALID_PARAMETER, body));
    }
    let key = cc.source_key;
    let word = |i: usize| {
        key.get(i..i + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
            .unwrap_or(0)
    };
    let (src_id, src_session) = (
        FileId {
            persistent: word(0),
            volatile: word(8),
        },
        word(16),
    );
    let (source, sgranted) = match conn.opens.get(&src_id) {
        Some(o) if o.session_id == src_session && src_session == req.session_id => match &o.kind {
            OpenKind::File {
                handle,
                is_dir: false,
                ..
            } => (handle.clone(), o.granted),
            _ => return fail(NtStatus::OBJECT_NAME_NOT_FOUND),
        },
        _ => return fail(NtStatus::OBJECT_NAME_NOT_FOUND),
    };
    // The source must be readable; the target writable, and readable for SRV_COPYCHUNK.
    if sgranted & READ_DATA == 0
        || tgranted & WRITE_DATA == 0
        || (io.ctl_code == FSCTL_SRV_COPYCHUNK && tgranted & READ_DATA == 0)
    {
        return fail(NtStatus::ACCESS_DENIED);
    }
    let (identity, share) = tree_of(conn, req)?;
    let vfs = conn.shared.vfs.clone();
    let caller = super::caller_for(conn, &identity, &share);
    let chunks = cc.chunks;
    let (done, bytes, status) = crate::blocking::blocking(move || {
        let (mut done, mut bytes) = (0u32, 0u32);
        for c in &chunks {
            let (data, _, _) = match vfs.read(&caller, &source, c.source_offset, c.length) {
                Ok(r) => r,
                Err(e) => return Ok((done, bytes, crate::error::vfs_status(&e))),
            };
            if data.len() < c.length as usize {
                return Ok((done, bytes, NtStatus::END_OF_FILE));
            }
            match vfs.write(
                &caller,
                &target,
                c.target_offset,
                &data,
                WriteStability::Unstable,
            ) {
                Ok((n, _, _)) => bytes = bytes.saturating_add(n),
                Err(e) => return Ok((done, bytes, crate::error::vfs_status(&e))),
            }
            done += 1;
        }
        Ok((done, bytes, NtStatus::SUCCESS))
    })
    .await?;
    if status.is_error() && done == 0 {
        return fail(status);
    }
    let mut out = Vec::with_capacity(12);
    // ChunkBytesWritten is 0 after a complete success (MS-SMB2 2.2.32.1).
    encode_copychunk_response(&mut out, done, 0, bytes);
    let mut body = Vec::new();
    encode_ioctl_response(&mut body, io.ctl_code, id, &out);
    Ok(Reply::with_status(
        if status.is_error() {
            status
        } else {
            NtStatus::SUCCESS
        },
        body,
    ))
}

/// MS-SMB2 3.3.5.15.12: the values must match what NEGOTIATE saw, else the connection is
/// terminated (a man in the middle downgraded it).
fn validate_negotiate(conn: &mut Conn, io: &IoctlRequest<'_>) -> Result<Reply, SmbError> {
    let v = ValidateNegotiateInfo::decode(io.input)?;
    let Some(dialect) = conn.negotiated() else {
        return Err(SmbError::Disconnect("validate before negotiate"));
    };
    if dialect == shoal_smb_proto::Dialect::SMB3_1_1 {
        // 3.1.1 is protected by preauth integrity; Windows closes the connection here too.
        return Err(SmbError::Disconnect("VALIDATE_NEGOTIATE_INFO on 3.1.1"));
    }
    // The greatest common dialect of the request's list must be the one negotiated.
    let best = shoal_smb_proto::Dialect::SUPPORTED
        .into_iter()
        .find(|d| v.dialects.contains(d));
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
    encode_validate_negotiate_response(
        &mut out,
        conn.server_capabilities,
        &conn.shared.server_guid,
        conn.server_security_mode,
        dialect,
    );
    let mut body = Vec::new();
    encode_ioctl_response(&mut body, io.ctl_code, io.file_id, &out);
    Ok(Reply::ok(body))
}
