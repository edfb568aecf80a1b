//! What the lock manager tells a connection it did not ask about: breaks of oplocks and
//! leases it holds, and wake-ups of requests it parked (an open waiting for a break to be
//! acknowledged, a blocking byte-range lock waiting for a range to be unlocked).
//!
//! Each connection (SMB) or service (NFS) registers one [`EventSink`]; the manager calls it
//! under a file's lock, so `send` must never block and never call back into the manager: a
//! bounded channel's `try_send` is the intended implementation. A full or closed sink drops
//! the event: the manager treats an undeliverable break like an unanswered one (it times out,
//! [`super::LockConfig::break_timeout`]), and a parked request is woken again by its own
//! deadline.

use super::{FileKey, OpenId};

/// Who receives a connection's events (a connection, or the NFS service). Ids are not reused
/// within a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SinkId(pub u64);

/// An oplock level (MS-SMB2 2.2.13 RequestedOplockLevel / 2.2.23.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OplockLevel {
    /// SMB2_OPLOCK_LEVEL_NONE.
    None,
    /// SMB2_OPLOCK_LEVEL_II: read caching, shared.
    Level2,
    /// SMB2_OPLOCK_LEVEL_EXCLUSIVE: read and write caching.
    Exclusive,
    /// SMB2_OPLOCK_LEVEL_BATCH: read, write and handle caching.
    Batch,
}

/// Lease state bits (MS-SMB2 2.2.13.2.8).
pub mod lease_state {
    /// SMB2_LEASE_READ_CACHING.
    pub const R: u32 = 0x01;
    /// SMB2_LEASE_HANDLE_CACHING.
    pub const H: u32 = 0x02;
    /// SMB2_LEASE_WRITE_CACHING.
    pub const W: u32 = 0x04;
}

/// An event for one sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockEvent {
    /// Break the oplock of `open` to `to` (MS-SMB2 2.2.23.1). The holder acknowledges with
    /// [`super::LockManager::ack_oplock`] (an SMB OPLOCK_BREAK acknowledgment), except for a
    /// break of level II to none, which needs no acknowledgment.
    OplockBreak {
        /// The file.
        file: FileKey,
        /// The open holding the oplock.
        open: OpenId,
        /// The level the holder must break to.
        to: OplockLevel,
    },
    /// Break the lease `key` of client `client` from `from` to `to` (MS-SMB2 2.2.23.2).
    LeaseBreak {
        /// The file.
        file: FileKey,
        /// ClientGuid of the lease owner.
        client: [u8; 16],
        /// The lease key.
        key: [u8; 16],
        /// Current lease state (bits of [`lease_state`]).
        from: u32,
        /// New lease state.
        to: u32,
        /// The lease epoch after this break (lease v2; 0 for v1).
        epoch: u16,
        /// The holder must acknowledge (SMB2_NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED).
        ack_required: bool,
    },
    /// A request parked with `token` may be retried: the break it waited for was acknowledged
    /// or timed out, the open holding it closed, or a byte range it waited for was unlocked.
    /// A wake-up is a hint: the retry checks again and may park again.
    Wake {
        /// The token the request was parked with.
        token: u64,
    },
}

/// Where a connection's events go. Must not block and must not call the manager.
pub trait EventSink: Send + Sync {
    /// Delivers `event`; false when it could not be queued (full or closed).
    fn send(&self, event: LockEvent) -> bool;
}
