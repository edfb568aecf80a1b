//! READ, WRITE, COMMIT (RFC 1813 3.3.6, 3.3.7, 3.3.21).

use bytes::{Bytes, BytesMut};
use shoal_nfs_proto::nfs3::args::{CommitArgs, ReadArgs, WriteArgs};
use shoal_nfs_proto::nfs3::res::{CommitOk, CommitRes, ReadOk, ReadRes, Reply, WriteOk, WriteRes};
use shoal_nfs_proto::nfs3::types::WccData;
use shoal_nfs_proto::nfs3::Nfsstat3;
use shoal_nfs_proto::Encode;

use shoal_vfs::lock::NfsIntent;

use super::{attr_of, smb_state, wcc, Ctx};
use crate::conv::{fattr3, stability, stable_how};

/// READ: at most the offered `rtmax` bytes.
pub(crate) async fn read(ctx: &Ctx, a: ReadArgs) -> ReadRes {
    let t = match ctx.target(&a.file) {
        Ok(t) => t,
        Err(s) => return Reply::Fail(s, None),
    };
    let count = a.count.min(ctx.shared.io_max);
    let locks = ctx.shared.locks.clone();
    let r = ctx
        .blocking(
            move |v| match v.read(&t.caller, &t.handle, a.offset, count) {
                // Checked after reading, with the attributes that come with the data (no
                // extra call); refused data is dropped. Nothing changed by reading.
                Ok((data, eof, attr)) => {
                    let intent = NfsIntent::Read {
                        offset: a.offset,
                        len: data.len() as u64,
                    };
                    match smb_state::check(&locks, &attr, intent) {
                        Ok(()) => Ok((data, eof, attr)),
                        Err(e) => Err(Box::new((e, Some(attr)))),
                    }
                }
                Err(e) => Err(Box::new((e, attr_of(v, &t.caller, &t.handle)))),
            },
        )
        .await;
    match r {
        Ok(Ok((data, eof, attr))) => Reply::Ok(ReadOk {
            file_attributes: Some(fattr3(&attr)),
            eof,
            data,
        }),
        Ok(Err(failed)) => Reply::Fail(
            crate::error::nfsstat(&failed.0),
            failed.1.as_ref().map(fattr3),
        ),
        Err(s) => Reply::Fail(s, None),
    }
}

/// READ, encoded without copying the data: the reply up to the data's length goes into
/// `out`, the data is returned to be sent as it is (followed by its XDR padding).
pub(crate) async fn read_split(ctx: &Ctx, a: ReadArgs, out: &mut BytesMut) -> Option<Bytes> {
    match read(ctx, a).await {
        Reply::Ok(ok) => {
            Nfsstat3::NFS3_OK.encode(out);
            ok.encode_head(out);
            Some(Bytes::from(ok.data))
        }
        failed => {
            failed.encode(out);
            None
        }
    }
}

/// WRITE. 3.3.7: `committed` tells how the data was actually stored; the VFS reports what it
/// achieved (at least what was asked). The verifier changes when the server restarts, so
/// clients resend unstable writes they have not committed.
pub(crate) async fn write(ctx: &Ctx, mut a: WriteArgs) -> WriteRes {
    let t = match ctx.writable(&a.file) {
        Ok(t) => t,
        Err(s) => return Reply::Fail(s, WccData::default()),
    };
    // "count: The number of bytes of data to be written. If count is 0, the WRITE will
    // succeed and return a count of 0". The data may not be shorter than count.
    if (a.data.len() as u64) < u64::from(a.count) {
        return Reply::Fail(Nfsstat3::NFS3ERR_INVAL, WccData::default());
    }
    a.data.truncate(a.count as usize);
    let want = stability(a.stable);
    let locks = ctx.shared.locks.clone();
    let r = ctx
        .blocking(move |v| {
            let before = attr_of(v, &t.caller, &t.handle);
            let intent = NfsIntent::Write {
                offset: a.offset,
                len: a.data.len() as u64,
            };
            let allowed = match &before {
                Some(b) => smb_state::check(&locks, b, intent),
                None => Ok(()),
            };
            let r = allowed.and_then(|()| v.write(&t.caller, &t.handle, a.offset, &a.data, want));
            (before, r, v.write_verifier())
        })
        .await;
    match r {
        Ok((before, Ok((count, achieved, after)), verf)) => Reply::Ok(WriteOk {
            file_wcc: wcc(before.as_ref(), Some(&after)),
            count,
            committed: stable_how(achieved.max(want)),
            verf,
        }),
        Ok((before, Err(e), _)) => Reply::Fail(
            crate::error::nfsstat(&e),
            wcc(before.as_ref(), before.as_ref()),
        ),
        Err(s) => Reply::Fail(s, WccData::default()),
    }
}

/// COMMIT: allowed on read-only exports too (it changes nothing a client can see).
pub(crate) async fn commit(ctx: &Ctx, a: CommitArgs) -> CommitRes {
    let t = match ctx.target(&a.file) {
        Ok(t) => t,
        Err(s) => return Reply::Fail(s, WccData::default()),
    };
    let r = ctx
        .blocking(move |v| {
            let before = attr_of(v, &t.caller, &t.handle);
            (before, v.commit(&t.caller, &t.handle), v.write_verifier())
        })
        .await;
    match r {
        Ok((before, Ok(after), verf)) => Reply::Ok(CommitOk {
            file_wcc: wcc(before.as_ref(), Some(&after)),
            verf,
        }),
        Ok((before, Err(e), _)) => Reply::Fail(
            crate::error::nfsstat(&e),
            wcc(before.as_ref(), before.as_ref()),
        ),
        Err(s) => Reply::Fail(s, WccData::default()),
    }
}
