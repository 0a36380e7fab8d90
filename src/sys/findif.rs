//! Which interface and prefix length an address belongs to, from the routing table: what the
//! reference's findif.sh does with `ip route list match IP[/MASK] [scope link]` and awk, with
//! its known bugs fixed:
//! - several matching routes (IPv6 router advertisements, two interfaces in one subnet) pick
//!   one deterministically instead of failing (resource-agents #1963);
//! - routes through a gateway, multipath, unreachable/blackhole routes are never taken for
//!   directly connected ones (findif.sh reads the gateway as the interface name);
//! - host routes (/32, /128) count (findif.sh's awk only saw routes printed with a '/').

use super::netlink::{Family, Route, RTN_LOCAL, RTN_UNICAST, RT_SCOPE_HOST, RT_SCOPE_LINK};
use std::net::{IpAddr, Ipv4Addr};

/// What is known beforehand: the admin's nic and cidr_netmask narrow the search.
#[derive(Clone, Copy, Debug)]
pub struct Query {
    pub ip: IpAddr,
    pub netmask: Option<u8>,
    pub oif: Option<u32>,
    pub proto: Option<u8>,
}

/// Whether `ip` lies inside `dst/len`.
pub fn contains(dst: &IpAddr, len: u8, ip: &IpAddr) -> bool {
    match (dst, ip) {
        (IpAddr::V4(d), IpAddr::V4(i)) => {
            let m = mask32(len);
            u32::from(*d) & m == u32::from(*i) & m
        }
        (IpAddr::V6(d), IpAddr::V6(i)) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len.min(128) as u32)
            };
            u128::from(*d) & m == u128::from(*i) & m
        }
        _ => false,
    }
}

fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len.min(32) as u32)
    }
}

/// The route that makes `q.ip` directly reachable: in the main table, unicast, through one
/// interface and no gateway, covering the address (and the admin's netmask), of the admin's
/// interface and protocol if given; IPv4 only scope link, like findif. The most specific wins;
/// among equals the lowest metric, then the lowest interface index.
pub fn choose<'a>(routes: &'a [Route], q: &Query) -> Option<&'a Route> {
    let family = Family::of(&q.ip);
    routes
        .iter()
        .filter(|r| r.family == family && r.kind == RTN_UNICAST)
        .filter(|r| family == Family::V6 || r.scope == RT_SCOPE_LINK)
        .filter(|r| matches(r, q))
        .min_by_key(|r| (std::cmp::Reverse(r.dst_len), r.priority, r.oif))
}

/// For 127.0.0.0/8 there is no route in the main table: findif takes the local table's
/// `local 127.0.0.0/8 dev lo` route (its getnetworkinfo).
pub fn choose_loopback<'a>(local_routes: &'a [Route], q: &Query) -> Option<&'a Route> {
    if !matches!(q.ip, IpAddr::V4(a) if a.is_loopback()) {
        return None;
    }
    local_routes
        .iter()
        .filter(|r| r.kind == RTN_LOCAL && r.scope == RT_SCOPE_HOST && r.dst_len < 32)
        .filter(|r| matches(r, q))
        .min_by_key(|r| (std::cmp::Reverse(r.dst_len), r.priority, r.oif))
}

fn matches(r: &Route, q: &Query) -> bool {
    r.dst_len > 0
        && r.oif.is_some()
        && r.gateway.is_none()
        && !r.multipath
        && contains(&r.dst, r.dst_len, &q.ip)
        && q.netmask.map_or(true, |m| r.dst_len <= m)
        && q.oif.map_or(true, |o| r.oif == Some(o))
        && q.proto.map_or(true, |p| r.protocol == p)
}

/// The broadcast address of `ip/prefix` with the host bits set (`brd +`) or cleared (`brd -`).
pub fn broadcast(ip: Ipv4Addr, prefix: u8, host_bits_set: bool) -> Ipv4Addr {
    let m = mask32(prefix);
    let net = u32::from(ip) & m;
    Ipv4Addr::from(if host_bits_set { net | !m } else { net })
}

/// A routing protocol as `ip route ... proto NAME` takes it (/etc/iproute2/rt_protos names or
/// a number).
pub fn route_protocol(name: &str) -> Option<u8> {
    const NAMES: &[(&str, u8)] = &[
        ("unspec", 0),
        ("redirect", 1),
        ("kernel", 2),
        ("boot", 3),
        ("static", 4),
        ("gated", 8),
        ("ra", 9),
        ("mrt", 10),
        ("zebra", 11),
        ("bird", 12),
        ("dnrouted", 13),
        ("xorp", 14),
        ("ntk", 15),
        ("dhcp", 16),
        ("keepalived", 18),
        ("babel", 42),
        ("openr", 99),
        ("bgp", 186),
        ("isis", 187),
        ("ospf", 188),
        ("rip", 189),
        ("eigrp", 192),
    ];
    NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
        .or_else(|| name.parse().ok())
}

/// What `ip route flush cache` does.
pub fn flush_route_cache(family: Family) -> std::io::Result<()> {
    let path = match family {
        Family::V4 => "/proc/sys/net/ipv4/route/flush",
        Family::V6 => "/proc/sys/net/ipv6/route/flush",
    };
    std::fs::write(path, "-1").map_err(|e| std::io::Error::new(e.kind(), format!("{path}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::netlink::{RT_TABLE_LOCAL, RT_TABLE_MAIN};

    fn route(dst: &str, oif: u32) -> Route {
        let (net, len) = dst.split_once('/').unwrap();
        let dst: IpAddr = net.parse().unwrap();
        let family = Family::of(&dst);
        Route {
            family,
            dst,
            dst_len: len.parse().unwrap(),
            table: RT_TABLE_MAIN,
            protocol: 2,
            scope: if family == Family::V4 {
                RT_SCOPE_LINK
            } else {
                0
            },
            kind: RTN_UNICAST,
            oif: Some(oif),
            gateway: None,
            multipath: false,
            priority: if family == Family::V6 { 256 } else { 0 },
            prefsrc: None,
        }
    }

    fn q(ip: &str) -> Query {
        Query {
            ip: ip.parse().unwrap(),
            netmask: None,
            oif: None,
            proto: None,
        }
    }

    #[test]
    fn most_specific_directly_connected_route_wins() {
        let mut default = route("0.0.0.0/0", 2);
        default.scope = 0;
        default.gateway = Some("10.0.0.1".parse().unwrap());
        let mut via = route("192.168.0.0/16", 3);
        via.scope = 0;
        via.gateway = Some("10.0.0.1".parse().unwrap());
        let routes = [
            default,
            route("10.0.0.0/8", 2),
            route("10.1.0.0/16", 4),
            via,
        ];
        assert_eq!(choose(&routes, &q("10.1.2.3")).unwrap().oif, Some(4));
        assert_eq!(choose(&routes, &q("10.2.2.3")).unwrap().dst_len, 8);
        // Only reachable through a gateway: no interface to put the address on.
        assert!(choose(&routes, &q("192.168.1.1")).is_none());
        assert!(choose(&routes, &q("172.16.0.1")).is_none());
    }

    #[test]
    fn admins_nic_and_netmask_narrow_the_choice() {
        let routes = [route("10.0.0.0/8", 2), route("10.1.0.0/16", 4)];
        let mut query = q("10.1.2.3");
        query.oif = Some(2);
        assert_eq!(choose(&routes, &query).unwrap().dst_len, 8);
        let mut query = q("10.1.2.3");
        query.netmask = Some(12);
        assert_eq!(choose(&routes, &query).unwrap().oif, Some(2));
        query.proto = Some(4);
        assert!(choose(&routes, &query).is_none());
    }

    #[test]
    fn several_matching_ipv6_routes_do_not_fail() {
        // resource-agents #1963: a prefix from router advertisements on two interfaces plus
        // the kernel route; findif.sh refused to choose and monitor reported "not running".
        let mut ra1 = route("2001:db8::/64", 3);
        ra1.protocol = 9;
        ra1.priority = 1024;
        let mut ra2 = route("2001:db8::/64", 5);
        ra2.protocol = 9;
        ra2.priority = 1024;
        let routes = [ra1, route("2001:db8::/64", 2), ra2, route("fe80::/64", 2)];
        let r = choose(&routes, &q("2001:db8::10")).unwrap();
        assert_eq!((r.oif, r.priority), (Some(2), 256));
        let mut only_ra = q("2001:db8::10");
        only_ra.proto = Some(9);
        assert_eq!(choose(&routes, &only_ra).unwrap().oif, Some(3));
    }

    #[test]
    fn host_routes_count_and_kinds_are_respected() {
        let mut unreachable = route("2001:db8:1::/48", 1);
        unreachable.kind = 7;
        let routes = [route("2001:db8:1::5/128", 2), unreachable];
        assert_eq!(choose(&routes, &q("2001:db8:1::5")).unwrap().dst_len, 128);
        assert!(choose(&routes, &q("2001:db8:1::6")).is_none());
        let mut v4host = route("10.9.9.9/32", 2);
        v4host.scope = RT_SCOPE_LINK;
        assert_eq!(choose(&[v4host], &q("10.9.9.9")).unwrap().dst_len, 32);
    }

    #[test]
    fn loopback_addresses_use_the_local_table() {
        let mut lo = route("127.0.0.0/8", 1);
        lo.table = RT_TABLE_LOCAL;
        lo.kind = RTN_LOCAL;
        lo.scope = RT_SCOPE_HOST;
        let mut host = route("127.0.0.1/32", 1);
        host.kind = RTN_LOCAL;
        host.scope = RT_SCOPE_HOST;
        let routes = [host, lo];
        assert_eq!(
            choose_loopback(&routes, &q("127.0.0.2")).unwrap().dst_len,
            8
        );
        assert!(choose_loopback(&routes, &q("10.0.0.1")).is_none());
    }

    /// The kernel's own route dumps (see netlink_captures.txt): a gateway route, a multipath
    /// route, and two routes for one IPv6 prefix.
    #[test]
    fn choice_on_captured_route_dumps() {
        let routes = |name| crate::sys::netlink::tests::captured_routes(name);
        let main: Vec<Route> = routes("route4more")
            .into_iter()
            .filter(|r| r.table == RT_TABLE_MAIN)
            .collect();
        assert_eq!(main.len(), 3, "{main:?}");
        assert!(main.iter().any(|r| r.gateway.is_some()));
        assert!(main.iter().any(|r| r.multipath));
        assert_eq!(choose(&main, &q("192.0.2.77")).unwrap().dst_len, 24);
        assert!(
            choose(&main, &q("198.51.100.7")).is_none(),
            "through a gateway"
        );
        assert!(choose(&main, &q("203.0.113.7")).is_none(), "multipath");
        let v6: Vec<Route> = routes("route6more")
            .into_iter()
            .filter(|r| r.table == RT_TABLE_MAIN)
            .collect();
        let r = choose(&v6, &q("2001:db8::77")).unwrap();
        assert_eq!((r.dst_len, r.priority, r.protocol), (64, 256, 2));
        let mut ra = q("2001:db8::77");
        ra.proto = Some(9);
        assert_eq!(choose(&v6, &ra).unwrap().priority, 1024);
    }

    #[test]
    fn prefixes_and_broadcasts() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(contains(&ip("10.0.0.0"), 8, &ip("10.255.1.1")));
        assert!(!contains(&ip("10.0.0.0"), 8, &ip("11.0.0.1")));
        assert!(contains(&ip("0.0.0.0"), 0, &ip("1.2.3.4")));
        assert!(contains(&ip("2001:db8::"), 32, &ip("2001:db8:ffff::1")));
        assert!(!contains(&ip("2001:db8::"), 128, &ip("2001:db8::1")));
        assert!(!contains(&ip("10.0.0.0"), 8, &ip("::1")));
        let a = Ipv4Addr::new(192, 168, 1, 77);
        assert_eq!(broadcast(a, 24, true), Ipv4Addr::new(192, 168, 1, 255));
        assert_eq!(broadcast(a, 26, true), Ipv4Addr::new(192, 168, 1, 127));
        assert_eq!(broadcast(a, 24, false), Ipv4Addr::new(192, 168, 1, 0));
        assert_eq!(broadcast(a, 32, true), a);
        assert_eq!(route_protocol("kernel"), Some(2));
        assert_eq!(route_protocol("RA"), Some(9));
        assert_eq!(route_protocol("42"), Some(42));
        assert_eq!(route_protocol("nonsense"), None);
    }
}
