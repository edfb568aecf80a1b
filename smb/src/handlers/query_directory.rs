//! QUERY_DIRECTORY (MS-SMB2 3.3.5.18): the directory is read once per enumeration through
//! `vfs.readdir` (bounded by `max_dir_entries`), then served from the buffer in pieces that fit
//! the client's OutputBufferLength.

use shoal_smb_proto::query_directory::{encode_dir_entry, flags, is_supported_class, pattern_matches, QueryDirectoryRequest};
use shoal_smb_proto::query_info::encode_output_response;
use shoal_smb_proto::NtStatus;

use super::{blocking, caller_for, file_info, tree_of};
use crate::conn::dispatch::{Reply, Req};
use crate::conn::state::{Conn, Listing, OpenKind};
use crate::error::{fail, SmbError};

/// QUERY_DIRECTORY.
pub(crate) async fn handle(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let q = QueryDirectoryRequest::decode(req.msg)?;
    let id = req.file_id(q.file_id);
    let (identity, share) = tree_of(conn, req)?;
    if !is_supported_class(q.class) {
        return fail(NtStatus::INVALID_INFO_CLASS);
    }
    let max_entries = conn.shared.config.max_dir_entries;
    let max_out = usize::try_from(q.output_len).unwrap_or(0).min(conn.shared.config.max_io() as usize);
    let (handle, needs_fill) = match conn.opens.get(&id) {
        Some(o) if o.session_id == req.session_id && o.tree_id == req.tree_id => match &o.kind {
            OpenKind::File { handle, is_dir: true, listing } => {
                let restart = q.flags & (flags::RESTART_SCANS | flags::REOPEN) != 0;
                (handle.clone(), listing.is_none() || restart)
            }
            _ => return fail(NtStatus::INVALID_PARAMETER),
        },
        _ => return fail(NtStatus::FILE_CLOSED),
    };
    let first_call = needs_fill;
    if needs_fill {
        let vfs = conn.shared.vfs.clone();
        let caller = caller_for(conn, &identity, &share);
        let entries = blocking(move || {
            let mut out = Vec::new();
            let mut cookie = 0u64;
            loop {
                let (batch, eof) = vfs.readdir(&caller, &handle, cookie, 512, true)?;
                for e in &batch {
                    cookie = e.cookie;
                    let name = String::from_utf8_lossy(&e.name).into_owned();
                    let attr = match &e.plus {
                        Some((_, a)) => a.clone(),
                        None => match vfs.lookup(&caller, &handle, &e.name) {
                            Ok((_, a)) => a,
                            Err(_) => continue,
                        },
                    };
                    out.push((name, file_info(&attr)));
                }
                if eof || batch.is_empty() || out.len() >= max_entries {
                    break;
                }
            }
            // `..` of the share root is the root itself: report it with the root's attributes.
            Ok(out)
        })
        .await?;
        if let Some(o) = conn.opens.get_mut(&id) {
            if let OpenKind::File { listing, .. } = &mut o.kind {
                *listing = Some(Listing { entries, next: 0, pattern: q.pattern.clone() });
            }
        }
    }
    let Some(o) = conn.opens.get_mut(&id) else { return fail(NtStatus::FILE_CLOSED) };
    let OpenKind::File { listing: Some(listing), .. } = &mut o.kind else { return fail(NtStatus::INVALID_PARAMETER) };
    if first_call && !q.pattern.is_empty() {
        listing.pattern = q.pattern.clone();
    }
    let single = q.flags & flags::RETURN_SINGLE_ENTRY != 0;
    let mut out = Vec::new();
    let mut prev = None;
    let mut count = 0usize;
    while let Some((name, info)) = listing.entries.get(listing.next) {
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
            if count == 0 {
                return fail(NtStatus::BUFFER_TOO_SMALL);
            }
            break;
        }
        prev = Some(at);
        count += 1;
        listing.next += 1;
        if single {
            break;
        }
    }
    if count == 0 {
        return fail(if first_call { NtStatus::NO_SUCH_FILE } else { NtStatus::NO_MORE_FILES });
    }
    let mut body = Vec::with_capacity(out.len() + 8);
    encode_output_response(&mut body, &out);
    Ok(Reply::ok(body))
}
