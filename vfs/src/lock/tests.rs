//! Lock manager behaviour (share modes, delete pending, byte ranges, parked waiters, NFS
//! checks) and the store cost measurement behind docs/decisions.md.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::brl::ByteLock;
use super::lease::Request;
use super::*;
use crate::{FileHandle, VfsError};

/// Records every event it is sent.
#[derive(Default)]
struct Collect(Mutex<Vec<LockEvent>>);

impl EventSink for Collect {
    fn send(&self, event: LockEvent) -> bool {
        self.0.lock().unwrap().push(event);
        true
    }
}

fn key(n: u64) -> FileKey {
    FileKey { fsid: 1, ino: n }
}

fn link(name: &str) -> Link {
    Link {
        parent: FileHandle::from_bytes(b"dir").unwrap(),
        name: name.as_bytes().to_vec(),
    }
}

/// The link every test open names.
fn link_f() -> &'static Link {
    static L: std::sync::OnceLock<Link> = std::sync::OnceLock::new();
    L.get_or_init(|| link("f"))
}

fn req<'a>(
    k: FileKey,
    sink: SinkId,
    access: u32,
    share: u32,
    none: &'a Request,
) -> OpenRequest<'a> {
    OpenRequest {
        key: k,
        sink,
        access,
        share,
        delete_on_close: false,
        is_dir: false,
        overwrite: false,
        link: Some(link_f()),
        path: None,
        caching: none,
        waiter: None,
    }
}

/// Two opens of file 1 for writing, sharing everything.
fn two_writers(m: &LockManager, s: SinkId, none: &Request) -> (OpenGrant, OpenGrant) {
    let w = || {
        m.open(&req(key(1), s, access::WRITE_DATA, share_access::ALL, none))
            .unwrap()
    };
    (w(), w())
}

#[test]
fn share_modes_are_checked_against_every_open() {
    let m = LockManager::in_memory(LockConfig::default());
    let s = m.register_sink(Arc::new(Collect::default()));
    let none = Request::None;
    let a = m
        .open(&req(
            key(1),
            s,
            access::READ_DATA,
            share_access::READ,
            &none,
        ))
        .unwrap();
    // A writer is refused: the first open does not share write.
    assert!(matches!(
        m.open(&req(
            key(1),
            s,
            access::WRITE_DATA,
            share_access::ALL,
            &none
        )),
        Err(VfsError::SharingViolation)
    ));
    // Another reader that shares read is let in; a different file is unaffected.
    m.open(&req(
        key(1),
        s,
        access::READ_DATA,
        share_access::READ,
        &none,
    ))
    .unwrap();
    m.open(&req(key(2), s, access::WRITE_DATA, 0, &none))
        .unwrap();
    assert_eq!(m.opens_of(key(1)).len(), 2);
    let out = m.close(key(1), a.id);
    assert!(!out.last && out.unlink.is_none());
}

#[test]
fn delete_on_close_marks_the_open_until_it_closes() {
    let m = LockManager::in_memory(LockConfig::default());
    let s = m.register_sink(Arc::new(Collect::default()));
    let none = Request::None;
    let mut r = req(key(1), s, access::DELETE, share_access::ALL, &none);
    r.delete_on_close = true;
    let doc = m.open(&r).unwrap();
    // Other opens still succeed while the marked open is open.
    let other = m
        .open(&req(key(1), s, access::READ_DATA, share_access::ALL, &none))
        .unwrap();
    assert!(m.delete_pending_for(key(1), doc.id));
    assert!(!m.delete_pending_for(key(1), other.id));
    // Its close makes the file delete pending: new opens fail, the last close unlinks.
    let out = m.close(key(1), doc.id);
    assert!(out.unlink.is_none());
    assert!(matches!(
        m.open(&req(key(1), s, access::READ_DATA, share_access::ALL, &none)),
        Err(VfsError::DeletePending)
    ));
    let out = m.close(key(1), other.id);
    assert!(out.last);
    assert_eq!(out.unlink, Some(link("f")));
    assert_eq!(m.file_count(), 0);
}

#[test]
fn opens_below_a_directory_are_found_by_path() {
    let m = LockManager::in_memory(LockConfig::default());
    let s = m.register_sink(Arc::new(Collect::default()));
    let none = Request::None;
    let mut r = req(key(1), s, access::READ_DATA, share_access::ALL, &none);
    r.path = Some("/share/dir/sub/f.txt");
    let o = m.open(&r).unwrap();
    assert!(m.open_below("/share/dir"));
    assert!(m.open_below("/share/dir/sub/"));
    assert!(
        !m.open_below("/share/di"),
        "a prefix of a name is not a parent"
    );
    assert!(
        !m.open_below("/share/dir/sub/f.txt"),
        "the object itself is not below it"
    );
    // A rename moves every open's path.
    m.relink(key(1), o.id, link("g.txt"), Some("/share/other/g.txt"));
    assert!(!m.open_below("/share/dir"));
    assert!(m.open_below("/share/other"));
    m.close(key(1), o.id);
    assert!(!m.open_below("/share/other"));
}

#[test]
fn delete_on_close_removes_the_link_its_open_named() {
    // Two hard links of one file, each opened by name; the open through "a" is
    // delete-on-close, the open through "b" closes last: "a" goes, not "b".
    let m = LockManager::in_memory(LockConfig::default());
    let s = m.register_sink(Arc::new(Collect::default()));
    let none = Request::None;
    let (la, lb) = (link("a"), link("b"));
    let mut ra = req(key(1), s, access::DELETE, share_access::ALL, &none);
    ra.link = Some(&la);
    ra.delete_on_close = true;
    let a = m.open(&ra).unwrap();
    let mut rb = req(key(1), s, access::READ_DATA, share_access::ALL, &none);
    rb.link = Some(&lb);
    let b = m.open(&rb).unwrap();
    assert_eq!(m.link_of(key(1), b.id), Some((Some(lb.clone()), false)));
    assert!(m.close(key(1), a.id).unlink.is_none());
    assert_eq!(m.close(key(1), b.id).unlink, Some(la.clone()));
    // A rename through one link moves only the opens of that link.
    let a = m
        .open(&req(key(2), s, access::DELETE, share_access::ALL, &none))
        .unwrap();
    let mut rb = req(key(2), s, access::READ_DATA, share_access::ALL, &none);
    rb.link = Some(&lb);
    let b = m.open(&rb).unwrap();
    m.relink(key(2), a.id, link("moved"), None);
    assert_eq!(
        m.link_of(key(2), a.id).and_then(|l| l.0),
        Some(link("moved"))
    );
    assert_eq!(m.link_of(key(2), b.id).and_then(|l| l.0), Some(lb));
}

#[test]
fn disposition_can_be_set_and_cleared() {
    let m = LockManager::in_memory(LockConfig::default());
    let s = m.register_sink(Arc::new(Collect::default()));
    let none = Request::None;
    let o = m
        .open(&req(key(1), s, access::DELETE, share_access::ALL, &none))
        .unwrap();
    m.set_delete_pending(key(1), o.id, true).unwrap();
    assert!(m.is_delete_pending(key(1)));
    m.set_delete_pending(key(1), o.id, false).unwrap();
    assert!(m.close(key(1), o.id).unlink.is_none());
    // Not an open of that file: refused.
    assert!(m.set_delete_pending(key(9), o.id, true).is_err());
}

#[test]
fn blocked_locks_park_and_are_woken_by_unlock_and_close() {
    let m = LockManager::in_memory(LockConfig::default());
    let sink = Arc::new(Collect::default());
    let s = m.register_sink(sink.clone());
    let none = Request::None;
    let (a, b) = two_writers(&m, s, &none);
    let lk = |o: OpenId| ByteLock {
        open: o,
        start: 10,
        len: 5,
        exclusive: true,
    };
    m.lock(key(1), &[lk(a.id)], None).unwrap();
    assert!(matches!(
        m.lock(key(1), &[lk(b.id)], None),
        Err(VfsError::LockNotGranted)
    ));
    let w = Waiter { sink: s, token: 77 };
    assert!(matches!(
        m.lock(key(1), &[lk(b.id)], Some(w)),
        Err(VfsError::WouldBlock)
    ));
    // I/O into the range from the other open conflicts; NFS too.
    assert!(matches!(
        m.check_io(key(1), b.id, 12, 1, false),
        Err(VfsError::LockConflict)
    ));
    assert!(matches!(
        m.nfs_access(key(1), NfsIntent::Write { offset: 0, len: 11 }),
        Err(VfsError::LockConflict)
    ));
    m.unlock(key(1), a.id, 10, 5).unwrap();
    assert_eq!(
        sink.0.lock().unwrap().as_slice(),
        &[LockEvent::Wake { token: 77 }]
    );
    m.lock(key(1), &[lk(b.id)], None).unwrap();
    // Closing b drops its lock: a may lock now.
    m.close(key(1), b.id);
    m.lock(key(1), &[lk(a.id)], None).unwrap();
}

#[test]
fn a_failed_multi_element_lock_takes_nothing() {
    let m = LockManager::in_memory(LockConfig::default());
    let s = m.register_sink(Arc::new(Collect::default()));
    let none = Request::None;
    let (a, b) = two_writers(&m, s, &none);
    let at = |o: OpenId, start: u64| ByteLock {
        open: o,
        start,
        len: 1,
        exclusive: true,
    };
    m.lock(key(1), &[at(a.id, 5)], None).unwrap();
    assert!(m.lock(key(1), &[at(b.id, 1), at(b.id, 5)], None).is_err());
    // b's first element was released again.
    m.lock(key(1), &[at(a.id, 1)], None).unwrap();
}

#[test]
fn nfs_respects_smb_share_modes() {
    let m = LockManager::in_memory(LockConfig::default());
    let s = m.register_sink(Arc::new(Collect::default()));
    let none = Request::None;
    let o = m
        .open(&req(
            key(1),
            s,
            access::READ_DATA,
            share_access::READ,
            &none,
        ))
        .unwrap();
    let w = NfsIntent::Write { offset: 0, len: 1 };
    assert!(matches!(
        m.nfs_access(key(1), w),
        Err(VfsError::SharingViolation)
    ));
    assert!(m
        .nfs_access(key(1), NfsIntent::Read { offset: 0, len: 1 })
        .is_ok());
    assert!(matches!(
        m.nfs_access(key(1), NfsIntent::Namespace),
        Err(VfsError::SharingViolation)
    ));
    m.close(key(1), o.id);
    assert!(m.nfs_access(key(1), w).is_ok());
    // A file nobody has open costs one map lookup and creates no record.
    assert!(m.nfs_access(key(5), w).is_ok());
    assert_eq!(m.file_count(), 0);
}

#[test]
fn waiters_are_capped_per_file() {
    let m = LockManager::in_memory(LockConfig {
        max_waiters_per_file: 1,
        ..LockConfig::default()
    });
    let s = m.register_sink(Arc::new(Collect::default()));
    let none = Request::None;
    let (a, b) = two_writers(&m, s, &none);
    let lk = |o: OpenId| ByteLock {
        open: o,
        start: 0,
        len: 1,
        exclusive: true,
    };
    m.lock(key(1), &[lk(a.id)], None).unwrap();
    let w = |t| Some(Waiter { sink: s, token: t });
    assert!(matches!(
        m.lock(key(1), &[lk(b.id)], w(1)),
        Err(VfsError::WouldBlock)
    ));
    assert!(matches!(
        m.lock(key(1), &[lk(b.id)], w(2)),
        Err(VfsError::NoResources)
    ));
    m.cancel_wait(key(1), Waiter { sink: s, token: 1 });
    assert!(matches!(
        m.lock(key(1), &[lk(b.id)], w(2)),
        Err(VfsError::WouldBlock)
    ));
}

/// One std mutex over one map: the alternative to [`MemoryStore`] measured below.
#[derive(Default)]
struct MutexStore(Mutex<HashMap<FileKey, FileRecord>>);

impl LockStore for MutexStore {
    fn with_file(&self, key: FileKey, f: &mut dyn FnMut(&mut FileRecord)) {
        let mut m = self.0.lock().unwrap();
        let rec = m.entry(key).or_default();
        f(rec);
        if rec.is_idle() {
            m.remove(&key);
        }
    }
    fn peek(&self, key: FileKey, f: &mut dyn FnMut(&FileRecord)) {
        if let Some(r) = self.0.lock().unwrap().get(&key) {
            f(r);
        }
    }
    fn any(&self, f: &mut dyn FnMut(&FileRecord) -> bool) -> bool {
        self.0.lock().unwrap().values().any(f)
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// `cargo test --release -p shoal-vfs -- --ignored --nocapture store_cost`: open + I/O check
/// + close through the manager, per thread count, for the dashmap store and one mutex.
#[test]
#[ignore]
fn store_cost() {
    let stores: Vec<(&str, Arc<dyn LockStore>)> = vec![
        ("dashmap", Arc::new(MemoryStore::new())),
        ("mutex", Arc::new(MutexStore::default())),
    ];
    for (name, store) in stores {
        for threads in [1u64, 2, 8, 32] {
            let m = Arc::new(LockManager::new(LockConfig::default(), store.clone()));
            let s = m.register_sink(Arc::new(Collect::default()));
            let per = 400_000 / threads;
            let t = std::time::Instant::now();
            std::thread::scope(|sc| {
                for th in 0..threads {
                    let m = m.clone();
                    sc.spawn(move || {
                        let none = Request::None;
                        for i in 0..per {
                            // Each thread mostly on its own files, some on a shared hot one.
                            let k = if i % 8 == 0 {
                                key(0)
                            } else {
                                key(1 + th * 1000 + i % 64)
                            };
                            let g = m
                                .open(&req(k, s, access::READ_DATA, share_access::ALL, &none))
                                .unwrap();
                            m.check_io(k, g.id, 0, 4096, false).unwrap();
                            m.close(k, g.id);
                        }
                    });
                }
            });
            let ops = (per * threads) as f64 / t.elapsed().as_secs_f64();
            println!(
                "{name:8} {threads:2} threads: {:.0} open+check+close/s",
                ops
            );
        }
    }
}
