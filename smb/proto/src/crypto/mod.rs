//! Key derivation, signing, encryption and preauth integrity (MS-SMB2 3.1.4).
//!
//! Primitives come from `ring` (HMAC-SHA256, SHA-512, AES-GCM for GMAC, with
//! a faster route for large messages in [`gmac`]) and RustCrypto
//! `cmac` + `aes` (AES-CMAC), `ccm` + `aes` (AES-CCM): nothing is hand-rolled.

pub mod encryption;
pub mod gmac;
pub mod kdf;
pub mod preauth;
pub mod signing;

#[cfg(test)]
mod tests;
