//! CLOSE (MS-SMB2 2.2.15, 2.2.16).

use bytes::BufMut;

use crate::header::HEADER_LEN;
use crate::misc::FileId;
use crate::query_info::FileInfo;
use crate::reader::{DecodeError, Reader};

/// Flags: return attributes after close.
pub const CLOSE_FLAG_POSTQUERY_ATTRIB: u16 = 0x0001;

/// SMB2 CLOSE request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseRequest {
    /// Flags.
    pub flags: u16,
    /// FileId.
    pub file_id: FileId,
}

impl CloseRequest {
    /// Decodes; `msg` starts at the SMB2 header.
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.structure_size(24)?;
        let flags = r.u16()?;
        r.skip(4)?;
        Ok(CloseRequest {
            flags,
            file_id: FileId::decode(&mut r)?,
        })
    }
}

/// Encodes a CLOSE response body; `info` only when POSTQUERY_ATTRIB was asked.
pub fn encode_close_response(out: &mut impl BufMut, info: Option<&FileInfo>) {
    out.put_u16_le(60);
    out.put_u16_le(if info.is_some() {
        CLOSE_FLAG_POSTQUERY_ATTRIB
    } else {
        0
    });
    out.put_u32_le(0);
    let d = FileInfo::default();
    let i = info.unwrap_or(&d);
    out.put_u64_le(i.creation_time);
    out.put_u64_le(i.last_access_time);
    out.put_u64_le(i.last_write_time);
    out.put_u64_le(i.change_time);
    out.put_u64_le(i.allocation_size);
    out.put_u64_le(i.end_of_file);
    out.put_u32_le(i.attributes);
}
