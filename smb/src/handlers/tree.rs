//! TREE_CONNECT (MS-SMB2 3.3.5.7) and TREE_DISCONNECT (3.3.5.8).

use std::sync::Arc;

use shoal_vfs::ZoneId;

use shoal_smb_proto::session::encode_empty_response;
use shoal_smb_proto::tree::{
    decode_tree_disconnect, encode_tree_connect_response, share_name_from_unc, TreeConnectRequest,
    SHAREFLAG_NO_CACHING, SHARE_TYPE_DISK, SHARE_TYPE_PIPE,
};
use shoal_smb_proto::NtStatus;

use crate::conn::state::{Conn, Tree, TreeShare};
use crate::error::{fail, SmbError};
use crate::req::{Reply, Req};

/// SMB2_SHAREFLAG_ENCRYPT_DATA (MS-SMB2 2.2.10).
const SHAREFLAG_ENCRYPT_DATA: u32 = 0x0000_8000;

/// FILE_ALL_ACCESS.
const FULL_ACCESS: u32 = 0x001F_01FF;
/// FILE_GENERIC_READ | FILE_GENERIC_EXECUTE.
const READ_ACCESS: u32 = 0x0012_00A9;

/// TREE_CONNECT to a configured share or `IPC$`; anything else is STATUS_BAD_NETWORK_NAME.
pub(crate) async fn connect(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let t = TreeConnectRequest::decode(req.msg)?;
    // MS-SMB2 3.3.5.7: on 3.1.1 a non-guest session's TREE_CONNECT must be signed (it proves
    // both sides derived the same keys from the preauth hash), whatever the signing policy.
    let has_key = conn
        .sessions
        .get(&req.session_id)
        .and_then(|s| s.established.as_ref())
        .is_some_and(|e| e.signer.is_some());
    if conn.negotiated() == Some(shoal_smb_proto::Dialect::SMB3_1_1)
        && has_key
        && !req.hdr.is_signed()
        && !req.encrypted
    {
        tracing::warn!("unsigned TREE_CONNECT on 3.1.1");
        return fail(NtStatus::ACCESS_DENIED);
    }
    let Some(name) = share_name_from_unc(&t.path) else {
        tracing::debug!(path = %t.path, "bad UNC path");
        return fail(NtStatus::BAD_NETWORK_NAME);
    };
    let (share, share_type, flags, access) = if name.eq_ignore_ascii_case("IPC$") {
        (
            TreeShare::Ipc,
            SHARE_TYPE_PIPE,
            SHAREFLAG_NO_CACHING,
            FULL_ACCESS,
        )
    } else {
        match conn
            .shared
            .config
            .shares
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
        {
            Some(s) => (
                TreeShare::Disk(Arc::new(s.clone())),
                SHARE_TYPE_DISK,
                0,
                if s.read_only {
                    READ_ACCESS
                } else {
                    FULL_ACCESS
                },
            ),
            None => {
                tracing::debug!(share = name, "no such share");
                return fail(NtStatus::BAD_NETWORK_NAME);
            }
        }
    };
    // Share-level encryption (R2, MS-SMB2 3.3.5.7): a client that cannot encrypt (2.x, no
    // cipher, a keyless guest session) is refused with STATUS_ACCESS_DENIED; others get
    // SMB2_SHAREFLAG_ENCRYPT_DATA and must encrypt every request on the tree.
    let share_encrypts = matches!(&share, TreeShare::Disk(s) if s.encrypt);
    let share_for_audit = match &share {
        TreeShare::Disk(s) => Some(s.zone),
        _ => None,
    };
    let session_can_encrypt = conn
        .sessions
        .get(&req.session_id)
        .and_then(|s| s.established.as_ref())
        .is_some_and(|e| e.crypt.is_some());
    if share_encrypts && !(conn.can_encrypt() && session_can_encrypt) {
        tracing::info!(share = name, dialect = ?conn.negotiated(), "tree connect refused: share requires encryption");
        return fail(NtStatus::ACCESS_DENIED);
    }
    let flags = if share_encrypts {
        flags | SHAREFLAG_ENCRYPT_DATA
    } else {
        flags
    };
    let max_trees = conn.shared.config.max_trees;
    let Some(session) = conn.sessions.get(&req.session_id) else {
        return fail(NtStatus::USER_SESSION_DELETED);
    };
    if session.trees.len() >= max_trees {
        return fail(NtStatus::INSUFFICIENT_RESOURCES);
    }
    let zone = match &share_for_audit {
        Some(z) => *z,
        None => ZoneId::SYSTEM,
    };
    if let Some(identity) = session.established.as_ref().map(|e| e.identity.clone()) {
        // Audited before the tree exists: in guaranteed mode a tree connect whose event
        // cannot be made durable is refused (STATUS_ACCESS_DENIED).
        crate::audit_events::record(
            conn,
            &identity,
            zone,
            crate::audit_events::SessionEvent::TreeConnect,
            name,
            NtStatus::SUCCESS,
        )
        .await?;
    }
    let Some(session) = conn.sessions.get_mut(&req.session_id) else {
        return fail(NtStatus::USER_SESSION_DELETED);
    };
    let id = session.next_tree_id;
    session.next_tree_id = session.next_tree_id.wrapping_add(1).max(1);
    session.trees.insert(
        id,
        Tree {
            share,
            maximal_access: access,
            encrypt_data: share_encrypts,
        },
    );
    tracing::info!(share = name, tree = id, "tree connect");
    let mut body = Vec::new();
    encode_tree_connect_response(&mut body, share_type, flags, 0, access);
    Ok(Reply {
        body,
        tree_id: Some(id),
        ..Reply::default()
    })
}

/// TREE_DISCONNECT: closes the tree's opens.
pub(crate) fn disconnect(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    decode_tree_disconnect(req.msg)?;
    let Some(session) = conn.sessions.get_mut(&req.session_id) else {
        return fail(NtStatus::USER_SESSION_DELETED);
    };
    if session.trees.remove(&req.tree_id).is_none() {
        return fail(NtStatus::NETWORK_NAME_DELETED);
    }
    let (sid, tid) = (req.session_id, req.tree_id);
    conn.release_opens(|o| o.session_id == sid && o.tree_id == tid);
    conn.drop_pending(sid, Some(tid));
    let mut body = Vec::new();
    encode_empty_response(&mut body);
    Ok(Reply::ok(body))
}
