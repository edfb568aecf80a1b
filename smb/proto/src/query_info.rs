//! QUERY_INFO (MS-SMB2 2.2.37, 2.2.38) and the information classes it returns (MS-FSCC 2.4,
//! 2.5).

use bytes::BufMut;

use crate::header::HEADER_LEN;
use crate::misc::FileId;
use crate::reader::{DecodeError, Reader};

/// InfoType: file information.
pub const INFO_FILE: u8 = 0x01;
/// InfoType: file system information.
pub const INFO_FILESYSTEM: u8 = 0x02;
/// InfoType: security descriptor.
pub const INFO_SECURITY: u8 = 0x03;
/// InfoType: quota.
pub const INFO_QUOTA: u8 = 0x04;

/// File information classes (MS-FSCC 2.4).
pub mod file_class {
    /// FileBasicInformation.
    pub const BASIC: u8 = 4;
    /// FileStandardInformation.
    pub const STANDARD: u8 = 5;
    /// FileInternalInformation.
    pub const INTERNAL: u8 = 6;
    /// FileEaInformation.
    pub const EA: u8 = 7;
    /// FileAccessInformation.
    pub const ACCESS: u8 = 8;
    /// FilePositionInformation.
    pub const POSITION: u8 = 14;
    /// FileModeInformation.
    pub const MODE: u8 = 16;
    /// FileAlignmentInformation.
    pub const ALIGNMENT: u8 = 17;
    /// FileAllInformation.
    pub const ALL: u8 = 18;
    /// FileStreamInformation.
    pub const STREAM: u8 = 22;
    /// FileNetworkOpenInformation.
    pub const NETWORK_OPEN: u8 = 34;
    /// FileAttributeTagInformation.
    pub const ATTRIBUTE_TAG: u8 = 35;
    /// FileCompressionInformation.
    pub const COMPRESSION: u8 = 28;
    /// FileAlternateNameInformation (the 8.3 name).
    pub const ALTERNATE_NAME: u8 = 21;
    /// FileNormalizedNameInformation (SMB 3.1.1 only).
    pub const NORMALIZED_NAME: u8 = 48;
}

/// File system information classes (MS-FSCC 2.5).
pub mod fs_class {
    /// FileFsVolumeInformation.
    pub const VOLUME: u8 = 1;
    /// FileFsSizeInformation.
    pub const SIZE: u8 = 3;
    /// FileFsDeviceInformation.
    pub const DEVICE: u8 = 4;
    /// FileFsAttributeInformation.
    pub const ATTRIBUTE: u8 = 5;
    /// FileFsFullSizeInformation.
    pub const FULL_SIZE: u8 = 7;
    /// FileFsObjectIdInformation.
    pub const OBJECT_ID: u8 = 8;
    /// FileFsControlInformation (quota settings).
    pub const CONTROL: u8 = 6;
    /// FileFsSectorSizeInformation.
    pub const SECTOR_SIZE: u8 = 11;
}

/// File attribute bits (MS-FSCC 2.6).
pub mod attributes {
    /// Read-only.
    pub const READONLY: u32 = 0x01;
    /// Hidden.
    pub const HIDDEN: u32 = 0x02;
    /// System.
    pub const SYSTEM: u32 = 0x04;
    /// Directory.
    pub const DIRECTORY: u32 = 0x10;
    /// Archive.
    pub const ARCHIVE: u32 = 0x20;
    /// Normal (no other bit).
    pub const NORMAL: u32 = 0x80;
    /// Temporary (files only: MS-FSA 2.1.5.1 and 2.1.5.14.2 refuse it on directories).
    pub const TEMPORARY: u32 = 0x100;
    /// Offline.
    pub const OFFLINE: u32 = 0x1000;
    /// Not content indexed.
    pub const NOT_CONTENT_INDEXED: u32 = 0x2000;
}

/// What the information classes say about one file, already in Windows units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileInfo {
    /// CreationTime (FILETIME).
    pub creation_time: u64,
    /// LastAccessTime.
    pub last_access_time: u64,
    /// LastWriteTime.
    pub last_write_time: u64,
    /// ChangeTime.
    pub change_time: u64,
    /// AllocationSize.
    pub allocation_size: u64,
    /// EndOfFile.
    pub end_of_file: u64,
    /// FileAttributes.
    pub attributes: u32,
    /// Number of links.
    pub nlink: u32,
    /// IndexNumber / FileId.
    pub file_id: u64,
    /// Directory.
    pub is_directory: bool,
    /// A delete is pending (FileStandardInformation.DeletePending).
    pub delete_pending: bool,
    /// CurrentByteOffset of the open (FilePositionInformation).
    pub position: u64,
    /// FileModeInformation of the open.
    pub mode: u32,
}

/// Seconds/nanoseconds since the Unix epoch to FILETIME (100 ns since 1601).
pub fn unix_to_filetime(secs: i64, nanos: u32) -> u64 {
    let t = (i128::from(secs) + 11_644_473_600) * 10_000_000 + i128::from(nanos / 100);
    u64::try_from(t.max(0)).unwrap_or(0)
}

/// SMB2 QUERY_INFO request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryInfoRequest {
    /// InfoType.
    pub info_type: u8,
    /// FileInfoClass.
    pub class: u8,
    /// OutputBufferLength.
    pub output_len: u32,
    /// AdditionalInformation.
    pub additional: u32,
    /// FileId.
    pub file_id: FileId,
}

impl QueryInfoRequest {
    /// Decodes; `msg` starts at the SMB2 header.
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.structure_size(41)?;
        let info_type = r.u8()?;
        let class = r.u8()?;
        let output_len = r.u32()?;
        r.skip(2 + 2 + 4)?;
        let additional = r.u32()?;
        r.skip(4)?;
        let file_id = FileId::decode(&mut r)?;
        Ok(QueryInfoRequest {
            info_type,
            class,
            output_len,
            additional,
            file_id,
        })
    }
}

/// Encodes the QUERY_INFO (and QUERY_DIRECTORY) response body around `data`.
pub fn encode_output_response(out: &mut impl BufMut, data: &[u8]) {
    out.put_u16_le(9);
    out.put_u16_le(u16::try_from(HEADER_LEN + 8).unwrap_or(0));
    out.put_u32_le(u32::try_from(data.len()).unwrap_or(0));
    out.put_slice(data);
    if data.is_empty() {
        out.put_u8(0);
    }
}

fn put_basic(out: &mut Vec<u8>, i: &FileInfo) {
    out.put_u64_le(i.creation_time);
    out.put_u64_le(i.last_access_time);
    out.put_u64_le(i.last_write_time);
    out.put_u64_le(i.change_time);
    out.put_u32_le(i.attributes);
    out.put_u32_le(0);
}

fn put_standard(out: &mut Vec<u8>, i: &FileInfo) {
    out.put_u64_le(i.allocation_size);
    out.put_u64_le(i.end_of_file);
    out.put_u32_le(i.nlink);
    out.put_u8(u8::from(i.delete_pending));
    out.put_u8(u8::from(i.is_directory));
    out.put_u16_le(0);
}

/// Encodes a file information class; `None` for classes not supported. `name` is the path
/// relative to the share (FileAllInformation), `access` the granted access mask.
pub fn encode_file_info(class: u8, i: &FileInfo, name: &str, access: u32) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    match class {
        file_class::BASIC => put_basic(&mut out, i),
        file_class::STANDARD => put_standard(&mut out, i),
        file_class::INTERNAL => out.put_u64_le(i.file_id),
        file_class::EA => out.put_u32_le(0),
        file_class::ACCESS => out.put_u32_le(access),
        file_class::POSITION => out.put_u64_le(i.position),
        file_class::MODE => out.put_u32_le(i.mode),
        file_class::ALIGNMENT => out.put_u32_le(0),
        file_class::ALL => {
            put_basic(&mut out, i);
            put_standard(&mut out, i);
            out.put_u64_le(i.file_id);
            out.put_u32_le(0); // EA
            out.put_u32_le(access);
            out.put_u64_le(i.position);
            out.put_u32_le(i.mode);
            out.put_u32_le(0); // alignment
            out.put_u32_le(u32::try_from(crate::utf16_len(name)).unwrap_or(0));
            crate::put_utf16(&mut out, name);
        }
        file_class::NETWORK_OPEN => {
            out.put_u64_le(i.creation_time);
            out.put_u64_le(i.last_access_time);
            out.put_u64_le(i.last_write_time);
            out.put_u64_le(i.change_time);
            out.put_u64_le(i.allocation_size);
            out.put_u64_le(i.end_of_file);
            out.put_u32_le(i.attributes);
            out.put_u32_le(0);
        }
        file_class::COMPRESSION => {
            out.put_u64_le(i.end_of_file); // CompressedFileSize
            out.put_u16_le(0); // COMPRESSION_FORMAT_NONE
            out.put_bytes(0, 6); // unit/chunk/cluster shifts, reserved
        }
        file_class::ALTERNATE_NAME => {
            let last = name.rsplit('\\').next().unwrap_or("");
            let short = short_name(last);
            out.put_u32_le(u32::try_from(crate::utf16_len(&short)).unwrap_or(0));
            crate::put_utf16(&mut out, &short);
        }
        file_class::NORMALIZED_NAME => {
            let n = name.trim_start_matches('\\');
            out.put_u32_le(u32::try_from(crate::utf16_len(n)).unwrap_or(0));
            crate::put_utf16(&mut out, n);
        }
        file_class::ATTRIBUTE_TAG => {
            out.put_u32_le(i.attributes);
            out.put_u32_le(0);
        }
        file_class::STREAM => {
            if i.is_directory {
                return Some(out);
            }
            let name = "::$DATA";
            out.put_u32_le(0);
            out.put_u32_le(u32::try_from(crate::utf16_len(name)).unwrap_or(0));
            out.put_u64_le(i.end_of_file);
            out.put_u64_le(i.allocation_size);
            crate::put_utf16(&mut out, name);
        }
        _ => return None,
    }
    Some(out)
}

/// File system figures for the FS information classes.
#[derive(Clone, Debug, Default)]
pub struct FsInfo {
    /// Total allocation units.
    pub total_units: u64,
    /// Units available to the caller.
    pub caller_available_units: u64,
    /// Units free.
    pub actual_available_units: u64,
    /// Bytes per allocation unit (sectors per unit is this / 512).
    pub bytes_per_unit: u32,
    /// Volume serial number.
    pub serial: u32,
    /// Volume label.
    pub label: String,
}

/// The 8.3 name of `name` (FileAlternateNameInformation, MS-FSCC 2.4.5): the name itself,
/// upper-cased, when it already is 8.3; else a mangled `BASE~XX.EXT` whose two characters
/// come from a hash of the long name (as Samba's `mangling method = hash2`, not stored).
pub fn short_name(name: &str) -> String {
    let (base, ext) = match name.rsplit_once('.') {
        Some((b, e)) if !b.is_empty() => (b, e),
        _ => (name, ""),
    };
    let legal = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'()-@^_`{}~".contains(c))
    };
    if !base.is_empty()
        && base.len() <= 8
        && ext.len() <= 3
        && legal(base)
        && legal(ext)
        && name != "."
        && name != ".."
    {
        return name.to_ascii_uppercase();
    }
    let clean = |s: &str, n: usize| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(n)
            .collect::<String>()
            .to_ascii_uppercase()
    };
    let mut h: u32 = 0x811C_9DC5;
    for b in name.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let pick = |v: u32| char::from(*ALPHABET.get((v % 36) as usize).unwrap_or(&b'_'));
    let mut base = clean(base, 5);
    if base.is_empty() {
        base.push('_');
    }
    let ext = clean(ext, 3);
    let mut out = format!("{base}~{}{}", pick(h), pick(h / 36));
    if !ext.is_empty() {
        out.push('.');
        out.push_str(&ext);
    }
    out
}

/// Size of the fixed part of a class: a smaller output buffer is INFO_LENGTH_MISMATCH, a
/// larger one that cannot hold the variable tail gets a truncated answer and
/// STATUS_BUFFER_OVERFLOW (MS-SMB2 3.3.5.20.1).
pub fn fixed_len(info_type: u8, class: u8, full: usize) -> usize {
    match (info_type, class) {
        (INFO_FILE, file_class::ALL) => 104,
        (INFO_FILE, file_class::STREAM) => 32,
        (INFO_FILE, file_class::ALTERNATE_NAME) => 8,
        (INFO_FILE, file_class::NORMALIZED_NAME) => 8,
        (INFO_FILESYSTEM, fs_class::VOLUME) => 24,
        (INFO_FILESYSTEM, fs_class::ATTRIBUTE) => 16,
        _ => full,
    }
}

/// Encodes a file system information class; `None` when not supported.
pub fn encode_fs_info(class: u8, f: &FsInfo) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    let sectors = (f.bytes_per_unit / 512).max(1);
    match class {
        fs_class::VOLUME => {
            out.put_u64_le(0);
            out.put_u32_le(f.serial);
            out.put_u32_le(u32::try_from(crate::utf16_len(&f.label)).unwrap_or(0));
            out.put_u8(0);
            out.put_u8(0);
            crate::put_utf16(&mut out, &f.label);
        }
        fs_class::SIZE => {
            out.put_u64_le(f.total_units);
            out.put_u64_le(f.caller_available_units);
            out.put_u32_le(sectors);
            out.put_u32_le(512);
        }
        fs_class::DEVICE => {
            out.put_u32_le(0x0000_0007); // FILE_DEVICE_DISK
            out.put_u32_le(0x0000_0020); // FILE_DEVICE_IS_MOUNTED
        }
        fs_class::ATTRIBUTE => {
            let name = "NTFS";
            // CASE_SENSITIVE_SEARCH | CASE_PRESERVED_NAMES | UNICODE_ON_DISK
            out.put_u32_le(0x0000_0007);
            out.put_u32_le(255);
            out.put_u32_le(u32::try_from(crate::utf16_len(name)).unwrap_or(0));
            crate::put_utf16(&mut out, name);
        }
        fs_class::FULL_SIZE => {
            out.put_u64_le(f.total_units);
            out.put_u64_le(f.caller_available_units);
            out.put_u64_le(f.actual_available_units);
            out.put_u32_le(sectors);
            out.put_u32_le(512);
        }
        fs_class::OBJECT_ID => out.put_bytes(0, 64),
        fs_class::CONTROL => {
            out.put_bytes(0, 24); // FreeSpace{Start,Threshold,Stop}Filtering
            out.put_u64_le(u64::MAX); // DefaultQuotaThreshold
            out.put_u64_le(u64::MAX); // DefaultQuotaLimit
            out.put_u32_le(0); // FileSystemControlFlags
            out.put_u32_le(0); // Padding
        }
        fs_class::SECTOR_SIZE => {
            for _ in 0..4 {
                out.put_u32_le(512);
            }
            out.put_u32_le(0); // Flags
            out.put_u32_le(0);
            out.put_u32_le(0);
        }
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_ms_fscc() {
        let i = FileInfo::default();
        assert_eq!(
            encode_file_info(file_class::BASIC, &i, "", 0).map(|v| v.len()),
            Some(40)
        );
        assert_eq!(
            encode_file_info(file_class::STANDARD, &i, "", 0).map(|v| v.len()),
            Some(24)
        );
        assert_eq!(
            encode_file_info(file_class::NETWORK_OPEN, &i, "", 0).map(|v| v.len()),
            Some(56)
        );
        assert_eq!(
            encode_file_info(file_class::ALL, &i, "ab", 0).map(|v| v.len()),
            Some(104)
        );
        let f = FsInfo::default();
        assert_eq!(
            encode_fs_info(fs_class::FULL_SIZE, &f).map(|v| v.len()),
            Some(32)
        );
        assert_eq!(
            encode_fs_info(fs_class::SIZE, &f).map(|v| v.len()),
            Some(24)
        );
        assert_eq!(unix_to_filetime(0, 0), 116_444_736_000_000_000);
    }

    #[test]
    fn short_names() {
        assert_eq!(short_name("hello.txt"), "HELLO.TXT");
        assert_eq!(short_name("README"), "README");
        let m = short_name("torture_getinfo.txt");
        assert!(
            m.starts_with("TORTU~") && m.ends_with(".TXT") && m.len() == 12,
            "{m}"
        );
        assert_eq!(m, short_name("torture_getinfo.txt"));
        assert!(short_name(".bashrc").starts_with("BASHR~"));
    }
}
