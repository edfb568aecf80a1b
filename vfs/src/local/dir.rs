//! Directory listing with stable cookies.
//!
//! A cookie is the kernel's directory position after an entry (`telldir`/`d_off`; on ext4
//! a hash of the name), so a listing resumed from any cookie neither repeats nor skips entries
//! even while other entries are added or removed: what large-directory clients need.

use super::{sys, LocalFs};
use crate::perm;
use crate::{Caller, DirEntry, FileHandle, FileKind, VfsError, VfsResult};

/// Most entries one call returns, whatever the caller asks.
pub const MAX_ENTRIES: usize = 4096;

impl LocalFs {
    pub(super) fn readdir_impl(
        &self,
        c: &Caller,
        dir: &FileHandle,
        cookie: u64,
        max: usize,
        plus: bool,
    ) -> VfsResult<(Vec<DirEntry>, bool)> {
        let (pfd, da, tag) = self.object(dir)?;
        if da.kind != FileKind::Directory {
            return Err(VfsError::NotDir);
        }
        if !perm::may_read(c, &da) {
            return Err(VfsError::Access);
        }
        let max = max.clamp(1, MAX_ENTRIES);
        let (rfd, _) = self.open_handle(dir, libc::O_RDONLY | libc::O_DIRECTORY)?;
        let mut stream = sys::DirStream::new(rfd)?;
        if cookie != 0 {
            stream.seek(cookie);
        }
        let can_stat = plus && perm::may_exec(c, &da);
        let mut out = Vec::with_capacity(max.min(256));
        let mut eof = true;
        while let Some(raw) = stream.next_entry()? {
            if out.len() == max {
                eof = false;
                break;
            }
            let mut fileid = raw.ino;
            let mut plus_info = None;
            if raw.name == b".." && self.is_root(tag, &da) {
                fileid = da.fileid;
            }
            if can_stat {
                if let Ok((fd, a)) = self.lookup_in(&pfd, &da, tag, &raw.name) {
                    fileid = a.fileid;
                    if let Ok(h) = self.handle_of(&fd, tag) {
                        plus_info = Some((h, a));
                    }
                }
            }
            out.push(DirEntry { name: raw.name, fileid, cookie: raw.next, plus: plus_info });
        }
        Ok((out, eof))
    }
}
