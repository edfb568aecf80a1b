//! QUERY_INFO (MS-SMB2 3.3.5.20): file and file system information classes.

use shoal_smb_proto::query_info::{
    encode_file_info, encode_fs_info, encode_output_response, file_class, FileInfo, FsInfo,
    QueryInfoRequest, INFO_FILE, INFO_FILESYSTEM, INFO_SECURITY,
};
use shoal_smb_proto::NtStatus;

use super::{caller_for, tree_of};
use crate::blocking::blocking;
use crate::conn::state::{Conn, OpenKind, TreeShare};
use crate::error::{fail, SmbError};
use crate::req::{Reply, Req};

/// AdditionalInformation bit asking for the SACL (MS-SMB2 2.2.37).
const SACL_SECURITY_INFORMATION: u32 = 0x0000_0008;

/// Classes whose encoding has a variable tail that may be truncated with BUFFER_OVERFLOW.
fn variable(info_type: u8, class: u8) -> bool {
    (info_type == INFO_FILE
        && matches!(
            class,
            file_class::ALL
                | file_class::STREAM
                | file_class::NORMALIZED_NAME
                | file_class::ALTERNATE_NAME
        ))
        || info_type == INFO_FILESYSTEM
}

/// QUERY_INFO.
pub(crate) async fn handle(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let q = QueryInfoRequest::decode(req.msg)?;
    let id = req.file_id(q.file_id);
    let (identity, share) = tree_of(conn, req)?;
    let (handle, granted, path) = match conn.opens.get(&id) {
        Some(o) if o.session_id == req.session_id && o.tree_id == req.tree_id => match &o.kind {
            OpenKind::File { handle, .. } => (Some(handle.clone()), o.granted, o.path.clone()),
            OpenKind::Pipe(_) => (None, o.granted, o.path.clone()),
        },
        _ => return fail(NtStatus::FILE_CLOSED),
    };
    // MS-FSA 2.1.5.12: classes that read attributes need FILE_READ_ATTRIBUTES, the EA list
    // FILE_READ_EA, the security descriptor READ_CONTROL.
    let needed = match (q.info_type, q.class) {
        (
            INFO_FILE,
            file_class::BASIC
            | file_class::ALL
            | file_class::NETWORK_OPEN
            | file_class::ATTRIBUTE_TAG,
        ) => 0x80,
        (INFO_FILE, 15) => 0x8, // FileFullEaInformation: FILE_READ_EA
        // MS-FSA 2.1.5.13: the SACL needs ACCESS_SYSTEM_SECURITY, the other parts READ_CONTROL.
        (INFO_SECURITY, _) => {
            let sacl = q.additional & SACL_SECURITY_INFORMATION != 0;
            let others = q.additional & !SACL_SECURITY_INFORMATION != 0 || !sacl;
            (if sacl { 0x0100_0000 } else { 0 }) | (if others { 0x0002_0000 } else { 0 })
        }
        _ => 0,
    };
    if handle.is_some() && granted & needed != needed {
        return fail(NtStatus::ACCESS_DENIED);
    }
    if q.info_type == INFO_FILE && q.class == 15 {
        // No extended attributes are stored (Windows' answer for a file without EAs).
        return fail(NtStatus::NO_EAS_ON_FILE);
    }
    let data = match (q.info_type, handle) {
        (INFO_FILE, None) => {
            let info = FileInfo {
                attributes: 0x80,
                nlink: 1,
                ..FileInfo::default()
            };
            encode_file_info(q.class, &info, &path, granted)
        }
        (INFO_FILE, Some(h)) => {
            let vfs = conn.shared.vfs.clone();
            let caller = caller_for(conn, &identity, &share);
            let mut info = blocking(move || {
                let attr = vfs.getattr(&caller, &h)?;
                Ok(super::dos::info_of(&*vfs, &caller, &h, &attr))
            })
            .await?;
            let name = if path.is_empty() {
                "\\".to_string()
            } else {
                format!("\\{path}")
            };
            if let Some(o) = conn.opens.get(&id) {
                if let OpenKind::File { io, mode, .. } = &o.kind {
                    info.position = io.position.load(std::sync::atomic::Ordering::Relaxed);
                    info.mode = *mode;
                }
                info.delete_pending = o
                    .lock
                    .is_some_and(|l| conn.shared.config.locks.delete_pending_for(l.key, l.id));
            }
            encode_file_info(q.class, &info, &name, granted)
        }
        (INFO_FILESYSTEM, h) => {
            let h = match (h, &share) {
                (Some(h), _) => h,
                (None, TreeShare::Disk(s)) => s.root.clone(),
                (None, TreeShare::Ipc) => return fail(NtStatus::INVALID_DEVICE_REQUEST),
            };
            let vfs = conn.shared.vfs.clone();
            let caller = caller_for(conn, &identity, &share);
            let st = blocking(move || Ok(vfs.fsstat(&caller, &h)?)).await?;
            let unit = 4096u64;
            let label = match &share {
                TreeShare::Disk(s) => s.name.clone(),
                TreeShare::Ipc => String::new(),
            };
            let serial = u32::from_le_bytes([
                conn.shared.server_guid[0],
                conn.shared.server_guid[1],
                conn.shared.server_guid[2],
                conn.shared.server_guid[3],
            ]);
            let fs = FsInfo {
                total_units: st.total_bytes / unit,
                caller_available_units: st.avail_bytes / unit,
                actual_available_units: st.free_bytes / unit,
                bytes_per_unit: unit as u32,
                serial,
                label,
            };
            encode_fs_info(q.class, &fs)
        }
        (INFO_SECURITY, Some(h)) => {
            let vfs = conn.shared.vfs.clone();
            let caller = caller_for(conn, &identity, &share);
            Some(super::security::query(vfs, caller, identity, h, q.additional).await?)
        }
        (INFO_SECURITY, None) => return fail(NtStatus::NOT_SUPPORTED),
        _ => return fail(NtStatus::INVALID_PARAMETER),
    };
    let Some(mut data) = data else {
        return fail(NtStatus::INVALID_INFO_CLASS);
    };
    let max = usize::try_from(q.output_len).unwrap_or(0);
    let mut status = NtStatus::SUCCESS;
    if data.len() > max {
        if q.info_type == INFO_SECURITY {
            // MS-SMB2 3.3.5.20.3: BUFFER_TOO_SMALL with the required length as error data,
            // never a truncated descriptor.
            let mut body = Vec::with_capacity(20);
            shoal_smb_proto::security_descriptor::encode_buffer_too_small(
                &mut body,
                u32::try_from(data.len()).unwrap_or(u32::MAX),
                conn.negotiated() == Some(shoal_smb_proto::Dialect::SMB3_1_1),
            );
            return Ok(Reply::with_status(NtStatus::BUFFER_TOO_SMALL, body));
        }
        if !variable(q.info_type, q.class)
            || max < shoal_smb_proto::query_info::fixed_len(q.info_type, q.class, data.len())
        {
            return fail(NtStatus::INFO_LENGTH_MISMATCH);
        }
        data.truncate(max);
        status = NtStatus::BUFFER_OVERFLOW;
    }
    let mut body = Vec::with_capacity(data.len() + 8);
    encode_output_response(&mut body, &data);
    Ok(Reply::with_status(status, body))
}
