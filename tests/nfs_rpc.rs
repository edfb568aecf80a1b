//! NFSv3 and MOUNT v3 over raw sockets against the real `shoal` binary: procedures that the
//! libnfs command-line tools cannot drive (MKDIR, RENAME, REMOVE, exclusive CREATE, COMMIT,
//! READDIR paging), export rules on the wire, retransmissions, restarts, and bad input.
//!
//! The XDR here is written by hand on purpose: it checks the server against the RFC, not
//! against our own codec.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use common::nfs_raw::{call_bytes, parse_reply, read_record, Client, MOUNT, NFS, R, W};
use common::{Opts, Server};

fn rw_server() -> Server {
    Server::start(Opts::standard())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

// ---- tests ----

#[test]
fn mkdir_create_modes_write_commit_rename_remove() {
    let server = rw_server();
    let mut c = Client::connect(&server);
    assert_eq!(c.raw(NFS, 3, 0, &[]).accept_stat, 0, "NULL");
    let root = c.mnt("/data").expect("MNT /data");

    let d = c.mkdir(&root, "d1").expect("MKDIR");
    assert!(server.backing.join("d1").is_dir());
    assert_eq!(
        c.mkdir(&root, "d1"),
        Err(17),
        "MKDIR of an existing name is NFS3ERR_EXIST"
    );

    // CREATE: UNCHECKED, GUARDED, EXCLUSIVE (RFC 1813 3.3.8).
    let f = c
        .create(&d, "f", W::default().u32(0).sattr_mode(0o644))
        .expect("UNCHECKED");
    c.create(&d, "f", W::default().u32(0).sattr_mode(0o644))
        .expect("UNCHECKED again succeeds");
    assert_eq!(
        c.create(&d, "f", W::default().u32(1).sattr_mode(0o644)),
        Err(17),
        "GUARDED on existing"
    );
    let x1 = c
        .create(&d, "x", W::default().u32(2).fixed(b"verifier"))
        .expect("EXCLUSIVE");
    let x2 = c
        .create(&d, "x", W::default().u32(2).fixed(b"verifier"))
        .expect("EXCLUSIVE retransmission");
    assert_eq!(x1, x2);
    assert_eq!(
        c.create(&d, "x", W::default().u32(2).fixed(b"otherone")),
        Err(17),
        "EXCLUSIVE, other verifier"
    );

    // WRITE unstable, then COMMIT: same verifier.
    let (n, committed, verf) = c.write(&f, 0, b"hello world", 0).expect("WRITE");
    assert_eq!(n, 11);
    assert!(committed <= 2);
    let body = c.call(NFS, 21, W::default().opaque(&f).u64(0).u32(0));
    let mut r = R(&body);
    assert_eq!(r.u32(), 0, "COMMIT");
    r.wcc();
    assert_eq!(r.fixed(8), verf, "COMMIT verifier equals WRITE verifier");
    let (_, committed, _) = c.write(&f, 11, b"!", 2).expect("WRITE FILE_SYNC");
    assert_eq!(committed, 2, "FILE_SYNC asked, FILE_SYNC answered");
    assert_eq!(
        std::fs::read(server.backing.join("d1/f")).unwrap(),
        b"hello world!"
    );
    assert_eq!(c.getattr(&f).unwrap().4, 12);

    // READ.
    let body = c.call(NFS, 6, W::default().opaque(&f).u64(6).u32(100));
    let mut r = R(&body);
    assert_eq!(r.u32(), 0);
    r.post_op_attr();
    assert_eq!(r.u32(), 6);
    assert_eq!(r.u32(), 1, "eof");
    assert_eq!(r.opaque(), b"world!");

    // RENAME, REMOVE, RMDIR.
    let st = c.status_only(
        14,
        W::default()
            .opaque(&d)
            .opaque(b"f")
            .opaque(&root)
            .opaque(b"g"),
    );
    assert_eq!(st, 0, "RENAME");
    assert!(server.backing.join("g").is_file() && !server.backing.join("d1/f").exists());
    assert_eq!(
        c.status_only(13, W::default().opaque(&root).opaque(b"d1")),
        66,
        "RMDIR non-empty"
    );
    assert_eq!(
        c.status_only(12, W::default().opaque(&d).opaque(b"x")),
        0,
        "REMOVE"
    );
    assert_eq!(
        c.status_only(13, W::default().opaque(&root).opaque(b"d1")),
        0,
        "RMDIR"
    );
    assert!(!server.backing.join("d1").exists());

    // A retransmitted REMOVE (same xid, same bytes) is replayed, not re-executed (it would
    // answer NFS3ERR_NOENT).
    let rec = call_bytes(
        77,
        NFS,
        3,
        12,
        0,
        &W::default().opaque(&root).opaque(b"g").0,
    );
    c.s.write_all(&rec).unwrap();
    let first = read_record(&mut c.s).unwrap();
    c.s.write_all(&rec).unwrap();
    let second = read_record(&mut c.s).unwrap();
    assert_eq!(first, second);
    assert_eq!(R(&parse_reply(&first).body).u32(), 0);
    assert!(!server.backing.join("g").exists());

    // SYMLINK, READLINK, LINK, MKNOD (FIFO).
    let body = c.call(
        NFS,
        10,
        W::default()
            .opaque(&root)
            .opaque(b"ln")
            .sattr_mode(0o777)
            .opaque(b"target/x"),
    );
    let ln = Client::created(&body).expect("SYMLINK");
    let body = c.call(NFS, 5, W::default().opaque(&ln));
    let mut r = R(&body);
    assert_eq!(r.u32(), 0);
    r.post_op_attr();
    assert_eq!(r.opaque(), b"target/x");
    let h = c
        .create(&root, "h", W::default().u32(0).sattr_mode(0o644))
        .unwrap();
    assert_eq!(
        c.status_only(15, W::default().opaque(&h).opaque(&root).opaque(b"h2")),
        0,
        "LINK"
    );
    assert_eq!(c.getattr(&h).unwrap().0, 1);
    let body = c.call(
        NFS,
        11,
        W::default()
            .opaque(&root)
            .opaque(b"fifo")
            .u32(7)
            .sattr_mode(0o600),
    );
    Client::created(&body).expect("MKNOD FIFO");
    let body = c.call(NFS, 11, W::default().opaque(&root).opaque(b"reg").u32(1));
    assert_eq!(
        R(&body).u32(),
        10007,
        "MKNOD of a regular file is NFS3ERR_BADTYPE"
    );

    // FSINFO, FSSTAT, PATHCONF, ACCESS.
    let body = c.call(NFS, 19, W::default().opaque(&root));
    let mut r = R(&body);
    assert_eq!(r.u32(), 0);
    r.post_op_attr();
    let (rtmax, _rtpref, _rtmult, wtmax) = (r.u32(), r.u32(), r.u32(), r.u32());
    assert_eq!((rtmax, wtmax), (1 << 20, 1 << 20));
    assert_eq!(c.status_only(18, W::default().opaque(&root)), 0, "FSSTAT");
    assert_eq!(c.status_only(20, W::default().opaque(&root)), 0, "PATHCONF");
    let body = c.call(NFS, 4, W::default().opaque(&root).u32(0x3f));
    let mut r = R(&body);
    assert_eq!(r.u32(), 0);
    r.post_op_attr();
    assert_eq!(r.u32() & !0x3f, 0);
}

#[test]
fn symlinks_are_objects_never_followed_by_the_server() {
    let server = rw_server();
    std::os::unix::fs::symlink("/etc", server.backing.join("escape")).unwrap();
    let mut c = Client::connect(&server);
    let root = c.mnt("/data").unwrap();
    let link = c.lookup(&root, "escape").expect("LOOKUP of a symlink");
    assert_eq!(c.getattr(&link).unwrap().0, 5, "NF3LNK");
    assert_eq!(
        c.lookup(&link, "passwd"),
        Err(20),
        "LOOKUP through a symlink: NFS3ERR_NOTDIR"
    );
    assert_eq!(
        c.mnt("/data/escape"),
        Err(20),
        "MNT through a symlink: MNT3ERR_NOTDIR"
    );
    let dotdot = c.lookup(&root, "..").expect("LOOKUP .. at the export root");
    assert_eq!(
        c.getattr(&dotdot),
        c.getattr(&root),
        ".. of the export root is the root"
    );
}

#[test]
fn pipelined_calls_are_all_answered() {
    let server = rw_server();
    let mut c = Client::connect(&server);
    let root = c.mnt("/data").unwrap();
    let mut batch = Vec::new();
    for xid in 1..=100u32 {
        batch.extend(call_bytes(xid, NFS, 3, 1, 0, &W::default().opaque(&root).0));
    }
    c.s.write_all(&batch).unwrap();
    let mut seen: Vec<u32> = (0..100)
        .map(|_| parse_reply(&read_record(&mut c.s).unwrap()).xid)
        .collect();
    seen.sort();
    assert_eq!(seen, (1..=100).collect::<Vec<_>>());
}

#[test]
fn readdir_pages_by_cookie_without_duplicates() {
    let server = rw_server();
    for i in 0..300 {
        std::fs::write(
            server
                .backing
                .join(format!("file-with-a-longish-name-{i:04}")),
            b"x",
        )
        .unwrap();
    }
    let mut c = Client::connect(&server);
    let root = c.mnt("/data").unwrap();
    for plus in [false, true] {
        let mut names = Vec::new();
        let mut cookie = 0;
        let mut calls = 0;
        loop {
            let (entries, eof) = c.readdir(&root, cookie, 1024, plus);
            calls += 1;
            assert!(!entries.is_empty() || eof);
            if let Some((_, last)) = entries.last() {
                cookie = *last;
            }
            names.extend(entries.into_iter().map(|(n, _)| n));
            if eof {
                break;
            }
            assert!(calls < 1000);
        }
        assert!(
            calls > 5,
            "small count must page (plus={plus}, calls={calls})"
        );
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "duplicates (plus={plus})");
        assert_eq!(names.len(), 302, "300 files plus . and .. (plus={plus})");
    }
}

#[test]
fn export_rules_on_the_wire() {
    let server = Server::start(Opts {
        body: r#"
[[nfs.exports]]
path = "/data"
dir = "."
[[nfs.exports.clients]]
hosts = ["127.0.0.0/8"]
access = "ro"
squash = "none"

[[nfs.exports]]
path = "/other"
dir = "."
[[nfs.exports.clients]]
hosts = ["10.9.9.9", "@trusted"]
access = "rw"
"#
        .into(),
        ..Opts::default()
    });
    std::fs::write(server.backing.join("a.txt"), b"abc").unwrap();
    let mut c = Client::connect(&server);
    assert_eq!(
        c.mnt("/other"),
        Err(13),
        "client outside the list gets MNT3ERR_ACCES"
    );
    assert_eq!(c.mnt("/nope"), Err(2), "unknown export gets MNT3ERR_NOENT");
    let root = c.mnt("/data").unwrap();
    let a = c.lookup(&root, "a.txt").unwrap();
    assert_eq!(
        c.create(&root, "new", W::default().u32(0).sattr_mode(0o644)),
        Err(30),
        "ro: NFS3ERR_ROFS"
    );
    assert_eq!(c.mkdir(&root, "dir"), Err(30));
    assert_eq!(c.write(&a, 0, b"x", 2), Err(30));
    assert_eq!(
        c.status_only(12, W::default().opaque(&root).opaque(b"a.txt")),
        30
    );
    assert_eq!(
        c.status_only(21, W::default().opaque(&a).u64(0).u32(0)),
        0,
        "COMMIT is allowed on ro"
    );
    assert!(!server.backing.join("new").exists());
    // Handles carry their export: an unknown export id is NFS3ERR_STALE; the root of /data
    // presented under /other's id (FNV-1a of the path) gets /other's rules: NFS3ERR_ACCES.
    let mut forged = root.clone();
    forged[0] ^= 0xff;
    assert_eq!(
        c.getattr(&forged),
        Err(70),
        "unknown export id: NFS3ERR_STALE"
    );
    let mut other = fnv1a(b"/other").to_be_bytes().to_vec();
    other.extend_from_slice(&root[8..]);
    assert_eq!(
        c.getattr(&other),
        Err(13),
        "handle of an export refusing us: NFS3ERR_ACCES"
    );
    assert_eq!(
        c.getattr(&root[..4]),
        Err(10001),
        "short handle: NFS3ERR_BADHANDLE"
    );

    // EXPORT lists both exports with their client patterns.
    let body = c.call(MOUNT, 5, W::default());
    let mut r = R(&body);
    let mut listed = Vec::new();
    while r.u32() == 1 {
        let dir = String::from_utf8(r.opaque()).unwrap();
        let mut groups = Vec::new();
        while r.u32() == 1 {
            groups.push(String::from_utf8(r.opaque()).unwrap());
        }
        listed.push((dir, groups));
    }
    assert_eq!(
        listed[0],
        ("/data".to_string(), vec!["127.0.0.0/8".to_string()])
    );
    assert_eq!(
        listed[1].1,
        vec!["10.9.9.9".to_string(), "@trusted".to_string()]
    );

    // DUMP shows our mount until UMNT.
    let dump = |c: &mut Client| {
        let body = c.call(MOUNT, 2, W::default());
        let mut r = R(&body);
        let mut v = Vec::new();
        while r.u32() == 1 {
            v.push((
                String::from_utf8(r.opaque()).unwrap(),
                String::from_utf8(r.opaque()).unwrap(),
            ));
        }
        v
    };
    assert_eq!(
        dump(&mut c),
        vec![("127.0.0.1".to_string(), "/data".to_string())]
    );
    c.call(MOUNT, 3, W::default().opaque(b"/data"));
    assert!(dump(&mut c).is_empty());
    c.mnt("/data").unwrap();
    c.call(MOUNT, 4, W::default());
    assert!(dump(&mut c).is_empty());
}

#[test]
fn handles_survive_restart_and_write_verifier_changes() {
    let mut server = rw_server();
    let mut c = Client::connect(&server);
    let root = c.mnt("/data").unwrap();
    let f = c
        .create(&root, "v", W::default().u32(0).sattr_mode(0o644))
        .unwrap();
    let (_, _, v1) = c.write(&f, 0, b"one", 0).unwrap();
    drop(c);
    server.restart();
    let mut c = Client::connect(&server);
    assert!(c.getattr(&f).is_ok(), "handle still valid after restart");
    let (_, _, v2) = c.write(&f, 0, b"two", 0).unwrap();
    assert_ne!(v1, v2, "write verifier must change on restart");
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// True when the server closed the connection (read returns EOF or reset) within 10 s.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return true,
            Ok(_) => continue, // an answer is fine too; keep reading until close
        }
    }
    false
}

fn null_works(server: &Server) {
    let mut c = Client::connect(server);
    let r = c.raw(NFS, 3, 0, &[]);
    assert_eq!(
        (r.reply_stat, r.accept_stat),
        (0, 0),
        "NULL on a fresh connection"
    );
}

#[test]
fn bad_input_closes_only_that_connection() {
    let server = rw_server();
    let before = rss_kib(server.pid());

    // Garbage: "GARB" as a record mark is a 1.1 GB fragment: refused, connection closed.
    let mut g = TcpStream::connect(("127.0.0.1", server.nfs_port)).unwrap();
    g.write_all(b"GARBAGE GARBAGE GARBAGE GARBAGE!").unwrap();
    assert!(closed_by_server(&mut g), "garbage: connection not closed");
    null_works(&server);

    // Garbage inside a well-formed record: ignored or answered, never fatal.
    let mut g = Client::connect(&server);
    let junk: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut rec = (0x8000_0000u32 | junk.len() as u32).to_be_bytes().to_vec();
    rec.extend(&junk);
    g.s.write_all(&rec).unwrap();
    let r = g.raw(NFS, 3, 0, &[]);
    assert_eq!(
        r.accept_stat, 0,
        "same connection still serves after a junk record"
    );

    // Truncated record: the header promises 100 bytes, 10 arrive, then the client stops.
    let mut t = TcpStream::connect(("127.0.0.1", server.nfs_port)).unwrap();
    t.write_all(&(0x8000_0000u32 | 100).to_be_bytes()).unwrap();
    t.write_all(&[0u8; 10]).unwrap();
    null_works(&server);
    t.shutdown(Shutdown::Write).unwrap();
    assert!(
        closed_by_server(&mut t),
        "truncated record: connection not closed after EOF"
    );

    // A record mark claiming 2 GiB: refused before buffering, connection closed.
    let mut big = TcpStream::connect(("127.0.0.1", server.nfs_port)).unwrap();
    big.write_all(&0xffff_ffffu32.to_be_bytes()).unwrap();
    let _ = big.write_all(&[0u8; 65536]);
    assert!(
        closed_by_server(&mut big),
        "2 GiB record mark: connection not closed"
    );
    // Same without the last-fragment bit, and as two fragments that sum over the cap.
    let mut big = TcpStream::connect(("127.0.0.1", server.nfs_port)).unwrap();
    big.write_all(&0x7fff_ffffu32.to_be_bytes()).unwrap();
    assert!(closed_by_server(&mut big));
    null_works(&server);
    let after = rss_kib(server.pid());
    eprintln!("server RSS before {before} KiB, after {after} KiB");
    assert!(
        after < before + 64 * 1024,
        "memory grew by more than 64 MiB"
    );

    // Unknown program, wrong versions, unknown procedure, garbage arguments.
    let mut c = Client::connect(&server);
    let r = c.raw(123456, 1, 0, &[]);
    assert_eq!((r.reply_stat, r.accept_stat), (0, 1), "PROG_UNAVAIL");
    let r = c.raw(NFS, 2, 0, &[]);
    assert_eq!((r.reply_stat, r.accept_stat), (0, 2), "PROG_MISMATCH");
    assert_eq!(R(&r.body).u32(), 3);
    let r = c.raw(NFS, 3, 99, &[]);
    assert_eq!((r.reply_stat, r.accept_stat), (0, 3), "PROC_UNAVAIL");
    let r = c.raw(NFS, 3, 1, &[0, 0, 1]);
    assert_eq!((r.reply_stat, r.accept_stat), (0, 4), "GARBAGE_ARGS");
    let r = c.raw(MOUNT, 1, 0, &[]);
    assert_eq!(
        (r.reply_stat, r.accept_stat),
        (0, 2),
        "MOUNT v1: PROG_MISMATCH"
    );
    // RPC version 3: MSG_DENIED / RPC_MISMATCH.
    let mut rec = call_bytes(5, NFS, 3, 0, 0, &[]);
    rec[4 + 8..4 + 12].copy_from_slice(&3u32.to_be_bytes());
    c.s.write_all(&rec).unwrap();
    let r = parse_reply(&read_record(&mut c.s).unwrap());
    assert_eq!((r.reply_stat, r.accept_stat), (1, 0), "RPC_MISMATCH");
    null_works(&server);
}
