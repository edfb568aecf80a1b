//! Access masks for the security descriptor shoal synthesizes from POSIX ownership and mode
//! bits when a client has not stored one (MS-DTYP 2.4.3). The descriptor codec itself is
//! `shoal_vfs::acl`.

/// FILE_GENERIC_READ.
pub const FILE_GENERIC_READ: u32 = 0x0012_0089;
/// FILE_GENERIC_WRITE plus DELETE.
pub const FILE_GENERIC_WRITE_DELETE: u32 = 0x0013_0116;
/// FILE_GENERIC_EXECUTE.
pub const FILE_GENERIC_EXECUTE: u32 = 0x0012_00A0;
/// WRITE_DAC | WRITE_OWNER | READ_CONTROL: what an owner may always do.
pub const OWNER_RIGHTS: u32 = 0x000E_0000;

/// Access mask granted by POSIX rwx bits (`rwx` in 0..=7).
pub fn mask_from_rwx(rwx: u32) -> u32 {
    let mut m = 0;
    if rwx & 4 != 0 {
        m |= FILE_GENERIC_READ;
    }
    if rwx & 2 != 0 {
        m |= FILE_GENERIC_WRITE_DELETE;
    }
    if rwx & 1 != 0 {
        m |= FILE_GENERIC_EXECUTE;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rwx_masks() {
        assert_eq!(mask_from_rwx(0), 0);
        assert_eq!(mask_from_rwx(4), FILE_GENERIC_READ);
        assert_eq!(
            mask_from_rwx(7),
            FILE_GENERIC_READ | FILE_GENERIC_WRITE_DELETE | FILE_GENERIC_EXECUTE
        );
    }
}
