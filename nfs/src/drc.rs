//! Duplicate-request cache: a retransmitted non-idempotent call (same client address, xid
//! and request bytes) gets the reply of the first execution instead of running again
//! (a retransmitted REMOVE must not answer NOENT, a retransmitted exclusive CREATE must not
//! fail). Bounded: at most `capacity` entries in all and `per_client` per client address,
//! the oldest evicted first; one client cannot evict another's entries ([`Drc`]).

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

/// One client's entries, oldest first.
#[derive(Debug, Default)]
struct ClientCache {
    map: HashMap<(u32, u64), Slot>,
    order: VecDeque<(u32, u64)>,
}

#[derive(Debug, Default)]
struct Inner {
    clients: HashMap<IpAddr, ClientCache>,
    total: usize,
}

impl Inner {
    /// Drops the oldest entry of `client`.
    fn evict_oldest(&mut self, client: IpAddr) {
        let Some(c) = self.clients.get_mut(&client) else {
            return;
        };
        if let Some(old) = c.order.pop_front() {
            c.map.remove(&old);
            self.total = self.total.saturating_sub(1);
        }
        if c.order.is_empty() {
            self.clients.remove(&client);
        }
    }
}

/// The cache: at most `capacity` entries in all and `per_client` per client address. A
/// client over its share evicts its own oldest entry; when the whole cache is full, the
/// client holding the most entries loses its oldest. So one client flooding distinct xids
/// cannot evict the entries of others (knfsd keys its DRC by client address too).
#[derive(Debug)]
pub(crate) struct Drc {
    capacity: usize,
    per_client: usize,
    inner: Mutex<Inner>,
}

impl Drc {
    pub(crate) fn new(capacity: usize, per_client: usize) -> Drc {
        let capacity = capacity.max(1);
        Drc {
            capacity,
            per_client: per_client.clamp(1, capacity),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Looks a call up, marking it in progress when new.
    pub(crate) fn begin(&self, key: Key) -> Lookup {
        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let id = (key.xid, key.checksum);
        match inner.clients.get(&key.client).and_then(|c| c.map.get(&id)) {
            Some(Slot::InProgress) => return Lookup::Drop,
            Some(Slot::Done(reply)) => return Lookup::Replay(reply.clone()),
            None => {}
        }
        while inner
            .clients
            .get(&key.client)
            .is_some_and(|c| c.order.len() >= self.per_client)
        {
            inner.evict_oldest(key.client);
        }
        while inner.total >= self.capacity {
            let biggest = inner
                .clients
                .iter()
                .max_by_key(|(_, c)| c.order.len())
                .map(|(ip, _)| *ip);
            match biggest {
                Some(ip) => inner.evict_oldest(ip),
                None => break,
            }
        }
        let c = inner.clients.entry(key.client).or_default();
        c.map.insert(id, Slot::InProgress);
        c.order.push_back(id);
        inner.total = inner.total.saturating_add(1);
        Lookup::Execute
    }

    /// Stores the reply of an executed call (no-op if it was evicted meanwhile).
    pub(crate) fn finish(&self, key: Key, reply: Bytes) {
        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(slot) = inner
            .clients
            .get_mut(&key.client)
            .and_then(|c| c.map.get_mut(&(key.xid, key.checksum)))
        {
            *slot = Slot::Done(reply);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
        let d = Drc::new(4, 4);
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
        let d = Drc::new(4, 4);
        let a = Key::new(IpAddr::from([10, 0, 0, 1]), 1, b"a");
        let b = Key::new(IpAddr::from([10, 0, 0, 1]), 1, b"b");
        assert_eq!(d.begin(a), Lookup::Execute);
        assert_eq!(d.begin(b), Lookup::Execute);
    }

    #[test]
    fn one_client_cannot_evict_another() {
        let d = Drc::new(8, 4);
        let other = Key::new(IpAddr::from([10, 0, 0, 9]), 7, b"rm");
        assert_eq!(d.begin(other), Lookup::Execute);
        d.finish(other, Bytes::from_static(b"ok"));
        for x in 0..1000 {
            assert_eq!(d.begin(key(x)), Lookup::Execute);
            d.finish(key(x), Bytes::new());
        }
        assert_eq!(d.begin(other), Lookup::Replay(Bytes::from_static(b"ok")));
        // The flooder keeps only its share, newest first.
        assert!(matches!(d.begin(key(999)), Lookup::Replay(_)));
        assert_eq!(d.begin(key(0)), Lookup::Execute);
        // A full cache evicts from the biggest holder.
        for i in 0..4u8 {
            let k = Key::new(IpAddr::from([10, 0, 1, i]), 1, b"x");
            assert_eq!(d.begin(k), Lookup::Execute);
        }
        assert_eq!(d.begin(other), Lookup::Replay(Bytes::from_static(b"ok")));
        let inner = d.inner.lock().unwrap();
        assert!(inner.total <= 8);
    }

    #[test]
    fn bounded() {
        let d = Drc::new(2, 2);
        for x in 0..10 {
            assert_eq!(d.begin(key(x)), Lookup::Execute);
            d.finish(key(x), Bytes::new());
        }
        assert_eq!(d.begin(key(0)), Lookup::Execute);
        assert!(matches!(d.begin(key(9)), Lookup::Replay(_)));
    }
}
