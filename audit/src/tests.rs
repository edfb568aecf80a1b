//! Crate-level tests: the auditor and the layer over a real `LocalFs`, with a real log and
//! the JSON file sink.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use shoal_vfs::{Caller, CreateHow, LocalFs, Protocol, SetAttr, Vfs, WriteStability, ZoneId};

use crate::config::{AuditConfig, FailureMode, SinkConfig, SinkKind, ZoneAudit};
use crate::event::{EventName, Topic};
use crate::testutil::TempDir;
use crate::view;
use crate::{AuditLayer, Auditor};

fn caller(uid: u32, proto: Protocol) -> Caller {
    Caller {
        uid,
        gid: uid,
        groups: vec![],
        sid: None,
        client_addr: "192.0.2.9:811".parse().unwrap(),
        zone: ZoneId::SYSTEM,
        protocol: proto,
    }
}

fn events(log_dir: &std::path::Path, topic: Topic) -> Vec<Value> {
    let mut out = Vec::new();
    view::view(log_dir, topic, None, i64::MIN, i64::MAX, &mut |r| {
        out.push(serde_json::from_slice(&r.payload).unwrap());
        Ok(())
    })
    .unwrap();
    out
}

fn setup(
    t: &TempDir,
    mode: FailureMode,
) -> (AuditLayer<LocalFs>, Arc<Auditor>, std::path::PathBuf) {
    let backing = t.0.join("backing");
    std::fs::create_dir_all(backing.join("export")).unwrap();
    let log_dir = t.0.join("audit");
    let fs = LocalFs::open(&backing, &t.0.join("key")).unwrap();
    let mut cfg = AuditConfig::new("node1", &log_dir);
    cfg.mode = mode;
    cfg.io_coalesce = Duration::from_millis(1000);
    let auditor = Auditor::start(cfg).unwrap();
    (AuditLayer::new(fs, auditor.clone()), auditor, log_dir)
}

#[test]
fn layer_emits_file_events_for_nfs() {
    let t = TempDir::new("layer");
    let (vfs, auditor, log_dir) = setup(&t, FailureMode::BestEffort);
    let root = vfs.root("export").unwrap();
    let c = caller(0, Protocol::Nfs3);
    let (d, _) = vfs.mkdir(&c, &root, b"dir", &SetAttr::default()).unwrap();
    let (f, _) = vfs
        .create(&c, &d, b"a.txt", &CreateHow::Guarded(SetAttr::default()))
        .unwrap();
    for i in 0..10u64 {
        vfs.write(&c, &f, i * 100, &[7u8; 100], WriteStability::FileSync)
            .unwrap();
    }
    vfs.read(&c, &f, 0, 4096).unwrap();
    vfs.setattr(
        &c,
        &f,
        &SetAttr {
            mode: Some(0o600),
            ..SetAttr::default()
        },
        None,
    )
    .unwrap();
    vfs.setattr(
        &c,
        &f,
        &SetAttr {
            size: Some(10),
            ..SetAttr::default()
        },
        None,
    )
    .unwrap(); // not security: a write that sets the size (issue 11)
    vfs.rename(&c, &d, b"a.txt", &root, b"b.txt").unwrap();
    // A failure: uid 1000 cannot create in a root-owned 0755 directory.
    let err = vfs.create(
        &caller(1000, Protocol::Nfs3),
        &root,
        b"denied",
        &CreateHow::Guarded(SetAttr::default()),
    );
    assert!(err.is_err());
    vfs.remove(&c, &root, b"b.txt").unwrap();
    vfs.rmdir(&c, &root, b"dir").unwrap();
    assert!(auditor.flush(Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(1500)); // close the coalescing window
    assert!(auditor.flush(Duration::from_secs(5)));
    let ev = events(&log_dir, Topic::Protocol);
    let names: Vec<&str> = ev
        .iter()
        .map(|e| e["detailType"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "create_directory",
            "create_file",
            "write_file",
            "read_file",
            "set_security_file",
            "write_file",
            "rename_file",
            "create_file",
            "delete_file",
            "delete_directory",
            "write_file"
        ],
        "{ev:#?}"
    );
    assert_eq!(ev[0]["fileName"], "/export/dir");
    assert_eq!(ev[0]["isDirectory"], true);
    assert_eq!(ev[1]["fileName"], "/export/dir/a.txt");
    assert_eq!(ev[1]["protocol"], "NFS3");
    assert_eq!(ev[1]["clientIPAddr"], "192.0.2.9");
    assert_eq!(ev[1]["userSID"], "S-1-22-1-0");
    assert_eq!(ev[1]["zoneName"], "System");
    assert_eq!(ev[1]["node"], "node1");
    // The first write is logged at once, the other nine sum up in the follow-up.
    assert_eq!(ev[2]["bytesWritten"], 100);
    assert_eq!(ev[10]["bytesWritten"], 900);
    assert_eq!(ev[2]["inode"], ev[1]["inode"]);
    assert_eq!(ev[4]["fileName"], "/export/dir/a.txt");
    // The size change: a write of no bytes with the new size, never coalesced.
    assert_eq!(ev[5]["fileName"], "/export/dir/a.txt");
    assert_eq!(ev[5]["bytesWritten"], 0);
    assert_eq!(ev[5]["newSize"], 10);
    assert_eq!(ev[6]["newFileName"], "/export/b.txt");
    assert_eq!(ev[7]["ntStatus"], 0xC000_0022u32);
    assert_eq!(ev[7]["userID"], 1000);
    assert_eq!(ev[8]["fileName"], "/export/b.txt");
    // Ids are monotonic, timestamps non-decreasing.
    for w in ev.windows(2) {
        assert_eq!(
            w[1]["id"].as_u64().unwrap(),
            w[0]["id"].as_u64().unwrap() + 1
        );
        assert!(w[1]["timestamp"].as_i64().unwrap() >= w[0]["timestamp"].as_i64().unwrap());
    }
    // Config topic.
    auditor
        .emit_config("admin", "audit.zones[System].audit_success")
        .unwrap();
    assert!(auditor.flush(Duration::from_secs(5)));
    let cfgev = events(&log_dir, Topic::Config);
    assert_eq!(cfgev.len(), 1);
    assert_eq!(cfgev[0]["change"], "audit.zones[System].audit_success");
    assert_eq!(cfgev[0]["userName"], "admin");
    assert_eq!(cfgev[0]["id"], 1);
    auditor.shutdown();
}

#[test]
fn zone_filters_apply_before_the_log() {
    let t = TempDir::new("filters");
    let (vfs, auditor, log_dir) = setup(&t, FailureMode::BestEffort);
    let mut z = ZoneAudit::all(1, "System");
    z.audit_success = [EventName::DeleteFile].into();
    z.audit_failure = [EventName::CreateFile].into();
    auditor.set_zones(vec![z]);
    let root = vfs.root("export").unwrap();
    let c = caller(0, Protocol::Smb3);
    vfs.create(&c, &root, b"x", &CreateHow::Guarded(SetAttr::default()))
        .unwrap();
    let _ = vfs.create(&c, &root, b"x", &CreateHow::Guarded(SetAttr::default())); // Exists
    vfs.remove(&c, &root, b"x").unwrap();
    assert!(auditor.flush(Duration::from_secs(5)));
    let ev = events(&log_dir, Topic::Protocol);
    let names: Vec<(&str, u64)> = ev
        .iter()
        .map(|e| {
            (
                e["detailType"].as_str().unwrap(),
                e["ntStatus"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(names, [("create_file", 0xC000_0035), ("delete_file", 0)]);
    assert_eq!(auditor.stats().filtered, 1);
}

#[test]
fn guaranteed_mode_refuses_when_the_log_cannot_be_written() {
    let t = TempDir::new("guaranteed");
    let (vfs, auditor, log_dir) = setup(&t, FailureMode::Guaranteed);
    let root = vfs.root("export").unwrap();
    let c = caller(0, Protocol::Nfs3);
    vfs.create(&c, &root, b"ok1", &CreateHow::Guarded(SetAttr::default()))
        .unwrap();
    auditor.inject_write_failures(true);
    // The first operation after the disk fails: done, but reported as failed (event lost).
    let r = vfs.create(&c, &root, b"lost", &CreateHow::Guarded(SetAttr::default()));
    assert!(matches!(&r, Err(e) if crate::is_refusal(e)), "{r:?}");
    // Then operations are refused before they happen.
    let r = vfs.create(
        &c,
        &root,
        b"refused",
        &CreateHow::Guarded(SetAttr::default()),
    );
    assert!(matches!(&r, Err(e) if crate::is_refusal(e)), "{r:?}");
    assert!(!crate::is_refusal(&shoal_vfs::VfsError::Access));
    assert!(!t.0.join("backing/export/refused").exists());
    auditor.inject_write_failures(false);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !auditor.accepting() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    vfs.create(&c, &root, b"ok2", &CreateHow::Guarded(SetAttr::default()))
        .unwrap();
    let ev = events(&log_dir, Topic::Protocol);
    let files: Vec<&str> = ev.iter().map(|e| e["fileName"].as_str().unwrap()).collect();
    assert_eq!(files, ["/export/ok1", "/export/ok2"]);
    assert!(auditor.stats().failed_batches >= 1);
}

#[test]
fn json_sink_gets_everything_once_and_resumes_from_its_cursor() {
    let t = TempDir::new("jsonsink");
    let log_dir = t.0.join("audit");
    let out = t.0.join("out.jsonl");
    let mk = || {
        let mut cfg = AuditConfig::new("n1", &log_dir);
        cfg.sinks.push(SinkConfig {
            name: "file".into(),
            topics: vec![Topic::Protocol],
            kind: SinkKind::JsonFile {
                path: out.clone(),
                max_bytes: 1 << 30,
                keep: 1,
            },
        });
        Auditor::start(cfg).unwrap()
    };
    let c = caller(5, Protocol::Smb2);
    let a = mk();
    for i in 0..1000 {
        a.emit(crate::AuditEvent::new(EventName::CreateFile, &c).with_file(format!("/f{i}")))
            .unwrap();
    }
    let wait_lines = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            if text.lines().count() >= n || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert_eq!(wait_lines(1000).lines().count(), 1000);
    a.shutdown();
    drop(a);
    let a = mk();
    for i in 1000..1500 {
        a.emit(crate::AuditEvent::new(EventName::CreateFile, &c).with_file(format!("/f{i}")))
            .unwrap();
    }
    let text = wait_lines(1500);
    let ids: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, (1..=1500).collect::<Vec<_>>());
    // Progress shows the sink caught up.
    let p = view::progress(&log_dir).unwrap();
    assert_eq!(p[0].node, "n1");
    assert_eq!(p[0].last_logged[0].1.unwrap().0, 1500);
    assert_eq!(p[0].sinks[0].cursor.id, 1500);
    // Move the cursor back to the time of event 1201: events 1201.. are sent again.
    let ts_1201 = {
        let mut ts = 0;
        view::view(
            &log_dir,
            Topic::Protocol,
            Some("n1"),
            i64::MIN,
            i64::MAX,
            &mut |r| {
                if r.id == 1201 {
                    ts = r.ts;
                }
                Ok(())
            },
        )
        .unwrap();
        ts
    };
    let moved = view::move_cursor(&log_dir, "n1", "file", Topic::Protocol, ts_1201).unwrap();
    assert!(moved.id <= 1200);
    let text = wait_lines(1500 + 1500 - moved.id as usize);
    let ids: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(*ids.last().unwrap(), 1500);
    assert_eq!(ids[1500], moved.id + 1);
    a.shutdown();
}

#[test]
fn names_are_bounded_and_fall_back_to_the_inode() {
    let t = TempDir::new("names");
    let backing = t.0.join("backing");
    std::fs::create_dir_all(backing.join("export")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        backing.join("export"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let log_dir = t.0.join("audit");
    let fs = LocalFs::open(&backing, &t.0.join("key")).unwrap();
    let mut cfg = AuditConfig::new("node1", &log_dir);
    cfg.io_coalesce = Duration::ZERO;
    let auditor = Auditor::start(cfg).unwrap();
    let vfs = AuditLayer::with_name_capacity(fs, auditor.clone(), 16)
        .with_sid_resolver(|uid| (uid == 7).then(|| "S-1-5-21-1-2-3-1007".to_string()));
    let root = vfs.root("/export/").unwrap();
    let c = caller(7, Protocol::Nfs3);
    let (first, attr) = vfs
        .create(&c, &root, b"first", &CreateHow::Guarded(SetAttr::default()))
        .unwrap();
    for i in 0..100 {
        vfs.create(
            &c,
            &root,
            format!("f{i}").as_bytes(),
            &CreateHow::Guarded(SetAttr::default()),
        )
        .unwrap();
    }
    vfs.write(&c, &first, 0, b"x", WriteStability::FileSync)
        .unwrap();
    // After a lookup the name is known again.
    let (again, _) = vfs.lookup(&c, &root, b"first").unwrap();
    vfs.read(&c, &again, 0, 10).unwrap();
    assert!(auditor.flush(Duration::from_secs(5)));
    let ev = events(&log_dir, Topic::Protocol);
    assert_eq!(ev.len(), 103);
    assert_eq!(ev[0]["fileName"], "/export/first");
    assert_eq!(ev[0]["userSID"], "S-1-5-21-1-2-3-1007");
    assert_eq!(ev[101]["detailType"], "write_file");
    assert_eq!(ev[101]["fileName"], format!("#{}", attr.fileid));
    assert_eq!(ev[102]["detailType"], "read_file");
    assert_eq!(ev[102]["fileName"], "/export/first");
    assert_eq!(ev[102]["bytesRead"], 1);
}

#[test]
fn config_changes_are_audited_with_who_and_what() {
    let t = TempDir::new("cfgaudit");
    let log_dir = t.0.join("audit");
    let a = Auditor::start(AuditConfig::new("n1", &log_dir)).unwrap();
    assert_eq!(
        a.audit_config_text("root", "[audit]\nenabled = true\n")
            .unwrap(),
        1
    );
    assert_eq!(
        a.audit_config_text("root", "[audit]\nenabled = true\n")
            .unwrap(),
        0
    );
    assert_eq!(
        a.audit_config_text("alice", "[audit]\nenabled = true\nmode = \"guaranteed\"\n")
            .unwrap(),
        1
    );
    assert!(a.flush(Duration::from_secs(5)));
    let ev = events(&log_dir, Topic::Config);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["change"], "(initial config)");
    assert_eq!(ev[1]["change"], "audit.mode: added = \"guaranteed\"");
    assert_eq!(ev[1]["userName"], "alice");
    assert_eq!(ev[1]["eventType"], "config");
}

#[test]
fn smb_helpers() {
    let t = TempDir::new("smbhelpers");
    let log_dir = t.0.join("audit");
    let a = Auditor::start(AuditConfig::new("n1", &log_dir)).unwrap();
    let mut c = caller(1000, Protocol::Smb3);
    c.sid = Some("S-1-5-21-9-9-9-1000".into());
    a.smb_session(&c, EventName::Logon, "alice", 0).unwrap();
    a.smb_session(&c, EventName::TreeConnect, "data", 0)
        .unwrap();
    let open = crate::SmbOpen {
        file_name: "/data/a.txt",
        desired_access: 0x0012_0089,
        create_disposition: 1,
        ..Default::default()
    };
    a.smb_open(&c, &open).unwrap();
    a.smb_open(
        &c,
        &crate::SmbOpen {
            created: true,
            ..open.clone()
        },
    )
    .unwrap(); // the layer logs creations
    a.smb_open(
        &c,
        &crate::SmbOpen {
            desired_access: 0x0012_0116,
            nt_status: 0xC000_0022,
            ..open.clone()
        },
    )
    .unwrap();
    a.smb_close(&c, "/data/a.txt", false, Some(5), 10, 0)
        .unwrap();
    a.smb_close(&c, "/data/a.txt", false, Some(5), 0, 3)
        .unwrap();
    a.smb_get_security(&c, "/data", true, 0).unwrap();
    a.smb_session(&c, EventName::Logoff, "alice", 0).unwrap();
    assert!(a.flush(Duration::from_secs(5)));
    let ev = events(&log_dir, Topic::Protocol);
    let names: Vec<&str> = ev
        .iter()
        .map(|e| e["detailType"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "logon",
            "tree_connect",
            "open_file_read",
            "open_file_write",
            "close_file_unmodified",
            "close_file_modified",
            "get_security_directory",
            "logoff"
        ]
    );
    assert_eq!(ev[2]["desiredAccess"], 0x0012_0089);
    assert_eq!(ev[3]["ntStatus"], 0xC000_0022u32);
    assert_eq!(ev[5]["bytesWritten"], 3);
    assert_eq!(ev[0]["userSID"], "S-1-5-21-9-9-9-1000");
    assert_eq!(ev[0]["protocol"], "SMB3");
}
