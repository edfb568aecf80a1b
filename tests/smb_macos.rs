//! macOS clients (`docs/macos.md`), driven by Python smbprotocol (no macOS machine here):
//! the `AAPL` create context a Mac sends on its first CREATE, and the Services-for-Macintosh
//! private-use code points it uses for characters Windows forbids in names (`:` is U+F022).

mod common;

use std::process::Command;
use std::time::Duration;

use common::{run, venv_python, Opts, Server};

/// Shares over the same directory: `data` maps names (the default), `raw` does not.
const SHARES: &str = r#"
[[smb.shares]]
name = "data"
dir = "."

[[smb.shares]]
name = "raw"
dir = "."
macos_name_mapping = false
"#;

fn server(smb_extra: &str) -> Server {
    use std::os::unix::fs::PermissionsExt;
    let s = Server::start(Opts {
        smb_extra: smb_extra.into(),
        body: SHARES.into(),
        ..Opts::default()
    });
    s.add_user("alice", "Pa55word!");
    std::fs::set_permissions(&s.backing, std::fs::Permissions::from_mode(0o1777)).unwrap();
    s
}

/// Runs a Python script with the port as its argument; returns stdout, failing on error.
fn python(s: &Server, script: &str) -> String {
    let out = run(
        Command::new(venv_python())
            .arg("-c")
            .arg(script)
            .arg(s.smb_port.to_string()),
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    let log = s.log();
    assert!(!log.contains("panicked"), "{log}");
    stdout
}

/// The value printed as `key=value` by a script.
fn field<'a>(stdout: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no `{key}` in:\n{stdout}"))
}

const AAPL_SCRIPT: &str = r#"
import sys, uuid, struct
from smbprotocol.connection import Connection, Dialects
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.create_contexts import SMB2CreateContextRequest
from smbprotocol.open import (Open, CreateDisposition, ImpersonationLevel, ShareAccess,
    CreateOptions, FileAttributes, DirectoryAccessMask)
port = int(sys.argv[1])

def aapl(data):
    c = SMB2CreateContextRequest()
    c["buffer_name"] = b"AAPL"
    c["buffer_data"] = data
    return c

def server_query(bitmap, client_caps):
    return struct.pack("<IIQQ", 1, 0, bitmap, client_caps)

def open_root(tree, contexts):
    o = Open(tree, "")
    r = o.create(ImpersonationLevel.Impersonation, DirectoryAccessMask.FILE_LIST_DIRECTORY,
        FileAttributes.FILE_ATTRIBUTE_DIRECTORY, ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE,
        CreateDisposition.FILE_OPEN, CreateOptions.FILE_DIRECTORY_FILE, create_contexts=contexts)
    o.close()
    return r

def connect():
    conn = Connection(uuid.uuid4(), "127.0.0.1", port, require_signing=True)
    conn.connect(Dialects.SMB_3_1_1)
    s = Session(conn, "alice", "Pa55word!")
    s.connect()
    t = TreeConnect(s, r"\\127.0.0.1\data")
    t.connect()
    return conn, t

conn, t = connect()
# A malformed server query (20 bytes) fails the CREATE; it does not count as negotiated.
try:
    open_root(t, [aapl(server_query(7, 0xf)[:20])])
    print("short=accepted")
except SMBResponseException as e:
    print("short=%#x" % e.status)
# RESOLVE_ID (and any command but the server query) is ignored.
print("resolve_id=%r" % (open_root(t, [aapl(struct.pack("<IIQ", 2, 0, 0))]),))
# macOS's query: all three parts, client caps READ_DIR_ATTR|OSX_COPYFILE|UNIX_BASED|NFS_ACE.
ctxs = open_root(t, [aapl(server_query(7, 0xf))])
data = ctxs[0]
cmd, _, bitmap, scaps, vcaps, _, mlen = struct.unpack_from("<IIQQQII", data)
model = data[40:40 + mlen].decode("utf-16-le")
print("reply_count=%d" % len(ctxs))
print("command=%d" % cmd)
print("bitmap=%d" % bitmap)
print("server_caps=%d" % scaps)
print("volume_caps=%d" % vcaps)
print("model=%s" % model)
print("length=%d" % len(data))
# Only the first negotiation of a connection is answered.
print("second=%r" % (open_root(t, [aapl(server_query(7, 0xf))]),))
conn.disconnect()
# A new connection negotiates again; asking for the server caps only gets only them.
conn, t = connect()
data = open_root(t, [aapl(server_query(1, 0))])[0]
print("caps_only=%s" % data.hex())
conn.disconnect()
"#;

/// A CREATE with an `AAPL` server query gets the reply bitmap, capabilities and model once
/// per connection; malformed queries fail, other commands are ignored.
#[test]
fn aapl_server_query() {
    let s = server("macos_model = \"ShoalTest1,1\"");
    let out = python(&s, AAPL_SCRIPT);
    // STATUS_INVALID_PARAMETER.
    assert_eq!(field(&out, "short"), "0xc000000d", "{out}");
    assert_eq!(field(&out, "resolve_id"), "None", "{out}");
    assert_eq!(field(&out, "reply_count"), "1", "{out}");
    assert_eq!(field(&out, "command"), "1", "{out}");
    assert_eq!(field(&out, "bitmap"), "7", "{out}");
    // kAAPL_UNIX_BASED only: no READ_DIR_ATTR, OSX_COPYFILE or NFS_ACE though the client
    // offered them (shoal does none of them).
    assert_eq!(field(&out, "server_caps"), "4", "{out}");
    // kAAPL_CASE_SENSITIVE | kAAPL_FULL_SYNC.
    assert_eq!(field(&out, "volume_caps"), "6", "{out}");
    assert_eq!(field(&out, "model"), "ShoalTest1,1", "{out}");
    assert_eq!(
        field(&out, "length"),
        (40 + 2 * "ShoalTest1,1".len()).to_string(),
        "{out}"
    );
    assert_eq!(field(&out, "second"), "None", "{out}");
    // command 1, reserved, bitmap 1, server caps 4.
    assert_eq!(
        field(&out, "caps_only"),
        "01000000000000000100000000000000\
         0400000000000000",
        "{out}"
    );
}

const NAMES_SCRIPT: &str = r#"
import sys, smbclient
from smbprotocol.exceptions import SMBResponseException
port = int(sys.argv[1])
smbclient.register_session("127.0.0.1", username="alice", password="Pa55word!", port=port)
base = r"\\127.0.0.1\data"
raw = r"\\127.0.0.1\raw"
esc = lambda names: ",".join(sorted(n.encode("unicode_escape").decode() for n in names))
# ':' as macOS sends it.
with smbclient.open_file(base + "\\a\uf022b.txt", mode="wb", port=port) as f:
    f.write(b"colon")
# Every punctuation character, a control character, a trailing period, in a directory.
smbclient.mkdir(base + "\\d\uf022ir", port=port)
with smbclient.open_file(base + "\\d\uf022ir\\q\uf025\uf021\uf001\uf029", mode="wb", port=port) as f:
    f.write(b"deep")
print("listing=" + esc(smbclient.listdir(base, port=port)))
print("dir_listing=" + esc(smbclient.listdir(base + "\\d\uf022ir", port=port)))
with smbclient.open_file(base + "\\x\uf022y", mode="rb", port=port) as f:
    print("ondisk=" + f.read().decode())
print("pattern=" + esc(smbclient.listdir(base, search_pattern="x\uf022*", port=port)))
smbclient.rename(base + "\\a\uf022b.txt", base + "\\d\uf022ir\\r\uf027s\uf028", port=port)
print("after_rename=" + esc(smbclient.listdir(base + "\\d\uf022ir", port=port)))
smbclient.rename(base + "\\d\uf022ir\\r\uf027s\uf028", base + "\\back\uf022.txt", port=port)
with smbclient.open_file(base + "\\back\uf022.txt", mode="rb", port=port) as f:
    print("renamed_back=" + f.read().decode())
# U+F029 alone would be "." on disk.
try:
    smbclient.open_file(base + "\\\uf029", mode="wb", port=port).close()
    print("dot=accepted")
except (SMBResponseException, OSError) as e:
    print("dot=%#x" % getattr(e, "ntstatus", getattr(e, "status", 0)))
# The share without mapping keeps the code points as they are.
with smbclient.open_file(raw + "\\p\uf022q", mode="wb", port=port) as f:
    f.write(b"raw")
print("raw_listing=" + esc(smbclient.listdir(raw, port=port)))
print("ok=1")
"#;

/// Names with `:` and the other mapped characters: created over SMB with the private-use
/// code points they are real characters on disk; created on disk they list over SMB with the
/// code points; rename maps both names; a name on disk already holding a code point of the
/// mapping is not listed.
#[test]
fn mac_name_mapping() {
    let s = server("");
    std::fs::write(s.backing.join("x:y"), b"from disk").unwrap();
    // No SMB form under the mapping: hidden from `data`, visible in `raw`.
    std::fs::write(s.backing.join("h\u{F022}i"), b"ambiguous").unwrap();
    let out = python(&s, NAMES_SCRIPT);
    assert_eq!(field(&out, "ok"), "1", "{out}");
    // The file created as a\uF022b.txt over SMB, the rest as on disk.
    assert!(
        s.backing.join("back:.txt").is_file(),
        "{:?}",
        std::fs::read_dir(&s.backing).unwrap().collect::<Vec<_>>()
    );
    assert_eq!(
        std::fs::read(s.backing.join("d:ir").join("q?*\u{1}.")).unwrap(),
        b"deep"
    );
    assert_eq!(
        field(&out, "listing"),
        "a\\uf022b.txt,d\\uf022ir,x\\uf022y",
        "{out}"
    );
    assert_eq!(
        field(&out, "dir_listing"),
        "q\\uf025\\uf021\\uf001\\uf029",
        "{out}"
    );
    assert_eq!(field(&out, "ondisk"), "from disk", "{out}");
    assert_eq!(field(&out, "pattern"), "x\\uf022y", "{out}");
    assert_eq!(
        field(&out, "after_rename"),
        "q\\uf025\\uf021\\uf001\\uf029,r\\uf027s\\uf028",
        "{out}"
    );
    assert_eq!(field(&out, "renamed_back"), "colon", "{out}");
    // STATUS_OBJECT_NAME_INVALID.
    assert_eq!(field(&out, "dot"), "0xc0000033", "{out}");
    assert_eq!(
        std::fs::read(s.backing.join("p\u{F022}q")).unwrap(),
        b"raw",
        "the unmapped share stores the code point itself"
    );
    assert_eq!(
        field(&out, "raw_listing"),
        "back:.txt,d:ir,h\\uf022i,p\\uf022q,x:y",
        "{out}"
    );
}
