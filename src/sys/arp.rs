//! Telling the neighbours that an address moved, and asking whether it is in use, without the
//! send_arp / send_ua / arping helpers: gratuitous ARP and ARP probes through an AF_PACKET
//! socket, unsolicited neighbour advertisements through an ICMPv6 raw socket.

use crate::ocf::Deadline;
use anyhow::{bail, Context, Result};
use nix::libc;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

const ETH_P_ARP: u16 = 0x0806;
const ARPHRD_ETHER: u16 = 1;
const ETH_P_IP: u16 = 0x0800;
pub const ARPOP_REQUEST: u16 = 1;
pub const ARPOP_REPLY: u16 = 2;
const BROADCAST: [u8; 6] = [0xff; 6];

/// An Ethernet/IPv4 ARP packet (RFC 826), without the Ethernet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpPacket {
    pub op: u16,
    pub sha: [u8; 6],
    pub spa: Ipv4Addr,
    pub tha: [u8; 6],
    pub tpa: Ipv4Addr,
}

impl ArpPacket {
    /// Gratuitous ARP as the kernel's own arp_notify sends it: a request for our own address,
    /// which every neighbour that has the address cached updates its entry from.
    pub fn gratuitous(mac: [u8; 6], ip: Ipv4Addr) -> ArpPacket {
        ArpPacket {
            op: ARPOP_REQUEST,
            sha: mac,
            spa: ip,
            tha: [0; 6],
            tpa: ip,
        }
    }

    /// An ARP probe (RFC 5227): sender address 0.0.0.0 so that no neighbour's cache changes;
    /// a host that has the address answers it.
    pub fn probe(mac: [u8; 6], ip: Ipv4Addr) -> ArpPacket {
        ArpPacket {
            op: ARPOP_REQUEST,
            sha: mac,
            spa: Ipv4Addr::UNSPECIFIED,
            tha: [0; 6],
            tpa: ip,
        }
    }

    pub fn encode(&self) -> [u8; 28] {
        let mut p = [0u8; 28];
        p[0..2].copy_from_slice(&ARPHRD_ETHER.to_be_bytes());
        p[2..4].copy_from_slice(&ETH_P_IP.to_be_bytes());
        p[4] = 6;
        p[5] = 4;
        p[6..8].copy_from_slice(&self.op.to_be_bytes());
        p[8..14].copy_from_slice(&self.sha);
        p[14..18].copy_from_slice(&self.spa.octets());
        p[18..24].copy_from_slice(&self.tha);
        p[24..28].copy_from_slice(&self.tpa.octets());
        p
    }

    pub fn parse(p: &[u8]) -> Option<ArpPacket> {
        if p.len() < 28
            || p[0..2] != ARPHRD_ETHER.to_be_bytes()
            || p[2..4] != ETH_P_IP.to_be_bytes()
            || p[4] != 6
            || p[5] != 4
        {
            return None;
        }
        let ip = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
        Some(ArpPacket {
            op: u16::from_be_bytes([p[6], p[7]]),
            sha: p[8..14].try_into().ok()?,
            spa: ip(&p[14..18]),
            tha: p[18..24].try_into().ok()?,
            tpa: ip(&p[24..28]),
        })
    }
}

/// An unsolicited neighbour advertisement (RFC 4861 4.4) for `target`: Override set so that
/// neighbours replace a cached link-layer address, Solicited clear, with the Target Link-Layer
/// Address option. The checksum is left 0: the kernel computes it for ICMPv6 raw sockets.
pub fn unsolicited_na(target: Ipv6Addr, mac: [u8; 6]) -> [u8; 32] {
    let mut p = [0u8; 32];
    p[0] = 136; // Neighbor Advertisement
    p[4] = 0x20; // R=0 S=0 O=1
    p[8..24].copy_from_slice(&target.octets());
    p[24] = 2; // Target Link-Layer Address
    p[25] = 1; // length in units of 8 bytes
    p[26..32].copy_from_slice(&mac);
    p
}

fn sockaddr_ll(ifindex: u32, protocol: u16, dst: [u8; 6]) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = protocol.to_be();
    sa.sll_ifindex = ifindex as i32;
    sa.sll_halen = 6;
    sa.sll_addr[..6].copy_from_slice(&dst);
    sa
}

fn cvt(r: libc::c_int, what: &str) -> Result<libc::c_int> {
    if r < 0 {
        return Err(std::io::Error::last_os_error()).context(what.to_owned());
    }
    Ok(r)
}

/// An AF_PACKET datagram socket for ARP on one interface: the kernel adds the Ethernet header
/// (source = the interface's address).
struct ArpSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl ArpSocket {
    fn open(ifindex: u32) -> Result<ArpSocket> {
        // SAFETY: plain socket(2); the descriptor is owned below.
        let fd = cvt(
            unsafe {
                libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                    ETH_P_ARP.to_be() as libc::c_int,
                )
            },
            "cannot open a packet socket for ARP",
        )?;
        // SAFETY: fresh descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let sa = sockaddr_ll(ifindex, ETH_P_ARP, [0; 6]);
        // Bound to the interface: only its ARP traffic is received.
        // SAFETY: valid sockaddr_ll and length.
        cvt(
            unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    &sa as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            },
            "cannot bind the ARP socket to the interface",
        )?;
        Ok(ArpSocket { fd, ifindex })
    }

    fn send(&self, pkt: &ArpPacket) -> Result<()> {
        let sa = sockaddr_ll(self.ifindex, ETH_P_ARP, BROADCAST);
        let data = pkt.encode();
        // SAFETY: valid buffer and sockaddr.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                data.as_ptr() as *const libc::c_void,
                data.len(),
                0,
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error()).context("cannot send ARP packet");
        }
        Ok(())
    }

    /// The next ARP packet received within `timeout`, skipping what is not ARP over Ethernet.
    fn recv(&self, timeout: Duration) -> Result<Option<ArpPacket>> {
        let end = Instant::now() + timeout;
        let mut buf = [0u8; 128];
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as libc::c_int) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).context("waiting for ARP replies");
            }
            if r == 0 {
                return Ok(None);
            }
            // SAFETY: buf is valid for its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                continue;
            }
            if let Some(p) = ArpPacket::parse(&buf[..n as usize]) {
                return Ok(Some(p));
            }
        }
    }
}

/// Send `count` gratuitous ARPs for `ip`, `interval` apart, within the deadline.
/// Returns how many were sent.
pub fn send_gratuitous_arp(
    ifindex: u32,
    mac: [u8; 6],
    ip: Ipv4Addr,
    count: u32,
    interval: Duration,
    deadline: &Deadline,
) -> Result<u32> {
    let sock = ArpSocket::open(ifindex)?;
    let pkt = ArpPacket::gratuitous(mac, ip);
    let mut sent = 0;
    for i in 0..count {
        if i > 0 && (deadline.remaining() < interval || !deadline.sleep(interval)) {
            break;
        }
        sock.send(&pkt)?;
        sent += 1;
    }
    Ok(sent)
}

/// Duplicate address detection for IPv4 (what `arping -D` does): send `probes` ARP probes one
/// second apart and listen for `window` in all. Returns the hardware address of another host
/// that claims `ip` (answering a probe, or probing or announcing it itself), if any.
pub fn probe_in_use(
    ifindex: u32,
    mac: [u8; 6],
    ip: Ipv4Addr,
    probes: u32,
    window: Duration,
) -> Result<Option<[u8; 6]>> {
    let sock = ArpSocket::open(ifindex)?;
    let probe = ArpPacket::probe(mac, ip);
    let start = Instant::now();
    let end = start + window;
    let mut sent = 0;
    loop {
        let now = Instant::now();
        if now >= end {
            return Ok(None);
        }
        let next_probe = start + Duration::from_secs(sent as u64);
        if sent < probes && now >= next_probe {
            sock.send(&probe)?;
            sent += 1;
            continue;
        }
        let until = if sent < probes {
            next_probe.min(end)
        } else {
            end
        };
        if let Some(p) = sock.recv(until.saturating_duration_since(now))? {
            let claims =
                p.spa == ip || (p.spa.is_unspecified() && p.tpa == ip && p.op == ARPOP_REQUEST);
            if claims && p.sha != mac {
                return Ok(Some(p.sha));
            }
        }
    }
}

/// Send `count` unsolicited neighbour advertisements for `ip` to all nodes (ff02::1) on the
/// interface, `interval` apart, from `ip` itself. The address must have completed DAD: the
/// kernel does not let a tentative address be used as a source.
pub fn send_unsolicited_na(
    ifindex: u32,
    mac: [u8; 6],
    ip: Ipv6Addr,
    count: u32,
    interval: Duration,
    deadline: &Deadline,
) -> Result<u32> {
    // SAFETY: plain socket(2).
    let fd = cvt(
        unsafe {
            libc::socket(
                libc::AF_INET6,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::IPPROTO_ICMPV6,
            )
        },
        "cannot open an ICMPv6 socket",
    )?;
    // SAFETY: fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let hops: libc::c_int = 255; // RFC 4861: receivers drop ND packets with another hop limit
    let idx = ifindex as libc::c_int;
    for (opt, v) in [
        (libc::IPV6_MULTICAST_HOPS, hops),
        (libc::IPV6_UNICAST_HOPS, hops),
        (libc::IPV6_MULTICAST_IF, idx),
    ] {
        // SAFETY: valid int option.
        cvt(
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::IPPROTO_IPV6,
                    opt,
                    &v as *const _ as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            },
            "cannot set ICMPv6 socket options",
        )?;
    }
    let link_local = ip.segments()[0] & 0xffc0 == 0xfe80;
    let src = sockaddr_in6(ip, if link_local { ifindex } else { 0 });
    // SAFETY: valid sockaddr_in6.
    cvt(
        unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &src as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        },
        &format!("cannot send from {ip} (is it still tentative?)"),
    )?;
    let dst = sockaddr_in6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1), ifindex);
    let pkt = unsolicited_na(ip, mac);
    let mut sent = 0;
    for i in 0..count {
        if i > 0 && (deadline.remaining() < interval || !deadline.sleep(interval)) {
            break;
        }
        // SAFETY: valid buffer and sockaddr.
        let n = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                pkt.as_ptr() as *const libc::c_void,
                pkt.len(),
                0,
                &dst as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if sent == 0 {
                return Err(e).context("cannot send neighbour advertisement");
            }
            bail!("sending neighbour advertisement {}: {e}", i + 1);
        }
        sent += 1;
    }
    Ok(sent)
}

fn sockaddr_in6(ip: Ipv6Addr, scope_id: u32) -> libc::sockaddr_in6 {
    // SAFETY: plain data; all-zero is valid.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr.s6_addr = ip.octets();
    sa.sin6_scope_id = scope_id;
    sa
}

/// A MAC address as `ip link` prints it.
pub fn fmt_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gratuitous_arp_matches_what_the_kernel_sends() {
        // The ARP part of the kernel's own gratuitous ARP (arp_notify) for 192.0.2.10 from
        // 02:00:00:00:00:01, captured on the peer of a veth pair.
        let kernel = [
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
            192, 0, 2, 10, 0, 0, 0, 0, 0, 0, 192, 0, 2, 10,
        ];
        let p = ArpPacket::gratuitous([2, 0, 0, 0, 0, 1], Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(p.encode(), kernel);
        assert_eq!(ArpPacket::parse(&kernel), Some(p));
    }

    #[test]
    fn probe_has_no_sender_address() {
        let p = ArpPacket::probe([2, 0, 0, 0, 0, 1], Ipv4Addr::new(192, 0, 2, 10));
        let b = p.encode();
        assert_eq!(&b[14..18], &[0, 0, 0, 0]);
        assert_eq!(&b[24..28], &[192, 0, 2, 10]);
        assert_eq!(ArpPacket::parse(&b).unwrap().op, ARPOP_REQUEST);
        assert_eq!(ArpPacket::parse(&b[..27]), None);
        let mut not_ipv4 = b;
        not_ipv4[3] = 0xdd;
        assert_eq!(ArpPacket::parse(&not_ipv4), None);
    }

    #[test]
    fn neighbour_advertisement_layout() {
        let ip: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let p = unsolicited_na(ip, [2, 0, 0, 0, 0, 1]);
        assert_eq!(p[0], 136);
        assert_eq!(p[4] & 0xe0, 0x20, "override only");
        assert_eq!(&p[8..24], &ip.octets());
        assert_eq!(&p[24..32], &[2, 1, 2, 0, 0, 0, 0, 1]);
    }
}
