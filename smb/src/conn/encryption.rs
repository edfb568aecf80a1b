//! SMB3 encryption on a connection: per-session keys and nonces, decrypting requests
//! (MS-SMB2 3.3.5.2.1.1), deciding which responses are encrypted (3.3.4.1.4) and sealing them
//! (3.1.4.3). The policy checks on requests (3.3.5.2.9, 3.3.5.2.11) live in `dispatch`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use shoal_smb_proto::crypto::encryption::{CipherKey, CipherKeys, ReplayWindow};
use shoal_smb_proto::transform;
use shoal_smb_proto::Command;

use super::state::Conn;
use crate::config::Cipher;

/// The server-to-client half of a session's encryption: its key and the nonce counter.
/// Shared (`Arc`) between the connection task and the READs completing off it, so every
/// task draws from one counter: a nonce is never used twice under this key.
pub(crate) struct Sealer {
    key: CipherKey,
    /// The next nonce; `u64::MAX` means exhausted.
    next_nonce: AtomicU64,
}

impl Sealer {
    fn new(key: CipherKey) -> Sealer {
        Sealer {
            key,
            next_nonce: AtomicU64::new(1),
        }
    }

    /// Takes the next 16-byte Nonce field (the counter in its first 8 bytes, little-endian),
    /// or `None` once the counter is exhausted: the connection must then close rather than
    /// reuse a nonce (MS-SMB2 3.3.4.1.4 requires a unique nonce per message under a key).
    /// `fetch_update` makes taking a value and advancing the counter one atomic step, so
    /// concurrent callers always get distinct values and the counter never wraps.
    fn next_nonce(&self) -> Option<[u8; 16]> {
        let v = self
            .next_nonce
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                (v != u64::MAX).then(|| v.saturating_add(1))
            })
            .ok()?;
        let mut n = [0u8; 16];
        for (o, b) in n.iter_mut().zip(v.to_le_bytes()) {
            *o = b;
        }
        Some(n)
    }

    /// Seals `frame` in place: it holds the 4-byte transport header, [`TRANSFORM_ROOM`] bytes
    /// of room, then the plaintext message(s). Rewrites the transport length.
    pub fn seal(&self, session_id: u64, frame: &mut [u8]) -> Result<(), &'static str> {
        let nonce = self.next_nonce().ok_or("nonce space exhausted")?;
        let body = frame.get_mut(4..).ok_or("short frame")?;
        let len = body.len();
        transform::seal(&self.key, nonce, session_id, body)
            .map_err(|_| "cannot encrypt the reply")?;
        let mut hdr = Vec::with_capacity(4);
        shoal_smb_proto::framing::put_frame_header(&mut hdr, len);
        if let Some(h) = frame.get_mut(..4) {
            h.copy_from_slice(&hdr);
        }
        Ok(())
    }
}

/// The encryption state of one session: keys for both directions, the nonce counter for
/// what the server sends, and the nonces recently received.
pub(crate) struct SessionCrypt {
    sealer: Arc<Sealer>,
    decryption: CipherKey,
    seen: ReplayWindow,
    /// The client has sent at least one encrypted request (logged once; break
    /// notifications, which answer no request, are then encrypted).
    pub client_encrypts: bool,
}

impl SessionCrypt {
    pub fn new(cipher: Cipher, keys: &CipherKeys) -> Option<SessionCrypt> {
        Some(SessionCrypt {
            sealer: Arc::new(Sealer::new(CipherKey::new(cipher, &keys.encryption).ok()?)),
            decryption: CipherKey::new(cipher, &keys.decryption).ok()?,
            seen: ReplayWindow::default(),
            client_encrypts: false,
        })
    }

    /// The sealing half, for a reply completed off the connection task.
    pub fn sealer(&self) -> Arc<Sealer> {
        self.sealer.clone()
    }
}

/// Room to leave before a message that may be sealed.
pub(crate) const TRANSFORM_ROOM: usize = transform::HEADER_LEN;

impl Conn {
    /// Can this connection encrypt at all (a cipher was negotiated).
    pub(crate) fn can_encrypt(&self) -> bool {
        self.cipher.is_some()
    }

    /// Decrypts a transform frame in place. Every failure (malformed header, unknown session,
    /// bad tag, replayed nonce) closes the connection with a warning naming the peer: the
    /// caller turns `Err` into a disconnect (MS-SMB2 3.3.5.2.1.1).
    pub(crate) fn decrypt_frame(
        &mut self,
        mut buf: Vec<u8>,
    ) -> Result<(Vec<u8>, u64), &'static str> {
        let peer = self.peer;
        let fail = |why: &'static str, detail: String| {
            tracing::warn!(%peer, why, detail, "decryption failed; closing connection");
            why
        };
        if !self
            .negotiated()
            .is_some_and(shoal_smb_proto::Dialect::is_smb3)
            || !self.can_encrypt()
        {
            return Err(fail(
                "encrypted message on a connection without encryption",
                String::new(),
            ));
        }
        let h =
            transform::peek(&buf).map_err(|e| fail("malformed transform header", e.to_string()))?;
        let Some(crypt) = self
            .sessions
            .get_mut(&h.session_id)
            .and_then(|s| s.established.as_mut())
            .and_then(|e| e.crypt.as_mut())
        else {
            return Err(fail(
                "encrypted message for an unknown session",
                format!("{:#x}", h.session_id),
            ));
        };
        transform::open(&crypt.decryption, &mut buf)
            .map_err(|e| fail("bad encrypted message", e.to_string()))?;
        // Only an authenticated nonce is remembered, so forged frames cannot fill the window.
        if !crypt.seen.accept(h.nonce) {
            return Err(fail(
                "replayed nonce",
                format!("session {:#x}", h.session_id),
            ));
        }
        if !crypt.client_encrypts {
            tracing::info!(session = h.session_id, cipher = ?crypt.decryption.cipher(), "client encrypts");
            crypt.client_encrypts = true;
        }
        buf.drain(..transform::HEADER_LEN);
        Ok((buf, h.session_id))
    }

    /// MS-SMB2 3.3.4.1.4: whether a response of `command` on `session_id`/`tree_id` is sent
    /// encrypted, given whether its request was.
    pub(crate) fn must_encrypt(
        &self,
        session_id: u64,
        tree_id: u32,
        command: Command,
        request_encrypted: bool,
    ) -> bool {
        let Some(session) = self.sessions.get(&session_id) else {
            return false;
        };
        let Some(est) = &session.established else {
            return false;
        };
        if est.crypt.is_none() {
            return false;
        }
        if request_encrypted {
            return true;
        }
        if command == Command::NEGOTIATE || command == Command::SESSION_SETUP {
            return false;
        }
        if est.encrypt_data {
            return true;
        }
        command != Command::TREE_CONNECT
            && session.trees.get(&tree_id).is_some_and(|t| t.encrypt_data)
    }

    /// Seals `frame` in place: it holds the 4-byte transport header, [`TRANSFORM_ROOM`] bytes
    /// of room, then the plaintext message(s). Rewrites the transport length. `Err` when the
    /// session has no keys or its nonces are exhausted (the connection must close rather
    /// than send in clear or reuse a nonce).
    pub(crate) fn seal_frame(&self, session_id: u64, frame: &mut [u8]) -> Result<(), &'static str> {
        self.sealer_for(session_id)
            .ok_or("no encryption key for the reply")?
            .seal(session_id, frame)
    }

    /// The sealing half of `session_id`'s encryption state, if it has one.
    pub(crate) fn sealer_for(&self, session_id: u64) -> Option<Arc<Sealer>> {
        self.sessions
            .get(&session_id)
            .and_then(|s| s.established.as_ref())
            .and_then(|e| e.crypt.as_ref())
            .map(SessionCrypt::sealer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_smb_proto::crypto::encryption::Cipher;

    fn sealer() -> Sealer {
        Sealer::new(CipherKey::new(Cipher::AES_128_GCM, &[7; 16]).unwrap())
    }

    #[test]
    fn nonces_taken_from_several_threads_are_distinct() {
        let s = Arc::new(sealer());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    (0..10_000)
                        .map(|_| s.next_nonce().unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = std::collections::HashSet::new();
        for t in threads {
            for n in t.join().unwrap() {
                assert_eq!(n[8..], [0; 8], "counter in the first 8 bytes only");
                assert!(all.insert(n), "nonce used twice");
            }
        }
        assert_eq!(all.len(), 40_000);
    }

    #[test]
    fn an_exhausted_counter_refuses_instead_of_wrapping() {
        let s = sealer();
        s.next_nonce.store(u64::MAX - 1, Ordering::Relaxed);
        assert!(s.next_nonce().is_some());
        assert!(s.next_nonce().is_none());
        assert!(s.next_nonce().is_none());
        let mut frame = vec![0u8; 4 + TRANSFORM_ROOM + 64];
        assert_eq!(s.seal(1, &mut frame), Err("nonce space exhausted"));
    }
}
