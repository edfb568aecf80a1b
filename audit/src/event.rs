//! The event model of REQUIREMENTS R3: event names, their coarse (pre-8.2) names and CEE types,
//! and the JSON record every sink and the viewer see.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use shoal_vfs::{Caller, VfsError};

/// A topic: a separate log with its own ids, cursors and viewer (R3 "Two topics").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// Client activity.
    Protocol,
    /// Admin changes to settings.
    Config,
}

impl Topic {
    /// Both topics.
    pub const ALL: [Topic; 2] = [Topic::Protocol, Topic::Config];

    /// Directory and CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Protocol => "protocol",
            Topic::Config => "config",
        }
    }

    /// Parses `protocol` / `config`.
    pub fn parse(s: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! event_names {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $coarse:literal, $cee:expr, $bit:expr; )*) => {
        /// An audit event name (R3 table). `detailType` in the JSON record.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventName {
            $( $(#[$doc])* $variant, )*
        }

        impl EventName {
            /// Every event name, in table order.
            pub const ALL: &'static [EventName] = &[$(EventName::$variant),*];

            /// The name used in config and in `detailType`.
            pub fn as_str(self) -> &'static str {
                match self { $(EventName::$variant => $name,)* }
            }

            /// The coarse (pre-8.2) name: `eventType` in the JSON record.
            pub fn coarse(self) -> &'static str {
                match self { $(EventName::$variant => $coarse,)* }
            }

            /// The CEE event type, or `None` when the event is not forwarded to CEE.
            pub fn cee_type(self) -> Option<&'static str> {
                match self { $(EventName::$variant => $cee,)* }
            }

            /// The CEE `eventType` bit (Dell CEPA ordering; 8, 32, 128, 256, 512 and 2048 are
            /// confirmed by captures of OneFS), or `None` when not forwarded.
            pub fn cee_bit(self) -> Option<u32> {
                match self { $(EventName::$variant => $bit,)* }
            }
        }
    };
}

event_names! {
    /// A file was created.
    CreateFile = "create_file", "create", Some("CEPP_CREATE_FILE"), Some(0x8);
    /// A directory was created.
    CreateDirectory = "create_directory", "create", Some("CEPP_CREATE_DIRECTORY"), Some(0x10);
    /// An existing file was opened with write/append access.
    OpenFileWrite = "open_file_write", "create", Some("CEPP_OPEN_FILE_WRITE"), Some(0x4);
    /// An existing file was opened with read access.
    OpenFileRead = "open_file_read", "create", Some("CEPP_OPEN_FILE_READ"), Some(0x2);
    /// An existing file was opened with neither read nor write access.
    OpenFileNoaccess = "open_file_noaccess", "create", Some("CEPP_OPEN_FILE_NOACCESS"), Some(0x1);
    /// A directory was opened.
    OpenDirectory = "open_directory", "create", Some("CEPP_OPEN_DIRECTORY"), Some(0x2000);
    /// A file was closed without having been written through that open.
    CloseFileUnmodified = "close_file_unmodified", "close", Some("CEPP_CLOSE_UNMODIFIED"), Some(0x100);
    /// A file was closed after at least one byte was written through that open.
    CloseFileModified = "close_file_modified", "close", Some("CEPP_CLOSE_MODIFIED"), Some(0x80);
    /// A directory was closed.
    CloseDirectory = "close_directory", "close", Some("CEPP_CLOSE_DIRECTORY"), Some(0x4000);
    /// A file was deleted.
    DeleteFile = "delete_file", "delete", Some("CEPP_DELETE_FILE"), Some(0x20);
    /// A directory was deleted.
    DeleteDirectory = "delete_directory", "delete", Some("CEPP_DELETE_DIRECTORY"), Some(0x40);
    /// A file was renamed.
    RenameFile = "rename_file", "rename", Some("CEPP_RENAME_FILE"), Some(0x200);
    /// A directory was renamed.
    RenameDirectory = "rename_directory", "rename", Some("CEPP_RENAME_DIRECTORY"), Some(0x400);
    /// Security (mode, owner, ACL) of a file was set.
    SetSecurityFile = "set_security_file", "set_security", Some("CEPP_SETACL_FILE"), Some(0x800);
    /// Security of a directory was set.
    SetSecurityDirectory = "set_security_directory", "set_security", Some("CEPP_SETACL_DIRECTORY"), Some(0x1000);
    /// Security of a file was read.
    GetSecurityFile = "get_security_file", "get_security", None, None;
    /// Security of a directory was read.
    GetSecurityDirectory = "get_security_directory", "get_security", None, None;
    /// File data was written.
    WriteFile = "write_file", "write", Some("CEPP_FILE_WRITE"), Some(0x10000);
    /// File data was read.
    ReadFile = "read_file", "read", Some("CEPP_FILE_READ"), Some(0x8000);
    /// A session was authenticated.
    Logon = "logon", "logon", None, None;
    /// A session ended.
    Logoff = "logoff", "logoff", None, None;
    /// A share was connected.
    TreeConnect = "tree_connect", "tree_connect", None, None;
    /// (topic `config`) An admin changed a setting.
    ConfigChange = "config_change", "config", None, None;
}

impl EventName {
    /// Parses a name of the table (`create_file`, ...).
    pub fn parse(s: &str) -> Option<EventName> {
        EventName::ALL.iter().copied().find(|e| e.as_str() == s)
    }

    /// The topic an event belongs to.
    pub fn topic(self) -> Topic {
        match self {
            EventName::ConfigChange => Topic::Config,
            _ => Topic::Protocol,
        }
    }

    /// The protocol events (everything but `config_change`): what `"all"` means in zone filters.
    pub fn protocol_events() -> impl Iterator<Item = EventName> {
        EventName::ALL
            .iter()
            .copied()
            .filter(|e| e.topic() == Topic::Protocol)
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// SMB access mask bits that mean "read" when deriving open events (MS-SMB2 2.2.13.1.1:
/// FILE_READ_DATA, GENERIC_READ, GENERIC_ALL, MAXIMUM_ALLOWED).
pub const READ_ACCESS_BITS: u32 = 0x0000_0001 | 0x8000_0000 | 0x1000_0000 | 0x0200_0000;
/// SMB access mask bits that mean "write" (FILE_WRITE_DATA, FILE_APPEND_DATA, GENERIC_WRITE,
/// GENERIC_ALL, MAXIMUM_ALLOWED).
pub const WRITE_ACCESS_BITS: u32 =
    0x0000_0002 | 0x0000_0004 | 0x4000_0000 | 0x1000_0000 | 0x0200_0000;

/// Derives the event for an SMB CREATE (R3): created → `create_*`; a directory opened →
/// `open_directory`; write/append bits → `open_file_write`; read bits → `open_file_read`;
/// else `open_file_noaccess`. Write wins over read, as a read+write open can modify the file.
pub fn open_event(created: bool, is_directory: bool, desired_access: u32) -> EventName {
    match (created, is_directory) {
        (true, true) => EventName::CreateDirectory,
        (true, false) => EventName::CreateFile,
        (false, true) => EventName::OpenDirectory,
        (false, false) if desired_access & WRITE_ACCESS_BITS != 0 => EventName::OpenFileWrite,
        (false, false) if desired_access & READ_ACCESS_BITS != 0 => EventName::OpenFileRead,
        (false, false) => EventName::OpenFileNoaccess,
    }
}

/// Derives the event for an SMB CLOSE: a file closed after any byte was written through the open
/// → `close_file_modified`.
pub fn close_event(is_directory: bool, modified: bool) -> EventName {
    match (is_directory, modified) {
        (true, _) => EventName::CloseDirectory,
        (false, true) => EventName::CloseFileModified,
        (false, false) => EventName::CloseFileUnmodified,
    }
}

/// NTSTATUS success.
pub const STATUS_SUCCESS: u32 = 0;
/// NTSTATUS STATUS_ACCESS_DENIED.
pub const STATUS_ACCESS_DENIED: u32 = 0xC000_0022;

/// The NTSTATUS an event records for a VFS failure (MS-ERREF 2.3), the same for both protocols
/// so audit consumers see one vocabulary.
pub fn nt_status_of(err: &VfsError) -> u32 {
    err.nt_status()
}

/// The SID reported for a Unix user without a Windows identity: Samba's `S-1-22-1-<uid>`
/// ("Unix User" authority), as OneFS does for NFS clients.
pub fn unix_user_sid(uid: u32) -> String {
    format!("S-1-22-1-{uid}")
}

/// One audit record: the JSON field set of R3. `id`, `timestamp`, `node` and `zoneName` are
/// filled by the [`crate::Auditor`] when the event is logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Monotonic per node and topic, assigned when logged.
    pub id: u64,
    /// Microseconds since the Unix epoch, UTC; non-decreasing in log order.
    pub timestamp: i64,
    /// Node that logged it.
    pub node: String,
    /// `SMB2`, `SMB3`, `NFS3` (empty for config events made outside a protocol).
    pub protocol: String,
    /// Access zone id.
    #[serde(rename = "zoneID")]
    pub zone_id: u32,
    /// Access zone name.
    pub zone_name: String,
    /// Coarse (pre-8.2) name.
    pub event_type: String,
    /// Event name (R3 table).
    pub detail_type: String,
    /// The object is a directory.
    pub is_directory: bool,
    /// Client IP address.
    #[serde(rename = "clientIPAddr")]
    pub client_ip_addr: String,
    /// Path of the object inside the backing store, `/`-separated and starting with `/`; see
    /// `docs/audit.md` for what it holds when the name is unknown (`#<inode>`).
    pub file_name: String,
    /// New path (renames).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_file_name: Option<String>,
    /// Windows SID of the user (`S-1-22-1-<uid>` for Unix users without one).
    #[serde(rename = "userSID")]
    pub user_sid: String,
    /// Unix uid.
    #[serde(rename = "userID")]
    pub user_id: u32,
    /// NTSTATUS of the operation (0 = success).
    pub nt_status: u32,
    /// SMB desired access mask (opens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_access: Option<u32>,
    /// SMB create disposition (opens/creates), or NFS create mode mapped to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_dispo: Option<u32>,
    /// Bytes read (read events, closes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_read: Option<u64>,
    /// Bytes written (write events, closes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_written: Option<u64>,
    /// Size of the file after the operation, for a `write_file` event that set it
    /// (truncation or extension by SETATTR/SET_INFO, overwriting CREATE); no bytes written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_size: Option<u64>,
    /// Inode number (file id) of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inode: Option<u64>,
    /// (config topic) What changed, e.g. `audit.zones[System].audit_success`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// (config topic) Who changed it (user name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
}

impl AuditEvent {
    /// A protocol event on behalf of `caller`, successful, with empty names.
    pub fn new(name: EventName, caller: &Caller) -> AuditEvent {
        AuditEvent {
            id: 0,
            timestamp: 0,
            node: String::new(),
            protocol: caller.protocol.as_str().to_string(),
            zone_id: caller.zone.0,
            zone_name: String::new(),
            event_type: name.coarse().to_string(),
            detail_type: name.as_str().to_string(),
            is_directory: matches!(
                name,
                EventName::CreateDirectory
                    | EventName::OpenDirectory
                    | EventName::CloseDirectory
                    | EventName::DeleteDirectory
                    | EventName::RenameDirectory
                    | EventName::SetSecurityDirectory
                    | EventName::GetSecurityDirectory
            ),
            client_ip_addr: client_ip(caller.client_addr.ip()),
            file_name: String::new(),
            new_file_name: None,
            user_sid: caller
                .sid
                .clone()
                .unwrap_or_else(|| unix_user_sid(caller.uid)),
            user_id: caller.uid,
            nt_status: STATUS_SUCCESS,
            desired_access: None,
            create_dispo: None,
            bytes_read: None,
            bytes_written: None,
            new_size: None,
            inode: None,
            change: None,
            user_name: None,
        }
    }

    /// A `config_change` event (topic `config`): `who` changed `what`.
    pub fn config_change(who: &str, what: &str) -> AuditEvent {
        let name = EventName::ConfigChange;
        AuditEvent {
            id: 0,
            timestamp: 0,
            node: String::new(),
            protocol: String::new(),
            zone_id: shoal_vfs::ZoneId::SYSTEM.0,
            zone_name: String::new(),
            event_type: name.coarse().to_string(),
            detail_type: name.as_str().to_string(),
            is_directory: false,
            client_ip_addr: String::new(),
            file_name: String::new(),
            new_file_name: None,
            user_sid: String::new(),
            user_id: 0,
            nt_status: STATUS_SUCCESS,
            desired_access: None,
            create_dispo: None,
            bytes_read: None,
            bytes_written: None,
            new_size: None,
            inode: None,
            change: Some(what.to_string()),
            user_name: Some(who.to_string()),
        }
    }

    /// Sets the path.
    pub fn with_file(mut self, file_name: impl Into<String>) -> AuditEvent {
        self.file_name = file_name.into();
        self
    }

    /// Records a failure.
    pub fn with_status(mut self, nt_status: u32) -> AuditEvent {
        self.nt_status = nt_status;
        self
    }

    /// The event name, parsed back from `detailType`.
    pub fn name(&self) -> Option<EventName> {
        EventName::parse(&self.detail_type)
    }

    /// True when the operation succeeded.
    pub fn succeeded(&self) -> bool {
        self.nt_status == STATUS_SUCCESS
    }
}

/// `clientIPAddr`: IPv4-mapped IPv6 addresses are shown as IPv4.
fn client_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_requirements() {
        let expect: &[(&str, &str, Option<&str>)] = &[
            ("create_file", "create", Some("CEPP_CREATE_FILE")),
            ("create_directory", "create", Some("CEPP_CREATE_DIRECTORY")),
            ("open_file_write", "create", Some("CEPP_OPEN_FILE_WRITE")),
            ("open_file_read", "create", Some("CEPP_OPEN_FILE_READ")),
            (
                "open_file_noaccess",
                "create",
                Some("CEPP_OPEN_FILE_NOACCESS"),
            ),
            ("open_directory", "create", Some("CEPP_OPEN_DIRECTORY")),
            (
                "close_file_unmodified",
                "close",
                Some("CEPP_CLOSE_UNMODIFIED"),
            ),
            ("close_file_modified", "close", Some("CEPP_CLOSE_MODIFIED")),
            ("close_directory", "close", Some("CEPP_CLOSE_DIRECTORY")),
            ("delete_file", "delete", Some("CEPP_DELETE_FILE")),
            ("delete_directory", "delete", Some("CEPP_DELETE_DIRECTORY")),
            ("rename_file", "rename", Some("CEPP_RENAME_FILE")),
            ("rename_directory", "rename", Some("CEPP_RENAME_DIRECTORY")),
            (
                "set_security_file",
                "set_security",
                Some("CEPP_SETACL_FILE"),
            ),
            (
                "set_security_directory",
                "set_security",
                Some("CEPP_SETACL_DIRECTORY"),
            ),
            ("get_security_file", "get_security", None),
            ("get_security_directory", "get_security", None),
            ("write_file", "write", Some("CEPP_FILE_WRITE")),
            ("read_file", "read", Some("CEPP_FILE_READ")),
            ("logon", "logon", None),
            ("logoff", "logoff", None),
            ("tree_connect", "tree_connect", None),
        ];
        assert_eq!(EventName::protocol_events().count(), expect.len());
        for (name, coarse, cee) in expect {
            let e = EventName::parse(name).unwrap();
            assert_eq!(e.as_str(), *name);
            assert_eq!(e.coarse(), *coarse, "{name}");
            assert_eq!(e.cee_type(), *cee, "{name}");
            assert_eq!(e.cee_bit().is_some(), cee.is_some(), "{name}");
            assert_eq!(e.topic(), Topic::Protocol);
        }
        // CEE bits are distinct single bits.
        let mut seen = 0u32;
        for e in EventName::ALL {
            if let Some(b) = e.cee_bit() {
                assert_eq!(b.count_ones(), 1);
                assert_eq!(seen & b, 0, "{e}");
                seen |= b;
            }
        }
    }

    #[test]
    fn open_and_close_derivation() {
        assert_eq!(open_event(true, false, 0), EventName::CreateFile);
        assert_eq!(open_event(true, true, 0), EventName::CreateDirectory);
        assert_eq!(open_event(false, true, 1), EventName::OpenDirectory);
        assert_eq!(open_event(false, false, 0x1), EventName::OpenFileRead);
        assert_eq!(
            open_event(false, false, 0x8000_0000),
            EventName::OpenFileRead
        );
        assert_eq!(open_event(false, false, 0x4), EventName::OpenFileWrite);
        assert_eq!(open_event(false, false, 0x3), EventName::OpenFileWrite);
        assert_eq!(open_event(false, false, 0x80), EventName::OpenFileNoaccess);
        assert_eq!(close_event(false, true), EventName::CloseFileModified);
        assert_eq!(close_event(false, false), EventName::CloseFileUnmodified);
        assert_eq!(close_event(true, false), EventName::CloseDirectory);
    }

    #[test]
    fn json_field_names() {
        let caller = Caller {
            uid: 1000,
            gid: 1000,
            groups: vec![],
            sid: None,
            client_addr: "[::ffff:10.0.0.7]:700".parse().unwrap(),
            zone: shoal_vfs::ZoneId(1),
            protocol: shoal_vfs::Protocol::Nfs3,
        };
        let mut e = AuditEvent::new(EventName::RenameDirectory, &caller).with_file("/a");
        e.new_file_name = Some("/b".into());
        e.bytes_read = Some(3);
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        for k in [
            "id",
            "timestamp",
            "node",
            "protocol",
            "zoneID",
            "zoneName",
            "eventType",
            "detailType",
            "isDirectory",
            "clientIPAddr",
            "fileName",
            "newFileName",
            "userSID",
            "userID",
            "ntStatus",
            "bytesRead",
        ] {
            assert!(v.get(k).is_some(), "missing {k}: {v}");
        }
        assert_eq!(v["clientIPAddr"], "10.0.0.7");
        assert_eq!(v["userSID"], "S-1-22-1-1000");
        assert_eq!(v["eventType"], "rename");
        assert_eq!(v["isDirectory"], true);
        let back: AuditEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
