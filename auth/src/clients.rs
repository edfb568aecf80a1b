//! Export client matching (R1): which entry of an export's client list applies to a client
//! address. Pure: no DNS, no netgroup lookups, no I/O.
//!
//! A pattern is one of:
//! - an exact host: an IP address (`10.1.2.3`, `::1`) or a host name;
//! - a network: CIDR (`10.0.0.0/8`, `fd00::/8`) or address/netmask (`10.0.0.0/255.0.0.0`);
//! - a wildcard: `*`, `192.168.1.*`, `*.example.com` (`*` and `?` globs);
//! - a netgroup: `@name`.
//!
//! When several entries match, the most specific decides (as knfsd does): exact host, then
//! network (longest prefix first), then wildcard, then netgroup. Among equally specific
//! matches the first entry wins.
//!
//! No DNS is done for now, so patterns that need it are refused when parsed (never accepted
//! and then silently matching nobody, which would let a restrictive entry fall back to a
//! broader one): host names other than `localhost`, wildcards over names (`build*.example.com`)
//! and `@netgroup`s are errors ([`UNRESOLVED`]). `localhost` matches loopback clients;
//! wildcards are address globs (`192.168.1.*`, `fd00:*`, `*`) matched against the textual
//! client address. IPv4-mapped IPv6 client addresses are matched as IPv4.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A pattern that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid client pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// Why it is invalid.
    pub reason: &'static str,
}

/// Why name-based patterns are refused (the reason of their [`PatternError`]).
pub const UNRESOLVED: &str =
    "host names, name wildcards and @netgroups are not resolved yet (no DNS or netgroup lookups), so this entry would never match; use IP addresses, CIDR networks or address wildcards";

/// True for a glob over addresses: digits, `.`, `*`, `?`, or an IPv6 form (hex digits and `:`).
fn is_address_glob(s: &str) -> bool {
    let v4 = s.bytes().all(|b| b.is_ascii_digit() || b"*?.".contains(&b));
    let v6 = s.contains(':')
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() || b"*?.:".contains(&b));
    v4 || v6
}

/// One parsed client pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientPattern {
    /// An exact address.
    Address(IpAddr),
    /// A host name: only `localhost` (loopback clients) is accepted until DNS lookups exist.
    HostName(String),
    /// A network: address with `prefix` leading bits significant.
    Network {
        /// Network address.
        addr: IpAddr,
        /// Prefix length in bits.
        prefix: u8,
    },
    /// A glob with `*` / `?`, matched against the textual client address.
    Wildcard(String),
    /// `@netgroup`: never produced by [`ClientPattern::parse`] until netgroups resolve.
    Netgroup(String),
}

/// How specifically a pattern matched; greater is more specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Specificity {
    /// Matched through a netgroup.
    Netgroup,
    /// Matched a wildcard.
    Wildcard,
    /// Matched a network with this prefix length.
    Network(u8),
    /// Matched an exact host.
    Exact,
}

fn normalize(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn prefix_from_netmask(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    if bits.checked_shl(ones).unwrap_or(0) == 0 {
        u8::try_from(ones).ok()
    } else {
        None
    }
}

fn addr_bits(addr: IpAddr) -> (u128, u8) {
    match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

fn in_network(client: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let (c, cw) = addr_bits(client);
    let (n, nw) = addr_bits(net);
    if cw != nw || prefix > nw {
        return false;
    }
    if prefix == 0 {
        return true;
    }
    let shift = u32::from(nw - prefix);
    c.checked_shr(shift) == n.checked_shr(shift)
}

/// Glob match with `*` (any run) and `?` (one character), ASCII case-insensitive.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || text.get(t).is_some_and(|x| x.eq_ignore_ascii_case(&c)) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

impl ClientPattern {
    /// Parses one pattern.
    pub fn parse(s: &str) -> Result<ClientPattern, PatternError> {
        let err = |reason| PatternError {
            pattern: s.to_string(),
            reason,
        };
        let s = s.trim();
        if s.is_empty() {
            return Err(err("empty"));
        }
        if let Some(name) = s.strip_prefix('@') {
            if name.is_empty() {
                return Err(err("empty netgroup name"));
            }
            // TODO(R4 netgroups issue): resolve through a netgroup cache, then accept.
            return Err(err(UNRESOLVED));
        }
        if s.contains('*') || s.contains('?') {
            if !is_address_glob(s) {
                return Err(err(UNRESOLVED));
            }
            return Ok(ClientPattern::Wildcard(s.to_ascii_lowercase()));
        }
        if let Some((addr, len)) = s.split_once('/') {
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| err("network address is not an IP address"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match len.parse::<u8>() {
                Ok(p) if p <= max => p,
                Ok(_) => return Err(err("prefix length too large")),
                Err(_) => match (addr, len.parse::<Ipv4Addr>()) {
                    (IpAddr::V4(_), Ok(mask)) => {
                        prefix_from_netmask(mask).ok_or_else(|| err("netmask is not contiguous"))?
                    }
                    _ => return Err(err("bad prefix length")),
                },
            };
            return Ok(ClientPattern::Network {
                addr: normalize(addr),
                prefix,
            });
        }
        if let Ok(addr) = s.parse::<IpAddr>() {
            return Ok(ClientPattern::Address(normalize(addr)));
        }
        if s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            // `localhost` needs no DNS: it is the loopback addresses.
            if s.eq_ignore_ascii_case("localhost") {
                return Ok(ClientPattern::HostName(s.to_ascii_lowercase()));
            }
            return Err(err(UNRESOLVED));
        }
        Err(err("not a host, network, wildcard or @netgroup"))
    }

    /// How specifically this pattern matches `client`, or `None` when it does not.
    pub fn matches(&self, client: IpAddr) -> Option<Specificity> {
        let client = normalize(client);
        let hit = match self {
            ClientPattern::Address(a) => *a == client,
            ClientPattern::HostName(name) => name == "localhost" && client.is_loopback(),
            ClientPattern::Network { addr, prefix } => {
                return in_network(client, *addr, *prefix).then_some(Specificity::Network(*prefix));
            }
            ClientPattern::Wildcard(w) => {
                return glob(w.as_bytes(), client.to_string().as_bytes())
                    .then_some(Specificity::Wildcard);
            }
            // TODO(R4 netgroups issue): resolve `@netgroup` through the netgroup cache; until
            // then a netgroup entry never matches.
            ClientPattern::Netgroup(_) => false,
        };
        hit.then_some(Specificity::Exact)
    }
}

/// An export's client list: entries of patterns, each with options `T`.
#[derive(Debug, Clone)]
pub struct ClientList<T> {
    entries: Vec<(Vec<ClientPattern>, T)>,
}

impl<T> ClientList<T> {
    /// Parses every pattern of every entry.
    pub fn new<S: AsRef<str>>(
        entries: impl IntoIterator<Item = (Vec<S>, T)>,
    ) -> Result<Self, PatternError> {
        let mut out = Vec::new();
        for (patterns, opts) in entries {
            let parsed = patterns
                .iter()
                .map(|p| ClientPattern::parse(p.as_ref()))
                .collect::<Result<Vec<_>, _>>()?;
            out.push((parsed, opts));
        }
        Ok(ClientList { entries: out })
    }

    /// The options of the most specific entry matching `client`; `None` when none does
    /// (the client is refused).
    pub fn lookup(&self, client: IpAddr) -> Option<&T> {
        let mut best: Option<(Specificity, &T)> = None;
        for (patterns, opts) in &self.entries {
            for p in patterns {
                if let Some(s) = p.matches(client) {
                    let better = match &best {
                        Some((b, _)) => s > *b,
                        None => true,
                    };
                    if better {
                        best = Some((s, opts));
                    }
                }
            }
        }
        best.map(|(_, o)| o)
    }

    /// True when the list has no entries (allows nobody).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Why a new connection was refused by a [`ConnLimiter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnRefused {
    /// `max_connections` connections are open.
    Total,
    /// `max_unauthenticated` connections have not authenticated yet.
    Unauthenticated,
    /// This client address has `max_connections_per_client` connections open.
    PerClient,
}

impl std::fmt::Display for ConnRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConnRefused::Total => "connection limit reached",
            ConnRefused::Unauthenticated => "unauthenticated connection limit reached",
            ConnRefused::PerClient => "per-client connection limit reached",
        })
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    unauthenticated: usize,
    per_client: std::collections::HashMap<IpAddr, usize>,
}

/// Connection admission shared by a listener's connections: a total cap, a lower cap on
/// connections that have not authenticated yet (so sockets that never authenticate cannot
/// take every slot), and a cap per client address (so one host cannot). Every check and
/// count change happens under one lock. IPv4-mapped IPv6 addresses count as IPv4.
#[derive(Debug, Clone)]
pub struct ConnLimiter {
    counts: std::sync::Arc<std::sync::Mutex<Counts>>,
    max_total: usize,
    max_unauthenticated: usize,
    max_per_client: usize,
}

/// One admitted connection; dropping it frees its slot.
#[derive(Debug)]
pub struct ConnSlot {
    counts: std::sync::Arc<std::sync::Mutex<Counts>>,
    client: IpAddr,
    unauthenticated: bool,
}

fn lock_counts(m: &std::sync::Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ConnLimiter {
    /// Caps of 0 act as 1; the unauthenticated cap is at most the total.
    pub fn new(max_total: usize, max_unauthenticated: usize, max_per_client: usize) -> Self {
        let max_total = max_total.max(1);
        ConnLimiter {
            counts: Default::default(),
            max_total,
            max_unauthenticated: max_unauthenticated.clamp(1, max_total),
            max_per_client: max_per_client.max(1),
        }
    }

    /// Admits a new (unauthenticated) connection from `client`, or says which cap is full.
    pub fn admit(&self, client: IpAddr) -> Result<ConnSlot, ConnRefused> {
        let client = normalize(client);
        let mut c = lock_counts(&self.counts);
        if c.total >= self.max_total {
            return Err(ConnRefused::Total);
        }
        if c.unauthenticated >= self.max_unauthenticated {
            return Err(ConnRefused::Unauthenticated);
        }
        let n = c.per_client.get(&client).copied().unwrap_or(0);
        if n >= self.max_per_client {
            return Err(ConnRefused::PerClient);
        }
        c.per_client.insert(client, n.saturating_add(1));
        c.total = c.total.saturating_add(1);
        c.unauthenticated = c.unauthenticated.saturating_add(1);
        Ok(ConnSlot {
            counts: self.counts.clone(),
            client,
            unauthenticated: true,
        })
    }

    /// Open connections, and how many of them are unauthenticated.
    pub fn counts(&self) -> (usize, usize) {
        let c = lock_counts(&self.counts);
        (c.total, c.unauthenticated)
    }
}

impl ConnSlot {
    /// The connection has authenticated: it no longer counts against the unauthenticated cap.
    pub fn authenticated(&mut self) {
        if self.unauthenticated {
            self.unauthenticated = false;
            let mut c = lock_counts(&self.counts);
            c.unauthenticated = c.unauthenticated.saturating_sub(1);
        }
    }

    /// Whether [`ConnSlot::authenticated`] has been called.
    pub fn is_authenticated(&self) -> bool {
        !self.unauthenticated
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut c = lock_counts(&self.counts);
        c.total = c.total.saturating_sub(1);
        if self.unauthenticated {
            c.unauthenticated = c.unauthenticated.saturating_sub(1);
        }
        let left = c
            .per_client
            .get(&self.client)
            .copied()
            .unwrap_or(0)
            .saturating_sub(1);
        if left == 0 {
            c.per_client.remove(&self.client);
        } else {
            c.per_client.insert(self.client, left);
        }
    }
}

/// The IPv6 loopback, for tests and defaults.
pub const LOOPBACK_V6: Ipv6Addr = Ipv6Addr::LOCALHOST;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn m(p: &str, c: &str) -> Option<Specificity> {
        ClientPattern::parse(p).unwrap().matches(ip(c))
    }

    #[test]
    fn exact_addresses() {
        assert_eq!(m("10.1.2.3", "10.1.2.3"), Some(Specificity::Exact));
        assert_eq!(m("10.1.2.3", "10.1.2.4"), None);
        assert_eq!(m("::1", "::1"), Some(Specificity::Exact));
        assert_eq!(m("127.0.0.1", "::ffff:127.0.0.1"), Some(Specificity::Exact));
    }

    #[test]
    fn networks_v4_v6_and_netmask() {
        assert_eq!(m("10.0.0.0/8", "10.200.1.1"), Some(Specificity::Network(8)));
        assert_eq!(m("10.0.0.0/8", "11.0.0.1"), None);
        assert_eq!(
            m("10.0.0.0/255.255.0.0", "10.0.9.9"),
            Some(Specificity::Network(16))
        );
        assert_eq!(m("fd00::/8", "fd12::1"), Some(Specificity::Network(8)));
        assert_eq!(m("fd00::/8", "10.0.0.1"), None);
        assert_eq!(m("0.0.0.0/0", "1.2.3.4"), Some(Specificity::Network(0)));
        assert_eq!(m("1.2.3.4/32", "1.2.3.4"), Some(Specificity::Network(32)));
        assert!(ClientPattern::parse("10.0.0.0/33").is_err());
        assert!(ClientPattern::parse("10.0.0.0/255.0.255.0").is_err());
    }

    #[test]
    fn wildcards() {
        assert_eq!(m("*", "1.2.3.4"), Some(Specificity::Wildcard));
        assert_eq!(
            m("192.168.1.*", "192.168.1.77"),
            Some(Specificity::Wildcard)
        );
        assert_eq!(m("192.168.1.*", "192.168.2.77"), None);
        assert_eq!(m("fd00:*", "fd00::7"), Some(Specificity::Wildcard));
        assert!(glob(b"*.example.com", b"host.example.com"));
        assert!(glob(b"h?st*", b"HOST1"));
        assert!(!glob(b"h?st", b"hst"));
    }

    #[test]
    fn hostnames_without_dns() {
        assert_eq!(m("localhost", "127.0.0.1"), Some(Specificity::Exact));
        assert_eq!(m("localhost", "::1"), Some(Specificity::Exact));
        assert_eq!(m("LocalHost", "::1"), Some(Specificity::Exact));
        assert_eq!(m("localhost", "10.0.0.1"), None);
    }

    /// Patterns that would need DNS or netgroup lookups are refused, never accepted to match
    /// nobody (issue 11: a restrictive entry silently falling back to a broader one).
    #[test]
    fn unresolvable_patterns_are_refused() {
        for p in [
            "server.example.com",
            "build*.example.com",
            "*.example.com",
            "h?st",
            "@trusted",
            "@",
        ] {
            let e = ClientPattern::parse(p).unwrap_err();
            assert_eq!(e.pattern, p);
            if p != "@" {
                assert_eq!(e.reason, UNRESOLVED, "{p}");
            }
        }
        assert!(ClientList::new([(vec!["10.0.0.0/8", "@builders"], ())]).is_err());
    }

    #[test]
    fn most_specific_entry_wins() {
        let list = ClientList::new([
            (vec!["*"], "wild"),
            (vec!["10.0.0.0/8"], "net8"),
            (vec!["10.1.0.0/16"], "net16"),
            (vec!["10.1.2.3"], "exact"),
        ])
        .unwrap();
        assert_eq!(list.lookup(ip("10.1.2.3")), Some(&"exact"));
        assert_eq!(list.lookup(ip("10.1.9.9")), Some(&"net16"));
        assert_eq!(list.lookup(ip("10.9.9.9")), Some(&"net8"));
        assert_eq!(list.lookup(ip("8.8.8.8")), Some(&"wild"));
    }

    #[test]
    fn empty_list_and_no_match_refuse() {
        let list: ClientList<()> = ClientList::new(Vec::<(Vec<&str>, ())>::new()).unwrap();
        assert!(list.is_empty());
        assert_eq!(list.lookup(ip("127.0.0.1")), None);
        let list = ClientList::new([(vec!["10.9.9.9"], ())]).unwrap();
        assert_eq!(list.lookup(ip("127.0.0.1")), None);
    }

    #[test]
    fn conn_limiter_caps_total_unauthenticated_and_per_client() {
        let l = ConnLimiter::new(4, 2, 3);
        let a = ip("10.0.0.1");
        let mut s1 = l.admit(a).unwrap();
        let _s2 = l.admit(a).unwrap();
        assert_eq!(
            l.admit(ip("10.0.0.2")).unwrap_err(),
            ConnRefused::Unauthenticated
        );
        s1.authenticated();
        s1.authenticated();
        assert_eq!(l.counts(), (2, 1));
        let _s3 = l.admit(ip("::ffff:10.0.0.1")).unwrap();
        assert_eq!(l.admit(a).unwrap_err(), ConnRefused::Unauthenticated);
        drop(_s3);
        let mut s3 = l.admit(a).unwrap();
        s3.authenticated();
        assert_eq!(l.admit(a).unwrap_err(), ConnRefused::PerClient);
        let mut s4 = l.admit(ip("10.0.0.2")).unwrap();
        s4.authenticated();
        assert_eq!(l.admit(ip("10.0.0.3")).unwrap_err(), ConnRefused::Total);
        drop((s1, s3, s4));
        assert_eq!(l.counts(), (1, 1));
        assert!(l.counts.lock().unwrap().per_client.len() == 1);
    }

    #[test]
    fn garbage_patterns_are_errors() {
        assert!(ClientPattern::parse("").is_err());
        assert!(ClientPattern::parse("a b").is_err());
        assert!(ClientPattern::parse("x/8").is_err());
    }
}
