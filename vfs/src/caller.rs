//! Who is asking: identity, where from, through which zone and protocol.

use std::net::SocketAddr;

/// Access zone id (R1: zone `System` is id 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ZoneId(pub u32);

impl ZoneId {
    /// The zone that always exists.
    pub const SYSTEM: ZoneId = ZoneId(1);
}

/// The protocol a request came in on (audit `protocol` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// SMB 2.0.2 / 2.1.
    Smb2,
    /// SMB 3.x.
    Smb3,
    /// NFS version 3.
    Nfs3,
}

impl Protocol {
    /// Name used in audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Smb2 => "SMB2",
            Protocol::Smb3 => "SMB3",
            Protocol::Nfs3 => "NFS3",
        }
    }
}

/// The identity and origin of one request. Every VFS call takes one: permission checks,
/// ownership of created files, squash and audit fields all come from it.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Effective uid (after any squash).
    pub uid: u32,
    /// Primary gid (after any squash).
    pub gid: u32,
    /// Supplementary gids.
    pub groups: Vec<u32>,
    /// Windows SID string when known (SMB), for audit.
    pub sid: Option<String>,
    /// Client socket address.
    pub client_addr: SocketAddr,
    /// Access zone of the share or export used.
    pub zone: ZoneId,
    /// Protocol of the request.
    pub protocol: Protocol,
}

impl Caller {
    /// True when `gid` is the caller's primary or a supplementary group.
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }

    /// Superuser (not squashed).
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }
}
