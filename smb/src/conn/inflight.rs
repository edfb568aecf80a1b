//! READs completed off the connection task, and the single writer every reply goes through.
//!
//! A standalone READ on a file (not part of a compound chain) is validated in order on the
//! connection task like any request: sequence window and credit charge, signature, session,
//! tree, open, access, range; its credits are granted there too. What is left needs no
//! connection state (the VFS read, encoding the response, signing or sealing it), so it runs
//! in a task of its own ([`DeferredRead::complete`]) while the connection task goes on with
//! the next requests. The disk read, the signature and the socket write of one READ then
//! overlap with the next READ, as Samba's asynchronous reads do.
//!
//! Every frame, synchronous reply or completed READ, goes to one writer task through a
//! bounded channel ([`WRITER_QUEUE`]), so frames are never interleaved. Replies may leave out
//! of order: MS-SMB2 3.2.5.1 matches a response to its request by MessageId.
//!
//! Bounds: at most `max_reads_in_flight` READs per connection (`SmbConfig`), counted by a
//! semaphore whose permit travels with the reply until the writer has sent it; the connection
//! task waits for a permit before reading the next request, so a client that pipelines more
//! READs is slowed down rather than buffered for. Memory held by READs is thus at most
//! `max_reads_in_flight` × the largest READ (8 MiB by default).

use std::sync::Arc;

use shoal_smb_proto::header::{encode_error_body, Header};
use shoal_smb_proto::rw::encode_read_response;
use shoal_smb_proto::NtStatus;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, OwnedRwLockReadGuard, OwnedSemaphorePermit};

use super::dispatch::{failure_status, mark_signed};
use super::encryption::{Sealer, TRANSFORM_ROOM};
use crate::blocking::run_blocking;
use crate::error::SmbError;
use crate::read_job::ReadJob;
use crate::signing::Signer;

/// Most messages queued for the writer. Each is one reply (a few frames at most); queued READ
/// replies also hold a READ permit, so the bytes queued stay bounded by the READ cap plus this
/// many small replies.
pub(crate) const WRITER_QUEUE: usize = 32;

/// What the writer task is handed.
pub(crate) enum Outbound {
    /// Chunks written back to back (a reply's transport header may be a chunk of its own),
    /// then the READ permit, if any, is released.
    Frames(Vec<Vec<u8>>, Option<OwnedSemaphorePermit>),
    /// Stop writing and close the connection (a deferred READ hit a fault that must end it).
    Close(&'static str),
}

/// A READ validated on the connection task, with what its reply needs.
pub(crate) struct DeferredRead {
    /// The reply header as the connection task built it (credits granted, ids, flags); the
    /// status is filled in when the read completes.
    pub header: Header,
    pub job: ReadJob,
    /// Held until the reply is queued: a CLOSE of the same open waits for it.
    pub gate: OwnedRwLockReadGuard<()>,
    /// Sign the reply with this key (not when sealing).
    pub signer: Option<Signer>,
    /// No key to sign with, but the request was signed: set SMB2_FLAGS_SIGNED anyway.
    pub flag_signed: bool,
    /// Seal the reply for this session with this key and nonce counter.
    pub seal: Option<(u64, Arc<Sealer>)>,
}

impl DeferredRead {
    /// Reads, encodes, signs or seals; the reply frame, or why the connection must close.
    /// Runs on the blocking side (in place or on the pool), as reading and AES over up to
    /// 8 MiB are.
    pub(crate) async fn complete(
        self,
    ) -> (Result<Vec<u8>, &'static str>, OwnedRwLockReadGuard<()>) {
        let DeferredRead {
            header,
            job,
            gate,
            signer,
            flag_signed,
            seal,
        } = self;
        let outcome = run_blocking(move || {
            // A panicking VFS read fails this request only, as on the connection task.
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.read()))
                .unwrap_or_else(|_| Err(SmbError::Internal("VFS call panicked".into())));
            Ok(encode(header, read, signer, flag_signed, seal))
        })
        .await;
        let frame = match outcome {
            Ok(r) => r,
            Err(e) => {
                // Encoding or sealing panicked, or the blocking pool is gone: no reply can be
                // sent for this MessageId, so the connection ends.
                tracing::error!(error = %e, "deferred READ failed");
                Err("deferred READ failed")
            }
        };
        (frame, gate)
    }
}

/// Builds the reply frame of a completed READ: transport header, transform room when sealing,
/// SMB2 header, then the READ response (or the ERROR body on failure), written into one buffer
/// so the data is copied once.
fn encode(
    mut header: Header,
    read: Result<Vec<u8>, SmbError>,
    signer: Option<Signer>,
    flag_signed: bool,
    seal: Option<(u64, Arc<Sealer>)>,
) -> Result<Vec<u8>, &'static str> {
    let (status, data) = match read {
        Ok(d) => (NtStatus::SUCCESS, Some(d)),
        Err(e) => (failure_status(e)?, None),
    };
    header.status = status;
    let room = if seal.is_some() { TRANSFORM_ROOM } else { 0 };
    let body = data.as_ref().map_or(9, |d| d.len().saturating_add(17));
    let mut frame = Vec::with_capacity((4 + room + 64).saturating_add(body));
    frame.resize(4 + room, 0);
    header.encode(&mut frame);
    match &data {
        Some(d) => encode_read_response(&mut frame, d, 0),
        None => encode_error_body(&mut frame),
    }
    drop(data);
    if let Some((session_id, sealer)) = seal {
        sealer.seal(session_id, &mut frame)?;
        return Ok(frame);
    }
    let len = frame.len().saturating_sub(4);
    let mut head = Vec::with_capacity(4);
    shoal_smb_proto::framing::put_frame_header(&mut head, len);
    let (transport, msg) = frame.split_at_mut(4);
    transport.copy_from_slice(&head);
    if let Some(s) = signer {
        s.sign_response(msg);
    } else if flag_signed {
        mark_signed(msg);
    }
    Ok(frame)
}

/// The writer task: sends what it is handed, in the order handed, until every sender is gone,
/// a write fails, or it is told to close; then shuts the write side down.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, mut rx: mpsc::Receiver<Outbound>) {
    'recv: while let Some(out) = rx.recv().await {
        match out {
            Outbound::Frames(chunks, permit) => {
                for chunk in chunks {
                    if let Err(e) = wr.write_all(&chunk).await {
                        tracing::debug!(error = %e, "write failed");
                        break 'recv;
                    }
                }
                drop(permit);
            }
            Outbound::Close(why) => {
                tracing::warn!(why, "closing connection");
                break;
            }
        }
    }
    // Stop queued READs from waiting on a writer that is gone.
    rx.close();
    let _ = wr.shutdown().await;
}
