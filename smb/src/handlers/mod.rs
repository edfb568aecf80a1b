//! One file per command. Each handler takes the connection and the request and returns a
//! [`crate::conn::dispatch::Reply`] or an error that dispatch maps to NTSTATUS.

pub(crate) mod aapl;
pub(crate) mod close;
pub(crate) mod create;
pub(crate) mod dos;
pub(crate) mod ioctl;
pub(crate) mod lock;
pub(crate) mod mac_names;
pub(crate) mod misc;
pub(crate) mod negotiate;
pub(crate) mod notify;
pub(crate) mod oplock;
pub(crate) mod query_directory;
pub(crate) mod query_info;
pub(crate) mod rw;
pub(crate) mod security;
pub(crate) mod session_bind;
pub(crate) mod session_setup;
pub(crate) mod set_info;
pub(crate) mod tree;

use shoal_smb_proto::query_info::{attributes, unix_to_filetime, FileInfo};
use shoal_smb_proto::NtStatus;
use shoal_vfs::{Attr, Caller, FileKind};

use crate::conn::state::{Conn, Identity, TreeShare};
use crate::error::{fail, SmbError};
use crate::req::Req;

/// Windows view of VFS attributes alone (mode bits and timestamps); [`dos::info_of`] merges
/// the stored DOS attributes and creation time.
pub(crate) fn file_info(a: &Attr) -> FileInfo {
    let is_dir = a.kind == FileKind::Directory;
    let mut attrs = if is_dir {
        attributes::DIRECTORY
    } else {
        attributes::ARCHIVE
    };
    if a.mode & 0o222 == 0 && !is_dir {
        attrs |= attributes::READONLY;
    }
    let mtime = unix_to_filetime(a.mtime.secs, a.mtime.nanos);
    let ctime = unix_to_filetime(a.ctime.secs, a.ctime.nanos);
    FileInfo {
        creation_time: mtime.min(ctime),
        last_access_time: unix_to_filetime(a.atime.secs, a.atime.nanos),
        last_write_time: mtime,
        change_time: ctime,
        allocation_size: if is_dir { 0 } else { a.used },
        end_of_file: if is_dir { 0 } else { a.size },
        attributes: attrs,
        nlink: a.nlink,
        file_id: a.fileid,
        is_directory: is_dir,
        ..FileInfo::default()
    }
}

/// The identity and tree of a request (MS-SMB2 3.3.5.2.11: unknown tree →
/// STATUS_NETWORK_NAME_DELETED).
pub(crate) fn tree_of(conn: &Conn, req: &Req<'_>) -> Result<(Identity, TreeShare), SmbError> {
    let session = conn
        .sessions
        .get(&req.session_id)
        .ok_or(SmbError::Client(NtStatus::USER_SESSION_DELETED))?;
    let est = session
        .established
        .as_ref()
        .ok_or(SmbError::Client(NtStatus::USER_SESSION_DELETED))?;
    match session.trees.get(&req.tree_id) {
        Some(t) => Ok((est.identity.clone(), t.share.clone())),
        None => fail(NtStatus::NETWORK_NAME_DELETED),
    }
}

/// The caller for a disk tree.
pub(crate) fn caller_for(conn: &Conn, identity: &Identity, share: &TreeShare) -> Caller {
    let zone = match share {
        TreeShare::Disk(s) => s.zone,
        TreeShare::Ipc => shoal_vfs::ZoneId::SYSTEM,
    };
    conn.caller(identity, zone)
}

/// The audit `fileName` of `path` (share-relative, `\\`-separated) on `share`.
pub(crate) fn audit_name(conn: &Conn, share: &TreeShare, path: &str) -> String {
    let base = match share {
        TreeShare::Disk(s) => conn
            .shared
            .config
            .share_paths
            .get(&s.name.to_lowercase())
            .cloned()
            .unwrap_or_default(),
        TreeShare::Ipc => String::new(),
    };
    // The share-relative path normalized as the CREATE resolves it (`.` skipped, `..` one up,
    // never above the share root): the name of the object opened, never the raw
    // `a\..\..\b` a client sent (issue 11).
    let base = base.trim_end_matches('/');
    let base = if base.is_empty() { "/" } else { base };
    shoal_audit::join_normalized(base, &path.replace('\\', "/"))
}

/// The auditor, if any.
pub(crate) fn auditor(conn: &Conn) -> Option<std::sync::Arc<shoal_audit::Auditor>> {
    conn.shared.config.auditor.as_ref().map(|a| a.0.clone())
}
