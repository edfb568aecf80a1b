//! Preauth integrity (MS-SMB2 3.3.5.4, 3.3.5.5): a SHA-512 chain over the NEGOTIATE and
//! SESSION_SETUP exchanges, used as the 3.1.1 KDF context.

use ring::digest;

/// A running preauth integrity hash value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PreauthHash(pub [u8; 64]);

impl Default for PreauthHash {
    fn default() -> Self {
        PreauthHash([0; 64])
    }
}

impl std::fmt::Debug for PreauthHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreauthHash(")?;
        for b in self.0.iter().take(8) {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

impl PreauthHash {
    /// H' = SHA-512(H || message).
    pub fn update(&mut self, message: &[u8]) {
        let mut ctx = digest::Context::new(&digest::SHA512);
        ctx.update(&self.0);
        ctx.update(message);
        let d = ctx.finish();
        for (o, b) in self.0.iter_mut().zip(d.as_ref()) {
            *o = *b;
        }
    }
}
