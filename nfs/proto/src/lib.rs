//! # shoal-nfs-proto: sans-IO ONC RPC, XDR, MOUNT v3 and NFSv3 codecs
//!
//! No sockets, no clock, no randomness: bytes in, typed values out, and back.
//!
//! Tour:
//! - [`error`]: [`DecodeError`] (malformed or truncated input) and [`FrameError`].
//! - [`xdr`]: the bounded XDR [`Reader`] (every wire length is checked against what remains
//!   *before* anything is allocated) and [`XdrWrite`], XDR encoding over `bytes::BufMut`.
//! - [`record`]: ONC RPC record marking over TCP (RFC 5531 section 11): [`RecordDecoder`]
//!   reassembles multi-fragment records and refuses any record larger than its cap before
//!   buffering it.
//! - [`rpc`]: RPC call and reply headers (RFC 5531 section 9), `AUTH_NONE`, `AUTH_SYS`
//!   (RFC 5531 appendix A).
//! - [`mount`]: MOUNT v3 (RFC 1813 appendix I) arguments and results.
//! - [`nfs3`]: NFSv3 (RFC 1813) status codes, shared types (`fattr3`, `sattr3`, `wcc_data`, ...),
//!   argument decoders ([`nfs3::args`]) and result encoders ([`nfs3::res`]).
//! - [`fuzz`]: one entry point that runs every decoder over arbitrary bytes (used by the
//!   libFuzzer target and by a deterministic test).

#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[macro_use]
mod macros;

pub mod error;
pub mod fuzz;
pub mod mount;
pub mod nfs3;
pub mod record;
pub mod rpc;
pub mod xdr;

pub use error::{DecodeError, FrameError};
pub use record::{encode_record_header, RecordDecoder};
pub use xdr::{Decode, Encode, Reader, XdrWrite};
