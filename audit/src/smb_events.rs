//! Helpers for the SMB crate: the events only SMB can see (opens of existing objects, closes,
//! sessions). Creations are not emitted here: the SMB CREATE that creates calls the VFS, and
//! [`crate::AuditLayer`] logs `create_file` / `create_directory` (with DesiredAccess and
//! CreateDisposition when the call is wrapped in [`crate::with_request_context`]).
//!
//! `file_name` should be the path the layer would show: the share's path inside the backing
//! store joined with the path inside the share, `/`-separated (`/data/dir/a.txt`).

use shoal_vfs::Caller;

use crate::auditor::{AuditError, Auditor};
use crate::event::{close_event, open_event, AuditEvent, EventName};

/// What an SMB CREATE did, for [`Auditor::smb_open`].
#[derive(Clone, Debug, Default)]
pub struct SmbOpen<'a> {
    /// Path (see the module doc).
    pub file_name: &'a str,
    /// The CREATE created the object (then nothing is emitted here).
    pub created: bool,
    /// The object is a directory.
    pub is_directory: bool,
    /// MS-SMB2 2.2.13 DesiredAccess.
    pub desired_access: u32,
    /// MS-SMB2 2.2.13 CreateDisposition.
    pub create_disposition: u32,
    /// Inode (file id), when known.
    pub inode: Option<u64>,
    /// NTSTATUS of the CREATE (0 = success).
    pub nt_status: u32,
}

impl Auditor {
    /// Logs `open_file_read` / `open_file_write` / `open_file_noaccess` / `open_directory` for an
    /// SMB CREATE that opened an existing object (or failed to). No-op when it created.
    pub fn smb_open(&self, caller: &Caller, open: &SmbOpen<'_>) -> Result<(), AuditError> {
        if open.created {
            return Ok(());
        }
        let mut e = AuditEvent::new(
            open_event(false, open.is_directory, open.desired_access),
            caller,
        )
        .with_file(open.file_name)
        .with_status(open.nt_status);
        e.desired_access = Some(open.desired_access);
        e.create_dispo = Some(open.create_disposition);
        e.inode = open.inode;
        self.emit(e)
    }

    /// Logs `close_file_modified` (any byte written through the open) /
    /// `close_file_unmodified` / `close_directory`, with the bytes moved through the open.
    pub fn smb_close(
        &self,
        caller: &Caller,
        file_name: &str,
        is_directory: bool,
        inode: Option<u64>,
        bytes_read: u64,
        bytes_written: u64,
    ) -> Result<(), AuditError> {
        let mut e = AuditEvent::new(close_event(is_directory, bytes_written > 0), caller)
            .with_file(file_name);
        e.inode = inode;
        if !is_directory {
            e.bytes_read = Some(bytes_read);
            e.bytes_written = Some(bytes_written);
        }
        self.emit(e)
    }

    /// Logs `logon`, `logoff` or `tree_connect` (`target`: the share name for tree_connect,
    /// the user name for logon/logoff; in `fileName`), like any other event: in guaranteed
    /// mode it returns once the event is durable, and an error means the caller must refuse
    /// the operation (call it before the operation takes effect, off the async workers).
    pub fn smb_session(
        &self,
        caller: &Caller,
        event: EventName,
        target: &str,
        nt_status: u32,
    ) -> Result<(), AuditError> {
        self.emit(session_event(caller, event, target, nt_status))
    }

    /// [`Auditor::smb_session`] for an event with nothing left to refuse (the logoffs of a
    /// connection that closed): queued in call order without waiting for queue space or for
    /// the disk, in either mode. The queue may exceed `queue_capacity` by such events, which
    /// the connection and session caps bound.
    pub fn smb_session_detached(
        &self,
        caller: &Caller,
        event: EventName,
        target: &str,
        nt_status: u32,
    ) -> Result<(), AuditError> {
        self.emit_detached(session_event(caller, event, target, nt_status))
    }

    /// Logs `get_security_file` / `get_security_directory` (QUERY_INFO of a security
    /// descriptor).
    pub fn smb_get_security(
        &self,
        caller: &Caller,
        file_name: &str,
        is_directory: bool,
        nt_status: u32,
    ) -> Result<(), AuditError> {
        let name = if is_directory {
            EventName::GetSecurityDirectory
        } else {
            EventName::GetSecurityFile
        };
        self.emit(
            AuditEvent::new(name, caller)
                .with_file(file_name)
                .with_status(nt_status),
        )
    }
}

fn session_event(caller: &Caller, event: EventName, target: &str, nt_status: u32) -> AuditEvent {
    debug_assert!(matches!(
        event,
        EventName::Logon | EventName::Logoff | EventName::TreeConnect
    ));
    AuditEvent::new(event, caller)
        .with_file(target)
        .with_status(nt_status)
}
