//! SESSION_SETUP (MS-SMB2 3.3.5.5) and LOGOFF (3.3.5.6): SPNEGO around NTLMSSP, NTLMv2
//! verified against the user database, keys derived per dialect, re-authentication.

use shoal_auth::ntlm::{self, AuthenticateMessage, Challenger, ServerNames, SessionSecurity};
use shoal_auth::spnego::{self, neg_state, ClientToken};
use shoal_auth::AuthError;
use shoal_smb_proto::crypto::kdf::derive_session_keys;
use shoal_smb_proto::negotiate::SIGNING_REQUIRED;
use shoal_smb_proto::session::{
    encode_empty_response, encode_session_setup_response, SessionSetupRequest,
    SESSION_FLAG_BINDING, SESSION_FLAG_IS_GUEST, SESSION_FLAG_IS_NULL,
};
use shoal_smb_proto::{Dialect, NtStatus};

use crate::blocking::blocking;
use crate::config::{EncryptionPolicy, SigningPolicy};
use crate::conn::encryption::SessionCrypt;
use crate::conn::state::{AuthExchange, Conn, Established, Identity, Session};
use crate::conn::{filetime_now, BindTarget};
use crate::error::{fail, SmbError};
use crate::req::{Reply, Req};
use crate::signing::{self, Signer};
use shoal_smb_proto::crypto::encryption::derive_cipher_keys;
use shoal_smb_proto::session::SESSION_FLAG_ENCRYPT_DATA;
use shoal_vfs::ZoneId;

fn names(conn: &Conn) -> ServerNames {
    let cfg = &conn.shared.config;
    ServerNames {
        computer: cfg.server_name.to_uppercase(),
        domain: cfg.workgroup.to_uppercase(),
        dns_computer: cfg.server_name.to_lowercase(),
        dns_domain: String::new(),
    }
}

/// Fails the exchange and removes the session, a valid one too: MS-SMB2 3.3.5.5.3 removes the
/// session when authentication fails, re-authentication included (smbtorture
/// smb2.session.reauth6: after a re-authentication with a wrong password the session is
/// gone). The reply to a valid session's request is still signed with its key.
fn failed(conn: &mut Conn, sid: u64, status: NtStatus) -> Result<Reply, SmbError> {
    let signer = conn
        .sessions
        .get(&sid)
        .and_then(|s| s.established.as_ref())
        .and_then(|e| e.signer);
    conn.remove_session(sid);
    Ok(Reply {
        status,
        session_id: Some(sid),
        signer,
        unsigned: signer.is_none(),
        ..Reply::default()
    })
}

/// Refuses a re-authentication for a reason that is not a failed authentication (another
/// user's credentials, an audit event that cannot be made durable): the session stays as it
/// was, and the reply is signed with its key like any other reply of the session.
fn refused(conn: &mut Conn, sid: u64, status: NtStatus) -> Result<Reply, SmbError> {
    let valid = conn.sessions.get(&sid).is_some_and(Session::is_valid);
    if !valid {
        return failed(conn, sid, status);
    }
    if let Some(s) = conn.sessions.get_mut(&sid) {
        s.auth = None;
    }
    Ok(Reply {
        status,
        session_id: Some(sid),
        ..Reply::default()
    })
}

/// SESSION_SETUP.
pub(crate) async fn handle(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let dialect = conn.negotiated().unwrap_or(Dialect::SMB2_0_2);
    let ss = SessionSetupRequest::decode(req.msg)?;
    if conn.shared.config.encryption == EncryptionPolicy::Required {
        // MS-SMB2 3.3.5.5 steps 1-2 (EncryptData and RejectUnencryptedAccess): a 2.x client
        // cannot encrypt (unless `allow_unencrypted_legacy` lets it in for unencrypted
        // shares), nor can a 3.x client without a cipher.
        if !dialect.is_smb3() && !conn.shared.config.allow_unencrypted_legacy {
            tracing::info!(
                ?dialect,
                "session refused: encryption required and the dialect cannot encrypt"
            );
            return fail(NtStatus::ACCESS_DENIED);
        }
        if dialect.is_smb3() && !conn.can_encrypt() {
            tracing::info!(
                ?dialect,
                "session refused: encryption required and the client offers no cipher"
            );
            return fail(NtStatus::ACCESS_DENIED);
        }
    }
    if ss.flags & SESSION_FLAG_BINDING != 0 {
        // No multichannel: binding a connection to a session is refused, with the status
        // that names why (`session_bind`).
        return Ok(super::session_bind::refuse(conn, req, dialect));
    }
    let sid = if req.session_id == 0 {
        if conn.sessions.len() >= conn.shared.config.max_sessions {
            return fail(NtStatus::INSUFFICIENT_RESOURCES);
        }
        let id = Conn::new_session_id();
        conn.sessions.insert(
            id,
            Session {
                id,
                auth: None,
                established: None,
                preauth: conn.preauth,
                trees: Default::default(),
                next_tree_id: 1,
            },
        );
        id
    } else if conn.sessions.contains_key(&req.session_id) {
        req.session_id
    } else {
        return fail(NtStatus::USER_SESSION_DELETED);
    };
    if dialect == Dialect::SMB3_1_1 {
        if let Some(s) = conn.sessions.get_mut(&sid) {
            s.preauth.update(req.msg);
        }
    }
    let token = match spnego::decode_client_token(ss.security_buffer) {
        Ok(t) => t,
        Err(e) => {
            tracing::debug!(error = %e, "bad security blob");
            return failed(conn, sid, NtStatus::INVALID_PARAMETER);
        }
    };
    let (ntlm_token, spnego_used, mech_types_der, client_mic) = match token {
        ClientToken::Init {
            mech_types,
            mech_types_der,
            mech_token,
        } => {
            if !mech_types.iter().any(|m| m == spnego::OID_NTLMSSP) {
                tracing::debug!("client offers no NTLMSSP");
                return failed(conn, sid, NtStatus::LOGON_FAILURE);
            }
            match mech_token {
                Some(t) => (t, true, Some(mech_types_der), None),
                None => return failed(conn, sid, NtStatus::INVALID_PARAMETER),
            }
        }
        ClientToken::Resp {
            response_token: Some(t),
            mech_list_mic,
        } => (t, true, None, mech_list_mic),
        ClientToken::Resp {
            response_token: None,
            ..
        } => return failed(conn, sid, NtStatus::INVALID_PARAMETER),
        ClientToken::RawNtlmssp(t) => (t, false, None, None),
    };
    match ntlm::message_type(&ntlm_token) {
        Ok(1) => {
            let (challenger, challenge) = match Challenger::challenge(
                &ntlm_token,
                conn.shared.random(),
                filetime_now(),
                &names(conn),
            ) {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "bad NTLMSSP NEGOTIATE");
                    return failed(conn, sid, NtStatus::INVALID_PARAMETER);
                }
            };
            let out = if spnego_used {
                spnego::encode_resp(neg_state::ACCEPT_INCOMPLETE, true, Some(&challenge), None)
            } else {
                challenge
            };
            if let Some(s) = conn.sessions.get_mut(&sid) {
                s.auth = Some(AuthExchange {
                    challenger,
                    spnego: spnego_used,
                    mech_types_der: mech_types_der.unwrap_or_else(spnego::server_mech_types_der),
                });
            }
            let mut body = Vec::new();
            encode_session_setup_response(&mut body, 0, &out);
            Ok(Reply {
                status: NtStatus::MORE_PROCESSING_REQUIRED,
                body,
                session_id: Some(sid),
                preauth_session: (dialect == Dialect::SMB3_1_1).then_some(sid),
                unsigned: !conn.sessions.get(&sid).is_some_and(Session::is_valid),
                ..Reply::default()
            })
        }
        Ok(3) => {
            let r = authenticate(
                conn,
                sid,
                dialect,
                ss.security_mode,
                &ntlm_token,
                client_mic,
            )
            .await?;
            if r.status == NtStatus::SUCCESS
                && ss.previous_session_id != 0
                && ss.previous_session_id != sid
            {
                let user = conn
                    .sessions
                    .get(&sid)
                    .and_then(|s| s.established.as_ref())
                    .map(|e| e.identity.user.clone());
                if let Some(user) = user {
                    if conn.sessions.contains_key(&ss.previous_session_id) {
                        conn.remove_session(ss.previous_session_id);
                    } else {
                        conn.shared.expire_previous(ss.previous_session_id, &user);
                    }
                }
            }
            Ok(r)
        }
        _ => failed(conn, sid, NtStatus::INVALID_PARAMETER),
    }
}

async fn authenticate(
    conn: &mut Conn,
    sid: u64,
    dialect: Dialect,
    client_security_mode: u8,
    token: &[u8],
    client_mic: Option<Vec<u8>>,
) -> Result<Reply, SmbError> {
    let Some(exchange) = conn.sessions.get_mut(&sid).and_then(|s| s.auth.take()) else {
        return failed(conn, sid, NtStatus::INVALID_PARAMETER);
    };
    let auth = match AuthenticateMessage::decode(token) {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(error = %e, "bad NTLMSSP AUTHENTICATE");
            return failed(conn, sid, NtStatus::INVALID_PARAMETER);
        }
    };
    let allow_guest = conn.shared.config.allow_guest;
    let guest_identity = |user: &str| Identity {
        user: user.to_string(),
        uid: 65534,
        gid: 65534,
        sid: ANONYMOUS_SID.to_string(),
        guest: true,
    };
    if auth.is_anonymous() {
        // An authenticated session may drop to anonymous (`reauth_allowed`) even where
        // anonymous logons are refused: it gains nothing its owner does not already have.
        let keyed_reauth = conn
            .sessions
            .get(&sid)
            .and_then(|s| s.established.as_ref())
            .is_some_and(|e| e.keys.is_some());
        if !allow_guest && !keyed_reauth {
            tracing::info!("anonymous logon refused");
            return failed(conn, sid, NtStatus::LOGON_FAILURE);
        }
        return establish(
            conn,
            sid,
            dialect,
            client_security_mode,
            guest_identity(""),
            None,
            SESSION_FLAG_IS_NULL,
            exchange,
            None,
        )
        .await;
    }
    let users = conn.shared.users.clone();
    let name = auth.user.clone();
    let user = blocking(move || {
        users
            .lookup(&name)
            .map_err(|e| SmbError::Internal(e.to_string()))
    })
    .await?;
    let Some(user) = user else {
        if allow_guest {
            return establish(
                conn,
                sid,
                dialect,
                client_security_mode,
                guest_identity(&auth.user),
                None,
                SESSION_FLAG_IS_GUEST,
                exchange,
                None,
            )
            .await;
        }
        tracing::info!(user = %auth.user, "logon failure: unknown user");
        audit_logon_failure(conn, &auth.user).await;
        return failed(conn, sid, NtStatus::LOGON_FAILURE);
    };
    let verified = match exchange.challenger.verify(&auth, &user.nt_hash) {
        Ok(v) => v,
        Err(AuthError::Refused(why)) => {
            tracing::info!(user = %auth.user, why, "logon refused");
            audit_logon_failure(conn, &auth.user).await;
            return failed(conn, sid, NtStatus::LOGON_FAILURE);
        }
        Err(e @ AuthError::Malformed { .. }) => {
            tracing::info!(user = %auth.user, error = %e, "malformed NTLMv2 response");
            return failed(conn, sid, NtStatus::INVALID_PARAMETER);
        }
        Err(e) => {
            tracing::info!(user = %auth.user, error = %e, "logon failure");
            audit_logon_failure(conn, &auth.user).await;
            return failed(conn, sid, NtStatus::LOGON_FAILURE);
        }
    };
    // SPNEGO mechListMIC (RFC 4178 5, MS-SPNG 3.3.5.1): check the client's, send ours.
    let mut server_mic = None;
    if exchange.spnego {
        if let Some(mic) = &client_mic {
            let mut c = SessionSecurity::new(&verified.session_key, verified.flags, true);
            if !c.verify(&exchange.mech_types_der, mic) {
                tracing::info!(user = %auth.user, "bad SPNEGO mechListMIC");
                audit_logon_failure(conn, &auth.user).await;
                return failed(conn, sid, NtStatus::LOGON_FAILURE);
            }
            let mut s = SessionSecurity::new(&verified.session_key, verified.flags, false);
            server_mic = Some(s.sign(&exchange.mech_types_der).to_vec());
        } else if verified.had_mic {
            tracing::info!(user = %auth.user, "NTLM MIC without SPNEGO mechListMIC");
            return failed(conn, sid, NtStatus::LOGON_FAILURE);
        }
    }
    let identity = Identity {
        user: user.name.clone(),
        uid: user.uid,
        gid: user.gid,
        sid: user.sid.clone(),
        guest: false,
    };
    tracing::info!(user = %user.name, ?dialect, "logon");
    establish(
        conn,
        sid,
        dialect,
        client_security_mode,
        identity,
        Some(verified.session_key),
        0,
        exchange,
        server_mic,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn establish(
    conn: &mut Conn,
    sid: u64,
    dialect: Dialect,
    client_security_mode: u8,
    identity: Identity,
    session_key: Option<[u8; 16]>,
    session_flags: u16,
    exchange: AuthExchange,
    server_mic: Option<Vec<u8>>,
) -> Result<Reply, SmbError> {
    let signing_policy_required = conn.shared.config.signing == SigningPolicy::Required;
    let encryption_required =
        conn.shared.config.encryption == EncryptionPolicy::Required && dialect.is_smb3();
    let alg = signing::algorithm(dialect, conn.signing_algorithm);
    let cipher = conn.cipher;
    let Some(session) = conn.sessions.get(&sid) else {
        return fail(NtStatus::USER_SESSION_DELETED);
    };
    let old_owner = session.established.as_ref().map(|e| e.owner.clone());
    let reauth = old_owner.is_some();
    if let Some(old) = &old_owner {
        // Re-authentication may renew the session's credentials, never change whose they are:
        // MS-SMB2 3.3.5.5.3 keeps Session.SessionKey and the keys derived from it, so another
        // user would act under the first user's keys and audit identity. Windows answers a
        // different user with STATUS_ACCESS_DENIED (the status ksmbd adopted for the same
        // case, smbtorture smb2.session.bind_different_user) and the session stays as it was.
        // Dropping to anonymous, and coming back as the owner, is allowed (`reauth_allowed`).
        if !reauth_allowed(old, &identity) {
            tracing::warn!(
                session_user = %old.user,
                claimed = %identity.user,
                "re-authentication as another user refused"
            );
            crate::audit_events::record(
                conn,
                &identity,
                ZoneId::SYSTEM,
                crate::audit_events::SessionEvent::Logon,
                &identity.user,
                NtStatus::ACCESS_DENIED,
            )
            .await?;
            return refused(conn, sid, NtStatus::ACCESS_DENIED);
        }
    }
    if encryption_required && session_key.is_none() && !reauth {
        // Guest and anonymous sessions have no keys, so they cannot encrypt.
        tracing::info!("keyless session refused: encryption required");
        return failed(conn, sid, NtStatus::ACCESS_DENIED);
    }
    // The logon (a re-authentication too: same user, renewed credentials) is audited before
    // the session changes; in guaranteed mode an event that cannot be made durable refuses it.
    if let Err(e) = crate::audit_events::record(
        conn,
        &identity,
        ZoneId::SYSTEM,
        crate::audit_events::SessionEvent::Logon,
        &identity.user,
        NtStatus::SUCCESS,
    )
    .await
    {
        return refused(conn, sid, e.status());
    }
    let Some(session) = conn.sessions.get_mut(&sid) else {
        return fail(NtStatus::USER_SESSION_DELETED);
    };
    let old = session.established.take();
    let owner = old
        .as_ref()
        .map_or_else(|| identity.clone(), |e| e.owner.clone());
    let (keys, signer, crypt, encrypt_data) = match (old, session_key) {
        // MS-SMB2 3.3.5.5.3: re-authentication keeps the session's keys.
        (Some(e), _) if e.keys.is_some() => (e.keys, e.signer, e.crypt, e.encrypt_data),
        (_, Some(k)) => {
            let keys = derive_session_keys(&k, dialect, &session.preauth.0);
            let signer = Signer {
                alg,
                key: keys.signing,
            };
            // Session.EncryptionKey/DecryptionKey (MS-SMB2 3.3.5.5.3), when a cipher was
            // negotiated on this connection.
            let crypt = cipher.and_then(|c| {
                derive_cipher_keys(&k, dialect, &session.preauth.0, c)
                    .and_then(|ck| SessionCrypt::new(c, &ck))
            });
            let encrypt_data = encryption_required && crypt.is_some();
            (Some(keys), Some(signer), crypt, encrypt_data)
        }
        _ => (None, None, None, false),
    };
    // The flags describe the session: one re-authenticated as anonymous keeps its owner's
    // keys and signing, so it is not reported as a null session.
    let session_flags = if keys.is_some() {
        session_flags & !(SESSION_FLAG_IS_NULL | SESSION_FLAG_IS_GUEST)
    } else {
        session_flags
    };
    let session_flags = if encrypt_data {
        session_flags | SESSION_FLAG_ENCRYPT_DATA
    } else {
        session_flags
    };
    let signing_required = signer.is_some()
        && (signing_policy_required || u16::from(client_security_mode) & SIGNING_REQUIRED != 0);
    if !owner.guest {
        let bind = BindTarget {
            dialect,
            signer,
            cipher,
            anonymous: is_anonymous(&identity),
        };
        conn.shared
            .register(sid, &owner.user, conn.expire_tx.clone(), bind);
    }
    let Some(session) = conn.sessions.get_mut(&sid) else {
        return fail(NtStatus::USER_SESSION_DELETED);
    };
    session.established = Some(Established {
        identity,
        owner,
        keys,
        signer,
        signing_required,
        crypt,
        encrypt_data,
    });
    session.auth = None;
    conn.ever_authenticated = true;
    let out = if exchange.spnego {
        spnego::encode_resp(
            neg_state::ACCEPT_COMPLETED,
            false,
            None,
            server_mic.as_deref(),
        )
    } else {
        Vec::new()
    };
    let mut body = Vec::new();
    encode_session_setup_response(&mut body, session_flags, &out);
    tracing::debug!(
        reauth,
        signing_required,
        encrypt_data,
        "session established"
    );
    // MS-SMB2 3.3.5.5.3: the final response of a non-guest session is signed.
    Ok(Reply {
        body,
        session_id: Some(sid),
        signer,
        unsigned: signer.is_none(),
        ..Reply::default()
    })
}

/// Whether a re-authentication of a session made by `owner` may leave it acting for `new`:
/// the owner again, or anonymous (smbtorture smb2.session.reauth2-6 drop an authenticated
/// session to anonymous and come back; Samba allows both). Dropping to anonymous only
/// narrows what the session may do (the session keeps its owner's keys, so nobody without
/// them gains anything); any other account is refused, and so is the way back to the owner
/// from anonymous without the owner's credentials.
fn reauth_allowed(owner: &Identity, new: &Identity) -> bool {
    same_user(owner, new) || is_anonymous(new)
}

/// The identity of an anonymous (null) logon.
fn is_anonymous(id: &Identity) -> bool {
    id.guest && id.user.is_empty() && id.sid == ANONYMOUS_SID
}

/// The SID of an anonymous logon (S-1-5-7, ANONYMOUS LOGON).
const ANONYMOUS_SID: &str = "S-1-5-7";

/// Whether a re-authentication names the session's user: same account (name compared as the
/// user database compares it, without case), uid and SID; guest and anonymous only as themselves.
fn same_user(old: &Identity, new: &Identity) -> bool {
    old.guest == new.guest
        && old.uid == new.uid
        && old.sid == new.sid
        && old.user.eq_ignore_ascii_case(&new.user)
}

/// LOGOFF: removes the session; the reply is signed with its key if the request was.
pub(crate) async fn logoff(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    shoal_smb_proto::session::decode_logoff(req.msg)?;
    let signer = conn.sessions.get(&req.session_id).and_then(|s| {
        let e = s.established.as_ref()?;
        (req.hdr.is_signed() || e.signing_required)
            .then_some(e.signer)
            .flatten()
    });
    let identity = conn
        .sessions
        .get(&req.session_id)
        .and_then(|s| s.established.as_ref())
        .map(|e| e.identity.clone());
    if let Some(identity) = identity {
        // Guaranteed mode: a logoff whose event cannot be made durable is refused (the
        // session stays; the client may close the connection, logged as a logoff too).
        crate::audit_events::record(
            conn,
            &identity,
            ZoneId::SYSTEM,
            crate::audit_events::SessionEvent::Logoff,
            &identity.user,
            NtStatus::SUCCESS,
        )
        .await?;
    }
    conn.remove_session(req.session_id);
    let mut body = Vec::new();
    encode_empty_response(&mut body);
    Ok(Reply {
        body,
        signer,
        unsigned: signer.is_none(),
        ..Reply::default()
    })
}

/// A failed logon as an audit event (`logon` with STATUS_LOGON_FAILURE): the user named is the
/// one the client claimed, with the anonymous uid. The logon is refused either way.
async fn audit_logon_failure(conn: &Conn, user: &str) {
    let claimed = Identity {
        user: user.to_string(),
        uid: 65534,
        gid: 65534,
        sid: String::new(),
        guest: false,
    };
    // Never an error for a failure event (`record` refuses only successful operations).
    let _ = crate::audit_events::record(
        conn,
        &claimed,
        ZoneId::SYSTEM,
        crate::audit_events::SessionEvent::Logon,
        user,
        NtStatus::LOGON_FAILURE,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(user: &str, uid: u32, sid: &str, guest: bool) -> Identity {
        Identity {
            user: user.to_string(),
            uid,
            gid: uid,
            sid: sid.to_string(),
            guest,
        }
    }

    #[test]
    fn reauthentication_keeps_the_owner_or_drops_to_anonymous() {
        let alice = id("alice", 1000, "S-1-22-1-1000", false);
        let bob = id("bob", 1001, "S-1-22-1-1001", false);
        let anonymous = id("", 65534, ANONYMOUS_SID, true);
        let guest = id("mallory", 65534, ANONYMOUS_SID, true);
        assert!(reauth_allowed(&alice, &alice));
        assert!(reauth_allowed(
            &alice,
            &id("ALICE", 1000, "S-1-22-1-1000", false)
        ));
        assert!(reauth_allowed(&alice, &anonymous));
        assert!(!reauth_allowed(&alice, &bob));
        // A guest logon under some other name is not anonymous.
        assert!(!reauth_allowed(&alice, &guest));
        // Same name, another account (uid or SID differ).
        assert!(!reauth_allowed(
            &alice,
            &id("alice", 1001, "S-1-22-1-1000", false)
        ));
        assert!(!reauth_allowed(
            &alice,
            &id("alice", 1000, "S-1-22-1-1001", false)
        ));
        // A session made anonymous stays anonymous, or comes back to anonymous only.
        assert!(reauth_allowed(&anonymous, &anonymous));
        assert!(!reauth_allowed(&anonymous, &alice));
    }
}
