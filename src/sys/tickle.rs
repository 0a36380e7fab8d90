//! TCP tickle ACKs (what CTDB's and portblock's `tickle_tcp` send). When an address moves here
//! from a node that died, its clients' connections still look alive to them: they wait on their
//! retransmission timers (12.6 s, 25.4 s, 51 s after the last answer) or their RPC timeouts.
//! An ACK with a wrong sequence number, sent from the address to a client's port, makes the
//! client answer with its real numbers (a challenge ACK); this host has no such connection and
//! answers that with a reset, and the client reconnects at once.
//!
//! Which connections to tickle is recorded beforehand, where the address was served, from
//! /proc/net/tcp and tcp6: the kernel's table of its TCP sockets, kernel sockets (nfsd's)
//! included.

use crate::ocf::Deadline;
use anyhow::{bail, Context, Result};
use nix::sys::socket::{
    bind, sendto, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn,
    SockaddrIn6, SockaddrLike,
};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

/// A TCP connection as seen from this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Conn {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// The established TCP connections whose local address is `ip`, in this thread's network
/// namespace, sorted.
pub fn established_to(ip: IpAddr) -> Result<Vec<Conn>> {
    let file = if ip.is_ipv4() { "tcp" } else { "tcp6" };
    let path = format!("/proc/thread-self/net/{file}");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let mut conns: Vec<Conn> = parse_proc_net_tcp(&text)
        .into_iter()
        .filter(|c| c.local.ip() == ip)
        .collect();
    conns.sort();
    conns.dedup();
    Ok(conns)
}

/// st 01 in /proc/net/tcp.
const ESTABLISHED: &str = "01";

/// The established connections in the text of /proc/net/tcp or /proc/net/tcp6.
pub fn parse_proc_net_tcp(text: &str) -> Vec<Conn> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split_whitespace().skip(1);
            let (local, remote, st) = (f.next()?, f.next()?, f.next()?);
            if st != ESTABLISHED {
                return None;
            }
            Some(Conn {
                local: hex_sockaddr(local)?,
                remote: hex_sockaddr(remote)?,
            })
        })
        .collect()
}

/// "C830A8C0:0801" as the kernel prints it: each 32-bit word of the address (network order in
/// memory) as a native-endian integer (%08X), then the port in host order (%04X).
fn hex_sockaddr(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    if !addr
        .bytes()
        .chain(port.bytes())
        .all(|b| b.is_ascii_hexdigit())
        || port.len() != 4
    {
        return None;
    }
    let port = u16::from_str_radix(port, 16).ok()?;
    let words = (0..addr.len() / 8).map(|i| u32::from_str_radix(&addr[8 * i..8 * i + 8], 16));
    let bytes: Vec<u8> = words
        .map(|w| w.map(u32::to_ne_bytes))
        .collect::<Result<Vec<_>, _>>()
        .ok()?
        .concat();
    let ip = match (addr.len(), bytes.len()) {
        (8, 4) => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        (32, 16) => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The record of connections: one "local remote" pair a line ("192.168.48.200:2049
/// 192.168.48.10:872", "[2001:db8::200]:2049 [2001:db8::10]:872").
pub fn format_list(conns: &[Conn]) -> String {
    conns.iter().fold(String::new(), |mut s, c| {
        let _ = writeln!(s, "{} {}", c.local, c.remote);
        s
    })
}

/// A record written by [`format_list`]; lines that are not a pair of socket addresses of the
/// same family are skipped (the file lives on storage others may write).
pub fn parse_list(text: &str) -> Vec<Conn> {
    text.lines()
        .filter_map(|line| {
            let (l, r) = line.trim().split_once(' ')?;
            let (local, remote) = (l.parse::<SocketAddr>().ok()?, r.trim().parse().ok()?);
            (local.is_ipv4() == SocketAddr::is_ipv4(&remote)).then_some(Conn { local, remote })
        })
        .collect()
}

/// The tickle: a bare ACK with sequence and acknowledgement numbers 0 from the connection's
/// local end to its remote end, checksummed (a raw socket leaves that to us).
pub fn tickle_segment(c: &Conn) -> [u8; 20] {
    let mut seg = [0u8; 20];
    seg[0..2].copy_from_slice(&c.local.port().to_be_bytes());
    seg[2..4].copy_from_slice(&c.remote.port().to_be_bytes());
    seg[12] = 5 << 4; // data offset: 5 words, no options
    seg[13] = 0x10; // ACK
    seg[14..16].copy_from_slice(&1234u16.to_be_bytes()); // window, as tickle_tcp
    let mut pseudo = Vec::with_capacity(40);
    match (c.local.ip(), c.remote.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&[0, libc_tcp(), 0, seg.len() as u8]);
        }
        (s, d) => {
            pseudo.extend_from_slice(&v6_octets(s));
            pseudo.extend_from_slice(&v6_octets(d));
            pseudo.extend_from_slice(&(seg.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, libc_tcp()]);
        }
    }
    pseudo.extend_from_slice(&seg);
    seg[16..18].copy_from_slice(&internet_checksum(&pseudo).to_be_bytes());
    seg
}

fn libc_tcp() -> u8 {
    nix::libc::IPPROTO_TCP as u8
}

fn v6_octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

/// RFC 1071: the ones' complement of the ones' complement sum of the 16-bit words.
fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Send a tickle to each of `conns` whose local address is `local`, `rounds` times `gap`
/// apart (a client answers at most one out-of-window segment per `tcp_invalid_ratelimit`,
/// 500 ms by default, and the first round may reach it before its neighbour cache has the
/// address's new hardware address), within the deadline. `scope_id`: the interface of a
/// link-local IPv6 address. Returns how many segments were sent.
pub fn tickle(
    local: IpAddr,
    scope_id: u32,
    conns: &[Conn],
    rounds: u32,
    gap: Duration,
    deadline: &Deadline,
) -> Result<u32> {
    let conns: Vec<&Conn> = conns.iter().filter(|c| c.local.ip() == local).collect();
    if conns.is_empty() {
        return Ok(0);
    }
    let sock = RawTcp::open(local, scope_id)?;
    let (mut sent, mut failed) = (0, None);
    for round in 0..rounds {
        if round > 0 && (deadline.remaining() < gap || !deadline.sleep(gap)) {
            break;
        }
        for c in &conns {
            match sock.send(c) {
                Ok(()) => sent += 1,
                Err(e) => failed = Some(e),
            }
        }
    }
    match failed {
        Some(e) if sent == 0 => Err(e),
        _ => Ok(sent),
    }
}

/// A raw TCP socket bound to the address the tickles come from.
struct RawTcp {
    fd: OwnedFd,
    scope_id: u32,
}

impl RawTcp {
    fn open(local: IpAddr, scope_id: u32) -> Result<RawTcp> {
        let family = match local {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        let fd = socket(
            family,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::Tcp,
        )
        .context("cannot open a raw TCP socket")?;
        let bound = match local {
            IpAddr::V4(a) => bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(a, 0))),
            IpAddr::V6(a) => bind(
                fd.as_raw_fd(),
                &SockaddrIn6::from(SocketAddrV6::new(a, 0, 0, scope_id)),
            ),
        };
        bound.with_context(|| format!("cannot send from {local}"))?;
        Ok(RawTcp { fd, scope_id })
    }

    fn send(&self, c: &Conn) -> Result<()> {
        let seg = tickle_segment(c);
        // The port of a raw socket's destination is the protocol or 0: 0.
        let r = match c.remote.ip() {
            IpAddr::V4(a) => self.send_to(&seg, &SockaddrIn::from(SocketAddrV4::new(a, 0))),
            IpAddr::V6(a) => self.send_to(
                &seg,
                &SockaddrIn6::from(SocketAddrV6::new(a, 0, 0, self.scope_id)),
            ),
        };
        r.with_context(|| format!("cannot send a tickle ACK to {}", c.remote))
    }

    fn send_to(&self, seg: &[u8], to: &dyn SockaddrLike) -> Result<()> {
        let n = sendto(self.fd.as_raw_fd(), seg, to, MsgFlags::empty())?;
        if n != seg.len() {
            bail!("sent {n} of {} bytes", seg.len());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = include_str!("../../tests/fixtures/net/proc-net-tcp");
    const TCP6: &str = include_str!("../../tests/fixtures/net/proc-net-tcp6");

    fn conn(local: &str, remote: &str) -> Conn {
        Conn {
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
        }
    }

    #[test]
    fn reads_established_connections_of_both_families() {
        // The listeners (st 0A) are not connections; both ends of each connection are here.
        assert_eq!(
            parse_proc_net_tcp(TCP),
            [
                conn("192.168.48.200:2049", "192.168.48.10:48055"),
                conn("192.168.48.200:2049", "192.168.48.10:39073"),
                conn("192.168.48.10:39073", "192.168.48.200:2049"),
                conn("192.168.48.10:48055", "192.168.48.200:2049"),
            ]
        );
        assert_eq!(
            parse_proc_net_tcp(TCP6),
            [
                conn("[2001:db8::200]:2049", "[2001:db8::10]:48807"),
                conn("[2001:db8::200]:2049", "[2001:db8::10]:58369"),
                conn("[2001:db8::10]:48807", "[2001:db8::200]:2049"),
                conn("[2001:db8::10]:58369", "[2001:db8::200]:2049"),
            ]
        );
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "C830A8C0",
            "C830A8C:0801",
            "C830A8C0:801",
            "C830A8C0:08011",
            "+830A8C0:0801",
            "C830A8C0C830A8C0:0801",
            "ÄÄ30A8C0:0801",
        ] {
            assert_eq!(hex_sockaddr(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_record_reads_back_and_skips_what_is_not_a_pair() {
        let conns = [
            conn("192.168.48.200:2049", "192.168.48.10:872"),
            conn("[2001:db8::200]:2049", "[fe80::1]:700"),
        ];
        let text = format_list(&conns);
        assert_eq!(
            text,
            "192.168.48.200:2049 192.168.48.10:872\n[2001:db8::200]:2049 [fe80::1]:700\n"
        );
        assert_eq!(parse_list(&text), conns);
        let junk = format!("{text}garbage\n192.168.48.200:2049 [::1]:1\n1.2.3.4:5\n\n");
        assert_eq!(parse_list(&junk), conns);
    }

    #[test]
    fn the_segment_is_an_ack_with_the_checksum_computed_independently() {
        // Expected bytes from a separate implementation (Python's struct, RFC 793/1071).
        let v4 = tickle_segment(&conn("192.168.48.200:2049", "192.168.48.10:48055"));
        assert_eq!(hex(&v4), "0801bbb70000000000000000501004d205270000");
        let v6 = tickle_segment(&conn("[2001:db8::200]:2049", "[2001:db8::10]:48807"));
        assert_eq!(hex(&v6), "0801bea70000000000000000501004d286d80000");
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
