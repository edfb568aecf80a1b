//! # shoal-smb: the SMB2/3 server
//!
//! Tour:
//! - [`config`]: [`SmbConfig`], [`ShareConfig`], [`SigningPolicy`]: every limit a peer can
//!   drive is a named field with a safe default.
//! - [`server`]: [`serve`], the listener: bounded connection count, graceful shutdown.
//! - `conn/`: one connection, split by concern: `framing` (direct TCP, size cap, timeouts),
//!   `dispatch` (compound chains, credits, session lookup, signature checks, replies),
//!   `state` (sessions, trees, opens), `signing`, `encryption` (SMB3 keys, TRANSFORM
//!   decrypt/seal, and which replies must be encrypted under the session/share policy),
//!   `events` (the connection's lock manager sink: oplock/lease break notifications and
//!   wake-ups), `pending` (parked requests: interim STATUS_PENDING, retry on a wake-up or a
//!   deadline, CANCEL, cleanup on close/tree disconnect/logoff; `Reply::parked`).
//! - `handlers/`: one file per command (negotiate, session_setup, tree, create, close,
//!   query_directory, query_info, set_info, rw, ioctl, misc), and `dos`: DOS attributes and
//!   CreationTime kept in the `user.DOSATTRIB` extended attribute.
//! - `req`, `blocking`, `read_job`, `signing`: leaf modules both the connection code and
//!   the handlers use (what a handler gets and answers, running blocking VFS work, a READ
//!   completing off the connection task, signing keys).
//! - Per-open state lives in the connection's `Open` (conn/state.rs); what the opens of a
//!   file share (share modes, delete pending, byte-range locks, oplocks and leases) lives in
//!   the lock manager, `shoal_vfs::lock`, which NFS consults too.
//! - `audit_events`: logon / logoff / tree_connect audit events.
//! - `rpc/`: DCE/RPC over named pipes behind `IPC$`: bind, srvsvc (share enumeration),
//!   wkssvc.
//! - [`error`]: [`SmbError`] and the one place errors become NTSTATUS.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod audit_events;
mod blocking;
pub mod config;
mod conn;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod handlers;
mod read_job;
mod req;
mod rpc;
pub mod server;
mod signing;

pub use config::{ShareConfig, SigningPolicy, SmbAuditor, SmbConfig};
pub use error::SmbError;
pub use server::serve;
