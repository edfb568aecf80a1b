//! # shoal-smb: the SMB2/3 server
//!
//! Tour:
//! - [`config`]: [`SmbConfig`], [`ShareConfig`], [`SigningPolicy`]: every limit a peer can
//!   drive is a named field with a safe default.
//! - [`server`]: [`serve`], the listener: bounded connection count, graceful shutdown.
//! - `conn/`: one connection, split by concern: `framing` (direct TCP, size cap, timeouts),
//!   `dispatch` (compound chains, credits, session lookup, signature checks, replies),
//!   `state` (sessions, trees, opens).
//! - `handlers/`: one file per command (negotiate, session_setup, tree, create, close,
//!   query_directory, query_info, rw, ioctl, misc).
//! - `rpc/`: DCE/RPC over named pipes behind `IPC$`: bind, srvsvc (share enumeration),
//!   wkssvc.
//! - [`error`]: [`SmbError`] and the one place errors become NTSTATUS.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod config;
mod conn;
pub mod error;
mod handlers;
mod rpc;
pub mod server;

pub use config::{ShareConfig, SigningPolicy, SmbConfig};
pub use error::SmbError;
pub use server::serve;
