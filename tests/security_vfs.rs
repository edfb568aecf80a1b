//! Issue 11, VFS containment and ownership: each test performs the attack against the release
//! binary with the raw NFS client of `tests/common/nfs_raw.rs` (and Python smbprotocol for
//! delete-on-close), asserts it is refused, and that the server still serves.
//!
//! - item 1: ownership race on new objects (SYMLINK/MKNOD/CREATE/MKDIR against a second
//!   connection renaming a hard link over the names), temporary names unreachable;
//! - item 1: LINK follows `protected_hardlinks` for the caller;
//! - item 2: `..` and handles of a directory moved out of its export;
//! - sticky directories: no check-then-act window in REMOVE/RENAME;
//! - delete-on-close removes the name opened, not another user's hard link put there;
//! - writes and truncation by a non-owner clear setuid/setgid.

mod common;

use std::io::BufRead;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::nfs_raw::{Client, R, W};
use common::{venv_python, Opts, Server};

const NFS3ERR_PERM: u32 = 1;
const NFS3ERR_ACCES: u32 = 13;
const NFS3ERR_INVAL: u32 = 22;
const NFS3ERR_STALE: u32 = 70;

/// How long each race runs.
const RACE: Duration = Duration::from_secs(2);

// ---- NFSv3 calls the shared client lacks (RFC 1813 3.3.x argument layouts) ----

/// `sattr3` setting nothing.
fn no_sattr(w: W) -> W {
    w.u32(0).u32(0).u32(0).u32(0).u32(0).u32(0)
}

fn symlink(c: &mut Client, dir: &[u8], name: &str, target: &str) -> Result<Vec<u8>, u32> {
    let args = no_sattr(W::default().opaque(dir).opaque(name.as_bytes())).opaque(target.as_bytes());
    Client::created(&c.call(common::nfs_raw::NFS, 10, args))
}

fn mknod_fifo(c: &mut Client, dir: &[u8], name: &str) -> Result<Vec<u8>, u32> {
    let args = W::default()
        .opaque(dir)
        .opaque(name.as_bytes())
        .u32(7) // NF3FIFO
        .sattr_mode(0o644);
    Client::created(&c.call(common::nfs_raw::NFS, 11, args))
}

fn create_unchecked(c: &mut Client, dir: &[u8], name: &str) -> Result<Vec<u8>, u32> {
    c.create(dir, name, W::default().u32(0).sattr_mode(0o644))
}

fn rename(c: &mut Client, fdir: &[u8], from: &str, tdir: &[u8], to: &str) -> u32 {
    let args = W::default()
        .opaque(fdir)
        .opaque(from.as_bytes())
        .opaque(tdir)
        .opaque(to.as_bytes());
    c.status_only(14, args)
}

fn link(c: &mut Client, file: &[u8], dir: &[u8], name: &str) -> u32 {
    c.status_only(
        15,
        W::default()
            .opaque(file)
            .opaque(dir)
            .opaque(name.as_bytes()),
    )
}

fn remove(c: &mut Client, dir: &[u8], name: &str) -> u32 {
    c.status_only(12, W::default().opaque(dir).opaque(name.as_bytes()))
}

/// READ → data or status.
fn read(c: &mut Client, fh: &[u8], count: u32) -> Result<Vec<u8>, u32> {
    let body = c.call(
        common::nfs_raw::NFS,
        6,
        W::default().opaque(fh).u64(0).u32(count),
    );
    let mut r = R(&body);
    let st = r.u32();
    r.post_op_attr();
    if st != 0 {
        return Err(st);
    }
    r.u32();
    r.u32();
    Ok(r.opaque())
}

/// SETATTR size only, no guard.
fn truncate(c: &mut Client, fh: &[u8], size: u64) -> u32 {
    let args = W::default()
        .opaque(fh)
        .u32(0)
        .u32(0)
        .u32(0)
        .u32(1)
        .u64(size)
        .u32(0)
        .u32(0)
        .u32(0);
    c.status_only(2, args)
}

fn connect_as(server: &Server, uid: u32) -> Client {
    let mut c = Client::connect(server);
    c.uid = uid;
    c
}

/// The server answers a fresh connection: NULL, MNT and GETATTR of the root.
fn still_serving(server: &Server, export: &str) {
    let mut c = Client::connect(server);
    let r = c.raw(common::nfs_raw::NFS, 3, 0, &[]);
    assert_eq!((r.reply_stat, r.accept_stat), (0, 0), "NULL answered");
    let root = c.mnt(export).expect("mount after the attack");
    assert!(c.getattr(&root).is_ok(), "GETATTR after the attack");
}

fn mkdir_owned(p: &Path, uid: u32, mode: u32) {
    std::fs::create_dir_all(p).unwrap();
    std::os::unix::fs::chown(p, Some(uid), Some(uid)).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn file_owned(p: &Path, uid: u32, mode: u32, data: &[u8]) {
    std::fs::write(p, data).unwrap();
    std::os::unix::fs::chown(p, Some(uid), Some(uid)).unwrap();
    // After the chown, which clears setuid/setgid.
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

// ---- item 1: ownership race on new objects ----

#[test]
fn new_objects_never_chown_a_file_renamed_over_their_name() {
    let server = Server::start(Opts::standard());
    let b = &server.backing;
    mkdir_owned(&b.join("play"), 1000, 0o755);
    mkdir_owned(&b.join("victims"), 2000, 0o755);
    file_owned(&b.join("victims/v"), 2000, 0o644, b"victim");
    // The attacker's hard link to the victim (as one made before protected_hardlinks, or by
    // a local user): its own name in its own directory.
    std::fs::hard_link(b.join("victims/v"), b.join("play/hl")).unwrap();
    let pid = server.pid();

    let mut setup = connect_as(&server, 1000);
    let root = setup.mnt("/data").unwrap();
    let play = setup.lookup(&root, "play").unwrap();
    // Temporary names cannot be named: not even looked up.
    std::fs::write(b.join("play/.shoal-new.1.1"), b"").unwrap();
    assert_eq!(setup.lookup(&play, ".shoal-new.1.1"), Err(NFS3ERR_INVAL));

    let current = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (made, swaps, guessed) = std::thread::scope(|s| {
        let maker = s.spawn(|| {
            let mut c = connect_as(&server, 1000);
            let mut made = 0usize;
            let start = Instant::now();
            let mut i = 0usize;
            while start.elapsed() < RACE && i < 2000 {
                current.store(i, Ordering::SeqCst);
                made += usize::from(symlink(&mut c, &play, &format!("s{i}"), "t").is_ok());
                made += usize::from(mknod_fifo(&mut c, &play, &format!("m{i}")).is_ok());
                made += usize::from(create_unchecked(&mut c, &play, &format!("c{i}")).is_ok());
                made += usize::from(c.mkdir(&play, &format!("d{i}")).is_ok());
                i += 1;
            }
            stop.store(true, Ordering::SeqCst);
            made
        });
        let swapper = s.spawn(|| {
            let mut c = connect_as(&server, 1000);
            let (mut swaps, mut guessed) = (0usize, 0usize);
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let i = current.load(Ordering::SeqCst);
                // The names being made now and next, and the old predictable temporary names.
                for name in [
                    format!("s{i}"),
                    format!("m{i}"),
                    format!("c{i}"),
                    format!("d{i}"),
                    format!("s{}", i + 1),
                    format!("m{}", i + 1),
                ] {
                    if rename(&mut c, &play, "hl", &play, &name) == 0 {
                        swaps += 1;
                        assert_eq!(rename(&mut c, &play, &name, &play, "hl"), 0);
                    }
                }
                let temp = format!(".shoal-new.{pid}.{n}");
                n += 1;
                assert_eq!(
                    rename(&mut c, &play, "hl", &play, &temp),
                    NFS3ERR_INVAL,
                    "a temporary name is refused"
                );
                guessed += 1;
            }
            (swaps, guessed)
        });
        let made = maker.join().unwrap();
        let (swaps, guessed) = swapper.join().unwrap();
        (made, swaps, guessed)
    });
    println!("objects made {made}, hard link renamed over a name {swaps} times, {guessed} temporary names refused");
    assert!(made > 100, "the maker ran ({made})");
    assert!(swaps > 0, "the swapper raced ({swaps})");
    let v = std::fs::metadata(b.join("victims/v")).unwrap();
    assert_eq!(
        (v.uid(), v.gid(), v.mode() & 0o7777),
        (2000, 2000, 0o644),
        "the victim's owner and mode never change"
    );
    assert_eq!(std::fs::read(b.join("victims/v")).unwrap(), b"victim");
    // Everything the server made belongs to the caller.
    for e in std::fs::read_dir(b.join("play")).unwrap() {
        let e = e.unwrap();
        let m = std::fs::symlink_metadata(e.path()).unwrap();
        if m.ino() == v.ino() || e.file_name().to_string_lossy().starts_with(".shoal-new.") {
            continue;
        }
        assert_eq!(m.uid(), 1000, "{:?}", e.file_name());
    }
    still_serving(&server, "/data");
}

#[test]
fn link_follows_protected_hardlinks_for_the_caller() {
    let server = Server::start(Opts::standard());
    let b = &server.backing;
    mkdir_owned(&b.join("pub"), 0, 0o777);
    file_owned(&b.join("pub/ro"), 2000, 0o644, b"1");
    file_owned(&b.join("pub/shared"), 2000, 0o666, b"2");
    file_owned(&b.join("pub/suid"), 2000, 0o4666, b"3");
    file_owned(&b.join("pub/sgid_x"), 2000, 0o2676, b"4");
    let mut c = connect_as(&server, 1000);
    let root = c.mnt("/data").unwrap();
    let dir = c.lookup(&root, "pub").unwrap();
    for name in ["ro", "suid", "sgid_x"] {
        let fh = c.lookup(&dir, name).unwrap();
        assert_eq!(
            link(&mut c, &fh, &dir, &format!("my_{name}")),
            NFS3ERR_PERM,
            "{name}: neither owner nor read+write"
        );
        assert!(!b.join(format!("pub/my_{name}")).exists());
    }
    let shared = c.lookup(&dir, "shared").unwrap();
    assert_eq!(link(&mut c, &shared, &dir, "my_shared"), 0);
    let mut root_c = connect_as(&server, 0);
    let root_dir = root_c.lookup(&root, "pub").unwrap();
    let ro = root_c.lookup(&root_dir, "ro").unwrap();
    assert_eq!(link(&mut root_c, &ro, &root_dir, "root_ro"), 0, "root may");
    still_serving(&server, "/data");
}

// ---- item 2: `..` and handles never leave the export ----

#[test]
fn a_directory_moved_out_of_its_export_cannot_walk_out() {
    let mut server = Server::start(Opts::standard());
    std::fs::create_dir_all(server.backing.join("inner")).unwrap();
    std::fs::set_permissions(&server.backing, std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = server.dir.0.join("outside_secret");
    file_owned(&secret, 0, 0o644, b"outside the backing dir");
    let mut cfg = std::fs::read_to_string(&server.config).unwrap();
    cfg.push_str(
        r#"
[[nfs.exports]]
path = "/inner"
dir = "inner"
[[nfs.exports.clients]]
hosts = ["127.0.0.0/8"]
access = "rw"
squash = "none"
"#,
    );
    std::fs::write(&server.config, cfg).unwrap();
    server.restart();

    let mut c = Client::connect(&server);
    let inner = c.mnt("/inner").unwrap();
    let outer = c.mnt("/data").unwrap();
    let a = c.mkdir(&inner, "a").unwrap();
    let deep = c.mkdir(&a, "deep").unwrap();
    assert!(c.lookup(&deep, "..").is_ok());
    // `..` of the inner root is itself.
    let up = c.lookup(&inner, "..").unwrap();
    assert_eq!(c.getattr(&up).unwrap(), c.getattr(&inner).unwrap());
    // Moved through the overlapping outer export to the top of the backing dir.
    let outer_inner = c.lookup(&outer, "inner").unwrap();
    assert_eq!(rename(&mut c, &outer_inner, "a", &outer, "a"), 0);
    for h in [&a, &deep] {
        assert_eq!(c.lookup(h, ".."), Err(NFS3ERR_STALE), "`..` refused");
        assert_eq!(c.getattr(h), Err(NFS3ERR_STALE), "GETATTR refused");
        assert_eq!(
            create_unchecked(&mut c, h, "x"),
            Err(NFS3ERR_STALE),
            "CREATE refused"
        );
        assert_eq!(rename(&mut c, h, "deep", &inner, "d2"), NFS3ERR_STALE);
    }
    // Nothing reachable from the moved directory: the old walk to `/`.
    let mut cur = a.clone();
    for _ in 0..4 {
        match c.lookup(&cur, "..") {
            Ok(h) => cur = h,
            Err(e) => {
                assert_eq!(e, NFS3ERR_STALE);
                break;
            }
        }
    }
    assert_eq!(c.lookup(&cur, "outside_secret"), Err(NFS3ERR_STALE));
    // Moved back, it is inside again; the outer export always reached it with its own handles.
    let a_outer = c.lookup(&outer, "a").unwrap();
    assert!(c.getattr(&a_outer).is_ok());
    assert_eq!(rename(&mut c, &outer, "a", &outer_inner, "a"), 0);
    assert!(c.lookup(&deep, "..").is_ok());
    let top = c.lookup(&outer, "..").unwrap();
    assert_eq!(c.getattr(&top).unwrap(), c.getattr(&outer).unwrap());
    assert_eq!(c.lookup(&top, "outside_secret"), Err(2), "NOENT inside");
    still_serving(&server, "/inner");
}

// ---- sticky directories: the object checked is the object removed or moved ----

#[test]
fn sticky_directory_remove_and_rename_have_no_window() {
    let server = Server::start(Opts::standard());
    let b = &server.backing;
    mkdir_owned(&b.join("tmp"), 0, 0o1777);
    mkdir_owned(&b.join("own"), 1000, 0o755);
    file_owned(&b.join("tmp/v"), 2000, 0o666, b"victim");
    file_owned(&b.join("tmp/mine"), 1000, 0o644, b"mine");
    let mut c = connect_as(&server, 1000);
    let root = c.mnt("/data").unwrap();
    let tmp = c.lookup(&root, "tmp").unwrap();
    let own = c.lookup(&root, "own").unwrap();
    assert_eq!(remove(&mut c, &tmp, "v"), NFS3ERR_ACCES);
    assert_eq!(rename(&mut c, &tmp, "v", &tmp, "w"), NFS3ERR_ACCES);
    assert_eq!(rename(&mut c, &tmp, "mine", &tmp, "v"), NFS3ERR_ACCES);
    assert_eq!(rename(&mut c, &tmp, "v", &own, "v"), NFS3ERR_ACCES);
    let v = c.lookup(&tmp, "v").unwrap();

    // Race: one connection removes its own tmp/x<i>, another renames its own files over that
    // name, while a third renames a hard link to the victim over it. No victim link may ever
    // be removed or replaced by the attacker: at the end the victim has exactly
    // 1 + (links made) names.
    let current = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (removed, links, placed) = std::thread::scope(|s| {
        let remover = s.spawn(|| {
            let mut c = connect_as(&server, 1000);
            let (mut removed, start) = (0usize, Instant::now());
            while start.elapsed() < RACE && current.load(Ordering::SeqCst) < 2000 {
                let i = current.load(Ordering::SeqCst);
                let name = format!("x{i}");
                let _ = create_unchecked(&mut c, &tmp, &name);
                match remove(&mut c, &tmp, &name) {
                    0 => removed += 1,
                    NFS3ERR_ACCES => {
                        let _ =
                            current.compare_exchange(i, i + 1, Ordering::SeqCst, Ordering::SeqCst);
                    }
                    _ => {}
                }
            }
            stop.store(true, Ordering::SeqCst);
            removed
        });
        let linker = s.spawn(|| {
            let mut c = connect_as(&server, 1000);
            let (mut links, mut placed, mut k) = (0usize, 0usize, 0usize);
            while !stop.load(Ordering::SeqCst) {
                let l = format!("l{k}");
                k += 1;
                if link(&mut c, &v, &own, &l) != 0 {
                    continue;
                }
                links += 1;
                let i = current.load(Ordering::SeqCst);
                if rename(&mut c, &own, &l, &tmp, &format!("x{i}")) == 0 {
                    placed += 1;
                }
            }
            (links, placed)
        });
        // A third connection renames its own files over the same names (the target check).
        let replacer = s.spawn(|| {
            let mut c = connect_as(&server, 1000);
            let (mut replaced, mut k) = (0usize, 0usize);
            while !stop.load(Ordering::SeqCst) {
                let y = format!("y{k}");
                k += 1;
                if create_unchecked(&mut c, &own, &y).is_err() {
                    continue;
                }
                let i = current.load(Ordering::SeqCst);
                if rename(&mut c, &own, &y, &tmp, &format!("x{i}")) == 0 {
                    replaced += 1;
                }
            }
            replaced
        });
        let removed = remover.join().unwrap();
        let (links, placed) = linker.join().unwrap();
        let replaced = replacer.join().unwrap();
        (removed + replaced, links, placed)
    });
    println!(
        "own files removed or renamed over {removed}, victim links made {links}, placed {placed}"
    );
    assert!(removed > 10 && links > 10 && placed > 0, "every side ran");
    let m = std::fs::metadata(b.join("tmp/v")).unwrap();
    assert_eq!(
        m.nlink() as usize,
        1 + links,
        "no link to the victim was removed by its non-owner"
    );
    assert_eq!(
        (m.uid(), std::fs::read(b.join("tmp/v")).unwrap()),
        (2000, b"victim".to_vec())
    );
    still_serving(&server, "/data");
}

// ---- delete-on-close removes the name that was opened ----

const DOC_SCRIPT: &str = r#"
import os, sys, time, uuid
from smbprotocol.connection import Connection, Dialects
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.open import (Open, CreateDisposition, CreateOptions, FileAttributes,
    ImpersonationLevel, ShareAccess)

conn = Connection(uuid.uuid4(), "127.0.0.1", int(sys.argv[1]))
conn.connect(Dialects.SMB_3_1_1)
sess = Session(conn, "alice", "Pa55word!")
sess.connect()
tree = TreeConnect(sess, r"\\127.0.0.1\data")
tree.connect()
READ_DATA, WRITE_DATA, DELETE = 0x1, 0x2, 0x10000
ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE

def create(name, doc):
    f = Open(tree, name)
    opts = CreateOptions.FILE_NON_DIRECTORY_FILE
    if doc:
        opts |= CreateOptions.FILE_DELETE_ON_CLOSE
    f.create(ImpersonationLevel.Impersonation, READ_DATA | WRITE_DATA | DELETE,
             FileAttributes.FILE_ATTRIBUTE_NORMAL, ALL, CreateDisposition.FILE_CREATE, opts)
    return f

# Control: delete on close works.
create("own.txt", True).close()
f = create("doc.txt", True)
print("opened", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.02)
f.close()
create("after.txt", False).close()
print("ok", flush=True)
"#;

#[test]
fn delete_on_close_removes_only_the_object_opened() {
    let server = Server::start(Opts::standard());
    server.add_user("alice", "Pa55word!");
    let b = server.backing.clone();
    std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o777)).unwrap();
    file_owned(&b.join("victim.txt"), 2000, 0o644, b"bob's data");
    let flag = server.dir.0.join("replaced");
    let mut py = Command::new(venv_python())
        .arg("-c")
        .arg(DOC_SCRIPT)
        .arg(server.smb_port.to_string())
        .arg(&flag)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(py.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(|l| l.ok()).unwrap_or_default();
    assert_eq!(first, "opened", "{}", server.log());
    assert!(!b.join("own.txt").exists(), "delete on close works");
    assert!(b.join("doc.txt").exists());
    // While doc.txt is open delete-on-close, its name is replaced by a hard link to another
    // user's file (over NFS).
    let mut c = Client::connect(&server);
    let root = c.mnt("/data").unwrap();
    let victim = c.lookup(&root, "victim.txt").unwrap();
    assert_eq!(link(&mut c, &victim, &root, "t"), 0);
    assert_eq!(rename(&mut c, &root, "t", &root, "doc.txt"), 0);
    std::fs::write(&flag, b"").unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = py.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut py.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        status.success() && rest.iter().any(|l| l == "ok"),
        "{rest:?}\n{err}\n{}",
        server.log()
    );
    let doc = std::fs::metadata(b.join("doc.txt")).expect("the other user's name survives");
    let v = std::fs::metadata(b.join("victim.txt")).unwrap();
    assert_eq!((doc.ino(), v.nlink()), (v.ino(), 2));
    assert_eq!(std::fs::read(b.join("victim.txt")).unwrap(), b"bob's data");
    assert!(
        b.join("after.txt").exists(),
        "SMB still serves after the close"
    );
    still_serving(&server, "/data");
}

// ---- writes by a non-owner clear setuid/setgid ----

#[test]
fn writes_and_truncation_by_a_non_owner_clear_setuid_and_setgid() {
    let server = Server::start(Opts::standard());
    let b = &server.backing;
    mkdir_owned(&b.join("bin"), 1000, 0o755);
    file_owned(&b.join("bin/both"), 1000, 0o6777, b"#!/bin/sh\n");
    file_owned(&b.join("bin/lock"), 1000, 0o6766, b"data");
    file_owned(&b.join("bin/owned"), 1000, 0o4777, b"data");
    let mut c = connect_as(&server, 2000);
    let root = c.mnt("/data").unwrap();
    let dir = c.lookup(&root, "bin").unwrap();
    let both = c.lookup(&dir, "both").unwrap();
    assert!(c.write(&both, 10, b"evil\n", 2).is_ok());
    assert_eq!(
        mode_of(&b.join("bin/both")),
        0o777,
        "setuid and setgid cleared"
    );
    let lock = c.lookup(&dir, "lock").unwrap();
    assert_eq!(truncate(&mut c, &lock, 0), 0);
    assert_eq!(
        mode_of(&b.join("bin/lock")),
        0o2766,
        "setuid cleared, setgid without group-execute kept"
    );
    let mut owner = connect_as(&server, 1000);
    let owned = owner.lookup(&dir, "owned").unwrap();
    assert!(owner.write(&owned, 0, b"x", 2).is_ok());
    assert_eq!(
        mode_of(&b.join("bin/owned")),
        0o4777,
        "the owner's write keeps it"
    );
    assert_eq!(read(&mut owner, &owned, 10).unwrap(), b"xata");
    still_serving(&server, "/data");
}
