//! `shoal.toml`: the one configuration file, and the embedded default used without one.
//!
//! Every table rejects unknown keys (`deny_unknown_fields`), so a typo is an error naming the
//! key and its line, not a silently ignored setting. Checks that need more than one key
//! (zone references, duplicate names, client patterns) name the key path they fail on.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde::Deserialize;

/// The embedded default, used when no config file is given: `./shoal-data` as SMB share
/// `data` and NFS export `/data`, state in `./shoal-state`, loopback only, loopback NFS
/// clients read-write with root squash.
pub const EMBEDDED_TEXT: &str = r#"# shoal embedded default
[server]
backing_dir = "./shoal-data"
state_dir = "./shoal-state"

[nfs]
listen = "127.0.0.1:2049"

[[nfs.exports]]
path = "/data"
dir = "."
[[nfs.exports.clients]]
hosts = ["127.0.0.0/8", "::1"]
access = "rw"
squash = "root"

[smb]
listen = "127.0.0.1:445"

[[smb.shares]]
name = "data"
dir = "."
comment = "shoal embedded default"
"#;

/// The whole file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Node-wide settings.
    #[serde(default)]
    pub server: ServerSection,
    /// Access zones; `System` (id 1) always exists, whether listed or not.
    #[serde(default)]
    pub zones: Vec<ZoneSection>,
    /// NFSv3 + MOUNT.
    #[serde(default)]
    pub nfs: NfsSection,
    /// SMB2/3.
    #[serde(default)]
    pub smb: SmbSection,
    /// Protocol auditing (R3); see `docs/audit.md`.
    #[serde(default)]
    pub audit: shoal_audit::AuditSection,
    /// The lock manager shared by SMB and NFS (share modes, byte ranges, oplocks, leases).
    #[serde(default)]
    pub locks: LocksSection,
}

/// `[locks]`: limits and timers of the lock manager (docs/limits.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocksSection {
    /// Seconds an oplock/lease break may go unacknowledged before the open waiting for it
    /// proceeds (MS-SMB2's 35 s by default).
    #[serde(default = "default_break_timeout_secs")]
    pub break_timeout_secs: u64,
    /// Most byte-range locks one open may hold.
    #[serde(default = "default_max_locks_per_open")]
    pub max_locks_per_open: usize,
    /// Most requests waiting on one file (blocked byte-range locks, opens waiting for a
    /// break acknowledgment).
    #[serde(default = "default_max_waiters_per_file")]
    pub max_waiters_per_file: usize,
}

impl Default for LocksSection {
    fn default() -> Self {
        LocksSection {
            break_timeout_secs: default_break_timeout_secs(),
            max_locks_per_open: default_max_locks_per_open(),
            max_waiters_per_file: default_max_waiters_per_file(),
        }
    }
}

fn default_break_timeout_secs() -> u64 {
    35
}
fn default_max_locks_per_open() -> usize {
    4096
}
fn default_max_waiters_per_file() -> usize {
    1024
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Name of this node in audit records and cluster views.
    #[serde(default = "default_node_name")]
    pub node_name: String,
    /// The directory served (shares and exports are paths inside it).
    #[serde(default = "default_backing")]
    pub backing_dir: PathBuf,
    /// Where shoal keeps its own state (handle key, users, audit log). Keep it outside
    /// `backing_dir` so clients cannot see it.
    #[serde(default = "default_state")]
    pub state_dir: PathBuf,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            node_name: default_node_name(),
            backing_dir: default_backing(),
            state_dir: default_state(),
        }
    }
}

fn default_node_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "node1".to_string())
}
fn default_backing() -> PathBuf {
    PathBuf::from("./shoal-data")
}
fn default_state() -> PathBuf {
    PathBuf::from("./shoal-state")
}

/// `[[zones]]`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ZoneSection {
    /// Zone name (audit `zoneName`).
    pub name: String,
    /// Zone id (audit `zoneID`); 1 is `System`.
    pub id: u32,
    /// Require SMB3 encryption on every share of the zone (R2).
    #[serde(default)]
    pub encrypt: bool,
}

/// `[nfs]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NfsSection {
    /// Serve NFS at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Address for NFS and MOUNT (one port for both). Port 0 picks a free one.
    #[serde(default = "default_nfs_listen")]
    pub listen: SocketAddr,
    /// Largest RPC record accepted, in bytes; stops a client from making the server buffer
    /// an arbitrary amount before a request is even parsed.
    #[serde(default = "default_max_record")]
    pub max_record: usize,
    /// Most simultaneous NFS connections; more are refused (stops descriptor exhaustion).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Calls of one connection executed at once; reading pauses while that many run (stops
    /// one client from queueing unbounded work or occupying the whole blocking pool).
    #[serde(default = "default_nfs_max_in_flight")]
    pub max_in_flight: usize,
    /// Register NFS and MOUNT with rpcbind on 127.0.0.1:111 when one listens there.
    #[serde(default = "yes")]
    pub register_rpcbind: bool,
    /// Most connections that have not made an admitted call yet (a call other than NULL
    /// from an address and port an export admits); at most `max_connections`. Stops
    /// sockets that never authenticate from taking every slot.
    #[serde(default = "default_nfs_max_unauth")]
    pub max_unauthenticated: usize,
    /// Most connections from one client address.
    #[serde(default = "default_nfs_per_client")]
    pub max_connections_per_client: usize,
    /// A connection without an admitted call is closed after this many seconds.
    #[serde(default = "default_unauth_secs")]
    pub unauthenticated_timeout_secs: u64,
    /// A reply write that makes no progress for this many seconds closes the connection
    /// (stops clients that never read replies from pinning slots).
    #[serde(default = "default_send_timeout_secs")]
    pub send_timeout_secs: u64,
    /// Exports.
    #[serde(default)]
    pub exports: Vec<ExportSection>,
}

impl Default for NfsSection {
    fn default() -> Self {
        NfsSection {
            enabled: true,
            listen: default_nfs_listen(),
            max_record: default_max_record(),
            max_connections: default_max_connections(),
            max_in_flight: default_nfs_max_in_flight(),
            register_rpcbind: true,
            max_unauthenticated: default_nfs_max_unauth(),
            max_connections_per_client: default_nfs_per_client(),
            unauthenticated_timeout_secs: default_unauth_secs(),
            send_timeout_secs: default_send_timeout_secs(),
            exports: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_nfs_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 2049))
}
fn default_max_record() -> usize {
    1024 * 1024 + 4096
}
fn default_max_connections() -> usize {
    1024
}
fn default_nfs_max_in_flight() -> usize {
    16
}
fn default_nfs_max_unauth() -> usize {
    128
}
fn default_nfs_per_client() -> usize {
    64
}
fn default_send_timeout_secs() -> u64 {
    60
}

/// `[[nfs.exports]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSection {
    /// The path clients mount, e.g. `/data`.
    pub path: String,
    /// Directory inside `server.backing_dir` (default: the backing dir itself).
    #[serde(default = "dot")]
    pub dir: String,
    /// Access zone.
    #[serde(default = "system")]
    pub zone: String,
    /// Who may mount, and how. Empty: nobody.
    #[serde(default)]
    pub clients: Vec<ClientSection>,
}

fn dot() -> String {
    ".".to_string()
}
fn system() -> String {
    "System".to_string()
}

/// `[[nfs.exports.clients]]`: a client list and the options it gets (R1).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSection {
    /// Hosts: IP, CIDR, address wildcard (`*`, `10.1.*`) or `localhost`. Host names, name
    /// wildcards (`*.example.com`) and `@netgroup`s are refused with the line they are on:
    /// they are not resolved yet and would silently match nobody.
    #[serde(deserialize_with = "client_patterns")]
    pub hosts: Vec<String>,
    /// `ro` (default, the safe one) or `rw`.
    #[serde(default)]
    pub access: Access,
    /// `root` (default: uid 0 maps to `anon_uid`), `all`, or `none`.
    #[serde(default)]
    pub squash: SquashMode,
    /// uid that squashed users get.
    #[serde(default = "nobody")]
    pub anon_uid: u32,
    /// gid that squashed users get.
    #[serde(default = "nobody")]
    pub anon_gid: u32,
    /// Accept requests from source ports >= 1024 (knfsd's `insecure`). Default false: only
    /// root on a client can send from a port below 1024.
    #[serde(default)]
    pub insecure: bool,
}

fn nobody() -> u32 {
    65534
}

/// `hosts`, each checked while parsing so that an error names the key and its line.
fn client_patterns<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let hosts = Vec::<String>::deserialize(d)?;
    for h in &hosts {
        if let Err(e) = shoal_auth::clients::ClientPattern::parse(h) {
            return Err(serde::de::Error::custom(format!("hosts: {e}")));
        }
    }
    Ok(hosts)
}

/// Read-only or read-write.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Read-only (default).
    #[default]
    Ro,
    /// Read-write.
    Rw,
}

/// Identity squashing.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SquashMode {
    /// Nobody is squashed.
    None,
    /// root is squashed (default).
    #[default]
    Root,
    /// Everyone is squashed.
    All,
}

/// `[smb]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmbSection {
    /// Serve SMB at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Address for SMB over direct TCP. Port 0 picks a free one.
    #[serde(default = "default_smb_listen")]
    pub listen: SocketAddr,
    /// `required` (default, as Windows 11 24H2) or `enabled`.
    #[serde(default)]
    pub signing: Signing,
    /// NetBIOS-style server name reported to clients.
    #[serde(default = "default_server_name")]
    pub server_name: String,
    /// Allow guest sessions.
    #[serde(default)]
    pub allow_guest: bool,
    /// Largest SMB message accepted, in bytes (stops buffering attacks).
    #[serde(default = "default_max_message")]
    pub max_message: usize,
    /// Most simultaneous SMB connections.
    #[serde(default = "default_smb_max_connections")]
    pub max_connections: usize,
    /// Most connections without an established session (at most `max_connections`).
    #[serde(default = "default_smb_max_unauth")]
    pub max_unauthenticated: usize,
    /// Most connections from one client address.
    #[serde(default = "default_smb_per_client")]
    pub max_connections_per_client: usize,
    /// A reply write that makes no progress for this many seconds closes the connection.
    #[serde(default = "default_send_timeout_secs")]
    pub send_timeout_secs: u64,
    /// Shares (`IPC$` is always there).
    #[serde(default)]
    pub shares: Vec<ShareSection>,
    /// SMB3 encryption (R2): `disabled`, `enabled` (default: clients may encrypt, shares
    /// and zones may require it) or `required` (every SMB3 session encrypts).
    #[serde(default)]
    pub encryption: Encryption,
    /// With `encryption = "required"`, still admit SMB 2.0.2/2.1 clients, which cannot
    /// encrypt, to unencrypted shares.
    #[serde(default)]
    pub allow_unencrypted_legacy: bool,
    /// 3.1.1 ciphers, most preferred first: `AES-128-GCM`, `AES-128-CCM`, `AES-256-GCM`,
    /// `AES-256-CCM` (default: that order).
    #[serde(default = "default_ciphers")]
    pub ciphers: Vec<String>,
    /// A connection with no authenticated session is closed after this many seconds (stops
    /// idle unauthenticated sockets from pinning connection slots).
    #[serde(default = "default_unauth_secs")]
    pub unauthenticated_timeout_secs: u64,
    /// A connection that sends nothing for this many seconds is closed.
    #[serde(default = "default_idle_secs")]
    pub idle_timeout_secs: u64,
    /// Most credits a client may hold (bounds the requests it can have queued; default 8192
    /// as Samba).
    #[serde(default = "default_max_credits")]
    pub max_credits: u16,
    /// Most messages in one compound chain.
    #[serde(default = "default_max_compound")]
    pub max_compound: usize,
    /// Most READs of one connection being completed at once (a client pipelining large READs
    /// holds at most this many x 8 MiB of server memory; further requests wait).
    #[serde(default = "default_max_reads_in_flight")]
    pub max_reads_in_flight: usize,
    /// Most sessions per connection (stops session-setup floods).
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
    /// Most tree connects per session.
    #[serde(default = "default_max_trees")]
    pub max_trees: usize,
    /// Most open files per connection (stops handle exhaustion).
    #[serde(default = "default_max_opens")]
    pub max_opens: usize,
    /// Most requests waiting per connection (blocked LOCKs, CREATEs waiting for a break,
    /// CHANGE_NOTIFYs).
    #[serde(default = "default_max_parked")]
    pub max_parked_requests: usize,
    /// Most lock events (break notifications, wake-ups) queued for one connection; more are
    /// dropped and the break times out (`locks.break_timeout_secs`).
    #[serde(default = "default_max_parked")]
    pub max_pending_breaks: usize,
    /// NetBIOS domain (workgroup) announced in NTLMSSP.
    #[serde(default = "default_workgroup")]
    pub workgroup: String,
    /// Model string answered to macOS clients' `AAPL` server query (`docs/macos.md`).
    #[serde(default = "default_macos_model")]
    pub macos_model: String,
}

fn default_unauth_secs() -> u64 {
    30
}
fn default_idle_secs() -> u64 {
    15 * 60
}
fn default_max_credits() -> u16 {
    // Samba's `smb2 max credits`: enough for a deep queue. Requests are served in order except
    // READs, of which at most `max_reads_in_flight` complete at once, so a credit costs no
    // server memory beyond the socket buffer and that bound.
    8192
}
fn default_max_reads_in_flight() -> usize {
    16
}
fn default_max_compound() -> usize {
    64
}
fn default_max_sessions() -> usize {
    64
}
fn default_max_trees() -> usize {
    256
}
fn default_max_parked() -> usize {
    256
}
fn default_max_opens() -> usize {
    16384
}
fn default_macos_model() -> String {
    "shoal".to_string()
}
fn default_workgroup() -> String {
    "WORKGROUP".to_string()
}

impl Default for SmbSection {
    fn default() -> Self {
        SmbSection {
            enabled: true,
            listen: default_smb_listen(),
            signing: Signing::default(),
            server_name: default_server_name(),
            allow_guest: false,
            max_message: default_max_message(),
            max_connections: default_smb_max_connections(),
            max_unauthenticated: default_smb_max_unauth(),
            max_connections_per_client: default_smb_per_client(),
            send_timeout_secs: default_send_timeout_secs(),
            shares: Vec::new(),
            encryption: Encryption::default(),
            allow_unencrypted_legacy: false,
            ciphers: default_ciphers(),
            unauthenticated_timeout_secs: default_unauth_secs(),
            idle_timeout_secs: default_idle_secs(),
            max_credits: default_max_credits(),
            max_compound: default_max_compound(),
            max_reads_in_flight: default_max_reads_in_flight(),
            max_sessions: default_max_sessions(),
            max_trees: default_max_trees(),
            max_opens: default_max_opens(),
            max_parked_requests: default_max_parked(),
            max_pending_breaks: default_max_parked(),
            workgroup: default_workgroup(),
            macos_model: default_macos_model(),
        }
    }
}

fn default_smb_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 445))
}
fn default_server_name() -> String {
    "SHOAL".to_string()
}
fn default_max_message() -> usize {
    8 * 1024 * 1024 + 64 * 1024
}
fn default_smb_max_connections() -> usize {
    16384
}
fn default_smb_max_unauth() -> usize {
    1024
}
fn default_smb_per_client() -> usize {
    256
}

fn default_ciphers() -> Vec<String> {
    ["AES-128-GCM", "AES-128-CCM", "AES-256-GCM", "AES-256-CCM"]
        .map(String::from)
        .to_vec()
}

/// SMB3 encryption policy (R2). Default `enabled`: offering encryption costs nothing to
/// clients that do not use it, and lets shares and zones require it; OneFS defaults to
/// `disabled`, which refuses `encrypt = true` on shares and zones.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Encryption {
    /// No SMB3 encryption.
    Disabled,
    /// Encrypting clients are served encrypted; others still connect (default).
    #[default]
    Enabled,
    /// Only encrypting SMB3 clients connect.
    Required,
}

/// SMB signing policy.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Signing {
    /// Every session must sign (default).
    #[default]
    Required,
    /// Sign when the client asks.
    Enabled,
}

/// `[[smb.shares]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareSection {
    /// Share name, as in `\\server\name`.
    pub name: String,
    /// Directory inside `server.backing_dir`.
    #[serde(default = "dot")]
    pub dir: String,
    /// Refuse writes.
    #[serde(default)]
    pub read_only: bool,
    /// Comment shown in share lists.
    #[serde(default)]
    pub comment: String,
    /// Access zone.
    #[serde(default = "system")]
    pub zone: String,
    /// Require SMB3 encryption on this share (R2).
    #[serde(default)]
    pub encrypt: bool,
    /// Map the private-use code points macOS clients use for `"*:<>?\|`, control
    /// characters and a trailing space or period to the real characters on disk
    /// (`docs/macos.md`; default on, as Samba's `fruit:encoding = native`).
    #[serde(default = "yes")]
    pub macos_name_mapping: bool,
}

impl Config {
    /// Parses and checks a config file's text. `origin` names the file in messages.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Config> {
        let cfg: Config = toml::from_str(text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        cfg.check().with_context(|| origin.to_string())?;
        Ok(cfg)
    }

    /// The embedded default ([`EMBEDDED_TEXT`]).
    pub fn embedded() -> Config {
        // The text is a constant checked by a unit test; failing here is a build defect.
        #[allow(clippy::expect_used)]
        Config::parse(EMBEDDED_TEXT, "embedded default").expect("embedded default config parses")
    }

    /// All zones, `System` (id 1) included.
    pub fn zones(&self) -> Vec<ZoneSection> {
        let mut zones = self.zones.clone();
        if !zones.iter().any(|z| z.id == 1) {
            zones.insert(
                0,
                ZoneSection {
                    name: "System".to_string(),
                    id: 1,
                    encrypt: false,
                },
            );
        }
        zones
    }

    /// Zones as `(id, name)` pairs.
    pub fn zone_pairs(&self) -> Vec<(u32, String)> {
        self.zones().into_iter().map(|z| (z.id, z.name)).collect()
    }

    /// The resolved audit settings.
    pub fn audit_config(&self) -> anyhow::Result<shoal_audit::AuditConfig> {
        self.audit
            .to_config(
                &self.server.node_name,
                &self.server.state_dir,
                &self.zone_pairs(),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Zone id by name.
    pub fn zone_id(&self, name: &str) -> Option<u32> {
        self.zones().iter().find(|z| z.name == name).map(|z| z.id)
    }

    fn check(&self) -> anyhow::Result<()> {
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for (i, z) in self.zones.iter().enumerate() {
            if z.id == 1 && z.name != "System" {
                bail!("zones[{i}].name: zone id 1 is `System`, not `{}`", z.name);
            }
            if !ids.insert(z.id) {
                bail!("zones[{i}].id: duplicate zone id {}", z.id);
            }
            if !names.insert(z.name.clone()) {
                bail!("zones[{i}].name: duplicate zone `{}`", z.name);
            }
        }
        let mut paths = HashSet::new();
        for (i, e) in self.nfs.exports.iter().enumerate() {
            if !e.path.starts_with('/') {
                bail!("nfs.exports[{i}].path: `{}` must start with `/`", e.path);
            }
            if !paths.insert(e.path.clone()) {
                bail!("nfs.exports[{i}].path: duplicate export `{}`", e.path);
            }
            check_dir(&e.dir).with_context(|| format!("nfs.exports[{i}].dir"))?;
            if self.zone_id(&e.zone).is_none() {
                bail!("nfs.exports[{i}].zone: no zone named `{}`", e.zone);
            }
            for (j, c) in e.clients.iter().enumerate() {
                if c.hosts.is_empty() {
                    bail!("nfs.exports[{i}].clients[{j}].hosts: empty list");
                }
                for h in &c.hosts {
                    if let Err(e) = shoal_auth::clients::ClientPattern::parse(h) {
                        bail!("nfs.exports[{i}].clients[{j}].hosts: `{h}`: {e}");
                    }
                }
            }
        }
        let mut shares = HashSet::new();
        for (i, s) in self.smb.shares.iter().enumerate() {
            let lower = s.name.to_lowercase();
            if s.name.is_empty()
                || s.name.len() > 80
                || s.name
                    .contains(['\\', '/', ':', '*', '?', '"', '<', '>', '|'])
            {
                bail!("smb.shares[{i}].name: invalid share name `{}`", s.name);
            }
            if lower == "ipc$" || !shares.insert(lower) {
                bail!(
                    "smb.shares[{i}].name: duplicate or reserved share name `{}`",
                    s.name
                );
            }
            check_dir(&s.dir).with_context(|| format!("smb.shares[{i}].dir"))?;
            if self.zone_id(&s.zone).is_none() {
                bail!("smb.shares[{i}].zone: no zone named `{}`", s.zone);
            }
        }
        let mut seen = HashSet::new();
        for (i, c) in self.smb.ciphers.iter().enumerate() {
            if !["AES-128-GCM", "AES-128-CCM", "AES-256-GCM", "AES-256-CCM"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(c))
            {
                bail!("smb.ciphers[{i}]: unknown cipher `{c}` (AES-128-GCM, AES-128-CCM, AES-256-GCM, AES-256-CCM)");
            }
            if !seen.insert(c.to_ascii_uppercase()) {
                bail!("smb.ciphers[{i}]: `{c}` listed twice");
            }
        }
        for (key, v) in [
            (
                "smb.unauthenticated_timeout_secs",
                self.smb.unauthenticated_timeout_secs as usize,
            ),
            ("smb.idle_timeout_secs", self.smb.idle_timeout_secs as usize),
            ("smb.max_credits", usize::from(self.smb.max_credits)),
            ("smb.max_compound", self.smb.max_compound),
            ("smb.max_reads_in_flight", self.smb.max_reads_in_flight),
            ("smb.max_sessions", self.smb.max_sessions),
            ("smb.max_trees", self.smb.max_trees),
            ("smb.max_opens", self.smb.max_opens),
            ("smb.max_parked_requests", self.smb.max_parked_requests),
            ("smb.max_pending_breaks", self.smb.max_pending_breaks),
            (
                "locks.break_timeout_secs",
                self.locks.break_timeout_secs as usize,
            ),
            ("locks.max_locks_per_open", self.locks.max_locks_per_open),
            (
                "locks.max_waiters_per_file",
                self.locks.max_waiters_per_file,
            ),
            ("smb.max_connections", self.smb.max_connections),
            ("nfs.max_connections", self.nfs.max_connections),
            ("nfs.max_in_flight", self.nfs.max_in_flight),
            ("nfs.max_unauthenticated", self.nfs.max_unauthenticated),
            (
                "nfs.max_connections_per_client",
                self.nfs.max_connections_per_client,
            ),
            (
                "nfs.unauthenticated_timeout_secs",
                self.nfs.unauthenticated_timeout_secs as usize,
            ),
            ("nfs.send_timeout_secs", self.nfs.send_timeout_secs as usize),
            ("smb.max_unauthenticated", self.smb.max_unauthenticated),
            (
                "smb.max_connections_per_client",
                self.smb.max_connections_per_client,
            ),
            ("smb.send_timeout_secs", self.smb.send_timeout_secs as usize),
        ] {
            if v == 0 {
                bail!("{key}: must be at least 1");
            }
        }
        if self.nfs.max_record < 64 * 1024 {
            bail!("nfs.max_record: must be at least 65536 bytes");
        }
        if self.smb.ciphers.is_empty() && self.smb.encryption != Encryption::Disabled {
            bail!("smb.ciphers: empty list while smb.encryption is not `disabled`");
        }
        if self.smb.encryption == Encryption::Disabled {
            if let Some(i) = self.smb.shares.iter().position(|s| s.encrypt) {
                bail!("smb.shares[{i}].encrypt: needs smb.encryption `enabled` or `required`, not `disabled`");
            }
            if let Some(i) = self.zones.iter().position(|z| z.encrypt) {
                bail!("zones[{i}].encrypt: needs smb.encryption `enabled` or `required`, not `disabled`");
            }
        }
        if self.smb.allow_unencrypted_legacy && self.smb.encryption != Encryption::Required {
            bail!("smb.allow_unencrypted_legacy: only meaningful with smb.encryption = `required`");
        }
        if self.server.node_name.is_empty() {
            bail!("server.node_name: must not be empty");
        }
        self.audit_config()?;
        Ok(())
    }
}

/// A directory inside the backing store: relative, without `..`.
fn check_dir(dir: &str) -> anyhow::Result<()> {
    if dir.split('/').any(|c| c == "..") || dir.contains('\0') {
        bail!("`{dir}` must stay inside server.backing_dir (no `..`)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = Config::parse("[nfs]\nlisten = \"127.0.0.1:0\"\nbogus = 1\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bogus"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn zone_reference_is_checked() {
        let err = Config::parse(
            "[[nfs.exports]]\npath = \"/x\"\nzone = \"Nope\"\n",
            "t.toml",
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("nfs.exports[0].zone"),
            "{err:#}"
        );
    }

    #[test]
    fn bad_client_pattern_is_named() {
        let err = Config::parse(
            "[[nfs.exports]]\npath = \"/x\"\n[[nfs.exports.clients]]\nhosts = [\"10.0.0.0/99\"]\n",
            "t",
        )
        .unwrap_err();
        let err = format!("{err:#}");
        assert!(
            err.contains("hosts") && err.contains("line 4") && err.contains("10.0.0.0/99"),
            "{err}"
        );
    }

    #[test]
    fn embedded_default_is_valid_and_safe() {
        let c = Config::embedded();
        c.check().unwrap();
        assert_eq!(c.nfs.exports[0].path, "/data");
        assert_eq!(c.nfs.exports[0].clients[0].squash, SquashMode::Root);
        assert!(c.nfs.listen.ip().is_loopback());
        assert_eq!(c.zone_id("System"), Some(1));
    }

    #[test]
    fn encryption_keys_parse_and_bad_values_are_named() {
        let c = Config::parse(
            "[smb]\nencryption = \"required\"\nallow_unencrypted_legacy = true\nciphers = [\"AES-256-GCM\", \"aes-128-ccm\"]\n\
             [[zones]]\nname = \"Sec\"\nid = 2\nencrypt = true\n\
             [[smb.shares]]\nname = \"s\"\nencrypt = true\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.smb.encryption, Encryption::Required);
        assert!(c.smb.shares[0].encrypt && c.zones()[1].encrypt && c.smb.allow_unencrypted_legacy);
        assert_eq!(
            Config::parse("", "t").unwrap().smb.encryption,
            Encryption::Enabled
        );
        let err = Config::parse("[smb]\nciphers = [\"AES-512\"]\n", "t").unwrap_err();
        assert!(format!("{err:#}").contains("smb.ciphers[0]"), "{err:#}");
        let err = Config::parse("[smb]\nencryption = \"sometimes\"\n", "t").unwrap_err();
        assert!(format!("{err:#}").contains("encryption"), "{err:#}");
        let err = Config::parse(
            "[smb]\nencryption = \"disabled\"\n[[smb.shares]]\nname = \"s\"\nencrypt = true\n",
            "t",
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("smb.shares[0].encrypt"),
            "{err:#}"
        );
        let err = Config::parse("[smb]\nallow_unencrypted_legacy = true\n", "t").unwrap_err();
        assert!(
            format!("{err:#}").contains("smb.allow_unencrypted_legacy"),
            "{err:#}"
        );
    }

    /// Name-based patterns never match today, so they are refused with the key and line
    /// (issue 11), not accepted to let a restrictive entry fall back to a broader one.
    #[test]
    fn unresolvable_client_patterns_name_key_and_line() {
        for p in ["build*.example.com", "@builders", "server.example.com"] {
            let text = format!(
                "[[nfs.exports]]\npath = \"/x\"\n[[nfs.exports.clients]]\nhosts = [\"10.0.0.0/8\", \"{p}\"]\n"
            );
            let err = format!("{:#}", Config::parse(&text, "t").unwrap_err());
            assert!(
                err.contains("hosts") && err.contains("line 4") && err.contains(p),
                "{err}"
            );
        }
        Config::parse(
            "[[nfs.exports]]\npath = \"/x\"\n[[nfs.exports.clients]]\nhosts = [\"localhost\", \"10.1.*\"]\n",
            "t",
        )
        .unwrap();
    }

    #[test]
    fn client_defaults_are_ro_and_root_squash() {
        let c = Config::parse(
            "[[nfs.exports]]\npath = \"/x\"\n[[nfs.exports.clients]]\nhosts = [\"*\"]\n",
            "t",
        )
        .unwrap();
        let cl = &c.nfs.exports[0].clients[0];
        assert_eq!(
            (cl.access, cl.squash, cl.anon_uid),
            (Access::Ro, SquashMode::Root, 65534)
        );
    }
}
