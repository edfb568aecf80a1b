//! SESSION_SETUP with SMB2_SESSION_FLAG_BINDING (MS-SMB2 3.3.5.5): binding this connection to
//! a session established on another one. shoal does not offer multichannel, so every binding
//! is refused; what this module gets right is *which* refusal, and that the client can trust
//! it.
//!
//! The session is looked up in the process-wide registry (GlobalSessionTable), not only on
//! this connection. A signed binding request is verified with the session's own signing key
//! and algorithm (3.3.5.2.4: Session.SigningKey for a binding request): one that fails is
//! refused with STATUS_ACCESS_DENIED and an unsigned reply, so nobody learns anything
//! without the key. A verified one gets its refusal signed with that key, as Windows and
//! Samba sign it (smbtorture smb2.session.bind_negative_*: a client that signs the session
//! rejects an unsigned or wrongly signed reply).
//!
//! The checks come in the order Windows and Samba apply them, the reasons a bind is invalid
//! whatever the server supports (signing algorithms, dialect, cipher, anonymous session)
//! before the one that is shoal's own (no multichannel: STATUS_REQUEST_NOT_ACCEPTED).

use shoal_smb_proto::crypto::encryption::Cipher;
use shoal_smb_proto::crypto::signing::SigningAlgorithm;
use shoal_smb_proto::{Dialect, NtStatus};

use crate::conn::{BindTarget, Conn};
use crate::req::{Reply, Req};
use crate::signing;

/// Answers a binding request (never binds: no multichannel).
pub(crate) fn refuse(conn: &Conn, req: &Req<'_>, dialect: Dialect) -> Reply {
    let reply = |status, signer| Reply {
        status,
        session_id: Some(req.session_id),
        signer,
        ..Reply::default()
    };
    if req.session_id == 0 {
        return reply(NtStatus::INVALID_PARAMETER, None);
    }
    let local = conn
        .sessions
        .get(&req.session_id)
        .and_then(|s| s.established.as_ref());
    let (target, verified) = if let Some(e) = local {
        // The dispatcher has verified a signed request of a local session already (and
        // refused an unsigned one where the session requires signing); an encrypted one was
        // sealed with its key.
        let target = BindTarget {
            dialect,
            signer: e.signer,
            cipher: conn.cipher,
            anonymous: e.identity.guest,
        };
        (target, req.encrypted || req.hdr.is_signed())
    } else if let Some(target) = conn.shared.bind_target(req.session_id) {
        let verified =
            req.hdr.is_signed() && target.signer.is_some_and(|s| s.verify_request(req.msg));
        if req.hdr.is_signed() && !verified {
            tracing::warn!(
                session = req.session_id,
                "binding request with a bad signature; refused"
            );
            return reply(NtStatus::ACCESS_DENIED, None);
        }
        (target, verified)
    } else {
        return reply(NtStatus::USER_SESSION_DELETED, None);
    };
    let channel = Channel {
        dialect,
        signing: signing::algorithm(dialect, conn.signing_algorithm),
        cipher: conn.cipher,
        verified,
    };
    let status = refusal(&target, &channel);
    tracing::info!(session = req.session_id, ?status, "session binding refused");
    reply(status, if verified { target.signer } else { None })
}

/// The connection a binding request arrived on.
struct Channel {
    dialect: Dialect,
    signing: SigningAlgorithm,
    cipher: Option<Cipher>,
    /// The request proved the session's signing key.
    verified: bool,
}

/// Why binding `channel` to `target` is refused (MS-SMB2 3.3.5.5 step 4; the signing
/// algorithm checks and their statuses are Windows' and Samba's).
fn refusal(target: &BindTarget, channel: &Channel) -> NtStatus {
    let session_signing = target.signer.map(|s| s.alg);
    if session_signing == Some(SigningAlgorithm::AesGmac)
        && session_signing != Some(channel.signing)
    {
        return NtStatus::REQUEST_OUT_OF_SEQUENCE;
    }
    if channel.signing == SigningAlgorithm::AesGmac && session_signing != Some(channel.signing) {
        return NtStatus::NOT_SUPPORTED;
    }
    if !channel.dialect.is_smb3() {
        // 2.x has no binding.
        return NtStatus::REQUEST_NOT_ACCEPTED;
    }
    if !channel.verified {
        // A binding request must be signed (3.3.5.5).
        return NtStatus::INVALID_PARAMETER;
    }
    if channel.dialect != target.dialect {
        return NtStatus::INVALID_PARAMETER;
    }
    if channel.cipher != target.cipher {
        return NtStatus::INVALID_PARAMETER;
    }
    if target.anonymous || target.signer.is_none() {
        // No session key to derive a channel key from (3.3.5.2.4).
        return NtStatus::NOT_SUPPORTED;
    }
    // A valid binding, but shoal has no multichannel (it does not offer
    // SMB2_GLOBAL_CAP_MULTI_CHANNEL).
    NtStatus::REQUEST_NOT_ACCEPTED
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::Signer;

    fn target(dialect: Dialect, alg: SigningAlgorithm, cipher: Option<Cipher>) -> BindTarget {
        BindTarget {
            dialect,
            signer: Some(Signer { alg, key: [7; 16] }),
            cipher,
            anonymous: false,
        }
    }

    fn channel(dialect: Dialect, signing: SigningAlgorithm, cipher: Option<Cipher>) -> Channel {
        Channel {
            dialect,
            signing,
            cipher,
            verified: true,
        }
    }

    use SigningAlgorithm::{AesCmac as C, AesGmac as G, HmacSha256 as H};
    const D311: Dialect = Dialect::SMB3_1_1;
    const GCM: Option<Cipher> = Some(Cipher::AES_128_GCM);
    const CCM: Option<Cipher> = Some(Cipher::AES_128_CCM);

    #[test]
    fn two_x_connections_and_sessions() {
        // smb202, smb210: a 2.x session, a 2.x connection.
        let t = target(Dialect::SMB2_1, H, None);
        let c = channel(Dialect::SMB2_1, H, None);
        assert_eq!(refusal(&t, &c), NtStatus::REQUEST_NOT_ACCEPTED);
        // smb2to3: a 2.1 session, a 3.1.1 connection signing with CMAC.
        assert_eq!(
            refusal(&t, &channel(D311, C, None)),
            NtStatus::INVALID_PARAMETER
        );
        // smb3to2: a 3.1.1 CMAC session, a 2.1 connection.
        let t = target(D311, C, None);
        assert_eq!(
            refusal(&t, &channel(Dialect::SMB2_1, H, None)),
            NtStatus::REQUEST_NOT_ACCEPTED
        );
    }

    #[test]
    fn dialect_and_cipher_must_match() {
        // smb3to3: a 3.0.2 session, a 3.1.1 connection.
        let t = target(Dialect::SMB3_0_2, C, CCM);
        assert_eq!(
            refusal(&t, &channel(D311, C, CCM)),
            NtStatus::INVALID_PARAMETER
        );
        // encGtoC: GCM session, CCM connection.
        let t = target(D311, C, GCM);
        assert_eq!(
            refusal(&t, &channel(D311, C, CCM)),
            NtStatus::INVALID_PARAMETER
        );
    }

    #[test]
    fn gmac_signing_must_be_on_both_sides() {
        // signGtoC, signGtoH, signGtoC30, signGtoH2X: the session signs with GMAC.
        let t = target(D311, G, None);
        for (d, alg) in [
            (D311, C),
            (D311, H),
            (Dialect::SMB3_0, C),
            (Dialect::SMB2_1, H),
        ] {
            assert_eq!(
                refusal(&t, &channel(d, alg, None)),
                NtStatus::REQUEST_OUT_OF_SEQUENCE
            );
        }
        // signHtoG, signCtoG, signC30toG, signH2XtoG: the connection signs with GMAC.
        for (d, alg) in [
            (D311, H),
            (D311, C),
            (Dialect::SMB3_0, C),
            (Dialect::SMB2_1, H),
        ] {
            assert_eq!(
                refusal(&target(d, alg, None), &channel(D311, G, None)),
                NtStatus::NOT_SUPPORTED
            );
        }
    }

    #[test]
    fn a_valid_binding_is_refused_for_want_of_multichannel() {
        // signCtoH: CMAC session, HMAC connection, same dialect and cipher.
        let t = target(D311, C, None);
        assert_eq!(
            refusal(&t, &channel(D311, H, None)),
            NtStatus::REQUEST_NOT_ACCEPTED
        );
        // An unsigned binding request proves nothing.
        let mut c = channel(D311, C, None);
        c.verified = false;
        assert_eq!(refusal(&t, &c), NtStatus::INVALID_PARAMETER);
        // An anonymous session has no key to bind with.
        let mut anon = target(D311, C, None);
        anon.anonymous = true;
        assert_eq!(
            refusal(&anon, &channel(D311, C, None)),
            NtStatus::NOT_SUPPORTED
        );
    }
}
