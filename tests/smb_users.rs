//! `shoal user add|list|passwd|del` against the server's state dir, checked through smbclient.

mod common;

use common::{run, Opts, Server};
use std::process::Command;
use std::time::Duration;

fn ls(s: &Server, creds: &str) -> (bool, String) {
    let out = run(
        Command::new("smbclient")
            .args(["//127.0.0.1/data", "-U", creds, "-c", "ls", "-p"])
            .arg(s.smb_port.to_string()),
        Duration::from_secs(60),
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn user_lifecycle_through_the_cli() {
    let s = Server::start(Opts::standard());
    let out = s.shoal(
        &[
            "user",
            "add",
            "bob",
            "--uid",
            "4321",
            "--gid",
            "100",
            "--password-stdin",
        ],
        "first pw\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s.shoal(&["user", "add", "bob", "--password-stdin"], "x\n");
    assert!(!out.status.success(), "duplicate add must fail");
    let out = s.shoal(&["user", "add", "carol"], "");
    assert!(
        !out.status.success(),
        "add without --password-stdin must fail"
    );

    let out = s.shoal(&["user", "list"], "");
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.contains("bob") && list.contains("uid=4321") && list.contains("gid=100"),
        "{list}"
    );
    assert!(list.contains("S-1-5-21-"), "{list}");
    // Only the NT hash is stored, never the password.
    let db = std::fs::read(s.state.join("users.sqlite")).unwrap();
    assert!(!db.windows(8).any(|w| w == b"first pw"));

    assert!(ls(&s, "bob%first pw").0);
    let out = s.shoal(&["user", "passwd", "bob", "--password-stdin"], "second\r\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, text) = ls(&s, "bob%first pw");
    assert!(!ok && text.contains("NT_STATUS_LOGON_FAILURE"), "{text}");
    assert!(ls(&s, "bob%second").0);

    let out = s.shoal(&["user", "del", "bob"], "");
    assert!(out.status.success());
    let (ok, text) = ls(&s, "bob%second");
    assert!(!ok && text.contains("NT_STATUS_LOGON_FAILURE"), "{text}");
    let out = s.shoal(&["user", "del", "bob"], "");
    assert!(!out.status.success());
}
