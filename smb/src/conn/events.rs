//! What the lock manager tells a connection unasked (`shoal_vfs::lock::events`): each
//! connection registers one [`ConnSink`], a bounded queue the connection task drains in its
//! `select!` loop (`conn::run_with_slot`) beside the frame being read.
//!
//! - `OplockBreak` becomes an SMB2 OPLOCK_BREAK notification (MS-SMB2 3.3.4.6, 2.2.23.1),
//!   `LeaseBreak` a lease break notification (3.3.4.7, 2.2.23.2): unsolicited messages with
//!   MessageId 0xFFFFFFFFFFFFFFFF, no credits, never signed, sealed when the session they
//!   belong to must encrypt (3.3.4.1.4). They go through the writer like every reply, so
//!   frames are never interleaved.
//! - `Wake` runs a parked request again (`pending`).
//!
//! A full queue drops the event (the manager's `EventSink` contract): an undelivered break
//! times out like an unanswered one, a parked request is retried at its deadline.

use shoal_smb_proto::header::{flags, Header};
use shoal_smb_proto::oplock::{encode_lease_break, encode_oplock_break, LEASE_FLAG_ACK_REQUIRED};
use shoal_smb_proto::{framing, Command, Dialect, NtStatus};
use shoal_vfs::lock::{EventSink, FileKey, LockEvent, LockManager, OplockLevel, SinkId};
use tokio::sync::mpsc;

use super::encryption::TRANSFORM_ROOM;
use super::state::Conn;

/// MessageId of an unsolicited break notification (MS-SMB2 3.3.4.6, 3.3.4.7).
pub(crate) const BREAK_MESSAGE_ID: u64 = u64::MAX;

/// A connection's [`EventSink`]: never blocks, never calls the manager.
pub(crate) struct ConnSink(pub(super) mpsc::Sender<LockEvent>);

impl EventSink for ConnSink {
    fn send(&self, event: LockEvent) -> bool {
        self.0.try_send(event).is_ok()
    }
}

/// Registers a new connection's sink with the lock manager: its id (parked requests name it
/// in their `Waiter`) and the queue the connection task reads. Unregister with
/// `LockManager::unregister_sink` when the connection ends.
/// `capacity` (`smb.max_pending_breaks`) bounds the queue: breaks of the opens the connection
/// holds and wake-ups of the requests it parked.
pub(crate) fn register(
    locks: &LockManager,
    capacity: usize,
) -> (SinkId, mpsc::Receiver<LockEvent>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let id = locks.register_sink(std::sync::Arc::new(ConnSink(tx)));
    (id, rx)
}

/// OplockLevel byte of a break notification (2.2.23.1).
fn level_byte(level: OplockLevel) -> u8 {
    match level {
        OplockLevel::None => 0x00,
        OplockLevel::Level2 => 0x01,
        // Breaks go down to level II or none; these are listed for completeness.
        OplockLevel::Exclusive | OplockLevel::Batch => 0x08,
    }
}

impl Conn {
    /// Handles one lock manager event: break notifications are queued in `extra_frames`,
    /// wake-ups run the parked request again. `Err` when the connection must close.
    pub(crate) async fn on_lock_event(&mut self, event: LockEvent) -> Result<(), &'static str> {
        match event {
            LockEvent::OplockBreak { file, open, to } => {
                let found = self.opens.iter().find_map(|(fid, o)| {
                    o.lock
                        .filter(|l| l.key == file && l.id == open)
                        .map(|_| (*fid, o.session_id, o.tree_id))
                });
                let Some((file_id, session_id, tree_id)) = found else {
                    // Closed meanwhile: the close released the oplock.
                    tracing::debug!(?open, "oplock break for an open that is gone");
                    return Ok(());
                };
                let mut body = Vec::with_capacity(24);
                encode_oplock_break(&mut body, level_byte(to), file_id);
                // 3.3.4.6: "The server SHOULD set the SessionId in the SMB2 header to
                // Open.Session.SessionId. The server MUST set the TreeId in the SMB2 header
                // to zero."
                let f = self.break_frame(session_id, Some((session_id, tree_id)), &body)?;
                self.extra_frames.push(f);
            }
            LockEvent::LeaseBreak {
                file,
                key,
                from,
                to,
                epoch,
                ack_required,
                ..
            } => {
                if self.negotiated() == Some(Dialect::SMB2_0_2) {
                    return Ok(()); // 2.2.23.2: not valid for 2.0.2 (no leases granted)
                }
                let mut body = Vec::with_capacity(44);
                let flags = if ack_required {
                    LEASE_FLAG_ACK_REQUIRED
                } else {
                    0
                };
                encode_lease_break(&mut body, epoch, flags, &key, from, to);
                // A lease belongs to the client, not to a session: the header names none
                // (as Samba sends it). It is sealed with the key of the session of an open
                // of the file on this connection when that session or its tree encrypts.
                let owner = self.owner_of(file);
                let f = self.break_frame(0, owner, &body)?;
                self.extra_frames.push(f);
            }
            LockEvent::Wake { token } => self.retry_parked(token, false).await?,
        }
        Ok(())
    }

    /// Session and tree of some open of `file` on this connection.
    fn owner_of(&self, file: FileKey) -> Option<(u64, u32)> {
        self.opens
            .values()
            .filter(|o| o.lock.is_some_and(|l| l.key == file))
            .map(|o| (o.session_id, o.tree_id))
            .min()
    }

    /// An OPLOCK_BREAK notification frame: header as 3.3.4.6 / 3.3.4.7 say (MessageId all
    /// ones, no credits, TreeId 0, unsigned), sealed for `owner`'s session when the
    /// session or the tree requires encryption or the client has been encrypting
    /// (3.3.4.1.4).
    fn break_frame(
        &self,
        session_id: u64,
        owner: Option<(u64, u32)>,
        body: &[u8],
    ) -> Result<Vec<u8>, &'static str> {
        let seal_for = owner.and_then(|(sid, tid)| {
            let client_encrypts = self
                .sessions
                .get(&sid)
                .and_then(|s| s.established.as_ref())
                .and_then(|e| e.crypt.as_ref())
                .is_some_and(|c| c.client_encrypts);
            self.must_encrypt(sid, tid, Command::OPLOCK_BREAK, client_encrypts)
                .then_some(sid)
        });
        let room = if seal_for.is_some() {
            TRANSFORM_ROOM
        } else {
            0
        };
        let mut frame = Vec::with_capacity(4 + room + 64 + body.len());
        frame.resize(4 + room, 0);
        Header {
            credit_charge: 0,
            status: NtStatus::SUCCESS,
            command: Command::OPLOCK_BREAK,
            credits: 0,
            flags: flags::SERVER_TO_REDIR,
            next_command: 0,
            message_id: BREAK_MESSAGE_ID,
            async_id: 0,
            tree_id: 0,
            session_id,
            signature: [0; 16],
        }
        .encode(&mut frame);
        frame.extend_from_slice(body);
        match seal_for {
            Some(sid) => self.seal_frame(sid, &mut frame)?,
            None => {
                let mut head = Vec::with_capacity(4);
                framing::put_frame_header(&mut head, frame.len().saturating_sub(4));
                if let Some(h) = frame.get_mut(..4) {
                    h.copy_from_slice(&head);
                }
            }
        }
        Ok(frame)
    }
}
