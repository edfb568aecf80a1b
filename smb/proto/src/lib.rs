//! # shoal-smb-proto: SMB2/3 on the wire, without I/O
//!
//! Nothing here touches a socket, a clock or a random number generator: time and randomness are
//! passed in, bytes go in and out. That makes every piece testable from captures and fuzzable.
//!
//! Tour:
//! - [`reader`]: the one decode contract, a bounded [`reader::Reader`]; every length and offset
//!   a peer sends is checked against what remains before anything is allocated.
//! - [`status`]: [`NtStatus`], an open newtype whose `Debug` prints names.
//! - [`header`]: the 64-byte SMB2 header (MS-SMB2 2.2.1), [`Command`], [`Dialect`], flags.
//! - [`framing`]: the 4-byte direct-TCP transport header (MS-SMB2 2.1).
//! - [`negotiate`]: NEGOTIATE request/response and 3.1.1 negotiate contexts, plus the SMB1
//!   NEGOTIATE that older clients send first.
//! - [`session`]: SESSION_SETUP and LOGOFF.
//! - [`tree`]: TREE_CONNECT and TREE_DISCONNECT.
//! - [`create`], [`close`], [`query_directory`], [`query_info`], [`rw`], [`lock`], [`ioctl`],
//!   [`misc`]: the other commands, one family per file.
//! - [`crypto`]: SP800-108 key derivation, signing (HMAC-SHA256, AES-CMAC, AES-GMAC),
//!   encryption (AES-128/256-CCM/GCM), preauth integrity (SHA-512).
//! - [`transform`]: the SMB2 TRANSFORM_HEADER and sealing/opening encrypted messages.
//! - [`security`]: access masks of the descriptor synthesized from POSIX owner/mode.
//! - [`security_descriptor`]: the statuses and BUFFER_TOO_SMALL body of descriptor requests
//!   (the codec and access check are protocol-neutral, in `shoal_vfs::acl`).
//! - [`credits`]: the sequence-number window and credit grants (MS-SMB2 3.3.1.1, 3.3.5.2.3).
//! - [`aapl`]: Apple's `AAPL` create context (macOS clients, as Samba's vfs_fruit answers it).
//! - [`compound`]: splitting a compound chain into its messages (MS-SMB2 3.3.5.2.7).

#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
// Tests may panic on purpose: that is how they fail.
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod aapl;
pub mod close;
pub mod compound;
pub mod create;
pub mod credits;
pub mod crypto;
pub mod framing;
pub mod header;
pub mod ioctl;
pub mod lease;
pub mod lock;
pub mod misc;
pub mod negotiate;
pub mod oplock;
pub mod query_directory;
pub mod query_info;
pub mod reader;
pub mod rw;
pub mod security;
pub mod security_descriptor;
pub mod session;
pub mod set_info;
pub mod status;
pub mod transform;
pub mod tree;

#[cfg(test)]
mod fuzz_tests;

pub use header::{Command, Dialect, Header};
pub use reader::{DecodeError, Reader};
pub use status::NtStatus;

/// Writes `s` as UTF-16LE.
pub fn put_utf16(out: &mut impl bytes::BufMut, s: &str) {
    for u in s.encode_utf16() {
        out.put_u16_le(u);
    }
}

/// Length in bytes of `s` as UTF-16LE.
pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count() * 2
}

/// Decodes UTF-16LE bytes (odd trailing byte or unpaired surrogates are an error).
pub fn utf16_to_string(b: &[u8]) -> Result<String, DecodeError> {
    if !b.len().is_multiple_of(2) {
        return Err(DecodeError::Invalid("odd UTF-16 length"));
    }
    let units = b
        .chunks_exact(2)
        .map(|c| <[u8; 2]>::try_from(c).map(u16::from_le_bytes).unwrap_or(0));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|_| DecodeError::Invalid("invalid UTF-16"))
}
