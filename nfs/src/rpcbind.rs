//! Registration with a local portmapper (RFC 1833, version 2: PMAPPROC_SET / PMAPPROC_UNSET
//! over TCP to 127.0.0.1:111). Best effort: when nothing listens there, clients must be given
//! explicit ports, and we say so at debug level only.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use shoal_nfs_proto::rpc::{CallHeader, OpaqueAuth, ReplyHeader};
use shoal_nfs_proto::{encode_record_header, Encode, Reader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PMAP_PROGRAM: u32 = 100000;
const PMAP_VERSION: u32 = 2;
const PMAPPROC_SET: u32 = 1;
const PMAPPROC_UNSET: u32 = 2;
const IPPROTO_TCP: u32 = 6;
const TIMEOUT: Duration = Duration::from_secs(2);

/// (program, version) pairs we serve.
const SERVICES: [(u32, u32); 2] = [
    (
        shoal_nfs_proto::nfs3::PROGRAM,
        shoal_nfs_proto::nfs3::VERSION,
    ),
    (
        shoal_nfs_proto::mount::PROGRAM,
        shoal_nfs_proto::mount::VERSION,
    ),
];

async fn pmap_call(xid: u32, proc_: u32, prog: u32, vers: u32, port: u16) -> std::io::Result<bool> {
    let mut stream =
        tokio::time::timeout(TIMEOUT, TcpStream::connect(("127.0.0.1", 111))).await??;
    let mut body = BytesMut::new();
    CallHeader {
        xid,
        prog: PMAP_PROGRAM,
        vers: PMAP_VERSION,
        proc_,
        cred: OpaqueAuth::none(),
        verf: OpaqueAuth::none(),
    }
    .encode(&mut body);
    for v in [prog, vers, IPPROTO_TCP, u32::from(port)] {
        body.put_u32(v);
    }
    let mut record = encode_record_header(body.len()).to_vec();
    record.extend_from_slice(&body);
    tokio::time::timeout(TIMEOUT, stream.write_all(&record)).await??;
    let mut mark = [0u8; 4];
    tokio::time::timeout(TIMEOUT, stream.read_exact(&mut mark)).await??;
    let len = (u32::from_be_bytes(mark) & 0x7fff_ffff) as usize;
    if len > 1024 {
        return Err(std::io::Error::other("oversized portmapper reply"));
    }
    let mut reply = vec![0u8; len];
    tokio::time::timeout(TIMEOUT, stream.read_exact(&mut reply)).await??;
    let mut r = Reader::new(&reply);
    match ReplyHeader::decode(&mut r) {
        Ok((_, ReplyHeader::Success)) => Ok(r.bool().unwrap_or(false)),
        other => Err(std::io::Error::other(format!(
            "portmapper refused: {other:?}"
        ))),
    }
}

/// Registers NFS v3 and MOUNT v3 on `port` (TCP), replacing stale registrations.
pub(crate) async fn register(port: u16) {
    for (i, (prog, vers)) in SERVICES.into_iter().enumerate() {
        let xid = 0x5e0a_1000 + i as u32 * 2;
        let _ = pmap_call(xid, PMAPPROC_UNSET, prog, vers, 0).await;
        match pmap_call(xid + 1, PMAPPROC_SET, prog, vers, port).await {
            Ok(true) => tracing::info!(prog, vers, port, "registered with rpcbind"),
            Ok(false) => tracing::debug!(prog, vers, "rpcbind refused the registration"),
            Err(e) => tracing::debug!(prog, vers, error = %e, "no rpcbind registration"),
        }
    }
}

/// Removes our registrations (at shutdown).
pub(crate) async fn unregister() {
    for (i, (prog, vers)) in SERVICES.into_iter().enumerate() {
        let _ = pmap_call(0x5e0a_2000 + i as u32, PMAPPROC_UNSET, prog, vers, 0).await;
    }
}
