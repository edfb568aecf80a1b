//! # shoal-audit: protocol auditing (REQUIREMENTS R3)
//!
//! Tour, in the order an event travels:
//! - [`event`]: the event names of R3 with their coarse names and CEE types, and the JSON
//!   record ([`AuditEvent`]).
//! - [`layer`]: [`AuditLayer`], a [`shoal_vfs::Vfs`] that emits file events for both protocols.
//!   SMB adds open/close/session events with the helpers of [`smb_events`] (or
//!   [`Auditor::emit`] with [`open_event`], [`close_event`]).
//! - [`filter`]: per-zone `audit_success` / `audit_failure` / `syslog_audit_events`, applied
//!   before the log write.
//! - [`auditor`]: [`Auditor`]: ids, timestamps, the queue to the log writer thread (group
//!   commit), best-effort vs guaranteed, read/write coalescing, forwarder threads.
//! - [`log`]: the durable on-node log: checksummed records in size-rotated segments with a
//!   sparse time/id index, recovery, retention.
//! - [`forward`] and [`cursor`]: one forwarder per sink and topic, at-least-once, with a
//!   persistent cursor an admin can move.
//! - [`sinks`]: JSON lines file, syslog (RFC 5424 over UDP/TCP/TLS), CEE over HTTP.
//! - [`view`]: offline queries for the CLI (window view, progress, cursor moves).
//! - [`config`]: the `[audit]` TOML section and its resolved form; [`config_audit`]: config
//!   changes as `config` events.
//!
//! `docs/audit.md` is the user-facing description (settings, files, guarantees).

#![warn(missing_docs)]

pub mod auditor;
pub mod config;
pub mod config_audit;
pub mod cursor;
pub mod event;
pub mod filter;
pub(crate) mod forward;
pub mod layer;
pub mod log;
mod names;
pub mod sinks;
pub mod smb_events;
pub mod time;
pub mod view;

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;

pub use auditor::{AuditError, AuditStats, Auditor};
pub use config::{
    AuditConfig, AuditSection, ConfigError, FailureMode, SinkConfig, SinkKind, SinkSection,
    SyslogTransport, ZoneAudit, ZoneAuditSection,
};
pub use event::{close_event, open_event, AuditEvent, EventName, Topic};
pub use layer::{
    is_refusal, join_normalized, refused, with_request_context, AuditLayer, AuditRefused,
    RequestContext,
};
pub use smb_events::SmbOpen;
