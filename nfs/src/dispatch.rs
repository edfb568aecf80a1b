//! One RPC call: decode the header, route by program / version / procedure, check the
//! credential flavor, consult the duplicate-request cache, run the handler, build the reply
//! record (record mark included).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use shoal_nfs_proto::mount::{self, MountProc};
use shoal_nfs_proto::nfs3::args::Args;
use shoal_nfs_proto::nfs3::res::xdr_padding;
use shoal_nfs_proto::nfs3::{self, NfsProc};
use shoal_nfs_proto::rpc::{AuthStat, CallError, CallHeader, Credential, ReplyHeader};
use shoal_nfs_proto::Reader;
use shoal_vfs::Vfs;
use tracing::Instrument;

use crate::drc::{Drc, Key, Lookup};
use crate::export::Exports;
use crate::proc::Ctx;

/// State shared by every connection.
pub(crate) struct Shared {
    pub(crate) exports: Exports,
    pub(crate) vfs: Arc<dyn Vfs>,
    pub(crate) drc: Drc,
    /// MOUNT's record of (client address, export path) for DUMP.
    pub(crate) mounts: Mutex<std::collections::BTreeSet<(String, String)>>,
    /// Largest READ/WRITE payload offered and served.
    pub(crate) io_max: u32,
    /// The lock manager shared with SMB ([`crate::NfsConfig::locks`]).
    pub(crate) locks: Arc<shoal_vfs::lock::LockManager>,
}

/// Entries kept in the duplicate-request cache, in all (docs/limits.md).
pub(crate) const DRC_CAPACITY: usize = 16384;
/// Entries kept per client address: a client flooding distinct xids evicts only its own.
pub(crate) const DRC_PER_CLIENT: usize = 1024;

/// Starts a reply record: room for the record mark, then the RPC reply header.
fn reply_start(xid: u32, header: &ReplyHeader, capacity: usize) -> BytesMut {
    let mut out = BytesMut::with_capacity(capacity);
    out.put_u32(0);
    header.encode(xid, &mut out);
    out
}

/// A reply record as sent: the encoded reply, then (READ) the data bytes and their XDR padding,
/// sent without copying the data into the encoded part.
pub(crate) struct Outgoing {
    /// Record mark and the reply up to the data.
    pub head: Bytes,
    /// READ data, then `pad` zero bytes.
    pub data: Bytes,
    /// Zero bytes after `data` (0 to 3).
    pub pad: usize,
}

impl From<Bytes> for Outgoing {
    fn from(head: Bytes) -> Outgoing {
        Outgoing {
            head,
            data: Bytes::new(),
            pad: 0,
        }
    }
}

/// Fills in the record mark and freezes the reply.
fn reply_finish(out: BytesMut) -> Bytes {
    reply_finish_with(out, Bytes::new()).head
}

/// Fills in the record mark, counting `data` and its padding after `out`.
fn reply_finish_with(mut out: BytesMut, data: Bytes) -> Outgoing {
    let pad = xdr_padding(data.len());
    let len = out
        .len()
        .saturating_sub(4)
        .saturating_add(data.len())
        .saturating_add(pad);
    let mark = shoal_nfs_proto::encode_record_header(len);
    if let Some(h) = out.get_mut(..4) {
        h.copy_from_slice(&mark);
    }
    Outgoing {
        head: out.freeze(),
        data,
        pad,
    }
}

fn reply_only(xid: u32, header: ReplyHeader) -> Option<Outgoing> {
    Some(reply_finish(reply_start(xid, &header, 64)).into())
}

/// Procedures that change state: their replies are cached for retransmissions.
fn non_idempotent(proc_: NfsProc) -> bool {
    matches!(
        proc_,
        NfsProc::SETATTR
            | NfsProc::WRITE
            | NfsProc::CREATE
            | NfsProc::MKDIR
            | NfsProc::SYMLINK
            | NfsProc::MKNOD
            | NfsProc::REMOVE
            | NfsProc::RMDIR
            | NfsProc::RENAME
            | NfsProc::LINK
    )
}

/// Marks the connection authenticated (`server` module doc): a call other than NULL with an
/// accepted credential, from an address and port some export admits.
fn mark_admitted(shared: &Shared, peer: SocketAddr, proc_: u32, admitted: Option<&AtomicBool>) {
    if let Some(flag) = admitted {
        if proc_ != 0 && shared.exports.admits(peer) {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

/// Handles one record; `None` means nothing is sent back (not a call, or a retransmission of
/// a call still being executed). `admitted`, when given, is set if the call authenticates its
/// connection.
pub(crate) async fn call(
    shared: &Arc<Shared>,
    peer: SocketAddr,
    record: BytesMut,
    admitted: Option<&AtomicBool>,
) -> Option<Outgoing> {
    // Shared from here on: WRITE data is a slice of the record, not a copy.
    let record = record.freeze();
    let mut r = Reader::new(&record);
    let header = match CallHeader::decode(&mut r) {
        Ok(h) => h,
        Err(CallError::Garbage(e)) => {
            tracing::debug!(error = %e, "record too short for an RPC message; ignored");
            return None;
        }
        Err(CallError::NotACall { xid }) => {
            tracing::debug!(xid, "not an RPC call; ignored");
            return None;
        }
        Err(CallError::RpcVersion { xid }) => return reply_only(xid, ReplyHeader::RpcMismatch),
        Err(CallError::Malformed { xid, error }) => {
            tracing::debug!(xid, %error, "malformed call header");
            return reply_only(xid, ReplyHeader::AuthError(AuthStat::AUTH_BADCRED));
        }
    };
    let xid = header.xid;
    let args_at = record.len() - r.remaining();
    let span = tracing::debug_span!(
        "rpc",
        xid,
        prog = header.prog,
        vers = header.vers,
        proc_ = header.proc_
    );
    async move {
        let args_buf = if args_at <= record.len() {
            record.slice(args_at..)
        } else {
            Bytes::new()
        };
        let mut r = Reader::new_shared(&args_buf);
        let cred = match Credential::from_opaque(&header.cred) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "bad credential");
                return reply_only(xid, ReplyHeader::AuthError(AuthStat::AUTH_BADCRED));
            }
        };
        let weak = matches!(cred, Credential::Other(_)) && header.proc_ != 0;
        match header.prog {
            nfs3::PROGRAM => {
                if header.vers != nfs3::VERSION {
                    return reply_only(xid, ReplyHeader::ProgMismatch { low: 3, high: 3 });
                }
                let proc_ = NfsProc(header.proc_);
                let args = match Args::decode(proc_, &mut r) {
                    Ok(Some(a)) => a,
                    Ok(None) => return reply_only(xid, ReplyHeader::ProcUnavail),
                    Err(e) => {
                        tracing::debug!(error = %e, "garbage arguments");
                        return reply_only(xid, ReplyHeader::GarbageArgs);
                    }
                };
                if weak {
                    return reply_only(xid, ReplyHeader::AuthError(AuthStat::AUTH_TOOWEAK));
                }
                mark_admitted(shared, peer, header.proc_, admitted);
                let key = non_idempotent(proc_).then(|| Key::new(peer.ip(), xid, &record));
                if let Some(key) = key {
                    match shared.drc.begin(key) {
                        Lookup::Execute => {}
                        Lookup::Drop => {
                            tracing::debug!("retransmission of a call in progress; dropped");
                            return None;
                        }
                        Lookup::Replay(reply) => {
                            tracing::debug!("retransmission; replaying the cached reply");
                            return Some(reply.into());
                        }
                    }
                }
                let capacity = match &args {
                    Args::Readdir(a) | Args::Readdirplus(a) => {
                        256 + (a.maxcount as usize).min(1 << 20)
                    }
                    _ => 512,
                };
                drop(record);
                drop(args_buf);
                let ctx = Ctx {
                    shared: shared.clone(),
                    peer,
                    cred,
                };
                let mut out = reply_start(xid, &ReplyHeader::Success, capacity);
                let data = crate::proc::run(&ctx, args, &mut out).await;
                let reply = reply_finish_with(out, data.unwrap_or_default());
                if let Some(key) = key {
                    // Only READ has separate data, and READ is not cached.
                    shared.drc.finish(key, reply.head.clone());
                }
                Some(reply)
            }
            mount::PROGRAM => {
                if header.vers != mount::VERSION {
                    return reply_only(xid, ReplyHeader::ProgMismatch { low: 3, high: 3 });
                }
                let args = match crate::mount::decode(MountProc(header.proc_), &mut r) {
                    Ok(Some(a)) => a,
                    Ok(None) => return reply_only(xid, ReplyHeader::ProcUnavail),
                    Err(e) => {
                        tracing::debug!(error = %e, "garbage arguments");
                        return reply_only(xid, ReplyHeader::GarbageArgs);
                    }
                };
                if weak {
                    return reply_only(xid, ReplyHeader::AuthError(AuthStat::AUTH_TOOWEAK));
                }
                mark_admitted(shared, peer, header.proc_, admitted);
                let mut out = reply_start(xid, &ReplyHeader::Success, 512);
                crate::mount::run(shared, peer, &cred, args, &mut out).await;
                Some(reply_finish(out).into())
            }
            prog => {
                tracing::debug!(prog, "unknown program");
                reply_only(xid, ReplyHeader::ProgUnavail)
            }
        }
    }
    .instrument(span)
    .await
}
