//! The listener and the per-connection task.
//!
//! Per connection: the reader loop takes bytes from the socket, cuts them into records
//! (`RecordDecoder`, capped at `max_record`), and starts each call as a task once one of
//! `max_in_flight` permits is free; while none is, it stops reading, so a client that
//! pipelines too much is slowed down by TCP, not buffered. The calls of one connection run
//! concurrently; each finished call hands its whole reply record to one writer task through a
//! bounded channel, so replies never interleave but may leave out of order (RFC 5531 9: the
//! xid, not the order, matches a reply to its call). A framing error (e.g. a record mark
//! claiming 2 GiB) closes that connection only.
//!
//! Slots (issue 11): connections are admitted by a [`ConnLimiter`]: `max_connections` in all,
//! `max_connections_per_client` per client address, and `max_unauthenticated` that have not
//! yet made an admitted call. NFS has no sessions, so "authenticated" here means: a call
//! other than NULL, with a credential the server accepts, from an address (and source port)
//! that some export's client list admits ([`crate::dispatch`] says so). A connection that is
//! not authenticated within `unauthenticated_timeout` is closed. A reply write that makes no
//! progress for `send_timeout` closes the connection: a client that pipelines calls and never
//! reads the replies cannot hold its slot (nor its calls' buffers) while the server is
//! blocked sending.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use shoal_auth::clients::{ConnLimiter, ConnSlot};
use shoal_nfs_proto::RecordDecoder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::dispatch::{self, Outgoing, Shared, DRC_CAPACITY, DRC_PER_CLIENT};
use crate::drc::Drc;
use crate::export::Exports;
use crate::NfsConfig;

/// How long a connection may sit on an incomplete record without sending a byte before it
/// is closed (stops slow-send attacks from pinning connections and buffers forever).
const PARTIAL_RECORD_TIMEOUT: Duration = Duration::from_secs(60);

/// How long shutdown waits for connections to finish their calls.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves when `rx` says true; never when the sender is gone without saying so.
async fn shutdown_requested(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// READ/WRITE size offered: 1 MiB, less when the record cap is smaller (4 KiB multiples).
fn io_max(max_record: usize) -> u32 {
    let room = max_record.saturating_sub(4096).min(1 << 20) & !4095;
    u32::try_from(room.max(4096)).unwrap_or(1 << 20)
}

pub(crate) async fn serve(
    listener: TcpListener,
    config: NfsConfig,
    vfs: Arc<dyn shoal_vfs::Vfs>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let exports = Exports::new(&config.exports)?;
    let shared = Arc::new(Shared {
        exports,
        vfs,
        drc: Drc::new(DRC_CAPACITY, DRC_PER_CLIENT),
        mounts: Mutex::new(Default::default()),
        io_max: io_max(config.max_record),
        locks: config.locks.clone(),
    });
    let port = listener.local_addr()?.port();
    if config.register_rpcbind {
        tokio::spawn(crate::rpcbind::register(port));
    }
    tracing::info!(
        port,
        exports = shared.exports.all().len(),
        "NFSv3 and MOUNT v3 serving"
    );
    let limiter = ConnLimiter::new(
        config.max_connections,
        config.max_unauthenticated,
        config.max_connections_per_client,
    );
    let mut conns = JoinSet::new();
    let mut conn_id: u64 = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let slot = match limiter.admit(peer.ip()) {
                        Ok(slot) => slot,
                        Err(why) => {
                            tracing::warn!(%peer, "{why}; closing the new connection");
                            drop(stream);
                            continue;
                        }
                    };
                    conn_id += 1;
                    let span = tracing::info_span!("nfs_conn", %peer, conn_id);
                    let limits = ConnLimits {
                        max_record: config.max_record,
                        max_in_flight: config.max_in_flight.max(1),
                        send_timeout: config.send_timeout.max(Duration::from_millis(100)),
                        unauthenticated_timeout: config.unauthenticated_timeout,
                    };
                    let task = connection(shared.clone(), stream, peer, limits, shutdown.clone(), slot);
                    conns.spawn(task.instrument(span));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = shutdown_requested(&mut shutdown) => break,
        }
    }
    tracing::info!(connections = conns.len(), "NFS shutting down");
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.abort_all();
    }
    if config.register_rpcbind {
        crate::rpcbind::unregister().await;
    }
    Ok(())
}

/// Per-connection caps, from [`NfsConfig`].
#[derive(Debug, Clone, Copy)]
struct ConnLimits {
    max_record: usize,
    max_in_flight: usize,
    send_timeout: Duration,
    unauthenticated_timeout: Duration,
}

async fn connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    limits: ConnLimits,
    mut shutdown: watch::Receiver<bool>,
    slot: ConnSlot,
) {
    tracing::debug!("connected");
    let unauth_deadline = tokio::time::Instant::now() + limits.unauthenticated_timeout;
    // Set by a call that authenticates the connection (see the module doc); the call's task
    // then tells the slot, which stops counting against the unauthenticated cap.
    let admitted = Arc::new(AtomicBool::new(false));
    let slot = Arc::new(Mutex::new(slot));
    let _ = stream.set_nodelay(true);
    let (mut rd, wr) = stream.into_split();
    // A call holds its permit until its reply is in the channel, so the channel never holds
    // more than `max_in_flight` replies.
    let (tx, rx) = mpsc::channel::<Outgoing>(limits.max_in_flight);
    let writer = tokio::spawn(writer(wr, rx, limits.send_timeout).in_current_span());
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight));
    let mut framer = RecordDecoder::new(limits.max_record);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    'conn: loop {
        loop {
            match framer.decode(&mut buf) {
                Ok(Some(record)) => {
                    let permit = tokio::select! {
                        p = in_flight.clone().acquire_owned() => p,
                        _ = shutdown_requested(&mut shutdown) => break 'conn,
                        // The writer gave up (send timeout): stop reading calls.
                        _ = tx.closed() => break 'conn,
                    };
                    let Ok(permit) = permit else { break 'conn };
                    let (tx, shared) = (tx.clone(), shared.clone());
                    let auth = (!admitted.load(Ordering::Relaxed))
                        .then(|| (admitted.clone(), slot.clone()));
                    tokio::spawn(
                        async move {
                            let flag = auth.as_ref().map(|(a, _)| &**a);
                            let reply = dispatch::call(&shared, peer, record, flag).await;
                            if let Some((admitted, slot)) = &auth {
                                if admitted.load(Ordering::Relaxed) {
                                    slot.lock()
                                        .unwrap_or_else(|p| p.into_inner())
                                        .authenticated();
                                }
                            }
                            if let Some(reply) = reply {
                                let _ = tx.send(reply).await;
                            }
                            drop(permit);
                        }
                        .in_current_span(),
                    );
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "bad record marking; closing the connection");
                    break 'conn;
                }
            }
        }
        tokio::select! {
            n = rd.read_buf(&mut buf) => match n {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "read failed");
                    break;
                }
            },
            _ = tokio::time::sleep(PARTIAL_RECORD_TIMEOUT), if !buf.is_empty() || framer.is_mid_record() => {
                tracing::debug!("incomplete record idle too long; closing the connection");
                break;
            }
            _ = shutdown_requested(&mut shutdown) => break,
            _ = tx.closed() => {
                tracing::debug!("reply writer stopped; closing the connection");
                break;
            }
            _ = tokio::time::sleep_until(unauth_deadline), if !admitted.load(Ordering::Relaxed) => {
                // Checked again: a call may have authenticated the connection meanwhile.
                if !admitted.load(Ordering::Relaxed) {
                    tracing::debug!("no admitted call in time (unauthenticated); closing the connection");
                    break;
                }
            }
        }
    }
    drop(tx);
    drop(rd);
    // The writer ends once every running call has sent its reply (or failed to).
    let _ = writer.await;
    tracing::debug!("disconnected");
}

async fn writer(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Outgoing>, send_timeout: Duration) {
    const PAD: [u8; 3] = [0; 3];
    while let Some(reply) = rx.recv().await {
        // Vectored writes for the head, the READ data and its padding: no copy.
        let mut buf = reply
            .head
            .chain(reply.data)
            .chain(PAD.get(..reply.pad).unwrap_or_default());
        while buf.has_remaining() {
            // Each write must make progress within `send_timeout` (a peer that stops reading
            // loses its connection instead of pinning it).
            match tokio::time::timeout(send_timeout, wr.write_buf(&mut buf)).await {
                Ok(Ok(0)) => {
                    tracing::debug!("write returned 0");
                    return;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "write failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(timeout = ?send_timeout, "peer not reading replies; closing the connection");
                    return;
                }
            }
        }
    }
    let _ = tokio::time::timeout(send_timeout, wr.shutdown()).await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests;
