//! Byte-range locks and share modes end to end, with Python smbprotocol (`$SHOAL_VENV`) and
//! the libnfs tools against the `shoal` binary:
//! - two opens of one file: A's exclusive lock makes B's READ and WRITE into it fail with
//!   FILE_LOCK_CONFLICT and B's lock LOCK_NOT_GRANTED; after A unlocks, B locks and writes;
//! - an SMB open that shares only read refuses an NFS WRITE (NFS3ERR_ACCES) and REMOVE of the
//!   file, lets NFS read it, and the WRITE goes through after the SMB close.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{nfs_op, run, venv_python, Opts, Server};

/// Opens a file twice on one session and prints the status of each step.
const TWO_OPENS: &str = r#"
import sys, uuid
from smbprotocol.connection import Connection
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.open import (Open, CreateDisposition, CreateOptions, FilePipePrinterAccessMask,
                              ImpersonationLevel, ShareAccess, SMB2LockElement, LockFlags)
from smbprotocol.exceptions import SMBResponseException

port = int(sys.argv[1])
conn = Connection(uuid.uuid4(), "127.0.0.1", port)
conn.connect()
sess = Session(conn, "alice", "Pa55word!")
sess.connect()
tree = TreeConnect(sess, r"\\127.0.0.1\data")
tree.connect()

def open_rw(disposition):
    o = Open(tree, "locked.bin")
    o.create(ImpersonationLevel.Impersonation,
             FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE,
             0x80, ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE,
             disposition, CreateOptions.FILE_NON_DIRECTORY_FILE)
    return o

def element(offset, length, flags):
    e = SMB2LockElement()
    e["offset"] = offset
    e["length"] = length
    e["flags"] = flags
    return e

def status(f):
    try:
        f()
        return "OK"
    except SMBResponseException as e:
        return "%08x" % e.status

EXCL = LockFlags.SMB2_LOCKFLAG_EXCLUSIVE_LOCK | LockFlags.SMB2_LOCKFLAG_FAIL_IMMEDIATELY
a = open_rw(CreateDisposition.FILE_OVERWRITE_IF)
a.write(b"a" * 200, 0)
b = open_rw(CreateDisposition.FILE_OPEN)
print("a lock", status(lambda: a.lock([element(50, 100, EXCL)])))
print("b read", status(lambda: b.read(60, 10)))
print("b write", status(lambda: b.write(b"b" * 10, 60)))
print("b lock", status(lambda: b.lock([element(100, 10, EXCL)])))
print("b read outside", status(lambda: b.read(150, 10)))
print("a read", status(lambda: a.read(60, 10)))
print("a write", status(lambda: a.write(b"A" * 10, 60)))
print("a unlock", status(lambda: a.lock([element(50, 100, LockFlags.SMB2_LOCKFLAG_UNLOCK)])))
print("a unlock again", status(lambda: a.lock([element(50, 100, LockFlags.SMB2_LOCKFLAG_UNLOCK)])))
print("b lock after", status(lambda: b.lock([element(100, 10, EXCL)])))
print("b write after", status(lambda: b.write(b"B" * 10, 100)))
print("a write into b", status(lambda: a.write(b"A" * 10, 105)))
a.close()
b.close()
print("done")
"#;

/// Opens `held.txt` for read and write sharing only read, says so, and closes it when told.
const DENY_WRITE: &str = r#"
import sys, uuid
from smbprotocol.connection import Connection
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.open import (Open, CreateDisposition, CreateOptions, FilePipePrinterAccessMask,
                              ImpersonationLevel, ShareAccess)

port = int(sys.argv[1])
conn = Connection(uuid.uuid4(), "127.0.0.1", port)
conn.connect()
sess = Session(conn, "alice", "Pa55word!")
sess.connect()
tree = TreeConnect(sess, r"\\127.0.0.1\data")
tree.connect()
o = Open(tree, "held.txt")
o.create(ImpersonationLevel.Impersonation,
         FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE,
         0x80, ShareAccess.FILE_SHARE_READ, CreateDisposition.FILE_OPEN,
         CreateOptions.FILE_NON_DIRECTORY_FILE)
print("open", flush=True)
sys.stdin.readline()
o.close()
print("closed", flush=True)
"#;

fn server() -> Server {
    let s = Server::start(Opts::standard());
    s.add_user("alice", "Pa55word!");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&s.backing, std::fs::Permissions::from_mode(0o1777)).unwrap();
    s
}

#[test]
fn exclusive_lock_refuses_other_opens_io_until_unlocked() {
    let s = server();
    let stdout = s.run_python(TWO_OPENS);
    let expected = [
        ("a lock", "OK"),
        ("b read", "c0000054"),  // FILE_LOCK_CONFLICT
        ("b write", "c0000054"), // FILE_LOCK_CONFLICT
        ("b lock", "c0000055"),  // LOCK_NOT_GRANTED
        ("b read outside", "OK"),
        ("a read", "OK"),
        ("a write", "OK"),
        ("a unlock", "OK"),
        ("a unlock again", "c000007e"), // RANGE_NOT_LOCKED
        ("b lock after", "OK"),
        ("b write after", "OK"),
        ("a write into b", "c0000054"),
    ];
    for (step, status) in expected {
        assert!(
            stdout.contains(&format!("{step} {status}\n")),
            "{step}: want {status}\n{stdout}"
        );
    }
    assert!(stdout.trim_end().ends_with("done"), "{stdout}");
    let data = std::fs::read(s.backing.join("locked.bin")).unwrap();
    assert_eq!(&data[60..70], b"AAAAAAAAAA");
    assert_eq!(&data[100..110], b"BBBBBBBBBB");
    assert!(!s.log().contains("panicked"));
}

#[test]
fn nfs_write_refused_until_smb_deny_write_close() {
    let s = server();
    std::fs::write(s.backing.join("held.txt"), b"smb holds this").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        s.backing.join("held.txt"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let mut py = Command::new(venv_python())
        .arg("-c")
        .arg(DENY_WRITE)
        .arg(s.smb_port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(py.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(|l| l.ok());
    assert_eq!(first.as_deref(), Some("open"), "{}", s.log());

    // libnfs 4.0's nfs-cp cannot overwrite an existing file at all (its CREATE answers
    // NFS3ERR_EXIST with or without SMB state), so the WRITE comes from nfs-op.
    let export = s.nfs_url("/data", "");
    let write = || nfs_op(&export, &["write", "/held.txt", "from nfs"]);
    let refused = write();
    assert!(
        !refused.status.success(),
        "NFS WRITE over a deny-write SMB open"
    );
    // (libnfs 4.0's synchronous pwrite reports any NFS error as EFAULT, so the status is
    // not visible here; the same call succeeding after the close shows what refused it.)
    let unlink = nfs_op(&export, &["unlink", "/held.txt"]);
    assert!(!unlink.status.success(), "NFS REMOVE without share-delete");
    let cat = run(
        Command::new("nfs-cat").arg(s.nfs_url("/data", "/held.txt")),
        Duration::from_secs(60),
    );
    assert_eq!(cat.stdout, b"smb holds this", "reading is shared");
    assert_eq!(
        std::fs::read(s.backing.join("held.txt")).unwrap(),
        b"smb holds this"
    );

    py.stdin.take().unwrap().write_all(b"close\n").unwrap();
    assert_eq!(lines.next().and_then(|l| l.ok()).as_deref(), Some("closed"));
    assert!(py.wait().unwrap().success());
    let out = write();
    assert!(
        out.status.success(),
        "NFS WRITE after the SMB close: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    assert_eq!(
        std::fs::read(s.backing.join("held.txt")).unwrap(),
        b"from nfss this"
    );
}
