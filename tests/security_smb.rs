//! SMB session rules under attack (issue 11): re-authentication as another user, requests
//! naming unknown, expired or foreign SessionIds and TreeIds for every command, CANCEL for
//! another session's or without a signature. Driven by Python smbprotocol's low-level API
//! with hand-built request bodies (no public client sends these), against the release binary.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{run, venv_python, Opts, Server};

/// Shared Python: two users, helpers to send a raw request body for any command and read the
/// status and signature of its reply.
const PRELUDE: &str = r#"
import struct, sys, uuid
from smbprotocol.connection import Connection, Dialects
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.open import (Open, CreateDisposition, CreateOptions, FileAttributes,
    ImpersonationLevel, ShareAccess)
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.header import Commands

port = int(sys.argv[1])
PW = "Pa55word!"

def check(cond, what):
    if not cond:
        print("FAIL", what)
        sys.exit(1)

def connect(user):
    c = Connection(uuid.uuid4(), "127.0.0.1", port)
    c.connect(Dialects.SMB_3_1_1)
    s = Session(c, user, PW, require_encryption=False)
    s.connect()
    t = TreeConnect(s, r"\\127.0.0.1\data")
    t.connect()
    return c, s, t

class Raw:
    """A request body sent as is (the header is smbprotocol's)."""
    def __init__(self, command, body):
        self.COMMAND = command
        self.body = body
    def pack(self):
        return self.body
    def __len__(self):
        return len(self.body)

def send(c, msg, sid, tid, **kw):
    """Sends and returns (status, signature bytes, flags) of the final reply."""
    multi = c.supports_multi_credit
    c.supports_multi_credit = False  # raw bodies: no credit arithmetic on their fields
    try:
        req = c.send(msg, sid=sid, tid=tid, **kw)
    finally:
        c.supports_multi_credit = multi
    try:
        h = c.receive(req)
    except SMBResponseException as e:
        h = e.header
    return h["status"].get_value(), h["signature"].get_value(), h["flags"].get_value()

def utf16(s):
    return s.encode("utf-16-le")

def bodies(fid):
    """One minimal, well-formed request body per command that takes a session."""
    name = utf16("probe.txt")
    return {
        "LOGOFF": Raw(Commands.SMB2_LOGOFF, struct.pack("<HH", 4, 0)),
        "TREE_CONNECT": Raw(Commands.SMB2_TREE_CONNECT,
            struct.pack("<HHHH", 9, 0, 72, len(utf16(r"\\127.0.0.1\data"))) + utf16(r"\\127.0.0.1\data")),
        "TREE_DISCONNECT": Raw(Commands.SMB2_TREE_DISCONNECT, struct.pack("<HH", 4, 0)),
        "CREATE": Raw(Commands.SMB2_CREATE,
            struct.pack("<HBBIQQIIIIIHHII", 57, 0, 0, 2, 0, 0, 0x80, 0, 7, 1, 0, 120, len(name), 0, 0) + name),
        "CLOSE": Raw(Commands.SMB2_CLOSE, struct.pack("<HHI", 24, 0, 0) + fid),
        "FLUSH": Raw(Commands.SMB2_FLUSH, struct.pack("<HHI", 24, 0, 0) + fid),
        "READ": Raw(Commands.SMB2_READ,
            struct.pack("<HBBIQ", 49, 0, 0, 1, 0) + fid + struct.pack("<IIIHH", 0, 0, 0, 0, 0) + b"\0"),
        "WRITE": Raw(Commands.SMB2_WRITE,
            struct.pack("<HHIQ", 49, 112, 1, 0) + fid + struct.pack("<IIHHI", 0, 0, 0, 0, 0) + b"x"),
        "LOCK": Raw(Commands.SMB2_LOCK,
            struct.pack("<HHI", 48, 1, 0) + fid + struct.pack("<QQII", 0, 1, 2, 0)),
        "IOCTL": Raw(Commands.SMB2_IOCTL,
            struct.pack("<HHI", 57, 0, 0x00140078) + fid + struct.pack("<IIIIIIII", 0, 0, 0, 0, 0, 32, 1, 0)),
        "QUERY_DIRECTORY": Raw(Commands.SMB2_QUERY_DIRECTORY,
            struct.pack("<HBBI", 33, 1, 0, 0) + fid + struct.pack("<HHI", 96, 2, 65536) + utf16("*")),
        "CHANGE_NOTIFY": Raw(Commands.SMB2_CHANGE_NOTIFY,
            struct.pack("<HHI", 32, 0, 1024) + fid + struct.pack("<II", 0x1, 0)),
        "QUERY_INFO": Raw(Commands.SMB2_QUERY_INFO,
            struct.pack("<HBBIHHII", 41, 1, 4, 1024, 0, 0, 0, 0) + fid + b"\0"),
        "SET_INFO": Raw(Commands.SMB2_SET_INFO,
            struct.pack("<HBBIHHI", 33, 1, 20, 8, 96, 0, 0) + fid + struct.pack("<Q", 0)),
        "OPLOCK_BREAK": Raw(Commands.SMB2_OPLOCK_BREAK, struct.pack("<HBBI", 24, 0, 0, 0) + fid),
        "ECHO": Raw(Commands.SMB2_ECHO, struct.pack("<HH", 4, 0)),
    }

def open_file(tree, name, access=0x0012019F, dispo=CreateDisposition.FILE_OPEN_IF, opts=0):
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, access, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE,
             dispo, opts)
    return f

def fid_bytes(f):
    return f.file_id
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

fn server() -> Server {
    let mut opts = Opts::standard();
    opts.body
        .push_str("\n[audit]\nenabled = true\nio_coalesce_ms = 0\n");
    let s = Server::start(opts);
    s.add_user("alice", "Pa55word!");
    s.add_user("bob", "Pa55word!");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&s.backing, std::fs::Permissions::from_mode(0o1777)).unwrap();
    s
}

/// The attack: on alice's established (signed) session, a SESSION_SETUP as bob with alice's
/// SessionId. Refused with STATUS_ACCESS_DENIED; alice's session keeps working as alice with
/// its keys; the audit log has the refused attempt and no successful logon as bob; a re-auth
/// as alice herself succeeds and is audited; an unsigned re-auth of the signed session is
/// refused; bob still logs on normally on his own session.
#[test]
fn reauthentication_as_another_user_is_refused_and_the_session_kept() {
    let s = server();
    python(
        &s,
        r#"
c, alice, t = connect("alice")
sid = alice.session_id
f = open_file(t, "alice1.txt")
f.write(b"one", 0)
f.close()

# Re-authenticate alice's session as bob (signed with alice's key, as a client re-auth is).
bob = Session(c, "bob", PW, require_encryption=False)
bob.session_id = sid
try:
    bob.connect()
    check(False, "re-auth as bob accepted")
except SMBResponseException as e:
    check(e.status == 0xC0000022, "re-auth as bob: status %x" % e.status)
c.session_table[sid] = alice
check(c.session_table[sid] is alice, "session table")

# The session is unchanged: same keys (smbprotocol signs with alice's), same user.
f = open_file(t, "alice2.txt")
f.write(b"two", 0)
f.close()

# An unsigned re-auth of a session that requires signing: refused, session kept.
alice.signing_required = False
mallory = Session(c, "alice", PW, require_encryption=False)
mallory.session_id = sid
try:
    mallory.connect()
    check(False, "unsigned re-auth accepted")
except SMBResponseException as e:
    check(e.status == 0xC0000022, "unsigned re-auth: status %x" % e.status)
alice.signing_required = True
c.session_table[sid] = alice

# A signed re-auth as alice herself: accepted (a failure status would raise); the keys stay
# the session's (MS-SMB2 3.3.5.5.3). smbprotocol has no re-authentication of its own: it
# derives fresh keys and checks the final reply with them, so that one check is skipped here
# and the old keys are proven by the requests that follow.
again = Session(c, "alice", PW, require_encryption=False)
again.session_id = sid
verify = c.verify_signature
c.verify_signature = lambda *a, **k: None
try:
    again.connect()
finally:
    c.verify_signature = verify
c.session_table[sid] = alice
f = open_file(t, "alice3.txt")
f.close()

# bob logs on normally elsewhere.
c2, b, t2 = connect("bob")
g = open_file(t2, "bob.txt")
g.close()
print("ok")
"#,
    );
    use std::os::unix::fs::MetadataExt;
    let uid = |n: &str| std::fs::metadata(s.backing.join(n)).unwrap().uid();
    assert_eq!(
        uid("alice2.txt"),
        uid("alice1.txt"),
        "alice2 owned by alice"
    );
    assert_eq!(
        uid("alice3.txt"),
        uid("alice1.txt"),
        "alice3 owned by alice"
    );
    assert_ne!(uid("bob.txt"), uid("alice1.txt"), "bob is another uid");
    let events = s.audit_view("protocol");
    let logons: Vec<(String, u64)> = events
        .iter()
        .filter(|e| e["detailType"] == "logon")
        .map(|e| {
            (
                e["fileName"].as_str().unwrap_or_default().to_string(),
                e["ntStatus"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let count = |u: &str, st: u64| logons.iter().filter(|(n, s)| n == u && *s == st).count();
    assert_eq!(count("alice", 0), 2, "logon + re-auth as alice: {logons:?}");
    assert_eq!(count("bob", 0xC000_0022), 1, "refused re-auth: {logons:?}");
    assert_eq!(count("bob", 0), 1, "bob's own logon only: {logons:?}");
    // Everything alice's session created is logged with alice's uid.
    let alice_uid = u64::from(uid("alice1.txt"));
    for e in events.iter().filter(|e| {
        e["fileName"]
            .as_str()
            .is_some_and(|n| n.contains("alice2") || n.contains("alice3"))
    }) {
        assert_eq!(e["userID"].as_u64(), Some(alice_uid), "{e}");
    }
}

/// For every command: a SessionId unknown to the connection (never issued, logged off, or
/// another connection's session) is answered STATUS_USER_SESSION_DELETED with no signature;
/// a TreeId the session does not hold (never issued, or another session's on the same
/// connection) is answered STATUS_NETWORK_NAME_DELETED, signed only with the session's own
/// key. The real sessions keep working.
#[test]
fn unknown_expired_and_foreign_session_and_tree_ids_are_refused_for_every_command() {
    let s = server();
    python(
        &s,
        r#"
c, alice, t = connect("alice")
f = open_file(t, "target.txt")
f.write(b"data", 0)
d = open_file(t, "", access=0x00100081, dispo=CreateDisposition.FILE_OPEN, opts=CreateOptions.FILE_DIRECTORY_FILE)
fid = f.file_id
# Another connection's session and tree (foreign).
c2, bob, t2 = connect("bob")
# A second session on alice's connection, without trees.
b2 = Session(c, "bob", PW, require_encryption=False)
b2.connect()
# A session logged off on this connection (expired).
gone = Session(c, "bob", PW, require_encryption=False)
gone.connect()
gone_id = gone.session_id
gone.disconnect()

ZERO = b"\0" * 16
names = list(bodies(fid).keys())
for name in names:
    for label, sid in (("unknown", 0x7777000000000001), ("foreign", bob.session_id), ("logged-off", gone_id)):
        msg = bodies(d.file_id if name in ("QUERY_DIRECTORY", "CHANGE_NOTIFY") else fid)[name]
        st, sig, flags = send(c, msg, sid, None)
        check(st == 0xC0000203, "%s with %s session: status %x" % (name, label, st))
        check(sig == ZERO, "%s with %s session: reply signed" % (name, label))
    if name in ("LOGOFF", "TREE_CONNECT", "ECHO"):
        continue
    for label, tid in (("unknown", 0x4242), ("foreign", t.tree_connect_id)):
        # b2 holds no tree; alice's tree id is foreign to it.
        b2.tree_connect_table[tid] = t
        msg = bodies(d.file_id if name in ("QUERY_DIRECTORY", "CHANGE_NOTIFY") else fid)[name]
        st, sig, flags = send(c, msg, b2.session_id, tid)
        del b2.tree_connect_table[tid]
        check(st == 0xC00000C9, "%s with %s tree: status %x" % (name, label, st))
    # The other connection's tree on alice's connection, under alice's session id.
    alice.tree_connect_table[0x9999] = t
    msg = bodies(d.file_id if name in ("QUERY_DIRECTORY", "CHANGE_NOTIFY") else fid)[name]
    st, sig, flags = send(c, msg, alice.session_id, 0x9999)
    del alice.tree_connect_table[0x9999]
    check(st == 0xC00000C9, "%s with unknown tree of alice: status %x" % (name, st))

# SESSION_SETUP naming another connection's session or a logged-off one: no binding, no
# takeover (MS-SMB2 3.3.5.5: a SessionId not in Connection.SessionTable fails with
# STATUS_USER_SESSION_DELETED).
for label, sid in (("foreign", bob.session_id), ("logged-off", gone_id)):
    x = Session(c, "alice", PW, require_encryption=False)
    x.session_id = sid
    try:
        x.connect()
        check(False, "SESSION_SETUP on a %s session accepted" % label)
    except SMBResponseException as e:
        check(e.status == 0xC0000203, "SESSION_SETUP on a %s session: status %x" % (label, e.status))

# A session whose authentication is in progress (NTLM NEGOTIATE sent, no AUTHENTICATE):
# 3.3.5.2.9 processes only LOGOFF, CLOSE and LOCK; CLOSE and LOCK then find no tree.
import spnego
from smbprotocol.session import SMB2SessionSetupRequest
from smbprotocol.exceptions import MoreProcessingRequired
ctx = spnego.client("alice", PW, hostname="127.0.0.1", service="cifs", protocol="ntlm")
setup = SMB2SessionSetupRequest()
setup["security_mode"] = c.client_security_mode
setup["buffer"] = ctx.step()
r = c.send(setup, sid=0)
try:
    c.receive(r)
    check(False, "NTLM NEGOTIATE completed a logon")
except MoreProcessingRequired as exc:
    pending = exc.header["session_id"].get_value()
for name in names:
    if name == "LOGOFF":
        continue
    msg = bodies(fid)[name]
    st, sig, flags = send(c, msg, pending, t.tree_connect_id if name not in ("TREE_CONNECT", "ECHO") else None)
    want = 0xC00000C9 if name in ("CLOSE", "LOCK") else 0xC0000203
    check(st == want, "%s on a session in progress: status %x" % (name, st))
    check(sig == ZERO, "%s on a session in progress: reply signed" % name)
st, sig, flags = send(c, bodies(fid)["LOGOFF"], pending, None)
check(st == 0, "LOGOFF of a session in progress: status %x" % st)
st, sig, flags = send(c, bodies(fid)["LOGOFF"], pending, None)
check(st == 0xC0000203, "second LOGOFF: status %x" % st)

# Nothing was done to alice's file through the refused requests; both sessions still work.
check(f.read(0, 4) == b"data", "alice's file intact")
f.close()
g = open_file(t2, "bob.txt")
g.close()
print("ok")
"#,
    );
    assert_eq!(
        std::fs::read(s.backing.join("target.txt")).unwrap(),
        b"data"
    );
}

/// CANCEL passes the session and signature checks: a CANCEL naming another session's
/// pending request, or an unsigned one on a session that requires signing, cancels nothing;
/// the session's own signed CANCEL does.
#[test]
fn cancel_needs_the_session_and_its_signature() {
    let s = server();
    python(
        &s,
        r#"
from smbprotocol.connection import SMB2CancelRequest
from smbprotocol.change_notify import SMB2ChangeNotifyRequest
c, alice, t = connect("alice")
b2 = Session(c, "bob", PW, require_encryption=False)
b2.connect()
d = open_file(t, "", access=0x00100081, dispo=CreateDisposition.FILE_OPEN, opts=CreateOptions.FILE_DIRECTORY_FILE)
n = SMB2ChangeNotifyRequest()
n["output_buffer_length"] = 1024
n["file_id"] = d.file_id
n["completion_filter"] = 0x1
req = c.send(n, sid=alice.session_id, tid=t.tree_connect_id)
import time
deadline = time.time() + 10
while req.async_id is None and time.time() < deadline:
    time.sleep(0.05)
check(req.async_id is not None, "notify went async")
mid = req.message["message_id"].get_value()

def still_pending():
    # An ECHO round trip: any cancel sent before it has been processed.
    e = c.send(Raw(Commands.SMB2_ECHO, struct.pack("<HH", 4, 0)), sid=0, tid=None)
    c.receive(e)
    return req.response is None or req.response["status"].get_value() == 0x103

# Another session's CANCEL (bob's session on the same connection, signed with bob's key).
c.send(SMB2CancelRequest(), sid=b2.session_id, credit_request=0, message_id=mid, async_id=req.async_id)
check(still_pending(), "cancel from another session cancelled")
# An unknown session's.
c.send(SMB2CancelRequest(), sid=0x7777000000000001, credit_request=0, message_id=mid, async_id=req.async_id)
check(still_pending(), "cancel from an unknown session cancelled")
# alice's session, unsigned (it requires signing).
alice.signing_required = False
c.send(SMB2CancelRequest(), sid=alice.session_id, credit_request=0, message_id=mid, async_id=req.async_id)
alice.signing_required = True
check(still_pending(), "unsigned cancel cancelled")
# alice's own, signed: cancels.
c.send(SMB2CancelRequest(), sid=alice.session_id, credit_request=0, message_id=mid, async_id=req.async_id)
try:
    r = c.receive(req)
    st = r["status"].get_value()
except SMBResponseException as e:
    st = e.status
check(st == 0xC0000120, "signed cancel: status %x" % st)
d.close()
print("ok")
"#,
    );
}
