//! # shoal-auth
//!
//! Tour:
//! - [`db`]: the user database ([`UserDb`]) in SQLite: name, NT hash, uid/gid, SID (machine SID
//!   + RID). Never the password.
//! - [`ntlm`]: NTLMSSP (MS-NLMP) server side, sans-IO: CHALLENGE construction and NTLMv2
//!   verification of AUTHENTICATE; LM and NTLMv1 are refused. Session security for the SPNEGO
//!   mechListMIC.
//! - [`spnego`]: the SPNEGO (RFC 4178) DER tokens around NTLMSSP.
//! - [`error`]: [`AuthError`], split by cause.
//! - [`clients`]: export client matching (hosts, CIDR, wildcards, `@netgroup`).

#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
// Tests may panic on purpose: that is how they fail.
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

/// Export client matching (hosts, CIDR, wildcards, `@netgroup`): see [`clients::ClientList`].
pub mod clients;
pub mod db;
pub mod error;
pub mod ntlm;
pub mod spnego;

#[cfg(test)]
mod fuzz_tests;

pub use db::{User, UserDb};
pub use error::AuthError;
