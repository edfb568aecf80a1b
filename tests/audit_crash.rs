//! kill -9 in guaranteed mode: every operation that succeeded has its event in the log after
//! restart. The test runs itself as a child process (env `SHOAL_AUDIT_CRASH_CHILD`) that
//! creates files through `AuditLayer` from 4 threads and prints each success; the parent
//! kills it with SIGKILL mid-stream, reopens the log (recovery) and checks.

mod audit_support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_support::{caller, logged, TempDir};
use shoal_audit::{AuditConfig, AuditLayer, Auditor, FailureMode, Topic};
use shoal_vfs::{CreateHow, LocalFs, SetAttr, Vfs};

const TEST: &str = "kill_9_in_guaranteed_mode_loses_no_acknowledged_event";

fn config(dir: &Path) -> AuditConfig {
    let mut cfg = AuditConfig::new("crashnode", &dir.join("audit"));
    cfg.mode = FailureMode::Guaranteed;
    cfg.segment_bytes = 256 * 1024; // rotate often: crashes land near rotations too
    cfg
}

fn child(dir: &Path) -> ! {
    let fs = LocalFs::open(&dir.join("backing"), &dir.join("key")).unwrap();
    let auditor = Auditor::start(config(dir)).unwrap();
    let vfs = Arc::new(AuditLayer::new(fs, auditor));
    let root = vfs.root("").unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let vfs = vfs.clone();
            let root = root.clone();
            std::thread::spawn(move || {
                let c = caller(0);
                let pid = std::process::id();
                for i in 0.. {
                    let name = format!("f-{pid}-{t}-{i}");
                    if vfs
                        .create(
                            &c,
                            &root,
                            name.as_bytes(),
                            &CreateHow::Guarded(SetAttr::default()),
                        )
                        .is_ok()
                    {
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ACK /{name}").unwrap();
                        out.flush().unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    std::process::exit(0)
}

#[test]
fn kill_9_in_guaranteed_mode_loses_no_acknowledged_event() {
    if let Ok(dir) = std::env::var("SHOAL_AUDIT_CRASH_CHILD") {
        child(Path::new(&dir));
    }
    let t = TempDir::new("crash");
    std::fs::create_dir_all(t.0.join("backing")).unwrap();
    let mut acked = HashSet::new();
    for round in 0..3 {
        let mut proc = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env("SHOAL_AUDIT_CRASH_CHILD", &t.0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = proc.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let start = Instant::now();
        let mut this_round = 0;
        while this_round < 2000 && start.elapsed() < Duration::from_secs(60) {
            match lines.next() {
                Some(Ok(l)) => {
                    if let Some(f) = l.strip_prefix("ACK ") {
                        acked.insert(f.to_string());
                        this_round += 1;
                    }
                }
                _ => break,
            }
        }
        proc.kill().unwrap(); // SIGKILL
        for l in lines.map_while(Result::ok) {
            if let Some(f) = l.strip_prefix("ACK ") {
                acked.insert(f.to_string());
            }
        }
        proc.wait().unwrap();
        assert!(
            this_round > 100,
            "round {round}: child acknowledged only {this_round}"
        );
    }
    // Restart: recovery truncates a torn tail; every acknowledged create is there.
    let auditor = Auditor::start(config(&t.0)).unwrap();
    auditor.shutdown();
    let ev = logged(&t.0.join("audit"), "crashnode", Topic::Protocol);
    let in_log: HashSet<String> = ev
        .iter()
        .filter(|e| e["detailType"] == "create_file" && e["ntStatus"] == 0)
        .map(|e| e["fileName"].as_str().unwrap().to_string())
        .collect();
    let missing: Vec<&String> = acked.iter().filter(|f| !in_log.contains(*f)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged operations without an event, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // Ids stay monotonic across the crashes.
    let ids: Vec<u64> = ev.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[1] > w[0]));
    eprintln!(
        "{} acknowledged, {} events logged over 3 kill -9 rounds",
        acked.len(),
        ev.len()
    );
}
