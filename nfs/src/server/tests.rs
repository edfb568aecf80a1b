//! Socket tests of the connection task: calls of one connection run concurrently and their
//! replies leave in completion order, each whole.

use super::*;
use shoal_vfs::testing::{GatedFs, GATED_LEN};

use shoal_vfs::Vfs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{ClientEntry, ExportConfig, Squash};

#[test]
fn io_max_follows_record_cap() {
    assert_eq!(io_max(NfsConfig::DEFAULT_MAX_RECORD), 1 << 20);
    assert_eq!(io_max(64 * 1024), 60 * 1024);
    assert_eq!(io_max(100), 4096);
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
    let fs = Arc::new(GatedFs::new(local));
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
                insecure: true,
            }],
        }],
        max_record: NfsConfig::DEFAULT_MAX_RECORD,
        max_connections: 4,
        max_in_flight: 4,
        register_rpcbind: false,
        max_unauthenticated: NfsConfig::DEFAULT_MAX_UNAUTHENTICATED,
        max_connections_per_client: NfsConfig::DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
        unauthenticated_timeout: NfsConfig::DEFAULT_UNAUTHENTICATED_TIMEOUT,
        send_timeout: NfsConfig::DEFAULT_SEND_TIMEOUT,
        locks: shoal_vfs::lock::LockManager::in_memory(Default::default()),
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

/// Status word of an NFSv3 reply body.
fn status(body: &[u8]) -> u32 {
    u32::from_be_bytes(body[..4].try_into().unwrap())
}

/// NFS requests respect SMB state in the shared lock manager: an open that does not share
/// write refuses NFS WRITE and truncation (NFS3ERR_ACCES), one without share-delete refuses
/// REMOVE, an exclusive byte-range lock refuses READ of its range; after the close all pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nfs_respects_smb_share_modes_and_locks() {
    use shoal_vfs::lock::brl::ByteLock;
    use shoal_vfs::lock::{access, lease, share_access, FileKey, OpenRequest};
    const ACCES: u32 = 13;

    let dir = std::env::temp_dir().join(format!("shoal-nfs-smbstate-{}", std::process::id()));
    let backing = dir.join("backing");
    std::fs::create_dir_all(&backing).unwrap();
    std::fs::write(backing.join("f"), vec![7u8; 4096]).unwrap();
    let fs: Arc<dyn Vfs> = Arc::new(shoal_vfs::LocalFs::open(&backing, &dir.join("key")).unwrap());
    let locks = shoal_vfs::lock::LockManager::in_memory(Default::default());
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
                insecure: true,
            }],
        }],
        max_record: NfsConfig::DEFAULT_MAX_RECORD,
        max_connections: 4,
        max_in_flight: 4,
        register_rpcbind: false,
        max_unauthenticated: NfsConfig::DEFAULT_MAX_UNAUTHENTICATED,
        max_connections_per_client: NfsConfig::DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
        unauthenticated_timeout: NfsConfig::DEFAULT_UNAUTHENTICATED_TIMEOUT,
        send_timeout: NfsConfig::DEFAULT_SEND_TIMEOUT,
        locks: locks.clone(),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let server = tokio::spawn(serve(listener, config, fs.clone(), stop_rx));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(&call(1, 100_005, 3, 1, &opaque(b"/data")))
        .await
        .unwrap();
    let root = handle_after_status(&reply(&mut s).await.1);
    let mut args = opaque(&root);
    args.extend_from_slice(&opaque(b"f"));
    s.write_all(&call(2, 100_003, 3, 3, &args)).await.unwrap();
    let file = handle_after_status(&reply(&mut s).await.1);

    // The SMB side: an open for read and write that shares only read.
    let caller = shoal_vfs::Caller {
        uid: 0,
        gid: 0,
        groups: Vec::new(),
        sid: None,
        client_addr: addr,
        zone: shoal_vfs::ZoneId::SYSTEM,
        protocol: shoal_vfs::Protocol::Smb3,
    };
    let key = {
        let (_, a) = fs.lookup(&caller, &fs.root("").unwrap(), b"f").unwrap();
        FileKey::of(&a)
    };
    let open = locks
        .open(&OpenRequest {
            key,
            sink: shoal_vfs::lock::SinkId(0),
            access: access::READ_DATA | access::WRITE_DATA,
            share: share_access::READ,
            delete_on_close: false,
            is_dir: false,
            overwrite: false,
            link: None,
            path: None,
            caching: &lease::Request::None,
            waiter: None,
        })
        .unwrap();

    let write = |xid: u32| {
        let mut a = opaque(&file);
        a.extend_from_slice(&0u64.to_be_bytes());
        a.extend_from_slice(&4u32.to_be_bytes());
        a.extend_from_slice(&2u32.to_be_bytes()); // FILE_SYNC
        a.extend_from_slice(&opaque(b"nfs!"));
        call(xid, 100_003, 3, 7, &a)
    };
    let read = |xid: u32| {
        let mut a = opaque(&file);
        a.extend_from_slice(&100u64.to_be_bytes());
        a.extend_from_slice(&10u32.to_be_bytes());
        call(xid, 100_003, 3, 6, &a)
    };
    let mut remove = opaque(&root);
    remove.extend_from_slice(&opaque(b"f"));
    let remove = call(5, 100_003, 3, 12, &remove);

    s.write_all(&write(3)).await.unwrap();
    assert_eq!(
        status(&reply(&mut s).await.1),
        ACCES,
        "deny-write refuses WRITE"
    );
    s.write_all(&remove).await.unwrap();
    assert_eq!(
        status(&reply(&mut s).await.1),
        ACCES,
        "no share-delete refuses REMOVE"
    );
    s.write_all(&read(4)).await.unwrap();
    assert_eq!(status(&reply(&mut s).await.1), 0, "reading is shared");

    // An exclusive byte-range lock over 100..110 refuses READ there.
    let lock = ByteLock {
        open: open.id,
        start: 100,
        len: 10,
        exclusive: true,
    };
    locks.lock(key, &[lock], None).unwrap();
    s.write_all(&read(6)).await.unwrap();
    assert_eq!(status(&reply(&mut s).await.1), ACCES, "locked range");

    locks.close(key, open.id);
    s.write_all(&read(7)).await.unwrap();
    assert_eq!(status(&reply(&mut s).await.1), 0);
    s.write_all(&write(8)).await.unwrap();
    assert_eq!(status(&reply(&mut s).await.1), 0, "WRITE after the close");
    assert_eq!(&std::fs::read(backing.join("f")).unwrap()[..4], b"nfs!");

    let _ = stop.send(true);
    drop(s);
    server.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
