//! Sinks: where forwarders deliver events. [`json_file`] (JSON lines, rotating), [`syslog`]
//! (RFC 5424 over UDP, TCP with RFC 6587 octet counting, TLS per RFC 5425) and [`cee`] (Dell
//! CEE `CheckFileRequest` over HTTP PUT). A sink returns `Ok` only once the batch is handed
//! over as far as its transport can confirm; the forwarder then advances the cursor.

pub mod cee;
pub mod json_file;
pub mod syslog;

use std::io;
use std::time::Duration;

use crate::config::{AuditConfig, SinkConfig, SinkKind};
use crate::event::{AuditEvent, Topic};
use crate::log::record::Record;

/// A record as sinks see it: raw JSON plus the parsed event.
#[derive(Debug, Clone)]
pub struct SinkRecord {
    /// Id.
    pub id: u64,
    /// Timestamp, µs.
    pub ts: i64,
    /// Record flags (`FLAG_SYSLOG`).
    pub flags: u32,
    /// The JSON line (no newline).
    pub json: Vec<u8>,
    /// Parsed event (`None` if the payload is not a valid event).
    pub event: Option<AuditEvent>,
}

impl SinkRecord {
    /// From a log record.
    pub fn from_record(r: &Record) -> SinkRecord {
        SinkRecord {
            id: r.id,
            ts: r.ts,
            flags: r.flags,
            json: r.payload.clone(),
            event: serde_json::from_slice(&r.payload).ok(),
        }
    }
}

/// A destination.
pub trait Sink: Send {
    /// Delivers a batch (records the sink does not take are skipped, and count as delivered).
    fn send(&mut self, topic: Topic, batch: &[SinkRecord]) -> io::Result<()>;
    /// Sends a heartbeat (CEE).
    fn heartbeat(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// How often to send heartbeats when idle.
    fn heartbeat_interval(&self) -> Option<Duration> {
        None
    }
    /// Drops connections after a failure (the next send reconnects).
    fn reset(&mut self) {}
}

/// Builds the sink of a config entry.
pub fn build(cfg: &SinkConfig, audit: &AuditConfig) -> io::Result<Box<dyn Sink>> {
    Ok(match &cfg.kind {
        SinkKind::JsonFile {
            path,
            max_bytes,
            keep,
        } => Box::new(json_file::JsonFileSink::new(
            path.clone(),
            *max_bytes,
            *keep,
        )),
        SinkKind::Syslog {
            transport,
            address,
            ca_file,
            server_name,
            facility,
        } => Box::new(syslog::SyslogSink::new(
            *transport,
            address.clone(),
            ca_file.as_deref(),
            server_name.clone(),
            *facility,
            audit.hostname.clone(),
        )?),
        SinkKind::Cee { uris, heartbeat } => {
            Box::new(cee::CeeSink::new(uris, *heartbeat, audit.hostname.clone())?)
        }
    })
}
