//! Message signing (MS-SMB2 3.1.4.1 signing, 3.1.5.1 verifying).

use aes::Aes128;
use cmac::{Cmac, Mac};
use ring::{aead, hmac};

use super::gmac;
use crate::header::{flags, Command, HEADER_LEN, SIGNATURE_OFFSET};

/// Which algorithm signs a session's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// HMAC-SHA256 truncated to 16 bytes (2.0.2, 2.1).
    HmacSha256,
    /// AES-128-CMAC (3.0, 3.0.2, 3.1.1 by default).
    AesCmac,
    /// AES-128-GMAC (3.1.1 when negotiated through SMB2_SIGNING_CAPABILITIES).
    AesGmac,
}

/// Who sent the message (the GMAC nonce depends on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Client (requests).
    Client,
    /// Server (responses).
    Server,
}

fn field<const N: usize>(msg: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    if let Some(s) = msg.get(at..at + N) {
        a.copy_from_slice(s);
    }
    a
}

/// The AES-GMAC nonce of a message (MS-SMB2 3.1.4.1): MessageId, then a role bit and a
/// CANCEL bit.
fn gmac_nonce(msg: &[u8], role: Role) -> [u8; 12] {
    let message_id: [u8; 8] = field(msg, 24);
    let command = u16::from_le_bytes(field(msg, 12));
    let hdr_flags = u32::from_le_bytes(field(msg, 16));
    let mut bits = 0u32;
    if role == Role::Server {
        bits |= 1;
    }
    if Command(command) == Command::CANCEL && hdr_flags & flags::SERVER_TO_REDIR == 0 {
        bits |= 2;
    }
    let mut nonce = [0u8; 12];
    for (n, b) in nonce
        .iter_mut()
        .zip(message_id.iter().chain(bits.to_le_bytes().iter()))
    {
        *n = *b;
    }
    nonce
}

/// The 16-byte signature of `msg` (one message of a chain, padding included) with its
/// signature field taken as zero. `None` when `msg` is shorter than a header or the key is
/// unusable.
pub fn compute(alg: SigningAlgorithm, key: &[u8; 16], msg: &[u8], role: Role) -> Option<[u8; 16]> {
    if msg.len() < HEADER_LEN {
        return None;
    }
    let (before, rest) = msg.split_at(SIGNATURE_OFFSET);
    let after = rest.get(16..)?;
    let zero = [0u8; 16];
    let mut out = [0u8; 16];
    match alg {
        SigningAlgorithm::HmacSha256 => {
            let k = hmac::Key::new(hmac::HMAC_SHA256, key);
            let mut ctx = hmac::Context::with_key(&k);
            ctx.update(before);
            ctx.update(&zero);
            ctx.update(after);
            let tag = ctx.sign();
            for (o, t) in out.iter_mut().zip(tag.as_ref()) {
                *o = *t;
            }
        }
        SigningAlgorithm::AesCmac => {
            let mut m = <Cmac<Aes128> as Mac>::new_from_slice(key).ok()?;
            m.update(before);
            m.update(&zero);
            m.update(after);
            out.copy_from_slice(&m.finalize().into_bytes());
        }
        SigningAlgorithm::AesGmac => {
            let nonce = gmac_nonce(msg, role);
            if msg.len() >= gmac::MIN_LEN {
                // Large (a WRITE being verified): the fast path, with the signature field
                // counted as zero.
                return gmac::tag_with_zeroed(
                    key,
                    nonce,
                    msg,
                    SIGNATURE_OFFSET..SIGNATURE_OFFSET + 16,
                );
            }
            let k = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, key).ok()?);
            // GMAC takes the message as one AAD slice: use it as is when its signature field
            // is already zero (`sign` zeroes it first), copy it only otherwise (verify).
            let copy;
            let aad: &[u8] = if rest.get(..16) == Some(&zero[..]) {
                msg
            } else {
                let mut v = Vec::with_capacity(msg.len());
                v.extend_from_slice(before);
                v.extend_from_slice(&zero);
                v.extend_from_slice(after);
                copy = v;
                &copy
            };
            let tag = k
                .seal_in_place_separate_tag(
                    aead::Nonce::assume_unique_for_key(nonce),
                    aead::Aad::from(aad),
                    &mut [],
                )
                .ok()?;
            out.copy_from_slice(tag.as_ref());
        }
    }
    Some(out)
}

/// Signs `msg` in place: sets SMB2_FLAGS_SIGNED and writes the signature.
pub fn sign(alg: SigningAlgorithm, key: &[u8; 16], msg: &mut [u8], role: Role) {
    if let Some(f) = msg.get_mut(16..20) {
        let mut a = [0u8; 4];
        a.copy_from_slice(f);
        let v = u32::from_le_bytes(a) | flags::SIGNED;
        f.copy_from_slice(&v.to_le_bytes());
    }
    if let Some(s) = msg.get_mut(SIGNATURE_OFFSET..SIGNATURE_OFFSET + 16) {
        s.fill(0);
    }
    let sig = if alg == SigningAlgorithm::AesGmac && msg.len() >= gmac::MIN_LEN {
        // Large (a READ reply): the fast path, in place, no copy.
        gmac::tag_in_place(key, gmac_nonce(msg, role), msg)
    } else {
        compute(alg, key, msg, role)
    };
    if let Some(sig) = sig {
        if let Some(s) = msg.get_mut(SIGNATURE_OFFSET..SIGNATURE_OFFSET + 16) {
            s.copy_from_slice(&sig);
        }
    }
}

/// Verifies the signature of a received message in constant time.
pub fn verify(alg: SigningAlgorithm, key: &[u8; 16], msg: &[u8], role: Role) -> bool {
    let Some(expected) = compute(alg, key, msg, role) else {
        return false;
    };
    let got: [u8; 16] = field(msg, SIGNATURE_OFFSET);
    // Constant time: no early exit on the first differing byte.
    expected
        .iter()
        .zip(got.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}
