//! A time-window view of 1,000 events out of 1,000,000 reads a small part of the log (bytes
//! read are counted by the reader).

mod audit_support;

use std::time::{Duration, Instant};

use audit_support::{file_event, TempDir};
use shoal_audit::{AuditConfig, Auditor, Topic};

#[test]
fn window_of_1000_in_1000000_reads_a_small_part() {
    let t = TempDir::new("window");
    let log_dir = t.0.join("audit");
    let mut cfg = AuditConfig::new("n1", &log_dir);
    cfg.segment_bytes = 16 << 20;
    // Back-pressure instead of best-effort drops: this test wants every event.
    cfg.queue_wait = Duration::from_secs(60);
    let auditor = Auditor::start(cfg).unwrap();
    let start = Instant::now();
    for i in 0..1_000_000 {
        auditor.emit(file_event(i)).unwrap();
    }
    assert!(auditor.flush(Duration::from_secs(120)));
    let write_time = start.elapsed();
    auditor.shutdown();
    assert_eq!(auditor.stats().logged, 1_000_000);
    assert_eq!(auditor.stats().dropped, 0);

    // Timestamps of events 500,001 and 501,000 (by id) bound the window.
    let mut ts = (0, 0);
    let mut r = shoal_audit::log::reader::LogReader::new(&shoal_audit::log::topic_dir(
        &log_dir,
        "n1",
        Topic::Protocol,
    ));
    let mut pos = r.position_after(500_000).unwrap().unwrap();
    let recs = r.read_from(&mut pos, 501_000, 1000).unwrap();
    ts.0 = recs.first().unwrap().ts;
    ts.1 = recs.last().unwrap().ts;

    let t0 = Instant::now();
    let mut ids = Vec::new();
    let stats = shoal_audit::view::view(
        &log_dir,
        Topic::Protocol,
        Some("n1"),
        ts.0,
        ts.1,
        &mut |rec| {
            ids.push(rec.id);
            Ok(())
        },
    )
    .unwrap();
    let view_time = t0.elapsed();
    // Events sharing a microsecond with the bounds may join the window.
    assert!(
        ids.contains(&500_001) && ids.contains(&501_000),
        "{:?}..{:?}",
        ids.first(),
        ids.last()
    );
    assert!(ids.len() >= 1000 && ids.len() < 2000, "{}", ids.len());
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
    eprintln!(
        "1,000,000 events logged in {write_time:?}; window of {} events: read {} of {} bytes ({:.3}%) in {view_time:?}",
        ids.len(),
        stats.bytes_read,
        stats.log_bytes,
        stats.bytes_read as f64 * 100.0 / stats.log_bytes as f64
    );
    assert!(
        stats.bytes_read * 100 < stats.log_bytes,
        "read {} of {}",
        stats.bytes_read,
        stats.log_bytes
    );
}
