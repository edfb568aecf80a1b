//! Python smbprotocol's high-level `smbclient` API on SMB 3.1.1 (signed): open, write, read,
//! listdir, stat, rename, remove, and copyfile, which smbprotocol does as a server-side copy
//! (FSCTL_SRV_REQUEST_RESUME_KEY + FSCTL_SRV_COPYCHUNK_WRITE).

mod common;

use common::{Opts, Server};

const SCRIPT: &str = r#"
import sys, smbclient
port = int(sys.argv[1])
base = r"\\127.0.0.1\data"
smbclient.register_session("127.0.0.1", username="alice", password="Pa55word!", port=port,
                           require_signing=True)
data = bytes(range(256)) * 4096 * 3  # 3 MiB
with smbclient.open_file(base + r"\a.bin", mode="wb", port=port) as f:
    f.write(data)
with smbclient.open_file(base + r"\a.bin", mode="rb", port=port) as f:
    assert f.read() == data, "read back differs"
smbclient.mkdir(base + r"\d", port=port)
smbclient.copyfile(base + r"\a.bin", base + r"\d\copy.bin", port=port)
with smbclient.open_file(base + r"\d\copy.bin", mode="rb", port=port) as f:
    assert f.read() == data, "server-side copy differs"
st = smbclient.stat(base + r"\d\copy.bin", port=port)
assert st.st_size == len(data), st
smbclient.rename(base + r"\a.bin", base + r"\d\moved.bin", port=port)
names = sorted(smbclient.listdir(base + r"\d", port=port))
print("listdir", ",".join(names))
smbclient.remove(base + r"\d\moved.bin", port=port)
smbclient.remove(base + r"\d\copy.bin", port=port)
smbclient.rmdir(base + r"\d", port=port)
print("after", ",".join(sorted(smbclient.listdir(base, port=port))))
print("ok")
"#;

#[test]
fn high_level_api_on_311_with_server_side_copy() {
    let s = Server::start(Opts::standard());
    s.add_user("alice", "Pa55word!");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&s.backing, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let stdout = s.run_python(SCRIPT);
    assert!(stdout.contains("listdir copy.bin,moved.bin"), "{stdout}");
    assert!(
        stdout.contains("after \n") || stdout.contains("after\n"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}");
    assert!(!s.backing.join("d").exists());
    let log = s.log();
    assert!(!log.contains("panicked"), "{log}");
}
