//! Running blocking VFS work from async handlers: in place on the multi-threaded runtime
//! (`block_in_place`), on the blocking pool otherwise. A panic in the work fails the request
//! with an internal error, never the connection task. The one copy of these helpers: every
//! handler, the deferred READ and the audit hand-off use them.

use crate::error::SmbError;

/// True when VFS calls can run in place (`block_in_place`): on the multi-threaded runtime.
pub(crate) fn can_block_in_place() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// Runs a VFS call in place (`block_in_place`: the worker hands its other tasks to another
/// thread). Against `blocking` it saves two thread hand-offs per READ/WRITE and lets a WRITE
/// borrow its payload from the request instead of copying it. A panic becomes an internal
/// error, as on the blocking pool. Only call when [`can_block_in_place`].
pub(crate) fn run_in_place<T>(f: impl FnOnce() -> Result<T, SmbError>) -> Result<T, SmbError> {
    tokio::task::block_in_place(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)))
        .map_err(|_| SmbError::Internal("VFS call panicked".into()))?
}

/// Runs a blocking VFS job off the async workers: in place on the multi-threaded runtime,
/// on the blocking pool otherwise.
pub(crate) async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SmbError> + Send + 'static,
) -> Result<T, SmbError> {
    if can_block_in_place() {
        run_in_place(f)
    } else {
        blocking(f).await
    }
}

/// Runs a blocking VFS call on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SmbError> + Send + 'static,
) -> Result<T, SmbError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SmbError::Internal(format!("blocking task: {e}")))?
}
