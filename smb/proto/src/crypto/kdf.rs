//! SP800-108 counter-mode KDF with HMAC-SHA256 (MS-SMB2 3.1.4.2) and the per-dialect labels
//! (MS-SMB2 3.3.5.5.3).

use ring::hmac;

use crate::header::Dialect;

/// KDF(Ki, Label, Context) with L = 128: the first 16 bytes of
/// HMAC-SHA256(Ki, i=1 || Label || 0x00 || Context || L).
pub fn kdf128(key: &[u8], label: &[u8], context: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    kdf(key, label, context, &mut out);
    out
}

/// KDF(Ki, Label, Context) with L = 8 * `out.len()` bits, for L of 128 or 256: one
/// HMAC-SHA256 block (i = 1) is enough for both. `Label` includes its terminating zero as
/// MS-SMB2 3.1.4.2 spells the labels; the separator byte 0x00 follows it.
pub fn kdf(key: &[u8], label: &[u8], context: &[u8], out: &mut [u8]) {
    let bits = u32::try_from(out.len().saturating_mul(8)).unwrap_or(0);
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&k);
    ctx.update(&1u32.to_be_bytes());
    ctx.update(label);
    ctx.update(&[0]);
    ctx.update(context);
    ctx.update(&bits.to_be_bytes());
    let tag = ctx.sign();
    for (o, t) in out.iter_mut().zip(tag.as_ref()) {
        *o = *t;
    }
}

/// The keys of one session (MS-SMB2 3.3.1.8 Session.SigningKey, ApplicationKey, ...).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// Session.SigningKey.
    pub signing: [u8; 16],
    /// Session.ApplicationKey (handed to RPC over named pipes).
    pub application: [u8; 16],
    /// Session.EncryptionKey (server to client), for later use.
    pub encryption: [u8; 16],
    /// Session.DecryptionKey (client to server), for later use.
    pub decryption: [u8; 16],
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys(..)")
    }
}

/// Derives the session's keys from the authentication session key (first 16 bytes, zero
/// padded) for `dialect`; `preauth` is the session's preauth hash (3.1.1 only).
pub fn derive_session_keys(
    session_key: &[u8],
    dialect: Dialect,
    preauth: &[u8; 64],
) -> SessionKeys {
    let mut sk = [0u8; 16];
    for (o, k) in sk.iter_mut().zip(session_key) {
        *o = *k;
    }
    if dialect == Dialect::SMB3_1_1 {
        SessionKeys {
            signing: kdf128(&sk, b"SMBSigningKey\0", preauth),
            application: kdf128(&sk, b"SMBAppKey\0", preauth),
            encryption: kdf128(&sk, b"SMBS2CCipherKey\0", preauth),
            decryption: kdf128(&sk, b"SMBC2SCipherKey\0", preauth),
        }
    } else if dialect.is_smb3() {
        SessionKeys {
            signing: kdf128(&sk, b"SMB2AESCMAC\0", b"SmbSign\0"),
            application: kdf128(&sk, b"SMB2APP\0", b"SmbRpc\0"),
            encryption: kdf128(&sk, b"SMB2AESCCM\0", b"ServerOut\0"),
            decryption: kdf128(&sk, b"SMB2AESCCM\0", b"ServerIn \0"),
        }
    } else {
        // MS-SMB2 3.3.5.5.3: for 2.x the signing key is the session key itself.
        SessionKeys {
            signing: sk,
            application: sk,
            encryption: [0; 16],
            decryption: [0; 16],
        }
    }
}
