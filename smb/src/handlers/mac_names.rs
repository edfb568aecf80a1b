//! Names macOS clients send for characters Windows forbids in file names.
//!
//! macOS's SMB client cannot send `"*:<>?\|`, control characters, or a trailing space or
//! period in a name, so it sends each as a Unicode private-use code point instead (the
//! Services for Macintosh, "SFM", mapping; the Linux CIFS client's `mapposix` uses the same
//! table):
//!
//! | on disk | over SMB |
//! |---|---|
//! | 0x01–0x1F | U+F001–U+F01F |
//! | `"` `*` `:` `<` `>` `?` `\` `\|` | U+F020 U+F021 U+F022 U+F023 U+F024 U+F025 U+F026 U+F027 |
//! | trailing space / trailing period | U+F028 / U+F029 (last character of a component only) |
//!
//! With a share's `macos_name_mapping` on (the default), shoal does what Samba's
//! `fruit:encoding = native` does (its `vfs_catia` table, plus the two trailing-character
//! entries): names on disk hold the real characters, so NFS and local users see `a:b.txt`;
//! SMB names hold the private-use code points, both ways (CREATE, rename, QUERY_DIRECTORY;
//! QUERY_INFO returns the name the client opened, already in SMB form).
//!
//! A name on disk that already contains one of these private-use code points (U+F001–U+F027
//! anywhere, U+F028/U+F029 as its last character) would come back to disk as a different name,
//! so it has no SMB name: it is left out of SMB listings and cannot be opened over SMB (NFS and
//! local access are unaffected). See `docs/macos.md`.

use shoal_smb_proto::NtStatus;

use super::create::components;
use crate::config::ShareConfig;
use crate::conn::state::TreeShare;
use crate::error::{fail, SmbError};

/// The eight punctuation characters, in the order of their code points U+F020–U+F027.
const PUNCTUATION: [char; 8] = ['"', '*', ':', '<', '>', '?', '\\', '|'];

/// First private-use code point of the mapping (0x01 → U+F001).
const BASE: u32 = 0xF000;
/// Trailing space over SMB.
const TRAILING_SPACE: char = '\u{F028}';
/// Trailing period over SMB.
const TRAILING_PERIOD: char = '\u{F029}';

/// Whether a share maps names.
pub(crate) fn enabled(share: &ShareConfig) -> bool {
    share.macos_name_mapping
}

/// The on-disk form of one SMB name component.
pub(crate) fn to_disk(smb: &str) -> String {
    let count = smb.chars().count();
    smb.chars()
        .enumerate()
        .map(|(i, c)| {
            let last = i + 1 == count;
            match u32::from(c) {
                0xF001..=0xF01F => char::from_u32(u32::from(c) - BASE).unwrap_or(c),
                0xF020..=0xF027 => {
                    let at = (u32::from(c) - 0xF020) as usize;
                    PUNCTUATION.get(at).copied().unwrap_or(c)
                }
                _ if last && c == TRAILING_SPACE => ' ',
                _ if last && c == TRAILING_PERIOD => '.',
                _ => c,
            }
        })
        .collect()
}

/// The SMB form of one on-disk name, or `None` when it has none (it contains a private-use
/// code point of the mapping and would not come back to the same name).
pub(crate) fn to_smb(disk: &str) -> Option<String> {
    if disk == "." || disk == ".." {
        return Some(disk.to_string());
    }
    let count = disk.chars().count();
    let smb: String = disk
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let last = i + 1 == count;
            match c {
                '\u{1}'..='\u{1f}' => char::from_u32(u32::from(c) + BASE).unwrap_or(c),
                ' ' if last => TRAILING_SPACE,
                '.' if last => TRAILING_PERIOD,
                _ => match PUNCTUATION.iter().position(|p| *p == c) {
                    Some(at) => char::from_u32(0xF020 + at as u32).unwrap_or(c),
                    None => c,
                },
            }
        })
        .collect();
    (to_disk(&smb) == disk).then_some(smb)
}

/// The on-disk components of an SMB path ([`components`], then each mapped when the share
/// maps names). A component that maps to `.` or `..` is refused: a client must not reach a
/// parent through U+F029.
pub(crate) fn disk_components(name: &str, share: &ShareConfig) -> Result<Vec<String>, SmbError> {
    let parts = components(name)?;
    if !enabled(share) {
        return Ok(parts.into_iter().map(str::to_string).collect());
    }
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        let d = to_disk(p);
        if d != p && (d == "." || d == "..") {
            return fail(NtStatus::OBJECT_NAME_INVALID);
        }
        out.push(d);
    }
    Ok(out)
}

/// The name QUERY_DIRECTORY lists for an entry whose on-disk name is `name` (decoded as
/// UTF-8, lossily), `None` to leave it out.
pub(crate) fn listed(name: String, share: &TreeShare) -> Option<String> {
    match share {
        TreeShare::Disk(s) if enabled(s) => {
            let smb = to_smb(&name);
            if smb.is_none() {
                tracing::debug!(%name, "no SMB form under macOS name mapping; not listed");
            }
            smb
        }
        _ => Some(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(to_smb("a:b.txt").unwrap(), "a\u{F022}b.txt");
        assert_eq!(
            to_smb("\"*:<>?\\|").unwrap(),
            "\u{F020}\u{F021}\u{F022}\u{F023}\u{F024}\u{F025}\u{F026}\u{F027}"
        );
        assert_eq!(to_smb("x\u{1}\u{1f}").unwrap(), "x\u{F001}\u{F01F}");
        assert_eq!(to_smb("end ").unwrap(), "end\u{F028}");
        assert_eq!(to_smb("end.").unwrap(), "end\u{F029}");
        assert_eq!(to_smb("a b.c").unwrap(), "a b.c");
        assert_eq!(to_smb("...").unwrap(), "..\u{F029}");
        assert_eq!(to_smb(".").unwrap(), ".");
        assert_eq!(to_smb("..").unwrap(), "..");
        assert_eq!(to_smb("plain").unwrap(), "plain");
    }

    #[test]
    fn round_trips() {
        for name in [
            "a:b.txt",
            "q?",
            "tab\there",
            "trailing ",
            "dots...",
            "a\u{F028}b",
            "a\u{F029}b",
            "ünïcødé:ok",
            "back\\slash",
        ] {
            let smb = to_smb(name).unwrap();
            assert_eq!(to_disk(&smb), name, "{name:?}");
        }
    }

    #[test]
    fn private_use_on_disk_has_no_smb_name() {
        assert_eq!(to_smb("a\u{F022}b"), None);
        assert_eq!(to_smb("x\u{F001}"), None);
        assert_eq!(to_smb("end\u{F029}"), None);
        assert_eq!(to_smb("end\u{F028}"), None);
        let on = TreeShare::Disk(std::sync::Arc::new(share(true)));
        let off = TreeShare::Disk(std::sync::Arc::new(share(false)));
        assert_eq!(listed("a\u{F022}b".into(), &on), None);
        assert_eq!(listed("a\u{F022}b".into(), &off).unwrap(), "a\u{F022}b");
        assert_eq!(listed("a:b".into(), &on).unwrap(), "a\u{F022}b");
        assert_eq!(listed("a:b".into(), &TreeShare::Ipc).unwrap(), "a:b");
    }

    #[test]
    fn to_disk_only_maps_trailing_space_and_period() {
        assert_eq!(to_disk("a\u{F028}b\u{F028}"), "a\u{F028}b ");
        assert_eq!(to_disk("a\u{F029}"), "a.");
        assert_eq!(to_disk("\u{F026}"), "\\");
    }

    fn share(mapping: bool) -> ShareConfig {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("shoal-mac-names-{}-{n}", std::process::id()));
        std::fs::create_dir_all(dir.join("b")).unwrap();
        let vfs = shoal_vfs::LocalFs::open(&dir.join("b"), &dir.join("key")).unwrap();
        use shoal_vfs::Vfs;
        let root = vfs.root("").unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        ShareConfig {
            name: "s".into(),
            root,
            read_only: false,
            comment: String::new(),
            zone: shoal_vfs::ZoneId::SYSTEM,
            encrypt: false,
            macos_name_mapping: mapping,
        }
    }

    #[test]
    fn components_are_mapped_after_splitting() {
        let on = share(true);
        assert_eq!(
            disk_components("d\u{F022}x\\a\u{F026}b", &on).unwrap(),
            vec!["d:x", "a\\b"]
        );
        assert!(disk_components("\u{F029}", &on).is_err());
        assert!(disk_components("a\\.\u{F029}\\b", &on).is_err());
        assert_eq!(
            disk_components("a\\..\\b", &on).unwrap(),
            vec!["a", "..", "b"]
        );
        let off = share(false);
        assert_eq!(
            disk_components("d\u{F022}x", &off).unwrap(),
            vec!["d\u{F022}x"]
        );
    }
}
