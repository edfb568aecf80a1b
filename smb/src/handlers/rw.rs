//! READ (MS-SMB2 3.3.5.12) and WRITE (3.3.5.13) on files and named pipes.

use shoal_smb_proto::rw::{encode_read_response, encode_write_response, ReadRequest, WriteRequest};
use shoal_smb_proto::NtStatus;
use shoal_vfs::WriteStability;

use super::{caller_for, tree_of};
use crate::blocking::{blocking, can_block_in_place, run_blocking, run_in_place};
use crate::conn::state::{Conn, OpenKind};
use crate::error::{fail, SmbError};
use crate::read_job::ReadJob;
use crate::req::{Reply, Req};

/// FILE_READ_DATA | FILE_EXECUTE (reading for execution is reading: MS-SMB2 3.3.5.12).
const READ_DATA: u32 = 0x1 | 0x20;
/// Largest file offset + length a WRITE may reach (NTFS MAXFILESIZE, as Windows and Samba).
const MAX_FILE_SIZE: u64 = 0xFFF_FFFF_0000;
/// Largest offset (a signed 64-bit file position on the wire).
const MAX_OFFSET: u64 = i64::MAX as u64;
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
    let caller = caller_for(conn, &identity, &share);
    let vfs = conn.shared.vfs.clone();
    let Some(open) = conn
        .opens
        .get_mut(&id)
        .filter(|o| o.session_id == req.session_id && o.tree_id == req.tree_id)
    else {
        return fail(NtStatus::FILE_CLOSED);
    };
    let (data, status) = match &mut open.kind {
        OpenKind::Pipe(p) => {
            let (data, more) = p.read(r.length as usize);
            if data.is_empty() {
                return fail(NtStatus(0xC000_00D9)); // STATUS_PIPE_EMPTY
            }
            (
                data,
                if more {
                    NtStatus::BUFFER_OVERFLOW
                } else {
                    NtStatus::SUCCESS
                },
            )
        }
        OpenKind::File { is_dir: true, .. } => return fail(NtStatus::INVALID_DEVICE_REQUEST),
        OpenKind::File { handle, io, .. } => {
            if open.granted & READ_DATA == 0 {
                return fail(NtStatus::ACCESS_DENIED);
            }
            if r.offset > MAX_OFFSET
                || (r.length > 0 && r.offset.saturating_add(u64::from(r.length)) > MAX_OFFSET)
            {
                return fail(NtStatus::INVALID_PARAMETER);
            }
            if r.length == 0 && r.minimum_count == 0 {
                // A zero-length read succeeds with no data, even at end of file.
                let mut body = Vec::with_capacity(17);
                encode_read_response(&mut body, &[], 0);
                return Ok(Reply::ok(body));
            }
            if let Some(t) = open.lock {
                // Byte-range locks of other opens (MS-FSA 2.1.4.10): one map lookup when the
                // file has no lock state.
                conn.shared.config.locks.check_io(
                    t.key,
                    t.id,
                    r.offset,
                    u64::from(r.length),
                    false,
                )?;
            }
            let job = ReadJob {
                vfs,
                caller,
                handle: handle.clone(),
                offset: r.offset,
                length: r.length,
                minimum_count: r.minimum_count,
                io: io.clone(),
                file_id: id,
            };
            if req.may_defer {
                // Completed off the connection task (`conn::inflight`), overlapping with the
                // requests that follow.
                return Ok(Reply {
                    deferred: Some(job),
                    ..Reply::default()
                });
            }
            let data = run_blocking(move || job.read()).await?;
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
    let Some(open) = conn
        .opens
        .get_mut(&id)
        .filter(|o| o.session_id == req.session_id && o.tree_id == req.tree_id)
    else {
        return fail(NtStatus::FILE_CLOSED);
    };
    let count = match &mut open.kind {
        OpenKind::Pipe(p) => p.write(w.data)?,
        OpenKind::File { is_dir: true, .. } => return fail(NtStatus::INVALID_DEVICE_REQUEST),
        OpenKind::File { handle, io, .. } => {
            if open.granted & WRITE_DATA == 0 {
                return fail(NtStatus::ACCESS_DENIED);
            }
            let target = open.lock;
            let handle = handle.clone();
            let io = io.clone();
            let vfs = conn.shared.vfs.clone();
            let caller = caller_for(conn, &identity, &share);
            let offset = w.offset;
            let len = w.data.len() as u64;
            if offset > MAX_OFFSET || (len > 0 && offset >= MAX_FILE_SIZE) {
                return fail(NtStatus::INVALID_PARAMETER);
            }
            if len > 0 && offset.saturating_add(len) >= MAX_FILE_SIZE {
                // Reaching NTFS's largest size: Windows answers DISK_FULL.
                return fail(NtStatus::DISK_FULL);
            }
            if len == 0 {
                let mut body = Vec::new();
                encode_write_response(&mut body, 0);
                return Ok(Reply::ok(body));
            }
            if let Some(t) = target {
                // FILE_LOCK_CONFLICT where a lock forbids the write (MS-FSA 2.1.4.10).
                conn.shared
                    .config
                    .locks
                    .check_io(t.key, t.id, offset, len, true)?;
            }
            // MS-SMB2 3.3.5.13: durable before the reply only with WRITE_THROUGH; FLUSH
            // makes the rest durable.
            let stability = if w.flags & shoal_smb_proto::rw::WRITEFLAG_WRITE_THROUGH != 0 {
                WriteStability::FileSync
            } else {
                WriteStability::Unstable
            };
            let (n, _, _) = if can_block_in_place() {
                // Borrows the payload from the request: no copy.
                run_in_place(|| Ok(vfs.write(&caller, &handle, offset, w.data, stability)?))?
            } else {
                let data = w.data.to_vec();
                blocking(move || Ok(vfs.write(&caller, &handle, offset, &data, stability)?)).await?
            };
            io.moved(offset, u64::from(n), true);
            n
        }
    };
    let mut body = Vec::new();
    encode_write_response(&mut body, count);
    Ok(Reply::ok(body))
}
