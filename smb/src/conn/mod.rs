//! One SMB connection: a task that reads transport frames and runs them through [`dispatch`],
//! and a writer task that sends the replies ([`inflight`]). Requests of a connection are
//! processed in order, one at a time, except that a standalone file READ, once validated,
//! completes off the connection task (bounded by `max_reads_in_flight`); the credit window
//! bounds how many requests a client may queue.
//!
//! The task's `select!` loop also takes, beside the frame being read (whose read future
//! survives every other branch: reading is not cancel-safe):
//! - lock manager events from this connection's sink ([`events`]): oplock and lease breaks
//!   become unsolicited OPLOCK_BREAK notifications, wake-ups run a parked request again;
//! - the deadline of the earliest parked request ([`pending`]): it runs again, timed out;
//! - "drop this session" from a reconnecting client's new connection.
//!
//! A request that must wait (CHANGE_NOTIFY, a blocking LOCK, a CREATE waiting for a break)
//! is parked ([`pending`]): an interim STATUS_PENDING response now, the final one in the
//! async form later, while the connection goes on reading. Whatever these branches produce
//! goes through the same writer, so frames are never interleaved.

pub(crate) mod dispatch;
pub(crate) mod encryption;
pub(crate) mod events;
pub(crate) mod framing;
pub(crate) mod inflight;
pub(crate) mod pending;
pub(crate) mod related;
pub(crate) mod state;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use shoal_auth::UserDb;
use shoal_vfs::Vfs;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch, Semaphore};
use tracing::Instrument;

use crate::config::SmbConfig;
pub(crate) use state::Conn;

/// What every connection shares.
pub(crate) struct Shared {
    pub config: SmbConfig,
    pub users: Arc<UserDb>,
    pub vfs: Arc<dyn Vfs>,
    pub server_guid: [u8; 16],
    pub rng: ring::rand::SystemRandom,
    /// Established sessions of every connection (MS-SMB2 GlobalSessionTable): who owns each,
    /// how to tell the owning connection to drop it (a reconnecting client names it as
    /// PreviousSessionId), and what a binding request from another connection is checked
    /// against.
    pub registry: std::sync::Mutex<std::collections::HashMap<u64, Registered>>,
    /// The address the listener is bound to (FSCTL_QUERY_NETWORK_INTERFACE_INFO reports it).
    pub listen_addr: Option<std::net::SocketAddr>,
    /// Tests only: answers this command in place of its handler (a request that parks on
    /// the lock manager, before LOCK and an async CREATE exist).
    #[cfg(test)]
    pub test_handler: Option<(shoal_smb_proto::Command, TestHandler)>,
}

/// One established session in [`Shared::registry`].
pub(crate) struct Registered {
    /// The account whose authentication made the session.
    pub user: String,
    /// Where the owning connection takes "drop this session".
    pub expire_tx: tokio::sync::mpsc::Sender<u64>,
    /// What binding to it from another connection is checked against.
    pub bind: BindTarget,
}

/// The parts of a session that a binding request (MS-SMB2 3.3.5.5) is checked against.
#[derive(Clone, Copy)]
pub(crate) struct BindTarget {
    /// Session.Connection.Dialect.
    pub dialect: shoal_smb_proto::Dialect,
    /// Session.SigningKey with the algorithm of the session's connection: a binding request
    /// is verified with it (3.3.5.2.4), and the refusal signed with it.
    pub signer: Option<crate::signing::Signer>,
    /// The cipher of the session's connection.
    pub cipher: Option<shoal_smb_proto::crypto::encryption::Cipher>,
    /// The session acts for anonymous (after an anonymous re-authentication).
    pub anonymous: bool,
}

/// A stand-in handler for tests.
#[cfg(test)]
pub(crate) type TestHandler = Arc<
    dyn Fn(&mut Conn, &crate::req::Req<'_>) -> Result<crate::req::Reply, crate::SmbError>
        + Send
        + Sync,
>;

impl Shared {
    pub fn new(config: SmbConfig, users: Arc<UserDb>, vfs: Arc<dyn Vfs>) -> Shared {
        let server_guid = users.server_guid();
        Shared {
            config,
            users,
            vfs,
            server_guid,
            rng: ring::rand::SystemRandom::new(),
            registry: Default::default(),
            listen_addr: None,
            #[cfg(test)]
            test_handler: None,
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, Registered>> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an established session (again after a re-authentication).
    pub fn register(
        &self,
        session_id: u64,
        user: &str,
        tx: tokio::sync::mpsc::Sender<u64>,
        bind: BindTarget,
    ) {
        self.registry().insert(
            session_id,
            Registered {
                user: user.to_string(),
                expire_tx: tx,
                bind,
            },
        );
    }

    /// Forgets a session.
    pub fn unregister(&self, session_id: u64) {
        self.registry().remove(&session_id);
    }

    /// What a binding request for `session_id` is checked against, if that session exists.
    pub fn bind_target(&self, session_id: u64) -> Option<BindTarget> {
        self.registry().get(&session_id).map(|r| r.bind)
    }

    /// MS-SMB2 3.3.5.5.3: a client re-establishing a session after a reconnect names the old
    /// one as PreviousSessionId; if it belongs to the same user, the old session is torn down
    /// (on whatever connection holds it).
    pub fn expire_previous(&self, previous: u64, user: &str) {
        let mut reg = self.registry();
        let same_user = reg
            .get(&previous)
            .is_some_and(|r| r.user.eq_ignore_ascii_case(user));
        if same_user {
            if let Some(r) = reg.remove(&previous) {
                // Full queue: the old connection is busy or stuck; it keeps the session.
                let _ = r.expire_tx.try_send(previous);
            }
        }
    }

    /// Random bytes (server challenge, salts).
    pub fn random<const N: usize>(&self) -> [u8; N] {
        use ring::rand::SecureRandom;
        let mut b = [0u8; N];
        let _ = self.rng.fill(&mut b);
        b
    }
}

/// Hands the frames queued beside replies (break notifications, final responses of parked
/// requests) to the writer; false when the writer is gone.
async fn send_extra(conn: &mut Conn, out_tx: &mpsc::Sender<inflight::Outbound>) -> bool {
    let frames = std::mem::take(&mut conn.extra_frames);
    frames.is_empty()
        || out_tx
            .send(inflight::Outbound::Frames(frames, None))
            .await
            .is_ok()
}

/// Current time as a FILETIME.
pub(crate) fn filetime_now() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    shoal_smb_proto::query_info::unix_to_filetime(
        i64::try_from(d.as_secs()).unwrap_or(0),
        d.subsec_nanos(),
    )
}

/// Runs a connection until the peer closes it, it breaks the protocol, times out, or the
/// server shuts down.
#[allow(dead_code)]
pub(crate) async fn run<S: AsyncRead + AsyncWrite + Send + 'static>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    run_with_slot(stream, peer, shared, shutdown, None).await;
}

/// [`run`], holding the listener's slot: once a session is established the connection stops
/// counting against the unauthenticated cap; the slot is freed when the connection ends.
pub(crate) async fn run_with_slot<S: AsyncRead + AsyncWrite + Send + 'static>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    mut slot: Option<shoal_auth::clients::ConnSlot>,
) {
    let (mut rd, wr) = tokio::io::split(stream);
    // Every reply write must make progress within `send_timeout`, or the writer stops and the
    // connection closes (a peer that never reads cannot pin its slot).
    let wr = framing::SendTimeout::new(wr, shared.config.send_timeout);
    let started = Instant::now();
    let (expire_tx, mut expire_rx) = tokio::sync::mpsc::channel(32);
    let (sink, mut lock_events) =
        events::register(&shared.config.locks, shared.config.max_pending_breaks);
    let mut conn = Conn::new(shared.clone(), peer, expire_tx, sink);
    let (out_tx, out_rx) = mpsc::channel(inflight::WRITER_QUEUE);
    let mut writer = tokio::spawn(inflight::write_loop(wr, out_rx).in_current_span());
    let mut writer_done = false;
    let reads = Arc::new(Semaphore::new(shared.config.max_reads_in_flight.max(1)));
    let pipe_budget = Arc::new(crate::rpc::PipeBudget::default());
    tracing::debug!("connection accepted");
    'frames: loop {
        let limit = if conn.ever_authenticated {
            shared.config.idle_timeout
        } else {
            shared
                .config
                .unauthenticated_timeout
                .saturating_sub(started.elapsed())
        };
        // The frame being read survives the other branches: reading is not cancel-safe (bytes
        // already read would be lost and the stream desynchronised), so a session expiry
        // handled meanwhile must not drop it.
        let read = tokio::time::timeout(
            limit,
            framing::read_frame(&mut rd, shared.config.max_message),
        );
        tokio::pin!(read);
        let frame = loop {
            // Lock manager events (break notifications, wake-ups of parked requests) and
            // deadlines of parked requests are handled between frames and while one is
            // being read; what they produce goes through the writer like any reply.
            let deadline = conn.next_deadline();
            // A timer only when a parked request has a deadline (none on the hot path).
            let timer = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            let side = tokio::select! {
                biased;
                _ = shutdown.changed() => break 'frames,
                _ = &mut writer => {
                    // A write failed, or a deferred READ asked to close.
                    writer_done = true;
                    break 'frames;
                }
                Some(previous) = expire_rx.recv() => {
                    tracing::debug!(session = previous, "session replaced by a reconnect");
                    conn.remove_session(previous);
                    Ok(())
                }
                Some(event) = lock_events.recv() => conn.on_lock_event(event).await,
                _ = timer, if deadline.is_some() => conn.retry_due(Instant::now()).await,
                f = &mut read => break f,
            };
            // Chains held back behind a CREATE that just completed run now.
            let side = match side {
                Ok(()) => conn.run_resumes().await,
                failed => failed,
            };
            if let Err(why) = side {
                tracing::warn!(why, "closing connection after a parked request failed");
                break 'frames;
            }
            if !send_extra(&mut conn, &out_tx).await {
                break 'frames;
            }
        };
        let buf = match frame {
            Err(_) => {
                tracing::debug!(
                    authenticated = conn.ever_authenticated,
                    "connection timed out"
                );
                break;
            }
            Ok(Ok(Some(buf))) => buf,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "bad transport frame; closing");
                break;
            }
        };
        // Pipes opened while handling this frame charge this connection's budget.
        let outcome = crate::rpc::PIPE_BUDGET
            .scope(pipe_budget.clone(), conn.handle_frame(buf))
            .await;
        if conn.ever_authenticated {
            if let Some(slot) = slot.as_mut() {
                slot.authenticated();
            }
        }
        match outcome {
            Ok(handled) => {
                if !handled.frames.is_empty()
                    && out_tx
                        .send(inflight::Outbound::Frames(handled.frames, None))
                        .await
                        .is_err()
                {
                    break;
                }
                // A CANCEL or CLOSE in this frame may have completed an async CREATE whose
                // chain rest waits.
                if let Err(why) = conn.run_resumes().await {
                    tracing::warn!(why, "closing connection after protocol violation");
                    break;
                }
                if !send_extra(&mut conn, &out_tx).await {
                    break;
                }
                if let Some(read) = handled.deferred {
                    // Back-pressure: at the cap, wait for a READ to be sent before reading
                    // the next request.
                    let permit = tokio::select! {
                        biased;
                        _ = shutdown.changed() => break,
                        p = reads.clone().acquire_owned() => p,
                    };
                    let Ok(permit) = permit else { break };
                    tracing::trace!(
                        in_flight = shared
                            .config
                            .max_reads_in_flight
                            .max(1)
                            .saturating_sub(reads.available_permits()),
                        "READ deferred"
                    );
                    let tx = out_tx.clone();
                    tokio::spawn(
                        async move {
                            let (frame, gate) = read.complete().await;
                            let out = match frame {
                                Ok(frame) => inflight::Outbound::Frames(vec![frame], Some(permit)),
                                Err(why) => inflight::Outbound::Close(why),
                            };
                            // The writer is gone: the connection is closing anyway.
                            let _ = tx.send(out).await;
                            // Queued: a CLOSE waiting for this READ may go on.
                            drop(gate);
                        }
                        .in_current_span(),
                    );
                }
                if conn.close_after_reply {
                    tracing::warn!(%peer, "closing connection: unencrypted request where encryption is required");
                    break;
                }
            }
            Err(why) => {
                tracing::warn!(why, "closing connection after protocol violation");
                break;
            }
        }
    }
    // Sessions end with the connection: each established one is logged as a logoff (clients
    // such as smbclient just close the socket), and its opens leave the lock manager
    // (delete-on-close files are deleted now, on the blocking pool).
    for (id, s) in &conn.sessions {
        shared.unregister(*id);
        if let Some(e) = &s.established {
            crate::audit_events::session_event(
                &conn,
                &e.identity,
                shoal_vfs::ZoneId::SYSTEM,
                crate::audit_events::SessionEvent::Logoff,
                &e.identity.user,
                shoal_smb_proto::NtStatus::SUCCESS,
            );
        }
    }
    // Parked requests end unanswered and their waiters leave the lock manager; the opens
    // are closed through it; then the sink goes.
    conn.end_pending();
    conn.release_opens(|_| true);
    shared.config.locks.unregister_sink(conn.sink);
    // The writer sends what is queued and what READs in flight still produce, then shuts the
    // socket's write side down; on server shutdown, or a peer that stops reading, it is cut.
    drop(out_tx);
    if !writer_done {
        let drained = !*shutdown.borrow()
            && tokio::time::timeout(shared.config.idle_timeout, &mut writer)
                .await
                .is_ok();
        if !drained {
            writer.abort();
        }
    }
    tracing::debug!("connection closed");
}
