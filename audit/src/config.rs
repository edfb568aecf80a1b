//! Settings: the `[audit]` TOML section ([`AuditSection`], embedded by the binary) and the
//! resolved runtime form ([`AuditConfig`]) the [`crate::Auditor`] runs with.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::event::{EventName, Topic};

/// What happens to an operation whose event cannot be made durable (R3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    /// The operation proceeds; the lost event is counted and logged (OneFS behaviour).
    #[default]
    BestEffort,
    /// The operation waits until its event is durable and is refused if it cannot be
    /// (ONTAP behaviour).
    Guaranteed,
}

/// `[audit]`: see `docs/audit.md` for an annotated example.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// Master switch.
    #[serde(default)]
    pub enabled: bool,
    /// `best_effort` (default) or `guaranteed`.
    #[serde(default)]
    pub mode: FailureMode,
    /// Host name reported to consumers (CEE `serverName`, syslog HOSTNAME); default: the
    /// node name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Log directory; default `<state_dir>/audit`. Each node writes `<log_dir>/<node>/`.
    #[serde(default)]
    pub log_dir: Option<PathBuf>,
    /// Segment size before rotation, MiB.
    #[serde(default = "default_segment_mib")]
    pub segment_mib: u64,
    /// Segments whose every event is older than this are deleted, days.
    #[serde(default = "default_retention_days")]
    pub retention_days: u64,
    /// Reads (writes) of one file by one client within this window are logged as one
    /// `read_file` (`write_file`) event plus one summing the rest of the window, ms.
    #[serde(default = "default_coalesce_ms")]
    pub io_coalesce_ms: u64,
    /// Events queued for the log writer at most; bounds memory when the disk is slow.
    #[serde(default = "default_queue")]
    pub queue_capacity: usize,
    /// Per-zone filters. Zones not listed are not audited, unless the list is empty: then
    /// every zone audits every event.
    #[serde(default)]
    pub zones: Vec<ZoneAuditSection>,
    /// Where events are forwarded.
    #[serde(default)]
    pub sinks: Vec<SinkSection>,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection {
            enabled: false,
            mode: FailureMode::default(),
            hostname: None,
            log_dir: None,
            segment_mib: default_segment_mib(),
            retention_days: default_retention_days(),
            io_coalesce_ms: default_coalesce_ms(),
            queue_capacity: default_queue(),
            zones: Vec::new(),
            sinks: Vec::new(),
        }
    }
}

fn default_segment_mib() -> u64 {
    64
}
fn default_retention_days() -> u64 {
    30
}
fn default_coalesce_ms() -> u64 {
    1000
}
fn default_queue() -> usize {
    65_536
}
fn default_topics() -> Vec<String> {
    vec!["protocol".to_string()]
}
fn default_json_max_mib() -> u64 {
    64
}
fn default_keep() -> u32 {
    5
}
fn default_heartbeat() -> u64 {
    10
}
fn default_facility() -> u8 {
    13
}

/// `[[audit.zones]]`: what a zone audits. Event lists take names of the R3 table or `"all"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneAuditSection {
    /// Zone name (from `[[zones]]`; `System` always exists).
    pub zone: String,
    /// Events logged when the operation succeeds.
    #[serde(default = "all_events")]
    pub audit_success: Vec<String>,
    /// Events logged when the operation fails.
    #[serde(default = "all_events")]
    pub audit_failure: Vec<String>,
    /// Of the logged events, those forwarded to syslog sinks; default: all logged ones.
    #[serde(default)]
    pub syslog_audit_events: Option<Vec<String>>,
}

fn all_events() -> Vec<String> {
    vec!["all".to_string()]
}

/// `[[audit.sinks]]`, told apart by `kind`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkSection {
    /// JSON lines file, rotated by size.
    JsonFile {
        /// Unique sink name (names its cursor).
        name: String,
        /// Topics sent: `protocol`, `config`.
        #[serde(default = "default_topics")]
        topics: Vec<String>,
        /// File path.
        path: PathBuf,
        /// Rotate when larger, MiB.
        #[serde(default = "default_json_max_mib")]
        max_mib: u64,
        /// Rotated files kept (`path.1` .. `path.N`).
        #[serde(default = "default_keep")]
        keep: u32,
    },
    /// Syslog, RFC 5424 messages.
    Syslog {
        /// Unique sink name.
        name: String,
        /// Topics sent.
        #[serde(default = "default_topics")]
        topics: Vec<String>,
        /// `udp` (RFC 5426), `tcp` (RFC 6587 octet counting) or `tls` (RFC 5425).
        transport: String,
        /// `host:port`.
        address: String,
        /// TLS: PEM file of the CA certificates that may sign the server's certificate.
        #[serde(default)]
        ca_file: Option<PathBuf>,
        /// TLS: name to verify in the server certificate; default: host of `address`.
        #[serde(default)]
        server_name: Option<String>,
        /// Syslog facility (default 13, "log audit").
        #[serde(default = "default_facility")]
        facility: u8,
    },
    /// Dell Common Event Enabler over HTTP.
    Cee {
        /// Unique sink name.
        name: String,
        /// `http://HOST:12228/cee` URIs; events are spread over all of them in parallel.
        uris: Vec<String>,
        /// Heartbeat period, seconds (0 = none).
        #[serde(default = "default_heartbeat")]
        heartbeat_secs: u64,
    },
}

/// Resolved settings of one zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneAudit {
    /// Zone id.
    pub id: u32,
    /// Zone name.
    pub name: String,
    /// Events logged on success.
    pub audit_success: BTreeSet<EventName>,
    /// Events logged on failure.
    pub audit_failure: BTreeSet<EventName>,
    /// Events forwarded to syslog (`None`: all logged).
    pub syslog_events: Option<BTreeSet<EventName>>,
}

impl ZoneAudit {
    /// A zone that audits every event, success and failure.
    pub fn all(id: u32, name: &str) -> ZoneAudit {
        let all: BTreeSet<EventName> = EventName::protocol_events().collect();
        ZoneAudit {
            id,
            name: name.to_string(),
            audit_success: all.clone(),
            audit_failure: all,
            syslog_events: None,
        }
    }
}

/// Syslog transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyslogTransport {
    /// RFC 5426 (one message per datagram; may lose messages, not at-least-once).
    Udp,
    /// RFC 6587 octet counting.
    Tcp,
    /// RFC 5425 (octet counting over TLS, rustls).
    Tls,
}

/// Resolved sink.
#[derive(Clone, Debug)]
pub enum SinkKind {
    /// JSON lines.
    JsonFile {
        /// File.
        path: PathBuf,
        /// Rotation size.
        max_bytes: u64,
        /// Rotated files kept.
        keep: u32,
    },
    /// Syslog.
    Syslog {
        /// Transport.
        transport: SyslogTransport,
        /// `host:port`.
        address: String,
        /// TLS CA file.
        ca_file: Option<PathBuf>,
        /// TLS server name.
        server_name: Option<String>,
        /// Facility.
        facility: u8,
    },
    /// CEE.
    Cee {
        /// Endpoint URIs.
        uris: Vec<String>,
        /// Heartbeat period.
        heartbeat: Option<Duration>,
    },
}

/// A sink and what it receives.
#[derive(Clone, Debug)]
pub struct SinkConfig {
    /// Unique name (cursor files are `<name>.<topic>.json`).
    pub name: String,
    /// Topics forwarded.
    pub topics: Vec<Topic>,
    /// What it is.
    pub kind: SinkKind,
}

/// Runtime settings of the [`crate::Auditor`].
#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// Master switch: when false, `emit` does nothing and no thread runs.
    pub enabled: bool,
    /// Node name (`node` field, log subdirectory).
    pub node: String,
    /// Name reported to consumers.
    pub hostname: String,
    /// Log root; this node writes `<log_dir>/<node>/`.
    pub log_dir: PathBuf,
    /// Failure mode.
    pub mode: FailureMode,
    /// Audited zones. Empty: every zone audits everything (named `zone<id>` unless listed
    /// in `zone_names`).
    pub zones: Vec<ZoneAudit>,
    /// Names of all zones, for `zoneName` when `zones` is empty.
    pub zone_names: Vec<(u32, String)>,
    /// Sinks.
    pub sinks: Vec<SinkConfig>,
    /// Segment rotation size.
    pub segment_bytes: u64,
    /// Retention.
    pub retention: Duration,
    /// Read/write coalescing window.
    pub io_coalesce: Duration,
    /// Queue bound.
    pub queue_capacity: usize,
    /// Best effort: how long `emit` waits for room in a full queue before dropping.
    pub queue_wait: Duration,
}

impl AuditConfig {
    /// Enabled, best effort, every zone audited, no sinks, defaults elsewhere.
    pub fn new(node: &str, log_dir: &Path) -> AuditConfig {
        AuditConfig {
            enabled: true,
            node: node.to_string(),
            hostname: node.to_string(),
            log_dir: log_dir.to_path_buf(),
            mode: FailureMode::BestEffort,
            zones: Vec::new(),
            zone_names: vec![(1, "System".to_string())],
            sinks: Vec::new(),
            segment_bytes: default_segment_mib() << 20,
            retention: Duration::from_secs(default_retention_days() * 86_400),
            io_coalesce: Duration::from_millis(default_coalesce_ms()),
            queue_capacity: default_queue(),
            queue_wait: Duration::from_millis(50),
        }
    }
}

/// A config error naming the key path.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn events(list: &[String], key: &str) -> Result<BTreeSet<EventName>, ConfigError> {
    let mut out = BTreeSet::new();
    for name in list {
        if name == "all" {
            out.extend(EventName::protocol_events());
            continue;
        }
        match EventName::parse(name) {
            Some(e) if e != EventName::ConfigChange => {
                out.insert(e);
            }
            _ => return Err(ConfigError(format!("{key}: unknown audit event `{name}`"))),
        }
    }
    Ok(out)
}

fn topics(list: &[String], key: &str) -> Result<Vec<Topic>, ConfigError> {
    let mut out = Vec::new();
    for t in list {
        let topic = Topic::parse(t)
            .ok_or_else(|| ConfigError(format!("{key}: unknown topic `{t}` (protocol, config)")))?;
        if !out.contains(&topic) {
            out.push(topic);
        }
    }
    Ok(out)
}

impl AuditSection {
    /// Resolves against the node name, the state directory and the zones of the config
    /// (`(id, name)`, `System` included). Errors name the key, e.g.
    /// `audit.zones[0].audit_success: unknown audit event `craete_file``.
    pub fn to_config(
        &self,
        node: &str,
        state_dir: &Path,
        zones: &[(u32, String)],
    ) -> Result<AuditConfig, ConfigError> {
        let mut cfg = AuditConfig::new(
            node,
            &self
                .log_dir
                .clone()
                .unwrap_or_else(|| state_dir.join("audit")),
        );
        cfg.enabled = self.enabled;
        cfg.mode = self.mode;
        cfg.hostname = self.hostname.clone().unwrap_or_else(|| node.to_string());
        cfg.zone_names = zones.to_vec();
        if self.segment_mib == 0 {
            return Err(ConfigError("audit.segment_mib: must be at least 1".into()));
        }
        cfg.segment_bytes = self.segment_mib << 20;
        cfg.retention = Duration::from_secs(self.retention_days.saturating_mul(86_400));
        cfg.io_coalesce = Duration::from_millis(self.io_coalesce_ms);
        if self.queue_capacity == 0 {
            return Err(ConfigError(
                "audit.queue_capacity: must be at least 1".into(),
            ));
        }
        cfg.queue_capacity = self.queue_capacity;
        let mut seen_zones = HashSet::new();
        for (i, z) in self.zones.iter().enumerate() {
            let key = format!("audit.zones[{i}]");
            let Some((id, name)) = zones.iter().find(|(_, n)| *n == z.zone) else {
                return Err(ConfigError(format!(
                    "{key}.zone: no zone named `{}`",
                    z.zone
                )));
            };
            if !seen_zones.insert(*id) {
                return Err(ConfigError(format!(
                    "{key}.zone: zone `{}` listed twice",
                    z.zone
                )));
            }
            cfg.zones.push(ZoneAudit {
                id: *id,
                name: name.clone(),
                audit_success: events(&z.audit_success, &format!("{key}.audit_success"))?,
                audit_failure: events(&z.audit_failure, &format!("{key}.audit_failure"))?,
                syslog_events: match &z.syslog_audit_events {
                    Some(l) => Some(events(l, &format!("{key}.syslog_audit_events"))?),
                    None => None,
                },
            });
        }
        let mut names = HashSet::new();
        for (i, s) in self.sinks.iter().enumerate() {
            let key = format!("audit.sinks[{i}]");
            let (name, sink) = match s {
                SinkSection::JsonFile {
                    name,
                    topics: t,
                    path,
                    max_mib,
                    keep,
                } => (
                    name,
                    SinkConfig {
                        name: name.clone(),
                        topics: topics(t, &format!("{key}.topics"))?,
                        kind: SinkKind::JsonFile {
                            path: path.clone(),
                            max_bytes: max_mib.saturating_mul(1 << 20).max(1),
                            keep: *keep,
                        },
                    },
                ),
                SinkSection::Syslog {
                    name,
                    topics: t,
                    transport,
                    address,
                    ca_file,
                    server_name,
                    facility,
                } => {
                    let transport = match transport.as_str() {
                        "udp" => SyslogTransport::Udp,
                        "tcp" => SyslogTransport::Tcp,
                        "tls" => SyslogTransport::Tls,
                        other => {
                            return Err(ConfigError(format!(
                                "{key}.transport: `{other}` is not one of udp, tcp, tls"
                            )))
                        }
                    };
                    if *facility > 23 {
                        return Err(ConfigError(format!("{key}.facility: 0..=23")));
                    }
                    if transport == SyslogTransport::Tls && ca_file.is_none() {
                        return Err(ConfigError(format!("{key}.ca_file: required for tls")));
                    }
                    if !address.contains(':') {
                        return Err(ConfigError(format!("{key}.address: expected host:port")));
                    }
                    (
                        name,
                        SinkConfig {
                            name: name.clone(),
                            topics: topics(t, &format!("{key}.topics"))?,
                            kind: SinkKind::Syslog {
                                transport,
                                address: address.clone(),
                                ca_file: ca_file.clone(),
                                server_name: server_name.clone(),
                                facility: *facility,
                            },
                        },
                    )
                }
                SinkSection::Cee {
                    name,
                    uris,
                    heartbeat_secs,
                } => {
                    if uris.is_empty() {
                        return Err(ConfigError(format!("{key}.uris: at least one URI")));
                    }
                    for (j, u) in uris.iter().enumerate() {
                        if let Err(e) = crate::sinks::cee::Endpoint::parse(u) {
                            return Err(ConfigError(format!("{key}.uris[{j}]: {e}")));
                        }
                    }
                    (
                        name,
                        SinkConfig {
                            name: name.clone(),
                            topics: vec![Topic::Protocol],
                            kind: SinkKind::Cee {
                                uris: uris.clone(),
                                heartbeat: (*heartbeat_secs > 0)
                                    .then(|| Duration::from_secs(*heartbeat_secs)),
                            },
                        },
                    )
                }
            };
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(ConfigError(format!(
                    "{key}.name: letters, digits, `-`, `_` only"
                )));
            }
            if !names.insert(name.clone()) {
                return Err(ConfigError(format!("{key}.name: duplicate sink `{name}`")));
            }
            cfg.sinks.push(sink);
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Wrap {
        #[serde(default)]
        audit: AuditSection,
    }

    fn parse(s: &str) -> Result<AuditConfig, String> {
        let w: Wrap = toml::from_str(s).map_err(|e| e.to_string())?;
        w.audit
            .to_config(
                "n1",
                Path::new("/var/lib/shoal"),
                &[(1, "System".into()), (2, "Eng".into())],
            )
            .map_err(|e| e.to_string())
    }

    #[test]
    fn full_example() {
        let c = parse(
            r#"
[audit]
enabled = true
mode = "guaranteed"
hostname = "filer.example"
retention_days = 7

[[audit.zones]]
zone = "Eng"
audit_success = ["create_file", "delete_file"]
audit_failure = ["all"]
syslog_audit_events = ["delete_file"]

[[audit.sinks]]
kind = "syslog"
name = "siem"
transport = "tls"
address = "127.0.0.1:6514"
ca_file = "/etc/ca.pem"
topics = ["protocol", "config"]

[[audit.sinks]]
kind = "cee"
name = "cee"
uris = ["http://10.0.0.1:12228/cee", "http://10.0.0.2:12228/cee"]

[[audit.sinks]]
kind = "json_file"
name = "jsonl"
path = "/var/log/shoal-audit.jsonl"
"#,
        )
        .unwrap();
        assert!(c.enabled);
        assert_eq!(c.mode, FailureMode::Guaranteed);
        assert_eq!(c.log_dir, Path::new("/var/lib/shoal/audit"));
        assert_eq!(c.zones.len(), 1);
        assert_eq!(c.zones[0].id, 2);
        assert_eq!(c.zones[0].audit_success.len(), 2);
        assert_eq!(c.zones[0].audit_failure.len(), 22);
        assert_eq!(c.sinks.len(), 3);
        assert_eq!(c.sinks[0].topics, vec![Topic::Protocol, Topic::Config]);
    }

    #[test]
    fn errors_name_the_key() {
        let e =
            parse("[audit]\n[[audit.zones]]\nzone = \"Eng\"\naudit_success = [\"craete_file\"]\n")
                .unwrap_err();
        assert!(
            e.contains("audit.zones[0].audit_success") && e.contains("craete_file"),
            "{e}"
        );
        let e = parse("[audit]\n[[audit.zones]]\nzone = \"Nope\"\n").unwrap_err();
        assert!(e.contains("audit.zones[0].zone"), "{e}");
        let e = parse("[audit]\n[[audit.sinks]]\nkind = \"syslog\"\nname = \"s\"\ntransport = \"sctp\"\naddress = \"h:1\"\n").unwrap_err();
        assert!(e.contains("audit.sinks[0].transport"), "{e}");
        let e = parse("[audit]\nenabeld = true\n").unwrap_err();
        assert!(e.contains("enabeld"), "{e}");
        let e = parse(
            "[audit]\n[[audit.sinks]]\nkind = \"cee\"\nname = \"c\"\nuris = [\"https://x/cee\"]\n",
        )
        .unwrap_err();
        assert!(e.contains("audit.sinks[0].uris[0]"), "{e}");
        let e = parse("[audit]\n[[audit.sinks]]\nkind = \"json_file\"\nname = \"j\"\npath = \"/x\"\nbogus = 1\n").unwrap_err();
        assert!(e.contains("bogus"), "{e}");
    }
}
