//! # shoal-nfs: NFSv3 and MOUNT v3 over ONC RPC / TCP, on top of the shoal VFS
//!
//! Tour:
//! - this file: the configuration ([`NfsConfig`], [`ExportConfig`], [`ClientEntry`]) and
//!   [`serve`], the entry point the binary calls.
//! - `server`: the listener (connection cap) and the per-connection task: it reads records
//!   (record marking from `shoal-nfs-proto`), runs up to [`NfsConfig::max_in_flight`] calls at once and
//!   hands replies to a writer task.
//! - `dispatch`: one RPC call: header, program/version/procedure routing, credentials, the
//!   duplicate-request cache (`drc`).
//! - `export`: the export table, wire handles (8-byte export id + VFS handle), client rules
//!   (through `shoal_auth::clients`), read-only and squash, building the VFS [`Caller`].
//! - `mount`: MOUNT v3 (MNT, DUMP, UMNT, UMNTALL, EXPORT).
//! - `proc/*`: the 22 NFSv3 procedures, grouped by family; `conv` converts VFS types to and
//!   from their XDR forms; `error` maps [`VfsError`](shoal_vfs::VfsError) to `nfsstat3` in one
//!   function.
//! - `rpcbind`: registration with a local portmapper (PMAPPROC_SET v2), best effort.
//!
//! VFS calls are synchronous; handlers run them with `tokio::task::spawn_blocking`.
//!
//! [`Caller`]: shoal_vfs::Caller

#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod conv;
mod dispatch;
mod drc;
mod error;
mod export;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod mount;
mod proc;
mod rpcbind;
mod server;

use std::sync::Arc;

/// Configuration of the NFS service.
#[derive(Debug, Clone)]
pub struct NfsConfig {
    /// Exports served.
    pub exports: Vec<ExportConfig>,
    /// Largest RPC record accepted (bytes). Stops a peer from making the server buffer an
    /// arbitrarily large request (e.g. a record-marking header claiming 2 GiB). READ/WRITE
    /// sizes offered in FSINFO are derived from it (at most 1 MiB).
    pub max_record: usize,
    /// Most simultaneous client connections; further ones are closed at once. Stops
    /// connection floods from exhausting memory and file descriptors.
    pub max_connections: usize,
    /// Calls of one connection executed at once; while that many run, the connection is not
    /// read (TCP pushes back on the client). Stops one client from queueing unbounded work,
    /// occupying the whole blocking pool or buffering unbounded replies. Calls of a connection
    /// run concurrently and their replies may leave out of order (the xid matches them).
    pub max_in_flight: usize,
    /// Register NFS and MOUNT with a portmapper on 127.0.0.1:111 (failure is ignored).
    pub register_rpcbind: bool,
    /// Most connections that have not made an admitted call yet (`server` module doc);
    /// at most `max_connections`. Stops sockets that never authenticate from taking every
    /// slot.
    pub max_unauthenticated: usize,
    /// Most connections from one client address (stops one host from taking every slot).
    pub max_connections_per_client: usize,
    /// A connection without an admitted call after this long is closed.
    pub unauthenticated_timeout: std::time::Duration,
    /// A reply write that makes no progress for this long closes the connection (stops
    /// clients that never read replies from pinning slots and reply buffers).
    pub send_timeout: std::time::Duration,
    /// The lock manager (shared with SMB): NFS requests are checked against SMB share modes,
    /// byte-range locks and leases there.
    pub locks: std::sync::Arc<shoal_vfs::lock::LockManager>,
}

impl NfsConfig {
    /// Default record cap: 1 MiB of data plus 4 KiB of headers and arguments.
    pub const DEFAULT_MAX_RECORD: usize = (1 << 20) + 4096;
    /// Default calls in flight per connection.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 16;
    /// Default cap on connections without an admitted call.
    pub const DEFAULT_MAX_UNAUTHENTICATED: usize = 128;
    /// Default cap on connections per client address.
    pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: usize = 64;
    /// Default time a connection may stay unauthenticated.
    pub const DEFAULT_UNAUTHENTICATED_TIMEOUT: std::time::Duration =
        std::time::Duration::from_secs(30);
    /// Default send timeout.
    pub const DEFAULT_SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
}

/// One NFS export.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// What clients mount, e.g. `/data`.
    pub path: String,
    /// Root directory handle (from [`shoal_vfs::Vfs::root`]).
    pub root: shoal_vfs::FileHandle,
    /// Access zone of the export.
    pub zone: shoal_vfs::ZoneId,
    /// Client entries; an empty list allows nobody.
    pub clients: Vec<ClientEntry>,
}

/// One entry of an export's client list (R1).
#[derive(Debug, Clone)]
pub struct ClientEntry {
    /// Host, CIDR or address-wildcard patterns this entry applies to (names and `@netgroup`s
    /// are refused until they resolve: `shoal_auth::clients`).
    pub patterns: Vec<String>,
    /// Refuse modifications (`NFS3ERR_ROFS`).
    pub read_only: bool,
    /// Identity squashing.
    pub squash: Squash,
    /// uid given to squashed callers (and to `AUTH_NONE`).
    pub anon_uid: u32,
    /// gid given to squashed callers (and to `AUTH_NONE`).
    pub anon_gid: u32,
    /// Accept requests from unprivileged source ports (>= 1024), as knfsd's `insecure`.
    /// Default false (knfsd's `secure`): only root on the client can bind a port below
    /// 1024, so an ordinary user there cannot send AUTH_SYS calls claiming any uid.
    pub insecure: bool,
}

/// Identity squashing of an export client entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Squash {
    /// Identities pass through unchanged.
    None,
    /// uid 0 becomes `anon_uid`, gid 0 becomes `anon_gid`.
    #[default]
    Root,
    /// Everyone becomes `anon_uid` / `anon_gid`.
    All,
}

/// Serves NFSv3 and MOUNT v3 on `listener` until `shutdown` becomes true, then stops
/// accepting, tells connections to close, and waits briefly for them.
///
/// Fails at start when an export's client pattern cannot be parsed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: NfsConfig,
    vfs: Arc<dyn shoal_vfs::Vfs>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    server::serve(listener, config, vfs, shutdown).await
}
