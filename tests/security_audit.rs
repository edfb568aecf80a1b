//! Audit completeness under attack (issue 11): truncations that left no event (NFS SETATTR
//! size, NFS CREATE UNCHECKED with a size, SMB SET_INFO EndOfFile/AllocationSize, CREATE
//! OVERWRITE/SUPERSEDE) in both failure modes; audit names built from raw client paths
//! (`a\..\..\b`, `..\..\etc\passwd`); session events in guaranteed mode; the user database's
//! mode. Hand-written NFS calls (tests/common/nfs_raw.rs) and Python smbprotocol's low-level
//! API, against the release binary.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use common::nfs_raw::{Client, W};
use common::{run, venv_python, Opts, Server};
use serde_json::Value;

fn server(mode: &str) -> Server {
    let mut opts = Opts::standard();
    opts.body.push_str(&format!(
        "\n[audit]\nenabled = true\nmode = \"{mode}\"\nio_coalesce_ms = 0\n"
    ));
    let s = Server::start(opts);
    s.add_user("alice", "Pa55word!");
    std::fs::set_permissions(&s.backing, std::fs::Permissions::from_mode(0o1777)).unwrap();
    s
}

const PRELUDE: &str = r#"
import struct, sys, uuid
from smbprotocol.connection import Connection, Dialects
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.open import (Open, CreateDisposition, CreateOptions, FileAttributes,
    ImpersonationLevel, ShareAccess, SMB2SetInfoRequest)
from smbprotocol.exceptions import SMBResponseException

port = int(sys.argv[1])
conn = Connection(uuid.uuid4(), "127.0.0.1", port)
conn.connect(Dialects.SMB_3_1_1)
sess = Session(conn, "alice", "Pa55word!", require_encryption=False)
sess.connect()
tree = TreeConnect(sess, r"\\127.0.0.1\data")
tree.connect()

def check(cond, what):
    if not cond:
        print("FAIL", what)
        sys.exit(1)

def open_file(name, dispo=CreateDisposition.FILE_OPEN_IF, access=0x0012019F):
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, access, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE,
             dispo, 0)
    return f

def set_info(f, klass, buf):
    r = SMB2SetInfoRequest()
    r["info_type"] = 1
    r["file_info_class"] = klass
    r["file_id"] = f.file_id
    r["buffer"] = buf
    req = conn.send(r, sid=sess.session_id, tid=tree.tree_connect_id)
    conn.receive(req)
"#;

fn python(s: &Server, script: &str) -> String {
    let out = run(
        Command::new(venv_python())
            .arg("-c")
            .arg(format!("{PRELUDE}{script}"))
            .arg(s.smb_port.to_string()),
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && stdout.contains("ok"),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    stdout
}

/// `write_file` events on `name` that set a size: their `newSize` values, in log order.
fn resizes(events: &[Value], name: &str) -> Vec<u64> {
    events
        .iter()
        .filter(|e| e["detailType"] == "write_file" && e["fileName"] == name)
        .filter_map(|e| e["newSize"].as_u64())
        .collect()
}

/// The attack: an NFS client truncates a file with SETATTR size=0 (and with CREATE
/// UNCHECKED size=0 over an existing name); an SMB client truncates with SET_INFO
/// EndOfFile and AllocationSize and with CREATE OVERWRITE and SUPERSEDE. Each is a
/// `write_file` event with the new size, in both failure modes.
fn truncations_are_audited(mode: &str) {
    let s = server(mode);
    for n in ["n1.txt", "n2.txt", "s1.txt", "s2.txt", "s3.txt", "s4.txt"] {
        std::fs::write(s.backing.join(n), b"precious data").unwrap();
        std::fs::set_permissions(s.backing.join(n), std::fs::Permissions::from_mode(0o666))
            .unwrap();
    }
    // NFS: SETATTR size=0, then CREATE UNCHECKED size=0 over an existing file.
    let mut c = Client::connect(&s);
    let root = c.mnt("/data").unwrap();
    let fh = c.lookup(&root, "n1.txt").unwrap();
    let sattr_size0 = |w: W| w.u32(0).u32(0).u32(0).u32(1).u64(0).u32(0).u32(0);
    let st = c.status_only(2, sattr_size0(W::default().opaque(&fh)).u32(0));
    assert_eq!(st, 0, "SETATTR size=0");
    let how = sattr_size0(W::default().u32(0));
    c.create(&root, "n2.txt", how).unwrap();
    assert_eq!(
        std::fs::metadata(s.backing.join("n1.txt")).unwrap().len(),
        0
    );
    assert_eq!(
        std::fs::metadata(s.backing.join("n2.txt")).unwrap().len(),
        0
    );
    // SMB: EndOfFile shrink, AllocationSize shrink, OVERWRITE, SUPERSEDE.
    python(
        &s,
        r#"
f = open_file("s1.txt")
set_info(f, 20, struct.pack("<Q", 3))      # FileEndOfFileInformation
f.close()
f = open_file("s2.txt")
set_info(f, 19, struct.pack("<Q", 0))      # FileAllocationInformation
f.close()
open_file("s3.txt", CreateDisposition.FILE_OVERWRITE).close()
open_file("s4.txt", CreateDisposition.FILE_SUPERSEDE).close()
print("ok")
"#,
    );
    assert_eq!(
        std::fs::metadata(s.backing.join("s1.txt")).unwrap().len(),
        3
    );
    for n in ["s2.txt", "s3.txt", "s4.txt"] {
        assert_eq!(
            std::fs::metadata(s.backing.join(n)).unwrap().len(),
            0,
            "{n}"
        );
    }
    let ev = s.audit_view("protocol");
    assert_eq!(resizes(&ev, "/n1.txt"), [0], "NFS SETATTR size=0");
    assert_eq!(resizes(&ev, "/n2.txt"), [0], "NFS CREATE UNCHECKED size=0");
    assert_eq!(resizes(&ev, "/s1.txt"), [3], "SMB EndOfFile");
    assert_eq!(resizes(&ev, "/s2.txt"), [0], "SMB AllocationSize");
    assert_eq!(resizes(&ev, "/s3.txt"), [0], "SMB OVERWRITE");
    assert_eq!(resizes(&ev, "/s4.txt"), [0], "SMB SUPERSEDE");
    for e in ev.iter().filter(|e| e["newSize"].is_u64()) {
        assert_eq!(e["bytesWritten"], 0, "{e}");
        assert_eq!(e["ntStatus"], 0, "{e}");
    }
}

#[test]
fn truncations_are_audited_in_best_effort_mode() {
    truncations_are_audited("best_effort");
}

#[test]
fn truncations_are_audited_in_guaranteed_mode() {
    truncations_are_audited("guaranteed");
}

/// The attack: `alice\..\..\..\alice\x1.txt` written over SMB, a failed open of
/// `..\..\etc\passwd`, and NFS calls naming `..`. Audit names are the normalized path
/// of what was opened (or would have been), relative to the share/export root: never `..`.
#[test]
fn audit_names_are_normalized_paths_never_raw_client_paths() {
    let s = server("best_effort");
    std::fs::create_dir(s.backing.join("alice")).unwrap();
    std::fs::set_permissions(
        s.backing.join("alice"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    python(
        &s,
        r#"
f = open_file("alice\\..\\..\\..\\alice\\x1.txt")
f.write(b"hello", 0)
f.close()
try:
    open_file("..\\..\\etc\\passwd", CreateDisposition.FILE_OPEN, access=0x00120089).close()
    check(False, "..\\..\\etc\\passwd opened")
except SMBResponseException as e:
    pass
f = open_file(".\\alice\\.\\x2.txt")
f.close()
print("ok")
"#,
    );
    assert_eq!(
        std::fs::read(s.backing.join("alice/x1.txt")).unwrap(),
        b"hello"
    );
    // NFS: REMOVE and CREATE naming `..` (refused), from inside `alice`.
    let mut c = Client::connect(&s);
    let root = c.mnt("/data").unwrap();
    let dir = c.lookup(&root, "alice").unwrap();
    let st = c.status_only(12, W::default().opaque(&dir).opaque(b".."));
    assert_ne!(st, 0, "REMOVE .. refused");
    let st = c.status_only(12, W::default().opaque(&root).opaque(b".."));
    assert_ne!(st, 0, "REMOVE .. at the root refused");
    let ev = s.audit_view("protocol");
    let names: Vec<&str> = ev.iter().filter_map(|e| e["fileName"].as_str()).collect();
    assert!(
        names
            .iter()
            .all(|n| !n.split('/').any(|c| c == ".." || c == ".")),
        "raw path in the audit log: {names:?}"
    );
    let has = |detail: &str, name: &str| {
        ev.iter()
            .any(|e| e["detailType"] == detail && e["fileName"] == name)
    };
    assert!(has("create_file", "/alice/x1.txt"), "{names:?}");
    assert!(has("write_file", "/alice/x1.txt"), "{names:?}");
    assert!(has("close_file_modified", "/alice/x1.txt"), "{names:?}");
    assert!(has("create_file", "/alice/x2.txt"), "{names:?}");
    // The failed open is logged normalized (clamped at the share root).
    assert!(
        ev.iter()
            .any(|e| e["fileName"] == "/etc/passwd" && e["ntStatus"] != 0),
        "{names:?}"
    );
    // The failed NFS REMOVEs name the parent of `alice` (the root) and the root itself.
    let removes: Vec<&str> = ev
        .iter()
        .filter(|e| e["detailType"] == "delete_file" || e["detailType"] == "delete_directory")
        .filter_map(|e| e["fileName"].as_str())
        .collect();
    assert!(
        removes.iter().all(|n| *n == "/"),
        "REMOVE .. logged as {removes:?}"
    );
}

/// `users.sqlite` holds NT hashes (password equivalents): created 0600, and an existing
/// world-readable one is narrowed to 0600 when opened.
#[test]
fn the_user_database_is_private() {
    let s = server("best_effort");
    let db = s.state.join("users.sqlite");
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "users.sqlite mode {mode:o}");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    s.add_user("bob", "Pa55word!");
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "users.sqlite mode after reopen {mode:o}");
}

/// A tmpfs mounted for the test's audit log, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(path: &std::path::Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let out = run(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(path),
            Duration::from_secs(20),
        );
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs to fill the audit log's disk (needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(path.to_path_buf())
    }

    /// Fills the filesystem to the last byte with `filler`.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let p = self.0.join("filler");
        let mut f = std::fs::File::create(&p).unwrap();
        let mut chunk = 1 << 16;
        while chunk > 0 {
            if f.write_all(&vec![0u8; chunk]).is_err() {
                chunk /= 2;
            }
        }
        p
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The attack surface: in guaranteed mode, an operation whose event cannot be made durable
/// must be refused; session events were fire-and-forget. With the log's disk full, new
/// logons, tree connects and opens are refused (STATUS_ACCESS_DENIED) and leave no session,
/// tree or open;
/// once space is back, the server serves again.
#[test]
fn session_operations_are_refused_when_their_events_cannot_be_made_durable() {
    let tmp = common::TempDir::new("audit-full");
    let fs = Tmpfs::mount(&tmp.0.join("log"), "8m");
    let mut opts = Opts::standard();
    opts.body.push_str(&format!(
        "\n[audit]\nenabled = true\nmode = \"guaranteed\"\nio_coalesce_ms = 0\nlog_dir = {:?}\n",
        fs.0
    ));
    let s = Server::start(opts);
    s.add_user("alice", "Pa55word!");
    std::fs::write(s.backing.join("existing.txt"), b"x").unwrap();
    std::fs::set_permissions(
        s.backing.join("existing.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let flag = |n: &str| tmp.0.join(n);
    let script = format!(
        r#"
import os, time
def wait_for(name):
    deadline = time.time() + 60
    while not os.path.exists(os.path.join({dir:?}, name)):
        check(time.time() < deadline, "waited for " + name)
        time.sleep(0.05)
def logon():
    c = Connection(uuid.uuid4(), "127.0.0.1", port)
    c.connect(Dialects.SMB_3_1_1)
    x = Session(c, "alice", "Pa55word!", require_encryption=False)
    x.connect()
    return x
open(os.path.join({dir:?}, "ready"), "w").close()
wait_for("full")
# The log's disk is full: logons are refused (a few may still fit in the last page).
refused = False
for i in range(64):
    try:
        logon()
    except SMBResponseException as e:
        check(e.status == 0xC0000022, "logon: status %x" % e.status)
        refused = True
        break
check(refused, "logons accepted with the audit log's disk full")
try:
    TreeConnect(sess, r"\\127.0.0.1\data").connect()
    check(False, "tree connect accepted with the audit log's disk full")
except SMBResponseException as e:
    check(e.status == 0xC0000022, "tree connect: status %x" % e.status)
# Opening an existing file: its open event cannot be made durable either.
try:
    open_file("existing.txt", CreateDisposition.FILE_OPEN, access=0x00120089).close()
    check(False, "open accepted with the audit log's disk full")
except SMBResponseException as e:
    check(e.status == 0xC0000022, "open: status %x" % e.status)
open(os.path.join({dir:?}, "refused"), "w").close()
wait_for("freed")
time.sleep(1)
x = logon()
t = TreeConnect(x, r"\\127.0.0.1\data")
t.connect()
open_file("existing.txt", CreateDisposition.FILE_OPEN, access=0x00120089).close()
print("ok")
"#,
        dir = tmp.0
    );
    let mut child = Command::new(venv_python())
        .arg("-c")
        .arg(format!("{PRELUDE}{script}"))
        .arg(s.smb_port.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let wait = |n: &str| {
        let t0 = std::time::Instant::now();
        while !flag(n).exists() {
            assert!(t0.elapsed() < Duration::from_secs(60), "no {n}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait("ready");
    let filler = fs.fill();
    std::fs::File::create(flag("full")).unwrap();
    let t0 = std::time::Instant::now();
    while !flag("refused").exists() && t0.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::remove_file(&filler).unwrap();
    std::fs::File::create(flag("freed")).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("ok"),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    drop(s);
}
