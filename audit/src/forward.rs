//! Forwarders: one thread per (sink, topic). Each reads the durable log from its cursor,
//! sends batches, and advances and persists the cursor only after the sink accepted the
//! batch: at-least-once delivery. On failure it reconnects and resends from the cursor after
//! a back-off (1 s doubling to 60 s). Sinks never share a thread, so one that is down delays
//! only itself; the log keeps everything until retention removes it.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::auditor::Inner;
use crate::config::SinkConfig;
use crate::cursor::{self, Cursor};
use crate::event::Topic;
use crate::log::reader::{LogReader, Position};
use crate::log::{self};
use crate::sinks::{self, SinkRecord};
use crate::time::now_us;

/// Records per send.
const BATCH: usize = 512;
const MAX_BACKOFF: Duration = Duration::from_secs(60);

pub(crate) fn spawn(
    inner: Arc<Inner>,
    sink: SinkConfig,
    topic: Topic,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("audit-fwd-{}-{topic}", sink.name))
        .spawn(move || run(&inner, &sink, topic))
}

fn run(inner: &Inner, cfg: &SinkConfig, topic: Topic) {
    let span = tracing::info_span!("audit_forwarder", sink = %cfg.name, %topic);
    let _g = span.enter();
    let cdir = log::cursor_dir(&inner.cfg.log_dir, &inner.cfg.node);
    let cpath = cursor::cursor_path(&cdir, &cfg.name, topic);
    let mut reader = LogReader::new(&log::topic_dir(&inner.cfg.log_dir, &inner.cfg.node, topic));
    let mut cur = match Cursor::load(&cpath) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "audit cursor unreadable; starting from the oldest event");
            Cursor::default()
        }
    };
    let mut sink = None;
    let mut pos: Option<Position> = None;
    let mut backoff = Duration::from_secs(1);
    let mut last_hb = Instant::now();
    while !inner.stopping.load(Ordering::Acquire) {
        match cursor::take_move(&cdir, &cfg.name, topic) {
            Ok(Some(m)) => {
                tracing::info!(from = cur.id, to = m.id, "audit cursor moved by admin");
                cur = Cursor {
                    updated: now_us(),
                    ..m
                };
                if let Err(e) = cur.save(&cpath) {
                    tracing::warn!(error = %e, "audit cursor save failed");
                }
                pos = None;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "audit cursor move request unreadable"),
        }
        if sink.is_none() {
            match sinks::build(cfg, &inner.cfg) {
                Ok(s) => sink = Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "audit sink cannot start");
                    if inner.sleep(backoff) {
                        break;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        }
        let Some(s) = sink.as_mut() else { continue };
        let p = match pos.as_mut() {
            Some(p) => p,
            None => match reader.position_after(cur.id) {
                Ok(Some(p)) => pos.insert(p),
                Ok(None) => {
                    inner.wait_durable(topic, 0, Duration::from_millis(500));
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "audit log unreadable");
                    inner.sleep(Duration::from_secs(1));
                    continue;
                }
            },
        };
        let durable = inner.durable_id(topic);
        let before = *p;
        let recs = match reader.read_from(p, durable, BATCH) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "audit log read failed");
                *p = before;
                inner.sleep(Duration::from_secs(1));
                continue;
            }
        };
        if recs.is_empty() {
            if let Some(iv) = s.heartbeat_interval() {
                if last_hb.elapsed() >= iv {
                    last_hb = Instant::now();
                    if let Err(e) = s.heartbeat() {
                        tracing::debug!(error = %e, "audit sink heartbeat failed");
                        s.reset();
                    }
                }
            }
            inner.wait_durable(topic, durable, Duration::from_millis(500));
            continue;
        }
        if let Some(first) = recs.first() {
            if cur.id != 0 && first.id > cur.id + 1 {
                tracing::warn!(cursor = cur.id, next = first.id,
                    "audit: events between cursor and next in the log are gone (retention or failed writes)");
            }
        }
        let batch: Vec<SinkRecord> = recs.iter().map(SinkRecord::from_record).collect();
        match s.send(topic, &batch) {
            Ok(()) => {
                backoff = Duration::from_secs(1);
                if let Some(last) = recs.last() {
                    cur = Cursor {
                        id: last.id,
                        timestamp: last.ts,
                        updated: now_us(),
                    };
                    if let Err(e) = cur.save(&cpath) {
                        tracing::warn!(error = %e, "audit cursor save failed");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "audit sink send failed");
                s.reset();
                pos = None;
                if inner.sleep(backoff) {
                    break;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
