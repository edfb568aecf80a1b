//! QUERY_DIRECTORY (MS-SMB2 2.2.33, 2.2.34) and the directory information classes
//! (MS-FSCC 2.4.10, 2.4.14, 2.4.17, 2.4.18, 2.4.19, 2.4.33).

use bytes::BufMut;

use crate::header::HEADER_LEN;
use crate::misc::FileId;
use crate::query_info::FileInfo;
use crate::reader::{slice_at, DecodeError, Reader};

/// Directory information classes.
pub mod class {
    /// FileDirectoryInformation.
    pub const DIRECTORY: u8 = 0x01;
    /// FileFullDirectoryInformation.
    pub const FULL_DIRECTORY: u8 = 0x02;
    /// FileBothDirectoryInformation.
    pub const BOTH_DIRECTORY: u8 = 0x03;
    /// FileNamesInformation.
    pub const NAMES: u8 = 0x0C;
    /// FileIdBothDirectoryInformation.
    pub const ID_BOTH_DIRECTORY: u8 = 0x25;
    /// FileIdFullDirectoryInformation.
    pub const ID_FULL_DIRECTORY: u8 = 0x26;
}

/// Flags.
pub mod flags {
    /// Restart the enumeration.
    pub const RESTART_SCANS: u8 = 0x01;
    /// Return one entry.
    pub const RETURN_SINGLE_ENTRY: u8 = 0x02;
    /// Start from FileIndex.
    pub const INDEX_SPECIFIED: u8 = 0x04;
    /// Reopen (restart with a new pattern).
    pub const REOPEN: u8 = 0x10;
}

/// SMB2 QUERY_DIRECTORY request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryDirectoryRequest {
    /// FileInformationClass.
    pub class: u8,
    /// Flags.
    pub flags: u8,
    /// FileIndex: where to resume when `flags` has INDEX_SPECIFIED (MS-SMB2 2.2.33).
    pub file_index: u32,
    /// FileId.
    pub file_id: FileId,
    /// Search pattern.
    pub pattern: String,
    /// OutputBufferLength.
    pub output_len: u32,
}

impl QueryDirectoryRequest {
    /// Decodes; `msg` starts at the SMB2 header.
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.structure_size(33)?;
        let class = r.u8()?;
        let flags = r.u8()?;
        let file_index = r.u32()?;
        let file_id = FileId::decode(&mut r)?;
        let off = usize::from(r.u16()?);
        let len = usize::from(r.u16()?);
        let output_len = r.u32()?;
        let pattern = crate::utf16_to_string(slice_at(msg, off, len)?)?;
        Ok(QueryDirectoryRequest {
            class,
            flags,
            file_index,
            file_id,
            pattern,
            output_len,
        })
    }
}

/// True when the class is one [`encode_dir_entry`] knows.
pub fn is_supported_class(c: u8) -> bool {
    matches!(
        c,
        class::DIRECTORY
            | class::FULL_DIRECTORY
            | class::BOTH_DIRECTORY
            | class::NAMES
            | class::ID_BOTH_DIRECTORY
            | class::ID_FULL_DIRECTORY
    )
}

/// Appends one entry of class `c` to `out` (which holds earlier entries of this response),
/// 8-byte aligned, and patches the previous entry's NextEntryOffset. `prev` is the offset of
/// the previous entry in `out`, if any; `file_index` goes in FileIndex (MS-FSCC 2.4.10: 0
/// when the server has no position to give). Returns the offset of the new entry.
pub fn encode_dir_entry(
    out: &mut Vec<u8>,
    prev: Option<usize>,
    c: u8,
    file_index: u32,
    name: &str,
    i: &FileInfo,
) -> usize {
    while !out.len().is_multiple_of(8) {
        out.put_u8(0);
    }
    let start = out.len();
    if let Some(p) = prev {
        let next = u32::try_from(start - p).unwrap_or(0).to_le_bytes();
        if let Some(slot) = out.get_mut(p..p + 4) {
            slot.copy_from_slice(&next);
        }
    }
    let name_len = u32::try_from(crate::utf16_len(name)).unwrap_or(0);
    out.put_u32_le(0); // NextEntryOffset
    out.put_u32_le(file_index);
    if c == class::NAMES {
        out.put_u32_le(name_len);
        crate::put_utf16(out, name);
        return start;
    }
    out.put_u64_le(i.creation_time);
    out.put_u64_le(i.last_access_time);
    out.put_u64_le(i.last_write_time);
    out.put_u64_le(i.change_time);
    out.put_u64_le(i.end_of_file);
    out.put_u64_le(i.allocation_size);
    out.put_u32_le(i.attributes);
    out.put_u32_le(name_len);
    match c {
        class::DIRECTORY => {}
        class::FULL_DIRECTORY => out.put_u32_le(0),
        class::ID_FULL_DIRECTORY => {
            out.put_u32_le(0);
            out.put_u32_le(0);
            out.put_u64_le(i.file_id);
        }
        class::BOTH_DIRECTORY => {
            out.put_u32_le(0);
            out.put_u8(0);
            out.put_u8(0);
            out.put_bytes(0, 24);
        }
        _ => {
            // ID_BOTH_DIRECTORY
            out.put_u32_le(0);
            out.put_u8(0);
            out.put_u8(0);
            out.put_bytes(0, 24);
            out.put_u16_le(0);
            out.put_u64_le(i.file_id);
        }
    }
    crate::put_utf16(out, name);
    start
}

/// Case-insensitive wildcard match of `name` against an SMB search pattern (`*`, `?`, and the
/// DOS wildcards `<`, `>`, `"` treated as `*`, `?`, `.`).
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let n: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
    if p.is_empty() || p == ['*'] || p == ['*', '.', '*'] || p == ['<'] {
        return true;
    }
    // Iterative glob with backtracking on the last star.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') | Some('<') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&pc)
                if pc == '?'
                    || pc == '>'
                    || (pc == '"' && n.get(ni) == Some(&'.'))
                    || Some(&pc) == n.get(ni) =>
            {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    while matches!(p.get(pi), Some('*') | Some('<')) {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_aligned_and_linked() {
        let mut out = Vec::new();
        let a = encode_dir_entry(
            &mut out,
            None,
            class::ID_BOTH_DIRECTORY,
            1,
            "a",
            &FileInfo::default(),
        );
        let b = encode_dir_entry(
            &mut out,
            Some(a),
            class::ID_BOTH_DIRECTORY,
            2,
            "bb",
            &FileInfo::default(),
        );
        assert_eq!(a, 0);
        assert_eq!(b % 8, 0);
        assert_eq!(
            u32::from_le_bytes(out[0..4].try_into().unwrap()) as usize,
            b
        );
        assert_eq!(out.len(), b + 104 + 4);
    }

    #[test]
    fn file_index_is_written_and_decoded() {
        let mut out = Vec::new();
        encode_dir_entry(
            &mut out,
            None,
            class::NAMES,
            0xDEAD_BEEF,
            "x",
            &FileInfo::default(),
        );
        assert_eq!(out[4..8], 0xDEAD_BEEFu32.to_le_bytes());

        let mut msg = vec![0u8; HEADER_LEN];
        msg.extend_from_slice(&33u16.to_le_bytes());
        msg.push(class::FULL_DIRECTORY);
        msg.push(flags::INDEX_SPECIFIED);
        msg.extend_from_slice(&7u32.to_le_bytes()); // FileIndex
        msg.extend_from_slice(&[0; 16]); // FileId
        let off = u16::try_from(HEADER_LEN + 32).unwrap();
        msg.extend_from_slice(&off.to_le_bytes());
        msg.extend_from_slice(&2u16.to_le_bytes());
        msg.extend_from_slice(&4096u32.to_le_bytes());
        msg.extend_from_slice(&[b'*', 0]);
        let q = QueryDirectoryRequest::decode(&msg).unwrap();
        assert_eq!(
            (q.file_index, q.flags, q.pattern.as_str()),
            (7, flags::INDEX_SPECIFIED, "*")
        );
        // A pattern past the end fails the request instead of panicking.
        assert!(QueryDirectoryRequest::decode(&msg[..msg.len() - 1]).is_err());
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("*", "x"));
        assert!(pattern_matches("*.TXT", "a.txt"));
        assert!(pattern_matches("a?c", "abc"));
        assert!(!pattern_matches("a?c", "abcd"));
        assert!(pattern_matches("file", "FILE"));
        assert!(!pattern_matches("file", "file2"));
    }
}
