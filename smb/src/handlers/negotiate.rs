//! NEGOTIATE (MS-SMB2 3.3.5.3, 3.3.5.4) and the SMB1 upgrade (3.3.5.3.1).

use shoal_smb_proto::crypto::preauth::PreauthHash;
use shoal_smb_proto::crypto::signing::SigningAlgorithm;
use shoal_smb_proto::negotiate::{
    capabilities, parse_smb1_negotiate, signing_algorithm, NegotiateContext, NegotiateRequest,
    NegotiateResponse, ResponseContext, Smb1Negotiate, HASH_SHA512, SIGNING_ENABLED,
    SIGNING_REQUIRED,
};
use shoal_smb_proto::{Dialect, NtStatus};

use crate::config::{Cipher, EncryptionPolicy, SigningPolicy};
use crate::conn::{filetime_now, Conn};
use crate::error::{fail, SmbError};
use crate::req::{Reply, Req};

fn response_body(conn: &Conn, dialect: Dialect, contexts: Vec<ResponseContext>) -> Vec<u8> {
    let cfg = &conn.shared.config;
    let large = dialect != Dialect::SMB2_0_2;
    let max = if large { cfg.max_io() } else { 65536 };
    let token = shoal_auth::spnego::encode_server_init();
    let mut body = Vec::with_capacity(256);
    NegotiateResponse {
        security_mode: conn.server_security_mode,
        dialect,
        server_guid: conn.shared.server_guid,
        capabilities: conn.server_capabilities,
        max_transact_size: max,
        max_read_size: max,
        max_write_size: max,
        system_time: filetime_now(),
        security_buffer: &token,
        contexts,
    }
    .encode(&mut body);
    body
}

fn security_mode(conn: &Conn) -> u16 {
    match conn.shared.config.signing {
        SigningPolicy::Required => SIGNING_ENABLED | SIGNING_REQUIRED,
        SigningPolicy::Enabled => SIGNING_ENABLED,
    }
}

/// SMB2 NEGOTIATE.
pub(crate) fn handle(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    if conn.negotiated().is_some() {
        // MS-SMB2 3.3.5.3.1: a second NEGOTIATE on a negotiated connection disconnects it.
        return Err(SmbError::Disconnect("second NEGOTIATE"));
    }
    let n = match NegotiateRequest::decode(req.msg) {
        Ok(n) => n,
        Err(e) => {
            tracing::debug!(error = %e, "bad NEGOTIATE");
            return Ok(Reply::with_status(NtStatus::INVALID_PARAMETER, Vec::new()));
        }
    };
    let Some(dialect) = Dialect::SUPPORTED
        .into_iter()
        .find(|d| n.dialects.contains(d))
    else {
        return fail(NtStatus::NOT_SUPPORTED);
    };
    let mut contexts = Vec::new();
    let mut signing_alg = None;
    let encryption_on = conn.shared.config.encryption != EncryptionPolicy::Disabled;
    let mut cipher = None;
    if dialect == Dialect::SMB3_1_1 {
        // MS-SMB2 3.3.5.4: exactly one preauth context naming SHA-512.
        let preauth: Vec<&NegotiateContext> = n
            .contexts
            .iter()
            .filter(|c| matches!(c, NegotiateContext::PreauthIntegrity { .. }))
            .collect();
        let ok = matches!(preauth.as_slice(), [NegotiateContext::PreauthIntegrity { hash_algorithms, .. }]
            if hash_algorithms.contains(&HASH_SHA512));
        if !ok {
            return fail(NtStatus::INVALID_PARAMETER);
        }
        contexts.push(ResponseContext::PreauthIntegrity {
            salt: conn.shared.random(),
        });
        for c in &n.contexts {
            if let NegotiateContext::Signing { algorithms } = c {
                let pick = [
                    signing_algorithm::AES_GMAC,
                    signing_algorithm::AES_CMAC,
                    signing_algorithm::HMAC_SHA256,
                ]
                .into_iter()
                .find(|a| algorithms.contains(a));
                if let Some(a) = pick {
                    contexts.push(ResponseContext::Signing(a));
                    signing_alg = Some(match a {
                        signing_algorithm::AES_GMAC => SigningAlgorithm::AesGmac,
                        signing_algorithm::AES_CMAC => SigningAlgorithm::AesCmac,
                        _ => SigningAlgorithm::HmacSha256,
                    });
                }
            }
            // MS-SMB2 3.3.5.4: the server picks a cipher from the client's list (ours in the
            // configured preference order) and answers with CipherCount 1; none in common is
            // answered with cipher 0 (Connection.CipherId = 0: no encryption).
            if let NegotiateContext::Encryption { ciphers } = c {
                if encryption_on {
                    let pick = conn
                        .shared
                        .config
                        .ciphers
                        .iter()
                        .copied()
                        .find(|p| ciphers.contains(&p.0));
                    cipher = pick;
                    contexts.push(ResponseContext::Encryption(pick.unwrap_or(Cipher::NONE).0));
                }
            }
            // Unknown contexts are ignored.
        }
        conn.preauth = PreauthHash::default();
        conn.preauth.update(req.msg);
    }
    conn.dialect = Some(dialect);
    conn.negotiated_via_smb1 = false;
    conn.client_guid = n.client_guid;
    conn.client_security_mode = n.security_mode;
    conn.client_capabilities = n.capabilities;
    conn.client_dialects = n.dialects.clone();
    conn.signing_algorithm = signing_alg;
    conn.server_security_mode = security_mode(conn);
    // 2.1 and later: multi-credit requests and leases (MS-SMB2 3.3.5.4).
    conn.server_capabilities = if dialect == Dialect::SMB2_0_2 {
        0
    } else {
        capabilities::LARGE_MTU | capabilities::LEASING
    };
    // 3.0 and 3.0.2 encrypt with AES-128-CCM when both sides have SMB2_GLOBAL_CAP_ENCRYPTION
    // (MS-SMB2 3.3.5.4); 3.1.1 negotiates through the context above and leaves the bit clear.
    if encryption_on
        && (dialect == Dialect::SMB3_0 || dialect == Dialect::SMB3_0_2)
        && n.capabilities & capabilities::ENCRYPTION != 0
    {
        conn.server_capabilities |= capabilities::ENCRYPTION;
        cipher = Some(Cipher::AES_128_CCM);
    }
    conn.cipher = cipher;
    tracing::debug!(?dialect, ?signing_alg, ?cipher, "negotiated");
    let body = response_body(conn, dialect, contexts);
    Ok(Reply {
        body,
        preauth_conn: dialect == Dialect::SMB3_1_1,
        ..Reply::default()
    })
}

/// SMB1 NEGOTIATE offering SMB2 dialect strings.
pub(crate) fn smb1(conn: &mut Conn, msg: &[u8]) -> Result<Reply, SmbError> {
    let dialect = match parse_smb1_negotiate(msg)? {
        Smb1Negotiate::Wildcard => Dialect::SMB2_WILDCARD,
        Smb1Negotiate::Smb202 => Dialect::SMB2_0_2,
        Smb1Negotiate::NoSmb2 => return Err(SmbError::Disconnect("SMB1 only client")),
    };
    conn.dialect = Some(dialect);
    conn.negotiated_via_smb1 = dialect == Dialect::SMB2_0_2;
    conn.server_security_mode = security_mode(conn);
    conn.server_capabilities = 0;
    let body = response_body(conn, dialect, Vec::new());
    Ok(Reply::ok(body))
}
