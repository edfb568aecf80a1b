//! What an open needs beyond the connection's `Open` record: where it sits in the namespace
//! (parent handle and name, for delete-on-close and rename), its byte position, the bytes it
//! moved (audit), and the per-file state shared by every open of one object (open count,
//! delete pending).
//!
//! Opens are keyed by (SessionId, FileId): SessionIds are unique in the process, FileIds per
//! connection. Files are keyed by (fsid, inode). Both maps are bounded by the connections'
//! `max_opens`: an entry exists only while its open does ([`forget`] on CLOSE,
//! [`release_session`] when a session goes away).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use shoal_smb_proto::misc::FileId;
use shoal_vfs::{Caller, FileHandle, Vfs};

/// Per-open state.
#[derive(Clone, Debug)]
pub(crate) struct OpenState {
    /// The object.
    pub handle: FileHandle,
    /// (fsid, inode) of the object.
    pub file: (u64, u64),
    pub is_dir: bool,
    /// CurrentByteOffset (FilePositionInformation).
    pub position: u64,
    /// FileModeInformation.
    pub mode: u32,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Path for audit events (`/share-dir/a/b`).
    pub audit_name: String,
    /// Caller that opened it (used for delete-on-close when the session is already gone).
    pub caller: Caller,
    /// Directory enumeration: VFS cookie after the last buffered batch.
    pub dir_cookie: u64,
    /// Directory enumeration: the VFS reported the end.
    pub dir_eof: bool,
    /// Directory enumeration: some entry was returned since the last (re)start.
    pub dir_returned: bool,
}

/// Per-file state shared by its opens.
#[derive(Clone, Debug)]
pub(crate) struct FileState {
    pub opens: usize,
    pub delete_pending: bool,
    /// Where the object is linked (updated by rename); `None` for a share root.
    pub parent: Option<FileHandle>,
    pub name: Vec<u8>,
}

#[derive(Default)]
struct Tables {
    opens: HashMap<(u64, FileId), OpenState>,
    files: HashMap<(u64, u64), FileState>,
    /// FileIds of each session's opens.
    by_session: HashMap<u64, std::collections::HashSet<FileId>>,
}

fn tables() -> MutexGuard<'static, Tables> {
    static T: OnceLock<Mutex<Tables>> = OnceLock::new();
    T.get_or_init(|| Mutex::new(Tables::default()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Records a new open of `file` linked at `parent/name`.
pub(crate) fn insert(
    session: u64,
    id: FileId,
    state: OpenState,
    parent: Option<FileHandle>,
    name: Vec<u8>,
    delete_on_close: bool,
) {
    let mut t = tables();
    let f = t.files.entry(state.file).or_insert(FileState {
        opens: 0,
        delete_pending: false,
        parent: None,
        name: Vec::new(),
    });
    f.opens += 1;
    f.parent = parent;
    f.name = name;
    f.delete_pending |= delete_on_close;
    t.opens.insert((session, id), state);
    t.by_session.entry(session).or_default().insert(id);
}

/// The state of an open.
pub(crate) fn get(session: u64, id: FileId) -> Option<OpenState> {
    tables().opens.get(&(session, id)).cloned()
}

/// Changes an open's state.
pub(crate) fn update(session: u64, id: FileId, f: impl FnOnce(&mut OpenState)) {
    if let Some(o) = tables().opens.get_mut(&(session, id)) {
        f(o);
    }
}

/// The shared state of a file.
pub(crate) fn file(key: (u64, u64)) -> Option<FileState> {
    tables().files.get(&key).cloned()
}

/// Changes a file's shared state.
pub(crate) fn update_file(key: (u64, u64), f: impl FnOnce(&mut FileState)) {
    if let Some(s) = tables().files.get_mut(&key) {
        f(s);
    }
}

/// Where a delete-pending file is linked: parent directory and name.
pub(crate) type Unlink = (FileHandle, Vec<u8>);

/// Removes an open; returns its state and, when it was the last open of a delete-pending
/// file, where to unlink it.
pub(crate) fn forget(session: u64, id: FileId) -> Option<(OpenState, Option<Unlink>)> {
    let mut t = tables();
    let o = t.opens.remove(&(session, id))?;
    if let Some(ids) = t.by_session.get_mut(&session) {
        ids.remove(&id);
        if ids.is_empty() {
            t.by_session.remove(&session);
        }
    }
    let mut unlink = None;
    let last = match t.files.get_mut(&o.file) {
        Some(f) => {
            f.opens = f.opens.saturating_sub(1);
            if f.opens == 0 && f.delete_pending {
                unlink = f.parent.clone().map(|p| (p, f.name.clone()));
            }
            f.opens == 0
        }
        None => false,
    };
    if last {
        t.files.remove(&o.file);
    }
    Some((o, unlink))
}

/// Opens recorded here whose connection no longer has them: those of sessions of `local`
/// (this connection's sessions) missing from `local_open`, and those of sessions that are
/// neither local nor `alive` (established on some connection). They are left behind by
/// TREE_DISCONNECT, LOGOFF and dropped connections, which do not pass through CLOSE.
pub(crate) fn stale(
    local: &dyn Fn(u64) -> bool,
    local_open: &dyn Fn(u64, FileId) -> bool,
    alive: &dyn Fn(u64) -> bool,
) -> Vec<(u64, FileId)> {
    let t = tables();
    let mut out = Vec::new();
    for (s, ids) in &t.by_session {
        if local(*s) {
            out.extend(
                ids.iter()
                    .filter(|id| !local_open(*s, **id))
                    .map(|id| (*s, *id)),
            );
        } else if !alive(*s) {
            out.extend(ids.iter().map(|id| (*s, *id)));
        }
    }
    out
}

/// Forgets `stale` opens, deleting delete-pending files whose last open they were. Blocking.
pub(crate) fn release(vfs: &Arc<dyn Vfs>, stale: &[(u64, FileId)]) {
    for (s, id) in stale {
        if let Some((o, Some((parent, name)))) = forget(*s, *id) {
            let _ = vfs.remove_if_same(&o.caller, &parent, &name, o.file, o.is_dir);
        }
    }
}

/// Closes every open of a session that went away (logoff, disconnect), deleting
/// delete-pending files whose last open it held. Blocking: call from the blocking pool.
pub(crate) fn release_session(vfs: &Arc<dyn Vfs>, session: u64) {
    let ids: Vec<FileId> = tables()
        .opens
        .keys()
        .filter(|(s, _)| *s == session)
        .map(|(_, id)| *id)
        .collect();
    for id in ids {
        if let Some((o, Some((parent, name)))) = forget(session, id) {
            let _ = vfs.remove_if_same(&o.caller, &parent, &name, o.file, o.is_dir);
        }
    }
}
