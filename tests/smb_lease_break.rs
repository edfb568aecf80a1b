//! Two SMB clients and a lease break (issue 12): A holds an RWH lease on a file and has
//! written to it; B opens the file for writing; A receives the break to RH, flushes and
//! acknowledges; B's CREATE, parked until then, completes and B reads A's bytes. The client
//! side is `tests/tools/lease_break_two_clients.py` (Python smbprotocol, SMB 3.0.2); it
//! passes against Samba 4.17 as well (`python tests/tools/lease_break_two_clients.py
//! 127.0.0.1 PORT SHARE USER PASSWORD`).

mod common;

use std::process::Command;
use std::time::Duration;

use common::{run, venv_python, Opts, Server};

/// The client side of both tests.
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/tools/lease_break_two_clients.py"
);

/// A server with user alice and a share everyone may create in.
fn server() -> Server {
    let s = Server::start(Opts::standard());
    s.add_user("alice", "Pa55word!");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&s.backing, std::fs::Permissions::from_mode(0o1777)).unwrap();
    s
}

#[test]
fn writer_waits_for_the_rwh_holder_to_flush_and_acknowledge() {
    let s = server();
    let out = run(
        Command::new(venv_python())
            .arg(SCRIPT)
            .arg("127.0.0.1")
            .arg(s.smb_port.to_string())
            .arg("data")
            .arg("alice")
            .arg("Pa55word!"),
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    assert!(stdout.contains("A break RWH->RH"), "{stdout}");
    assert!(stdout.contains("B read A's bytes"), "{stdout}");
    let log = s.log();
    assert!(!log.contains("panicked"), "{log}");
}

/// The same with an NFSv3 WRITE as the second client: it is answered NFS3ERR_JUKEBOX while A's
/// break is outstanding (the nfs-op tool fails and the script retries, as an NFS client
/// does), A loses write caching, flushes and acknowledges, the WRITE goes through and A reads
/// the NFS bytes.
#[test]
fn nfs_write_breaks_the_smb_lease_first() {
    let s = server();
    let out = run(
        Command::new(venv_python())
            .arg(SCRIPT)
            .args([
                "127.0.0.1",
                &s.smb_port.to_string(),
                "data",
                "alice",
                "Pa55word!",
            ])
            .arg("nfs")
            .arg(common::nfs_op_tool())
            .arg(s.nfs_url("/data", "")),
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    assert!(stdout.contains("for the NFS write"), "{stdout}");
    assert!(stdout.contains("A reads the NFS bytes"), "{stdout}");
    assert!(!s.log().contains("panicked"));
}
