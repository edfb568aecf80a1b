//! [`LockManager`]: the API both protocols call. Every method does its check and the change
//! it guards in one [`LockStore::with_file`] call, under the file's lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use super::brl::ByteLock;
use super::events::{EventSink, LockEvent, OplockLevel, SinkId};
use super::lease::{self, Granted, IoKind};
use super::share;
use super::store::{FileRecord, LockStore, MemoryStore, OpenRecord};
use super::{share_access, FileKey, Link, OpenId};
use crate::VfsError;

/// Limits and timers (each a key of `[locks]` in the config; docs/limits.md).
#[derive(Clone, Debug)]
pub struct LockConfig {
    /// This node's id, carried in every [`OpenId`].
    pub node: u32,
    /// How long a break may go unacknowledged before the waiting open proceeds as if it had
    /// been (MS-SMB2 3.3.2.1 oplock break acknowledgment timer; Windows and Samba: 35 s).
    pub break_timeout: Duration,
    /// Most byte-range locks one open may hold.
    pub max_locks_per_open: usize,
    /// Most requests parked on one file (blocked locks, opens waiting for a break).
    pub max_waiters_per_file: usize,
}

impl Default for LockConfig {
    fn default() -> LockConfig {
        LockConfig {
            node: 0,
            break_timeout: Duration::from_secs(35),
            max_locks_per_open: 4096,
            max_waiters_per_file: 1024,
        }
    }
}

/// A parked request: the sink to wake and the token it chose (unique per sink).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    /// The connection.
    pub sink: SinkId,
    /// Its token (SMB: the AsyncId of the parked request).
    pub token: u64,
}

/// An open to admit.
#[derive(Clone, Debug)]
pub struct OpenRequest<'a> {
    /// The file.
    pub key: FileKey,
    /// The connection that will hold the open.
    pub sink: SinkId,
    /// Granted access (after generic mapping).
    pub access: u32,
    /// ShareAccess.
    pub share: u32,
    /// FILE_DELETE_ON_CLOSE.
    pub delete_on_close: bool,
    /// The object is a directory.
    pub is_dir: bool,
    /// The CREATE overwrites or supersedes (breaks all caching of others).
    pub overwrite: bool,
    /// Where the object is linked (for the unlink at the last close of a delete-pending file).
    pub link: Option<&'a Link>,
    /// Its path from the backing store's root, lowercase, `/`-separated
    /// ([`OpenRecord::path`]).
    pub path: Option<&'a str>,
    /// Oplock or lease asked for.
    pub caching: &'a lease::Request,
    /// Where to park when a break must be waited for; `None`: fail with
    /// [`VfsError::WouldBlock`] without parking.
    pub waiter: Option<Waiter>,
}

/// An admitted open.
#[derive(Clone, Debug)]
pub struct OpenGrant {
    /// Its id (close and lock with it).
    pub id: OpenId,
    /// The oplock or lease granted.
    pub granted: Granted,
}

/// What a close leaves to do.
#[derive(Clone, Debug, Default)]
pub struct CloseOutcome {
    /// The file is delete pending and this was its last open: unlink it here (with
    /// `Vfs::remove_if_same`, so a new object under the name is left alone).
    pub unlink: Option<Link>,
    /// This was the last open of the file.
    pub last: bool,
}

/// What an NFS request is about to do to a file (NFSv3 has no opens: each request is checked
/// against the SMB opens, byte-range locks and leases of the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NfsIntent {
    /// READ of [offset, offset+len).
    Read {
        /// First byte.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// WRITE of [offset, offset+len).
    Write {
        /// First byte.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// SETATTR of the size (truncate or extend), or CREATE UNCHECKED over an existing file.
    Truncate,
    /// REMOVE, or RENAME of or over the file.
    Namespace,
}

/// The lock manager (one per process, shared by SMB and NFS).
pub struct LockManager {
    config: LockConfig,
    store: Arc<dyn LockStore>,
    sinks: DashMap<SinkId, Arc<dyn EventSink>>,
    /// Which file each lease is on (a lease acknowledgment names only client and key).
    lease_files: DashMap<([u8; 16], [u8; 16]), FileKey>,
    next_open: AtomicU64,
    next_sink: AtomicU64,
}

impl std::fmt::Debug for LockManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockManager")
            .field("config", &self.config)
            .field("files", &self.store.len())
            .finish()
    }
}

impl LockManager {
    /// A manager over `store`.
    pub fn new(config: LockConfig, store: Arc<dyn LockStore>) -> LockManager {
        LockManager {
            config,
            store,
            sinks: DashMap::new(),
            lease_files: DashMap::new(),
            next_open: AtomicU64::new(1),
            next_sink: AtomicU64::new(1),
        }
    }

    /// A single-node manager keeping its records in memory.
    pub fn in_memory(config: LockConfig) -> Arc<LockManager> {
        Arc::new(LockManager::new(config, Arc::new(MemoryStore::new())))
    }

    /// Its configuration.
    pub fn config(&self) -> &LockConfig {
        &self.config
    }

    /// Registers where a connection's events go.
    pub fn register_sink(&self, sink: Arc<dyn EventSink>) -> SinkId {
        let id = SinkId(self.next_sink.fetch_add(1, Ordering::Relaxed));
        self.sinks.insert(id, sink);
        id
    }

    /// Forgets a sink (its connection ended; its opens must have been closed).
    pub fn unregister_sink(&self, id: SinkId) {
        self.sinks.remove(&id);
    }

    fn deliver(&self, events: Vec<(SinkId, LockEvent)>) {
        for (sink, ev) in events {
            let sent = self.sinks.get(&sink).is_some_and(|s| s.send(ev.clone()));
            if !sent {
                tracing::debug!(?sink, ?ev, "lock event not delivered");
            }
        }
    }

    /// Wakes every request parked on `file` (each retries and parks again if it must).
    fn wake_all(&self, file: &mut FileRecord) {
        let events = file
            .waiters
            .drain(..)
            .map(|w| (w.sink, LockEvent::Wake { token: w.token }))
            .collect();
        self.deliver(events);
    }

    /// Completes breaks older than the break timeout as if acknowledged, waking the requests
    /// parked on the file when any was.
    fn expire(&self, file: &mut FileRecord, now: Instant) {
        if lease::expire(file, now, self.config.break_timeout) {
            self.wake_all(file);
        }
    }

    fn park(&self, file: &mut FileRecord, waiter: Option<Waiter>) -> VfsError {
        let Some(w) = waiter else {
            return VfsError::WouldBlock;
        };
        if file.waiters.contains(&w) {
            return VfsError::WouldBlock;
        }
        if file.waiters.len() >= self.config.max_waiters_per_file {
            return VfsError::NoResources;
        }
        file.waiters.push(w);
        VfsError::WouldBlock
    }

    /// Admits an open: delete pending, a lease key already used on another file, oplock and
    /// lease breaks (parking the request with `req.waiter` when it must wait for them:
    /// [`VfsError::WouldBlock`]), share access, then records it with what it is granted.
    /// One call, under the file's lock.
    ///
    /// The breaks are decided before the share-mode verdict and knowing it, as Samba does: a
    /// sharing violation takes handle caching from the holders and waits for them, so a
    /// client that kept a handle open only for caching (batch oplock, H lease) can close it
    /// and the retried open succeeds; without a sharing violation write caching is taken.
    pub fn open(&self, req: &OpenRequest<'_>) -> Result<OpenGrant, VfsError> {
        if let lease::Request::Lease(l) = req.caching {
            // MS-SMB2 3.3.5.9.8: a lease key names one file per client.
            if let Some(k) = self.lease_files.get(&(l.client, l.key)) {
                if *k != req.key {
                    return Err(VfsError::Invalid);
                }
            }
        }
        let now = Instant::now();
        let mut out = Err(VfsError::WouldBlock);
        let mut events = Vec::new();
        self.store.with_file(req.key, &mut |file| {
            self.expire(file, now);
            if file.delete_pending {
                out = Err(VfsError::DeletePending);
                return;
            }
            let sharing_violation = !file
                .opens
                .iter()
                .all(|o| share::compatible(req.access, req.share, o.access, o.share));
            let id = OpenId {
                node: self.config.node,
                seq: self.next_open.fetch_add(1, Ordering::Relaxed),
            };
            let new = lease::NewOpen {
                id,
                sink: req.sink,
                access: req.access,
                share: req.share,
                is_dir: req.is_dir,
                overwrite: req.overwrite,
                sharing_violation,
                request: req.caching,
            };
            let adm = lease::admit(file, req.key, &new, now);
            events = adm.events;
            if adm.wait {
                tracing::debug!(
                    key = ?req.key,
                    sink = ?req.sink,
                    breaks = events.len(),
                    parked = req.waiter.is_some(),
                    "open waits for a break"
                );
                out = Err(self.park(file, req.waiter));
                return;
            }
            if sharing_violation {
                // Nothing to wait for: no holder of the conflicting opens caches handles.
                tracing::debug!(
                    key = ?req.key,
                    sink = ?req.sink,
                    access = req.access,
                    share = req.share,
                    opens = ?file
                        .opens
                        .iter()
                        .map(|o| (o.sink, o.access, o.share, o.delete_on_close, &o.held))
                        .collect::<Vec<_>>(),
                    "open refused: sharing violation"
                );
                out = Err(VfsError::SharingViolation);
                return;
            }
            let (held, granted) = lease::grant(file, &new);
            if let lease::Held::Lease { client, key } = &held {
                self.lease_files.insert((*client, *key), req.key);
            }
            file.opens.push(OpenRecord {
                id,
                sink: req.sink,
                access: req.access,
                share: req.share,
                delete_on_close: req.delete_on_close,
                is_dir: req.is_dir,
                held,
                path: req.path.map(Arc::from),
                link: req.link.cloned(),
            });
            out = Ok(OpenGrant { id, granted });
        });
        self.deliver(events);
        out
    }

    /// Closes an open: drops its byte-range locks and its share of a lease, marks the file
    /// delete pending if the open was delete-on-close, wakes parked requests, and says
    /// whether the file must be unlinked now.
    pub fn close(&self, key: FileKey, id: OpenId) -> CloseOutcome {
        let mut out = CloseOutcome::default();
        self.store.with_file(key, &mut |file| {
            let Some(i) = file.opens.iter().position(|o| o.id == id) else {
                return;
            };
            let rec = file.opens.remove(i);
            file.locks.release_open(id);
            lease::on_close(file, &rec);
            if let lease::Held::Lease { client, key: lk } = &rec.held {
                if !file
                    .leases
                    .leases
                    .iter()
                    .any(|l| l.client == *client && l.key == *lk)
                {
                    self.lease_files.remove(&(*client, *lk));
                }
            }
            if rec.delete_on_close && !file.delete_pending {
                file.delete_pending = true;
                file.link = rec.link.clone();
            }
            out.last = file.opens.is_empty();
            if out.last && file.delete_pending {
                out.unlink = file.link.take();
                file.delete_pending = false;
            }
            self.wake_all(file);
        });
        out
    }

    /// True when the file is delete pending (new opens fail with DELETE_PENDING).
    pub fn is_delete_pending(&self, key: FileKey) -> bool {
        let mut p = false;
        self.store.peek(key, &mut |f| p = f.delete_pending);
        p
    }

    /// What FileStandardInformation.DeletePending reports through open `id`: the file is
    /// delete pending, or this open will make it so when it closes.
    pub fn delete_pending_for(&self, key: FileKey, id: OpenId) -> bool {
        let mut p = false;
        self.store.peek(key, &mut |f| {
            p = f.delete_pending || f.opens.iter().any(|o| o.id == id && o.delete_on_close);
        });
        p
    }

    /// FileDispositionInformation through open `id`: sets or clears the file's delete-pending
    /// state (MS-FSA 2.1.5.14.3). Fails when `id` is not an open of `key`.
    pub fn set_delete_pending(
        &self,
        key: FileKey,
        id: OpenId,
        pending: bool,
    ) -> Result<(), VfsError> {
        let mut out = Err(VfsError::Stale);
        self.store.with_file(key, &mut |file| {
            if let Some(o) = file.opens.iter().find(|o| o.id == id) {
                file.link = if pending { o.link.clone() } else { None };
                file.delete_pending = pending;
                out = Ok(());
            }
        });
        out
    }

    /// Where open `id` named the file and whether the file is delete pending; `None` when
    /// `id` is not an open of `key`.
    pub fn link_of(&self, key: FileKey, id: OpenId) -> Option<(Option<Link>, bool)> {
        let mut out = None;
        self.store.peek(key, &mut |f| {
            if let Some(o) = f.opens.iter().find(|o| o.id == id) {
                out = Some((o.link.clone(), f.delete_pending));
            }
        });
        out
    }

    /// Open `id` renamed the file: every open that named the same link (parent and name) now
    /// names `link`, and (when given) has the new path. Opens through other hard links keep
    /// theirs.
    pub fn relink(&self, key: FileKey, id: OpenId, link: Link, path: Option<&str>) {
        let path: Option<Arc<str>> = path.map(Arc::from);
        self.store.with_file(key, &mut |file| {
            let Some(old) = file
                .opens
                .iter()
                .find(|o| o.id == id)
                .map(|o| o.link.clone())
            else {
                return;
            };
            for o in &mut file.opens {
                if o.link == old {
                    o.link = Some(link.clone());
                    if let Some(p) = &path {
                        o.path = Some(p.clone());
                    }
                }
            }
            if file.delete_pending && file.link == old {
                file.link = Some(link.clone());
            }
        });
    }

    /// True when some open names an object below the directory `dir` (a path as in
    /// [`OpenRecord::path`]): Windows refuses to rename or delete a directory then. Scans
    /// every record (rare: directory renames only).
    pub fn open_below(&self, dir: &str) -> bool {
        let dir = dir.trim_end_matches('/');
        self.store.any(&mut |f| {
            f.opens.iter().any(|o| {
                o.path.as_deref().is_some_and(|p| {
                    p.len() > dir.len() + 1
                        && p.starts_with(dir)
                        && p.as_bytes().get(dir.len()) == Some(&b'/')
                })
            })
        })
    }

    /// Would an open with (`access`, `share`) pass the share-mode check against the opens
    /// of `key` now? For implicit opens that are not recorded, e.g. the parent directory of
    /// a rename (Windows opens it for DELETE without FILE_SHARE_DELETE).
    pub fn check_share(&self, key: FileKey, access: u32, share: u32) -> Result<(), VfsError> {
        let mut ok = true;
        self.store.peek(key, &mut |f| {
            ok = f
                .opens
                .iter()
                .all(|o| share::compatible(access, share, o.access, o.share));
        });
        if ok {
            Ok(())
        } else {
            Err(VfsError::SharingViolation)
        }
    }

    /// True when some open of the file other than `except` exists (rename of an open
    /// directory's children, and similar checks).
    pub fn has_other_opens(&self, key: FileKey, except: Option<OpenId>) -> bool {
        let mut any = false;
        self.store.peek(key, &mut |f| {
            any = f.opens.iter().any(|o| Some(o.id) != except)
        });
        any
    }

    /// Locks the ranges `locks` (all held by one open) in order; on a conflict the ones this
    /// call took are released again and the request is parked with `waiter` (blocking lock:
    /// [`VfsError::WouldBlock`]) or fails with [`VfsError::LockNotGranted`].
    pub fn lock(
        &self,
        key: FileKey,
        locks: &[ByteLock],
        waiter: Option<Waiter>,
    ) -> Result<(), VfsError> {
        let mut out = Ok(());
        let mut events = Vec::new();
        self.store.with_file(key, &mut |file| {
            let mark = file.locks.len();
            // A byte-range lock ends read caching, the locker's level II oplock included
            // (smbtorture smb2.oplock.brl1 "a self BRL acquisition should break to none",
            // smb2.lease.lock1); nobody waits for it.
            if let Some(first) = locks.first() {
                if lease::caching(file) {
                    events = lease::break_for_io(
                        file,
                        key,
                        IoKind::Write,
                        Some(first.open),
                        Instant::now(),
                    )
                    .0;
                }
            }
            for l in locks {
                if !file.opens.iter().any(|o| o.id == l.open) {
                    out = Err(VfsError::Stale);
                } else {
                    out = file.locks.lock(*l, self.config.max_locks_per_open);
                }
                if let Err(e) = &out {
                    // Not `unlock`: that would take a stacked older exclusive lock first.
                    file.locks.rollback(mark);
                    if matches!(e, VfsError::LockNotGranted) && waiter.is_some() {
                        out = Err(self.park(file, waiter));
                    }
                    return;
                }
            }
        });
        self.deliver(events);
        out
    }

    /// Unlocks one lock of `open`; wakes blocked lock requests of the file.
    pub fn unlock(&self, key: FileKey, open: OpenId, start: u64, len: u64) -> Result<(), VfsError> {
        let mut out = Ok(());
        self.store.with_file(key, &mut |file| {
            out = file.locks.unlock(open, start, len).map(|_| ());
            if out.is_ok() {
                self.wake_all(file);
            }
        });
        out
    }

    /// The READ/WRITE check of an SMB open against byte-range locks
    /// ([`VfsError::LockConflict`]); a WRITE also breaks other opens' read caching (level II
    /// oplocks, R leases: no acknowledgment is waited for).
    pub fn check_io(
        &self,
        key: FileKey,
        open: OpenId,
        offset: u64,
        len: u64,
        write: bool,
    ) -> Result<(), VfsError> {
        let mut out = Ok(());
        let mut needs_break = false;
        self.store.peek(key, &mut |f| {
            out = f.locks.check_io(Some(open), offset, len, write);
            needs_break = write && lease::caching(f);
        });
        if out.is_ok() && needs_break {
            let mut events = Vec::new();
            self.store.with_file(key, &mut |file| {
                events =
                    lease::break_for_io(file, key, IoKind::Write, Some(open), Instant::now()).0;
            });
            self.deliver(events);
        }
        out
    }

    /// The check before an NFS request touches a file: SMB share modes (an SMB open that does
    /// not share write refuses NFS writes, ...: [`VfsError::SharingViolation`]), byte-range
    /// locks ([`VfsError::LockConflict`]), and oplock/lease breaks, which are started here;
    /// while one is outstanding the answer is [`VfsError::WouldBlock`] (NFS3ERR_JUKEBOX: the
    /// client retries).
    pub fn nfs_access(&self, key: FileKey, intent: NfsIntent) -> Result<(), VfsError> {
        let mut present = false;
        self.store.peek(key, &mut |_| present = true);
        if !present {
            return Ok(());
        }
        let now = Instant::now();
        let mut out = Ok(());
        let mut events = Vec::new();
        self.store.with_file(key, &mut |file| {
            self.expire(file, now);
            let (needed_share, kind) = match intent {
                NfsIntent::Read { .. } => (share_access::READ, IoKind::Read),
                NfsIntent::Write { .. } | NfsIntent::Truncate => {
                    (share_access::WRITE, IoKind::Write)
                }
                NfsIntent::Namespace => (share_access::DELETE, IoKind::Namespace),
            };
            let (evs, wait) = lease::break_for_io(file, key, kind, None, now);
            events = evs;
            if wait {
                out = Err(VfsError::WouldBlock);
                return;
            }
            if file
                .opens
                .iter()
                .any(|o| o.access & share::DATA_ACCESS != 0 && o.share & needed_share == 0)
            {
                out = Err(VfsError::SharingViolation);
                return;
            }
            out = match intent {
                NfsIntent::Read { offset, len } => file.locks.check_io(None, offset, len, false),
                NfsIntent::Write { offset, len } => file.locks.check_io(None, offset, len, true),
                NfsIntent::Truncate | NfsIntent::Namespace => Ok(()),
            };
        });
        self.deliver(events);
        out
    }

    /// Breaks other opens' caching before `by` changes the file in a way an open does not
    /// announce: a rename or delete-on-close through `by` ([`IoKind::Namespace`]: handle
    /// caching goes), a size change ([`IoKind::Write`]). When a holder must acknowledge first
    /// the request is parked with `waiter` ([`VfsError::WouldBlock`]) and retried on wake-up.
    pub fn break_caching(
        &self,
        key: FileKey,
        kind: IoKind,
        by: Option<OpenId>,
        waiter: Option<Waiter>,
    ) -> Result<(), VfsError> {
        let now = Instant::now();
        let mut out = Ok(());
        let mut events = Vec::new();
        self.store.with_file(key, &mut |file| {
            self.expire(file, now);
            let (evs, wait) = lease::break_for_io(file, key, kind, by, now);
            events = evs;
            if wait {
                out = Err(self.park(file, waiter));
            }
        });
        self.deliver(events);
        out
    }

    /// An oplock break acknowledgment (SMB OPLOCK_BREAK from the holder): the level now held.
    pub fn ack_oplock(
        &self,
        key: FileKey,
        open: OpenId,
        level: OplockLevel,
    ) -> Result<OplockLevel, VfsError> {
        let mut out = Err(VfsError::Stale);
        let mut events = Vec::new();
        self.store.with_file(key, &mut |file| {
            if !file.opens.iter().any(|o| o.id == open) {
                return;
            }
            // A refused acknowledgment ends the oplock too: parked opens retry either way.
            out = lease::ack_oplock(file, key, open, level).map(|(l, evs)| {
                events = evs;
                l
            });
            self.wake_all(file);
        });
        self.deliver(events);
        out
    }

    /// A lease break acknowledgment: the state now held.
    pub fn ack_lease(
        &self,
        client: [u8; 16],
        lease_key: [u8; 16],
        state: u32,
    ) -> Result<u32, VfsError> {
        let Some(key) = self.lease_files.get(&(client, lease_key)).map(|k| *k) else {
            return Err(VfsError::NotFound);
        };
        let now = Instant::now();
        let mut out = Err(VfsError::NotFound);
        let mut events = Vec::new();
        self.store.with_file(key, &mut |file| {
            // Parked requests retry once no break of the lease is in progress any more.
            out = lease::ack_lease(file, key, client, lease_key, state, now).map(|a| {
                events = a.events;
                if a.settled {
                    self.wake_all(file);
                }
                a.state
            });
        });
        self.deliver(events);
        out
    }

    /// A parked request was cancelled or its connection went away.
    pub fn cancel_wait(&self, key: FileKey, waiter: Waiter) {
        self.store
            .with_file(key, &mut |file| file.waiters.retain(|w| *w != waiter));
    }

    /// A parked request reached its deadline: breaks older than the timeout are completed
    /// as if acknowledged (and parked requests woken).
    pub fn expire_breaks(&self, key: FileKey) {
        let now = Instant::now();
        self.store.with_file(key, &mut |file| {
            self.expire(file, now);
        });
    }

    /// Number of files with records (tests, admin views).
    pub fn file_count(&self) -> usize {
        self.store.len()
    }

    /// Requests parked on `key` (tests, admin views).
    pub fn waiters_of(&self, key: FileKey) -> Vec<Waiter> {
        let mut v = Vec::new();
        self.store.peek(key, &mut |f| v = f.waiters.clone());
        v
    }

    /// Opens of `key` (tests, admin views).
    pub fn opens_of(&self, key: FileKey) -> Vec<OpenRecord> {
        let mut v = Vec::new();
        self.store.peek(key, &mut |f| v = f.opens.clone());
        v
    }
}
