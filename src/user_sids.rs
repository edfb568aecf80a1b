//! The uid -> SID map the VFS adds to an NFS caller's token ([`shoal_vfs::acl::UserSids`]), so a
//! security descriptor ACE naming an SMB user binds that user's uid over NFS too.
//!
//! Read from the user database, which `shoal user add` may change while the server runs: the
//! whole (small) table is re-read at most every [`REFRESH`], and only when a stored descriptor
//! is evaluated for a caller without a SID (never on the hot path of an object without one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shoal_auth::UserDb;
use shoal_vfs::acl::{Sid, UserSids};

/// Longest time a user added or removed takes to count for NFS callers.
pub const REFRESH: Duration = Duration::from_secs(5);

/// The SIDs of each uid, and when they were read.
type Snapshot = (Instant, HashMap<u32, Vec<Sid>>);

/// The map, over the server's user database.
pub struct DbUserSids {
    db: Arc<UserDb>,
    cache: Mutex<Option<Snapshot>>,
}

impl DbUserSids {
    /// A map reading `db`.
    pub fn new(db: Arc<UserDb>) -> DbUserSids {
        DbUserSids {
            db,
            cache: Mutex::new(None),
        }
    }
}

impl UserSids for DbUserSids {
    fn sids_of_uid(&self, uid: u32) -> Vec<Sid> {
        let mut g = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = g.as_ref().is_some_and(|(at, _)| at.elapsed() < REFRESH);
        if !fresh {
            match self.db.list() {
                Ok(users) => {
                    let mut map: HashMap<u32, Vec<Sid>> = HashMap::new();
                    for u in users {
                        if let Some(s) = Sid::parse(&u.sid) {
                            map.entry(u.uid).or_default().push(s);
                        }
                    }
                    *g = Some((Instant::now(), map));
                }
                Err(e) => tracing::warn!(error = %e, "user database unreadable; uid map kept"),
            }
        }
        g.as_ref()
            .and_then(|(_, m)| m.get(&uid).cloned())
            .unwrap_or_default()
    }
}
