//! From a transport frame to reply frames: SMB1 negotiate upgrade, compound splitting
//! (MS-SMB2 3.3.5.2.7), the sequence window (3.3.5.2.3), signature checks (3.3.5.2.4), session
//! and tree lookup (3.3.5.2.9, 3.3.5.2.11), the handler call, and reply signing (3.3.4.1.1).

use std::sync::Arc;

use shoal_smb_proto::header::{encode_error_body, flags, Header, SMB1_ID};
use shoal_smb_proto::{compound, framing, Command, NtStatus};
use tracing::Instrument;

use super::inflight::DeferredRead;
use super::related::{Chain, Resolved};
use super::state::Conn;
use crate::error::SmbError;
use crate::handlers;
pub(crate) use crate::req::{Reply, Req};
use crate::signing::Signer;

struct Outgoing {
    bytes: Vec<u8>,
    signer: Option<Signer>,
    /// Encrypt the reply frame with this session's key (MS-SMB2 3.3.4.1.4).
    encrypt_for: Option<u64>,
}

/// What one transport frame produced.
pub(crate) struct Handled {
    /// Bytes to send, as chunks written in order (a frame each, except that a large reply's
    /// 4-byte transport header is a chunk of its own).
    pub frames: Vec<Vec<u8>>,
    /// A READ that passed its checks and completes off the connection task; its reply is
    /// sent when done, possibly after replies to later requests (MS-SMB2 3.2.5.1: the
    /// client matches responses by MessageId).
    pub deferred: Option<DeferredRead>,
}

/// Replies at least this long are sent as transport header + message, without a copy.
const SEPARATE_HEADER_FROM: usize = 64 * 1024;

impl Conn {
    /// Handles one transport frame: what to send now and possibly a READ to complete off the
    /// connection task, or why the connection must close.
    pub(crate) async fn handle_frame(&mut self, buf: Vec<u8>) -> Result<Handled, &'static str> {
        if buf.starts_with(&SMB1_ID) {
            return self.handle_smb1(&buf).map(|r| Handled {
                frames: vec![r],
                deferred: None,
            });
        }
        let (buf, encrypted_session) = if buf.starts_with(&shoal_smb_proto::transform::PROTOCOL_ID)
        {
            let (plain, sid) = self.decrypt_frame(buf)?;
            (plain, Some(sid))
        } else {
            (buf, None)
        };
        self.handle_chain(buf, encrypted_session, Chain::default(), true)
            .await
    }

    /// Runs the requests of a (decrypted) message chain in order, `chain` holding what the
    /// related ones inherit: a whole frame, or the rest of one held back behind a CREATE
    /// that went async (`pending::ChainRest`). A READ may be deferred only when
    /// `may_defer` and it is alone.
    pub(super) async fn handle_chain(
        &mut self,
        buf: Vec<u8>,
        encrypted_session: Option<u64>,
        mut chain: Chain,
        may_defer: bool,
    ) -> Result<Handled, &'static str> {
        let encrypted = encrypted_session.is_some();
        let ranges = compound::split(&buf, self.shared.config.max_compound)
            .map_err(|_| "malformed SMB2 message or chain")?;
        let standalone = may_defer && ranges.len() == 1;
        let mut out: Vec<Outgoing> = Vec::with_capacity(ranges.len());
        let mut deferred = None;
        let count = ranges.len();
        for (index, range) in ranges.iter().cloned().enumerate() {
            let last = index + 1 == count;
            // Set when a CREATE inside the chain goes async: the requests after it wait.
            let mut hold_rest = None;
            let msg = buf.get(range).ok_or("bad range")?;
            let hdr = Header::decode(msg).map_err(|_| "bad header")?;
            if hdr.is_response() {
                return Err("client sent a response");
            }
            if let Some(sid) = encrypted_session {
                // MS-SMB2 3.3.5.2.1.1: the decrypted message belongs to the session whose key
                // decrypted it.
                if (!hdr.is_related() || chain.is_first()) && hdr.session_id != sid {
                    tracing::warn!(peer = %self.peer, "encrypted message names another session; closing connection");
                    return Err("session id differs from the transform header's");
                }
            }
            if hdr.command == Command::CANCEL {
                // MS-SMB2 3.3.5.16: no reply of its own, consumes no credit. It passes the
                // session (3.3.5.2.9) and signature (3.3.5.2.4) checks first, like any
                // request: a CANCEL that fails them is dropped, so nobody cancels another
                // session's request, or a signed session's, without its key.
                if self.cancel_allowed(&hdr, msg, encrypted) {
                    tracing::debug!(mid = hdr.message_id, async_id = hdr.async_id, "cancel");
                    self.cancel(&hdr);
                }
                continue;
            }
            let charge = if self
                .negotiated()
                .is_some_and(|d| d != shoal_smb_proto::Dialect::SMB2_0_2)
            {
                hdr.credit_charge
            } else {
                1
            };
            if let Err(e) = self.credits.consume(hdr.message_id, charge) {
                tracing::warn!(error = %e, "sequence window violation");
                return Err("message id outside the sequence window");
            }
            let (session_id, tree_id, related_file, chain_failure) = match chain.resolve(&hdr) {
                Resolved::Run {
                    session_id,
                    tree_id,
                    related_file,
                } => (session_id, tree_id, related_file, None),
                Resolved::Fail {
                    status,
                    session_id,
                    tree_id,
                } => (session_id, tree_id, None, Some(status)),
            };
            let span = tracing::debug_span!("req", command = ?hdr.command, mid = hdr.message_id, session = session_id, tree = tree_id);
            let req = Req {
                hdr: &hdr,
                msg,
                session_id,
                tree_id,
                related_file,
                encrypted,
                may_defer: standalone,
                retry: None,
            };
            let mut reply = match chain_failure {
                // MS-SMB2 3.3.5.2.7.2 (see `related`): failed without running.
                Some(st) => {
                    tracing::debug!(parent: &span, status = ?st, "failed by its compound chain");
                    Reply::with_status(st, Vec::new())
                }
                None => self.process(&req).instrument(span).await?,
            };
            if let Some(park) = reply.park {
                // The request waits (`pending`): an interim STATUS_PENDING response in the
                // async form now, the final one later. Inside a compound chain only this
                // request goes async; the rest of the chain runs on and its responses go out
                // with the interim one in this frame (MS-SMB2 3.3.4.2). MS-SMB2 <206>
                // (3.3.5.2.7): only the last request of a chain, or a CREATE waiting for an
                // oplock break, may go async; any other fails at once with
                // STATUS_INTERNAL_ERROR, as Windows and Samba answer (smbtorture
                // smb2.compound.interim2).
                if !last && hdr.command != Command::CREATE {
                    tracing::debug!("request inside a compound chain cannot go async");
                    self.abandon_park(&park);
                    reply = Reply::with_status(NtStatus::INTERNAL_ERROR, Vec::new());
                } else if self.register_parked(&req, park) {
                    reply.status = NtStatus::PENDING;
                    reply.body.clear();
                    if !last {
                        // A CREATE waiting for a break: the rest of the chain runs once it
                        // completes, related to its outcome (as Samba does); the responses
                        // so far go out now with its interim response.
                        hold_rest = ranges
                            .get(index + 1)
                            .map(|next| (park.async_id, next.start));
                    }
                } else {
                    tracing::debug!(async_id = park.async_id, "too many requests waiting");
                    reply = Reply::with_status(NtStatus::INSUFFICIENT_RESOURCES, Vec::new());
                }
            }
            let granted = self.credits.grant(hdr.credits);
            let session_for_reply = reply.session_id.unwrap_or(session_id);
            let tree_for_reply = reply.tree_id.unwrap_or(tree_id);
            chain.finish(
                hdr.command,
                session_for_reply,
                tree_for_reply,
                reply.file_id.or(related_file),
                reply.status,
            );
            if reply.no_reply {
                continue;
            }
            let rh = Header {
                credit_charge: hdr.credit_charge,
                status: reply.status,
                command: hdr.command,
                credits: granted,
                flags: flags::SERVER_TO_REDIR
                    | (hdr.flags & flags::RELATED_OPERATIONS)
                    | if reply.park.is_some() {
                        flags::ASYNC_COMMAND
                    } else {
                        0
                    },
                next_command: 0,
                message_id: hdr.message_id,
                async_id: reply.park.map_or(0, |p| p.async_id),
                tree_id: tree_for_reply,
                session_id: session_for_reply,
                signature: [0; 16],
            };
            let encrypt_for = self
                .must_encrypt(session_for_reply, tree_for_reply, hdr.command, encrypted)
                .then_some(session_for_reply);
            let signer = if reply.unsigned || encrypt_for.is_some() {
                None
            } else if reply.signer.is_some() {
                reply.signer
            } else {
                self.sessions.get(&session_for_reply).and_then(|s| {
                    let e = s.established.as_ref()?;
                    (hdr.is_signed() || e.signing_required)
                        .then_some(e.signer)
                        .flatten()
                })
            };
            // A signed request whose reply has no key to sign it (its session is unknown or
            // gone) still gets SMB2_FLAGS_SIGNED, with a zero signature, as Windows and Samba
            // answer: clients skip the check for such errors (USER_SESSION_DELETED,
            // INVALID_PARAMETER, FILE_CLOSED) but refuse a reply to a signed request that
            // lacks the flag.
            let flag_signed =
                signer.is_none() && encrypt_for.is_none() && !reply.unsigned && hdr.is_signed();
            if let Some(job) = reply.deferred {
                // Outstanding guards hold a clone of their lock: an entry with none is done.
                self.read_gates.retain(|_, g| Arc::strong_count(g) > 1);
                let gate = self.read_gates.entry(job.file_id()).or_default().clone();
                let gate = gate.read_owned().await;
                let seal = match encrypt_for {
                    Some(sid) => Some((
                        sid,
                        self.sealer_for(sid)
                            .ok_or("no encryption key for the reply")?,
                    )),
                    None => None,
                };
                deferred = Some(DeferredRead {
                    header: rh,
                    job,
                    gate,
                    signer,
                    flag_signed,
                    seal,
                });
                continue;
            }
            let mut bytes = Vec::with_capacity(64 + reply.body.len());
            rh.encode(&mut bytes);
            // A reply without a body of its own (failures, and warnings such as
            // STATUS_NO_MORE_FILES) carries the SMB2 ERROR body (MS-SMB2 2.2.2).
            if !reply.body.is_empty() {
                bytes.extend_from_slice(&reply.body);
            } else {
                encode_error_body(&mut bytes);
            }
            if reply.preauth_conn {
                self.preauth.update(&bytes);
            }
            if let Some(sid) = reply.preauth_session {
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.preauth.update(&bytes);
                }
            }
            if flag_signed {
                mark_signed(&mut bytes);
            }
            out.push(Outgoing {
                bytes,
                signer,
                encrypt_for,
            });
            if let Some((async_id, start)) = hold_rest {
                let rest = buf.get(start..).unwrap_or_default().to_vec();
                self.hold_rest(async_id, rest, encrypted_session);
                break;
            }
        }
        let mut frames = std::mem::take(&mut self.extra_frames);
        if out.is_empty() {
            return Ok(Handled { frames, deferred });
        }
        let mut msgs: Vec<Vec<u8>> = out
            .iter_mut()
            .map(|o| std::mem::take(&mut o.bytes))
            .collect();
        compound::link(&mut msgs);
        let total: usize = msgs.iter().map(Vec::len).sum();
        // One key seals the whole chain: the first reply that must be encrypted names it.
        let seal_for = out.iter().find_map(|o| o.encrypt_for);
        let room = if seal_for.is_some() {
            super::encryption::TRANSFORM_ROOM
        } else {
            0
        };
        // One large unsealed reply (a READ): its transport header goes out
        // as a chunk of its own, so the message is not copied behind it (helper E, issue 7).
        if seal_for.is_none() && msgs.len() == 1 && total >= SEPARATE_HEADER_FROM {
            if let (Some(mut m), Some(o)) = (msgs.pop(), out.first()) {
                if let Some(s) = o.signer {
                    s.sign_response(&mut m);
                }
                let mut head = Vec::with_capacity(4);
                framing::put_frame_header(&mut head, total);
                frames.push(head);
                frames.push(m);
                return Ok(Handled {
                    frames,
                    deferred: None,
                });
            }
        }
        let mut frame = Vec::with_capacity(4 + room + total);
        framing::put_frame_header(&mut frame, total);
        frame.resize(4 + room, 0);
        for (m, o) in msgs.iter_mut().zip(&out) {
            if let Some(s) = o.signer.filter(|_| seal_for.is_none()) {
                s.sign_response(m);
            }
            frame.extend_from_slice(m);
        }
        if let Some(sid) = seal_for {
            self.seal_frame(sid, &mut frame)?;
        }
        frames.push(frame);
        Ok(Handled {
            frames,
            deferred: None,
        })
    }

    /// Runs the checks every request passes, then the handler (also for a parked request
    /// run again, `pending`).
    pub(super) async fn process(&mut self, req: &Req<'_>) -> Result<Reply, &'static str> {
        let cmd = req.hdr.command;
        if cmd == Command::NEGOTIATE {
            return match handlers::negotiate::handle(self, req) {
                Ok(r) => Ok(r),
                Err(SmbError::Disconnect(why)) => Err(why),
                Err(e) => Ok(Reply::with_status(e.status(), Vec::new())),
            };
        }
        if self.negotiated().is_none() {
            // MS-SMB2 3.3.5.2: any other request before NEGOTIATE completes closes the connection.
            return Err("request before NEGOTIATE");
        }
        if cmd.0 > Command::OPLOCK_BREAK.0 {
            // MS-SMB2 2.2.1.2 defines commands 0x0000-0x0012; Windows and Samba refuse any
            // other code with STATUS_INVALID_PARAMETER (smbtorture smb2.compound.invalid4).
            tracing::debug!(command = cmd.0, "unknown command");
            return Ok(Reply::with_status(NtStatus::INVALID_PARAMETER, Vec::new()));
        }
        if let Some(reply) = self.refuse_unencrypted(req) {
            return Ok(reply);
        }
        // Signature checks (MS-SMB2 3.3.5.2.4), skipped for a decrypted request.
        if let Some(session) = self
            .sessions
            .get(&req.session_id)
            .filter(|_| !req.encrypted)
        {
            if let Some(est) = &session.established {
                if req.hdr.is_signed() {
                    match est.signer {
                        Some(s) if s.verify_request(req.msg) => {}
                        Some(_) => {
                            tracing::warn!("bad signature; request refused");
                            return Ok(Reply {
                                status: NtStatus::ACCESS_DENIED,
                                unsigned: true,
                                ..Reply::default()
                            });
                        }
                        None => {}
                    }
                } else if est.signing_required && est.signer.is_some() && cmd != Command::ECHO {
                    // Including SESSION_SETUP: a re-authentication of a session that requires
                    // signing must be signed with its key (MS-SMB2 3.3.5.2.4, 3.3.5.5), or
                    // anyone who can inject into the connection could restart its
                    // authentication.
                    tracing::warn!("unsigned request on a session that requires signing");
                    return Ok(Reply {
                        status: NtStatus::ACCESS_DENIED,
                        unsigned: true,
                        ..Reply::default()
                    });
                }
            }
        }
        let result = match cmd {
            Command::SESSION_SETUP => handlers::session_setup::handle(self, req).await,
            Command::ECHO => {
                // MS-SMB2 3.3.5.17: "The server MUST verify the session, as specified in
                // section 3.3.5.2.9, if ... SMB2_FLAGS_SIGNED bit is set ... [or] the request
                // is not encrypted, and the SessionId field ... is not zero."
                let verify = req.hdr.is_signed() || (!req.encrypted && req.session_id != 0);
                if verify
                    && !self
                        .sessions
                        .get(&req.session_id)
                        .is_some_and(|s| s.is_valid())
                {
                    return Ok(self.session_deleted(req));
                }
                handlers::misc::echo(req)
            }
            _ => {
                // MS-SMB2 3.3.5.2.9: "The server MUST look up the Session in
                // Connection.SessionTable by using the SessionId in the SMB2 header of the
                // request. If SessionId is not found in Connection.SessionTable, the server
                // MUST fail the request with STATUS_USER_SESSION_DELETED." A session of
                // another connection is not in this table. "If Session.State is InProgress,
                // the server MUST continue to process the SMB2 LOGOFF, SMB2 CLOSE, and SMB2
                // LOCK commands. If the command is not one of these, the server MUST fail the
                // request with an implementation-specific error code": the same
                // STATUS_USER_SESSION_DELETED. (CLOSE and LOCK then meet the tree check: an
                // unauthenticated session holds no tree.)
                let Some(session) = self.sessions.get(&req.session_id).filter(|s| {
                    s.is_valid() || matches!(cmd, Command::LOGOFF | Command::CLOSE | Command::LOCK)
                }) else {
                    return Ok(self.session_deleted(req));
                };
                // MS-SMB2 3.3.5.2.11: "The server MUST look up the TreeConnect in
                // Session.TreeConnectTable by using the TreeId in the SMB2 header of the
                // request. If no tree connect is found, the request MUST be failed with
                // STATUS_NETWORK_NAME_DELETED." Every command but those that need no tree
                // (3.3.5.2: LOGOFF, TREE_CONNECT; NEGOTIATE, SESSION_SETUP and ECHO are
                // answered above), LOCK and OPLOCK_BREAK included, and a TreeId of another
                // session is unknown here.
                if !matches!(cmd, Command::LOGOFF | Command::TREE_CONNECT)
                    && !session.trees.contains_key(&req.tree_id)
                {
                    return Ok(Reply::with_status(
                        NtStatus::NETWORK_NAME_DELETED,
                        Vec::new(),
                    ));
                }
                #[cfg(test)]
                if let Some((c, h)) = self.shared.test_handler.clone() {
                    if c == cmd {
                        return match h(self, req) {
                            Ok(r) => Ok(r),
                            Err(e) => Ok(Reply::with_status(failure_status(e)?, Vec::new())),
                        };
                    }
                }
                match cmd {
                    Command::LOGOFF => handlers::session_setup::logoff(self, req).await,
                    Command::TREE_CONNECT => handlers::tree::connect(self, req).await,
                    Command::TREE_DISCONNECT => handlers::tree::disconnect(self, req),
                    Command::CREATE => handlers::create::handle(self, req).await,
                    Command::CLOSE => {
                        self.wait_for_reads(req).await;
                        handlers::close::handle(self, req).await
                    }
                    Command::QUERY_DIRECTORY => handlers::query_directory::handle(self, req).await,
                    Command::QUERY_INFO => handlers::query_info::handle(self, req).await,
                    Command::SET_INFO => handlers::set_info::handle(self, req).await,
                    Command::READ => handlers::rw::read(self, req).await,
                    Command::WRITE => handlers::rw::write(self, req).await,
                    Command::IOCTL => handlers::ioctl::handle(self, req).await,
                    Command::FLUSH => handlers::misc::flush(self, req).await,
                    Command::CHANGE_NOTIFY => handlers::notify::handle(self, req),
                    Command::LOCK => handlers::lock::handle(self, req).await,
                    Command::OPLOCK_BREAK => handlers::oplock::acknowledge(self, req).await,
                    _ => Err(SmbError::Client(NtStatus::NOT_SUPPORTED)),
                }
            }
        };
        match result {
            Ok(r) => Ok(r),
            Err(e) => Ok(Reply::with_status(failure_status(e)?, Vec::new())),
        }
    }

    /// STATUS_USER_SESSION_DELETED for a request naming no valid session of this connection.
    /// A session removed on this connection: the reply is signed with its old key when the
    /// request verifies with it (clients expect signed replies); otherwise with no key (a key
    /// the request did not prove is never used).
    fn session_deleted(&self, req: &Req<'_>) -> Reply {
        let signer = self
            .tombstones
            .iter()
            .find(|(id, _)| *id == req.session_id)
            .map(|(_, s)| *s)
            .filter(|s| req.hdr.is_signed() && s.verify_request(req.msg));
        Reply {
            status: NtStatus::USER_SESSION_DELETED,
            signer,
            ..Reply::default()
        }
    }

    /// Whether a CANCEL passes the checks every request passes (MS-SMB2 3.3.5.2.9 session,
    /// 3.3.5.2.4 signature; 3.2.4.24: "If the session identified by SessionId has
    /// Session.SigningRequired equal to TRUE, the client sets SMB2_FLAGS_SIGNED"). A CANCEL
    /// with SessionId 0 can only match requests of no session, of which none wait.
    fn cancel_allowed(&self, hdr: &Header, msg: &[u8], encrypted: bool) -> bool {
        if hdr.session_id == 0 {
            return true;
        }
        let Some(est) = self
            .sessions
            .get(&hdr.session_id)
            .and_then(|s| s.established.as_ref())
        else {
            tracing::debug!(
                session = hdr.session_id,
                "cancel for an unknown session dropped"
            );
            return false;
        };
        if encrypted {
            return true; // 3.3.5.2.4: a decrypted request skips the signature check
        }
        match est.signer {
            Some(s) if hdr.is_signed() => {
                let ok = s.verify_request(msg);
                if !ok {
                    tracing::warn!("cancel with a bad signature dropped");
                }
                ok
            }
            Some(_) if est.signing_required => {
                tracing::warn!("unsigned cancel on a session that requires signing dropped");
                false
            }
            _ => true,
        }
    }

    /// Before a CLOSE: waits until the READs in flight on its open have queued their replies
    /// (as Samba defers a close behind outstanding asynchronous I/O), so their data is read
    /// before the handle goes (delete-on-close) and counted in the close audit event, and
    /// their replies precede the CLOSE response.
    async fn wait_for_reads(&mut self, req: &Req<'_>) {
        let Ok(c) = shoal_smb_proto::close::CloseRequest::decode(req.msg) else {
            return; // the handler answers the malformed request
        };
        if let Some(gate) = self.read_gates.remove(&req.file_id(c.file_id)) {
            let _done = gate.write().await;
        }
    }

    /// MS-SMB2 3.3.5.2.9 and 3.3.5.2.11: on a session with Session.EncryptData, or a tree
    /// whose share has EncryptData, a request that was not encrypted fails with
    /// STATUS_ACCESS_DENIED, and the connection is closed after the reply (encryption cannot
    /// be switched off by the client, R2).
    fn refuse_unencrypted(&mut self, req: &Req<'_>) -> Option<Reply> {
        let cmd = req.hdr.command;
        if req.encrypted || cmd == Command::SESSION_SETUP || cmd == Command::NEGOTIATE {
            return None;
        }
        let session = self.sessions.get(&req.session_id)?;
        let est = session.established.as_ref()?;
        let session_wide = est.encrypt_data;
        let tree_wide = !matches!(cmd, Command::TREE_CONNECT | Command::LOGOFF | Command::ECHO)
            && session
                .trees
                .get(&req.tree_id)
                .is_some_and(|t| t.encrypt_data);
        if !(session_wide || tree_wide) {
            return None;
        }
        tracing::warn!(peer = %self.peer, command = ?cmd, session_wide, "unencrypted request where encryption is required");
        self.close_after_reply = true;
        Some(Reply {
            status: NtStatus::ACCESS_DENIED,
            unsigned: true,
            ..Reply::default()
        })
    }

    /// An SMB1 NEGOTIATE (MS-SMB2 3.3.5.3.1): answered with an SMB2 NEGOTIATE response.
    fn handle_smb1(&mut self, buf: &[u8]) -> Result<Vec<u8>, &'static str> {
        if self.dialect.is_some() {
            return Err("SMB1 message after negotiation");
        }
        let reply = handlers::negotiate::smb1(self, buf).map_err(|_| "unsupported SMB1 request")?;
        let granted = {
            self.credits.consume(0, 1).map_err(|_| "sequence")?;
            self.credits.grant(1)
        };
        let mut bytes = Vec::new();
        Header {
            command: Command::NEGOTIATE,
            credits: granted,
            flags: flags::SERVER_TO_REDIR,
            ..Header::default()
        }
        .encode(&mut bytes);
        bytes.extend_from_slice(&reply.body);
        let mut frame = Vec::with_capacity(bytes.len() + 4);
        framing::put_frame_header(&mut frame, bytes.len());
        frame.extend_from_slice(&bytes);
        Ok(frame)
    }
}

/// The status a failed request is answered with (logged here: debug for the client's
/// mistakes, error for shoal's own faults), or why the connection must close.
pub(crate) fn failure_status(e: SmbError) -> Result<NtStatus, &'static str> {
    if let SmbError::Disconnect(why) = e {
        return Err(why);
    }
    if e.is_client_error() {
        tracing::debug!(error = %e, "request failed");
    } else {
        tracing::error!(error = %e, "request failed");
    }
    Ok(e.status())
}

/// Sets SMB2_FLAGS_SIGNED in an encoded header (MS-SMB2 2.2.1.2 Flags, bytes 16..20), leaving
/// the signature field as it is (zero).
pub(crate) fn mark_signed(msg: &mut [u8]) {
    if let Some(f) = msg.get_mut(16..20) {
        let old: [u8; 4] = f.try_into().unwrap_or_default();
        f.copy_from_slice(&(u32::from_le_bytes(old) | flags::SIGNED).to_le_bytes());
    }
}
