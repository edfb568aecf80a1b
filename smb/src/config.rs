//! Configuration of the SMB service.

use std::time::Duration;

use shoal_vfs::{FileHandle, ZoneId};

/// Whether sessions must sign.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SigningPolicy {
    /// Every authenticated session signs every message (default, as Windows 11 24H2).
    #[default]
    Required,
    /// Sessions sign when the client asks for it.
    Enabled,
}

/// One disk share.
#[derive(Clone, Debug)]
pub struct ShareConfig {
    /// Name as in `\\server\name` (matched case-insensitively).
    pub name: String,
    /// Root directory handle (from `vfs.root(dir)`).
    pub root: FileHandle,
    /// Refuse writes.
    pub read_only: bool,
    /// Remark shown by share enumeration.
    pub comment: String,
    /// Access zone of the share.
    pub zone: ZoneId,
}

/// The SMB service configuration. Each limit names the attack it stops.
#[derive(Clone, Debug)]
pub struct SmbConfig {
    /// Disk shares (`IPC$` always exists in addition).
    pub shares: Vec<ShareConfig>,
    /// Signing policy.
    pub signing: SigningPolicy,
    /// NetBIOS-style server name.
    pub server_name: String,
    /// Largest transport message accepted (stops a peer from making us buffer 16 MiB frames).
    pub max_message: usize,
    /// Most simultaneous connections (stops connection floods exhausting memory/fds).
    pub max_connections: usize,
    /// Allow anonymous/guest sessions (mapped to uid/gid 65534).
    pub allow_guest: bool,
    /// A connection with no authenticated session is closed after this long (stops idle
    /// unauthenticated sockets from pinning connection slots).
    pub unauthenticated_timeout: Duration,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Most credits a client may hold (bounds the requests a client may have queued).
    pub max_credits: u16,
    /// Most messages in one compound chain.
    pub max_compound: usize,
    /// Most sessions per connection (stops session-setup floods).
    pub max_sessions: usize,
    /// Most tree connects per session.
    pub max_trees: usize,
    /// Most opens per connection.
    pub max_opens: usize,
    /// Most directory entries buffered for one QUERY_DIRECTORY enumeration.
    pub max_dir_entries: usize,
    /// NetBIOS domain (workgroup) announced in NTLMSSP.
    pub workgroup: String,
}

impl Default for SmbConfig {
    fn default() -> Self {
        SmbConfig {
            shares: Vec::new(),
            signing: SigningPolicy::Required,
            server_name: "SHOAL".to_string(),
            max_message: 8 * 1024 * 1024 + 64 * 1024,
            max_connections: 16384,
            allow_guest: false,
            unauthenticated_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(15 * 60),
            max_credits: 512,
            max_compound: 64,
            max_sessions: 64,
            max_trees: 256,
            max_opens: 16384,
            max_dir_entries: 200_000,
            workgroup: "WORKGROUP".to_string(),
        }
    }
}

impl SmbConfig {
    /// Largest READ/WRITE/transaction payload announced (leaves room for headers).
    pub fn max_io(&self) -> u32 {
        let cap = self.max_message.saturating_sub(64 * 1024).clamp(65536, 8 * 1024 * 1024);
        u32::try_from(cap).unwrap_or(65536)
    }
}
