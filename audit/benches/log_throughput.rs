//! Events per second into the durable log (group commit), best effort and guaranteed.
//! Run: `cargo bench -p shoal-audit --bench log_throughput` (not a test; prints figures).

use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_audit::{AuditConfig, AuditEvent, Auditor, EventName, FailureMode};
use shoal_vfs::{Caller, Protocol, ZoneId};

fn caller() -> Caller {
    Caller {
        uid: 1000,
        gid: 1000,
        groups: vec![],
        sid: None,
        client_addr: "198.51.100.7:1023".parse().unwrap(),
        zone: ZoneId::SYSTEM,
        protocol: Protocol::Nfs3,
    }
}

fn run(mode: FailureMode, threads: usize, per_thread: usize) {
    let dir = std::env::temp_dir().join(format!("shoal-audit-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = AuditConfig::new("bench", &dir);
    cfg.mode = mode;
    cfg.queue_wait = Duration::from_secs(60); // measure throughput, not drops
    let auditor = Auditor::start(cfg).unwrap();
    let start = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let a: Arc<Auditor> = auditor.clone();
            std::thread::spawn(move || {
                let c = caller();
                for i in 0..per_thread {
                    let e = AuditEvent::new(EventName::WriteFile, &c)
                        .with_file(format!("/export/projects/build/output-{t}-{i}.o"));
                    a.emit(e).unwrap();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert!(auditor.flush(Duration::from_secs(300)));
    let el = start.elapsed();
    let n = threads * per_thread;
    let bytes: u64 = std::fs::read_dir(dir.join("bench/protocol"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    auditor.shutdown();
    println!(
        "{mode:?} threads={threads:>3}: {n} events durable in {el:.2?} = {:.0} events/s ({:.1} MB/s, {} B/event)",
        n as f64 / el.as_secs_f64(),
        bytes as f64 / el.as_secs_f64() / 1e6,
        bytes / n as u64
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    run(FailureMode::BestEffort, 1, 1_000_000);
    run(FailureMode::BestEffort, 4, 250_000);
    run(FailureMode::Guaranteed, 64, 5_000);
    run(FailureMode::Guaranteed, 256, 2_000);
}
