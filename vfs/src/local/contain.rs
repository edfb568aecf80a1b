//! Containment of directory handles in the root they were issued under (issue 11, item 2).
//!
//! A handle carries the tag of the export/share root it was reached from, and the kernel
//! re-opens it wherever the object now is. A directory moved out of an inner export through an
//! overlapping outer export (or share) would keep its handle, and `..` from it would walk past
//! the export root, past the backing directory, to `/`. knfsd's `subtree_check` is the
//! reference: on every use of a directory handle (and on every `..`), walk `..` from the
//! directory (`openat(fd, "..")` + `fstat`, never a path) until the root of the handle's tag
//! is met: found first, the directory is inside; the backing root or the filesystem root met
//! first, or the walk too long, the handle is stale ([`VfsError::Stale`], as knfsd answers).
//! The depth found is remembered, so the next check of the same directory is one
//! `fstatat(fd, "../../..")` (the kernel walks the `..` chain; reaching the root that many
//! levels up proves the directory is below it); a miss falls back to the full walk.
//!
//! LOOKUP checks what it opened too: a directory found is checked itself (its depth guessed
//! from its parent's), and for any other object the parent is checked again after the open,
//! so a directory moved out between its check and the open does not hand out a handle.
//!
//! Non-directory handles follow knfsd's `no_subtree_check` semantics (see docs/decisions.md,
//! "Subtree check"): a file handle was issued for an object the client could reach; from a
//! file nothing else can be named, so a file moved out keeps serving only itself.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;

use super::{sys, LocalFs};
use crate::{VfsError, VfsResult};

/// Deepest walk tried (`PATH_MAX` / 2: no reachable directory is deeper).
const MAX_DEPTH: usize = 2048;

/// Deepest depth remembered for the one-call check (`"../" * depth` within `PATH_MAX`).
const MAX_HINT_DEPTH: usize = 1000;

/// Most remembered depths; the map is emptied when full (a miss costs one full walk).
const MAX_HINTS: usize = 8192;

/// `../../..` (`depth` times).
fn dotdots(depth: usize) -> Vec<u8> {
    let mut p = b"..".to_vec();
    for _ in 1..depth {
        p.extend_from_slice(b"/..");
    }
    p
}

/// Depth below its root at which each directory was last found: a hint, never trusted
/// without the `fstatat` that proves it.
#[derive(Default)]
pub(super) struct Depths(Mutex<HashMap<(u32, u64, u64), usize>>);

impl Depths {
    fn get(&self, tag: u32, id: (u64, u64)) -> Option<usize> {
        self.0.lock().ok()?.get(&(tag, id.0, id.1)).copied()
    }

    fn put(&self, tag: u32, id: (u64, u64), depth: usize) {
        if depth > MAX_HINT_DEPTH {
            return;
        }
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= MAX_HINTS {
                m.clear();
            }
            m.insert((tag, id.0, id.1), depth);
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Tests only: skip the walk, to time the calls without it (the "before" figures).
    pub(super) static SKIP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl LocalFs {
    /// Ok when directory `fd` ((dev, ino) = `id`) is the root of `tag` or below it, walking
    /// `..` upwards; [`VfsError::Stale`] when the backing root or `/` is met first.
    pub(super) fn check_contained(&self, fd: &OwnedFd, id: (u64, u64), tag: u32) -> VfsResult<()> {
        #[cfg(test)]
        if SKIP.with(|s| s.get()) {
            return Ok(());
        }
        let root = self
            .roots
            .read()
            .ok()
            .and_then(|r| r.get(&tag).copied())
            .ok_or(VfsError::Stale)?;
        if id == root {
            return Ok(());
        }
        // Fast path: the depth found last time, checked with one `fstatat(fd, "../../..")`.
        // Reaching the root `depth` levels up proves the directory is below it now.
        if let Some(depth) = self.depths.get(tag, id) {
            if self.depth_holds(fd, depth, root) {
                return Ok(());
            }
        }
        let depth = self.walk_up(fd, id, root, tag)?;
        self.depths.put(tag, id, depth);
        Ok(())
    }

    /// [`Self::check_contained`] of a directory `child` just opened in directory `parent`
    /// (itself checked): its depth is first guessed as the parent's plus one.
    pub(super) fn check_child_contained(
        &self,
        child: &OwnedFd,
        id: (u64, u64),
        parent: (u64, u64),
        tag: u32,
    ) -> VfsResult<()> {
        let root = self.roots.read().ok().and_then(|r| r.get(&tag).copied());
        let guess = if Some(parent) == root {
            Some(1)
        } else {
            self.depths.get(tag, parent).map(|d| d.saturating_add(1))
        };
        if let (Some(root), Some(depth)) = (root, guess) {
            if id != root && self.depth_holds(child, depth, root) {
                self.depths.put(tag, id, depth);
                return Ok(());
            }
        }
        self.check_contained(child, id, tag)
    }

    /// One `fstatat(fd, "../../..")`: whether `root` is `depth` levels above `fd`.
    fn depth_holds(&self, fd: &OwnedFd, depth: usize, root: (u64, u64)) -> bool {
        if depth == 0 || depth > MAX_HINT_DEPTH {
            return false;
        }
        sys::fstatat(fd.as_fd(), &dotdots(depth))
            .map(|st| (st.st_dev, st.st_ino) == root)
            .unwrap_or(false)
    }

    /// The full walk, one `openat(..)` at a time; the depth at which `root` is met.
    fn walk_up(
        &self,
        fd: &OwnedFd,
        id: (u64, u64),
        root: (u64, u64),
        tag: u32,
    ) -> VfsResult<usize> {
        let mut cur = id;
        let mut parent: Option<OwnedFd> = None;
        for depth in 1..=MAX_DEPTH {
            if cur == self.backing_id {
                return Err(self.escaped(tag));
            }
            let from = match &parent {
                Some(p) => p.as_fd(),
                None => fd.as_fd(),
            };
            let up = sys::openat(from, b"..", libc::O_PATH | libc::O_DIRECTORY, 0)
                .map_err(|_| VfsError::Stale)?;
            let st = sys::fstat(up.as_fd()).map_err(|_| VfsError::Stale)?;
            let next = (st.st_dev, st.st_ino);
            if next == root {
                return Ok(depth);
            }
            if next == cur {
                return Err(self.escaped(tag)); // the filesystem root
            }
            cur = next;
            parent = Some(up);
        }
        Err(self.escaped(tag))
    }

    fn escaped(&self, tag: u32) -> VfsError {
        tracing::debug!(
            root_tag = tag,
            "directory handle no longer below its root: stale"
        );
        VfsError::Stale
    }
}
