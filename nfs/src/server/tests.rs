//! Socket tests of the connection task: calls of one connection run concurrently and their
//! replies leave in completion order, each whole.

use super::*;
use std::sync::{Condvar, Mutex};

use shoal_vfs::{
    Attr, Caller, CreateHow, DirEntry, FileHandle, FileKind, FsStat, SetAttr, Timespec, Vfs,
    VfsResult, WriteStability,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{ClientEntry, ExportConfig, Squash};

#[test]
fn io_max_follows_record_cap() {
    assert_eq!(io_max(NfsConfig::DEFAULT_MAX_RECORD), 1 << 20);
    assert_eq!(io_max(64 * 1024), 60 * 1024);
    assert_eq!(io_max(100), 4096);
}

/// A READ of exactly this many bytes waits in the VFS until the gate opens.
const GATED_LEN: u32 = 1234;

/// LocalFs with a gate on READs of [`GATED_LEN`] bytes.
struct GatedFs {
    inner: Arc<dyn Vfs>,
    open: Mutex<bool>,
    changed: Condvar,
}

impl GatedFs {
    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.changed.notify_all();
    }
}

impl Vfs for GatedFs {
    fn root(&self, relative: &str) -> VfsResult<FileHandle> {
        self.inner.root(relative)
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
        self.inner.setattr(caller, handle, set, guard_ctime)
    }
    fn lookup(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
    ) -> VfsResult<(FileHandle, Attr)> {
        self.inner.lookup(caller, dir, name)
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
        if count == GATED_LEN {
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.changed.wait(open).unwrap();
            }
        }
        self.inner.read(caller, handle, offset, count)
    }
    fn write(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        offset: u64,
        data: &[u8],
        stability: WriteStability,
    ) -> VfsResult<(u32, WriteStability, Attr)> {
        self.inner.write(caller, handle, offset, data, stability)
    }
    fn create(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        how: &CreateHow,
    ) -> VfsResult<(FileHandle, Attr)> {
        self.inner.create(caller, dir, name, how)
    }
    fn mkdir(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)> {
        self.inner.mkdir(caller, dir, name, set)
    }
    fn symlink(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        name: &[u8],
        target: &[u8],
        set: &SetAttr,
    ) -> VfsResult<(FileHandle, Attr)> {
        self.inner.symlink(caller, dir, name, target, set)
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
        self.inner.mknod(caller, dir, name, kind, rdev, set)
    }
    fn remove(&self, caller: &Caller, dir: &FileHandle, name: &[u8]) -> VfsResult<()> {
        self.inner.remove(caller, dir, name)
    }
    fn rmdir(&self, caller: &Caller, dir: &FileHandle, name: &[u8]) -> VfsResult<()> {
        self.inner.rmdir(caller, dir, name)
    }
    fn rename(
        &self,
        caller: &Caller,
        from_dir: &FileHandle,
        from_name: &[u8],
        to_dir: &FileHandle,
        to_name: &[u8],
    ) -> VfsResult<()> {
        self.inner
            .rename(caller, from_dir, from_name, to_dir, to_name)
    }
    fn link(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        dir: &FileHandle,
        name: &[u8],
    ) -> VfsResult<Attr> {
        self.inner.link(caller, handle, dir, name)
    }
    fn readdir(
        &self,
        caller: &Caller,
        dir: &FileHandle,
        cookie: u64,
        max: usize,
        plus: bool,
    ) -> VfsResult<(Vec<DirEntry>, bool)> {
        self.inner.readdir(caller, dir, cookie, max, plus)
    }
    fn fsstat(&self, caller: &Caller, handle: &FileHandle) -> VfsResult<FsStat> {
        self.inner.fsstat(caller, handle)
    }
    fn commit(&self, caller: &Caller, handle: &FileHandle) -> VfsResult<Attr> {
        self.inner.commit(caller, handle)
    }
    fn allocate(&self, caller: &Caller, handle: &FileHandle, len: u64) -> VfsResult<Attr> {
        self.inner.allocate(caller, handle, len)
    }
    fn get_xattr(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        name: &str,
    ) -> VfsResult<Option<Vec<u8>>> {
        self.inner.get_xattr(caller, handle, name)
    }
    fn set_xattr(
        &self,
        caller: &Caller,
        handle: &FileHandle,
        name: &str,
        value: Option<&[u8]>,
    ) -> VfsResult<()> {
        self.inner.set_xattr(caller, handle, name, value)
    }
    fn write_verifier(&self) -> [u8; 8] {
        self.inner.write_verifier()
    }
}

/// A call record (record mark included) with an AUTH_SYS credential for uid/gid 0.
fn call(xid: u32, prog: u32, vers: u32, proc_: u32, args: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    for w in [xid, 0, 2, prog, vers, proc_] {
        m.extend_from_slice(&w.to_be_bytes());
    }
    // AUTH_SYS: stamp, machine name "t" (padded), uid, gid, no gids.
    let cred: Vec<u8> = [0u32.to_be_bytes(), 1u32.to_be_bytes(), *b"t\0\0\0"]
        .concat()
        .into_iter()
        .chain([0u32, 0, 0].iter().flat_map(|w| w.to_be_bytes()))
        .collect();
    m.extend_from_slice(&1u32.to_be_bytes());
    m.extend_from_slice(&(cred.len() as u32).to_be_bytes());
    m.extend_from_slice(&cred);
    m.extend_from_slice(&[0; 8]); // AUTH_NONE verifier
    m.extend_from_slice(args);
    let mut rec = (0x8000_0000u32 | m.len() as u32).to_be_bytes().to_vec();
    rec.extend_from_slice(&m);
    rec
}

/// XDR opaque/string: length, bytes, padding.
fn opaque(bytes: &[u8]) -> Vec<u8> {
    let mut v = (bytes.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(bytes);
    v.resize(v.len() + (4 - bytes.len() % 4) % 4, 0);
    v
}

/// Reads one reply record; returns its xid and what follows the accepted-reply header
/// (asserting MSG_ACCEPTED, AUTH_NONE verifier, SUCCESS).
async fn reply(s: &mut tokio::net::TcpStream) -> (u32, Vec<u8>) {
    let mut mark = [0u8; 4];
    s.read_exact(&mut mark).await.unwrap();
    let mark = u32::from_be_bytes(mark);
    assert!(mark & 0x8000_0000 != 0, "single-fragment replies");
    let mut rec = vec![0u8; (mark & 0x7fff_ffff) as usize];
    s.read_exact(&mut rec).await.unwrap();
    let word = |i: usize| u32::from_be_bytes(rec[i * 4..i * 4 + 4].try_into().unwrap());
    assert_eq!(
        (word(1), word(2), word(3), word(4), word(5)),
        (1, 0, 0, 0, 0)
    );
    (word(0), rec[24..].to_vec())
}

/// Returns the file handle that starts `body` after a zero status word.
fn handle_after_status(body: &[u8]) -> Vec<u8> {
    assert_eq!(body[..4], [0; 4], "status");
    let len = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
    body[8..8 + len].to_vec()
}

/// A READ held in the VFS does not hold up a later NULL of the same connection: NULL's reply
/// comes first, then READ's, each whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_leave_in_completion_order() {
    let dir = std::env::temp_dir().join(format!("shoal-nfs-overlap-{}", std::process::id()));
    let backing = dir.join("backing");
    std::fs::create_dir_all(&backing).unwrap();
    let content: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(backing.join("f"), &content).unwrap();
    let local: Arc<dyn Vfs> =
        Arc::new(shoal_vfs::LocalFs::open(&backing, &dir.join("key")).unwrap());
    let fs = Arc::new(GatedFs {
        inner: local,
        open: Mutex::new(false),
        changed: Condvar::new(),
    });
    let config = NfsConfig {
        exports: vec![ExportConfig {
            path: "/data".into(),
            root: fs.root("").unwrap(),
            zone: shoal_vfs::ZoneId::SYSTEM,
            clients: vec![ClientEntry {
                patterns: vec!["127.0.0.0/8".into()],
                read_only: false,
                squash: Squash::None,
                anon_uid: 65534,
                anon_gid: 65534,
            }],
        }],
        max_record: NfsConfig::DEFAULT_MAX_RECORD,
        max_connections: 4,
        max_in_flight: 4,
        register_rpcbind: false,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let vfs: Arc<dyn Vfs> = fs.clone();
    let server = tokio::spawn(serve(listener, config, vfs, stop_rx));

    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // MOUNT MNT "/data", then LOOKUP "f".
    s.write_all(&call(1, 100_005, 3, 1, &opaque(b"/data")))
        .await
        .unwrap();
    let (xid, body) = reply(&mut s).await;
    assert_eq!(xid, 1);
    let root = handle_after_status(&body);
    let mut args = opaque(&root);
    args.extend_from_slice(&opaque(b"f"));
    s.write_all(&call(2, 100_003, 3, 3, &args)).await.unwrap();
    let (xid, body) = reply(&mut s).await;
    assert_eq!(xid, 2);
    let file = handle_after_status(&body);

    // READ (held by the gate), then NULL, in one write.
    let mut args = opaque(&file);
    args.extend_from_slice(&0u64.to_be_bytes());
    args.extend_from_slice(&GATED_LEN.to_be_bytes());
    let mut both = call(10, 100_003, 3, 6, &args);
    both.extend_from_slice(&call(11, 100_003, 3, 0, &[]));
    s.write_all(&both).await.unwrap();

    let first = tokio::time::timeout(Duration::from_secs(10), reply(&mut s)).await;
    fs.release();
    let (xid, body) = first.expect("NULL answered while the READ is held");
    assert_eq!(xid, 11, "NULL first");
    assert!(body.is_empty());
    let (xid, body) = reply(&mut s).await;
    assert_eq!(xid, 10);
    // READ3resok: status, post_op_attr (1 + 84 bytes of fattr3), count, eof, data.
    assert_eq!(body[..8], [0, 0, 0, 0, 0, 0, 0, 1]);
    let at = 8 + 84;
    let count = u32::from_be_bytes(body[at..at + 4].try_into().unwrap());
    assert_eq!(count, GATED_LEN);
    let data_len = u32::from_be_bytes(body[at + 8..at + 12].try_into().unwrap());
    assert_eq!(data_len, GATED_LEN);
    assert_eq!(
        body[at + 12..at + 12 + GATED_LEN as usize],
        content[..GATED_LEN as usize]
    );

    let _ = stop.send(true);
    drop(s);
    server.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
