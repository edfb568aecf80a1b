//! Small fixed-size requests: ECHO (MS-SMB2 2.2.28), CANCEL (2.2.30), FLUSH (2.2.17).

use crate::header::HEADER_LEN;
use crate::reader::{DecodeError, Reader};

/// Decodes an ECHO request.
pub fn decode_echo(msg: &[u8]) -> Result<(), DecodeError> {
    Reader::at(msg, HEADER_LEN)?.structure_size(4)
}

/// Decodes a CANCEL request.
pub fn decode_cancel(msg: &[u8]) -> Result<(), DecodeError> {
    Reader::at(msg, HEADER_LEN)?.structure_size(4)
}

/// A 16-byte FileId (MS-SMB2 2.2.14.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FileId {
    /// Persistent part.
    pub persistent: u64,
    /// Volatile part.
    pub volatile: u64,
}

impl FileId {
    /// All ones: "the file of the previous request" inside a related compound.
    pub const RELATED: FileId = FileId {
        persistent: u64::MAX,
        volatile: u64::MAX,
    };

    /// Reads a FileId.
    pub fn decode(r: &mut Reader<'_>) -> Result<FileId, DecodeError> {
        Ok(FileId {
            persistent: r.u64()?,
            volatile: r.u64()?,
        })
    }

    /// Writes a FileId.
    pub fn encode(&self, out: &mut impl bytes::BufMut) {
        out.put_u64_le(self.persistent);
        out.put_u64_le(self.volatile);
    }
}

/// Decodes a FLUSH request, returning its FileId.
pub fn decode_flush(msg: &[u8]) -> Result<FileId, DecodeError> {
    let mut r = Reader::at(msg, HEADER_LEN)?;
    r.structure_size(24)?;
    r.skip(6)?;
    FileId::decode(&mut r)
}

/// SMB2 CHANGE_NOTIFY request (MS-SMB2 2.2.35).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeNotifyRequest {
    /// Flags (WATCH_TREE = 1).
    pub flags: u16,
    /// OutputBufferLength.
    pub output_len: u32,
    /// FileId of the directory.
    pub file_id: FileId,
    /// CompletionFilter.
    pub filter: u32,
}

impl ChangeNotifyRequest {
    /// Decodes; `msg` starts at the SMB2 header.
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.structure_size(32)?;
        let flags = r.u16()?;
        let output_len = r.u32()?;
        let file_id = FileId::decode(&mut r)?;
        let filter = r.u32()?;
        Ok(ChangeNotifyRequest {
            flags,
            output_len,
            file_id,
            filter,
        })
    }
}
