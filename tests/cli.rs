//! The binary's own behaviour: config checking, port conflicts, the embedded default.

mod common;

use common::{run, shoal_bin, Opts, Server, TempDir};
use std::process::Command;
use std::time::Duration;

/// Writes `text` to `cfg` and runs `shoal --config cfg check`.
fn check(cfg: &std::path::Path, text: &str) -> std::process::Output {
    std::fs::write(cfg, text).unwrap();
    run(
        Command::new(shoal_bin())
            .arg("--config")
            .arg(cfg)
            .arg("check"),
        Duration::from_secs(20),
    )
}

#[test]
fn check_names_the_bad_key_and_line() {
    let dir = TempDir::new("cli");
    let cfg = dir.0.join("bad.toml");
    let out = check(
        &cfg,
        "[server]\nnode_name = \"n\"\n\n[nfs]\nlisten = \"127.0.0.1:0\"\nmax_recrod = 5\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("max_recrod"), "{err}");
    assert!(err.contains("line 6"), "{err}");

    let out = check(&cfg, "[[nfs.exports]]\npath = \"/x\"\ndir = \"../etc\"\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("nfs.exports[0].dir"), "{err}");

    let out = check(
        &cfg,
        "[[nfs.exports]]\npath = \"/x\"\n[[nfs.exports.clients]]\nhosts = [\"*\"]\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
}

#[test]
fn port_in_use_is_one_clear_line_and_nonzero_exit() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let dir = TempDir::new("cli");
    let cfg = dir.0.join("shoal.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nbacking_dir = {:?}\nstate_dir = {:?}\n[nfs]\nlisten = \"127.0.0.1:{port}\"\n[smb]\nlisten = \"127.0.0.1:0\"\n",
            dir.0.join("b"),
            dir.0.join("s")
        ),
    )
    .unwrap();
    let out = run(
        Command::new(shoal_bin())
            .arg("--config")
            .arg(&cfg)
            .arg("serve"),
        Duration::from_secs(20),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(lines[0].contains("in use"), "{err}");
}

#[test]
fn server_starts_and_stops_cleanly() {
    let mut s = Server::start(Opts::standard());
    assert!(s.nfs_port > 0 && s.smb_port > 0);
    assert!(s.is_running());
    s.stop();
    assert!(s.log().contains("shutting down"), "{}", s.log());
}

/// The embedded default (no config file): creates ./shoal-data and ./shoal-state in its
/// working directory and serves /data on 127.0.0.1:2049. Uses the fixed default ports.
#[test]
fn embedded_default_serves_data_over_nfs() {
    if std::net::TcpListener::bind("127.0.0.1:2049").is_err()
        || std::net::TcpListener::bind("127.0.0.1:445").is_err()
    {
        panic!("ports 2049/445 busy: the embedded-default test needs them free");
    }
    let dir = TempDir::new("embedded");
    let ready = dir.0.join("ready");
    let mut child = Command::new(shoal_bin())
        .arg("serve")
        .arg("--ready-file")
        .arg(&ready)
        .current_dir(&dir.0)
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !ready.exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "not ready");
        assert!(child.try_wait().unwrap().is_none(), "exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(
        dir.0.join("shoal-data/hello.txt"),
        b"hello from the embedded default\n",
    )
    .unwrap();
    let out = run(
        Command::new("nfs-cat")
            .arg("nfs://127.0.0.1/data/hello.txt?version=3&nfsport=2049&mountport=2049"),
        Duration::from_secs(30),
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"hello from the embedded default\n");
    assert!(dir.0.join("shoal-state/handle.key").exists());
}

/// The example configuration in README.md is one `shoal check` accepts (keeps the docs true).
#[test]
fn readme_example_config_passes_check() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let example: String = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a toml block in README.md")
        .to_string();
    assert!(example.contains("[[smb.shares]]"), "{example}");
    let dir = TempDir::new("cli");
    let out = check(&dir.0.join("readme.toml"), &example);
    assert!(
        out.status.success(),
        "{}\n{example}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Host-name, name-wildcard and @netgroup client patterns never match today (no DNS or
/// netgroup lookups), so a restrictive entry would silently fall back to a broader one:
/// `check` and `serve` refuse them, naming the key and its line (issue 11), never fail open.
#[test]
fn unresolvable_client_patterns_are_refused_by_check_and_serve() {
    let dir = TempDir::new("cli");
    let backing = dir.0.join("b");
    std::fs::create_dir_all(&backing).unwrap();
    for p in ["build*.example.com", "@builders", "server.example.com"] {
        let text = format!(
            "[server]\nbacking_dir = {backing:?}\nstate_dir = {:?}\n[nfs]\nlisten = \"127.0.0.1:0\"\n\
             [smb]\nlisten = \"127.0.0.1:0\"\n\
             [[nfs.exports]]\npath = \"/x\"\n\
             [[nfs.exports.clients]]\nhosts = [\"*\"]\naccess = \"ro\"\n\
             [[nfs.exports.clients]]\nhosts = [\"{p}\"]\naccess = \"rw\"\n",
            dir.0.join("s")
        );
        let cfg = dir.0.join("names.toml");
        let out = check(&cfg, &text);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "check accepted {p}");
        assert!(
            err.contains("hosts") && err.contains("line 14") && err.contains(p),
            "{err}"
        );
        let out = run(
            Command::new(shoal_bin())
                .arg("--config")
                .arg(&cfg)
                .arg("serve"),
            Duration::from_secs(20),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "serve accepted {p}");
        assert!(err.contains("hosts") && err.contains(p), "{err}");
    }
}
