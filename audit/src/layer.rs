//! [`AuditLayer`]: a [`Vfs`] that delegates to another and emits file events, once for both
//! protocols (NFSv3 has no open/close: its events come only from here; SMB adds open/close and
//! session events through [`crate::Auditor::emit`]).
//!
//! | VFS call | event |
//! |---|---|
//! | `create`, `symlink`, `mknod`, `link` | `create_file` |
//! | `mkdir` | `create_directory` |
//! | `remove` / `rmdir` | `delete_file` / `delete_directory` |
//! | `rename` | `rename_file` / `rename_directory` (`newFileName` set) |
//! | `setattr` changing mode, uid or gid | `set_security_file` / `set_security_directory` |
//! | `read` / `write` | `read_file` / `write_file`, coalesced per file, client, user over `io_coalesce` |
//!
//! Failures are events too (`ntStatus` from [`crate::event::nt_status_of`]), kept or dropped by
//! the zone's `audit_failure` set.
//!
//! **Names.** Calls by handle carry no name, so the layer remembers, for handles it has seen
//! returned by `root`, `lookup`, `create`, `mkdir`, ... , their parent handle and name, in a
//! bounded two-generation map (at most `2 × capacity` entries; the older generation is dropped
//! when the newer fills). `fileName` is the path from the backing store root (`/export/a/b`)
//! when the whole chain is known, `…/b` when only the last components are, and `#<inode>` when
//! nothing is.
//!
//! **Guaranteed mode.** Before an audited call the layer refuses with [`refused`] when the log
//! cannot be written ([`crate::Auditor::accepting`]); after a successful call whose event
//! cannot be made durable it returns [`refused`] too (the change has happened; the client is
//! told it failed, and the failure is in the server log).

use std::cell::Cell;
use std::io;
use std::sync::Arc;

use shoal_vfs::{
    Attr, Caller, CreateHow, DirEntry, DirEntryXattr, FileHandle, FileKind, FsStat, SetAttr,
    Timespec, Vfs, VfsError, VfsResult, WriteStability, SECURITY_DESCRIPTOR_XATTR,
};

use crate::auditor::{AuditError, Auditor, IoKey};
use crate::config::FailureMode;
use crate::event::{nt_status_of, unix_user_sid, AuditEvent, EventName};
pub use crate::names::join_normalized;
use crate::names::{NameCache, Node};

/// The cause inside [`refused`].
#[derive(Debug, thiserror::Error)]
#[error("audit log unavailable: operation refused (guaranteed mode)")]
pub struct AuditRefused;

/// The error an operation gets when its event cannot be made durable in guaranteed mode:
/// `VfsError::Io` (so NFS answers NFS3ERR_IO) carrying [`AuditRefused`]; SMB should test it
/// with [`is_refusal`] and answer STATUS_ACCESS_DENIED.
pub fn refused() -> VfsError {
    VfsError::Io(io::Error::other(AuditRefused))
}

/// True for the error of [`refused`].
pub fn is_refusal(err: &VfsError) -> bool {
    match err {
        VfsError::Io(e) => e.get_ref().is_some_and(|inner| inner.is::<AuditRefused>()),
        _ => false,
    }
}

/// SMB request details the layer cannot see through the VFS (desired access, create
/// disposition), set by the SMB crate around the VFS call of a CREATE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// MS-SMB2 2.2.13 DesiredAccess.
    pub desired_access: Option<u32>,
    /// MS-SMB2 2.2.13 CreateDisposition.
    pub create_disposition: Option<u32>,
}

thread_local! {
    static CONTEXT: Cell<RequestContext> = const { Cell::new(RequestContext { desired_access: None, create_disposition: None }) };
}

/// Runs `f` with `ctx` visible to the [`AuditLayer`] on this thread (VFS calls are synchronous,
/// so wrap the `spawn_blocking` body).
pub fn with_request_context<R>(ctx: RequestContext, f: impl FnOnce() -> R) -> R {
    let prev = CONTEXT.with(|c| c.replace(ctx));
    let r = f();
    CONTEXT.with(|c| c.set(prev));
    r
}

/// SMB CreateDisposition values used for NFS creates.
const FILE_CREATE: u32 = 2;
const FILE_OPEN_IF: u32 = 3;

type SidResolver = Arc<dyn Fn(u32) -> Option<String> + Send + Sync>;

/// Emits audit events for the calls it delegates to `V`.
pub struct AuditLayer<V> {
    inner: V,
    auditor: Arc<Auditor>,
    names: NameCache,
    sid_of: Option<SidResolver>,
}

impl<V: Vfs> AuditLayer<V> {
    /// Wraps `inner`; names of up to 2 × 100,000 handles are remembered.
    pub fn new(inner: V, auditor: Arc<Auditor>) -> AuditLayer<V> {
        AuditLayer::with_name_capacity(inner, auditor, 100_000)
    }

    /// Wraps `inner` with a given name-cache capacity (per generation).
    pub fn with_name_capacity(inner: V, auditor: Arc<Auditor>, capacity: usize) -> AuditLayer<V> {
        AuditLayer {
            inner,
            auditor,
            names: NameCache::new(capacity),
            sid_of: None,
        }
    }

    /// Sets the identity mapping used for `userSID` when the caller carries no SID
    /// (NFS): uid → SID. Without it, or when it returns `None`, `S-1-22-1-<uid>`.
    pub fn with_sid_resolver(
        mut self,
        f: impl Fn(u32) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.sid_of = Some(Arc::new(f));
        self
    }

    /// The wrapped VFS.
    pub fn inner(&self) -> &V {
        &self.inner
    }

    /// The auditor.
    pub fn auditor(&self) -> &Arc<Auditor> {
        &self.auditor
    }

    fn on(&self) -> bool {
        self.auditor.enabled()
    }

    fn precheck(&self) -> VfsResult<()> {
        if self.auditor.accepting() {
            Ok(())
        } else {
            Err(refused())
        }
    }

    fn remember(&self, dir: &FileHandle, name: &[u8], h: &FileHandle, attr: &Attr) {
        self.names.insert(
            h,
            Node {
                parent: Some(dir.clone()),
                name: name.to_vec(),
                inode: attr.fileid,
                is_dir: attr.kind == FileKind::Directory,
            },
        );
    }

    /// The path of `name` in `dir`, normalized: `.` is `dir`, `..` its parent (`dir` itself
    /// at an export root, as the VFS resolves it), and a name that is not one component
    /// (which no VFS call accepts, but a failure is logged too) never climbs above `dir`.
    fn child_path(&self, dir: &FileHandle, name: &[u8]) -> String {
        if name == b".." {
            if let Some(parent) = self.names.get(dir).and_then(|n| n.parent) {
                return self.names.path(&parent).unwrap_or_else(|| "…".to_string());
            }
        }
        let base = self.names.path(dir).unwrap_or_else(|| "…".to_string());
        let name = String::from_utf8_lossy(name);
        join_normalized(&base, &name)
    }

    fn handle_path(&self, h: &FileHandle, inode: Option<u64>) -> String {
        self.names.path(h).unwrap_or_else(|| {
            match inode.or_else(|| self.names.get(h).map(|n| n.inode)) {
                Some(i) => format!("#{i}"),
                None => "#?".to_string(),
            }
        })
    }

    fn event(&self, name: EventName, caller: &Caller, file: String) -> AuditEvent {
        let mut e = AuditEvent::new(name, caller).with_file(file);
        if caller.sid.is_none() {
            if let Some(sid) = self.sid_of.as_ref().and_then(|f| f(caller.uid)) {
                e.user_sid = sid;
            } else {
                e.user_sid = unix_user_sid(caller.uid);
            }
        }
        let ctx = CONTEXT.with(Cell::get);
        if ctx.desired_access.is_some() {
            e.desired_access = ctx.desired_access;
        }
        if ctx.create_disposition.is_some() {
            e.create_dispo = ctx.create_disposition;
        }
        e
    }

    /// Emits; in guaranteed mode a successful result whose event is not durable becomes
    /// [`refused`]. A failed result is returned as is.
    fn finish<T>(&self, res: VfsResult<T>, event: AuditEvent) -> VfsResult<T> {
        let event = match &res {
            Ok(_) => event,
            Err(e) => event.with_status(nt_status_of(e)),
        };
        let out = self.auditor.emit(event);
        self.settle(res, out)
    }

    /// [`Self::finish`] for an operation with several events: all are emitted; the
    /// operation is refused (guaranteed mode) if any is not durable.
    fn finish_all<T>(&self, res: VfsResult<T>, events: Vec<AuditEvent>) -> VfsResult<T> {
        let status = res.as_ref().err().map(nt_status_of);
        let mut out = Ok(());
        for e in events {
            let e = match status {
                Some(st) => e.with_status(st),
                None => e,
            };
            let r = self.auditor.emit(e);
            if out.is_ok() {
                out = r;
            }
        }
        self.settle(res, out)
    }

    fn settle<T>(&self, res: VfsResult<T>, out: Result<(), AuditError>) -> VfsResult<T> {
        match (res, out) {
            (Ok(v), Ok(())) => Ok(v),
            (Ok(v), Err(e)) => {
                if self.auditor.mode() == FailureMode::Guaranteed {
                    tracing::error!(error = %e, "audit event not durable: operation reported as failed");
                    Err(refused())
                } else {
                    Ok(v)
                }
            }
            (Err(e), _) => Err(e),
        }
    }

    fn created(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        event: EventName,
        dispo: u32,
        res: VfsResult<(FileHandle, Attr)>,
    ) -> VfsResult<(FileHandle, Attr)> {
        let mut e = self.event(event, caller, self.child_path(dir, name));
        if e.create_dispo.is_none() {
            e.create_dispo = Some(dispo);
        }
        if let Ok((h, a)) = &res {
            self.remember(dir, name, h, a);
            e.inode = Some(a.fileid);
        }
        self.finish(res, e)
    }

    /// Looks a name up before it disappears (remove, rename) to learn its kind and inode.
    fn peek(&self, caller: &Caller, dir: &FileHandle, name: &[u8]) -> Option<(FileHandle, Attr)> {
        self.inner.lookup(caller, dir, name).ok()
    }
}

impl<V: Vfs> Vfs for AuditLayer<V> {
    fn root(&self, relative: &str) -> VfsResult<FileHandle> {
        let h = self.inner.root(relative)?;
        let trimmed = relative.trim_matches('/');
        let path = if trimmed.is_empty() || trimmed == "." {
            "/".to_string()
        } else {
            format!("/{trimmed}")
        };
        self.names.insert(
            &h,
            Node {
                parent: None,
                name: path.into_bytes(),
                inode: 0,
                is_dir: true,
            },
        );
        Ok(h)
    }

    fn is_within(&self, handle: &FileHandle, root: &FileHandle) -> bool {
        self.inner.is_within(handle, root)
    }

    fn getattr(&self, caller: &Caller, handle: &FileHandle) -> VfsResult<Attr> {
        self.inner.getattr(caller, handle)
    }

    fn setattr(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        set: &SetAttr,
        guard_ctime: Option<Timespec>,
    ) -> VfsResult<Attr> {
        let security = set.mode.is_some() || set.uid.is_some() || set.gid.is_some();
        let resize = set.size.is_some();
        if !self.on() || !(security || resize) {
            return self.inner.setattr(caller, handle, set, guard_ctime);
        }
        self.precheck()?;
        let res = self.inner.setattr(caller, handle, set, guard_ctime);
        let known = self.names.get(handle);
        let is_dir = match &res {
            Ok(a) => a.kind == FileKind::Directory,
            Err(_) => known.as_ref().is_some_and(|n| n.is_dir),
        };
        let inode = res
            .as_ref()
            .ok()
            .map(|a| a.fileid)
            .or(known.map(|n| n.inode));
        let path = self.handle_path(handle, inode);
        let mut events = Vec::with_capacity(2);
        if security {
            let name = if is_dir {
                EventName::SetSecurityDirectory
            } else {
                EventName::SetSecurityFile
            };
            let mut e = self.event(name, caller, path.clone());
            e.inode = inode;
            events.push(e);
        }
        if let Some(size) = set.size {
            // A size change (truncation above all: NFS SETATTR size, SMB SET_INFO
            // EndOfFile/AllocationSize, CREATE OVERWRITE/SUPERSEDE) changes content: it is a
            // `write_file`, never coalesced, with no bytes written and the new size.
            let mut e = self.event(EventName::WriteFile, caller, path);
            e.inode = inode;
            e.bytes_written = Some(0);
            e.new_size = Some(res.as_ref().map_or(size, |a| a.size));
            events.push(e);
        }
        self.finish_all(res, events)
    }

    fn lookup(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
    ) -> VfsResult<(FileHandle, Attr)> {
        let res = self.inner.lookup(caller, dir, name)?;
        if self.on() && name != b"." && name != b".." {
            self.remember(dir, name, &res.0, &res.1);
        }
        Ok(res)
    }

    fn access(&self, caller: &Caller, handle: &FileHandle, mask: u32) -> VfsResult<(u32, Attr)> {
        self.inner.access(caller, handle, mask)
    }

    fn readlink(&self, caller: &Caller, handle: &FileHandle) -> VfsResult<Vec<u8>> {
        self.inner.readlink(caller, handle)
    }

    fn read(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        offset: u64,
        count: u32,
    ) -> VfsResult<(Vec<u8>, bool, Attr)> {
        if !self.on() {
            return self.inner.read(caller, handle, offset, count);
        }
        self.precheck()?;
        let res = self.inner.read(caller, handle, offset, count);
        match &res {
            Ok((data, _, attr)) => {
                let mut e = self.event(
                    EventName::ReadFile,
                    caller,
                    self.handle_path(handle, Some(attr.fileid)),
                );
                e.inode = Some(attr.fileid);
                let key = IoKey {
                    inode: attr.fileid,
                    client: e.client_ip_addr.clone(),
                    uid: caller.uid,
                    write: false,
                };
                let out = self.auditor.emit_io(key, e, data.len() as u64);
                self.settle(res, out)
            }
            Err(_) => {
                let mut e = self.event(EventName::ReadFile, caller, self.handle_path(handle, None));
                e.inode = self.names.get(handle).map(|n| n.inode);
                e.bytes_read = Some(0);
                self.finish(res, e)
            }
        }
    }

    fn write(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        offset: u64,
        data: &[u8],
        stability: WriteStability,
    ) -> VfsResult<(u32, WriteStability, Attr)> {
        if !self.on() {
            return self.inner.write(caller, handle, offset, data, stability);
        }
        self.precheck()?;
        let res = self.inner.write(caller, handle, offset, data, stability);
        match &res {
            Ok((n, _, attr)) => {
                let mut e = self.event(
                    EventName::WriteFile,
                    caller,
                    self.handle_path(handle, Some(attr.fileid)),
                );
                e.inode = Some(attr.fileid);
                let key = IoKey {
                    inode: attr.fileid,
                    client: e.client_ip_addr.clone(),
                    uid: caller.uid,
                    write: true,
                };
                let out = self.auditor.emit_io(key, e, u64::from(*n));
                self.settle(res, out)
            }
            Err(_) => {
                let mut e =
                    self.event(EventName::WriteFile, caller, self.handle_path(handle, None));
                e.inode = self.names.get(handle).map(|n| n.inode);
                e.bytes_written = Some(0);
                self.finish(res, e)
            }
        }
    }

    fn create(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        how: &CreateHow,
    ) -> VfsResult<(FileHandle, Attr)> {
        if !self.on() {
            return self.inner.create(caller, dir, name, how);
        }
        self.precheck()?;
        // NFS CREATE UNCHECKED with a size on an existing file sets its size (RFC 1813
        // 3.3.8): a truncation, audited as a write with the new size like SETATTR.
        let resized = match how {
            CreateHow::Unchecked(set) if set.size.is_some() => self
                .peek(caller, dir, name)
                .filter(|(_, a)| a.kind == FileKind::Regular),
            _ => None,
        };
        let res = self.inner.create(caller, dir, name, how);
        let dispo = if matches!(how, CreateHow::Unchecked(_)) {
            FILE_OPEN_IF
        } else {
            FILE_CREATE
        };
        let res = self.created(caller, dir, name, EventName::CreateFile, dispo, res);
        match (resized, &res) {
            (Some((_, before)), Ok((h, a))) if a.fileid == before.fileid => {
                let mut e = self.event(
                    EventName::WriteFile,
                    caller,
                    self.handle_path(h, Some(a.fileid)),
                );
                e.inode = Some(a.fileid);
                e.bytes_written = Some(0);
                e.new_size = Some(a.size);
                self.finish(res, e)
            }
            _ => res,
        }
    }

    fn mkdir(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)> {
        if !self.on() {
            return self.inner.mkdir(caller, dir, name, set);
        }
        self.precheck()?;
        let res = self.inner.mkdir(caller, dir, name, set);
        self.created(
            caller,
            dir,
            name,
            EventName::CreateDirectory,
            FILE_CREATE,
            res,
        )
    }

    fn symlink(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        target: &[u8],
        set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)> {
        if !self.on() {
            return self.inner.symlink(caller, dir, name, target, set);
        }
        self.precheck()?;
        let res = self.inner.symlink(caller, dir, name, target, set);
        self.created(caller, dir, name, EventName::CreateFile, FILE_CREATE, res)
    }

    fn mknod(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        kind: FileKind,
        rdev: (u32, u32),
        set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)> {
        if !self.on() {
            return self.inner.mknod(caller, dir, name, kind, rdev, set);
        }
        self.precheck()?;
        let res = self.inner.mknod(caller, dir, name, kind, rdev, set);
        self.created(caller, dir, name, EventName::CreateFile, FILE_CREATE, res)
    }

    fn remove(&self, caller: &Caller, dir: &FileHandle, name: &[u8]) -> VfsResult<()> {
        if !self.on() {
            return self.inner.remove(caller, dir, name);
        }
        self.precheck()?;
        let before = self.peek(caller, dir, name);
        let res = self.inner.remove(caller, dir, name);
        let mut e = self.event(EventName::DeleteFile, caller, self.child_path(dir, name));
        if let Some((h, a)) = before {
            e.inode = Some(a.fileid);
            if res.is_ok() {
                self.names.forget(&h);
            }
        }
        self.finish(res, e)
    }

    fn rmdir(&self, caller: &Caller, dir: &FileHandle, name: &[u8]) -> VfsResult<()> {
        if !self.on() {
            return self.inner.rmdir(caller, dir, name);
        }
        self.precheck()?;
        let before = self.peek(caller, dir, name);
        let res = self.inner.rmdir(caller, dir, name);
        let mut e = self.event(
            EventName::DeleteDirectory,
            caller,
            self.child_path(dir, name),
        );
        if let Some((h, a)) = before {
            e.inode = Some(a.fileid);
            if res.is_ok() {
                self.names.forget(&h);
            }
        }
        self.finish(res, e)
    }

    fn remove_if_same(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        object: (u64, u64),
        is_dir: bool,
    ) -> VfsResult<()> {
        if !self.on() {
            return self.inner.remove_if_same(caller, dir, name, object, is_dir);
        }
        self.precheck()?;
        let before = self.peek(caller, dir, name);
        let res = self.inner.remove_if_same(caller, dir, name, object, is_dir);
        let event = if is_dir {
            EventName::DeleteDirectory
        } else {
            EventName::DeleteFile
        };
        let mut e = self.event(event, caller, self.child_path(dir, name));
        e.inode = Some(object.1);
        if let Some((h, _)) = before {
            if res.is_ok() {
                self.names.forget(&h);
            }
        }
        self.finish(res, e)
    }

    fn rename(
        &self,
        caller: &Caller,
        from_dir: &FileHandle,
        from_name: &[u8],
        to_dir: &FileHandle,
        to_name: &[u8],
    ) -> VfsResult<()> {
        if !self.on() {
            return self
                .inner
                .rename(caller, from_dir, from_name, to_dir, to_name);
        }
        self.precheck()?;
        let before = self.peek(caller, from_dir, from_name);
        let res = self
            .inner
            .rename(caller, from_dir, from_name, to_dir, to_name);
        let is_dir = before
            .as_ref()
            .is_some_and(|(_, a)| a.kind == FileKind::Directory);
        let name = if is_dir {
            EventName::RenameDirectory
        } else {
            EventName::RenameFile
        };
        let mut e = self.event(name, caller, self.child_path(from_dir, from_name));
        e.new_file_name = Some(self.child_path(to_dir, to_name));
        if let Some((h, a)) = &before {
            e.inode = Some(a.fileid);
            if res.is_ok() {
                self.remember(to_dir, to_name, h, a);
            }
        }
        self.finish(res, e)
    }

    fn link(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        dir: &FileHandle,
        name: &[u8],
    ) -> VfsResult<Attr> {
        if !self.on() {
            return self.inner.link(caller, handle, dir, name);
        }
        self.precheck()?;
        let res = self.inner.link(caller, handle, dir, name);
        let mut e = self.event(EventName::CreateFile, caller, self.child_path(dir, name));
        e.create_dispo = e.create_dispo.or(Some(FILE_CREATE));
        if let Ok(a) = &res {
            e.inode = Some(a.fileid);
        }
        self.finish(res, e)
    }

    fn readdir(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        cookie: u64,
        max: usize,
        plus: bool,
    ) -> VfsResult<(Vec<DirEntry>, bool)> {
        let res = self.inner.readdir(caller, dir, cookie, max, plus)?;
        if self.on() && plus {
            for ent in &res.0 {
                if let Some((h, a)) = &ent.plus {
                    if ent.name != b"." && ent.name != b".." {
                        self.remember(dir, &ent.name, h, a);
                    }
                }
            }
        }
        Ok(res)
    }

    fn fsstat(&self, caller: &Caller, handle: &FileHandle) -> VfsResult<FsStat> {
        self.inner.fsstat(caller, handle)
    }

    fn commit(&self, caller: &Caller, handle: &FileHandle) -> VfsResult<Attr> {
        self.inner.commit(caller, handle)
    }

    /// Preallocation changes no content or metadata a file event reports: delegated as is.
    fn allocate(&self, caller: &Caller, handle: &FileHandle, len: u64) -> VfsResult<Attr> {
        self.inner.allocate(caller, handle, len)
    }

    fn readdir_with_xattr(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        cookie: u64,
        max: usize,
        name: &str,
    ) -> VfsResult<(Vec<DirEntryXattr>, bool)> {
        let res = self
            .inner
            .readdir_with_xattr(caller, dir, cookie, max, name)?;
        if self.on() {
            for (ent, _) in &res.0 {
                if let Some((h, a)) = &ent.plus {
                    if ent.name != b"." && ent.name != b".." {
                        self.remember(dir, &ent.name, h, a);
                    }
                }
            }
        }
        Ok(res)
    }

    fn get_xattr(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        name: &str,
    ) -> VfsResult<Option<Vec<u8>>> {
        self.inner.get_xattr(caller, handle, name)
    }

    /// Storing an SMB security descriptor ([`SECURITY_DESCRIPTOR_XATTR`]) is a
    /// `set_security_file` / `set_security_directory` event. Other attributes pass through
    /// unaudited: the other writer is SMB storing DOS attributes and the creation time
    /// (`user.DOSATTRIB`), which the audit event schema has no event for (the READONLY bit
    /// still changes the mode through `setattr`, which is audited).
    fn set_xattr(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        name: &str,
        value: Option<&[u8]>,
    ) -> VfsResult<()> {
        if !self.on() || name != SECURITY_DESCRIPTOR_XATTR {
            return self.inner.set_xattr(caller, handle, name, value);
        }
        self.precheck()?;
        let res = self.inner.set_xattr(caller, handle, name, value);
        let known = self.names.get(handle);
        let (is_dir, inode) = match &known {
            Some(n) => (n.is_dir, Some(n.inode)),
            None => match self.inner.getattr(caller, handle) {
                Ok(a) => (a.kind == FileKind::Directory, Some(a.fileid)),
                Err(_) => (false, None),
            },
        };
        let event = if is_dir {
            EventName::SetSecurityDirectory
        } else {
            EventName::SetSecurityFile
        };
        let mut e = self.event(event, caller, self.handle_path(handle, inode));
        e.inode = inode;
        self.finish(res, e)
    }

    fn write_verifier(&self) -> [u8; 8] {
        self.inner.write_verifier()
    }
}
