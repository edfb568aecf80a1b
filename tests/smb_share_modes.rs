//! Share modes and delete-on-close through the lock manager, driven by Python smbprotocol
//! (two connections of one user): a deny-write open refuses another connection's writer with
//! STATUS_SHARING_VIOLATION and admits its reader; FILE_DELETE_ON_CLOSE marks that open only,
//! so a second open of the temp file succeeds and the file goes when the last handle closes;
//! once delete is pending new opens get STATUS_DELETE_PENDING; the refused open is an audit
//! failure event carrying its NTSTATUS.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Opts, Server};

const SCRIPT: &str = r#"
import sys, uuid
from smbprotocol.connection import Connection
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.open import (Open, CreateDisposition, CreateOptions, FileAttributes,
    FilePipePrinterAccessMask as A, ImpersonationLevel, ShareAccess)
from smbprotocol.exceptions import SharingViolation, DeletePending

port = int(sys.argv[1])
def tree():
    c = Connection(uuid.uuid4(), "127.0.0.1", port)
    c.connect()
    s = Session(c, "alice", "Pa55word!")
    s.connect()
    t = TreeConnect(s, r"\\127.0.0.1\data")
    t.connect()
    return t

def open_(t, name, access, share, disp=CreateDisposition.FILE_OPEN_IF, opts=0):
    f = Open(t, name)
    f.create(ImpersonationLevel.Impersonation, access, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             share, disp, opts)
    return f

t1, t2 = tree(), tree()
R, W = A.FILE_READ_DATA, A.FILE_WRITE_DATA
# 1. deny-write: the other connection's writer is refused, its reader admitted.
a = open_(t1, "shared.txt", R | W, ShareAccess.FILE_SHARE_READ)
a.write(b"first", 0)
try:
    open_(t2, "shared.txt", W, ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE)
    print("writer admitted")
except SharingViolation:
    print("writer refused")
b = open_(t2, "shared.txt", R, ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE)
print("reader read", b.read(0, 5))
b.close()
a.close()
# Once the deny-write handle is closed the writer gets in.
w = open_(t2, "shared.txt", W, ShareAccess.FILE_SHARE_READ)
w.close()
# 2. delete on close marks the open: a second open of the temp file succeeds.
all3 = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE
tmp = open_(t1, "tmp.bin", R | W | A.DELETE, all3, CreateDisposition.FILE_CREATE,
            CreateOptions.FILE_DELETE_ON_CLOSE)
tmp.write(b"temp", 0)
second = open_(t2, "tmp.bin", R, all3, CreateDisposition.FILE_OPEN)
print("second open read", second.read(0, 4))
tmp.close()
# 3. now delete is pending: new opens are refused; the last close removes the file.
try:
    open_(t1, "tmp.bin", R, all3, CreateDisposition.FILE_OPEN)
    print("open after delete-on-close admitted")
except DeletePending:
    print("delete pending")
second.close()
print("ok")
"#;

#[test]
fn share_modes_and_delete_on_close_across_connections() {
    let mut s = Server::start(Opts {
        body: r#"
[[smb.shares]]
name = "data"
dir = "."

[audit]
enabled = true
"#
        .into(),
        ..Opts::default()
    });
    s.add_user("alice", "Pa55word!");
    std::fs::set_permissions(&s.backing, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let stdout = s.run_python(SCRIPT);
    for line in [
        "writer refused",
        "reader read b'first'",
        "second open read b'temp'",
        "delete pending",
        "ok",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?}:\n{stdout}"
        );
    }
    assert!(s.backing.join("shared.txt").exists());
    assert!(
        !s.backing.join("tmp.bin").exists(),
        "the delete-on-close file outlived its last handle"
    );
    s.stop();
    let events = s.audit_view("protocol");
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e["fileName"] == "/shared.txt" && e["ntStatus"] == 0xC000_0043u32)
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "one refused open of /shared.txt:\n{events:#?}"
    );
    assert!(
        refused[0]["detailType"]
            .as_str()
            .unwrap_or("")
            .starts_with("open_file"),
        "{:#}",
        refused[0]
    );
    assert!(!s.log().contains("panicked"));
}
