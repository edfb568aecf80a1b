//! Oplocks and leases (MS-SMB2 3.3.5.9.8 oplocks, 3.3.5.9.11 leases, 3.3.4.6/3.3.4.7 breaks).
//!
//! What a new open may be granted given the other opens of the file, which holders must be
//! broken first and whether the open has to wait for their acknowledgment. The functions here
//! run under the file's lock ([`super::LockStore::with_file`]) and return the events to send;
//! they never send anything themselves.

use std::time::{Duration, Instant};

use super::events::{LockEvent, OplockLevel, SinkId};
use super::store::{FileRecord, OpenRecord};
use super::{FileKey, OpenId};
use crate::VfsError;

/// A lease as requested in a CREATE (RqLs context, MS-SMB2 2.2.13.2.8 / 2.2.13.2.10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRequest {
    /// ClientGuid of the connection (leases belong to a client, not a connection).
    pub client: [u8; 16],
    /// LeaseKey.
    pub key: [u8; 16],
    /// Requested state ([`super::lease_state`] bits).
    pub state: u32,
    /// ParentLeaseKey (v2, when SMB2_LEASE_FLAG_PARENT_LEASE_KEY_SET).
    pub parent: Option<[u8; 16]>,
    /// Lease v2 (SMB 3.x create context).
    pub v2: bool,
    /// Epoch the client sent (v2).
    pub epoch: u16,
}

/// What caching a CREATE asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// None.
    None,
    /// An oplock of this level.
    Oplock(OplockLevel),
    /// A lease.
    Lease(LeaseRequest),
}

/// What an open holds.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Held {
    /// Nothing.
    #[default]
    None,
    /// An oplock.
    Oplock(OplockLevel),
    /// Its share of the lease (client, key) of [`FileLeases`].
    Lease {
        /// ClientGuid.
        client: [u8; 16],
        /// LeaseKey.
        key: [u8; 16],
    },
}

/// What a CREATE reply grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Granted {
    /// No caching.
    None,
    /// An oplock.
    Oplock(OplockLevel),
    /// A lease: its state, epoch and flags (SMB2_LEASE_FLAG_BREAK_IN_PROGRESS) for the reply.
    Lease {
        /// Lease state.
        state: u32,
        /// Epoch (v2).
        epoch: u16,
        /// Lease flags.
        flags: u32,
        /// ParentLeaseKey echoed (v2).
        parent: Option<[u8; 16]>,
        /// v2 context.
        v2: bool,
    },
}

/// One lease on a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// ClientGuid.
    pub client: [u8; 16],
    /// LeaseKey.
    pub key: [u8; 16],
    /// Current state.
    pub state: u32,
    /// Epoch (v2).
    pub epoch: u16,
    /// A break to this state was sent and not acknowledged yet.
    pub breaking_to: Option<u32>,
    /// When that break was sent.
    pub break_started: Option<Instant>,
    /// Where the break went.
    pub sink: SinkId,
    /// v2 lease.
    pub v2: bool,
    /// ParentLeaseKey (v2).
    pub parent: Option<[u8; 16]>,
}

/// An oplock break sent and not acknowledged yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OplockBreak {
    /// The open whose oplock is breaking.
    pub open: OpenId,
    /// The level it must break to.
    pub to: OplockLevel,
    /// When the break was sent.
    pub started: Instant,
}

/// Leases of one file and oplock breaks in progress on it.
#[derive(Clone, Debug, Default)]
pub struct FileLeases {
    /// Leases, one per (client, key).
    pub leases: Vec<Lease>,
    /// Oplock breaks waiting for acknowledgment.
    pub oplock_breaks: Vec<OplockBreak>,
}

impl FileLeases {
    /// No lease and no break in progress.
    pub fn is_empty(&self) -> bool {
        self.leases.is_empty() && self.oplock_breaks.is_empty()
    }
}

/// A new open as the lease logic sees it.
pub struct NewOpen<'a> {
    /// Its id.
    pub id: OpenId,
    /// Its connection.
    pub sink: SinkId,
    /// Granted access.
    pub access: u32,
    /// ShareAccess.
    pub share: u32,
    /// The CREATE overwrites or supersedes the file.
    pub overwrite: bool,
    /// What caching it asks for.
    pub request: &'a Request,
}

/// The outcome of [`admit`].
pub struct Admission {
    /// What the new open will hold, if it is let in.
    pub held: Held,
    /// What its reply grants.
    pub granted: Granted,
    /// Breaks to send.
    pub events: Vec<(SinkId, LockEvent)>,
    /// A break the open must wait for is in progress: park it.
    pub wait: bool,
}

/// Decides what `new` gets on `file` and what must be broken first.
///
/// Policy of this version: no caching is granted, so nothing is ever broken.
pub fn admit(
    _file: &mut FileRecord,
    _key: FileKey,
    _new: &NewOpen<'_>,
    _now: Instant,
    _timeout: Duration,
) -> Admission {
    Admission {
        held: Held::None,
        granted: Granted::None,
        events: Vec::new(),
        wait: false,
    }
}

/// `open` is closing: its share of a lease and its oplock break go.
pub fn on_close(file: &mut FileRecord, open: &OpenRecord) {
    file.leases.oplock_breaks.retain(|b| b.open != open.id);
    if let Held::Lease { client, key } = &open.held {
        let still_used = file.opens.iter().any(|o| o.held == open.held);
        if !still_used {
            file.leases
                .leases
                .retain(|l| !(l.client == *client && l.key == *key));
        }
    }
}

/// What an access that is not an SMB open does to the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoKind {
    /// Reads data (an NFS READ): write caching must go.
    Read,
    /// Changes data or size (NFS WRITE, SETATTR size; an SMB WRITE through another open):
    /// all caching must go.
    Write,
    /// Removes or renames the name (NFS REMOVE, RENAME): handle caching must go.
    Namespace,
}

/// Breaks required before an access of `kind` by `by` (`None`: a protocol without opens,
/// NFS): returns the events to send and whether the access must wait for acknowledgments.
pub fn break_for_io(
    _file: &mut FileRecord,
    _key: FileKey,
    _kind: IoKind,
    _by: Option<OpenId>,
    _now: Instant,
) -> (Vec<(SinkId, LockEvent)>, bool) {
    (Vec::new(), false)
}

/// An oplock break acknowledgment from `open` to `level`.
pub fn ack_oplock(
    _file: &mut FileRecord,
    _open: OpenId,
    _level: OplockLevel,
) -> Result<OplockLevel, VfsError> {
    Err(VfsError::InvalidOplockProtocol)
}

/// A lease break acknowledgment.
pub fn ack_lease(
    _file: &mut FileRecord,
    _client: [u8; 16],
    _key: [u8; 16],
    _state: u32,
) -> Result<u32, VfsError> {
    Err(VfsError::InvalidOplockProtocol)
}

/// Completes breaks sent more than `timeout` ago as if acknowledged; true when any was.
pub fn expire(file: &mut FileRecord, now: Instant, timeout: Duration) -> bool {
    let before = file.leases.oplock_breaks.len();
    file.leases
        .oplock_breaks
        .retain(|b| now.duration_since(b.started) < timeout);
    let mut any = before != file.leases.oplock_breaks.len();
    for l in &mut file.leases.leases {
        if let (Some(to), Some(t)) = (l.breaking_to, l.break_started) {
            if now.duration_since(t) >= timeout {
                l.state = to;
                l.breaking_to = None;
                l.break_started = None;
                any = true;
            }
        }
    }
    any
}
