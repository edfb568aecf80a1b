//! Security descriptors set, stored and queried back (MS-SMB2 3.3.5.20.3, 3.3.5.21.3, the SecD
//! create context 2.2.13.2.1), driven by Python smbprotocol's low-level API with descriptors
//! built byte by byte in the script (MS-DTYP 2.4.6). (Samba's `smbcacls` cannot be used here:
//! it always connects to port 445 or 139, and tests run shoal on port 0.)

mod common;

use std::process::Command;
use std::time::Duration;

use common::{run, Opts, Server};

/// Shared Python: connect as alice, helpers to build SIDs/ACLs/descriptors and to send raw
/// QUERY_INFO / SET_INFO security requests.
const PRELUDE: &str = r#"
import struct, sys, uuid
from smbprotocol.connection import Connection, Dialects
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.open import (Open, CreateDisposition, CreateOptions, FileAttributes,
    ImpersonationLevel, ShareAccess, SMB2QueryInfoRequest, SMB2QueryInfoResponse,
    SMB2SetInfoRequest)
from smbprotocol.create_contexts import SMB2CreateContextRequest
from smbprotocol.exceptions import SMBResponseException

port = int(sys.argv[1])
conn = Connection(uuid.uuid4(), "127.0.0.1", port)
conn.connect(Dialects.SMB_3_1_1)
import os
sess = Session(conn, os.environ.get("SMB_USER", "alice"), "Pa55word!")
sess.connect()
tree = TreeConnect(sess, r"\\127.0.0.1\data")
tree.connect()

READ_CONTROL, WRITE_DAC, WRITE_OWNER = 0x20000, 0x40000, 0x80000
READ_DATA, WRITE_DATA, DELETE = 0x1, 0x2, 0x10000
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

def sd(control, owner=None, group=None, dacl=None):
    parts, offs, at = b"", [0, 0, 0, 0], 20
    for i, p in ((0, owner), (1, group), (3, dacl)):
        if p is not None:
            offs[i] = at
            parts += p
            at += len(p)
    return struct.pack("<BBHIIII", 1, 0, control | 0x8000, *offs) + parts

def parse_sd(b):
    rev, _, control, o, g, s, d = struct.unpack_from("<BBHIIII", b)
    def sid_at(off):
        if off == 0:
            return None
        n = b[off + 1]
        subs = struct.unpack_from("<%dI" % n, b, off + 8)
        return "S-1-%d" % int.from_bytes(b[off + 2:off + 8], "big") + "".join("-%d" % x for x in subs)
    def acl_at(off):
        if off == 0:
            return None
        _, _, size, count, _ = struct.unpack_from("<BBHHH", b, off)
        aces, at = [], off + 8
        for _ in range(count):
            t, f, sz, m = struct.unpack_from("<BBHI", b, at)
            aces.append((t, f, m, sid_at(at + 8)))
            at += sz
        return aces
    return {"control": control, "owner": sid_at(o), "group": sid_at(g), "dacl": acl_at(d)}

def open_file(name, access, disp=CreateDisposition.FILE_OPEN, contexts=None, directory=False):
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, access, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE,
             disp, CreateOptions.FILE_DIRECTORY_FILE if directory else CreateOptions.FILE_NON_DIRECTORY_FILE,
             contexts)
    return f

def status_of(fn):
    try:
        fn()
        return "OK"
    except SMBResponseException as e:
        return "%#x" % e.status

def query(f, info, length=4096):
    req = SMB2QueryInfoRequest()
    req["info_type"] = 3
    req["file_info_class"] = 0
    req["output_buffer_length"] = length
    req["additional_information"] = info
    req["file_id"] = f.file_id
    r = conn.send(req, sid=sess.session_id, tid=tree.tree_connect_id)
    resp = SMB2QueryInfoResponse()
    resp.unpack(conn.receive(r)["data"].get_value())
    return resp["buffer"].get_value()

def set_sd(f, info, blob):
    req = SMB2SetInfoRequest()
    req["info_type"] = 3
    req["file_info_class"] = 0
    req["additional_information"] = info
    req["file_id"] = f.file_id
    req["buffer"] = blob
    r = conn.send(req, sid=sess.session_id, tid=tree.tree_connect_id)
    conn.receive(r)

def check(cond, what):
    if not cond:
        print("FAIL", what)
        sys.exit(1)
"#;

/// Set, merge, query back (whole and by part), size errors, malformed input, rights, DACL
/// enforcement, SecD on create, chown through the owner SID.
const SCRIPT: &str = r#"
alice = sys.argv[2]
uid = int(sys.argv[3])
f = open_file("a.txt", READ_CONTROL | WRITE_DAC | WRITE_OWNER | READ_DATA | WRITE_DATA | DELETE,
              CreateDisposition.FILE_CREATE)
before = parse_sd(query(f, OWNER | GROUP | DACL))
check(before["owner"] == alice, "synthesized owner %s" % before)

# A DACL: alice full control, Authenticated Users read; protected.
dacl = acl([ace(0, 0, 0x1F01FF, alice), ace(0, 0x3, 0x120089, "S-1-5-11")])
set_sd(f, DACL, sd(0x4 | 0x1000, dacl=dacl))
got = parse_sd(query(f, OWNER | GROUP | DACL))
check(got["owner"] == alice, "owner kept after a DACL-only set: %s" % got)
check(got["group"] == before["group"], "group kept: %s" % got)
check(got["control"] & 0x1004 == 0x1004, "control %#x" % got["control"])
check(got["dacl"] == [(0, 0, 0x1F01FF, alice), (0, 3, 0x120089, "S-1-5-11")], "dacl %s" % got)

# Only the parts asked for.
o = parse_sd(query(f, OWNER))
check(o["owner"] == alice and o["group"] is None and o["dacl"] is None, "owner only %s" % o)
d = parse_sd(query(f, DACL))
check(d["owner"] is None and d["dacl"] == got["dacl"], "dacl only %s" % d)

# MS-SMB2 3.3.5.20.3: too small a buffer is BUFFER_TOO_SMALL with the size needed.
full = query(f, OWNER | GROUP | DACL)
try:
    query(f, OWNER | GROUP | DACL, length=len(full) - 1)
    check(False, "small buffer succeeded")
except SMBResponseException as e:
    check(e.status == 0xC0000023, "small buffer status %#x" % e.status)
    body = e.header["data"].get_value()
    # 3.1.1: one error context whose data is the required length.
    check(struct.unpack_from("<I", body, 16)[0] == len(full),
          "required length in %s (want %d)" % (body.hex(), len(full)))
check(len(query(f, OWNER | GROUP | DACL, length=len(full))) == len(full), "exact buffer")

# Malformed descriptors: short header, owner offset past the end, bad ACL revision.
check(status_of(lambda: set_sd(f, DACL, b"\x01\x00\x04\x80")) == "0xc000000d", "short")
check(status_of(lambda: set_sd(f, OWNER, struct.pack("<BBHIIII", 1, 0, 0x8000, 400, 0, 0, 0)))
      == "0xc0000079", "owner offset")
bad_acl = bytearray(sd(0x4, dacl=dacl))
bad_acl[20] = 9
check(status_of(lambda: set_sd(f, DACL, bytes(bad_acl))) == "0xc0000079", "acl revision")
check(parse_sd(query(f, DACL))["dacl"] == got["dacl"], "a refused set changes nothing")

# Rights: an open without WRITE_DAC / WRITE_OWNER cannot set those parts.
g = open_file("a.txt", READ_CONTROL)
check(status_of(lambda: set_sd(g, DACL, sd(0x4, dacl=dacl))) == "0xc0000022", "no WRITE_DAC")
check(status_of(lambda: set_sd(g, OWNER, sd(0, owner=sid(alice)))) == "0xc0000022", "no WRITE_OWNER")
g.close()

# Owner: alice's own Unix SID maps to her uid (no change); root's would be a chown she may not do.
set_sd(f, OWNER, sd(0, owner=sid("S-1-22-1-%d" % uid)))
check(parse_sd(query(f, OWNER))["owner"] == "S-1-22-1-%d" % uid, "owner stored")
check(status_of(lambda: set_sd(f, OWNER, sd(0, owner=sid("S-1-22-1-0")))) == "0xc000005a",
      "chown to root refused with INVALID_OWNER")
# Another SID (BUILTIN\\Administrators, Everyone) cannot be made the owner by a non-root
# caller: INVALID_OWNER, as Windows answers without SeRestorePrivilege.
for other in ("S-1-5-32-544", "S-1-1-0"):
    check(status_of(lambda: set_sd(f, OWNER, sd(0, owner=sid(other)))) == "0xc000005a",
          "owner %s refused" % other)
check(parse_sd(query(f, OWNER))["owner"] == "S-1-22-1-%d" % uid, "owner unchanged")
set_sd(f, OWNER, sd(0, owner=sid(alice)))

# Enforcement: an empty DACL leaves the owner READ_CONTROL and WRITE_DAC only.
set_sd(f, DACL, sd(0x4, dacl=acl([])))
check(parse_sd(query(f, DACL))["dacl"] == [], "empty dacl")
check(status_of(lambda: open_file("a.txt", READ_DATA).close()) == "0xc0000022", "read denied")
check(status_of(lambda: open_file("a.txt", READ_CONTROL).close()) == "OK", "read control")
# A NULL DACL (DACL_PRESENT, no ACL) opens everything again.
set_sd(f, DACL, sd(0x4))
nd = parse_sd(query(f, DACL))
check(nd["control"] & 0x4 and nd["dacl"] is None, "null dacl %s" % nd)
check(status_of(lambda: open_file("a.txt", READ_DATA | WRITE_DATA).close()) == "OK", "null dacl open")
f.close()

# SecD on create, for a file and a directory: the DACL given is the DACL stored.
for name, is_dir in (("b.txt", False), ("sub", True)):
    c = SMB2CreateContextRequest()
    c["buffer_name"] = b"SecD"
    want = [(0, 0, 0x1F01FF, alice), (0, 0, 0x1200A9, "S-1-1-0")]
    c["buffer_data"] = sd(0x4, dacl=acl([ace(*a[:3], a[3]) for a in want]))
    h = open_file(name, READ_CONTROL | DELETE, CreateDisposition.FILE_CREATE, [c], is_dir)
    got = parse_sd(query(h, OWNER | GROUP | DACL))
    check(got["dacl"] == want, "SecD %s: %s" % (name, got))
    check(got["owner"] == alice, "SecD owner defaults to the creator: %s" % got)
    h.close()
# MS-SMB2 3.3.5.18: listing needs FILE_LIST_DIRECTORY on the open, whatever the DACL says.
from smbprotocol.file_info import FileInformationClass
d = open_file("sub", 0x80 | 0x100000, CreateDisposition.FILE_OPEN, None, True)
check(status_of(lambda: d.query_directory("*", FileInformationClass.FILE_NAMES_INFORMATION))
      == "0xc0000022", "listing without FILE_LIST_DIRECTORY")
d.close()
d = open_file("sub", READ_DATA, CreateDisposition.FILE_OPEN, None, True)
check(status_of(lambda: d.query_directory("*", FileInformationClass.FILE_NAMES_INFORMATION))
      == "OK", "listing with FILE_LIST_DIRECTORY")
d.close()
# Inheritance: a folder's OI|CI ACE reaches a file created in it (INHERITED, generic bits
# mapped) and a subfolder (still OI|CI); CREATOR OWNER becomes the creator.
top = open_file("inh", READ_CONTROL | WRITE_DAC, CreateDisposition.FILE_CREATE, None, True)
# (alice's own, non-inheritable ACE lets her add to the folder: the parent's DACL counts.)
set_sd(top, DACL, sd(0x4, dacl=acl([ace(0, 0, 0x1F01FF, alice),
                                     ace(0, 0x3, 0x80000000, "S-1-1-0"),
                                     ace(0, 0xB, 0x10000000, "S-1-3-0")])))
h = open_file("inh\\f.txt", READ_CONTROL, CreateDisposition.FILE_CREATE)
got = parse_sd(query(h, DACL))["dacl"]
check(got == [(0, 0x10, 0x120089, "S-1-1-0"), (0, 0x10, 0x1F01FF, alice)], "file inherits %s" % got)
h.close()
h = open_file("inh\\d", READ_CONTROL, CreateDisposition.FILE_CREATE, None, True)
got = parse_sd(query(h, DACL))["dacl"]
# (The folder's GENERIC_READ was mapped when it was set, so that ACE stays one ACE.)
check(got == [(0, 0x13, 0x120089, "S-1-1-0"), (0, 0x10, 0x1F01FF, alice),
              (0, 0x1B, 0x10000000, "S-1-3-0")], "dir inherits %s" % got)
h.close()
top.close()
# A folder whose DACL gives Everyone read and traverse only (bob's turn below).
top2 = open_file("dd", READ_CONTROL | WRITE_DAC, CreateDisposition.FILE_CREATE, None, True)
set_sd(top2, DACL, sd(0x4, dacl=acl([ace(0, 0, 0x1F01FF, alice), ace(0, 0, 0x1200A9, "S-1-1-0")])))
top2.close()
# A malformed SecD fails the create and creates nothing.
c = SMB2CreateContextRequest()
c["buffer_name"] = b"SecD"
c["buffer_data"] = struct.pack("<BBHIIII", 1, 0, 0x8004, 0, 0, 0, 999)
check(status_of(lambda: open_file("c.txt", READ_CONTROL, CreateDisposition.FILE_CREATE, [c]))
      == "0xc0000079", "bad SecD")
check(status_of(lambda: open_file("c.txt", READ_CONTROL)) == "0xc0000034", "nothing created")
# A SecD whose owner alice may not assign (root) fails the create and leaves nothing behind.
c["buffer_data"] = sd(0, owner=sid("S-1-22-1-0"))
check(status_of(lambda: open_file("d.txt", READ_CONTROL, CreateDisposition.FILE_CREATE, [c]))
      == "0xc000005a", "SecD owner root")
check(status_of(lambda: open_file("d.txt", READ_CONTROL)) == "0xc0000034", "create undone")
print("ok")
"#;

/// bob, on alice's world-writable file: may write it, but not take WRITE_DAC or WRITE_OWNER
/// (only the owner and root may), so he cannot lock alice out.
const BOB: &str = r#"
check(status_of(lambda: open_file("shared.txt", WRITE_DATA).close()) == "OK", "bob writes")
check(status_of(lambda: open_file("shared.txt", WRITE_DAC).close()) == "0xc0000022", "bob WRITE_DAC")
check(status_of(lambda: open_file("shared.txt", WRITE_OWNER).close()) == "0xc0000022",
      "bob WRITE_OWNER")
# The parent's DACL counts too (MS-FSA 2.1.5.1.1): no FILE_ADD_FILE, no FILE_DELETE_CHILD in
# dd for bob, although its mode is 0777.
check(status_of(lambda: open_file("dd\\evil.txt", WRITE_DATA, CreateDisposition.FILE_CREATE))
      == "0xc0000022", "bob adds a file to dd")
check(status_of(lambda: open_file("dd\\sub", READ_DATA, CreateDisposition.FILE_CREATE, None, True))
      == "0xc0000022", "bob adds a folder to dd")
check(status_of(lambda: open_file("dd\\victim.txt", DELETE).close()) == "0xc0000022",
      "bob deletes in dd")
check(status_of(lambda: open_file("dd\\victim.txt", WRITE_DATA).close()) == "OK",
      "bob may still write the 0666 file in dd")
print("ok")
"#;

/// After a restart, the descriptor set before it.
const AFTER_RESTART: &str = r#"
alice = sys.argv[2]
f = open_file("b.txt", READ_CONTROL)
got = parse_sd(query(f, DACL))
check(got["dacl"] == [(0, 0, 0x1F01FF, alice), (0, 0, 0x1200A9, "S-1-1-0")], "after restart %s" % got)
print("ok")
"#;

fn python(s: &Server, script: &str, args: &[String]) -> String {
    python_as(s, "alice", script, args)
}

fn python_as(s: &Server, user: &str, script: &str, args: &[String]) -> String {
    let stdout = s.run_python_with(&format!("{PRELUDE}{script}"), args, &[("SMB_USER", user)]);
    assert!(stdout.contains("ok"), "{stdout}\n{}", s.log());
    stdout
}

/// alice's SID and uid as shoal reports them (`shoal user show`-free: from the synthesized
/// descriptor of a file she creates, and the backing file's owner).
fn alice_sid_and_uid(s: &Server) -> (String, u32) {
    let out = python(
        s,
        r#"
f = open_file("probe.txt", READ_CONTROL | DELETE, CreateDisposition.FILE_CREATE)
print("SID", parse_sd(query(f, OWNER))["owner"])
f.close()
print("ok")
"#,
        &[],
    );
    let sid = out
        .lines()
        .find_map(|l| l.strip_prefix("SID "))
        .expect("owner SID printed")
        .trim()
        .to_string();
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata(s.backing.join("probe.txt"))
        .expect("probe.txt on the backing store")
        .uid();
    (sid, uid)
}

#[test]
fn descriptors_are_set_stored_enforced_and_survive_a_restart() {
    let mut opts = Opts::standard();
    opts.body.push_str("\n[audit]\nenabled = true\n");
    let mut s = Server::start(opts);
    s.add_user("alice", "Pa55word!");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&s.backing, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let (alice, uid) = alice_sid_and_uid(&s);
    assert!(alice.starts_with("S-1-5-21-"), "{alice}");
    python(&s, SCRIPT, &[alice.clone(), uid.to_string()]);
    s.add_user("bob", "Pa55word!");
    let shared = s.backing.join("shared.txt");
    std::fs::write(&shared, b"x").unwrap();
    std::os::unix::fs::chown(&shared, Some(uid), None).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o666)).unwrap();
    let dd = s.backing.join("dd");
    std::fs::set_permissions(&dd, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(dd.join("victim.txt"), b"v").unwrap();
    std::fs::set_permissions(
        dd.join("victim.txt"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    python_as(&s, "bob", BOB, &[]);
    assert!(!dd.join("evil.txt").exists() && dd.join("victim.txt").exists());
    // Stored in the security. namespace of the backing file, where a local user cannot write.
    let out = run(
        Command::new("python3").arg("-c").arg(format!(
            "import os; v = os.getxattr({:?}, 'security.shoal.NTACL'); print(v[0], len(v))",
            s.backing.join("b.txt").display().to_string()
        )),
        Duration::from_secs(10),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.starts_with("1 "), "{text}");
    // Each stored descriptor is a set_security event (CEE CEPP_SETACL_*).
    let events = s.audit_view("protocol");
    let log = format!("{events:#?}");
    let detail = |e: &serde_json::Value, d: &str| e.to_string().contains(&format!("\"{d}\""));
    let set_security = events
        .iter()
        .filter(|e| detail(e, "set_security_file") && e.to_string().contains("b.txt"))
        .count();
    assert!(
        set_security >= 1,
        "no set_security_file for b.txt in\n{log}"
    );
    assert!(
        events.iter().any(|e| detail(e, "set_security_directory")),
        "no set_security_directory in\n{log}"
    );
    s.restart();
    python(&s, AFTER_RESTART, &[alice]);
}
