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
    /// Require SMB3 encryption on this share (SHAREFLAG_ENCRYPT_DATA); the zone's `encrypt`
    /// flag is folded in here. Clients that cannot encrypt get STATUS_ACCESS_DENIED.
    pub encrypt: bool,
    /// Map the private-use code points macOS clients send for characters Windows forbids
    /// (`"*:<>?\|`, control characters, a trailing space or period) to the real characters
    /// on disk, and back in listings, as Samba's `fruit:encoding = native` does
    /// (`docs/macos.md`).
    pub macos_name_mapping: bool,
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
    /// Most connections without an established session, at most `max_connections` (stops
    /// sockets that never authenticate from taking every slot).
    pub max_unauthenticated: usize,
    /// Most connections from one client address (stops one host from taking every slot).
    pub max_connections_per_client: usize,
    /// A reply write that makes no progress for this long closes the connection (stops
    /// clients that send requests and never read the replies from pinning their slot).
    pub send_timeout: Duration,
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
    /// Most READs of one connection completing at once, off its task (`conn::inflight`);
    /// further READs wait (the connection stops reading requests). Bounds the memory a
    /// client pipelining large READs holds: this many × the largest READ (8 MiB). 0 acts as 1.
    pub max_reads_in_flight: usize,
    /// Most sessions per connection (stops session-setup floods).
    pub max_sessions: usize,
    /// Most tree connects per session.
    pub max_trees: usize,
    /// Most opens per connection.
    pub max_opens: usize,
    /// Most requests parked per connection (blocked LOCKs, CREATEs waiting for a break,
    /// CHANGE_NOTIFYs).
    pub max_parked_requests: usize,
    /// Most lock events (breaks, wake-ups) queued for one connection.
    pub max_pending_breaks: usize,
    /// Most directory entries buffered for one QUERY_DIRECTORY enumeration.
    pub max_dir_entries: usize,
    /// NetBIOS domain (workgroup) announced in NTLMSSP.
    pub workgroup: String,
    /// Where SMB-only events (open, close, logon, logoff, tree connect) go; file events come
    /// from the VFS's `AuditLayer`.
    pub auditor: Option<SmbAuditor>,
    /// Path of each share's directory inside the backing store (`"/"`-joined, `""` for the
    /// backing root), keyed by lower-case share name: audit `fileName`s of SMB-only events
    /// match the layer's.
    pub share_paths: std::collections::HashMap<String, String>,
    /// SMB3 encryption policy (R2): `Disabled`, `Enabled` or `Required`.
    pub encryption: EncryptionPolicy,
    /// With encryption `Required`, still let SMB 2.0.2/2.1 clients (which cannot encrypt)
    /// in, to unencrypted shares only.
    pub allow_unencrypted_legacy: bool,
    /// Ciphers offered to 3.1.1 clients, most preferred first (3.0/3.0.2 use AES-128-CCM).
    pub ciphers: Vec<Cipher>,
    /// Model string answered to a macOS client's `AAPL` server query (Finder shows it).
    pub macos_model: String,
    /// The lock manager (shared with NFS): share modes, byte ranges, oplocks, leases.
    pub locks: std::sync::Arc<shoal_vfs::lock::LockManager>,
}

/// The auditor, shared (a newtype so that [`SmbConfig`] stays `Debug`).
#[derive(Clone)]
pub struct SmbAuditor(pub std::sync::Arc<shoal_audit::Auditor>);

impl std::fmt::Debug for SmbAuditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmbAuditor")
    }
}

impl Default for SmbConfig {
    fn default() -> Self {
        SmbConfig {
            shares: Vec::new(),
            signing: SigningPolicy::Required,
            server_name: "SHOAL".to_string(),
            max_message: 8 * 1024 * 1024 + 64 * 1024,
            max_connections: 16384,
            max_unauthenticated: 1024,
            max_connections_per_client: 256,
            send_timeout: Duration::from_secs(60),
            allow_guest: false,
            unauthenticated_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(15 * 60),
            max_credits: 8192,
            max_compound: 64,
            max_reads_in_flight: 16,
            max_sessions: 64,
            max_trees: 256,
            max_opens: 16384,
            max_parked_requests: 256,
            max_pending_breaks: 256,
            max_dir_entries: 200_000,
            workgroup: "WORKGROUP".to_string(),
            auditor: None,
            locks: shoal_vfs::lock::LockManager::in_memory(Default::default()),
            share_paths: std::collections::HashMap::new(),
            encryption: EncryptionPolicy::Enabled,
            allow_unencrypted_legacy: false,
            ciphers: DEFAULT_CIPHERS.to_vec(),
            macos_model: "shoal".to_string(),
        }
    }
}

impl SmbConfig {
    /// Largest READ/WRITE/transaction payload announced (leaves room for headers).
    pub fn max_io(&self) -> u32 {
        let cap = self
            .max_message
            .saturating_sub(64 * 1024)
            .clamp(65536, 8 * 1024 * 1024);
        u32::try_from(cap).unwrap_or(65536)
    }
}

pub use shoal_smb_proto::crypto::encryption::Cipher;

/// SMB3 encryption policy, cluster-wide (R2, as OneFS offers it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EncryptionPolicy {
    /// No SMB3 encryption: the capability is not advertised; no share may require it.
    Disabled,
    /// Encryption is offered: clients that encrypt get encrypted sessions, others still
    /// connect; shares (or zones) with `encrypt` require it (default).
    #[default]
    Enabled,
    /// Every SMB3 session must encrypt (SESSION_FLAG_ENCRYPT_DATA); SMB3 clients that cannot
    /// are refused, and SMB 2.x clients too unless `allow_unencrypted_legacy`.
    Required,
}

/// Default 3.1.1 cipher preference: GCM before CCM (faster, as Windows and Samba order
/// them), 128-bit before 256-bit.
pub const DEFAULT_CIPHERS: [Cipher; 4] = [
    Cipher::AES_128_GCM,
    Cipher::AES_128_CCM,
    Cipher::AES_256_GCM,
    Cipher::AES_256_CCM,
];
