//! New objects appear under their name already owned by their creator, and the server never
//! changes the owner or mode of any object but the one it just made.
//!
//! shoal runs as root and gives a new object to the caller with `fchown` after making it.
//! Made under its final name, the object would be visible for a moment as root's, mode
//! 0600/0700: a second client opening it then would be refused. Worse, a client that
//! replaces the name between "make" and "chown" (rename of a hard link to someone else's file
//! over it) would get that file chowned to itself (issue 11, item 1). So every create path
//! (CREATE, MKDIR, SYMLINK, MKNOD) makes the object under a temporary name in the same
//! directory, and then:
//! - the temporary name is unpredictable (128 random bits from the system RNG) and no client
//!   can name it: [`super::names::check`] refuses every client-given name with
//!   [`TEMP_PREFIX`], so LOOKUP, CREATE, RENAME, LINK, REMOVE... cannot reach it, and listings
//!   skip it;
//! - owner, mode and times are changed only through a descriptor of the object: the one
//!   `O_CREAT | O_EXCL` returned for files, else one opened `O_PATH | O_NOFOLLOW` right after
//!   making it, checked by [`check_fresh`] (the type made, owned by the server, one link,
//!   no permission bit beyond those it was made with) before any `fchown`;
//! - it is moved to its name with `renameat2(RENAME_NOREPLACE)`, which fails if the name was
//!   taken meanwhile ([`publish`]).
//!
//! Unlink and rename in sticky directories (`super::unlink`) hide an object under such a
//! name too while they check it. A crash between the steps leaves a `.shoal-new.*` entry
//! behind (invisible to clients).

use std::os::fd::{AsFd, OwnedFd};

use super::attr::attr_from_stat;
use super::names::TEMP_PREFIX;
use super::sys;
use crate::{FileKind, VfsError, VfsResult};

/// An unpredictable temporary name: [`TEMP_PREFIX`] and 32 hex digits of system randomness.
pub(super) fn temp_name() -> VfsResult<Vec<u8>> {
    let mut r = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut r)
        .map_err(|_| VfsError::Io(std::io::Error::other("no randomness for a temporary name")))?;
    let mut name = TEMP_PREFIX.to_vec();
    for b in r {
        name.extend_from_slice(format!("{b:02x}").as_bytes());
    }
    Ok(name)
}

/// Whether a directory entry is an object still being made (listings skip it).
pub(super) fn is_temp(name: &[u8]) -> bool {
    name.starts_with(TEMP_PREFIX)
}

/// Checks that `fd` is an object this server just made as `kind` with permission bits at most
/// `made_mode`: owned by the server's effective uid, one link (a directory: at most two), no
/// other permission bit (but setgid on a directory, inherited from a setgid parent). Anything else is refused ([`VfsError::Access`]) and never chowned.
pub(super) fn check_fresh(fd: &OwnedFd, kind: FileKind, made_mode: u32) -> VfsResult<()> {
    let a = attr_from_stat(&sys::fstat(fd.as_fd())?);
    let (links_ok, made_mode) = if kind == FileKind::Directory {
        // A directory made in a setgid directory inherits the bit from the kernel.
        (a.nlink <= 2, made_mode | 0o2000)
    } else {
        (a.nlink == 1, made_mode)
    };
    if a.kind != kind || a.uid != sys::euid() || !links_ok || a.mode & !made_mode != 0 {
        tracing::warn!(
            kind = ?a.kind,
            uid = a.uid,
            nlink = a.nlink,
            mode = a.mode,
            "a temporary name names an object this server did not just make: not chowned"
        );
        return Err(VfsError::Access);
    }
    Ok(())
}

/// Moves the object made as `tmp` (its set-up result `made`) to `name`. `Ok(None)`: `name` was
/// taken meanwhile (the temporary object is removed). On any failure nothing is left behind.
pub(super) fn publish<T>(
    dir: &OwnedFd,
    tmp: &[u8],
    name: &[u8],
    is_dir: bool,
    made: VfsResult<T>,
) -> VfsResult<Option<T>> {
    let remove = || {
        if let Err(e) = sys::unlinkat(dir.as_fd(), tmp, is_dir) {
            tracing::warn!(error = %e, "temporary object of a failed create not removed");
        }
    };
    let made = match made {
        Ok(v) => v,
        Err(e) => {
            remove();
            return Err(e);
        }
    };
    match sys::rename_noreplace(dir.as_fd(), tmp, name) {
        Ok(()) => Ok(Some(made)),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            remove();
            Ok(None)
        }
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) && !is_dir => {
            // A filesystem without RENAME_NOREPLACE: `linkat` fails as atomically if the
            // name exists; then the temporary name goes.
            let linked = sys::link_names(dir.as_fd(), tmp, name);
            remove();
            match linked {
                Ok(()) => Ok(Some(made)),
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            // A directory on a filesystem without RENAME_NOREPLACE: check, then move. The
            // race left can only replace an empty directory made meanwhile.
            if sys::fstatat(dir.as_fd(), name).is_ok() {
                remove();
                return Ok(None);
            }
            match sys::renameat(dir.as_fd(), tmp, dir.as_fd(), name) {
                Ok(()) => Ok(Some(made)),
                Err(e) => {
                    remove();
                    Err(e.into())
                }
            }
        }
        Err(e) => {
            remove();
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_unpredictable_and_reserved() {
        let a = temp_name().unwrap();
        let b = temp_name().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), TEMP_PREFIX.len() + 32);
        assert!(is_temp(&a));
        assert!(super::super::names::check(&a).is_err());
    }
}
