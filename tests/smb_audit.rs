//! Auditing end to end through SMB: smbclient put, get, rename, del, and a denied open of a
//! 0600 root-owned file by a non-root user; `shoal audit view --topic protocol` shows the
//! file events of the VFS layer (create, write, read, rename, delete) and the SMB-only
//! open/close events, with user, client address, directory flag and NTSTATUS.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use common::{run, Opts, Server, TempDir};

fn smbclient(s: &Server, cmds: &str) -> String {
    let out = run(
        Command::new("smbclient").args([
            "//127.0.0.1/data",
            "-U",
            "alice%Pa55word!",
            "-c",
            cmds,
            "-p",
            &s.smb_port.to_string(),
        ]),
        Duration::from_secs(60),
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn smb_operations_appear_as_cee_events() {
    let mut s = Server::start(Opts {
        body: r#"
[[smb.shares]]
name = "data"
dir = "."

[audit]
enabled = true
io_coalesce_ms = 50
"#
        .into(),
        ..Opts::default()
    });
    s.add_user("alice", "Pa55word!");
    std::fs::set_permissions(&s.backing, std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::write(s.backing.join("secret"), b"root only").unwrap();
    std::fs::set_permissions(
        s.backing.join("secret"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let tmp = TempDir::new("smb-audit");
    let local = tmp.0.join("a.txt");
    std::fs::write(&local, b"hello\n").unwrap();
    let back = tmp.0.join("back.txt");

    let text = smbclient(
        &s,
        &format!(
            "put {} a.txt; get a.txt {}",
            local.display(),
            back.display()
        ),
    );
    assert!(!text.contains("NT_STATUS"), "{text}");
    assert_eq!(std::fs::read(&back).unwrap(), b"hello\n");
    let text = smbclient(&s, "rename a.txt b.txt; del b.txt");
    assert!(!text.contains("NT_STATUS"), "{text}");
    let text = smbclient(
        &s,
        &format!("get secret {}", tmp.0.join("secret").display()),
    );
    assert!(text.contains("NT_STATUS_ACCESS_DENIED"), "{text}");
    let out = run(
        Command::new("smbclient").args([
            "//127.0.0.1/data",
            "-U",
            "alice%wrong",
            "-c",
            "ls",
            "-p",
            &s.smb_port.to_string(),
        ]),
        Duration::from_secs(60),
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("NT_STATUS_LOGON_FAILURE")
            || String::from_utf8_lossy(&out.stderr).contains("NT_STATUS_LOGON_FAILURE")
    );
    s.stop(); // flushes the log

    let events = s.audit_view("protocol");
    let find = |detail: &str, file: &str| -> &serde_json::Value {
        events
            .iter()
            .find(|e| e["detailType"] == detail && e["fileName"] == file)
            .unwrap_or_else(|| panic!("no {detail} {file} in\n{events:#?}"))
    };
    let pos = |detail: &str, file: &str| {
        events
            .iter()
            .position(|e| e["detailType"] == detail && e["fileName"] == file)
    };
    let create = find("create_file", "/a.txt");
    assert_eq!(create["desiredAccess"].is_number(), true, "{create}");
    assert_eq!(find("write_file", "/a.txt")["bytesWritten"], 6);
    assert_eq!(find("read_file", "/a.txt")["bytesRead"], 6);
    let rename = find("rename_file", "/a.txt");
    assert_eq!(rename["newFileName"], "/b.txt");
    find("delete_file", "/b.txt");
    // SMB-only events: opens of existing objects and closes.
    let opened = events
        .iter()
        .find(|e| {
            e["fileName"] == "/a.txt"
                && e["detailType"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("open_file")
        })
        .unwrap_or_else(|| panic!("no open of /a.txt in\n{events:#?}"));
    assert_eq!(opened["ntStatus"], 0);
    find("close_file_modified", "/a.txt");
    let denied = events
        .iter()
        .find(|e| {
            e["fileName"] == "/secret"
                && e["detailType"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("open_file")
        })
        .unwrap_or_else(|| panic!("no open of /secret in\n{events:#?}"));
    assert_eq!(denied["ntStatus"], 0xC000_0022u32, "{denied}");
    // Session events (not forwarded to CEE, but logged): one logon and one tree connect per
    // smbclient run, a logoff at its end, and the failed logon with its status.
    let count = |detail: &str, status: u32| {
        events
            .iter()
            .filter(|e| e["detailType"] == detail && e["ntStatus"] == status)
            .count()
    };
    assert_eq!(count("logon", 0), 3, "{events:#?}");
    assert_eq!(count("tree_connect", 0), 3, "{events:#?}");
    assert_eq!(count("logon", 0xC000_006D), 1, "failed logon: {events:#?}");
    assert!(count("logoff", 0) >= 1, "{events:#?}");
    assert!(events
        .iter()
        .any(|e| e["detailType"] == "tree_connect" && e["eventType"] == "tree_connect"));
    assert!(pos("create_file", "/a.txt") < pos("rename_file", "/a.txt"));
    assert!(pos("rename_file", "/a.txt") < pos("delete_file", "/b.txt"));
    for e in &events {
        assert_eq!(e["protocol"], "SMB3", "{e}");
        assert_eq!(e["clientIPAddr"], "127.0.0.1", "{e}");
        if e["ntStatus"] == 0xC000_006Du32 {
            assert_eq!(e["userID"], 65534, "a failed logon has no uid: {e}");
            continue;
        }
        assert_eq!(e["userID"], 1000, "{e}");
        if e["fileName"] == "/a.txt" || e["fileName"] == "/b.txt" {
            assert_eq!(e["isDirectory"], false, "{e}");
        }
    }
}
