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
        r.skip(4 + 8 + 8)?; // ImpersonationLevel, SmbCreateFlags, Reserved
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
pub fn encode_create_response(out: &mut impl BufMut, create_action: u32, info: &FileInfo, file_id: FileId) {
    out.put_u16_le(89);
    out.put_u8(0); // OplockLevel: none
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
    out.put_u32_le(0); // CreateContextsOffset
    out.put_u32_le(0); // CreateContextsLength
    out.put_u8(0);
}
