//! Checks on one name component received from a client.

use crate::{VfsError, VfsResult, MAX_NAME_LEN};

/// Prefix of the server's temporary names (objects being made, or hidden while an unlink or
/// rename checks them; see `born`). No client-given name may start with it.
pub const TEMP_PREFIX: &[u8] = b".shoal-new.";

/// A name that may be created or looked up: not empty, not `.`/`..`, no `/` or NUL, at most
/// [`MAX_NAME_LEN`] bytes, not starting with [`TEMP_PREFIX`] (so no client can look up,
/// create, rename, link or remove a temporary name: issue 11, item 1).
pub fn check(name: &[u8]) -> VfsResult<()> {
    if name.is_empty() || name == b"." || name == b".." || name.starts_with(TEMP_PREFIX) {
        return Err(VfsError::InvalidName);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(VfsError::NameTooLong);
    }
    if name.iter().any(|&b| b == b'/' || b == 0) {
        return Err(VfsError::InvalidName);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escapes() {
        for bad in [
            &b""[..],
            b".",
            b"..",
            b"a/b",
            b"/etc",
            b"a\0b",
            &[b'x'; 256],
            b".shoal-new.",
            b".shoal-new.1234.0",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
        assert!(check(b"ok.txt").is_ok());
        assert!(check(&[b'x'; 255]).is_ok());
        assert!(check(b".shoal-newer").is_ok());
        assert!(check("é☃".as_bytes()).is_ok());
    }
}
