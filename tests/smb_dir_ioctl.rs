//! QUERY_DIRECTORY resume keys (SMB2_INDEX_SPECIFIED, MS-SMB2 3.3.5.18), the AllocationSize
//! create context (MS-SMB2 2.2.13.2.6) and FSCTL_QUERY_NETWORK_INTERFACE_INFO (MS-SMB2
//! 3.3.5.15.11), driven with Python smbprotocol's low-level API (Connection / Session /
//! TreeConnect / Open), which parses the replies itself.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{run, venv_python, Opts, Server};

/// Connects as alice to share `data`; defines `conn`, `session`, `tree`, `port`.
const PRELUDE: &str = r#"
import sys, uuid
from smbprotocol.connection import Connection
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.open import (Open, CreateDisposition, CreateOptions, DirectoryAccessMask,
    FilePipePrinterAccessMask, FileAttributes, ImpersonationLevel, ShareAccess,
    QueryDirectoryFlags)
from smbprotocol.file_info import FileInformationClass
from smbprotocol.exceptions import SMBResponseException
port = int(sys.argv[1])
conn = Connection(uuid.uuid4(), "127.0.0.1", port)
conn.connect()
session = Session(conn, "alice", "Pa55word!")
session.connect()
tree = TreeConnect(session, r"\\127.0.0.1\data")
tree.connect()
"#;

const INDEX_SCRIPT: &str = r#"
d = Open(tree, "big")
d.create(ImpersonationLevel.Impersonation, DirectoryAccessMask.FILE_LIST_DIRECTORY,
         FileAttributes.FILE_ATTRIBUTE_DIRECTORY, ShareAccess.FILE_SHARE_READ,
         CreateDisposition.FILE_OPEN, CreateOptions.FILE_DIRECTORY_FILE)
CLS = FileInformationClass.FILE_FULL_DIRECTORY_INFORMATION
def page(flags=0, index=0, size=2048):
    try:
        return [(e["file_name"].get_value().decode("utf-16-le"), e["file_index"].get_value())
                for e in d.query_directory("*", CLS, flags=flags, file_index=index,
                                           max_output=size)]
    except SMBResponseException as e:
        return "status %08x" % e.status
# The whole listing, page by page.
full = page(QueryDirectoryFlags.SMB2_RESTART_SCANS)
while True:
    p = page()
    if isinstance(p, str):
        print("end", p)
        break
    full += p
names = [n for n, _ in full]
keys = [k for _, k in full]
print("entries", len(full))
print("distinct names", len(set(names)))
print("zero keys", keys.count(0), "distinct keys", len(set(keys)))
# Resume after the 10th entry: the listing goes on with the 11th, to the end.
rest = page(QueryDirectoryFlags.SMB2_INDEX_SPECIFIED, keys[9])
while True:
    p = page()
    if isinstance(p, str):
        break
    rest += p
print("resume matches", [n for n, _ in rest] == names[10:], len(rest))
# An index the server never gave is ignored: the enumeration goes on where it was.
page(QueryDirectoryFlags.SMB2_RESTART_SCANS | QueryDirectoryFlags.SMB2_RETURN_SINGLE_ENTRY)
p = page(QueryDirectoryFlags.SMB2_INDEX_SPECIFIED | QueryDirectoryFlags.SMB2_RETURN_SINGLE_ENTRY,
         0xFFFFFFF0)
print("unknown index continues", p[0][0] == names[1])
d.close()
print("ok")
"#;

const ALLOC_SCRIPT: &str = r#"
from smbprotocol.create_contexts import (CreateContextName, SMB2CreateContextRequest,
    SMB2CreateAllocationSize)
def create(name, size, disposition):
    ctx = SMB2CreateContextRequest()
    ctx["buffer_name"] = CreateContextName.SMB2_CREATE_ALLOCATION_SIZE
    a = SMB2CreateAllocationSize()
    a["allocation_size"] = size
    ctx["buffer_data"] = a
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, FilePipePrinterAccessMask.GENERIC_ALL,
             FileAttributes.FILE_ATTRIBUTE_NORMAL, ShareAccess.FILE_SHARE_READ,
             disposition, CreateOptions.FILE_NON_DIRECTORY_FILE, create_contexts=[ctx])
    print(name, "alloc", f.allocation_size, "eof", f.end_of_file)
    f.close()
create("pre.bin", 1048576, CreateDisposition.FILE_CREATE)
create("pre.bin", 2097152, CreateDisposition.FILE_OVERWRITE_IF)
# Opening an existing file leaves its allocation alone.
create("pre.bin", 8388608, CreateDisposition.FILE_OPEN)
# More than the volume has: DISK_FULL, and the file is not left behind.
from smbprotocol.exceptions import SMBResponseException
try:
    create("huge.bin", 1 << 62, CreateDisposition.FILE_CREATE)
    print("huge created")
except SMBResponseException as e:
    print("huge status %#x" % e.status)
print("ok")
"#;

const NETIF_SCRIPT: &str = r#"
from smbprotocol.ioctl import (SMB2IOCTLRequest, SMB2IOCTLResponse, CtlCode, IOCTLFlags,
    SMB2NetworkInterfaceInfo)
def query(max_output):
    req = SMB2IOCTLRequest()
    req["ctl_code"] = CtlCode.FSCTL_QUERY_NETWORK_INTERFACE_INFO
    req["file_id"] = b"\xff" * 16
    req["max_output_response"] = max_output
    req["flags"] = IOCTLFlags.SMB2_0_IOCTL_IS_FSCTL
    request = conn.send(req, sid=session.session_id, tid=tree.tree_connect_id)
    try:
        resp = conn.receive(request)
    except SMBResponseException as e:
        return "status %08x" % e.status
    io = SMB2IOCTLResponse()
    io.unpack(resp["data"].get_value())
    return SMB2NetworkInterfaceInfo.unpack_multiple(io["buffer"].get_value())
infos = query(65536)
print("count", len(infos))
for i in infos:
    sa = i["sock_addr_storage"]
    print("if", i["if_index"].get_value(), "cap", i["capability"].get_value(),
          "speed", i["link_speed"].get_value(), "family", sa["family"].get_value(),
          "addr", sa["buffer"].get_value().get_ipaddress())
print("small", query(100))
print("ok")
"#;

fn python(s: &Server, script: &str) -> String {
    let out = run(
        Command::new(venv_python())
            .arg("-c")
            .arg(format!("{PRELUDE}{script}"))
            .arg(s.smb_port.to_string()),
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    stdout
}

fn server() -> Server {
    let s = Server::start(Opts::standard());
    s.add_user("alice", "Pa55word!");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&s.backing, std::fs::Permissions::from_mode(0o1777)).unwrap();
    s
}

#[test]
fn index_specified_resumes_after_the_named_entry() {
    let s = server();
    let dir = s.backing.join("big");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..300 {
        std::fs::write(dir.join(format!("file-{i:04}.txt")), b"x").unwrap();
    }
    let out = python(&s, INDEX_SCRIPT);
    // 300 files, `.` and `..`, each listed once, every one with its own non-zero FileIndex.
    assert!(out.contains("end status 80000006"), "{out}"); // STATUS_NO_MORE_FILES
    assert!(out.contains("entries 302\n"), "{out}");
    assert!(out.contains("distinct names 302\n"), "{out}");
    assert!(out.contains("zero keys 0 distinct keys 302\n"), "{out}");
    assert!(out.contains("resume matches True 292\n"), "{out}");
    assert!(out.contains("unknown index continues True\n"), "{out}");
}

#[test]
fn allocation_size_context_preallocates_new_and_overwritten_files() {
    let s = server();
    let out = python(&s, ALLOC_SCRIPT);
    assert!(out.contains("pre.bin alloc 1048576 eof 0\n"), "{out}");
    assert!(out.contains("pre.bin alloc 2097152 eof 0\n"), "{out}");
    // FILE_OPEN: the 2 MiB reserved by the overwrite, not the 8 MiB asked for.
    assert_eq!(
        out.matches("pre.bin alloc 2097152 eof 0\n").count(),
        2,
        "{out}"
    );
    assert!(out.contains("huge status 0xc000007f\n"), "{out}");
    assert!(!s.backing.join("huge.bin").exists(), "huge.bin left behind");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(s.backing.join("pre.bin")).unwrap();
    assert_eq!(m.len(), 0);
    assert!(m.blocks() * 512 >= 2 * 1048576, "{} blocks", m.blocks());
}

#[test]
fn network_interface_info_reports_the_listen_address() {
    let s = server();
    let out = python(&s, NETIF_SCRIPT);
    let lo: u32 = std::fs::read_to_string("/sys/class/net/lo/ifindex")
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(1);
    // shoal listens on 127.0.0.1 in tests: that address alone, on lo, IPv4 (family 2),
    // no RSS/RDMA capability, the default 1 Gb/s (lo has no speed).
    assert!(out.contains("count 1\n"), "{out}");
    assert!(
        out.contains(&format!(
            "if {lo} cap 0 speed 1000000000 family 2 addr 127.0.0.1\n"
        )),
        "{out}"
    );
    assert!(out.contains("small status c0000023"), "{out}"); // STATUS_BUFFER_TOO_SMALL
}
