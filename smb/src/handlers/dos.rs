//! DOS attributes and the creation time: what SMB clients set that POSIX mode bits and
//! timestamps cannot hold, kept in the `user.DOSATTRIB` extended attribute of each file and
//! directory ([`shoal_vfs::Vfs::get_xattr`] / [`shoal_vfs::Vfs::set_xattr`]).
//!
//! READONLY of a file stays mapped to the write bits of the mode (as Samba's
//! `map readonly = yes`), so NFS `chmod` and SMB agree: the stored READONLY bit of a file is
//! ignored when reading. Objects without the attribute (created through NFS or before it was
//! stored) get the fallback of [`super::file_info`]: ARCHIVE for files, the older of mtime and
//! ctime as creation time.

use shoal_smb_proto::query_info::{attributes, FileInfo};
use shoal_vfs::{Attr, Caller, FileHandle, FileKind, Vfs, VfsError};

/// Name of the extended attribute. Samba uses the same name with an NDR-encoded
/// `xattr_DOSATTRIB` blob; we do not need to read or write Samba's format (a backing store is
/// served by one server), so the value is our own [`DosInfo`] encoding, and a value of another
/// version or length (Samba's included) is ignored as if absent.
pub(crate) const XATTR: &str = "user.DOSATTRIB";

/// The attribute bits stored (MS-FSCC 2.6); DIRECTORY comes from the object's kind, NORMAL
/// means "none of these".
pub(crate) const STORED: u32 = attributes::READONLY
    | attributes::HIDDEN
    | attributes::SYSTEM
    | attributes::ARCHIVE
    | attributes::TEMPORARY
    | attributes::OFFLINE
    | attributes::NOT_CONTENT_INDEXED;

/// Current format version.
const VERSION: u16 = 1;

/// Encoded length: version (2) + attributes (4) + creation time (8).
const LEN: usize = 14;

/// The value of `user.DOSATTRIB`, version 1, 14 bytes, all little-endian:
///
/// | offset | size | field                                                        |
/// |--------|------|--------------------------------------------------------------|
/// | 0      | 2    | version, 1                                                   |
/// | 2      | 4    | FileAttributes (MS-FSCC 2.6), only the [`STORED`] bits        |
/// | 6      | 8    | CreationTime, FILETIME (100 ns since 1601); 0 = not stored    |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DosInfo {
    /// FileAttributes, [`STORED`] bits only.
    pub attributes: u32,
    /// CreationTime (FILETIME), 0 when unknown.
    pub creation_time: u64,
}

impl DosInfo {
    /// The version-1 encoding.
    pub(crate) fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        let (v, rest) = b.split_at_mut(2);
        v.copy_from_slice(&VERSION.to_le_bytes());
        let (a, t) = rest.split_at_mut(4);
        a.copy_from_slice(&(self.attributes & STORED).to_le_bytes());
        t.copy_from_slice(&self.creation_time.to_le_bytes());
        b
    }

    /// Decodes a version-1 value; anything else is `None`.
    pub(crate) fn decode(b: &[u8]) -> Option<DosInfo> {
        let b: &[u8; LEN] = b.try_into().ok()?;
        let (v, rest) = b.split_at(2);
        let (a, t) = rest.split_at(4);
        if u16::from_le_bytes(v.try_into().ok()?) != VERSION {
            return None;
        }
        Some(DosInfo {
            attributes: u32::from_le_bytes(a.try_into().ok()?) & STORED,
            creation_time: u64::from_le_bytes(t.try_into().ok()?),
        })
    }

    /// What an object without a stored value reports (see [`super::file_info`]).
    pub(crate) fn fallback(a: &Attr) -> DosInfo {
        let i = super::file_info(a);
        DosInfo {
            attributes: i.attributes & STORED,
            creation_time: i.creation_time,
        }
    }
}

/// The stored value of an object, `None` when absent, unreadable or not ours (errors are
/// logged and not fatal: the fallback is still a valid answer).
pub(crate) fn load(vfs: &dyn Vfs, caller: &Caller, h: &FileHandle) -> Option<DosInfo> {
    match vfs.get_xattr(caller, h, XATTR) {
        Ok(Some(v)) => DosInfo::decode(&v),
        Ok(None) | Err(VfsError::NotSupported) | Err(VfsError::Stale) => None,
        Err(e) => {
            tracing::debug!(error = %e, "reading DOS attributes");
            None
        }
    }
}

/// Stores `d` on an object.
pub(crate) fn store(
    vfs: &dyn Vfs,
    caller: &Caller,
    h: &FileHandle,
    d: &DosInfo,
) -> Result<(), VfsError> {
    vfs.set_xattr(caller, h, XATTR, Some(&d.encode()))
}

/// Stores `d` on a new object, where failing would leave a created file behind: a backing
/// filesystem without user xattrs is served without them, other errors are logged.
pub(crate) fn store_best_effort(vfs: &dyn Vfs, caller: &Caller, h: &FileHandle, d: &DosInfo) {
    match store(vfs, caller, h, d) {
        Ok(()) | Err(VfsError::NotSupported) => {}
        Err(e) => tracing::warn!(error = %e, "storing DOS attributes of a new object"),
    }
}

/// Merges a stored value into what the mode bits say (`info` from [`super::file_info`]).
pub(crate) fn apply(info: &mut FileInfo, dos: Option<DosInfo>) {
    let Some(d) = dos else { return };
    let mut attrs = d.attributes & STORED;
    if info.is_directory {
        attrs = (attrs & !attributes::TEMPORARY) | attributes::DIRECTORY;
    } else {
        // READONLY of a file is the write bits.
        attrs = (attrs & !attributes::READONLY) | (info.attributes & attributes::READONLY);
    }
    info.attributes = if attrs == 0 {
        attributes::NORMAL
    } else {
        attrs
    };
    if d.creation_time != 0 {
        info.creation_time = d.creation_time;
    }
}

/// The Windows view of an object: [`super::file_info`] with its stored DOS attributes merged.
pub(crate) fn info_of(vfs: &dyn Vfs, caller: &Caller, h: &FileHandle, a: &Attr) -> FileInfo {
    let mut info = super::file_info(a);
    if matches!(a.kind, FileKind::Regular | FileKind::Directory) {
        apply(&mut info, load(vfs, caller, h));
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_foreign_values() {
        let d = DosInfo {
            attributes: attributes::HIDDEN | attributes::SYSTEM,
            creation_time: 0x01d9_0000_1234_5678,
        };
        let b = d.encode();
        assert_eq!(b.len(), 14);
        assert_eq!(&b[..2], &[1, 0]);
        assert_eq!(DosInfo::decode(&b), Some(d));
        // Other versions, lengths (Samba's NDR blob) and bits outside STORED.
        let mut v2 = b;
        v2[0] = 2;
        assert_eq!(DosInfo::decode(&v2), None);
        assert_eq!(DosInfo::decode(&b[..13]), None);
        assert_eq!(DosInfo::decode(b"0x20\0\0\0\0\0\0\0\0\0\0\0"), None);
        let odd = DosInfo {
            attributes: 0xFFFF_FFFF,
            creation_time: 1,
        }
        .encode();
        assert_eq!(DosInfo::decode(&odd).map(|d| d.attributes), Some(STORED));
    }

    #[test]
    fn merging_keeps_readonly_of_files_in_the_mode() {
        let file = |ro: bool| FileInfo {
            attributes: attributes::ARCHIVE | if ro { attributes::READONLY } else { 0 },
            creation_time: 5,
            ..FileInfo::default()
        };
        let mut i = file(false);
        apply(
            &mut i,
            Some(DosInfo {
                attributes: attributes::HIDDEN | attributes::READONLY,
                creation_time: 0,
            }),
        );
        assert_eq!((i.attributes, i.creation_time), (attributes::HIDDEN, 5));
        let mut i = file(true);
        apply(
            &mut i,
            Some(DosInfo {
                attributes: 0,
                creation_time: 9,
            }),
        );
        assert_eq!((i.attributes, i.creation_time), (attributes::READONLY, 9));
        let mut i = file(false);
        apply(&mut i, Some(DosInfo::default()));
        assert_eq!(i.attributes, attributes::NORMAL);
        let mut d = FileInfo {
            attributes: attributes::DIRECTORY,
            is_directory: true,
            ..FileInfo::default()
        };
        apply(
            &mut d,
            Some(DosInfo {
                attributes: attributes::HIDDEN | attributes::READONLY,
                creation_time: 0,
            }),
        );
        assert_eq!(
            d.attributes,
            attributes::DIRECTORY | attributes::HIDDEN | attributes::READONLY
        );
        let mut i = file(false);
        apply(&mut i, None);
        assert_eq!(i, file(false));
    }
}
