//! The [`Auditor`]: filters events, assigns ids and timestamps, hands them to the log writer
//! thread (group commit), waits for durability in guaranteed mode, coalesces reads/writes, and
//! runs one forwarder thread per sink and topic.
//!
//! Emitting never waits on a sink. In best-effort mode it never waits on the disk either,
//! except for room in a full queue (at most `queue_wait`, then the event is dropped, counted
//! and logged). In guaranteed mode `emit` returns once the event is on disk (`fdatasync`), or
//! fails.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{AuditConfig, FailureMode, ZoneAudit};
use crate::event::{AuditEvent, Topic};
use crate::filter::Filters;
use crate::log::writer::LogWriter;
use crate::log::{self};
use crate::time::now_us;

/// Why an event was not logged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Best effort: the queue stayed full; the event was dropped (counted, logged).
    #[error("audit queue full: event dropped")]
    Dropped,
    /// The log could not be written or synced.
    #[error("audit event could not be made durable")]
    NotDurable,
    /// The auditor is shutting down.
    #[error("auditor shut down")]
    ShutDown,
}

/// Counters (since start).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AuditStats {
    /// Events written and synced.
    pub logged: u64,
    /// Events filtered out by zone settings.
    pub filtered: u64,
    /// Events dropped (best effort, queue full) or lost to a failed write.
    pub dropped: u64,
    /// Batches whose write or sync failed.
    pub failed_batches: u64,
}

#[derive(Default)]
struct Counters {
    logged: AtomicU64,
    filtered: AtomicU64,
    dropped: AtomicU64,
    failed_batches: AtomicU64,
}

struct Pending {
    topic: Topic,
    id: u64,
    flags: u32,
    event: AuditEvent,
}

struct Queue {
    items: VecDeque<Pending>,
    next_id: [u64; 2],
    last_ts: [i64; 2],
    stopping: bool,
}

#[derive(Default)]
struct Durable {
    /// Highest id the writer has dealt with (written or failed), per topic.
    processed: [u64; 2],
    /// Highest id written and synced, per topic (ids of failed batches are absent from the
    /// log but may be below it).
    durable: [u64; 2],
    /// Recent failed id ranges (topic, first, last).
    failed: VecDeque<(usize, u64, u64)>,
    writer_done: bool,
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct IoKey {
    pub inode: u64,
    pub client: String,
    pub uid: u32,
    pub write: bool,
}

struct IoWindow {
    started: Instant,
    pending_bytes: u64,
    follow_up: AuditEvent,
}

const COALESCE_MAX_ENTRIES: usize = 100_000;
const MAX_BATCH: usize = 65_536;

fn ti(t: Topic) -> usize {
    match t {
        Topic::Protocol => 0,
        Topic::Config => 1,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind: keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) struct Inner {
    pub(crate) cfg: AuditConfig,
    filters: RwLock<Filters>,
    queue: Mutex<Queue>,
    queue_cv: Condvar,
    space_cv: Condvar,
    durable: Mutex<Durable>,
    durable_cv: Condvar,
    counters: Counters,
    healthy: AtomicBool,
    pub(crate) stopping: AtomicBool,
    fail_writes: AtomicBool,
    coalesce: Mutex<HashMap<IoKey, IoWindow>>,
}

/// The audit service of one node. Cheap to share (`Arc`); all methods take `&self`.
pub struct Auditor {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Auditor {
    /// Opens (recovering) the log under `<log_dir>/<node>/`, starts the writer thread and one
    /// forwarder thread per sink and topic. When `cfg.enabled` is false nothing is opened and
    /// `emit` is a no-op.
    pub fn start(cfg: AuditConfig) -> io::Result<Arc<Auditor>> {
        let filters = Filters::new(&cfg);
        let mut writers = Vec::new();
        let mut next_id = [1u64; 2];
        let mut last_ts = [0i64; 2];
        if cfg.enabled {
            for t in Topic::ALL {
                let dir = log::topic_dir(&cfg.log_dir, &cfg.node, t);
                let (w, rec) = LogWriter::open(&dir, cfg.segment_bytes)?;
                next_id[ti(t)] = rec.last_id + 1;
                last_ts[ti(t)] = rec.last_ts;
                tracing::info!(topic = %t, last_id = rec.last_id, truncated = rec.truncated, "audit log opened");
                writers.push(w);
            }
        }
        let inner = Arc::new(Inner {
            filters: RwLock::new(filters),
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                next_id,
                last_ts,
                stopping: false,
            }),
            queue_cv: Condvar::new(),
            space_cv: Condvar::new(),
            durable: Mutex::new(Durable {
                processed: [next_id[0] - 1, next_id[1] - 1],
                durable: [next_id[0] - 1, next_id[1] - 1],
                ..Durable::default()
            }),
            durable_cv: Condvar::new(),
            counters: Counters::default(),
            healthy: AtomicBool::new(true),
            stopping: AtomicBool::new(false),
            fail_writes: AtomicBool::new(false),
            coalesce: Mutex::new(HashMap::new()),
            cfg,
        });
        let auditor = Arc::new(Auditor {
            inner: inner.clone(),
            threads: Mutex::new(Vec::new()),
        });
        if !inner.cfg.enabled {
            return Ok(auditor);
        }
        let mut threads = Vec::new();
        let w_inner = inner.clone();
        threads.push(
            std::thread::Builder::new()
                .name("audit-writer".into())
                .spawn(move || writer_loop(&w_inner, writers))?,
        );
        for sink in &inner.cfg.sinks {
            for &topic in &sink.topics {
                threads.push(crate::forward::spawn(inner.clone(), sink.clone(), topic)?);
            }
        }
        *lock(&auditor.threads) = threads;
        Ok(auditor)
    }

    /// The settings it runs with.
    pub fn config(&self) -> &AuditConfig {
        &self.inner.cfg
    }

    /// True when auditing is on.
    pub fn enabled(&self) -> bool {
        self.inner.cfg.enabled
    }

    /// Failure mode.
    pub fn mode(&self) -> FailureMode {
        self.inner.cfg.mode
    }

    /// Logs an event (topic from its name). Fills `id`, `timestamp`, `node`, `zoneName`.
    /// Filtered events return `Ok`. Guaranteed mode: returns once durable.
    pub fn emit(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.inner.emit(event, true)
    }

    /// Queues an event without waiting for queue space or durability (session events: see
    /// `smb_session`). Filtered events return `Ok`.
    pub(crate) fn emit_detached(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.inner.emit(event, false)
    }

    /// Logs a `config_change` event: `who` changed `what` (e.g.
    /// `audit.zones[System].audit_success: [create_file] -> [all]`).
    pub fn emit_config(&self, who: &str, what: &str) -> Result<(), AuditError> {
        self.emit(AuditEvent::config_change(who, what))
    }

    /// Audits a config: compares `text` (TOML) with the config text this node ran with last
    /// (`<log_dir>/<node>/last-config.toml`) and logs one `config_change` event per changed
    /// key, `who` (e.g. `root (config file /etc/shoal.toml)`) as `userName`. The first config
    /// ever seen is logged as one event `(initial config)`. Returns the number of events.
    pub fn audit_config_text(&self, who: &str, text: &str) -> io::Result<usize> {
        if !self.enabled() {
            return Ok(0);
        }
        let new: toml::Value =
            toml::from_str(text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let path = self
            .inner
            .cfg
            .log_dir
            .join(&self.inner.cfg.node)
            .join("last-config.toml");
        let changes = match std::fs::read_to_string(&path) {
            Ok(old) => match toml::from_str::<toml::Value>(&old) {
                Ok(old) => crate::config_audit::diff(&old, &new),
                Err(_) => vec!["(previous config unreadable) -> config replaced".to_string()],
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => vec!["(initial config)".to_string()],
            Err(e) => return Err(e),
        };
        for c in &changes {
            self.emit_config(who, c).map_err(io::Error::other)?;
        }
        if !changes.is_empty() {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, &path)?;
        }
        Ok(changes.len())
    }

    /// Guaranteed mode: false while the log cannot be written, so callers refuse operations
    /// before doing them. Always true in best-effort mode.
    pub fn accepting(&self) -> bool {
        self.inner.cfg.mode == FailureMode::BestEffort || self.inner.healthy.load(Ordering::Acquire)
    }

    /// Replaces the per-zone filters (after a config change).
    pub fn set_zones(&self, zones: Vec<ZoneAudit>) {
        let mut cfg = self.inner.cfg.clone();
        cfg.zones = zones;
        *self
            .inner
            .filters
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Filters::new(&cfg);
    }

    /// Counters.
    pub fn stats(&self) -> AuditStats {
        let c = &self.inner.counters;
        AuditStats {
            logged: c.logged.load(Ordering::Relaxed),
            filtered: c.filtered.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            failed_batches: c.failed_batches.load(Ordering::Relaxed),
        }
    }

    /// Highest id of `topic` that is durable.
    pub fn durable_id(&self, topic: Topic) -> u64 {
        lock(&self.inner.durable).durable[ti(topic)]
    }

    /// Waits until every event emitted so far is durable (or `timeout`); true if so.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.inner.flush_coalesced(true);
        let target = {
            let q = lock(&self.inner.queue);
            [q.next_id[0] - 1, q.next_id[1] - 1]
        };
        let deadline = Instant::now() + timeout;
        let mut d = lock(&self.inner.durable);
        while d.processed[0] < target[0] || d.processed[1] < target[1] {
            let now = Instant::now();
            if now >= deadline || d.writer_done {
                return false;
            }
            d = self
                .inner
                .durable_cv
                .wait_timeout(d, deadline - now)
                .map(|r| r.0)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        true
    }

    /// Test hook: make every log write fail (simulates a full or broken disk).
    #[doc(hidden)]
    pub fn inject_write_failures(&self, on: bool) {
        self.inner.fail_writes.store(on, Ordering::Release);
    }

    /// Read/write events, coalesced per (file, client, user, direction) over
    /// `io_coalesce`: the first I/O of a window is logged at once (durably in guaranteed
    /// mode) with its own byte count; later ones in the window only add to a follow-up event,
    /// logged when the window closes, carrying the bytes of the rest of the window.
    pub(crate) fn emit_io(
        &self,
        key: IoKey,
        event: AuditEvent,
        bytes: u64,
    ) -> Result<(), AuditError> {
        let window = self.inner.cfg.io_coalesce;
        if window.is_zero() {
            return self.emit(with_bytes(event, key.write, bytes));
        }
        let mut expired = None;
        {
            let mut map = lock(&self.inner.coalesce);
            let now = Instant::now();
            match map.get_mut(&key) {
                Some(w) if now.duration_since(w.started) < window => {
                    w.pending_bytes += bytes;
                    return Ok(());
                }
                Some(_) => expired = map.remove(&key),
                None => {}
            }
            if map.len() >= COALESCE_MAX_ENTRIES {
                drop(map);
                self.inner.flush_coalesced(true);
                map = lock(&self.inner.coalesce);
            }
            map.insert(
                key.clone(),
                IoWindow {
                    started: now,
                    pending_bytes: 0,
                    follow_up: event.clone(),
                },
            );
        }
        if let Some(w) = expired {
            if w.pending_bytes > 0 {
                let _ = self
                    .inner
                    .emit(with_bytes(w.follow_up, key.write, w.pending_bytes), false);
            }
        }
        self.emit(with_bytes(event, key.write, bytes))
    }

    /// Flushes coalesced I/O, drains the queue to disk, stops forwarders (each finishes or
    /// abandons its current send; cursors stay where delivery was confirmed). Idempotent.
    pub fn shutdown(&self) {
        if !self.inner.cfg.enabled {
            return;
        }
        self.inner.flush_coalesced(true);
        self.inner.stopping.store(true, Ordering::Release);
        {
            let mut q = lock(&self.inner.queue);
            q.stopping = true;
        }
        self.inner.queue_cv.notify_all();
        self.inner.space_cv.notify_all();
        self.inner.durable_cv.notify_all();
        let threads = std::mem::take(&mut *lock(&self.threads));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Auditor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn with_bytes(mut e: AuditEvent, write: bool, bytes: u64) -> AuditEvent {
    if write {
        e.bytes_written = Some(bytes);
    } else {
        e.bytes_read = Some(bytes);
    }
    e
}

impl Inner {
    fn emit(&self, mut event: AuditEvent, wait: bool) -> Result<(), AuditError> {
        if !self.cfg.enabled {
            return Ok(());
        }
        let topic = event.name().map_or(Topic::Protocol, |n| n.topic());
        let flags = {
            let f = self.filters.read().unwrap_or_else(|p| p.into_inner());
            match f.decide(topic, &event) {
                Some(flags) => {
                    event.zone_name = f.zone_name(event.zone_id);
                    flags
                }
                None => {
                    self.counters.filtered.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
            }
        };
        event.node.clone_from(&self.cfg.node);
        let guaranteed = self.cfg.mode == FailureMode::Guaranteed;
        let mut q = lock(&self.queue);
        if q.stopping {
            return Err(AuditError::ShutDown);
        }
        if wait && q.items.len() >= self.cfg.queue_capacity {
            let deadline = Instant::now()
                + if guaranteed {
                    Duration::from_secs(30)
                } else {
                    self.cfg.queue_wait
                };
            while q.items.len() >= self.cfg.queue_capacity && !q.stopping {
                let now = Instant::now();
                if now >= deadline {
                    drop(q);
                    return Err(self.dropped());
                }
                q = self
                    .space_cv
                    .wait_timeout(q, deadline - now)
                    .map(|r| r.0)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
        }
        let t = ti(topic);
        let id = q.next_id[t];
        q.next_id[t] += 1;
        let ts = now_us().max(q.last_ts[t]);
        q.last_ts[t] = ts;
        event.id = id;
        event.timestamp = ts;
        q.items.push_back(Pending {
            topic,
            id,
            flags,
            event,
        });
        drop(q);
        self.queue_cv.notify_one();
        if !(guaranteed && wait) {
            return Ok(());
        }
        let mut d = lock(&self.durable);
        loop {
            if d.processed[t] >= id {
                let failed = d
                    .failed
                    .iter()
                    .any(|&(ft, lo, hi)| ft == t && (lo..=hi).contains(&id));
                return if failed {
                    Err(AuditError::NotDurable)
                } else {
                    Ok(())
                };
            }
            if d.writer_done {
                return Err(AuditError::NotDurable);
            }
            d = self
                .durable_cv
                .wait_timeout(d, Duration::from_secs(1))
                .map(|r| r.0)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    fn dropped(&self) -> AuditError {
        let n = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(
                dropped = n,
                "audit: queue full, events dropped (best effort)"
            );
        }
        AuditError::Dropped
    }

    /// Emits follow-up events of closed coalescing windows (`all`: of every window).
    fn flush_coalesced(&self, all: bool) {
        let window = self.cfg.io_coalesce;
        let done: Vec<(IoKey, IoWindow)> = {
            let mut map = lock(&self.coalesce);
            if map.is_empty() {
                return;
            }
            let now = Instant::now();
            let keys: Vec<IoKey> = map
                .iter()
                .filter(|(_, w)| all || now.duration_since(w.started) >= window)
                .map(|(k, _)| k.clone())
                .collect();
            keys.into_iter()
                .filter_map(|k| map.remove(&k).map(|w| (k, w)))
                .collect()
        };
        for (k, w) in done {
            if w.pending_bytes > 0 {
                let _ = self.emit(with_bytes(w.follow_up, k.write, w.pending_bytes), false);
            }
        }
    }

    pub(crate) fn durable_id(&self, topic: Topic) -> u64 {
        lock(&self.durable).durable[ti(topic)]
    }

    /// Waits up to `timeout` for the durable id of `topic` to pass `seen` (or shutdown).
    pub(crate) fn wait_durable(&self, topic: Topic, seen: u64, timeout: Duration) -> u64 {
        let d = lock(&self.durable);
        let t = ti(topic);
        if d.durable[t] > seen || self.stopping.load(Ordering::Acquire) {
            return d.durable[t];
        }
        let d = self
            .durable_cv
            .wait_timeout(d, timeout)
            .map(|r| r.0)
            .unwrap_or_else(|p| p.into_inner().0);
        d.durable[t]
    }

    /// Sleeps up to `d`, waking early on shutdown. True when shutting down.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut g = lock(&self.durable);
        loop {
            if self.stopping.load(Ordering::Acquire) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self
                .durable_cv
                .wait_timeout(g, (deadline - now).min(Duration::from_millis(200)))
                .map(|r| r.0)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

fn free_space_ok(dir: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    rc == 0 && (st.f_bavail as u64).saturating_mul(st.f_frsize as u64) > 4 << 20
}

/// Every ~200 ms: close coalescing windows, probe a failed log, apply retention (every minute).
fn housekeeping(inner: &Inner, writers: &mut [LogWriter], last_retention: &mut Option<Instant>) {
    inner.flush_coalesced(false);
    if !inner.healthy.load(Ordering::Acquire)
        && !inner.fail_writes.load(Ordering::Acquire)
        && free_space_ok(&inner.cfg.log_dir)
    {
        inner.healthy.store(true, Ordering::Release);
        tracing::info!("audit log writable again");
    }
    if !matches!(last_retention, Some(t) if t.elapsed() < Duration::from_secs(60)) {
        *last_retention = Some(Instant::now());
        let cutoff = now_us() - i64::try_from(inner.cfg.retention.as_micros()).unwrap_or(i64::MAX);
        for w in writers.iter_mut() {
            if let Err(e) = w.apply_retention(cutoff) {
                tracing::warn!(error = %e, "audit log retention failed");
            }
        }
    }
}

fn writer_loop(inner: &Inner, mut writers: Vec<LogWriter>) {
    let mut last_retention = None;
    let mut last_tick = Instant::now();
    housekeeping(inner, &mut writers, &mut last_retention);
    let mut payload = Vec::with_capacity(1024);
    loop {
        let batch: Vec<Pending> = {
            let mut q = lock(&inner.queue);
            while q.items.is_empty() && !q.stopping {
                let (g, to) = inner
                    .queue_cv
                    .wait_timeout(q, Duration::from_millis(200))
                    .unwrap_or_else(|p| p.into_inner());
                q = g;
                if to.timed_out() {
                    break;
                }
            }
            if q.items.is_empty() && q.stopping {
                break;
            }
            let n = q.items.len().min(MAX_BATCH);
            q.items.drain(..n).collect()
        };
        inner.space_cv.notify_all();
        if last_tick.elapsed() >= Duration::from_millis(200) {
            last_tick = Instant::now();
            housekeeping(inner, &mut writers, &mut last_retention);
        }
        if batch.is_empty() {
            continue;
        }
        let mut range: [Option<(u64, u64)>; 2] = [None, None];
        for p in &batch {
            let t = ti(p.topic);
            payload.clear();
            if serde_json::to_writer(&mut payload, &p.event).is_err() {
                continue;
            }
            writers[t].push(p.id, p.event.timestamp, p.flags, &payload);
            range[t] = Some(match range[t] {
                Some((lo, _)) => (lo, p.id),
                None => (p.id, p.id),
            });
        }
        let mut outcome = [true; 2];
        for (t, w) in writers.iter_mut().enumerate() {
            let Some((_, hi)) = range[t] else { continue };
            let res = if inner.fail_writes.load(Ordering::Acquire) {
                w.discard();
                Err(io::Error::other("injected audit write failure"))
            } else {
                w.flush().and_then(|()| w.sync(hi + 1))
            };
            if let Err(e) = res {
                outcome[t] = false;
                inner.healthy.store(false, Ordering::Release);
                inner
                    .counters
                    .failed_batches
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "audit log write failed");
            }
        }
        {
            let mut d = lock(&inner.durable);
            for t in 0..2 {
                let Some((lo, hi)) = range[t] else { continue };
                d.processed[t] = hi;
                let n = batch.iter().filter(|p| ti(p.topic) == t).count() as u64;
                if outcome[t] {
                    d.durable[t] = hi;
                    inner.counters.logged.fetch_add(n, Ordering::Relaxed);
                } else {
                    d.failed.push_back((t, lo, hi));
                    if d.failed.len() > 1024 {
                        d.failed.pop_front();
                    }
                    let total = inner.counters.dropped.fetch_add(n, Ordering::Relaxed) + n;
                    tracing::warn!(lost = n, total, "audit: events lost to a failed log write");
                }
            }
        }
        inner.durable_cv.notify_all();
        if outcome.iter().all(|&o| o)
            && !inner.healthy.load(Ordering::Acquire)
            && !inner.fail_writes.load(Ordering::Acquire)
        {
            inner.healthy.store(true, Ordering::Release);
        }
    }
    let mut d = lock(&inner.durable);
    d.writer_done = true;
    drop(d);
    inner.durable_cv.notify_all();
}
