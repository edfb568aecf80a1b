//! SMB2 TRANSFORM_HEADER (MS-SMB2 2.2.41) and sealing/opening an encrypted message
//! (3.1.4.3 encrypting, 3.3.5.2.1.1 decrypting).
//!
//! ```text
//!  0  ProtocolId            0xFD 'S' 'M' 'B'
//!  4  Signature             16-byte AEAD tag
//! 20  Nonce                 11 bytes (CCM) or 12 bytes (GCM), rest zero
//! 36  OriginalMessageSize   u32
//! 40  Reserved              u16
//! 42  Flags                 u16, 0x0001 (encrypted)
//! 44  SessionId             u64
//! ```
//! The additional authenticated data is the header from Nonce on (bytes 20..52).
//!
//! Both directions work in place on a buffer that holds the 52-byte header followed by the
//! message, so a multi-megabyte READ response is encrypted without a copy.

use bytes::BufMut;

use crate::crypto::encryption::{CipherError, CipherKey};
use crate::reader::{DecodeError, Reader};

/// ProtocolId of a TRANSFORM_HEADER.
pub const PROTOCOL_ID: [u8; 4] = [0xFD, b'S', b'M', b'B'];
/// Length of the TRANSFORM_HEADER.
pub const HEADER_LEN: usize = 52;
/// Flags/EncryptionAlgorithm: "the message is encrypted" (3.1.1; AES-128-CCM in 3.0.x, the
/// same value).
pub const FLAG_ENCRYPTED: u16 = 0x0001;

const AAD_START: usize = 20;

/// A decoded TRANSFORM_HEADER.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransformHeader {
    /// Signature (the AEAD tag).
    pub signature: [u8; 16],
    /// Nonce (16 bytes on the wire).
    pub nonce: [u8; 16],
    /// OriginalMessageSize.
    pub original_message_size: u32,
    /// Flags/EncryptionAlgorithm.
    pub flags: u16,
    /// SessionId.
    pub session_id: u64,
}

impl TransformHeader {
    /// Decodes the header at the start of `msg`; checks the ProtocolId only.
    pub fn decode(msg: &[u8]) -> Result<TransformHeader, DecodeError> {
        let mut r = Reader::new(msg);
        if r.array::<4>()? != PROTOCOL_ID {
            return Err(DecodeError::Invalid("not a transform header"));
        }
        let signature = r.array()?;
        let nonce = r.array()?;
        let original_message_size = r.u32()?;
        r.skip(2)?;
        let flags = r.u16()?;
        let session_id = r.u64()?;
        Ok(TransformHeader {
            signature,
            nonce,
            original_message_size,
            flags,
            session_id,
        })
    }

    /// Encodes the 52-byte header.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(&PROTOCOL_ID);
        out.put_slice(&self.signature);
        out.put_slice(&self.nonce);
        out.put_u32_le(self.original_message_size);
        out.put_u16_le(0);
        out.put_u16_le(self.flags);
        out.put_u64_le(self.session_id);
    }

    fn bytes(&self) -> [u8; HEADER_LEN] {
        let mut a = [0u8; HEADER_LEN];
        let mut w: &mut [u8] = a.as_mut_slice();
        self.encode(&mut w);
        a
    }
}

/// Why an encrypted message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransformError {
    /// Too short, or not a transform header.
    #[error("malformed transform header: {0}")]
    Malformed(#[from] DecodeError),
    /// MS-SMB2 3.3.5.2.1.1: the message is not longer than the header.
    #[error("no encrypted payload")]
    Empty,
    /// MS-SMB2 3.3.5.2.1.1: Flags/EncryptionAlgorithm is not 0x0001.
    #[error("flags {0:#06x} are not 0x0001")]
    BadFlags(u16),
    /// OriginalMessageSize disagrees with the payload length.
    #[error("original size {size} but {payload} bytes of payload")]
    SizeMismatch {
        /// OriginalMessageSize.
        size: u32,
        /// Bytes after the header.
        payload: usize,
    },
    /// The message does not authenticate (bad tag, wrong key or session, tampering).
    #[error("decryption failed: {0}")]
    Cipher(#[from] CipherError),
}

/// Checks the header of an encrypted message before any decryption: shape, flags and size.
/// Returns the header so the caller can find the session (and its key) by SessionId.
pub fn peek(msg: &[u8]) -> Result<TransformHeader, TransformError> {
    let h = TransformHeader::decode(msg)?;
    let payload = msg.len().saturating_sub(HEADER_LEN);
    if payload == 0 {
        return Err(TransformError::Empty);
    }
    if h.flags != FLAG_ENCRYPTED {
        return Err(TransformError::BadFlags(h.flags));
    }
    if usize::try_from(h.original_message_size).ok() != Some(payload) {
        return Err(TransformError::SizeMismatch {
            size: h.original_message_size,
            payload,
        });
    }
    Ok(h)
}

/// Decrypts `msg` (transform header + ciphertext) in place with the receiver's key; on
/// success the plaintext SMB2 message (or compound chain) is `msg[HEADER_LEN..]`.
pub fn open(key: &CipherKey, msg: &mut [u8]) -> Result<TransformHeader, TransformError> {
    let h = peek(msg)?;
    let (head, payload) = msg.split_at_mut(HEADER_LEN);
    let aad = head.get(AAD_START..).ok_or(TransformError::Empty)?;
    key.open(&h.nonce, aad, payload, &h.signature)?;
    Ok(h)
}

/// Encrypts in place: `buf` holds [`HEADER_LEN`] bytes of room followed by the plaintext
/// message; the header is written there (with the tag as Signature) and the message
/// replaced by its ciphertext. `nonce` must never have been used with `key` before.
pub fn seal(
    key: &CipherKey,
    nonce: [u8; 16],
    session_id: u64,
    buf: &mut [u8],
) -> Result<(), TransformError> {
    let payload_len = buf
        .len()
        .checked_sub(HEADER_LEN)
        .filter(|l| *l > 0)
        .ok_or(TransformError::Empty)?;
    let mut h = TransformHeader {
        signature: [0; 16],
        nonce,
        original_message_size: u32::try_from(payload_len).map_err(|_| CipherError::TooLarge)?,
        flags: FLAG_ENCRYPTED,
        session_id,
    };
    let bytes = h.bytes();
    let aad = bytes.get(AAD_START..).ok_or(TransformError::Empty)?;
    let (head, payload) = buf.split_at_mut(HEADER_LEN);
    h.signature = key.seal(&nonce, aad, payload)?;
    head.copy_from_slice(&h.bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::encryption::Cipher;

    #[test]
    fn header_round_trips() {
        let h = TransformHeader {
            signature: [1; 16],
            nonce: [2; 16],
            original_message_size: 77,
            flags: 1,
            session_id: 9,
        };
        let mut v = Vec::new();
        h.encode(&mut v);
        assert_eq!(v.len(), HEADER_LEN);
        assert_eq!(TransformHeader::decode(&v).unwrap(), h);
        assert!(TransformHeader::decode(&v[..51]).is_err());
        v[0] = 0xFE;
        assert!(TransformHeader::decode(&v).is_err());
    }

    #[test]
    fn seal_then_open_for_each_cipher_and_tampering_fails() {
        for c in Cipher::ALL {
            let key = vec![7u8; c.key_len()];
            let k = CipherKey::new(c, &key).unwrap();
            let msg = b"\xFESMB hello, encrypted world".to_vec();
            let mut buf = vec![0u8; HEADER_LEN];
            buf.extend_from_slice(&msg);
            let mut nonce = [0u8; 16];
            nonce[0] = 1;
            seal(&k, nonce, 0x1234, &mut buf).unwrap();
            assert_eq!(buf[..4], PROTOCOL_ID);
            assert_ne!(&buf[HEADER_LEN..], &msg[..], "{c:?}");
            let mut good = buf.clone();
            let h = open(&k, &mut good).unwrap();
            assert_eq!(h.session_id, 0x1234);
            assert_eq!(&good[HEADER_LEN..], &msg[..], "{c:?}");
            // Any flipped bit, in the AAD or the ciphertext or the tag, fails.
            for at in [5, 21, 44, HEADER_LEN + 3] {
                let mut bad = buf.clone();
                bad[at] ^= 0x40;
                assert!(open(&k, &mut bad).is_err(), "{c:?} byte {at}");
            }
            // Another key fails.
            let other = CipherKey::new(c, &vec![8u8; c.key_len()]).unwrap();
            assert!(matches!(
                open(&other, &mut buf.clone()),
                Err(TransformError::Cipher(_))
            ));
        }
    }

    #[test]
    fn shape_checks_come_before_decryption() {
        let k = CipherKey::new(Cipher::AES_128_GCM, &[0; 16]).unwrap();
        let mut m = vec![0u8; HEADER_LEN];
        m[..4].copy_from_slice(&PROTOCOL_ID);
        assert_eq!(peek(&m), Err(TransformError::Empty));
        m.extend_from_slice(&[0; 10]);
        assert_eq!(peek(&m), Err(TransformError::BadFlags(0)));
        m[42] = 1;
        assert!(matches!(peek(&m), Err(TransformError::SizeMismatch { .. })));
        m[36] = 10;
        assert!(peek(&m).is_ok());
        assert!(matches!(open(&k, &mut m), Err(TransformError::Cipher(_))));
    }
}
