//! Issue 11, one permission model for both protocols: a security descriptor set over SMB binds
//! NFS callers too (deny ACEs, a DACL stricter than the mode bits: READ, WRITE, SETATTR of the
//! size and, by a non-owner, the times, CREATE/MKDIR/REMOVE/RENAME in the directory, the ACCESS
//! answer), and files and directories created over NFS inherit the parent's inheritable ACEs.
//! Descriptors are set and read back with Python smbprotocol (as tests/smb_security.rs does);
//! NFS is driven by the raw client (tests/common/nfs_raw.rs) with chosen AUTH_SYS uids.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use common::nfs_raw::{Client, NFS, R, W};
use common::{Opts, Server};

/// NFS3ERR_ACCES (RFC 1813 2.6).
const ACCES: u32 = 13;
/// ACCESS3 bits (RFC 1813 3.3.4).
const A_READ: u32 = 0x01;
const A_LOOKUP: u32 = 0x02;
const A_MODIFY: u32 = 0x04;
const A_EXTEND: u32 = 0x08;
const A_DELETE: u32 = 0x10;

/// Python prelude: connect as `SMB_USER`, build SIDs/ACLs/descriptors byte by byte (MS-DTYP
/// 2.4), QUERY_INFO / SET_INFO security.
const PRELUDE: &str = r#"
import os, struct, sys, uuid
from smbprotocol.connection import Connection, Dialects
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.open import (Open, CreateDisposition, CreateOptions, FileAttributes,
    ImpersonationLevel, ShareAccess, SMB2QueryInfoRequest, SMB2QueryInfoResponse,
    SMB2SetInfoRequest)

port = int(sys.argv[1])
conn = Connection(uuid.uuid4(), "127.0.0.1", port)
conn.connect(Dialects.SMB_3_1_1)
sess = Session(conn, os.environ.get("SMB_USER", "alice"), "Pa55word!")
sess.connect()
tree = TreeConnect(sess, r"\\127.0.0.1\data")
tree.connect()

READ_CONTROL, WRITE_DAC = 0x20000, 0x40000
READ_DATA, WRITE_DATA, APPEND, DELETE_CHILD, DELETE = 0x1, 0x2, 0x4, 0x40, 0x10000
FA, READ_EXEC = 0x1F01FF, 0x1200A9
OWNER, GROUP, DACL = 1, 2, 4

def sid(s):
    p = s.split("-")
    subs = [int(x) for x in p[3:]]
    return struct.pack("<BB", 1, len(subs)) + int(p[2]).to_bytes(6, "big") + \
        b"".join(struct.pack("<I", x) for x in subs)

def ace(kind, flags, mask, s):
    b = sid(s)
    return struct.pack("<BBHI", kind, flags, 8 + len(b), mask) + b

def acl(aces):
    body = b"".join(aces)
    return struct.pack("<BBHHH", 2, 0, 8 + len(body), len(aces), 0) + body

def sd(control, dacl):
    return struct.pack("<BBHIIII", 1, 0, control | 0x8000, 0, 0, 0, 20) + dacl

def parse_sd(b):
    rev, _, control, o, g, s, d = struct.unpack_from("<BBHIIII", b)
    def sid_at(off):
        if off == 0:
            return None
        n = b[off + 1]
        subs = struct.unpack_from("<%dI" % n, b, off + 8)
        return "S-1-%d" % int.from_bytes(b[off + 2:off + 8], "big") + "".join("-%d" % x for x in subs)
    aces = None
    if d:
        _, _, size, count, _ = struct.unpack_from("<BBHHH", b, d)
        aces, at = [], d + 8
        for _ in range(count):
            t, f, sz, m = struct.unpack_from("<BBHI", b, at)
            aces.append((t, f, m, sid_at(at + 8)))
            at += sz
    return {"owner": sid_at(o), "dacl": aces}

def open_file(name, access, disp=CreateDisposition.FILE_OPEN, directory=False):
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, access, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE,
             disp, CreateOptions.FILE_DIRECTORY_FILE if directory else CreateOptions.FILE_NON_DIRECTORY_FILE)
    return f

def query(f, info):
    req = SMB2QueryInfoRequest()
    req["info_type"] = 3
    req["file_info_class"] = 0
    req["output_buffer_length"] = 4096
    req["additional_information"] = info
    req["file_id"] = f.file_id
    r = conn.send(req, sid=sess.session_id, tid=tree.tree_connect_id)
    resp = SMB2QueryInfoResponse()
    resp.unpack(conn.receive(r)["data"].get_value())
    return resp["buffer"].get_value()

def set_dacl(f, aces):
    req = SMB2SetInfoRequest()
    req["info_type"] = 3
    req["file_info_class"] = 0
    req["additional_information"] = DACL
    req["file_id"] = f.file_id
    req["buffer"] = sd(0x4, acl(aces))
    r = conn.send(req, sid=sess.session_id, tid=tree.tree_connect_id)
    conn.receive(r)

def check(cond, what):
    if not cond:
        print("FAIL", what)
        sys.exit(1)
"#;

fn python_as(s: &Server, user: &str, script: &str, args: &[String]) -> String {
    let stdout = s.run_python_with(&format!("{PRELUDE}{script}"), args, &[("SMB_USER", user)]);
    assert!(stdout.contains("ok"), "{stdout}\n{}", s.log());
    stdout
}

/// A user's SID as shoal reports it: the owner of the synthesized descriptor of a file the
/// user creates over SMB.
fn sid_of(s: &Server, user: &str) -> String {
    let out = python_as(
        s,
        user,
        &format!(
            r#"
f = open_file("probe-{user}.txt", READ_CONTROL, CreateDisposition.FILE_CREATE)
print("SID", parse_sd(query(f, OWNER))["owner"])
f.close()
print("ok")
"#
        ),
        &[],
    );
    out.lines()
        .find_map(|l| l.strip_prefix("SID "))
        .expect("owner SID printed")
        .trim()
        .to_string()
}

/// A server with SMB users alice (uid 1000) and bob (uid 1001) and their SIDs.
fn server_with_users() -> (Server, String, String) {
    let s = Server::start(Opts::standard());
    s.add_user("alice", "Pa55word!");
    s.add_user("bob", "Pa55word!");
    std::fs::set_permissions(&s.backing, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let alice = sid_of(&s, "alice");
    let bob = sid_of(&s, "bob");
    assert!(alice.starts_with("S-1-5-21-") && bob.starts_with("S-1-5-21-"));
    (s, alice, bob)
}

fn chmod(s: &Server, rel: &str, mode: u32) {
    std::fs::set_permissions(s.backing.join(rel), std::fs::Permissions::from_mode(mode)).unwrap();
}

fn nfs(s: &Server, uid: u32) -> (Client, Vec<u8>) {
    let mut c = Client::connect(s);
    c.uid = uid;
    let root = c.mnt("/data").expect("mount /data");
    (c, root)
}

fn path(c: &mut Client, root: &[u8], rel: &str) -> Vec<u8> {
    let mut fh = root.to_vec();
    for part in rel.split('/') {
        fh = c.lookup(&fh, part).expect(rel);
    }
    fh
}

/// READ (RFC 1813 3.3.6) → data or status.
fn read(c: &mut Client, fh: &[u8]) -> Result<Vec<u8>, u32> {
    let body = c.call(NFS, 6, W::default().opaque(fh).u64(0).u32(4096));
    let mut r = R(&body);
    let st = r.u32();
    r.post_op_attr();
    if st != 0 {
        return Err(st);
    }
    let _count = r.u32();
    let _eof = r.u32();
    Ok(r.opaque())
}

/// ACCESS (RFC 1813 3.3.4) asking every bit → the bits granted.
fn access(c: &mut Client, fh: &[u8]) -> u32 {
    let body = c.call(NFS, 4, W::default().opaque(fh).u32(0x3f));
    let mut r = R(&body);
    assert_eq!(r.u32(), 0, "ACCESS failed");
    r.post_op_attr();
    r.u32()
}

/// SETATTR (RFC 1813 3.3.2) of the size only → status.
fn truncate(c: &mut Client, fh: &[u8], size: u64) -> u32 {
    let args = W::default()
        .opaque(fh)
        .u32(0) // mode
        .u32(0) // uid
        .u32(0) // gid
        .u32(1)
        .u64(size)
        .u32(0) // atime
        .u32(0) // mtime
        .u32(0); // no guard
    c.status_only(2, args)
}

/// SETATTR (RFC 1813 3.3.2) of both times to the server's time → status.
fn touch(c: &mut Client, fh: &[u8]) -> u32 {
    let args = W::default()
        .opaque(fh)
        .u32(0) // mode
        .u32(0) // uid
        .u32(0) // gid
        .u32(0) // size
        .u32(1) // atime: SET_TO_SERVER_TIME
        .u32(1) // mtime: SET_TO_SERVER_TIME
        .u32(0); // no guard
    c.status_only(2, args)
}

fn create(c: &mut Client, dir: &[u8], name: &str) -> Result<Vec<u8>, u32> {
    c.create(dir, name, W::default().u32(0).sattr_mode(0o644))
}

fn remove(c: &mut Client, dir: &[u8], name: &str) -> u32 {
    c.status_only(12, W::default().opaque(dir).opaque(name.as_bytes()))
}

fn rename(c: &mut Client, dir: &[u8], from: &str, to: &str) -> u32 {
    c.status_only(
        14,
        W::default()
            .opaque(dir)
            .opaque(from.as_bytes())
            .opaque(dir)
            .opaque(to.as_bytes()),
    )
}

/// alice sets, over SMB: on `d/secret.txt` deny ACEs for bob's SID and for the unmapped Unix
/// user 4242 (then Everyone full control); on `d/readonly.txt` only Everyone read; on directory
/// `d` a deny of FILE_ADD_FILE / FILE_ADD_SUBDIRECTORY / FILE_DELETE_CHILD for bob. The mode bits
/// (0666 files, 0777 directory) would let everyone do everything. Over NFS, bob's uid (1001,
/// mapped to his SID through the user database) and uid 4242 are refused; carol (uid 1002, no
/// ACE) and alice still work, and ACCESS answers say the same.
#[test]
fn smb_deny_aces_bind_nfs_callers() {
    let (s, _alice, bob) = server_with_users();
    python_as(
        &s,
        "alice",
        r#"
bob = sys.argv[2]
d = open_file("d", READ_CONTROL | WRITE_DAC | READ_DATA, CreateDisposition.FILE_CREATE, directory=True)
for name, data in (("d\\secret.txt", b"top secret"), ("d\\readonly.txt", b"read me"), ("d\\other.txt", b"o")):
    f = open_file(name, READ_CONTROL | WRITE_DAC | READ_DATA | WRITE_DATA, CreateDisposition.FILE_CREATE)
    f.write(data, 0)
    if name == "d\\secret.txt":
        set_dacl(f, [ace(1, 0, READ_DATA | WRITE_DATA | APPEND, bob),
                     ace(1, 0, READ_DATA | WRITE_DATA | APPEND, "S-1-22-1-4242"),
                     ace(0, 0, FA, "S-1-1-0")])
    if name == "d\\readonly.txt":
        set_dacl(f, [ace(0, 0, READ_EXEC | READ_CONTROL | WRITE_DAC, "S-1-1-0")])
    f.close()
set_dacl(d, [ace(1, 0, WRITE_DATA | APPEND | DELETE_CHILD, bob), ace(0, 0, FA, "S-1-1-0")])
d.close()
print("ok")
"#,
        std::slice::from_ref(&bob),
    );
    chmod(&s, "d", 0o777);
    for f in ["d/secret.txt", "d/readonly.txt", "d/other.txt"] {
        chmod(&s, f, 0o666);
    }

    // bob over NFS: denied by the ACE naming his SMB SID.
    let (mut b, root) = nfs(&s, 1001);
    let dir = path(&mut b, &root, "d");
    let secret = path(&mut b, &root, "d/secret.txt");
    assert_eq!(read(&mut b, &secret), Err(ACCES), "bob READ");
    assert_eq!(b.write(&secret, 0, b"x", 2).err(), Some(ACCES), "bob WRITE");
    assert_eq!(truncate(&mut b, &secret, 0), ACCES, "bob SETATTR size");
    let granted = access(&mut b, &secret);
    assert_eq!(
        granted & (A_READ | A_MODIFY | A_EXTEND),
        0,
        "bob ACCESS {granted:#x}"
    );
    // ... and in the directory: no create, mkdir, remove or rename.
    assert_eq!(
        create(&mut b, &dir, "bob.txt").err(),
        Some(ACCES),
        "bob CREATE"
    );
    assert_eq!(b.mkdir(&dir, "bobdir").err(), Some(ACCES), "bob MKDIR");
    assert_eq!(remove(&mut b, &dir, "other.txt"), ACCES, "bob REMOVE");
    assert_eq!(
        rename(&mut b, &dir, "other.txt", "moved.txt"),
        ACCES,
        "bob RENAME"
    );
    let granted = access(&mut b, &dir);
    assert_eq!(
        granted & (A_MODIFY | A_EXTEND | A_DELETE),
        0,
        "bob ACCESS on d {granted:#x}"
    );
    assert_eq!(granted & (A_READ | A_LOOKUP), A_READ | A_LOOKUP);
    // The mode bits still decide where no descriptor is stored: bob writes other.txt.
    let other = path(&mut b, &root, "d/other.txt");
    assert!(b.write(&other, 0, b"O", 2).is_ok(), "bob WRITE other.txt");
    assert!(
        create(&mut b, &root, "bob-at-root.txt").is_ok(),
        "bob CREATE at the root"
    );

    // The unmapped Unix user named by S-1-22-1-4242: denied too.
    let (mut u, root_u) = nfs(&s, 4242);
    let secret_u = path(&mut u, &root_u, "d/secret.txt");
    assert_eq!(read(&mut u, &secret_u), Err(ACCES), "uid 4242 READ");
    assert_eq!(u.write(&secret_u, 0, b"x", 2).err(), Some(ACCES));

    // carol (uid 1002, no ACE of hers) and alice still read and write.
    let (mut c, root_c) = nfs(&s, 1002);
    let secret_c = path(&mut c, &root_c, "d/secret.txt");
    assert_eq!(read(&mut c, &secret_c).as_deref(), Ok(&b"top secret"[..]));
    assert!(c.write(&secret_c, 0, b"T", 2).is_ok(), "carol WRITE");
    let granted = access(&mut c, &secret_c);
    assert_eq!(
        granted & (A_READ | A_MODIFY | A_EXTEND),
        A_READ | A_MODIFY | A_EXTEND
    );
    let dir_c = path(&mut c, &root_c, "d");
    assert!(create(&mut c, &dir_c, "carol.txt").is_ok(), "carol CREATE");
    assert_eq!(rename(&mut c, &dir_c, "carol.txt", "carol2.txt"), 0);
    assert_eq!(remove(&mut c, &dir_c, "carol2.txt"), 0);
    assert!(c.mkdir(&dir_c, "carol-dir").is_ok());
    let (mut a, root_a) = nfs(&s, 1000);
    let secret_a = path(&mut a, &root_a, "d/secret.txt");
    assert_eq!(read(&mut a, &secret_a).as_deref(), Ok(&b"Top secret"[..]));

    // A DACL stricter than the mode bits (0666, Everyone read only): carol reads, cannot write.
    let ro = path(&mut c, &root_c, "d/readonly.txt");
    assert_eq!(read(&mut c, &ro).as_deref(), Ok(&b"read me"[..]));
    assert_eq!(
        c.write(&ro, 0, b"x", 2).err(),
        Some(ACCES),
        "carol WRITE readonly"
    );
    assert_eq!(
        truncate(&mut c, &ro, 0),
        ACCES,
        "carol SETATTR size readonly"
    );
    assert_eq!(touch(&mut c, &ro), ACCES, "carol SETATTR times readonly");
    assert_eq!(touch(&mut c, &secret_c), 0, "carol SETATTR times secret");
    let granted = access(&mut c, &ro);
    assert_eq!(
        granted & (A_READ | A_MODIFY | A_EXTEND),
        A_READ,
        "{granted:#x}"
    );
    // Nothing changed on disk.
    assert_eq!(
        std::fs::read(s.backing.join("d/secret.txt")).unwrap(),
        b"Top secret"
    );
    assert_eq!(
        std::fs::read(s.backing.join("d/readonly.txt")).unwrap(),
        b"read me"
    );
    assert!(s.backing.join("d/other.txt").exists());
    assert!(!s.backing.join("d/bob.txt").exists());
}

/// alice gives directory `inh`, over SMB, inheritable ACEs (alice full control and Everyone
/// read, OI|CI; CREATOR OWNER full control, inherit-only) and two that are not inheritable
/// (BUILTIN\Administrators full control; Authenticated Users FILE_ADD_FILE and
/// FILE_ADD_SUBDIRECTORY, without which bob could not create anything there). bob creates a file and a directory in it over NFS: read back over
/// SMB, they carry the inherited ACEs, CREATOR OWNER replaced by bob's SID (his uid maps to it),
/// bob as owner, and nothing of the non-inheritable ACEs. The inherited DACL binds NFS at once:
/// carol (Everyone: read) cannot write bob's new file although its mode is 0666.
#[test]
fn nfs_creates_inherit_the_parents_inheritable_aces() {
    let (s, alice, bob) = server_with_users();
    python_as(
        &s,
        "alice",
        r#"
alice = sys.argv[2]
d = open_file("inh", READ_CONTROL | WRITE_DAC | READ_DATA, CreateDisposition.FILE_CREATE, directory=True)
set_dacl(d, [ace(0, 0x3, FA, alice), ace(0, 0x3, READ_EXEC, "S-1-1-0"),
             ace(0, 0xB, FA, "S-1-3-0"), ace(0, 0, FA, "S-1-5-32-544"),
             ace(0, 0, WRITE_DATA | APPEND, "S-1-5-11")])
d.close()
print("ok")
"#,
        std::slice::from_ref(&alice),
    );
    chmod(&s, "inh", 0o777);
    let (mut b, root) = nfs(&s, 1001);
    let dir = path(&mut b, &root, "inh");
    let file = create(&mut b, &dir, "n.txt").expect("bob CREATE in inh");
    b.mkdir(&dir, "sub").expect("bob MKDIR in inh");
    // bob, the owner (CREATOR OWNER: full control), writes his new file over NFS.
    assert!(b.write(&file, 0, b"mine", 2).is_ok(), "bob WRITE n.txt");
    chmod(&s, "inh/n.txt", 0o666);
    let (mut c, root_c) = nfs(&s, 1002);
    let n_c = path(&mut c, &root_c, "inh/n.txt");
    assert_eq!(
        read(&mut c, &n_c).as_deref(),
        Ok(&b"mine"[..]),
        "carol READ"
    );
    assert_eq!(c.write(&n_c, 0, b"x", 2).err(), Some(ACCES), "carol WRITE");

    python_as(
        &s,
        "alice",
        r#"
alice, bob = sys.argv[2], sys.argv[3]
f = open_file("inh\\n.txt", READ_CONTROL)
got = parse_sd(query(f, OWNER | DACL))
f.close()
check(got["owner"] == bob, "file owner %s" % got)
check(got["dacl"] == [(0, 0x10, FA, alice), (0, 0x10, READ_EXEC, "S-1-1-0"), (0, 0x10, FA, bob)],
      "file dacl %s" % got)
d = open_file("inh\\sub", READ_CONTROL, directory=True)
got = parse_sd(query(d, OWNER | DACL))
d.close()
check(got["owner"] == bob, "dir owner %s" % got)
check(got["dacl"] == [(0, 0x13, FA, alice), (0, 0x13, READ_EXEC, "S-1-1-0"), (0, 0x10, FA, bob),
                      (0, 0x1B, FA, "S-1-3-0")], "dir dacl %s" % got)
print("ok")
"#,
        &[alice, bob],
    );
}

/// Cost on the NFS hot path: READ (4 KiB) and GETATTR of a file without and with a stored
/// descriptor, over one connection (run with `--ignored --nocapture`; prints µs per call).
#[test]
#[ignore]
fn measure_descriptor_cost_on_nfs_reads() {
    let (s, _alice, bob) = server_with_users();
    python_as(
        &s,
        "alice",
        r#"
bob = sys.argv[2]
for name in ("plain.bin", "acl.bin"):
    f = open_file(name, READ_CONTROL | WRITE_DAC | READ_DATA | WRITE_DATA, CreateDisposition.FILE_CREATE)
    f.write(b"x" * 4096, 0)
    if name == "acl.bin":
        set_dacl(f, [ace(1, 0, WRITE_DATA, bob), ace(0, 0, FA, "S-1-1-0")])
    f.close()
print("ok")
"#,
        &[bob],
    );
    let (mut c, root) = nfs(&s, 1002);
    for name in ["plain.bin", "acl.bin"] {
        let fh = path(&mut c, &root, name);
        for _ in 0..2000 {
            read(&mut c, &fh).unwrap();
        }
        let n = 20_000;
        let t = Instant::now();
        for _ in 0..n {
            read(&mut c, &fh).unwrap();
        }
        let r = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        let t = Instant::now();
        for _ in 0..n {
            c.getattr(&fh).unwrap();
        }
        let g = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        println!("{name}: READ 4 KiB {r:.1} us/call, GETATTR {g:.1} us/call");
    }
}
