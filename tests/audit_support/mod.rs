//! Helpers shared by the `audit_*` integration tests (crate API + real external programs).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use shoal_audit::{AuditEvent, EventName, Topic};
use shoal_vfs::{Caller, Protocol, ZoneId};

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "shoal-audit-it-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (by its pid) on drop.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    f()
}

pub fn caller(uid: u32) -> Caller {
    Caller {
        uid,
        gid: uid,
        groups: vec![],
        sid: None,
        client_addr: "198.51.100.7:1023".parse().unwrap(),
        zone: ZoneId::SYSTEM,
        protocol: Protocol::Nfs3,
    }
}

pub fn file_event(i: usize) -> AuditEvent {
    AuditEvent::new(EventName::CreateFile, &caller(1000)).with_file(format!("/export/file-{i}"))
}

/// All records of a topic, in log order, as JSON.
pub fn logged(log_dir: &Path, node: &str, topic: Topic) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    shoal_audit::view::view(log_dir, topic, Some(node), i64::MIN, i64::MAX, &mut |r| {
        out.push(serde_json::from_slice(&r.payload).unwrap());
        Ok(())
    })
    .unwrap();
    out
}

/// Runs a command and panics with its output when it fails.
pub fn must(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for `localhost` / 127.0.0.1 signed by it (openssl CLI).
/// Returns (ca.pem, cert.pem, key.pem).
pub fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    must(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=shoal-test-ca",
            ])
            .args([
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ])
            .arg("-keyout")
            .arg(p("ca.key"))
            .arg("-out")
            .arg(p("ca.pem")),
    );
    must(
        Command::new("openssl")
            .args([
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
            ])
            .arg("-keyout")
            .arg(p("key.pem"))
            .arg("-out")
            .arg(p("srv.csr")),
    );
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
    )
    .unwrap();
    must(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
            .arg("-in")
            .arg(p("srv.csr"))
            .arg("-CA")
            .arg(p("ca.pem"))
            .arg("-CAkey")
            .arg(p("ca.key"))
            .arg("-out")
            .arg(p("cert.pem"))
            .arg("-extfile")
            .arg(p("ext.cnf")),
    );
    (p("ca.pem"), p("cert.pem"), p("key.pem"))
}
