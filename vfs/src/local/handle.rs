//! The LocalFs handle: a kernel file handle (inode + generation, as `name_to_handle_at`
//! gives it), tagged with the root it was reached from, and authenticated with a server key so
//! a client cannot forge a handle to a file outside its export.
//!
//! Layout (at most [`crate::MAX_HANDLE_LEN`] bytes):
//! `version (1) | root tag (4, LE) | kernel handle type (4, LE) | len (1) | f_handle (len) | mac (8)`
//! where `mac` is HMAC-SHA256 over everything before it, truncated to 8 bytes.

use super::sys::KernelHandle;
use crate::{FileHandle, VfsError, VfsResult, MAX_HANDLE_LEN};

const VERSION: u8 = 1;
const MAC_LEN: usize = 8;
const HEADER_LEN: usize = 1 + 4 + 4 + 1;

/// Largest kernel `f_handle` that fits.
pub const MAX_F_HANDLE: usize = MAX_HANDLE_LEN - HEADER_LEN - MAC_LEN;

/// A decoded, authenticated handle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Which root (export/share directory) the object was reached from.
    pub root_tag: u32,
    /// The kernel handle.
    pub kernel: KernelHandle,
}

/// Signs and checks handles with one key.
pub struct HandleCodec {
    key: ring::hmac::Key,
}

impl HandleCodec {
    /// A codec with a 32-byte secret.
    pub fn new(secret: &[u8]) -> HandleCodec {
        HandleCodec {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
        }
    }

    fn mac(&self, body: &[u8]) -> [u8; MAC_LEN] {
        let tag = ring::hmac::sign(&self.key, body);
        let mut out = [0u8; MAC_LEN];
        for (o, t) in out.iter_mut().zip(tag.as_ref()) {
            *o = *t;
        }
        out
    }

    /// Encodes and signs.
    pub fn encode(&self, root_tag: u32, kernel: &KernelHandle) -> VfsResult<FileHandle> {
        if kernel.bytes.len() > MAX_F_HANDLE {
            return Err(VfsError::NotSupported);
        }
        let mut v = Vec::with_capacity(HEADER_LEN + kernel.bytes.len() + MAC_LEN);
        v.push(VERSION);
        v.extend_from_slice(&root_tag.to_le_bytes());
        v.extend_from_slice(&kernel.kind.to_le_bytes());
        v.push(kernel.bytes.len() as u8);
        v.extend_from_slice(&kernel.bytes);
        let mac = self.mac(&v);
        v.extend_from_slice(&mac);
        Ok(FileHandle::from_vec(v))
    }

    /// Decodes and authenticates; any mismatch is [`VfsError::Stale`] (as knfsd answers a
    /// handle it did not issue) or [`VfsError::BadHandle`] for a malformed one.
    pub fn decode(&self, handle: &FileHandle) -> VfsResult<Decoded> {
        let b = handle.as_bytes();
        let (body, mac) = match b.len().checked_sub(MAC_LEN) {
            Some(n) if n >= HEADER_LEN => (b.get(..n), b.get(n..)),
            _ => return Err(VfsError::BadHandle),
        };
        let (Some(body), Some(mac)) = (body, mac) else {
            return Err(VfsError::BadHandle);
        };
        let [version, t0, t1, t2, t3, k0, k1, k2, k3, len, rest @ ..] = body else {
            return Err(VfsError::BadHandle);
        };
        if *version != VERSION || usize::from(*len) != rest.len() {
            return Err(VfsError::BadHandle);
        }
        let expected = self.mac(body);
        // Constant-time comparison.
        let diff = expected
            .iter()
            .zip(mac)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err(VfsError::Stale);
        }
        Ok(Decoded {
            root_tag: u32::from_le_bytes([*t0, *t1, *t2, *t3]),
            kernel: KernelHandle {
                kind: i32::from_le_bytes([*k0, *k1, *k2, *k3]),
                bytes: rest.to_vec(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_forgery() {
        let c = HandleCodec::new(&[7; 32]);
        let k = KernelHandle {
            kind: 1,
            bytes: vec![1, 2, 3, 4, 5, 6, 7, 8],
        };
        let h = c.encode(42, &k).unwrap();
        assert!(h.as_bytes().len() <= MAX_HANDLE_LEN);
        let d = c.decode(&h).unwrap();
        assert_eq!(d.root_tag, 42);
        assert_eq!(d.kernel, k);
        // Flip any byte: refused, never a panic.
        for i in 0..h.as_bytes().len() {
            let mut b = h.as_bytes().to_vec();
            b[i] ^= 1;
            let f = FileHandle::from_bytes(&b).unwrap();
            assert!(c.decode(&f).is_err(), "byte {i}");
        }
        // Another key: stale.
        let other = HandleCodec::new(&[8; 32]);
        assert!(matches!(other.decode(&h), Err(VfsError::Stale)));
        // Truncations.
        for n in 1..h.as_bytes().len() {
            let f = FileHandle::from_bytes(&h.as_bytes()[..n]).unwrap();
            assert!(c.decode(&f).is_err());
        }
    }
}
