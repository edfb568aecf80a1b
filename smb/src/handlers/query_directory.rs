//! QUERY_DIRECTORY (MS-SMB2 3.3.5.18): the directory is read through `vfs.readdir` and its
//! cookies, so a 100,000-entry directory never sits in memory. Nothing of the directory is
//! buffered between requests: each request reads from the cookie after the last entry it
//! consumed, about as many entries as its output buffer can hold, and stats them then, so an
//! entry removed since an earlier request is not listed (smbtorture smb2.dir `fixed`; Windows
//! and Samba stat each entry when they return it). The VFS keeps the directory stream open
//! between calls, so resuming costs no reopen or seek.
//!
//! Each returned entry carries a FileIndex (MS-FSCC 2.4.10) that names the position after it:
//! a request with SMB2_INDEX_SPECIFIED and one of the last [`RESUME_KEYS`] indexes resumes
//! right after that entry; an index shoal does not know is ignored (the enumeration goes on
//! where it was), which is what Windows and Samba do with every index.

use std::collections::VecDeque;

use shoal_smb_proto::query_directory::{
    class, encode_dir_entry, flags, is_supported_class, pattern_matches, QueryDirectoryRequest,
};
use shoal_smb_proto::query_info::{encode_output_response, FileInfo};
use shoal_smb_proto::NtStatus;

use super::{caller_for, file_info, tree_of};
use crate::blocking::blocking;
use crate::conn::state::{Conn, OpenKind};
use crate::error::{fail, SmbError};
use crate::req::{Reply, Req};

/// Most entries read from the VFS at a time.
const BATCH: usize = 512;

/// FileIndex values remembered per enumeration (16 bytes each).
const RESUME_KEYS: usize = 1024;

/// A directory enumeration in progress on one open: its pattern and the resume keys it handed
/// out, never the entries themselves.
pub(crate) struct Listing {
    /// Search pattern, fixed by the first request or a restart/reopen.
    pub pattern: String,
    /// Ordinal of the next returned entry since the (re)start, from 1.
    next_ordinal: u64,
    /// (FileIndex, VFS cookie after that entry) of the recently returned entries, oldest
    /// first, at most [`RESUME_KEYS`].
    keys: VecDeque<(u32, u64)>,
    /// VFS cookie after the last buffered batch.
    dir_cookie: u64,
    /// The VFS reported the end.
    dir_eof: bool,
    /// Some entry was returned since the (re)start.
    dir_returned: bool,
}

impl Listing {
    fn new(pattern: String) -> Self {
        Listing {
            pattern,
            next_ordinal: 1,
            keys: VecDeque::new(),
            dir_cookie: 0,
            dir_eof: false,
            dir_returned: false,
        }
    }

    /// FileIndex the next returned entry gets: its ordinal, wrapped to 1..=u32::MAX (0 means
    /// "no index" to clients, MS-FSCC 2.4.10).
    fn next_key(&self) -> u32 {
        let k = (self.next_ordinal.wrapping_sub(1) % u64::from(u32::MAX)).wrapping_add(1);
        u32::try_from(k).unwrap_or(u32::MAX)
    }

    /// Records that the entry keyed [`Self::next_key`] was returned, `cookie` being after it.
    fn returned(&mut self, cookie: u64) {
        self.keys.push_back((self.next_key(), cookie));
        if self.keys.len() > RESUME_KEYS {
            self.keys.pop_front();
        }
        self.next_ordinal = self.next_ordinal.wrapping_add(1);
    }

    /// The cookie after the entry returned with FileIndex `key`, if still remembered.
    fn cookie_of(&self, key: u32) -> Option<u64> {
        self.keys
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, c)| *c)
    }
}

/// Bytes an entry of class `c` takes besides its name, plus a typical name: used to read
/// about as many entries as fit (reading more only costs stats thrown away).
fn typical_entry_len(c: u8) -> usize {
    let fixed = match c {
        class::NAMES => 12,
        class::DIRECTORY => 64,
        class::FULL_DIRECTORY => 68,
        class::ID_FULL_DIRECTORY => 80,
        class::BOTH_DIRECTORY => 94,
        _ => 104,
    };
    fixed + 32
}

/// FILE_LIST_DIRECTORY (MS-SMB2 2.2.13.1.2).
const FILE_LIST_DIRECTORY: u32 = 0x0000_0001;

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
            // MS-SMB2 3.3.5.18: "If Open.GrantedAccess does not include FILE_LIST_DIRECTORY,
            // the server MUST fail the request with STATUS_ACCESS_DENIED."
            if o.granted & FILE_LIST_DIRECTORY == 0
                && matches!(o.kind, OpenKind::File { is_dir: true, .. })
            {
                return fail(NtStatus::ACCESS_DENIED);
            }
            match &mut o.kind {
                OpenKind::File {
                    handle,
                    is_dir: true,
                    listing,
                    ..
                } => (handle.clone(), listing.take()),
                _ => return fail(NtStatus::INVALID_PARAMETER),
            }
        }
        _ => return fail(NtStatus::FILE_CLOSED),
    };
    if listing.is_none() || restart {
        let pattern = if q.pattern.is_empty() {
            "*".to_string()
        } else {
            q.pattern.clone()
        };
        listing = Some(Listing::new(pattern));
    }
    let Some(mut listing) = listing else {
        return fail(NtStatus::INTERNAL_ERROR);
    };
    if q.flags & flags::INDEX_SPECIFIED != 0 && !restart {
        // MS-SMB2 3.3.5.18: FileIndex goes to the file system, which may resume there.
        if let Some(cookie) = listing.cookie_of(q.file_index) {
            listing.dir_cookie = cookie;
            listing.dir_eof = false;
        }
    }
    let vfs = conn.shared.vfs.clone();
    let caller = caller_for(conn, &identity, &share);
    let single = q.flags & flags::RETURN_SINGLE_ENTRY != 0;
    let mut out = Vec::new();
    let mut prev = None;
    let mut count = 0usize;
    let mut too_small = false;
    let mut failure = None;
    // Entries read by this request and not yet consumed, each with the cookie after it.
    let mut batch: VecDeque<(String, FileInfo, u64)> = VecDeque::new();
    // Where the next read starts (after the last entry read, kept or not) and whether the
    // VFS reported the end there.
    let (mut read_at, mut read_eof) = (listing.dir_cookie, listing.dir_eof);
    // The cookie after the last entry consumed (returned or filtered out by the pattern).
    let mut consumed_at = listing.dir_cookie;
    loop {
        let Some((name, info, cookie)) = batch.pop_front() else {
            if read_eof {
                break;
            }
            let want = if single && listing.pattern == "*" {
                1
            } else if single {
                BATCH
            } else {
                (max_out.saturating_sub(out.len()) / typical_entry_len(q.class) + 1).min(BATCH)
            };
            let (vfs, caller, handle) = (vfs.clone(), caller.clone(), handle.clone());
            let fetched =
                blocking(move || read_batch(&*vfs, &caller, &handle, read_at, want)).await;
            match fetched {
                Ok((entries, cookie, eof)) => {
                    batch = entries;
                    read_at = cookie;
                    read_eof = eof;
                    if batch.is_empty() {
                        consumed_at = read_at;
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            continue;
        };
        let Some(name) = super::mac_names::listed(name, &share) else {
            consumed_at = cookie; // no SMB name: left out, like a non-matching entry
            continue;
        };
        if !pattern_matches(&listing.pattern, &name) {
            consumed_at = cookie;
            continue;
        }
        let before = out.len();
        let at = encode_dir_entry(&mut out, prev, q.class, listing.next_key(), &name, &info);
        if out.len() > max_out {
            out.truncate(before);
            if let Some(p) = prev {
                if let Some(f) = out.get_mut(p..p + 4) {
                    f.copy_from_slice(&[0; 4]);
                }
            }
            too_small = count == 0;
            batch.push_front((name, info, cookie));
            break;
        }
        listing.returned(cookie);
        consumed_at = cookie;
        prev = Some(at);
        count += 1;
        if single {
            break;
        }
    }
    // Entries read but not returned are dropped: the next request reads them again from
    // `consumed_at` (and stats them again, so it sees what changed meanwhile).
    if batch.is_empty() {
        listing.dir_cookie = read_at;
        listing.dir_eof = read_eof;
    } else {
        listing.dir_cookie = consumed_at;
        listing.dir_eof = false;
    }
    let first = !listing.dir_returned;
    if count > 0 {
        listing.dir_returned = true;
    }
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

/// Reads up to `want` entries after `cookie` with their information, stat'ed now. Returns
/// them with the cookie after each, the cookie after the last one read (entries that vanished
/// between the listing and the stat are skipped but still advance it), and the end flag.
#[allow(clippy::type_complexity)]
fn read_batch(
    vfs: &dyn shoal_vfs::Vfs,
    caller: &shoal_vfs::Caller,
    handle: &shoal_vfs::FileHandle,
    cookie: u64,
    want: usize,
) -> Result<(VecDeque<(String, FileInfo, u64)>, u64, bool), SmbError> {
    // The stored DOS attributes come with the listing (one getxattr per entry, by name in
    // the pass that stats it: no open, no lookup).
    let (batch, eof) = vfs.readdir_with_xattr(caller, handle, cookie, want, super::dos::XATTR)?;
    let mut next_cookie = cookie;
    let mut entries = VecDeque::with_capacity(batch.len());
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
            None => match vfs.lookup(caller, handle, &e.name) {
                Ok((h, a)) => super::dos::info_of(vfs, caller, &h, &a),
                Err(_) => continue,
            },
        };
        entries.push_back((name, info, e.cookie));
    }
    Ok((entries, next_cookie, eof || batch.is_empty()))
}
