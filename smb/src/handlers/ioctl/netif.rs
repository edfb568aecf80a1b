//! The interfaces FSCTL_QUERY_NETWORK_INTERFACE_INFO reports (MS-SMB2 3.3.5.15.11: "the
//! server MUST enumerate the local network interfaces in an implementation-specific manner").
//!
//! Read from Linux procfs/sysfs, no syscalls of our own: `/sys/class/net/<if>/{ifindex,flags,
//! speed}`, IPv4 host addresses from `/proc/net/fib_trie` (the `/32 host LOCAL` leaves) matched
//! to their interface through `/proc/net/route`, IPv6 addresses from `/proc/net/if_inet6`.
//! Only what SMB is reachable on is listed: the listen address alone when shoal is bound to
//! one; for an unspecified address (`0.0.0.0` covers IPv4, `[::]` both families) every
//! address of every interface that is up, loopback excepted, and IPv6 link-local excepted
//! (they need a scope id a remote client cannot use).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use shoal_smb_proto::ioctl::NetworkInterfaceInfo;

/// LinkSpeed reported when the kernel does not know it (virtual interfaces): 1 Gb/s.
const DEFAULT_LINK_SPEED: u64 = 1_000_000_000;

/// IFF_UP.
const IFF_UP: u32 = 0x1;

/// One interface from sysfs.
struct Link {
    name: String,
    index: u32,
    up: bool,
    speed: u64,
}

/// The NETWORK_INTERFACE_INFO list for a server listening on `listen`.
pub(super) fn interfaces(listen: Option<SocketAddr>) -> Vec<NetworkInterfaceInfo> {
    let links = links();
    let mut addrs: Vec<(String, IpAddr)> = ipv4_addresses();
    addrs.extend(ipv6_addresses());
    let info = |name: &str, addr: IpAddr| {
        links
            .iter()
            .find(|l| l.name == name)
            .map(|l| NetworkInterfaceInfo {
                if_index: l.index,
                capability: 0,
                link_speed: l.speed,
                addr,
            })
    };
    match listen.map(|a| a.ip()) {
        Some(ip) if !ip.is_unspecified() => {
            let found = addrs
                .iter()
                .find(|(_, a)| *a == ip)
                .and_then(|(n, a)| info(n, *a));
            // IfIndex 0 is not allowed: an address procfs does not show gets index 1.
            vec![found.unwrap_or(NetworkInterfaceInfo {
                if_index: 1,
                capability: 0,
                link_speed: DEFAULT_LINK_SPEED,
                addr: ip,
            })]
        }
        listen_ip => {
            let v6 = !matches!(listen_ip, Some(IpAddr::V4(_)));
            addrs
                .iter()
                .filter(|(n, a)| {
                    !a.is_loopback()
                        && (a.is_ipv4() || v6)
                        && links.iter().any(|l| &l.name == n && l.up)
                })
                .filter_map(|(n, a)| info(n, *a))
                .filter(|i| i.if_index != 0)
                .collect()
        }
    }
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn links() -> Vec<Link> {
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let base = format!("/sys/class/net/{name}");
        let Some(index) = read(&format!("{base}/ifindex")).and_then(|s| s.trim().parse().ok())
        else {
            continue;
        };
        let flags = read(&format!("{base}/flags"))
            .and_then(|s| u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
            .unwrap_or(0);
        // Mb/s; -1 or an error when unknown.
        let speed = read(&format!("{base}/speed"))
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|s| *s > 0)
            .map_or(DEFAULT_LINK_SPEED, |mbps| mbps.saturating_mul(1_000_000));
        out.push(Link {
            name,
            index,
            up: flags & IFF_UP != 0,
            speed,
        });
    }
    out
}

/// Local IPv4 addresses with the interface holding each.
fn ipv4_addresses() -> Vec<(String, IpAddr)> {
    let (Some(trie), Some(route)) = (read("/proc/net/fib_trie"), read("/proc/net/route")) else {
        return Vec::new();
    };
    let routes = parse_routes(&route);
    parse_local_v4(&trie)
        .into_iter()
        .filter_map(|a| {
            let name = if a.is_loopback() {
                Some("lo".to_string())
            } else {
                interface_of(&routes, a)
            };
            name.map(|n| (n, IpAddr::V4(a)))
        })
        .collect()
}

/// `/proc/net/fib_trie`: the addresses of `|-- a.b.c.d` lines followed by `/32 host LOCAL`.
fn parse_local_v4(trie: &str) -> BTreeSet<Ipv4Addr> {
    let mut out = BTreeSet::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in trie.lines() {
        let t = line.trim();
        if let Some(a) = t.strip_prefix("|-- ") {
            last = a.parse().ok();
        } else if t.starts_with("/32 host LOCAL") {
            if let Some(a) = last {
                out.insert(a);
            }
        }
    }
    out
}

/// `/proc/net/route`: (interface, destination, mask), addresses as the kernel prints them
/// (hex of the in-memory, network-order value on a little-endian host).
fn parse_routes(route: &str) -> Vec<(String, u32, u32)> {
    route
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = f.first()?;
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            Some((
                name.to_string(),
                u32::from_be_bytes(dest.to_le_bytes()),
                u32::from_be_bytes(mask.to_le_bytes()),
            ))
        })
        .collect()
}

/// The interface of the most specific non-default route containing `a`.
fn interface_of(routes: &[(String, u32, u32)], a: Ipv4Addr) -> Option<String> {
    let a = u32::from(a);
    routes
        .iter()
        .filter(|(_, d, m)| *m != 0 && a & m == *d)
        .max_by_key(|(_, _, m)| m.count_ones())
        .map(|(n, _, _)| n.clone())
}

/// `/proc/net/if_inet6`: address, index, prefix, scope, flags, name; link-local skipped.
fn ipv6_addresses() -> Vec<(String, IpAddr)> {
    read("/proc/net/if_inet6")
        .map(|s| parse_if_inet6(&s))
        .unwrap_or_default()
}

fn parse_if_inet6(s: &str) -> Vec<(String, IpAddr)> {
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let hex = f.first()?;
            let scope = u32::from_str_radix(f.get(3)?, 16).ok()?;
            let name = f.get(5)?;
            let v = u128::from_str_radix(hex, 16).ok()?;
            let a = Ipv6Addr::from(v);
            // Scope 0x20 is link-local.
            (scope != 0x20).then(|| (name.to_string(), IpAddr::V6(a)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procfs_formats() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n           |-- 127.0.0.1\n              /32 host LOCAL\n           |-- 192.0.2.0\n              /24 link UNICAST\n           |-- 192.0.2.2\n              /32 host LOCAL\n        |-- 192.0.2.255\n           /32 link BROADCAST\n";
        let v4: Vec<Ipv4Addr> = parse_local_v4(trie).into_iter().collect();
        assert_eq!(
            v4,
            [
                "127.0.0.1".parse::<Ipv4Addr>().unwrap(),
                "192.0.2.2".parse().unwrap()
            ]
        );
        let route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let routes = parse_routes(route);
        assert_eq!(
            interface_of(&routes, "192.0.2.2".parse().unwrap()).as_deref(),
            Some("eth0")
        );
        assert_eq!(interface_of(&routes, "198.51.100.1".parse().unwrap()), None);
        let inet6 = "00000000000000000000000000000001 01 80 10 80       lo\nfe8000000000000000fc00fffe000001 04 40 20 80     eth0\nfd000000000000000000000000000002 04 40 00 82     eth0\n";
        let v6 = parse_if_inet6(inet6);
        assert_eq!(v6.len(), 2);
        assert_eq!(v6[1], ("eth0".to_string(), "fd00::2".parse().unwrap()));
    }

    #[test]
    fn a_bound_address_is_reported_alone() {
        let l = interfaces(Some("127.0.0.1:445".parse().unwrap()));
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].addr, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_ne!(l[0].if_index, 0);
    }
}
