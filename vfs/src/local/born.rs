//! New objects appear under their name already owned by their creator.
//!
//! shoal runs as root and gives a new file or directory to the caller with `fchown` after
//! making it. Made under its final name, the object would be visible for a moment as root's,
//! mode 0600/0700: a second client opening it then (two clients creating the same directory,
//! a listing racing a create) would be refused. So an object is made under a temporary name
//! in the same directory, given its owner, mode and times, and only then moved to its name
//! with `renameat2(RENAME_NOREPLACE)`, which fails if the name was taken meanwhile. Listings
//! skip temporary names. A crash between the two steps leaves a `.shoal-new.*` entry behind.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use super::sys;
use crate::VfsResult;

/// Prefix of temporary names.
const TEMP_PREFIX: &[u8] = b".shoal-new.";

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A temporary name unique to this process (and, with the pid, to this node).
pub(super) fn temp_name() -> Vec<u8> {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(".shoal-new.{}.{n}", std::process::id()).into_bytes()
}

/// Whether a directory entry is an object still being made (listings skip it).
pub(super) fn is_temp(name: &[u8]) -> bool {
    name.starts_with(TEMP_PREFIX)
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
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            // A filesystem without RENAME_NOREPLACE: check, then move (a narrow race left).
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
