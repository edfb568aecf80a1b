//! AES-128-GMAC over large messages, fast (signing of READ replies and WRITE requests).
//!
//! GMAC is AES-GCM with the whole message as additional data and no plaintext (NIST SP
//! 800-38D 6.4; MS-SMB2 3.1.4.1). ring hashes additional data one block at a time, at about a
//! fifth of the speed of its stitched AES+GHASH path for ciphertext. GHASH treats additional
//! data and ciphertext blocks alike; only the final length block `len(A) || len(C)` differs.
//! So the tag is computed as:
//!
//! 1. `P = M xor keystream` (AES-CTR from counter 2, as GCM encrypts);
//! 2. ring seals `P` with empty additional data: its ciphertext is `M` again and its tag is
//!    `GHASH_H(C = M) xor E_K(J0)`;
//! 3. both GHASHes run over the same blocks `S` and end with `(S xor L) * H`, so
//!    `tag_A = tag_C xor ((L_A xor L_C) * H)` with `H = E_K(0^128)`, one multiply in GF(2^128).
//!
//! Every block operation comes from ring and RustCrypto `aes`; only the one final multiply
//! (SP 800-38D 6.3, Algorithm 1) is written here. The tests compare with ring's GMAC.

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;
use ring::aead;

/// Below this size ring's GMAC is faster than the set-up of the path here.
pub const MIN_LEN: usize = 4096;

/// Keystream blocks made per AES call.
const CHUNK_BLOCKS: usize = 128;

/// `x * y` in GCM's GF(2^128) (SP 800-38D 6.3, Algorithm 1; bit 0 is the most significant).
/// Without branches on the operands: `y` is the hash key H.
fn gf_mul(x: u128, y: u128) -> u128 {
    const R: u128 = 0xE1 << 120;
    let (mut z, mut v) = (0u128, y);
    for i in 0..128 {
        z ^= v & 0u128.wrapping_sub((x >> (127 - i)) & 1);
        v = (v >> 1) ^ (R & 0u128.wrapping_sub(v & 1));
    }
    z
}

type Block = GenericArray<u8, aes::cipher::consts::U16>;

/// Calls `f(i, keystream)` for each chunk `i` of `CHUNK_BLOCKS * 16` bytes of a `len`-byte
/// message with the GCM keystream for `nonce` (counter blocks from 2 up).
fn keystream_chunks(
    aes: &Aes128,
    nonce: &[u8; 12],
    len: usize,
    mut f: impl FnMut(usize, &[Block]),
) {
    let mut ctr: u32 = 2;
    let mut blocks = [GenericArray::from([0u8; 16]); CHUNK_BLOCKS];
    let chunk_len = CHUNK_BLOCKS * 16;
    for i in 0..len.div_ceil(chunk_len) {
        let n = (len - i * chunk_len).min(chunk_len).div_ceil(16);
        let Some(blocks) = blocks.get_mut(..n) else {
            return; // unreachable: a chunk holds at most CHUNK_BLOCKS blocks
        };
        for b in blocks.iter_mut() {
            let (head, tail) = b.split_at_mut(12);
            head.copy_from_slice(nonce);
            tail.copy_from_slice(&ctr.to_be_bytes());
            ctr = ctr.wrapping_add(1);
        }
        aes.encrypt_blocks(blocks);
        f(i, blocks);
    }
}

/// Appends `src xor keystream` to `dst` (`src` is one chunk): XORed on the stack 16 bytes at a
/// time, appended with one copy.
fn xor_append(dst: &mut Vec<u8>, src: &[u8], ks: &[Block]) {
    let mut out = [0u8; CHUNK_BLOCKS * 16];
    let Some(out) = out.get_mut(..src.len()) else {
        return; // unreachable: a chunk holds at most CHUNK_BLOCKS blocks
    };
    out.copy_from_slice(src);
    xor_in_place(out, ks);
    dst.extend_from_slice(out);
}

/// `buf ^= keystream`, 16 bytes at a time where possible.
fn xor_in_place(buf: &mut [u8], ks: &[Block]) {
    for (d, k) in buf.chunks_mut(16).zip(ks) {
        if let Ok(d16) = <&mut [u8; 16]>::try_from(&mut *d) {
            let k16: [u8; 16] = (*k).into();
            *d16 = (u128::from_ne_bytes(*d16) ^ u128::from_ne_bytes(k16)).to_ne_bytes();
        } else {
            for (x, z) in d.iter_mut().zip(k.iter()) {
                *x ^= z;
            }
        }
    }
}

/// XORs the GCM keystream for `nonce` into `buf`.
fn xor_keystream(aes: &Aes128, nonce: &[u8; 12], buf: &mut [u8]) {
    let len = buf.len();
    let mut chunks = buf.chunks_mut(CHUNK_BLOCKS * 16);
    keystream_chunks(aes, nonce, len, |_, ks| {
        if let Some(c) = chunks.next() {
            xor_in_place(c, ks);
        }
    });
}

/// The GMAC tag of `msg` (all of it as additional data), leaving `msg` unchanged on return.
/// `None` if the key is unusable or the message is beyond GCM's limit.
pub fn tag_in_place(key: &[u8; 16], nonce: [u8; 12], msg: &mut [u8]) -> Option<[u8; 16]> {
    let aes = Aes128::new(GenericArray::from_slice(key));
    xor_keystream(&aes, &nonce, msg);
    let tag = seal_and_fix(&aes, key, nonce, msg);
    if tag.is_none() {
        // ring refused before touching `msg` (a length limit): undo the XOR.
        xor_keystream(&aes, &nonce, msg);
    }
    tag
}

/// The GMAC tag of `msg` with the bytes in `zeroed` taken as zero (a received message's
/// signature field), without changing `msg`: `P` is built in a new buffer in the same pass
/// that reads `msg`. `None` if the key is unusable or the message is beyond GCM's limit.
pub fn tag_with_zeroed(
    key: &[u8; 16],
    nonce: [u8; 12],
    msg: &[u8],
    zeroed: std::ops::Range<usize>,
) -> Option<[u8; 16]> {
    let aes = Aes128::new(GenericArray::from_slice(key));
    let mut p = Vec::with_capacity(msg.len());
    let mut chunks = msg.chunks(CHUNK_BLOCKS * 16);
    keystream_chunks(&aes, &nonce, msg.len(), |_, ks| {
        if let Some(c) = chunks.next() {
            xor_append(&mut p, c, ks);
        }
    });
    // Where the message counts as zero, P is the keystream itself: P xor M there.
    if let (Some(pz), Some(mz)) = (p.get_mut(zeroed.clone()), msg.get(zeroed)) {
        for (x, m) in pz.iter_mut().zip(mz) {
            *x ^= m;
        }
    }
    seal_and_fix(&aes, key, nonce, &mut p)
}

/// Seals `p` (already `M xor keystream`), which turns it back into `M`, and corrects ring's
/// tag over ciphertext `M` into the GMAC tag over additional data `M`.
fn seal_and_fix(aes: &Aes128, key: &[u8; 16], nonce: [u8; 12], p: &mut [u8]) -> Option<[u8; 16]> {
    let mut h = GenericArray::from([0u8; 16]);
    aes.encrypt_block(&mut h);
    let h = u128::from_be_bytes(h.into());
    let sealing = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, key).ok()?);
    let tag = sealing
        .seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::empty(),
            p,
        )
        .ok()?;
    let mut t = [0u8; 16];
    t.copy_from_slice(tag.as_ref());
    let bits = u128::from(u64::try_from(p.len()).ok()?.checked_mul(8)?);
    // L_A xor L_C = len(M) || 0  xor  0 || len(M).
    let fix = gf_mul((bits << 64) | bits, h);
    Some((u128::from_be_bytes(t) ^ fix).to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_gmac(key: &[u8; 16], nonce: [u8; 12], msg: &[u8]) -> [u8; 16] {
        let k = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, key).unwrap());
        let t = k
            .seal_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(msg),
                &mut [],
            )
            .unwrap();
        t.as_ref().try_into().unwrap()
    }

    #[test]
    fn same_tag_as_ring_gmac_and_message_unchanged() {
        let key = [0x5a; 16];
        for len in [
            0usize,
            1,
            15,
            16,
            17,
            64,
            100,
            2047,
            2048,
            2049,
            4096,
            65_536,
            1 << 20,
        ] {
            let orig: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let mut msg = orig.clone();
            let nonce = [len as u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
            let fast = tag_in_place(&key, nonce, &mut msg).unwrap();
            assert_eq!(msg, orig, "len {len}");
            assert_eq!(fast, ring_gmac(&key, nonce, &orig), "len {len}");
            // The same with a range counted as zero, from an unchanged message.
            if len >= 64 {
                let mut zeroed = orig.clone();
                zeroed[48..64].fill(0);
                let z = tag_with_zeroed(&key, nonce, &orig, 48..64).unwrap();
                assert_eq!(z, ring_gmac(&key, nonce, &zeroed), "zeroed, len {len}");
            }
        }
    }
}
