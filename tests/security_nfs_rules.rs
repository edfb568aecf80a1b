//! NFS export rules and the duplicate-request cache under attack (issue 11):
//! - AUTH_SYS from an unprivileged source port (any user on a client can send one claiming
//!   any uid) is refused unless the client entry says `insecure = true` (knfsd's
//!   `secure`/`insecure`): MNT3ERR_PERM for MOUNT, NFS3ERR_PERM for NFS calls
//!   (knfsd's `nfsd_setuser_and_check_port`);
//! - one client flooding distinct xids cannot evict another client's duplicate-request cache
//!   entries: the other's retransmitted REMOVE is still replayed (OK), not re-run (NOENT).

mod common;

use common::nfs_raw::{call_bytes, parse_reply, read_record, Client, MOUNT, NFS, W};
use common::{connect_from, connect_reserved, Opts, Server};
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

const MNT3ERR_PERM: u32 = 1;
const NFS3ERR_PERM: u32 = 1;
const NFS3ERR_NOENT: u32 = 2;

fn client(s: std::net::TcpStream) -> Client {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    Client {
        s,
        xid: 5000,
        uid: 0,
    }
}

/// A client on an unprivileged source port, from `127.0.0.<last>`.
fn unprivileged(server: &Server, last: u8) -> Client {
    let s = connect_from(
        SocketAddr::from(([127, 0, 0, last], 0)),
        server.nfs_port,
        None,
    )
    .unwrap();
    assert!(s.local_addr().unwrap().port() >= 1024);
    client(s)
}

/// The source-port rule, both ways: the default entry is `secure`; a more specific
/// `insecure = true` entry admits unprivileged ports for its hosts only.
#[test]
fn auth_sys_from_an_unprivileged_port_is_refused_unless_insecure() {
    let server = Server::start(Opts {
        body: r#"
[[nfs.exports]]
path = "/data"
dir = "."
[[nfs.exports.clients]]
hosts = ["127.0.0.0/8"]
access = "rw"
squash = "none"
[[nfs.exports.clients]]
hosts = ["127.0.0.9"]
access = "rw"
squash = "none"
insecure = true
"#
        .into(),
        ..Opts::default()
    });
    std::fs::write(server.backing.join("a.txt"), b"abc").unwrap();

    // A privileged port (as root on the client, and as the libnfs tools and the kernel
    // client use) is served.
    let mut good = client(connect_reserved(server.nfs_port));
    assert!(good.s.local_addr().unwrap().port() < 1024);
    let root = good.mnt("/data").unwrap();
    let a = good.lookup(&root, "a.txt").unwrap();
    assert_eq!(good.getattr(&a).unwrap().4, 3);

    // An unprivileged port from a `secure` entry's host: MOUNT and NFS both refused, and the
    // attacker's CREATE does not happen.
    let mut bad = unprivileged(&server, 1);
    assert_eq!(bad.mnt("/data"), Err(MNT3ERR_PERM));
    assert_eq!(bad.getattr(&a), Err(NFS3ERR_PERM));
    assert_eq!(bad.lookup(&root, "a.txt"), Err(NFS3ERR_PERM));
    assert_eq!(
        bad.create(&root, "evil", W::default().u32(0).sattr_mode(0o644)),
        Err(NFS3ERR_PERM)
    );
    assert!(!server.backing.join("evil").exists());

    // `insecure = true` on 127.0.0.9's entry: unprivileged ports are served there.
    let mut ok = unprivileged(&server, 9);
    let root9 = ok.mnt("/data").unwrap();
    let a9 = ok.lookup(&root9, "a.txt").unwrap();
    assert_eq!(ok.getattr(&a9).unwrap().4, 3);
    ok.create(&root9, "made", W::default().u32(0).sattr_mode(0o644))
        .unwrap();
    assert!(server.backing.join("made").exists());

    // The server still serves the privileged client.
    assert_eq!(good.getattr(&a).unwrap().4, 3);
}

/// REMOVE with a fixed xid; the nfsstat3.
fn remove(c: &mut Client, xid: u32, dir: &[u8], name: &str) -> u32 {
    let args = W::default().opaque(dir).opaque(name.as_bytes());
    c.s.write_all(&call_bytes(xid, NFS, 3, 12, 0, &args.0))
        .unwrap();
    let r = parse_reply(&read_record(&mut c.s).unwrap());
    assert_eq!((r.xid, r.reply_stat, r.accept_stat), (xid, 0, 0));
    u32::from_be_bytes(r.body[..4].try_into().unwrap())
}

/// Client A removes a file; client B (another address) floods 20,000 distinct
/// non-idempotent calls (more than the whole cache holds); A's retransmission of its REMOVE
/// is still answered from the cache (OK), not re-executed (NOENT).
#[test]
fn one_client_cannot_evict_anothers_duplicate_request_cache_entries() {
    let server = Server::start(Opts {
        body: r#"
[[nfs.exports]]
path = "/data"
dir = "."
[[nfs.exports.clients]]
hosts = ["127.0.0.0/8"]
access = "rw"
squash = "none"
"#
        .into(),
        ..Opts::default()
    });
    std::fs::write(server.backing.join("victim"), b"v").unwrap();
    let reserved = |last: u8, port: u16| {
        client(
            connect_from(
                SocketAddr::from(([127, 0, 0, last], port)),
                server.nfs_port,
                None,
            )
            .unwrap(),
        )
    };
    let mut a = reserved(2, 700 + (std::process::id() % 100) as u16);
    let root = a.mnt("/data").unwrap();
    assert_eq!(remove(&mut a, 424242, &root, "victim"), 0);
    assert!(!server.backing.join("victim").exists());

    let mut b = reserved(3, 800 + (std::process::id() % 100) as u16);
    let root_b = b.mnt("/data").unwrap();
    let mut xid = 1u32;
    for _ in 0..40 {
        // 500 pipelined REMOVEs of missing names, then their replies.
        let mut batch = Vec::new();
        for _ in 0..500 {
            xid += 1;
            let args = W::default()
                .opaque(&root_b)
                .opaque(format!("n{xid}").as_bytes());
            batch.extend(call_bytes(xid, NFS, 3, 12, 0, &args.0));
        }
        b.s.write_all(&batch).unwrap();
        for _ in 0..500 {
            let r = parse_reply(&read_record(&mut b.s).unwrap());
            assert_eq!(
                u32::from_be_bytes(r.body[..4].try_into().unwrap()),
                NFS3ERR_NOENT
            );
        }
    }
    // The retransmission (same xid, same bytes, same client address) is replayed.
    assert_eq!(
        remove(&mut a, 424242, &root, "victim"),
        0,
        "A's REMOVE was evicted by B's flood and re-executed\n{}",
        server.log()
    );
    // A new call with another xid does run (and finds nothing).
    assert_eq!(remove(&mut a, 424243, &root, "victim"), NFS3ERR_NOENT);
    // B's own recent entries are still replayed too (its share keeps its newest).
    let args = W::default()
        .opaque(&root_b)
        .opaque(format!("n{xid}").as_bytes());
    b.s.write_all(&call_bytes(xid, NFS, 3, 12, 0, &args.0))
        .unwrap();
    let r = parse_reply(&read_record(&mut b.s).unwrap());
    assert_eq!(r.xid, xid);
    let _ = MOUNT;
}
