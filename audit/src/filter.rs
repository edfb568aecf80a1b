//! Per-zone filters (R3 "Settings per zone"), applied before the log write: an event is
//! logged when its name is in the zone's `audit_success` (operation succeeded) or
//! `audit_failure` (it failed) set. `syslog_audit_events` is decided here too and stored as a
//! record flag, so what reaches syslog does not change when settings change later.

use std::collections::HashMap;

use crate::config::{AuditConfig, ZoneAudit};
use crate::event::{AuditEvent, Topic};
use crate::log::record::FLAG_SYSLOG;

/// The filters of every zone.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    zones: HashMap<u32, ZoneAudit>,
    names: HashMap<u32, String>,
    audit_all: bool,
}

impl Filters {
    /// From the config.
    pub fn new(cfg: &AuditConfig) -> Filters {
        let mut names: HashMap<u32, String> = cfg.zone_names.iter().cloned().collect();
        for z in &cfg.zones {
            names.insert(z.id, z.name.clone());
        }
        Filters {
            zones: cfg.zones.iter().map(|z| (z.id, z.clone())).collect(),
            names,
            audit_all: cfg.zones.is_empty(),
        }
    }

    /// Zone name by id (`zone<id>` when unknown).
    pub fn zone_name(&self, id: u32) -> String {
        self.names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("zone{id}"))
    }

    /// `Some(record flags)` when the event is to be logged, `None` when filtered out.
    /// Config events are always logged (and sent to syslog sinks that take the topic).
    pub fn decide(&self, topic: Topic, event: &AuditEvent) -> Option<u32> {
        if topic == Topic::Config {
            return Some(FLAG_SYSLOG);
        }
        let name = event.name()?;
        if self.audit_all {
            return Some(FLAG_SYSLOG);
        }
        let zone = self.zones.get(&event.zone_id)?;
        let set = if event.succeeded() {
            &zone.audit_success
        } else {
            &zone.audit_failure
        };
        if !set.contains(&name) {
            return None;
        }
        let syslog = match &zone.syslog_events {
            Some(s) => s.contains(&name),
            None => true,
        };
        Some(if syslog { FLAG_SYSLOG } else { 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventName;
    use std::collections::BTreeSet;

    #[test]
    fn success_failure_and_syslog_sets() {
        let mut cfg = AuditConfig::new("n", std::path::Path::new("/tmp"));
        cfg.zones.push(ZoneAudit {
            id: 1,
            name: "System".into(),
            audit_success: BTreeSet::from([EventName::CreateFile, EventName::DeleteFile]),
            audit_failure: BTreeSet::from([EventName::ReadFile]),
            syslog_events: Some(BTreeSet::from([EventName::DeleteFile])),
        });
        let f = Filters::new(&cfg);
        let caller = shoal_vfs::Caller {
            uid: 1,
            gid: 1,
            groups: vec![],
            sid: None,
            client_addr: "127.0.0.1:1".parse().unwrap(),
            zone: shoal_vfs::ZoneId(1),
            protocol: shoal_vfs::Protocol::Smb3,
        };
        let ev = |n| AuditEvent::new(n, &caller);
        assert_eq!(
            f.decide(Topic::Protocol, &ev(EventName::CreateFile)),
            Some(0)
        );
        assert_eq!(
            f.decide(Topic::Protocol, &ev(EventName::DeleteFile)),
            Some(FLAG_SYSLOG)
        );
        assert_eq!(f.decide(Topic::Protocol, &ev(EventName::ReadFile)), None);
        assert_eq!(
            f.decide(
                Topic::Protocol,
                &ev(EventName::ReadFile).with_status(0xC000_0022)
            ),
            Some(0)
        );
        assert_eq!(
            f.decide(
                Topic::Protocol,
                &ev(EventName::CreateFile).with_status(0xC000_0022)
            ),
            None
        );
        // Unlisted zone: not audited.
        let mut other = ev(EventName::CreateFile);
        other.zone_id = 7;
        assert_eq!(f.decide(Topic::Protocol, &other), None);
        assert_eq!(f.zone_name(1), "System");
    }
}
