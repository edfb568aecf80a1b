//! QUERY_DIRECTORY (MS-SMB2 3.3.5.18): the directory is read in batches through
//! `vfs.readdir` and its cookies, so a 100,000-entry directory never sits in memory: an open
//! buffers at most one batch ([`BATCH`] entries) and remembers the cookie after it.

use shoal_smb_proto::query_directory::{
    encode_dir_entry, flags, is_supported_class, pattern_matches, QueryDirectoryRequest,
};
use shoal_smb_proto::query_info::encode_output_response;
use shoal_smb_proto::NtStatus;

use super::{blocking, caller_for, file_info, tree_of};
use crate::conn::dispatch::{Reply, Req};
use crate::conn::state::{Conn, Listing, OpenKind};
use crate::error::{fail, SmbError};
use crate::open_table;

/// Entries read from the VFS at a time.
const BATCH: usize = 512;

/// QUERY_DIRECTORY.
pub(crate) async fn handle(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let q = QueryDirectoryRequest::decode(req.msg)?;
    let id = req.file_id(q.file_id);
    let (identity, share) = tree_of(conn, req)?;
    if !is_supported_class(q.class) {
        return fail(NtStatus::INVALID_INFO_CLASS);
    }
    let max_out = usize::try_from(q.output_len)
        .unwrap_or(0)
        .min(conn.shared.config.max_io() as usize);
    let restart = q.flags & (flags::RESTART_SCANS | flags::REOPEN) != 0;
    let (handle, mut listing) = match conn.opens.get_mut(&id) {
        Some(o) if o.session_id == req.session_id && o.tree_id == req.tree_id => {
            match &mut o.kind {
                OpenKind::File {
                    handle,
                    is_dir: true,
                    listing,
                } => (handle.clone(), listing.take()),
                _ => return fail(NtStatus::INVALID_PARAMETER),
            }
        }
        _ => return fail(NtStatus::FILE_CLOSED),
    };
    let Some(mut st) = open_table::get(req.session_id, id) else {
        return fail(NtStatus::FILE_CLOSED);
    };
    if listing.is_none() || restart {
        let pattern = if q.pattern.is_empty() {
            "*".to_string()
        } else {
            q.pattern.clone()
        };
        listing = Some(Listing {
            entries: Vec::new(),
            next: 0,
            pattern,
        });
        st.dir_cookie = 0;
        st.dir_eof = false;
        st.dir_returned = false;
    }
    let Some(mut listing) = listing else {
        return fail(NtStatus::INTERNAL_ERROR);
    };
    let vfs = conn.shared.vfs.clone();
    let caller = caller_for(conn, &identity, &share);
    let single = q.flags & flags::RETURN_SINGLE_ENTRY != 0;
    let mut out = Vec::new();
    let mut prev = None;
    let mut count = 0usize;
    let mut too_small = false;
    let mut failure = None;
    loop {
        let Some((name, info)) = listing.entries.get(listing.next) else {
            if st.dir_eof {
                break;
            }
            let (vfs, caller, handle, cookie) =
                (vfs.clone(), caller.clone(), handle.clone(), st.dir_cookie);
            let fetched = blocking(move || {
                // The stored DOS attributes come with the listing (one getxattr per entry, by
                // name in the pass that stats it: no open, no lookup).
                let (batch, eof) =
                    vfs.readdir_with_xattr(&caller, &handle, cookie, BATCH, super::dos::XATTR)?;
                let mut next_cookie = cookie;
                let mut entries = Vec::with_capacity(batch.len());
                for (e, value) in &batch {
                    next_cookie = e.cookie;
                    let name = String::from_utf8_lossy(&e.name).into_owned();
                    let info = match &e.plus {
                        Some((_, a)) => {
                            let mut info = file_info(a);
                            super::dos::apply(
                                &mut info,
                                value.as_deref().and_then(super::dos::DosInfo::decode),
                            );
                            info
                        }
                        None => match vfs.lookup(&caller, &handle, &e.name) {
                            Ok((h, a)) => super::dos::info_of(&*vfs, &caller, &h, &a),
                            Err(_) => continue,
                        },
                    };
                    entries.push((name, info));
                }
                Ok((entries, next_cookie, eof || batch.is_empty()))
            })
            .await;
            match fetched {
                Ok((entries, cookie, eof)) => {
                    listing.entries = entries;
                    listing.next = 0;
                    st.dir_cookie = cookie;
                    st.dir_eof = eof;
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            continue;
        };
        if !pattern_matches(&listing.pattern, name) {
            listing.next += 1;
            continue;
        }
        let before = out.len();
        let at = encode_dir_entry(&mut out, prev, q.class, name, info);
        if out.len() > max_out {
            out.truncate(before);
            if let Some(p) = prev {
                if let Some(f) = out.get_mut(p..p + 4) {
                    f.copy_from_slice(&[0; 4]);
                }
            }
            too_small = count == 0;
            break;
        }
        prev = Some(at);
        count += 1;
        listing.next += 1;
        if single {
            break;
        }
    }
    let first = !st.dir_returned;
    if count > 0 {
        st.dir_returned = true;
    }
    open_table::update(req.session_id, id, |o| {
        o.dir_cookie = st.dir_cookie;
        o.dir_eof = st.dir_eof;
        o.dir_returned = st.dir_returned;
    });
    if let Some(o) = conn.opens.get_mut(&id) {
        if let OpenKind::File { listing: l, .. } = &mut o.kind {
            *l = Some(listing);
        }
    }
    if let Some(e) = failure {
        if count == 0 {
            return Err(e);
        }
    }
    if too_small {
        return fail(NtStatus::BUFFER_TOO_SMALL);
    }
    if count == 0 {
        return fail(if first {
            NtStatus::NO_SUCH_FILE
        } else {
            NtStatus::NO_MORE_FILES
        });
    }
    let mut body = Vec::with_capacity(out.len() + 8);
    encode_output_response(&mut body, &out);
    Ok(Reply::ok(body))
}
