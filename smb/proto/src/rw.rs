//! READ (MS-SMB2 2.2.19, 2.2.20) and WRITE (2.2.21, 2.2.22).

use bytes::BufMut;

use crate::header::HEADER_LEN;
use crate::misc::FileId;
use crate::reader::{slice_at, DecodeError, Reader};

/// SMB2 READ request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadRequest {
    /// Length.
    pub length: u32,
    /// Offset.
    pub offset: u64,
    /// FileId.
    pub file_id: FileId,
    /// MinimumCount.
    pub minimum_count: u32,
}

impl ReadRequest {
    /// Decodes; `msg` starts at the SMB2 header.
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.structure_size(49)?;
        r.skip(2)?;
        let length = r.u32()?;
        let offset = r.u64()?;
        let file_id = FileId::decode(&mut r)?;
        let minimum_count = r.u32()?;
        Ok(ReadRequest {
            length,
            offset,
            file_id,
            minimum_count,
        })
    }
}

/// Encodes a READ response body with `data`; `remaining` is DataRemaining.
pub fn encode_read_response(out: &mut impl BufMut, data: &[u8], remaining: u32) {
    out.put_u16_le(17);
    out.put_u8(u8::try_from(HEADER_LEN + 16).unwrap_or(0));
    out.put_u8(0);
    out.put_u32_le(u32::try_from(data.len()).unwrap_or(0));
    out.put_u32_le(remaining);
    out.put_u32_le(0);
    out.put_slice(data);
    if data.is_empty() {
        out.put_u8(0);
    }
}

/// SMB2 WRITE request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteRequest<'a> {
    /// Offset.
    pub offset: u64,
    /// FileId.
    pub file_id: FileId,
    /// Data.
    pub data: &'a [u8],
    /// Flags (SMB2_WRITEFLAG_WRITE_THROUGH = 1, WRITE_UNBUFFERED = 2).
    pub flags: u32,
}

/// WRITE Flags: the write must reach stable storage before the reply.
pub const WRITEFLAG_WRITE_THROUGH: u32 = 0x1;

impl<'a> WriteRequest<'a> {
    /// Decodes; `msg` starts at the SMB2 header.
    pub fn decode(msg: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.structure_size(49)?;
        let data_off = usize::from(r.u16()?);
        let len = usize::try_from(r.u32()?).map_err(|_| DecodeError::OutOfBounds)?;
        let offset = r.u64()?;
        let file_id = FileId::decode(&mut r)?;
        r.skip(4 + 4 + 2 + 2)?; // Channel, RemainingBytes, WriteChannelInfo offset/length
        let flags = r.u32()?;
        let data = slice_at(msg, data_off, len)?;
        Ok(WriteRequest {
            offset,
            file_id,
            data,
            flags,
        })
    }
}

/// Encodes a WRITE response body.
pub fn encode_write_response(out: &mut impl BufMut, count: u32) {
    out.put_u16_le(17);
    out.put_u16_le(0);
    out.put_u32_le(count);
    out.put_u32_le(0);
    out.put_u16_le(0);
    out.put_u16_le(0);
}
