//! Auditing end to end through NFS: libnfs clients drive create, write, read, mkdir, rename,
//! chmod, a denied create, delete; `shoal audit view` shows exactly those events with their
//! fields. SIGHUP re-reads the config and logs what changed in the `config` topic.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{nfs_op, run, Opts, Server, TempDir};

fn audited_server(extra_audit: &str) -> Server {
    let s = Server::start(Opts {
        smb_extra: "enabled = false".into(),
        body: format!(
            r#"
[[nfs.exports]]
path = "/data"
[[nfs.exports.clients]]
hosts = ["127.0.0.1"]
access = "rw"

[audit]
enabled = true
io_coalesce_ms = 50
{extra_audit}
"#
        ),
        ..Opts::default()
    });
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&s.backing, std::fs::Permissions::from_mode(0o1777)).unwrap();
    s
}

fn ok(out: std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn nfs_operations_appear_as_cee_events() {
    let mut s = audited_server("");
    std::fs::create_dir(s.backing.join("locked")).unwrap();
    std::fs::set_permissions(
        s.backing.join("locked"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let export = s.nfs_url("/data", "");
    let tmp = TempDir::new("audit-nfs");
    let local = tmp.0.join("a.txt");
    std::fs::write(&local, b"hello\n").unwrap();
    let nfs = |args: &[&str]| {
        run(
            Command::new(args[0]).args(&args[1..]),
            Duration::from_secs(60),
        )
    };

    ok(
        nfs(&[
            "nfs-cp",
            local.to_str().unwrap(),
            &s.nfs_url("/data", "/a.txt"),
        ]),
        "put",
    );
    let cat = nfs(&["nfs-cat", &s.nfs_url("/data", "/a.txt")]);
    assert_eq!(cat.stdout, b"hello\n");
    ok(nfs_op(&export, &["mkdir", "/d"]), "mkdir");
    ok(nfs_op(&export, &["rename", "/a.txt", "/d/b.txt"]), "rename");
    ok(nfs_op(&export, &["chmod", "600", "/d/b.txt"]), "chmod");
    let denied = nfs(&[
        "nfs-cp",
        local.to_str().unwrap(),
        &s.nfs_url("/data", "/locked/x"),
    ]);
    assert!(
        !denied.status.success(),
        "create in a 0700 root dir by squashed root succeeded"
    );
    ok(nfs_op(&export, &["unlink", "/d/b.txt"]), "unlink");
    ok(nfs_op(&export, &["rmdir", "/d"]), "rmdir");
    s.stop(); // flushes the log

    let events = s.audit_view("protocol");
    let got: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            (
                e["detailType"].as_str().unwrap().to_string(),
                e["fileName"].as_str().unwrap().to_string(),
                e["newFileName"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = [
        ("create_file", "/a.txt", ""),
        // nfs-cp truncates what it created (SETATTR size=0): a size change, logged as a
        // write with newSize (issue 11).
        ("write_file", "/a.txt", ""),
        ("write_file", "/a.txt", ""),
        ("read_file", "/a.txt", ""),
        ("create_directory", "/d", ""),
        ("rename_file", "/a.txt", "/d/b.txt"),
        ("set_security_file", "/d/b.txt", ""),
        ("create_file", "/locked/x", ""),
        ("delete_file", "/d/b.txt", ""),
        ("delete_directory", "/d", ""),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(got, want, "events:\n{events:#?}");

    let coarse = [
        "create",
        "write",
        "write",
        "read",
        "create",
        "rename",
        "set_security",
        "create",
        "delete",
        "delete",
    ];
    for (e, c) in events.iter().zip(coarse) {
        assert_eq!(e["eventType"], c);
        assert_eq!(e["protocol"], "NFS3");
        assert_eq!(e["clientIPAddr"], "127.0.0.1");
        assert_eq!(e["userID"], 65534, "root is squashed to the anon uid");
        assert_eq!(e["zoneID"], 1);
        assert_eq!(e["zoneName"], "System");
        assert_eq!(e["node"], "test-node");
    }
    assert_eq!(events[4]["isDirectory"], true);
    assert_eq!(events[9]["isDirectory"], true);
    assert_eq!(events[0]["isDirectory"], false);
    assert_eq!(events[1]["bytesWritten"], 0);
    assert_eq!(events[1]["newSize"], 0);
    assert_eq!(events[2]["bytesWritten"], 6);
    assert_eq!(events[3]["bytesRead"], 6);
    assert_eq!(
        events[7]["ntStatus"], 0xC000_0022u32,
        "denied create carries STATUS_ACCESS_DENIED"
    );
    for e in events
        .iter()
        .filter(|e| e["detailType"] != "create_file" || e["fileName"] != "/locked/x")
    {
        assert_eq!(e["ntStatus"], 0, "{e}");
    }
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
}

#[test]
fn sighup_reload_audits_the_config_change() {
    let s = audited_server("");
    let initial = s.audit_view("config");
    assert_eq!(initial.len(), 1, "{initial:?}");
    assert_eq!(initial[0]["change"], "(initial config)");

    let text = std::fs::read_to_string(&s.config).unwrap();
    let changed = text.replace("io_coalesce_ms = 50", "io_coalesce_ms = 75");
    assert_ne!(text, changed);
    std::fs::write(&s.config, changed).unwrap();
    let st = Command::new("kill")
        .arg("-HUP")
        .arg(s.pid().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let events = s.audit_view("config");
        if let Some(e) = events.iter().find(|e| {
            e["change"]
                .as_str()
                .unwrap_or("")
                .contains("io_coalesce_ms")
        }) {
            assert!(
                e["change"].as_str().unwrap().contains("50")
                    && e["change"].as_str().unwrap().contains("75"),
                "{e}"
            );
            assert!(
                e["userName"].as_str().unwrap().contains("shoal.toml"),
                "{e}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no config event after SIGHUP: {events:?}\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
