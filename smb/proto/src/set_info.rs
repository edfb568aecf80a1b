//! SET_INFO (MS-SMB2 2.2.39, 2.2.40) and the file information classes it carries
//! (MS-FSCC 2.4.7 Basic, 2.4.11 Disposition, 2.4.11.2 DispositionEx, 2.4.14 EndOfFile,
//! 2.4.4 Allocation, 2.4.35 Position, 2.4.37.2 Rename for SMB2).

use bytes::BufMut;

use crate::header::HEADER_LEN;
use crate::misc::FileId;
use crate::reader::{slice_at, DecodeError, Reader};

/// File information classes accepted by SET_INFO (MS-FSCC 2.4).
pub mod set_class {
    /// FileBasicInformation.
    pub const BASIC: u8 = 4;
    /// FileRenameInformation.
    pub const RENAME: u8 = 10;
    /// FileLinkInformation.
    pub const LINK: u8 = 11;
    /// FileDispositionInformation.
    pub const DISPOSITION: u8 = 13;
    /// FilePositionInformation.
    pub const POSITION: u8 = 14;
    /// FileModeInformation.
    pub const MODE: u8 = 16;
    /// FileAllocationInformation.
    pub const ALLOCATION: u8 = 19;
    /// FileEndOfFileInformation.
    pub const END_OF_FILE: u8 = 20;
    /// FileValidDataLengthInformation.
    pub const VALID_DATA_LENGTH: u8 = 39;
    /// FileDispositionInformationEx.
    pub const DISPOSITION_EX: u8 = 64;
}

/// FileDispositionInformationEx flags (MS-FSCC 2.4.11.2).
pub mod disposition_ex {
    /// Mark for deletion.
    pub const DELETE: u32 = 0x1;
    /// POSIX semantics (unlink while open).
    pub const POSIX_SEMANTICS: u32 = 0x2;
    /// Delete even when read-only.
    pub const IGNORE_READONLY: u32 = 0x10;
    /// Delete when the last handle closes (FILE_DISPOSITION_ON_CLOSE).
    pub const ON_CLOSE: u32 = 0x8;
}

/// SMB2 SET_INFO request (MS-SMB2 2.2.39).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetInfoRequest<'a> {
    /// InfoType.
    pub info_type: u8,
    /// FileInfoClass.
    pub class: u8,
    /// AdditionalInformation.
    pub additional: u32,
    /// FileId.
    pub file_id: FileId,
    /// Buffer.
    pub buffer: &'a [u8],
}

impl<'a> SetInfoRequest<'a> {
    /// Decodes; `msg` starts at the SMB2 header.
    pub fn decode(msg: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.structure_size(33)?;
        let info_type = r.u8()?;
        let class = r.u8()?;
        let len = usize::try_from(r.u32()?).map_err(|_| DecodeError::OutOfBounds)?;
        let off = usize::from(r.u16()?);
        r.skip(2)?;
        let additional = r.u32()?;
        let file_id = FileId::decode(&mut r)?;
        let buffer = slice_at(msg, off, len)?;
        Ok(SetInfoRequest {
            info_type,
            class,
            additional,
            file_id,
            buffer,
        })
    }
}

/// Encodes the SET_INFO response body (MS-SMB2 2.2.40).
pub fn encode_set_info_response(out: &mut impl BufMut) {
    out.put_u16_le(2);
}

/// FileBasicInformation (MS-FSCC 2.4.7): a time of 0 means "do not change", -1 "stop
/// updating it on this handle" (treated as unchanged), -2 "resume".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BasicInfo {
    /// CreationTime.
    pub creation_time: i64,
    /// LastAccessTime.
    pub last_access_time: i64,
    /// LastWriteTime.
    pub last_write_time: i64,
    /// ChangeTime.
    pub change_time: i64,
    /// FileAttributes (0 = do not change).
    pub attributes: u32,
}

impl BasicInfo {
    /// Decodes from a SET_INFO buffer (at least 36 bytes; the trailing Reserved is optional).
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let creation_time = r.u64()? as i64;
        let last_access_time = r.u64()? as i64;
        let last_write_time = r.u64()? as i64;
        let change_time = r.u64()? as i64;
        let attributes = r.u32()?;
        Ok(BasicInfo {
            creation_time,
            last_access_time,
            last_write_time,
            change_time,
            attributes,
        })
    }
}

/// FileRenameInformation for SMB2 (MS-FSCC 2.4.37.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenameInfo {
    /// ReplaceIfExists.
    pub replace_if_exists: bool,
    /// Target path relative to the share root.
    pub name: String,
}

impl RenameInfo {
    /// Decodes from a SET_INFO buffer.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let replace_if_exists = r.u8()? != 0;
        r.skip(7)?;
        r.skip(8)?; // RootDirectory: MUST be 0 for SMB2
        let len = usize::try_from(r.u32()?).map_err(|_| DecodeError::OutOfBounds)?;
        let name = crate::utf16_to_string(r.take(len)?)?;
        Ok(RenameInfo {
            replace_if_exists,
            name,
        })
    }
}

/// A u64 buffer (EndOfFile, Allocation, Position).
pub fn decode_u64(b: &[u8]) -> Result<u64, DecodeError> {
    Reader::new(b).u64()
}

/// A u32 buffer (DispositionEx flags, Mode).
pub fn decode_u32(b: &[u8]) -> Result<u32, DecodeError> {
    Reader::new(b).u32()
}

/// A u8 buffer (Disposition DeletePending).
pub fn decode_u8(b: &[u8]) -> Result<u8, DecodeError> {
    Reader::new(b).u8()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_decodes_and_bounds() {
        let mut b = vec![1u8, 0, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&[b'a', 0, b'b', 0]);
        let r = RenameInfo::decode(&b).unwrap();
        assert!(r.replace_if_exists);
        assert_eq!(r.name, "ab");
        b[16] = 200;
        assert!(RenameInfo::decode(&b).is_err());
    }

    #[test]
    fn basic_needs_36_bytes() {
        assert!(BasicInfo::decode(&[0; 35]).is_err());
        assert_eq!(BasicInfo::decode(&[0; 40]).unwrap(), BasicInfo::default());
    }

    #[test]
    fn request_checks_the_buffer() {
        let mut m = vec![0u8; 64];
        m.extend_from_slice(&33u16.to_le_bytes());
        m.extend_from_slice(&[1, 20]);
        m.extend_from_slice(&8u32.to_le_bytes());
        m.extend_from_slice(&96u16.to_le_bytes());
        m.extend_from_slice(&[0; 2 + 4 + 16]);
        assert_eq!(m.len(), 96);
        assert!(SetInfoRequest::decode(&m).is_err());
        m.extend_from_slice(&7u64.to_le_bytes());
        let s = SetInfoRequest::decode(&m).unwrap();
        assert_eq!(decode_u64(s.buffer).unwrap(), 7);
    }
}
