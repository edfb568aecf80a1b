//! Session events for audit (`logon`, `logoff`, `tree_connect`): the one call the session
//! and tree handlers make. File events come from the VFS's `AuditLayer`; opens and closes from
//! the CREATE and CLOSE handlers.

use shoal_audit::EventName;
use shoal_smb_proto::NtStatus;
use shoal_vfs::ZoneId;

use crate::conn::state::{Conn, Identity};

/// Which session event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SessionEvent {
    /// SESSION_SETUP completed (or failed: `status`).
    Logon,
    /// LOGOFF.
    Logoff,
    /// TREE_CONNECT (`target`: the share name).
    TreeConnect,
}

/// Emits a session event: queued in order on the calling task, never waiting for the disk
/// (see `Auditor::smb_session`), so no task per event. `target` is the user name for logon/logoff, the share name
/// for tree_connect. No-op without an auditor.
pub(crate) fn session_event(
    conn: &Conn,
    identity: &Identity,
    zone: ZoneId,
    event: SessionEvent,
    target: &str,
    status: NtStatus,
) {
    let Some(auditor) = super::handlers::auditor(conn) else {
        return;
    };
    let caller = conn.caller(identity, zone);
    let name = match event {
        SessionEvent::Logon => EventName::Logon,
        SessionEvent::Logoff => EventName::Logoff,
        SessionEvent::TreeConnect => EventName::TreeConnect,
    };
    if let Err(e) = auditor.smb_session(&caller, name, target, status.0) {
        tracing::warn!(error = %e, "audit: session event not logged");
    }
}
