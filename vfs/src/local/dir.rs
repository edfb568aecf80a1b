//! Directory listing with stable cookies.
//!
//! A cookie is the kernel's directory position after an entry (`telldir`/`d_off`; on ext4
//! a hash of the name), so a listing resumed from any cookie neither repeats nor skips entries
//! even while other entries are added or removed: what large-directory clients need.
//!
//! Open directory streams are kept in a small cache keyed by (directory, next cookie): a
//! client paging through a large directory continues the same stream instead of reopening
//! and seeking it for every page (which on ext4 rebuilds the hash-order tree each time).

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::sync::Mutex;

use super::attr::{attr_from_stat, attr_from_statx};
use super::{gencache, sys, LocalFs};
use crate::perm;
use crate::{Attr, Caller, DirEntry, DirEntryXattr, FileHandle, FileKind, VfsError, VfsResult};

/// Most entries one call returns, whatever the caller asks.
pub const MAX_ENTRIES: usize = 4096;

/// Most directory streams kept open between calls (each holds a descriptor).
const CACHED_STREAMS: usize = 64;

/// A stream with the entries it read ahead, and the entries the last call returned (the
/// caller may use only some of them: a protocol that could not fit the tail of a batch in its
/// reply resumes from an earlier cookie, served again from `returned`).
pub(super) struct OpenStream {
    stream: sys::DirStream,
    ahead: VecDeque<sys::RawDirent>,
    returned: Vec<sys::RawDirent>,
}

impl OpenStream {
    /// Positions the stream right after `cookie` if that is one of the cookies it returned.
    fn resume_at(&mut self, cookie: u64) -> bool {
        let Some(i) = self.returned.iter().position(|e| e.next == cookie) else {
            return false;
        };
        let rest = self.returned.split_off(i + 1);
        for e in rest.into_iter().rev() {
            self.ahead.push_front(e);
        }
        self.returned.clear();
        true
    }
}

/// Open streams by directory handle, most recently used last.
#[derive(Default)]
pub(super) struct StreamCache {
    streams: VecDeque<(Vec<u8>, OpenStream)>,
}

impl StreamCache {
    fn take(&mut self, dir: &[u8], cookie: u64) -> Option<OpenStream> {
        let i = self.streams.iter_mut().position(|(d, s)| {
            d.as_slice() == dir && s.returned.iter().any(|e| e.next == cookie)
        })?;
        let (_, mut s) = self.streams.remove(i)?;
        s.resume_at(cookie).then_some(s)
    }

    fn put(&mut self, dir: &[u8], s: OpenStream) {
        self.streams.push_back((dir.to_vec(), s));
        while self.streams.len() > CACHED_STREAMS {
            self.streams.pop_front();
        }
    }
}

/// The cache type LocalFs holds.
pub(super) type Streams = Mutex<StreamCache>;

impl LocalFs {
    pub(super) fn readdir_impl(
        &self,
        c: &Caller,
        dir: &FileHandle,
        cookie: u64,
        max: usize,
        plus: bool,
        xattr: Option<&str>,
    ) -> VfsResult<(Vec<DirEntryXattr>, bool)> {
        let (pfd, da, tag) = self.object(dir)?;
        if da.kind != FileKind::Directory {
            return Err(VfsError::NotDir);
        }
        if !perm::may_read(c, &da) {
            return Err(VfsError::Access);
        }
        self.acl_list(c, &pfd, &da)?;
        let max = max.clamp(1, MAX_ENTRIES);
        let cached = if cookie != 0 {
            self.streams
                .lock()
                .ok()
                .and_then(|mut s| s.take(dir.as_bytes(), cookie))
        } else {
            None
        };
        let mut open = match cached {
            Some(s) => s,
            None => {
                let (rfd, _) = self.open_handle(dir, libc::O_RDONLY | libc::O_DIRECTORY)?;
                let mut stream = sys::DirStream::new(rfd)?;
                if cookie != 0 {
                    stream.seek(cookie);
                }
                OpenStream {
                    stream,
                    ahead: VecDeque::new(),
                    returned: Vec::new(),
                }
            }
        };
        let can_stat = plus && perm::may_exec(c, &da);
        let mut out = Vec::with_capacity(max.min(256));
        let mut eof = true;
        loop {
            let raw = match open.ahead.pop_front() {
                Some(r) => r,
                None => match open.stream.next_entry()? {
                    Some(r) => r,
                    None => break,
                },
            };
            if out.len() == max {
                open.ahead.push_front(raw);
                eof = false;
                break;
            }
            open.returned.push(sys::RawDirent {
                name: raw.name.clone(),
                ino: raw.ino,
                next: raw.next,
            });
            if super::born::is_temp(&raw.name) {
                continue; // an object still being made (see `born`)
            }
            let mut fileid = raw.ino;
            let mut plus_info = None;
            let mut value = None;
            if raw.name == b".." && self.is_root(tag, &da) {
                fileid = da.fileid;
            }
            if can_stat {
                if let Ok((h, a)) = self.entry_plus(&pfd, &da, tag, &raw.name) {
                    fileid = a.fileid;
                    if let Some(n) = xattr {
                        value = self.entry_xattr(&pfd, &da, tag, &raw.name, &a, n);
                    }
                    plus_info = Some((h, a));
                }
            }
            out.push((
                DirEntry {
                    name: raw.name,
                    fileid,
                    cookie: raw.next,
                    plus: plus_info,
                },
                value,
            ));
        }
        if !eof || open.returned.len() > 1 {
            // Also kept at the end: the caller may not fit the whole tail in its reply.
            if let Ok(mut cache) = self.streams.lock() {
                cache.put(dir.as_bytes(), open);
            }
        }
        Ok((out, eof))
    }

    /// Extended attribute `xname` of one entry (already stat'ed as `a`), by name relative to
    /// the directory: one `lgetxattr`, no open. Errors read as absent.
    fn entry_xattr(
        &self,
        dir_fd: &std::os::fd::OwnedFd,
        dir_attr: &Attr,
        tag: u32,
        name: &[u8],
        a: &Attr,
        xname: &str,
    ) -> Option<Vec<u8>> {
        if !matches!(a.kind, FileKind::Regular | FileKind::Directory) {
            return None;
        }
        let r = if name == b"." || name == b".." {
            self.lookup_in(dir_fd, dir_attr, tag, name)
                .ok()
                .and_then(|(fd, _)| sys::getxattr_fd(fd.as_fd(), xname.as_bytes()).ok())
        } else {
            sys::getxattr_at(dir_fd.as_fd(), name, xname.as_bytes()).ok()
        };
        r.flatten()
    }

    /// Handle and attributes of one entry, with no open: `statx` (with the birth time), then
    /// the handle from the generation cache ([`super::gencache`]) when it knows this inode
    /// born at this time, else `name_to_handle_at` (whose generation is then remembered).
    /// `.`/`..` go through the lookup rules (`..` of a root is the root).
    fn entry_plus(
        &self,
        dir_fd: &std::os::fd::OwnedFd,
        dir_attr: &Attr,
        tag: u32,
        name: &[u8],
    ) -> VfsResult<(FileHandle, Attr)> {
        if name == b"." || name == b".." {
            let (fd, a) = self.lookup_in(dir_fd, dir_attr, tag, name)?;
            return Ok((self.handle_of(&fd, tag)?, a));
        }
        let stx = sys::statx_at(
            dir_fd.as_fd(),
            name,
            libc::STATX_BASIC_STATS | libc::STATX_BTIME,
        )?;
        if stx.stx_mask & libc::STATX_BASIC_STATS != libc::STATX_BASIC_STATS {
            // A filesystem that does not fill every basic field: plain fstatat.
            let st = sys::fstatat(dir_fd.as_fd(), name)?;
            if st.st_dev != self.dev {
                return Err(VfsError::Access);
            }
            let kh = sys::name_to_handle(dir_fd.as_fd(), name)?;
            return Ok((self.codec.encode(tag, &kh)?, attr_from_stat(&st)));
        }
        let a = attr_from_statx(&stx);
        if a.fsid != self.dev {
            return Err(VfsError::Access);
        }
        let born = (stx.stx_mask & libc::STATX_BTIME != 0)
            .then_some((stx.stx_btime.tv_sec, stx.stx_btime.tv_nsec));
        let cached = born.and_then(|b| self.gens.handle(a.fileid, b));
        let kh = match cached {
            Some(kh) => kh,
            None => {
                let kh = sys::name_to_handle(dir_fd.as_fd(), name)?;
                if gencache::names_other_inode(a.fileid, &kh) {
                    // The name was replaced between the two calls: these attributes and this
                    // handle are of different files. The client looks the name up instead.
                    return Err(VfsError::Stale);
                }
                if let Some(b) = born {
                    self.gens.remember(a.fileid, b, &kh);
                }
                kh
            }
        };
        Ok((self.codec.encode(tag, &kh)?, a))
    }
}
