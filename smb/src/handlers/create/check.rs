//! CREATE stage 1: the request's parameters, checked before anything touches the file system
//! (MS-SMB2 3.3.5.9, MS-FSA 2.1.5.1), and the access mask in specific rights.

use shoal_smb_proto::create::{context, disposition, options, CreateContext, CreateRequest};
use shoal_smb_proto::query_info::attributes;
use shoal_smb_proto::NtStatus;

use crate::error::{fail, SmbError};

/// Access mask bits (MS-SMB2 2.2.13.1).
pub(crate) mod access {
    pub const READ_DATA: u32 = 0x0000_0001;
    pub const WRITE_DATA: u32 = 0x0000_0002;
    pub const APPEND_DATA: u32 = 0x0000_0004;
    pub const READ_EA: u32 = 0x0000_0008;
    pub const WRITE_EA: u32 = 0x0000_0010;
    pub const EXECUTE: u32 = 0x0000_0020;
    pub const DELETE_CHILD: u32 = 0x0000_0040;
    pub const READ_ATTRIBUTES: u32 = 0x0000_0080;
    pub const WRITE_ATTRIBUTES: u32 = 0x0000_0100;
    pub const DELETE: u32 = 0x0001_0000;
    pub const READ_CONTROL: u32 = 0x0002_0000;
    pub const WRITE_DAC: u32 = 0x0004_0000;
    pub const WRITE_OWNER: u32 = 0x0008_0000;
    pub const SYNCHRONIZE: u32 = 0x0010_0000;
    pub const SYSTEM_SECURITY: u32 = 0x0100_0000;
    pub const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
    pub const GENERIC_ALL: u32 = 0x1000_0000;
    pub const GENERIC_EXECUTE: u32 = 0x2000_0000;
    pub const GENERIC_WRITE: u32 = 0x4000_0000;
    pub const GENERIC_READ: u32 = 0x8000_0000;
}

/// Maps generic rights to specific ones (MS-SMB2 3.3.5.9 / file generic mapping).
pub(crate) fn map_generic(mut m: u32) -> u32 {
    use access::*;
    if m & GENERIC_READ != 0 {
        m |= READ_DATA | READ_EA | READ_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE;
    }
    if m & GENERIC_WRITE != 0 {
        m |= WRITE_DATA | APPEND_DATA | WRITE_EA | WRITE_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE;
    }
    if m & GENERIC_EXECUTE != 0 {
        m |= EXECUTE | READ_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE;
    }
    if m & GENERIC_ALL != 0 {
        m |= 0x001F_01FF;
    }
    m & !(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL)
}

/// Splits an SMB path into components (MS-SMB2 2.2.13: relative, `\`-separated).
pub(crate) fn components(name: &str) -> Result<Vec<&str>, SmbError> {
    if name.is_empty() {
        return Ok(Vec::new());
    }
    if name.starts_with('\\') {
        // MS-SMB2 3.3.5.9: a name that starts with a separator is INVALID_PARAMETER.
        return fail(NtStatus::INVALID_PARAMETER);
    }
    if name.contains('\0') || name.contains('/') {
        return fail(NtStatus::OBJECT_NAME_INVALID);
    }
    if name.contains(':') {
        // Alternate data streams are not supported.
        return fail(NtStatus::OBJECT_NAME_NOT_FOUND);
    }
    let trimmed = name.strip_suffix('\\').unwrap_or(name);
    let mut out = Vec::new();
    for c in trimmed.split('\\') {
        if c.is_empty() {
            return fail(NtStatus::OBJECT_NAME_INVALID);
        }
        if c != "." {
            out.push(c);
        }
    }
    Ok(out)
}

/// The checks of MS-SMB2 3.3.5.9 and MS-FSA 2.1.5.1 that need nothing but the request;
/// returns the desired access with generic rights mapped.
pub(crate) fn parameters(c: &CreateRequest<'_>) -> Result<u32, SmbError> {
    if c.impersonation_level > 3 {
        return fail(NtStatus::BAD_IMPERSONATION_LEVEL);
    }
    // Access mask bits outside the defined ones (MS-DTYP 2.4.3), and no access at all.
    // SYNCHRONIZE alone is granted, as current Windows and Samba do (smbtorture
    // smb2.sharemode expects it to open; smb2.create gentest's older Windows 2008 table
    // refuses it, and that test is a known failure for another reason).
    if c.desired_access & 0x0CE0_FE00 != 0 || c.desired_access == 0 {
        return fail(NtStatus::ACCESS_DENIED);
    }
    if c.desired_access & access::SYSTEM_SECURITY != 0 {
        // SACL access needs SeSecurityPrivilege, which no SMB user holds here.
        return fail(NtStatus::PRIVILEGE_NOT_HELD);
    }
    // MS-SMB2 3.3.5.9: ShareAccess bits beyond read, write and delete.
    if c.share_access & !0x7 != 0 {
        return fail(NtStatus::INVALID_PARAMETER);
    }
    if c.options & 0xFF00_0000 != 0 {
        return fail(NtStatus::INVALID_PARAMETER);
    }
    // FILE_CREATE_TREE_CONNECTION, FILE_OPEN_BY_FILE_ID, FILE_RESERVE_OPFILTER.
    if c.options & 0x0010_2080 != 0 {
        return fail(NtStatus::NOT_SUPPORTED);
    }
    Ok(map_generic(c.desired_access & !access::SYSTEM_SECURITY))
}

/// The checks that follow the create contexts' decoding (MS-SMB2 3.3.5.9, MS-FSA 2.1.5.1).
pub(crate) fn options_and_contexts(
    c: &CreateRequest<'_>,
    desired: u32,
    contexts: &[CreateContext<'_>],
) -> Result<(), SmbError> {
    if c.disposition > disposition::OVERWRITE_IF
        || c.options & (options::DIRECTORY_FILE | options::NON_DIRECTORY_FILE)
            == (options::DIRECTORY_FILE | options::NON_DIRECTORY_FILE)
        || c.file_attributes & 0xFFFF_8048 != 0
    {
        return fail(NtStatus::INVALID_PARAMETER);
    }
    if c.options & options::DIRECTORY_FILE != 0
        && !matches!(
            c.disposition,
            disposition::CREATE | disposition::OPEN | disposition::OPEN_IF
        )
    {
        return fail(NtStatus::INVALID_PARAMETER);
    }
    // MS-FSA 2.1.5.1: "If CreateOptions.FILE_DIRECTORY_FILE is TRUE and
    // DesiredFileAttributes.FILE_ATTRIBUTE_TEMPORARY is TRUE, the operation MUST be failed with
    // STATUS_INVALID_PARAMETER."
    if c.options & options::DIRECTORY_FILE != 0 && c.file_attributes & attributes::TEMPORARY != 0 {
        return fail(NtStatus::INVALID_PARAMETER);
    }
    if c.options & options::DELETE_ON_CLOSE != 0
        && desired & (access::DELETE | access::MAXIMUM_ALLOWED) == 0
    {
        // MS-FSA 2.1.5.1: FILE_DELETE_ON_CLOSE needs DELETE access.
        return fail(NtStatus::INVALID_PARAMETER);
    }
    if contexts.iter().any(|c| c.name.len() < 4) {
        // Every create context tag is 4 bytes or more (MS-SMB2 2.2.13.2); Windows and Samba
        // refuse shorter ones (smbtorture smb2.create blob) and skip unknown longer ones.
        return fail(NtStatus::INVALID_PARAMETER);
    }
    if contexts.iter().any(|c| c.name == context::TWRP) {
        // MS-SMB2 3.3.5.9.4: the snapshot named by the timewarp token "MUST" exist, else
        // STATUS_OBJECT_NAME_NOT_FOUND; shoal keeps no snapshots.
        return fail(NtStatus::OBJECT_NAME_NOT_FOUND);
    }
    Ok(())
}

/// The AllocationSize create context (`AlSi`, MS-SMB2 2.2.13.2.6), if sent: 8 bytes, else
/// the request is invalid.
pub(crate) fn allocation_size(contexts: &[CreateContext<'_>]) -> Result<Option<u64>, SmbError> {
    let Some(ctx) = contexts.iter().find(|c| c.name == context::ALSI) else {
        return Ok(None);
    };
    match <[u8; 8]>::try_from(ctx.data) {
        Ok(b) => Ok(Some(u64::from_le_bytes(b))),
        Err(_) => fail(NtStatus::INVALID_PARAMETER),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components() {
        assert_eq!(components("").unwrap(), Vec::<&str>::new());
        assert_eq!(components("a\\b").unwrap(), vec!["a", "b"]);
        assert_eq!(components("a\\.\\b\\").unwrap(), vec!["a", "b"]);
        assert_eq!(components("..\\x").unwrap(), vec!["..", "x"]);
        assert!(components("\\a").is_err());
        assert!(components("a\\\\b").is_err());
        assert!(components("a/b").is_err());
        assert!(components("a:stream").is_err());
    }

    #[test]
    fn generic_mapping() {
        assert_eq!(
            map_generic(access::GENERIC_READ) & access::READ_DATA,
            access::READ_DATA
        );
        assert_eq!(map_generic(access::GENERIC_ALL), 0x001F_01FF);
    }
}
