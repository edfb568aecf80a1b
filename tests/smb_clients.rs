//! End-to-end: real SMB clients against `shoal serve` (issue 3).
//!
//! smbclient (share listing, `ls` on every dialect with signing required, wrong password and
//! unknown user) and Python smbprotocol (3.1.1 with signing, 3.0.2 with negotiate validation).

mod common;

use common::{run, venv_python, Opts, Server};
use std::process::Command;
use std::time::Duration;

fn server() -> Server {
    let s = Server::start(Opts::standard());
    s.add_user("alice", "Pa55word!");
    s
}

#[test]
fn smbclient_lists_the_shares() {
    let s = server();
    let (ok, text) = s.smbclient(&["-L", "//127.0.0.1", "-U", "alice%Pa55word!"]);
    assert!(ok, "{text}\n{}", s.log());
    assert!(text.contains("data") && text.contains("Disk"), "{text}");
    assert!(text.contains("IPC$") && text.contains("IPC"), "{text}");
}

#[test]
fn smbclient_ls_on_every_dialect_with_signing_required() {
    let s = server();
    std::fs::write(s.backing.join("hello.txt"), b"hello").unwrap();
    std::fs::create_dir(s.backing.join("subdir")).unwrap();
    for proto in ["SMB2_02", "SMB2_10", "SMB3_00", "SMB3_02", "SMB3_11"] {
        let max = format!("--option=client max protocol={proto}");
        let (ok, text) = s.smbclient(&[
            "//127.0.0.1/data",
            "-U",
            "alice%Pa55word!",
            &max,
            "--option=client signing=required",
            "-c",
            "ls",
        ]);
        assert!(ok, "{proto}: {text}\n{}", s.log());
        assert!(text.contains("hello.txt"), "{proto}: {text}");
        assert!(
            text.lines()
                .any(|l| l.contains("subdir") && l.contains(" D ")),
            "{proto}: {text}"
        );
        assert!(text.contains("blocks of size"), "{proto}: {text}");
        assert!(!text.contains("NT_STATUS"), "{proto}: {text}");
    }
    // Clients that start with an SMB1 NEGOTIATE ("SMB 2.???" upgrade, or "SMB 2.002" only).
    for max in ["SMB3", "SMB2_02"] {
        let max = format!("--option=client max protocol={max}");
        let (ok, text) = s.smbclient(&[
            "//127.0.0.1/data",
            "-U",
            "alice%Pa55word!",
            "--option=client min protocol=NT1",
            &max,
            "-c",
            "ls",
        ]);
        assert!(
            ok && text.contains("hello.txt"),
            "SMB1 upgrade {max}: {text}\n{}",
            s.log()
        );
    }
}

#[test]
fn wrong_password_and_unknown_user_are_logon_failures() {
    let s = server();
    for user in ["alice%wrong", "nobody%Pa55word!"] {
        let (ok, text) = s.smbclient(&["//127.0.0.1/data", "-U", user, "-c", "ls"]);
        assert!(!ok, "{user}: {text}");
        assert!(text.contains("NT_STATUS_LOGON_FAILURE"), "{user}: {text}");
    }
    // Anonymous is refused unless configured.
    let (ok, text) = s.smbclient(&["-L", "//127.0.0.1", "-N"]);
    assert!(
        !ok && text.contains("NT_STATUS_LOGON_FAILURE"),
        "anonymous: {text}"
    );
    // Unknown share.
    let (ok, text) = s.smbclient(&["//127.0.0.1/nosuch", "-U", "alice%Pa55word!", "-c", "ls"]);
    assert!(!ok && text.contains("NT_STATUS_BAD_NETWORK_NAME"), "{text}");
    assert!(s.log().contains("logon failure"), "{}", s.log());
}

const SMBPROTOCOL_SCRIPT: &str = r#"
import sys, uuid
from smbprotocol.connection import Connection, Dialects
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.open import (Open, CreateDisposition, ImpersonationLevel, ShareAccess,
    CreateOptions, FileAttributes, DirectoryAccessMask)
from smbprotocol.file_info import FileInformationClass
port = int(sys.argv[1])
dialect = {"311": Dialects.SMB_3_1_1, "302": Dialects.SMB_3_0_2}[sys.argv[2]]
conn = Connection(uuid.uuid4(), "127.0.0.1", port, require_signing=True)
conn.connect(dialect)
s = Session(conn, "alice", "Pa55word!", require_encryption=False)
s.connect()
t = TreeConnect(s, r"\\127.0.0.1\data")
t.connect()
d = Open(t, "")
d.create(ImpersonationLevel.Impersonation, DirectoryAccessMask.FILE_LIST_DIRECTORY,
    FileAttributes.FILE_ATTRIBUTE_DIRECTORY, ShareAccess.FILE_SHARE_READ,
    CreateDisposition.FILE_OPEN, CreateOptions.FILE_DIRECTORY_FILE)
names = sorted(e['file_name'].get_value().decode('utf-16-le')
    for e in d.query_directory("*", FileInformationClass.FILE_NAMES_INFORMATION))
print("dialect=%x signing=%s names=%s" % (conn.dialect, s.signing_required, ",".join(names)))
d.close(); t.disconnect(); s.disconnect(); conn.disconnect()
"#;

#[test]
fn python_smbprotocol_311_signed_and_302() {
    let py = venv_python();
    let s = server();
    std::fs::write(s.backing.join("from-test.txt"), b"x").unwrap();
    for (dialect, hex) in [("311", "311"), ("302", "302")] {
        let out = run(
            Command::new(&py)
                .arg("-c")
                .arg(SMBPROTOCOL_SCRIPT)
                .arg(s.smb_port.to_string())
                .arg(dialect),
            Duration::from_secs(60),
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{dialect}: {text}\n{}", s.log());
        assert!(text.contains(&format!("dialect={hex}")), "{text}");
        assert!(text.contains("signing=True"), "{text}");
        assert!(text.contains("from-test.txt"), "{text}");
    }
}

const NOTIFY_CANCEL_SCRIPT: &str = r#"
import sys, uuid, time
from smbprotocol.connection import Connection, Dialects
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.open import (Open, CreateDisposition, ImpersonationLevel, ShareAccess,
    CreateOptions, FileAttributes, DirectoryAccessMask)
from smbprotocol.change_notify import FileSystemWatcher, CompletionFilter
conn = Connection(uuid.uuid4(), "127.0.0.1", int(sys.argv[1]), require_signing=True)
conn.connect(Dialects.SMB_3_1_1)
s = Session(conn, "alice", "Pa55word!", require_encryption=False); s.connect()
t = TreeConnect(s, r"\\127.0.0.1\data"); t.connect()
d = Open(t, "")
d.create(ImpersonationLevel.Impersonation, DirectoryAccessMask.FILE_LIST_DIRECTORY,
    FileAttributes.FILE_ATTRIBUTE_DIRECTORY, ShareAccess.FILE_SHARE_READ,
    CreateDisposition.FILE_OPEN, CreateOptions.FILE_DIRECTORY_FILE)
w = FileSystemWatcher(d)
w.start(CompletionFilter.FILE_NOTIFY_CHANGE_FILE_NAME)
time.sleep(0.3)
print("pending=%s" % (w.result is None))
w._request.cancel()
for _ in range(50):
    if w.cancelled:
        break
    time.sleep(0.1)
print("cancelled=%s" % w.cancelled)
d.close(); t.disconnect(); s.disconnect(); conn.disconnect()
"#;

/// An operation that waits (CHANGE_NOTIFY) gets an async interim response; CANCEL completes it
/// with STATUS_CANCELLED, and the connection stays usable.
#[test]
fn async_interim_response_and_cancel() {
    let py = venv_python();
    let s = server();
    let out = run(
        Command::new(&py)
            .arg("-c")
            .arg(NOTIFY_CANCEL_SCRIPT)
            .arg(s.smb_port.to_string()),
        Duration::from_secs(60),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}\n{}", s.log());
    assert!(
        text.contains("pending=True") && text.contains("cancelled=True"),
        "{text}"
    );
}

const COMPOUND_SCRIPT: &str = r#"
import sys, uuid
from smbprotocol.connection import Connection, Dialects
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.open import (Open, CreateDisposition, ImpersonationLevel, ShareAccess,
    CreateOptions, FileAttributes, FilePipePrinterAccessMask)
conn = Connection(uuid.uuid4(), "127.0.0.1", int(sys.argv[1]), require_signing=True)
conn.connect(Dialects.SMB_3_1_1)
s = Session(conn, "alice", "Pa55word!", require_encryption=False); s.connect()
t = TreeConnect(s, r"\\127.0.0.1\data"); t.connect()
f = Open(t, "compound.txt")
msgs = [
    f.create(ImpersonationLevel.Impersonation, FilePipePrinterAccessMask.GENERIC_READ,
        FileAttributes.FILE_ATTRIBUTE_NORMAL, ShareAccess.FILE_SHARE_READ,
        CreateDisposition.FILE_OPEN, CreateOptions.FILE_NON_DIRECTORY_FILE, send=False),
    f.read(0, 100, send=False),
    f.close(get_attributes=True, send=False),
]
reqs = conn.send_compound([m[0] for m in msgs], s.session_id, t.tree_connect_id, related=True)
res = [m[1](r) for m, r in zip(msgs, reqs)]
print("data=%s eof=%d" % (res[1].decode(), res[2]['end_of_file'].get_value()))
# A related chain whose CREATE fails: every request of the chain fails with its status.
g = Open(t, "missing.txt")
msgs = [
    g.create(ImpersonationLevel.Impersonation, FilePipePrinterAccessMask.GENERIC_READ,
        FileAttributes.FILE_ATTRIBUTE_NORMAL, ShareAccess.FILE_SHARE_READ,
        CreateDisposition.FILE_OPEN, CreateOptions.FILE_NON_DIRECTORY_FILE, send=False),
    g.close(send=False),
]
reqs = conn.send_compound([m[0] for m in msgs], s.session_id, t.tree_connect_id, related=True)
errs = []
for m, r in zip(msgs, reqs):
    try:
        m[1](r)
    except Exception as e:
        errs.append(type(e).__name__)
print("errors=%s" % ",".join(errs))
t.disconnect(); s.disconnect(); conn.disconnect()
"#;

/// A related compound CREATE + READ + CLOSE (signed, 3.1.1) uses the CREATE's FileId, and a
/// failed CREATE fails the rest of its chain.
#[test]
fn related_compound_requests() {
    let py = venv_python();
    let s = server();
    std::fs::write(s.backing.join("compound.txt"), b"compound!").unwrap();
    let out = run(
        Command::new(&py)
            .arg("-c")
            .arg(COMPOUND_SCRIPT)
            .arg(s.smb_port.to_string()),
        Duration::from_secs(60),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}\n{}", s.log());
    assert!(text.contains("data=compound! eof=9"), "{text}");
    assert!(
        text.contains("errors=ObjectNameNotFound,ObjectNameNotFound"),
        "{text}"
    );
}

/// With `allow_guest = true`, anonymous and unknown users get a guest session.
#[test]
fn guest_sessions_when_configured() {
    let s = Server::start(Opts {
        smb_extra: "allow_guest = true".into(),
        ..Opts::standard()
    });
    std::fs::write(s.backing.join("visible.txt"), b"v").unwrap();
    let (ok, text) = s.smbclient(&["-L", "//127.0.0.1", "-N"]);
    assert!(ok && text.contains("data"), "{text}\n{}", s.log());
    let (ok, text) = s.smbclient(&["//127.0.0.1/data", "-U", "nobody%x", "-c", "ls"]);
    assert!(ok && text.contains("visible.txt"), "{text}\n{}", s.log());
}

/// With `signing = "enabled"`, a client that does not sign still connects (2.1 without
/// signing; 3.1.1 signs its TREE_CONNECT as the protocol demands).
#[test]
fn signing_enabled_policy_lets_unsigning_clients_in() {
    let s = Server::start(Opts {
        smb_extra: "signing = \"enabled\"".into(),
        ..Opts::standard()
    });
    s.add_user("alice", "Pa55word!");
    std::fs::write(s.backing.join("plain.txt"), b"p").unwrap();
    for proto in ["SMB2_10", "SMB3_11"] {
        let max = format!("--option=client max protocol={proto}");
        let (ok, text) = s.smbclient(&[
            "//127.0.0.1/data",
            "-U",
            "alice%Pa55word!",
            &max,
            "--option=client signing=off",
            "-c",
            "ls",
        ]);
        assert!(
            ok && text.contains("plain.txt"),
            "{proto}: {text}\n{}",
            s.log()
        );
    }
}
