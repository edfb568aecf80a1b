//! The `AAPL` create context (Apple's SMB2 extension; codec in
//! [`shoal_smb_proto::aapl`]): a macOS client's first CREATE asks what the server supports,
//! and the answer decides how it talks to the share.
//!
//! shoal claims only what it does (the same rule Samba's `vfs_fruit` follows with its
//! settings):
//! - server capabilities: `kAAPL_UNIX_BASED` only. Not READ_DIR_ATTR (QUERY_DIRECTORY does
//!   not fill the Mac fields: resource fork size, Finder info, UNIX mode), not OSX_COPYFILE
//!   (a COPYCHUNK without chunks copies nothing here, where a Mac would expect the whole
//!   file), not NFS_ACE (no NFS ACEs in security descriptors).
//! - volume capabilities: `kAAPL_CASE_SENSITIVE` (lookups are byte-exact names on the
//!   backing POSIX file system, and FileFsAttributeInformation says CASE_SENSITIVE_SEARCH);
//!   `kAAPL_FULL_SYNC` (FLUSH calls `fsync` through `vfs.commit`). Not RESOLVE_ID.
//! - model: `smb.macos_model` (default `shoal`).
//!
//! Only the first server query of a connection is answered, as with Samba; later `AAPL`
//! contexts, and commands other than the server query, are ignored (no response context).
//! A malformed server query fails the CREATE with STATUS_INVALID_PARAMETER before anything
//! is opened, as Samba's `check_aapl()` does.

use shoal_smb_proto::aapl::{
    bitmap, server_caps, volume_caps, AaplRequest, ServerQueryReply, CONTEXT_NAME,
};
use shoal_smb_proto::create::CreateContext;
use shoal_smb_proto::NtStatus;

use crate::conn::state::Conn;
use crate::error::{fail, SmbError};

/// Server capabilities shoal has.
const SERVER_CAPS: u64 = server_caps::UNIX_BASED;
/// Volume capabilities of a share.
const VOLUME_CAPS: u64 = volume_caps::CASE_SENSITIVE | volume_caps::FULL_SYNC;

/// Checks every `AAPL` context of a CREATE before the open happens.
pub(crate) fn validate(contexts: &[CreateContext<'_>]) -> Result<(), SmbError> {
    for ctx in contexts.iter().filter(|c| c.name == CONTEXT_NAME) {
        if let Err(e) = AaplRequest::decode(ctx.data) {
            tracing::debug!(error = %e, len = ctx.data.len(), "malformed AAPL context");
            return fail(NtStatus::INVALID_PARAMETER);
        }
    }
    Ok(())
}

/// The response data for one request context, if it is the connection's first server
/// query; marks the connection as having negotiated AAPL.
pub(crate) fn reply(conn: &mut Conn, ctx: &CreateContext<'_>) -> Option<Vec<u8>> {
    if ctx.name != CONTEXT_NAME || conn.aapl_negotiated {
        return None;
    }
    let AaplRequest::ServerQuery {
        request_bitmap,
        client_caps,
    } = AaplRequest::decode(ctx.data).ok()?
    else {
        return None;
    };
    let answer = ServerQueryReply {
        reply_bitmap: request_bitmap & bitmap::KNOWN,
        server_caps: SERVER_CAPS,
        volume_caps: VOLUME_CAPS,
        model: conn.shared.config.macos_model.clone(),
    };
    tracing::debug!(
        request_bitmap,
        client_caps,
        server_caps = SERVER_CAPS,
        "AAPL negotiated"
    );
    conn.aapl_negotiated = true;
    let mut out = Vec::with_capacity(64);
    answer.encode(&mut out);
    Some(out)
}
