//! SMB 3.x message ciphers (MS-SMB2 3.1.4.3): AES-128/256 in CCM (RFC 4309, 11-byte nonce)
//! and GCM (RFC 5084, 12-byte nonce), always with a 16-byte tag.
//!
//! GCM comes from `ring`, CCM from RustCrypto `ccm` + `aes` (ring has no CCM). Nothing here
//! picks a nonce: the caller passes one in (see [`NonceSequence`]), so this stays sans-IO.

use aes::{Aes128, Aes256};
use ccm::aead::generic_array::GenericArray;
use ccm::aead::{AeadInPlace, KeyInit};
use ccm::consts::{U11, U16};
use ccm::Ccm;
use ring::aead;

use super::kdf::kdf;
use crate::header::Dialect;

/// A cipher id (MS-SMB2 2.2.3.1.2 SMB2_ENCRYPTION_CAPABILITIES `Ciphers`). Open newtype:
/// unknown values round-trip.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cipher(pub u16);

impl Cipher {
    /// No cipher in common (the value a 3.1.1 response carries then).
    pub const NONE: Cipher = Cipher(0x0000);
    /// AES-128-CCM (the only cipher of 3.0 and 3.0.2).
    pub const AES_128_CCM: Cipher = Cipher(0x0001);
    /// AES-128-GCM.
    pub const AES_128_GCM: Cipher = Cipher(0x0002);
    /// AES-256-CCM.
    pub const AES_256_CCM: Cipher = Cipher(0x0003);
    /// AES-256-GCM.
    pub const AES_256_GCM: Cipher = Cipher(0x0004);

    /// The four ciphers shoal implements.
    pub const ALL: [Cipher; 4] = [
        Cipher::AES_128_CCM,
        Cipher::AES_128_GCM,
        Cipher::AES_256_CCM,
        Cipher::AES_256_GCM,
    ];

    /// The name used in configuration files (`AES-128-GCM`, ...).
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Cipher::AES_128_CCM => "AES-128-CCM",
            Cipher::AES_128_GCM => "AES-128-GCM",
            Cipher::AES_256_CCM => "AES-256-CCM",
            Cipher::AES_256_GCM => "AES-256-GCM",
            _ => return None,
        })
    }

    /// Parses a configuration name (case-insensitive).
    pub fn from_name(s: &str) -> Option<Cipher> {
        Cipher::ALL
            .into_iter()
            .find(|c| c.name().is_some_and(|n| n.eq_ignore_ascii_case(s)))
    }

    /// Is this one of the four implemented ciphers.
    pub fn is_known(self) -> bool {
        Cipher::ALL.contains(&self)
    }

    /// Bytes of the Nonce field used: 11 for CCM (AES_CCM_Nonce), 12 for GCM (AES_GCM_Nonce).
    pub fn nonce_len(self) -> usize {
        if self.is_gcm() {
            12
        } else {
            11
        }
    }

    /// Key length in bytes: 32 for the AES-256 ciphers, 16 otherwise.
    pub fn key_len(self) -> usize {
        if self == Cipher::AES_256_CCM || self == Cipher::AES_256_GCM {
            32
        } else {
            16
        }
    }

    fn is_gcm(self) -> bool {
        self == Cipher::AES_128_GCM || self == Cipher::AES_256_GCM
    }
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None if *self == Cipher::NONE => f.write_str("NONE"),
            None => write!(f, "Cipher({:#06x})", self.0),
        }
    }
}

/// Why sealing or opening failed. Carries no detail on purpose: which check failed is not
/// something to tell a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CipherError {
    /// The key has the wrong length or the cipher id is unknown.
    #[error("unusable key or cipher")]
    BadKey,
    /// Authentication failed (wrong key, tampered data, wrong nonce or AAD).
    #[error("authentication failed")]
    Auth,
    /// The buffer is too large for the cipher.
    #[error("message too large to seal")]
    TooLarge,
}

type Aes128Ccm = Ccm<Aes128, U16, U11>;
type Aes256Ccm = Ccm<Aes256, U16, U11>;

enum Engine {
    Gcm(Box<aead::LessSafeKey>),
    Ccm128(Box<Aes128Ccm>),
    Ccm256(Box<Aes256Ccm>),
}

/// A ready-to-use key for one direction of one session.
pub struct CipherKey {
    cipher: Cipher,
    engine: Engine,
}

impl std::fmt::Debug for CipherKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CipherKey({:?}, ..)", self.cipher)
    }
}

impl CipherKey {
    /// Builds a key; `key` must be [`Cipher::key_len`] bytes.
    pub fn new(cipher: Cipher, key: &[u8]) -> Result<CipherKey, CipherError> {
        if key.len() != cipher.key_len() {
            return Err(CipherError::BadKey);
        }
        let engine = match cipher {
            Cipher::AES_128_GCM => Engine::Gcm(Box::new(aead::LessSafeKey::new(
                aead::UnboundKey::new(&aead::AES_128_GCM, key).map_err(|_| CipherError::BadKey)?,
            ))),
            Cipher::AES_256_GCM => Engine::Gcm(Box::new(aead::LessSafeKey::new(
                aead::UnboundKey::new(&aead::AES_256_GCM, key).map_err(|_| CipherError::BadKey)?,
            ))),
            Cipher::AES_128_CCM => Engine::Ccm128(Box::new(
                Aes128Ccm::new_from_slice(key).map_err(|_| CipherError::BadKey)?,
            )),
            Cipher::AES_256_CCM => Engine::Ccm256(Box::new(
                Aes256Ccm::new_from_slice(key).map_err(|_| CipherError::BadKey)?,
            )),
            _ => return Err(CipherError::BadKey),
        };
        Ok(CipherKey { cipher, engine })
    }

    /// The cipher of this key.
    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// Encrypts `data` in place and returns the tag. `nonce` is the 16-byte Nonce field of the
    /// transform header; only its first [`Cipher::nonce_len`] bytes are used.
    pub fn seal(
        &self,
        nonce: &[u8; 16],
        aad: &[u8],
        data: &mut [u8],
    ) -> Result<[u8; 16], CipherError> {
        let mut tag = [0u8; 16];
        match &self.engine {
            Engine::Gcm(k) => {
                let t = k
                    .seal_in_place_separate_tag(gcm_nonce(nonce), aead::Aad::from(aad), data)
                    .map_err(|_| CipherError::TooLarge)?;
                tag.copy_from_slice(t.as_ref());
            }
            Engine::Ccm128(k) => {
                let t = k
                    .encrypt_in_place_detached(ccm_nonce(nonce), aad, data)
                    .map_err(|_| CipherError::TooLarge)?;
                tag.copy_from_slice(&t);
            }
            Engine::Ccm256(k) => {
                let t = k
                    .encrypt_in_place_detached(ccm_nonce(nonce), aad, data)
                    .map_err(|_| CipherError::TooLarge)?;
                tag.copy_from_slice(&t);
            }
        }
        Ok(tag)
    }

    /// Decrypts `data` in place after checking `tag`; on failure `data` must be discarded.
    pub fn open(
        &self,
        nonce: &[u8; 16],
        aad: &[u8],
        data: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), CipherError> {
        match &self.engine {
            Engine::Gcm(k) => k
                .open_in_place_separate_tag(
                    gcm_nonce(nonce),
                    aead::Aad::from(aad),
                    aead::Tag::from(*tag),
                    data,
                    0..,
                )
                .map(|_| ())
                .map_err(|_| CipherError::Auth),
            Engine::Ccm128(k) => k
                .decrypt_in_place_detached(
                    ccm_nonce(nonce),
                    aad,
                    data,
                    GenericArray::from_slice(tag),
                )
                .map_err(|_| CipherError::Auth),
            Engine::Ccm256(k) => k
                .decrypt_in_place_detached(
                    ccm_nonce(nonce),
                    aad,
                    data,
                    GenericArray::from_slice(tag),
                )
                .map_err(|_| CipherError::Auth),
        }
    }
}

fn gcm_nonce(n: &[u8; 16]) -> aead::Nonce {
    let mut a = [0u8; 12];
    for (o, b) in a.iter_mut().zip(n.iter()) {
        *o = *b;
    }
    aead::Nonce::assume_unique_for_key(a)
}

fn ccm_nonce(n: &[u8; 16]) -> &GenericArray<u8, U11> {
    let (first, _) = n.split_at(11);
    GenericArray::from_slice(first)
}

/// The encryption and decryption keys of a session, as raw bytes (16 or 32 each).
#[derive(Clone, PartialEq, Eq)]
pub struct CipherKeys {
    /// Session.EncryptionKey: server to client.
    pub encryption: Vec<u8>,
    /// Session.DecryptionKey: client to server.
    pub decryption: Vec<u8>,
}

impl std::fmt::Debug for CipherKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CipherKeys(..)")
    }
}

/// Derives the server's encryption and decryption keys (MS-SMB2 3.3.5.5.3).
///
/// 3.1.1 uses the labels `SMBS2CCipherKey` / `SMBC2SCipherKey` with the session's preauth
/// hash as context; 3.0 and 3.0.2 use `SMB2AESCCM` with `ServerOut` / `ServerIn `. "If
/// Connection.CipherId is AES-256-CCM or AES-256-GCM, 'L' is 256 and the full session key
/// (Session.FullSessionKey) is used as the key"; otherwise L is 128 and the key is the first
/// 16 bytes of the session key. `None` for 2.x dialects, which cannot encrypt.
pub fn derive_cipher_keys(
    session_key: &[u8],
    dialect: Dialect,
    preauth: &[u8; 64],
    cipher: Cipher,
) -> Option<CipherKeys> {
    if !dialect.is_smb3() || !cipher.is_known() {
        return None;
    }
    let len = cipher.key_len();
    let ki: Vec<u8> = if len == 32 {
        session_key.to_vec()
    } else {
        let mut k = session_key.iter().copied().take(16).collect::<Vec<u8>>();
        k.resize(16, 0);
        k
    };
    let mut encryption = vec![0u8; len];
    let mut decryption = vec![0u8; len];
    if dialect == Dialect::SMB3_1_1 {
        kdf(&ki, b"SMBS2CCipherKey\0", preauth, &mut encryption);
        kdf(&ki, b"SMBC2SCipherKey\0", preauth, &mut decryption);
    } else {
        kdf(&ki, b"SMB2AESCCM\0", b"ServerOut\0", &mut encryption);
        kdf(&ki, b"SMB2AESCCM\0", b"ServerIn \0", &mut decryption);
    }
    Some(CipherKeys {
        encryption,
        decryption,
    })
}

/// The nonces a sender uses under one key: a 64-bit counter, so a nonce is never reused for
/// the life of the key (MS-SMB2 2.2.41: "MUST NOT be reused for all encrypted messages within
/// a session"). The counter fills the first 8 bytes; the rest of the nonce is zero.
#[derive(Debug, Default, Clone)]
pub struct NonceSequence {
    next: u64,
}

impl NonceSequence {
    /// A sequence starting at 1.
    pub fn new() -> NonceSequence {
        NonceSequence { next: 1 }
    }

    /// The next 16-byte Nonce field; `None` once the counter is exhausted (the session must
    /// then end rather than reuse a nonce).
    pub fn next_nonce(&mut self) -> Option<[u8; 16]> {
        let v = self.next;
        if v == u64::MAX {
            return None;
        }
        self.next = v.checked_add(1)?;
        let mut n = [0u8; 16];
        for (o, b) in n.iter_mut().zip(v.to_le_bytes()) {
            *o = b;
        }
        Some(n)
    }
}

/// Nonces recently received under one key, to refuse a replayed message. Bounded: it
/// remembers the last [`ReplayWindow::CAPACITY`] nonces (an exact replay of an older frame
/// also fails the message-id sequence window).
#[derive(Debug, Default)]
pub struct ReplayWindow {
    seen: std::collections::HashSet<[u8; 16]>,
    order: std::collections::VecDeque<[u8; 16]>,
}

impl ReplayWindow {
    /// How many nonces are remembered.
    pub const CAPACITY: usize = 4096;

    /// Records `nonce`; false if it was seen already (a replay).
    pub fn accept(&mut self, nonce: [u8; 16]) -> bool {
        if !self.seen.insert(nonce) {
            return false;
        }
        self.order.push_back(nonce);
        if self.order.len() > Self::CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}
