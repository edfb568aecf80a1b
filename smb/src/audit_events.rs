//! Session events for audit (`logon`, `logoff`, `tree_connect`): the one call the session
//! and tree handlers make. File events come from the VFS's `AuditLayer`; opens and closes from
//! the CREATE and CLOSE handlers.

use shoal_audit::{EventName, FailureMode};
use shoal_smb_proto::NtStatus;
use shoal_vfs::ZoneId;

use crate::conn::state::{Conn, Identity};
use crate::error::SmbError;

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

fn event_name(event: SessionEvent) -> EventName {
    match event {
        SessionEvent::Logon => EventName::Logon,
        SessionEvent::Logoff => EventName::Logoff,
        SessionEvent::TreeConnect => EventName::TreeConnect,
    }
}

/// Emits a session event before the operation takes effect. `target` is the user name for
/// logon/logoff, the share name for tree_connect. No-op without an auditor.
///
/// Guaranteed mode: returns once the event is durable; a successful operation (`status`
/// SUCCESS) whose event cannot be made durable gets `Err(STATUS_ACCESS_DENIED)`, and the
/// caller must not perform it (R4: an operation whose event cannot be made durable is
/// refused). The wait runs off the async workers ([`crate::blocking::run_blocking`]).
/// Best-effort mode: an event that cannot be queued is counted and logged, never an error.
pub(crate) async fn record(
    conn: &Conn,
    identity: &Identity,
    zone: ZoneId,
    event: SessionEvent,
    target: &str,
    status: NtStatus,
) -> Result<(), SmbError> {
    let Some(auditor) = super::handlers::auditor(conn) else {
        return Ok(());
    };
    let caller = conn.caller(identity, zone);
    let name = event_name(event);
    let target = target.to_string();
    let guaranteed = auditor.mode() == FailureMode::Guaranteed;
    let out = crate::blocking::run_blocking(move || {
        Ok(auditor.smb_session(&caller, name, &target, status.0))
    })
    .await?;
    match out {
        Ok(()) => Ok(()),
        Err(e) if guaranteed && status == NtStatus::SUCCESS => {
            tracing::error!(error = %e, ?event, "audit: session event not durable; operation refused");
            Err(SmbError::Client(NtStatus::ACCESS_DENIED))
        }
        Err(e) => {
            tracing::warn!(error = %e, ?event, "audit: session event not logged");
            Ok(())
        }
    }
}

/// A session event that is not a request's (the connection closed: its sessions' logoffs):
/// queued without waiting, since there is nothing left to refuse.
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
    if let Err(e) = auditor.smb_session_detached(&caller, event_name(event), target, status.0) {
        tracing::warn!(error = %e, ?event, "audit: session event not logged");
    }
}
