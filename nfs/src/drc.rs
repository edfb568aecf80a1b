//! Duplicate-request cache: a retransmitted non-idempotent call (same client address, xid
//! and request bytes) gets the reply of the first execution instead of running again
//! (a retransmitted REMOVE must not answer NOENT, a retransmitted exclusive CREATE must not
//! fail). Bounded: at most `capacity` entries, the oldest evicted first.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

use bytes::Bytes;

/// What identifies a call: who sent it, its xid, and a checksum of the record's length and
/// first KiB (so a reused xid with different content is not mistaken for a retransmission,
/// without hashing a whole 1 MiB WRITE on the async thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) client: IpAddr,
    pub(crate) xid: u32,
    pub(crate) checksum: u64,
}

impl Key {
    pub(crate) fn new(client: IpAddr, xid: u32, record: &[u8]) -> Key {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ record.len() as u64;
        for b in record.iter().take(1024) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Key {
            client,
            xid,
            checksum: h,
        }
    }
}

#[derive(Debug, Clone)]
enum Slot {
    InProgress,
    Done(Bytes),
}

/// What the caller should do with a call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// First time: execute, then [`Drc::finish`].
    Execute,
    /// Being executed now (by another connection or task): drop this copy.
    Drop,
    /// Executed already: send this reply again.
    Replay(Bytes),
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Key, Slot>,
    order: VecDeque<Key>,
}

/// The cache.
#[derive(Debug)]
pub(crate) struct Drc {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl Drc {
    pub(crate) fn new(capacity: usize) -> Drc {
        Drc {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Looks a call up, marking it in progress when new.
    pub(crate) fn begin(&self, key: Key) -> Lookup {
        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        match inner.map.get(&key) {
            Some(Slot::InProgress) => return Lookup::Drop,
            Some(Slot::Done(reply)) => return Lookup::Replay(reply.clone()),
            None => {}
        }
        while inner.order.len() >= self.capacity {
            match inner.order.pop_front() {
                Some(old) => {
                    inner.map.remove(&old);
                }
                None => break,
            }
        }
        inner.map.insert(key, Slot::InProgress);
        inner.order.push_back(key);
        Lookup::Execute
    }

    /// Stores the reply of an executed call (no-op if it was evicted meanwhile).
    pub(crate) fn finish(&self, key: Key, reply: Bytes) {
        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(slot) = inner.map.get_mut(&key) {
            *slot = Slot::Done(reply);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(xid: u32) -> Key {
        Key::new(
            "127.0.0.1".parse().unwrap_or(IpAddr::from([127, 0, 0, 1])),
            xid,
            b"rec",
        )
    }

    #[test]
    fn execute_then_replay() {
        let d = Drc::new(4);
        assert_eq!(d.begin(key(1)), Lookup::Execute);
        assert_eq!(d.begin(key(1)), Lookup::Drop);
        d.finish(key(1), Bytes::from_static(b"reply"));
        assert_eq!(
            d.begin(key(1)),
            Lookup::Replay(Bytes::from_static(b"reply"))
        );
    }

    #[test]
    fn different_content_same_xid_is_new() {
        let d = Drc::new(4);
        let a = Key::new(IpAddr::from([10, 0, 0, 1]), 1, b"a");
        let b = Key::new(IpAddr::from([10, 0, 0, 1]), 1, b"b");
        assert_eq!(d.begin(a), Lookup::Execute);
        assert_eq!(d.begin(b), Lookup::Execute);
    }

    #[test]
    fn bounded() {
        let d = Drc::new(2);
        for x in 0..10 {
            assert_eq!(d.begin(key(x)), Lookup::Execute);
            d.finish(key(x), Bytes::new());
        }
        assert_eq!(d.begin(key(0)), Lookup::Execute);
        assert!(matches!(d.begin(key(9)), Lookup::Replay(_)));
    }
}
