//! Operations that wait (MS-SMB2 3.3.4.2 async interim responses, 3.3.5.16 CANCEL).
//!
//! A request that cannot complete at once gets an interim STATUS_PENDING response in the
//! async header form with a fresh AsyncId; the final response comes later (here: on CANCEL, or
//! when the handle it waits on is closed). The number pending per connection is capped
//! (`max_pending`), so a client cannot pile up unbounded waiting state.

use shoal_smb_proto::header::{encode_error_body, flags, Header};
use shoal_smb_proto::misc::FileId;
use shoal_smb_proto::{framing, Command, NtStatus};

use super::state::Conn;
use crate::signing::Signer;

/// Most async operations waiting per connection.
pub(crate) const MAX_PENDING: usize = 256;

/// One waiting request.
pub(crate) struct Pending {
    pub async_id: u64,
    pub message_id: u64,
    pub command: Command,
    pub session_id: u64,
    pub tree_id: u32,
    pub file_id: FileId,
    pub signer: Option<Signer>,
}

impl Conn {
    /// Registers a waiting request; `None` when the cap is reached.
    pub(crate) fn add_pending(&mut self, mut p: Pending) -> Option<u64> {
        if self.pending.len() >= MAX_PENDING {
            return None;
        }
        self.next_async_id += 1;
        p.async_id = self.next_async_id;
        let id = p.async_id;
        self.pending.push(p);
        Some(id)
    }

    /// Final response of a waiting request, as a transport frame.
    fn finish(&self, p: &Pending, status: NtStatus) -> Vec<u8> {
        let mut m = Vec::with_capacity(80);
        Header {
            credit_charge: 0,
            status,
            command: p.command,
            credits: 0,
            flags: flags::SERVER_TO_REDIR | flags::ASYNC_COMMAND,
            next_command: 0,
            message_id: p.message_id,
            async_id: p.async_id,
            tree_id: 0,
            session_id: p.session_id,
            signature: [0; 16],
        }
        .encode(&mut m);
        encode_error_body(&mut m);
        if let Some(s) = p.signer {
            s.sign_response(&mut m);
        }
        let mut f = Vec::with_capacity(m.len() + 4);
        framing::put_frame_header(&mut f, m.len());
        f.extend_from_slice(&m);
        f
    }

    /// CANCEL (MS-SMB2 3.3.5.16): by AsyncId for async-form cancels, else by MessageId.
    /// The cancelled request completes with STATUS_CANCELLED; CANCEL itself has no reply.
    pub(crate) fn cancel(&mut self, hdr: &Header) {
        let pos = if hdr.is_async() {
            self.pending
                .iter()
                .position(|p| p.async_id == hdr.async_id && p.session_id == hdr.session_id)
        } else {
            self.pending
                .iter()
                .position(|p| p.message_id == hdr.message_id && p.session_id == hdr.session_id)
        };
        if let Some(i) = pos {
            let p = self.pending.remove(i);
            let f = self.finish(&p, NtStatus::CANCELLED);
            let f = self.protect_frame(p.session_id, p.tree_id, p.command, f);
            self.extra_frames.push(f);
        }
    }

    /// Completes the requests waiting on `file_id` (its handle is being closed) with
    /// STATUS_NOTIFY_CLEANUP.
    pub(crate) fn cleanup_pending_for(&mut self, file_id: FileId) {
        let (done, keep): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.file_id == file_id);
        self.pending = keep;
        for p in done {
            let f = self.finish(&p, NtStatus::NOTIFY_CLEANUP);
            let f = self.protect_frame(p.session_id, p.tree_id, p.command, f);
            self.extra_frames.push(f);
        }
    }

    /// Forgets waiting requests of a session or tree going away (their replies would have no
    /// session to be signed with; MS-SMB2 3.3.5.6 lets the server drop them).
    pub(crate) fn drop_pending(&mut self, session_id: u64, tree_id: Option<u32>) {
        self.pending
            .retain(|p| !(p.session_id == session_id && tree_id.is_none_or(|t| t == p.tree_id)));
    }
}
