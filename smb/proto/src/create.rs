//! CREATE (MS-SMB2 2.2.13, 2.2.14).

use bytes::BufMut;

use crate::header::HEADER_LEN;
use crate::misc::FileId;
use crate::query_info::FileInfo;
use crate::reader::{slice_at, DecodeError, Reader};

/// CreateDisposition values (MS-SMB2 2.2.13).
pub mod disposition {
    /// Replace if exists, else create.
    pub const SUPERSEDE: u32 = 0;
    /// Open, fail if missing.
    pub const OPEN: u32 = 1;
    /// Create, fail if exists.
    pub const CREATE: u32 = 2;
    /// Open or create.
    pub const OPEN_IF: u32 = 3;
    /// Open and truncate, fail if missing.
    pub const OVERWRITE: u32 = 4;
    /// Open and truncate, or create.
    pub const OVERWRITE_IF: u32 = 5;
}

/// CreateOptions bits used here.
pub mod options {
    /// The target must be a directory.
    pub const DIRECTORY_FILE: u32 = 0x0000_0001;
    /// The target must not be a directory.
    pub const NON_DIRECTORY_FILE: u32 = 0x0000_0040;
    /// Delete on close.
    pub const DELETE_ON_CLOSE: u32 = 0x0000_1000;
}

/// CreateAction values (MS-SMB2 2.2.14).
pub mod action {
    /// Superseded.
    pub const SUPERSEDED: u32 = 0;
    /// Opened.
    pub const OPENED: u32 = 1;
    /// Created.
    pub const CREATED: u32 = 2;
    /// Overwritten.
    pub const OVERWRITTEN: u32 = 3;
}

/// SMB2 CREATE request (MS-SMB2 2.2.13); create contexts are kept raw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateRequest<'a> {
    /// RequestedOplockLevel.
    pub oplock_level: u8,
    /// ImpersonationLevel (0..=3 are defined).
    pub impersonation_level: u32,
    /// DesiredAccess.
    pub desired_access: u32,
    /// FileAttributes.
    pub file_attributes: u32,
    /// ShareAccess.
    pub share_access: u32,
    /// CreateDisposition.
    pub disposition: u32,
    /// CreateOptions.
    pub options: u32,
    /// Name relative to the share root, UTF-16 decoded.
    pub name: String,
    /// Raw create contexts.
    pub contexts: &'a [u8],
}

impl<'a> CreateRequest<'a> {
    /// Decodes; `msg` starts at the SMB2 header.
    pub fn decode(msg: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.structure_size(57)?;
        r.skip(1)?; // SecurityFlags
        let oplock_level = r.u8()?;
        let impersonation_level = r.u32()?;
        r.skip(8 + 8)?; // SmbCreateFlags, Reserved
        let desired_access = r.u32()?;
        let file_attributes = r.u32()?;
        let share_access = r.u32()?;
        let disposition = r.u32()?;
        let options = r.u32()?;
        let name_off = usize::from(r.u16()?);
        let name_len = usize::from(r.u16()?);
        let ctx_off = usize::try_from(r.u32()?).map_err(|_| DecodeError::OutOfBounds)?;
        let ctx_len = usize::try_from(r.u32()?).map_err(|_| DecodeError::OutOfBounds)?;
        let name = crate::utf16_to_string(slice_at(msg, name_off, name_len)?)?;
        let contexts = slice_at(msg, ctx_off, ctx_len)?;
        Ok(CreateRequest {
            oplock_level,
            impersonation_level,
            desired_access,
            file_attributes,
            share_access,
            disposition,
            options,
            name,
            contexts,
        })
    }
}

/// Encodes a CREATE response body (MS-SMB2 2.2.14) without create contexts.
pub fn encode_create_response(
    out: &mut impl BufMut,
    create_action: u32,
    info: &FileInfo,
    file_id: FileId,
) {
    encode_create_response_with(out, create_action, info, file_id, 0, &[]);
}

/// Most create contexts accepted in one CREATE (stops a peer from making us walk a long chain).
pub const MAX_CONTEXTS: usize = 32;

/// One create context (MS-SMB2 2.2.13.2), borrowed from the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreateContext<'a> {
    /// Name (ASCII tag such as `MxAc`, or a 16-byte GUID).
    pub name: &'a [u8],
    /// Data.
    pub data: &'a [u8],
}

/// Create context names handled here.
pub mod context {
    /// SMB2_CREATE_QUERY_MAXIMAL_ACCESS_REQUEST.
    pub const MXAC: &[u8] = b"MxAc";
    /// SMB2_CREATE_QUERY_ON_DISK_ID.
    pub const QFID: &[u8] = b"QFid";
    /// SMB2_CREATE_ALLOCATION_SIZE.
    pub const ALSI: &[u8] = b"AlSi";
    /// SMB2_CREATE_TIMEWARP_TOKEN.
    pub const TWRP: &[u8] = b"TWrp";
    /// SMB2_CREATE_EA_BUFFER.
    pub const EXTA: &[u8] = b"ExtA";
    /// SMB2_CREATE_SD_BUFFER.
    pub const SECD: &[u8] = b"SecD";
}

/// Parses a create context chain; every offset is checked against the chain.
pub fn parse_contexts(buf: &[u8]) -> Result<Vec<CreateContext<'_>>, DecodeError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    if buf.is_empty() {
        return Ok(out);
    }
    loop {
        if out.len() >= MAX_CONTEXTS {
            return Err(DecodeError::Invalid("too many create contexts"));
        }
        let this = buf.get(at..).ok_or(DecodeError::OutOfBounds)?;
        let mut r = Reader::new(this);
        let next = usize::try_from(r.u32()?).map_err(|_| DecodeError::OutOfBounds)?;
        let name_off = usize::from(r.u16()?);
        let name_len = usize::from(r.u16()?);
        r.skip(2)?;
        let data_off = usize::from(r.u16()?);
        let data_len = usize::try_from(r.u32()?).map_err(|_| DecodeError::OutOfBounds)?;
        let end = if next == 0 { this.len() } else { next };
        let ctx = this.get(..end).ok_or(DecodeError::OutOfBounds)?;
        let name = slice_at(ctx, name_off, name_len)?;
        if name.is_empty() {
            return Err(DecodeError::Invalid("empty create context name"));
        }
        let data = slice_at(ctx, data_off, data_len)?;
        out.push(CreateContext { name, data });
        if next == 0 {
            return Ok(out);
        }
        if next < 16 || next % 8 != 0 {
            return Err(DecodeError::Invalid("misaligned create context"));
        }
        at = at.checked_add(next).ok_or(DecodeError::OutOfBounds)?;
    }
}

/// Encodes one response create context (name and data); `last` leaves Next at 0.
fn put_context(out: &mut Vec<u8>, name: &[u8], data: &[u8], last: bool) {
    let start = out.len();
    let name_len = name.len();
    let data_off = (16 + name_len).next_multiple_of(8);
    let total = (data_off + data.len()).next_multiple_of(8);
    out.put_u32_le(if last {
        0
    } else {
        u32::try_from(total).unwrap_or(0)
    });
    out.put_u16_le(16);
    out.put_u16_le(u16::try_from(name_len).unwrap_or(0));
    out.put_u16_le(0);
    out.put_u16_le(u16::try_from(data_off).unwrap_or(0));
    out.put_u32_le(u32::try_from(data.len()).unwrap_or(0));
    out.put_slice(name);
    out.resize(start + data_off, 0);
    out.put_slice(data);
    if !last {
        out.resize(start + total, 0);
    }
}

/// Encodes a CREATE response body (MS-SMB2 2.2.14) with response create contexts
/// (name, data).
pub fn encode_create_response_with(
    out: &mut impl BufMut,
    create_action: u32,
    info: &FileInfo,
    file_id: FileId,
    oplock_level: u8,
    contexts: &[(&[u8], Vec<u8>)],
) {
    let mut blob = Vec::new();
    for (i, (name, data)) in contexts.iter().enumerate() {
        put_context(&mut blob, name, data, i + 1 == contexts.len());
    }
    out.put_u16_le(89);
    out.put_u8(oplock_level); // OplockLevel (SMB2_OPLOCK_LEVEL_LEASE 0xFF with a lease)
    out.put_u8(0); // Flags
    out.put_u32_le(create_action);
    out.put_u64_le(info.creation_time);
    out.put_u64_le(info.last_access_time);
    out.put_u64_le(info.last_write_time);
    out.put_u64_le(info.change_time);
    out.put_u64_le(info.allocation_size);
    out.put_u64_le(info.end_of_file);
    out.put_u32_le(info.attributes);
    out.put_u32_le(0);
    file_id.encode(out);
    if blob.is_empty() {
        out.put_u32_le(0); // CreateContextsOffset
        out.put_u32_le(0); // CreateContextsLength
        out.put_u8(0);
    } else {
        out.put_u32_le(u32::try_from(HEADER_LEN + 88).unwrap_or(0));
        out.put_u32_le(u32::try_from(blob.len()).unwrap_or(0));
        out.put_slice(&blob);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_round_trip() {
        let mut blob = Vec::new();
        put_context(&mut blob, b"MxAc", &[], false);
        put_context(&mut blob, b"QFid", &[1, 2, 3], true);
        let c = parse_contexts(&blob).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].name, b"MxAc");
        assert_eq!(c[1].data, &[1, 2, 3]);
        assert!(parse_contexts(&blob[..20]).is_err());
        let mut bad = blob.clone();
        bad[0] = 3; // misaligned Next
        assert!(parse_contexts(&bad).is_err());
    }
}
