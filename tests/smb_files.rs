//! End-to-end: SMB3 file operations (issue 4) with smbclient: put/get of a 1 GiB file
//! byte-identical (MB/s printed), mkdir, rename across directories, allinfo, setmode, del,
//! rmdir, `ls` of a 10,000-entry directory, and a read-only share refusing writes.

mod common;

use common::{files_equal, write_random_file, Opts, Server, TempDir};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

fn server() -> Server {
    let mut opts = Opts::standard();
    opts.body
        .push_str("\n[[smb.shares]]\nname = \"ro\"\ndir = \".\"\nread_only = true\n");
    let s = Server::start(opts);
    s.add_user("alice", "Pa55word!");
    std::fs::set_permissions(&s.backing, std::fs::Permissions::from_mode(0o1777)).unwrap();
    s
}

/// Runs smbclient with its output in a file (`common::run` pipes it and waits for exit, which
/// deadlocks once the output outgrows the pipe, as a 10,000-entry `ls` does).
fn smbclient(s: &Server, share: &str, cmds: &str) -> (bool, String) {
    let out_path = s.dir.0.join(format!(
        "smbclient-{}.out",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let file = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new("smbclient")
        .arg(format!("//127.0.0.1/{share}"))
        .args([
            "-U",
            "alice%Pa55word!",
            "--option=client max protocol=SMB3_11",
            "-c",
            cmds,
        ])
        .arg("-p")
        .arg(s.smb_port.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "smbclient {cmds}: timed out");
        std::thread::sleep(Duration::from_millis(10));
    };
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    // No 8.3 names: `allinfo` reports NOT_SUPPORTED for the alt name and goes on.
    let failed = text
        .lines()
        .any(|l| l.contains("NT_STATUS_") && !l.contains("getting alt name"));
    (status.success() && !failed, text)
}

#[test]
fn smbclient_namespace_operations() {
    let s = server();
    let tmp = TempDir::new("smb-files");
    let local = tmp.0.join("a.bin");
    write_random_file(&local, 3 * 1024 * 1024 + 17, 7);
    let back = tmp.0.join("back.bin");
    let cmds = format!(
        "put {} a.bin; mkdir d1; mkdir d1\\d2; rename a.bin d1\\d2\\b.bin; get d1\\d2\\b.bin {}; allinfo d1\\d2\\b.bin",
        local.display(),
        back.display()
    );
    let (ok, text) = smbclient(&s, "data", &cmds);
    assert!(ok, "{text}\n{}", s.log());
    assert!(files_equal(&local, &back), "get after rename differs");
    assert!(s.backing.join("d1/d2/b.bin").is_file() && !s.backing.join("a.bin").exists());
    assert!(
        text.contains("attributes: A") || text.contains("attributes:"),
        "{text}"
    );
    assert!(text.contains("stream: [::$DATA], 3145745 bytes"), "{text}");

    // setmode +r maps to clearing the write bits (Samba's "map readonly"); -r restores one.
    let (ok, text) = smbclient(
        &s,
        "data",
        "setmode d1\\d2\\b.bin +r; allinfo d1\\d2\\b.bin",
    );
    assert!(ok, "{text}");
    let mode = std::fs::metadata(s.backing.join("d1/d2/b.bin"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o222, 0, "mode {mode:o}");
    assert!(text.contains("attributes: R"), "{text}");
    let (ok, text) = smbclient(&s, "data", "del d1\\d2\\b.bin");
    assert!(
        !ok && (text.contains("NT_STATUS_CANNOT_DELETE")
            || text.contains("NT_STATUS_ACCESS_DENIED")),
        "{text}"
    );
    let (ok, text) = smbclient(
        &s,
        "data",
        "setmode d1\\d2\\b.bin -r; del d1\\d2\\b.bin; rmdir d1\\d2; ls d1\\*",
    );
    assert!(ok, "{text}\n{}", s.log());
    assert!(!s.backing.join("d1/d2").exists());
    // rmdir of a non-empty directory fails and keeps it.
    std::fs::write(s.backing.join("d1/keep"), b"x").unwrap();
    let (ok, text) = smbclient(&s, "data", "rmdir d1");
    assert!(
        !ok && text.contains("NT_STATUS_DIRECTORY_NOT_EMPTY"),
        "{text}"
    );
    assert!(s.backing.join("d1/keep").exists());
    // Rename onto an existing name without replace fails.
    std::fs::write(tmp.0.join("one"), b"1").unwrap();
    std::fs::write(tmp.0.join("two"), b"2").unwrap();
    let (ok, text) = smbclient(
        &s,
        "data",
        &format!(
            "put {} x1; put {} x2",
            tmp.0.join("one").display(),
            tmp.0.join("two").display()
        ),
    );
    assert!(ok, "{text}");
    let (ok, text) = smbclient(&s, "data", "rename x1 x2");
    assert!(
        !ok && text.contains("NT_STATUS_OBJECT_NAME_COLLISION"),
        "{text}"
    );
    let (ok, text) = smbclient(&s, "data", "rename x1 x2 -f");
    assert!(ok, "{text}");
    assert_eq!(std::fs::read(s.backing.join("x2")).unwrap(), b"1");
    assert!(
        s.log().lines().all(|l| !l.contains("panicked")),
        "{}",
        s.log()
    );
}

#[test]
fn read_only_share_refuses_writes() {
    let s = server();
    std::fs::write(s.backing.join("there.txt"), b"hello").unwrap();
    let tmp = TempDir::new("smb-ro");
    let local = tmp.0.join("x");
    std::fs::write(&local, b"data").unwrap();
    let denied = |t: &str| {
        t.contains("NT_STATUS_ACCESS_DENIED") || t.contains("NT_STATUS_MEDIA_WRITE_PROTECTED")
    };
    for cmd in [
        format!("put {} new.txt", local.display()),
        format!("put {} there.txt", local.display()),
        "mkdir nd".to_string(),
        "del there.txt".to_string(),
        "rename there.txt other.txt".to_string(),
    ] {
        let (ok, text) = smbclient(&s, "ro", &cmd);
        assert!(!ok && denied(&text), "{cmd}: {text}");
    }
    assert_eq!(
        std::fs::read(s.backing.join("there.txt")).unwrap(),
        b"hello"
    );
    assert!(!s.backing.join("new.txt").exists() && !s.backing.join("nd").exists());
    let back = tmp.0.join("back");
    let (ok, text) = smbclient(&s, "ro", &format!("get there.txt {}", back.display()));
    assert!(ok, "{text}");
    assert_eq!(std::fs::read(back).unwrap(), b"hello");
}

#[test]
fn ls_of_ten_thousand_entries() {
    let s = server();
    let dir = s.backing.join("big");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..10_000 {
        std::fs::write(dir.join(format!("f{i:05}")), b"").unwrap();
    }
    let t = Instant::now();
    let (ok, text) = smbclient(&s, "data", "ls big\\*");
    assert!(ok, "{}", &text[..text.len().min(2000)]);
    let n = text
        .lines()
        .filter(|l| {
            l.trim_start().starts_with('f') && l.contains(" A ")
                || l.trim_start().starts_with('f') && l.contains(" N ")
        })
        .count();
    eprintln!("ls of 10,000 entries: {n} listed in {:?}", t.elapsed());
    assert_eq!(n, 10_000, "{}", &text[..text.len().min(2000)]);
}

#[test]
fn one_gib_put_and_get_are_byte_identical() {
    let s = server();
    let tmp = TempDir::new("smb-gib");
    let local = tmp.0.join("big.bin");
    const LEN: usize = 1 << 30;
    write_random_file(&local, LEN, 42);
    let t = Instant::now();
    let (ok, text) = smbclient(&s, "data", &format!("put {} big.bin", local.display()));
    let put = t.elapsed();
    assert!(ok, "{text}\n{}", s.log());
    assert!(
        files_equal(&local, &s.backing.join("big.bin")),
        "backing copy differs"
    );
    let back = tmp.0.join("back.bin");
    let t = Instant::now();
    let (ok, text) = smbclient(&s, "data", &format!("get big.bin {}", back.display()));
    let get = t.elapsed();
    assert!(ok, "{text}\n{}", s.log());
    assert!(files_equal(&local, &back), "downloaded copy differs");
    let mb = LEN as f64 / 1e6;
    eprintln!(
        "1 GiB: put {:.0} MB/s ({put:?}), get {:.0} MB/s ({get:?})",
        mb / put.as_secs_f64(),
        mb / get.as_secs_f64()
    );
    std::fs::remove_file(&local).unwrap();
    std::fs::remove_file(&back).unwrap();
}
