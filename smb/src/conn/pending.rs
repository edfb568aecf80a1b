//! Requests that wait (MS-SMB2 3.3.4.2 async interim responses, 3.3.5.16 CANCEL): one
//! mechanism for CHANGE_NOTIFY, blocking byte-range locks and CREATEs waiting for a break.
//!
//! A handler that cannot complete a request now answers [`Reply::parked`] with a [`Park`]:
//! the AsyncId it took from [`Conn::park_token`] (also the token of its lock manager
//! `Waiter`, [`Conn::waiter`]), the file the waiter is recorded on, the handle it waits on,
//! an optional deadline. The connection then sends an interim STATUS_PENDING response in
//! the async form (credits granted as for any response), keeps a copy of the request with
//! what a retry needs ([`Pending`]: session, tree, related FileId, whether it came
//! encrypted, its signing key), and goes on reading requests.
//!
//! On a lock manager `Wake` for its AsyncId, or when its deadline passes (after
//! `LockManager::expire_breaks`), the request runs again through the normal handler path
//! with [`Req::retry`] set; its final response goes out in the async form with the same
//! AsyncId and grants no credits (3.3.4.2). A retry that parks again stays pending, without
//! a second interim response.
//!
//! Inside a compound chain (MS-SMB2 <206> on 3.3.5.2.7): the last request may go async; so
//! may a CREATE waiting for a break, and then the requests after it are held back
//! ([`ChainRest`]) and run once it completes, related to its outcome; any other request
//! that would wait fails at once with STATUS_INTERNAL_ERROR (`dispatch`).
//!
//! A pending request also ends on CANCEL (STATUS_CANCELLED), when the handle it waits on is
//! closed (its `cleanup` status, STATUS_NOTIFY_CLEANUP for CHANGE_NOTIFY), on
//! TREE_DISCONNECT and LOGOFF (requests with a lock manager waiter complete with `cleanup`;
//! CHANGE_NOTIFY requests are dropped, 3.3.5.6), and with the connection (dropped). Whatever
//! ends it, its waiter is removed from the manager (`LockManager::cancel_wait`).
//!
//! At most `smb.max_parked_requests` (default 256) requests wait per connection, so a client cannot pile up waiting
//! state: [`Conn::park_token`] refuses a token at the cap and the handler fails the request.

use std::time::{Duration, Instant};

use shoal_smb_proto::header::{encode_error_body, flags, Header};
use shoal_smb_proto::misc::FileId;
use shoal_smb_proto::{framing, Command, NtStatus};
use shoal_vfs::lock::Waiter;

use super::encryption::TRANSFORM_ROOM;
use super::related::Chain;
use super::state::Conn;
pub(crate) use crate::req::Park;
use crate::req::{Reply, Req, Retry};
use crate::signing::Signer;

/// How long a request whose deadline passed and that parks again with a deadline already
/// past waits before its next timed retry (no busy loop on a handler's stale deadline).
const MIN_REPARK: Duration = Duration::from_secs(1);

/// One waiting request.
pub(crate) struct Pending {
    pub message_id: u64,
    pub command: Command,
    pub session_id: u64,
    pub tree_id: u32,
    /// What it waits for (AsyncId, lock manager record, handle, deadline, cleanup status).
    pub park: Park,
    /// Signs the final response (the request was signed, or its session requires signing).
    pub signer: Option<Signer>,
    /// The request came in a TRANSFORM frame: the final response is sealed too.
    pub encrypted: bool,
    /// The request message, for the retry.
    pub msg: Vec<u8>,
    /// FileId of the previous CREATE of its related chain.
    pub related_file: Option<FileId>,
    /// The requests after it in its compound chain, held back until it completes.
    pub rest: Option<ChainRest>,
}

/// The rest of a compound chain behind a CREATE that went async (MS-SMB2 <206>: only a
/// CREATE waiting for an oplock break may go async inside a chain). It runs once the CREATE
/// completes, its related requests inheriting the CREATE's session, tree, FileId, or its
/// failure (a cancelled CREATE fails them with STATUS_CANCELLED).
pub(crate) struct ChainRest {
    /// The messages, from the one after the CREATE to the end of the chain.
    pub buf: Vec<u8>,
    /// The chain came in a TRANSFORM frame of this session.
    pub encrypted_session: Option<u64>,
}

/// A held-back chain rest ready to run, with what its related requests inherit.
pub(crate) struct Resume {
    rest: ChainRest,
    chain: Chain,
}

impl Conn {
    /// The AsyncId to park `req` under, which is also its lock manager waiter token: the one
    /// it already has when it is being retried, else a fresh one; `None` when
    /// `max_parked_requests` requests already wait (the handler fails the request instead of
    /// parking it, e.g. with STATUS_INSUFFICIENT_RESOURCES).
    pub(crate) fn park_token(&mut self, req: &Req<'_>) -> Option<u64> {
        if let Some(r) = req.retry {
            return Some(r.async_id);
        }
        if self.pending.len() >= self.shared.config.max_parked_requests {
            return None;
        }
        self.next_async_id += 1;
        Some(self.next_async_id)
    }

    /// The lock manager waiter for a request parked with `token`.
    pub(crate) fn waiter(&self, token: u64) -> Waiter {
        Waiter {
            sink: self.sink,
            token,
        }
    }

    /// Records a request a handler parked (its interim response is being built). `false`
    /// when it cannot wait (the cap, or a token not from [`Conn::park_token`]): its waiter
    /// is cancelled and the request fails.
    pub(crate) fn register_parked(&mut self, req: &Req<'_>, park: Park) -> bool {
        let clash = self
            .pending
            .iter()
            .any(|p| p.park.async_id == park.async_id);
        if self.pending.len() >= self.shared.config.max_parked_requests
            || clash
            || park.async_id > self.next_async_id
        {
            self.release_waiter(&park);
            return false;
        }
        let signer = self.sessions.get(&req.session_id).and_then(|s| {
            let e = s.established.as_ref()?;
            (req.hdr.is_signed() || e.signing_required)
                .then_some(e.signer)
                .flatten()
        });
        self.pending.push(Pending {
            message_id: req.hdr.message_id,
            command: req.hdr.command,
            session_id: req.session_id,
            tree_id: req.tree_id,
            park,
            signer,
            encrypted: req.encrypted,
            msg: req.msg.to_vec(),
            related_file: req.related_file,
            rest: None,
        });
        true
    }

    /// Holds back the rest of the chain of the request parked under `async_id`.
    pub(crate) fn hold_rest(
        &mut self,
        async_id: u64,
        buf: Vec<u8>,
        encrypted_session: Option<u64>,
    ) {
        if let Some(p) = self
            .pending
            .iter_mut()
            .find(|p| p.park.async_id == async_id)
        {
            p.rest = Some(ChainRest {
                buf,
                encrypted_session,
            });
        }
    }

    /// `p` completed with `status` (and `file_id`, a CREATE that succeeded): the rest of its
    /// chain, if any, is queued to run ([`Conn::run_resumes`]).
    fn resume_rest(&mut self, p: &mut Pending, status: NtStatus, file_id: Option<FileId>) {
        if let Some(rest) = p.rest.take() {
            let mut chain = Chain::default();
            chain.finish(p.command, p.session_id, p.tree_id, file_id, status);
            self.resumes.push(Resume { rest, chain });
        }
    }

    /// Runs the chain rests whose CREATE completed; their responses are queued in
    /// `extra_frames` after what is there. `Err` when the connection must close.
    pub(crate) async fn run_resumes(&mut self) -> Result<(), &'static str> {
        while !self.resumes.is_empty() {
            let Resume { rest, chain } = self.resumes.remove(0);
            // `handle_chain` returns what `extra_frames` held, then its own responses.
            let handled = self
                .handle_chain(rest.buf, rest.encrypted_session, chain, false)
                .await?;
            self.extra_frames = handled.frames;
        }
        Ok(())
    }

    /// A handler parked a request that may not wait after all (inside a compound chain):
    /// its waiter leaves the lock manager; nothing was recorded.
    pub(crate) fn abandon_park(&self, park: &Park) {
        self.release_waiter(park);
    }

    /// Removes a parked request's waiter from the lock manager (harmless when a wake-up
    /// already took it).
    fn release_waiter(&self, park: &Park) {
        if let Some(key) = park.key {
            self.shared
                .config
                .locks
                .cancel_wait(key, self.waiter(park.async_id));
        }
    }

    /// The final response of a waiting request as a transport frame: async form, no
    /// credits (3.3.4.2), `body` or the ERROR body; signed with the request's key, or sealed
    /// when the request came encrypted or the session or tree requires encryption
    /// (3.3.4.1.4). Empty when it cannot be sealed (it is then not sent).
    fn finish(&self, p: &Pending, status: NtStatus, body: &[u8]) -> Vec<u8> {
        let seal =
            p.encrypted || self.must_encrypt(p.session_id, p.tree_id, p.command, p.encrypted);
        let room = if seal { TRANSFORM_ROOM } else { 0 };
        let mut f = Vec::with_capacity(4 + room + 80 + body.len());
        f.resize(4 + room, 0);
        let signer = p.signer.filter(|_| !seal);
        Header {
            credit_charge: 0,
            status,
            command: p.command,
            credits: 0,
            flags: flags::SERVER_TO_REDIR | flags::ASYNC_COMMAND,
            next_command: 0,
            message_id: p.message_id,
            async_id: p.park.async_id,
            tree_id: 0,
            session_id: p.session_id,
            signature: [0; 16],
        }
        .encode(&mut f);
        if body.is_empty() {
            encode_error_body(&mut f);
        } else {
            f.extend_from_slice(body);
        }
        if seal {
            return match self.seal_frame(p.session_id, &mut f) {
                Ok(()) => f,
                Err(why) => {
                    tracing::warn!(why, "async response not encrypted; dropping it");
                    Vec::new()
                }
            };
        }
        let mut head = Vec::with_capacity(4);
        framing::put_frame_header(&mut head, f.len().saturating_sub(4));
        let (transport, msg) = f.split_at_mut(4);
        transport.copy_from_slice(&head);
        if let Some(s) = signer {
            s.sign_response(msg);
        }
        f
    }

    /// Ends `p` with `status` (no body): its waiter is cancelled, its final response queued,
    /// the rest of its chain queued to run.
    fn complete(&mut self, mut p: Pending, status: NtStatus) {
        self.release_waiter(&p.park);
        let f = self.finish(&p, status, &[]);
        if !f.is_empty() {
            self.extra_frames.push(f);
        }
        self.resume_rest(&mut p, status, None);
    }

    /// CANCEL (MS-SMB2 3.3.5.16): by AsyncId for async-form cancels, else by MessageId.
    /// The cancelled request completes with STATUS_CANCELLED; CANCEL itself has no reply.
    pub(crate) fn cancel(&mut self, hdr: &Header) {
        let pos = if hdr.is_async() {
            self.pending
                .iter()
                .position(|p| p.park.async_id == hdr.async_id && p.session_id == hdr.session_id)
        } else {
            self.pending
                .iter()
                .position(|p| p.message_id == hdr.message_id && p.session_id == hdr.session_id)
        };
        if let Some(i) = pos {
            let p = self.pending.remove(i);
            self.complete(p, NtStatus::CANCELLED);
        }
    }

    /// Completes the requests waiting on `file_id` (its handle is being closed) with their
    /// cleanup status (CHANGE_NOTIFY: STATUS_NOTIFY_CLEANUP).
    pub(crate) fn cleanup_pending_for(&mut self, file_id: FileId) {
        let (done, keep): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.park.handle == Some(file_id));
        self.pending = keep;
        for p in done {
            let status = p.park.cleanup;
            self.complete(p, status);
        }
    }

    /// Ends the waiting requests of a session or tree going away (call it while the session
    /// still exists, so final responses can be sealed): requests with a lock manager waiter
    /// complete with their cleanup status; the others (CHANGE_NOTIFY) are dropped, as
    /// MS-SMB2 3.3.5.6 lets the server do.
    pub(crate) fn drop_pending(&mut self, session_id: u64, tree_id: Option<u32>) {
        let (done, keep): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.session_id == session_id && tree_id.is_none_or(|t| t == p.tree_id));
        self.pending = keep;
        for p in done {
            if p.park.key.is_some() {
                let status = p.park.cleanup;
                self.complete(p, status);
            }
        }
    }

    /// The connection ends: every waiter is removed from the lock manager, nothing is sent
    /// (held-back chain rests are dropped).
    pub(crate) fn end_pending(&mut self) {
        self.resumes.clear();
        for p in std::mem::take(&mut self.pending) {
            self.release_waiter(&p.park);
        }
    }

    /// The earliest deadline of a waiting request.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.pending.iter().filter_map(|p| p.park.deadline).min()
    }

    /// Runs again every waiting request whose deadline has passed (`timed_out`).
    pub(crate) async fn retry_due(&mut self, now: Instant) -> Result<(), &'static str> {
        let due: Vec<u64> = self
            .pending
            .iter()
            .filter(|p| p.park.deadline.is_some_and(|d| d <= now))
            .map(|p| p.park.async_id)
            .collect();
        for id in due {
            self.retry_parked(id, true).await?;
        }
        Ok(())
    }

    /// Runs the request parked under `async_id` again (woken, or its deadline passed): it
    /// parks again or completes, its final response queued in `extra_frames`. A wake-up for
    /// a request that is gone or waits on no lock manager record is ignored. `Err` when the
    /// connection must close.
    pub(crate) async fn retry_parked(
        &mut self,
        async_id: u64,
        timed_out: bool,
    ) -> Result<(), &'static str> {
        let Some(i) = self
            .pending
            .iter()
            .position(|p| p.park.async_id == async_id && p.park.key.is_some())
        else {
            return Ok(());
        };
        let mut p = self.pending.remove(i);
        if timed_out {
            if let Some(key) = p.park.key {
                self.shared.config.locks.expire_breaks(key);
            }
        }
        let Ok(hdr) = Header::decode(&p.msg) else {
            self.release_waiter(&p.park);
            return Ok(()); // decoded once already: cannot happen
        };
        let msg = std::mem::take(&mut p.msg);
        let req = Req {
            hdr: &hdr,
            msg: &msg,
            session_id: p.session_id,
            tree_id: p.tree_id,
            related_file: p.related_file,
            encrypted: p.encrypted,
            may_defer: false,
            retry: Some(Retry {
                async_id,
                timed_out,
            }),
        };
        let span = tracing::debug_span!("retry", command = ?hdr.command, mid = hdr.message_id, async_id, timed_out);
        let reply: Reply = tracing::Instrument::instrument(self.process(&req), span).await?;
        if let Some(mut park) = reply.park {
            // Still waiting: same AsyncId, no second interim response.
            park.async_id = async_id;
            let now = Instant::now();
            if timed_out && park.deadline.is_some_and(|d| d <= now) {
                park.deadline = Some(now + MIN_REPARK);
            }
            p.park = park;
            p.msg = msg;
            self.pending.push(p);
            return Ok(());
        }
        self.release_waiter(&p.park);
        if !reply.no_reply {
            let f = self.finish(&p, reply.status, &reply.body);
            if !f.is_empty() {
                self.extra_frames.push(f);
            }
        }
        self.resume_rest(&mut p, reply.status, reply.file_id);
        Ok(())
    }
}
