//! A small NETLINK_ROUTE client: links, addresses and routes, the way `ip` talks to the kernel
//! but without spawning it. One socket per action; every request is answered synchronously by
//! the kernel, so a handful of round trips replace several `ip` processes.
//!
//! Messages are encoded and decoded by hand (they are a few fixed headers and type-length-value
//! attributes); the unit tests check both directions against bytes captured from the kernel and
//! from iproute2.

use anyhow::{bail, Context, Result};
use nix::libc;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// Message types and flags (linux/netlink.h, linux/rtnetlink.h).
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTM_NEWADDRLABEL: u16 = 72;
const RTM_DELADDRLABEL: u16 = 73;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
/// In an NLMSG_ERROR reply: extended-ack attributes follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// In an NLMSG_ERROR reply: the echoed request was cut to its header.
const NLM_F_CAPPED: u16 = 0x100;
const NLMSGERR_ATTR_MSG: u16 = 1;

const SOL_NETLINK: libc::c_int = 270;
const NETLINK_EXT_ACK: libc::c_int = 11;
const NETLINK_GET_STRICT_CHK: libc::c_int = 12;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_EXT_MASK: u16 = 29;
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
const IFA_CACHEINFO: u16 = 6;
const IFA_FLAGS: u16 = 8;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_VIA: u16 = 18;

const IFAL_ADDRESS: u16 = 1;
const IFAL_LABEL: u16 = 2;

pub const IFF_UP: u32 = 0x1;
pub const IFF_LOOPBACK: u32 = 0x8;
pub const IFF_NOARP: u32 = 0x80;
pub const IFF_LOWER_UP: u32 = 0x10000;
pub const ARPHRD_ETHER: u16 = 1;

pub const IFA_F_NODAD: u32 = 0x02;
pub const IFA_F_DADFAILED: u32 = 0x08;
pub const IFA_F_TENTATIVE: u32 = 0x40;
pub const IFA_F_NOPREFIXROUTE: u32 = 0x200;
/// IFA_CACHEINFO's value for "forever".
pub const INFINITY_LIFE_TIME: u32 = u32::MAX;

pub const RT_TABLE_MAIN: u32 = 254;
pub const RT_TABLE_LOCAL: u32 = 255;
pub const RTN_UNICAST: u8 = 1;
pub const RTN_LOCAL: u8 = 2;
pub const RT_SCOPE_LINK: u8 = 253;
pub const RT_SCOPE_HOST: u8 = 254;

/// The address families this client deals in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: &IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
    fn af(self) -> u8 {
        match self {
            Family::V4 => libc::AF_INET as u8,
            Family::V6 => libc::AF_INET6 as u8,
        }
    }
    pub fn max_prefix(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// A network interface (RTM_NEWLINK).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// IFF_* flags.
    pub flags: u32,
    /// ARPHRD_* hardware type.
    pub hw_type: u16,
    pub operstate: u8,
    pub mac: Vec<u8>,
}

impl Link {
    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }
    /// The driver reports carrier (IFF_LOWER_UP): what `ip link` shows as LOWER_UP.
    pub fn has_carrier(&self) -> bool {
        self.flags & IFF_LOWER_UP != 0
    }
    pub fn is_loopback(&self) -> bool {
        self.flags & IFF_LOOPBACK != 0
    }
    /// An Ethernet-like link that speaks ARP, with a 6-byte hardware address.
    pub fn ethernet_mac(&self) -> Option<[u8; 6]> {
        if self.hw_type != ARPHRD_ETHER || self.flags & IFF_NOARP != 0 {
            return None;
        }
        self.mac.as_slice().try_into().ok()
    }
}

/// An interface address (RTM_NEWADDR).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub prefix: u8,
    pub scope: u8,
    /// IFA_F_* flags (from IFA_FLAGS when present: the header only has 8 bits).
    pub flags: u32,
    /// The address itself: IFA_LOCAL, or IFA_ADDRESS when there is no peer.
    pub ip: IpAddr,
    pub label: Option<String>,
    pub broadcast: Option<Ipv4Addr>,
    /// Preferred and valid lifetimes in seconds (INFINITY_LIFE_TIME = forever).
    pub preferred_lft: Option<u32>,
    pub valid_lft: Option<u32>,
}

/// A route (RTM_NEWROUTE), as far as finding an interface for an address needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub family: Family,
    pub dst: IpAddr,
    pub dst_len: u8,
    pub table: u32,
    pub protocol: u8,
    pub scope: u8,
    pub kind: u8,
    pub oif: Option<u32>,
    pub gateway: Option<IpAddr>,
    pub multipath: bool,
    pub priority: u32,
    pub prefsrc: Option<IpAddr>,
}

/// What to add: `ip addr add IP/PREFIX [brd B] dev INDEX [label L] [nodad] [noprefixroute]
/// [preferred_lft N]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAddr {
    pub ip: IpAddr,
    pub prefix: u8,
    pub index: u32,
    pub label: Option<String>,
    pub broadcast: Option<Ipv4Addr>,
    /// IFA_F_NODAD / IFA_F_NOPREFIXROUTE.
    pub flags: u32,
    /// Seconds; None leaves the lifetimes at forever (no IFA_CACHEINFO).
    pub preferred_lft: Option<u32>,
}

/// An error the kernel answered with: the errno and, with extended ack, its own words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetlinkError {
    pub errno: i32,
    pub message: Option<String>,
}

impl NetlinkError {
    pub fn is(&self, errno: i32) -> bool {
        self.errno == errno
    }
}

impl fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let desc = nix::errno::Errno::from_raw(self.errno).desc();
        match &self.message {
            Some(m) => write!(f, "{m} ({desc})"),
            None => f.write_str(desc),
        }
    }
}

impl std::error::Error for NetlinkError {}

/// Builds one netlink message: header, fixed family header, attributes.
struct MsgBuilder {
    buf: Vec<u8>,
}

impl MsgBuilder {
    fn new(ty: u16, flags: u16, seq: u32) -> MsgBuilder {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by finish()
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
        MsgBuilder { buf }
    }

    fn raw(mut self, bytes: &[u8]) -> MsgBuilder {
        self.buf.extend_from_slice(bytes);
        self
    }

    fn attr(mut self, ty: u16, data: &[u8]) -> MsgBuilder {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    fn attr_u32(self, ty: u16, v: u32) -> MsgBuilder {
        self.attr(ty, &v.to_ne_bytes())
    }

    fn attr_str(self, ty: u16, s: &str) -> MsgBuilder {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(ty, &v)
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// ifaddrmsg: family, prefix length, flags, scope, interface index.
fn ifaddrmsg(family: Family, prefix: u8, index: u32) -> [u8; 8] {
    let mut h = [0u8; 8];
    h[0] = family.af();
    h[1] = prefix;
    h[4..].copy_from_slice(&index.to_ne_bytes());
    h
}

/// RTM_NEWADDR, attribute for attribute as iproute2 sends it.
pub fn encode_new_addr(a: &NewAddr, seq: u32) -> Vec<u8> {
    let family = Family::of(&a.ip);
    let ip = ip_bytes(&a.ip);
    let mut m = MsgBuilder::new(
        RTM_NEWADDR,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE,
        seq,
    )
    .raw(&{
        let mut h = ifaddrmsg(family, a.prefix, a.index);
        // iproute2's default scope: host for 127.0.0.0/8 (the kernel refuses universe there).
        if matches!(a.ip, IpAddr::V4(v4) if v4.is_loopback()) {
            h[3] = RT_SCOPE_HOST;
        }
        h
    })
    .attr(IFA_LOCAL, &ip);
    if let Some(label) = &a.label {
        m = m.attr_str(IFA_LABEL, label);
    }
    if a.flags != 0 {
        m = m.attr_u32(IFA_FLAGS, a.flags);
    }
    m = m.attr(IFA_ADDRESS, &ip);
    if let Some(b) = a.broadcast {
        m = m.attr(IFA_BROADCAST, &b.octets());
    }
    if let Some(pref) = a.preferred_lft {
        // struct ifa_cacheinfo { prefered, valid, cstamp, tstamp }
        let mut ci = Vec::with_capacity(16);
        ci.extend_from_slice(&pref.to_ne_bytes());
        ci.extend_from_slice(&INFINITY_LIFE_TIME.to_ne_bytes());
        ci.extend_from_slice(&[0u8; 8]);
        m = m.attr(IFA_CACHEINFO, &ci);
    }
    m.finish()
}

/// RTM_DELADDR of exactly IP/PREFIX on the interface.
pub fn encode_del_addr(ip: &IpAddr, prefix: u8, index: u32, seq: u32) -> Vec<u8> {
    let b = ip_bytes(ip);
    MsgBuilder::new(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, seq)
        .raw(&ifaddrmsg(Family::of(ip), prefix, index))
        .attr(IFA_LOCAL, &b)
        .attr(IFA_ADDRESS, &b)
        .finish()
}

/// One message of a reply.
#[derive(Debug)]
pub struct NlMsg<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// Split a datagram into its messages.
pub fn split_messages(mut buf: &[u8]) -> Result<Vec<NlMsg<'_>>> {
    let mut out = Vec::new();
    while buf.len() >= 16 {
        let len = u32::from_ne_bytes(buf[0..4].try_into().unwrap()) as usize;
        if len < 16 || len > buf.len() {
            bail!(
                "malformed netlink message (length {len} of {} bytes)",
                buf.len()
            );
        }
        out.push(NlMsg {
            ty: u16::from_ne_bytes(buf[4..6].try_into().unwrap()),
            flags: u16::from_ne_bytes(buf[6..8].try_into().unwrap()),
            seq: u32::from_ne_bytes(buf[8..12].try_into().unwrap()),
            payload: &buf[16..len],
        });
        buf = &buf[align4(len).min(buf.len())..];
    }
    Ok(out)
}

/// The attributes following a fixed header, as (type, value); nested/byte-order bits masked.
pub fn attrs(mut buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            break;
        }
        out.push((ty, &buf[4..len]));
        buf = &buf[align4(len).min(buf.len())..];
    }
    out
}

fn u32_of(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

fn str_of(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

fn ip_of(family: Family, v: &[u8]) -> Option<IpAddr> {
    match family {
        Family::V4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?))),
        Family::V6 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(v).ok()?))),
    }
}

fn family_of(af: u8) -> Option<Family> {
    match af as i32 {
        libc::AF_INET => Some(Family::V4),
        libc::AF_INET6 => Some(Family::V6),
        _ => None,
    }
}

/// The errno of an NLMSG_ERROR (0 is an acknowledgement), with the extended-ack message.
pub fn decode_error(m: &NlMsg) -> Result<Option<NetlinkError>> {
    let raw = m.payload.get(..4).context("short netlink error message")?;
    let errno = -i32::from_ne_bytes(raw.try_into().unwrap());
    if errno == 0 {
        return Ok(None);
    }
    let mut message = None;
    if m.flags & NLM_F_ACK_TLVS != 0 {
        // The echoed request: its header only when capped, else the whole request.
        let echoed = if m.flags & NLM_F_CAPPED != 0 {
            16
        } else {
            m.payload
                .get(4..8)
                .map_or(16, |l| u32::from_ne_bytes(l.try_into().unwrap()) as usize)
        };
        if let Some(tlvs) = m.payload.get(4 + align4(echoed)..) {
            message = attrs(tlvs)
                .into_iter()
                .find(|(t, _)| *t == NLMSGERR_ATTR_MSG)
                .map(|(_, v)| str_of(v))
                .filter(|s| !s.is_empty());
        }
    }
    Ok(Some(NetlinkError { errno, message }))
}

pub fn decode_link(payload: &[u8]) -> Result<Link> {
    let h = payload.get(..16).context("short RTM_NEWLINK message")?;
    let mut link = Link {
        index: u32::from_ne_bytes(h[4..8].try_into().unwrap()),
        name: String::new(),
        flags: u32::from_ne_bytes(h[8..12].try_into().unwrap()),
        hw_type: u16::from_ne_bytes(h[2..4].try_into().unwrap()),
        operstate: 0,
        mac: Vec::new(),
    };
    for (ty, v) in attrs(&payload[16..]) {
        match ty {
            IFLA_IFNAME => link.name = str_of(v),
            IFLA_ADDRESS => link.mac = v.to_vec(),
            IFLA_OPERSTATE => link.operstate = v.first().copied().unwrap_or(0),
            _ => {}
        }
    }
    Ok(link)
}

pub fn decode_addr(payload: &[u8]) -> Result<Option<Addr>> {
    let h = payload.get(..8).context("short RTM_NEWADDR message")?;
    let Some(family) = family_of(h[0]) else {
        return Ok(None);
    };
    let mut local = None;
    let mut address = None;
    let mut a = Addr {
        index: u32::from_ne_bytes(h[4..8].try_into().unwrap()),
        prefix: h[1],
        scope: h[3],
        flags: h[2] as u32,
        ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        label: None,
        broadcast: None,
        preferred_lft: None,
        valid_lft: None,
    };
    for (ty, v) in attrs(&payload[8..]) {
        match ty {
            IFA_LOCAL => local = ip_of(family, v),
            IFA_ADDRESS => address = ip_of(family, v),
            IFA_LABEL => a.label = Some(str_of(v)),
            IFA_BROADCAST => {
                if let Some(IpAddr::V4(b)) = ip_of(Family::V4, v) {
                    a.broadcast = Some(b);
                }
            }
            IFA_FLAGS => a.flags = u32_of(v).unwrap_or(a.flags),
            IFA_CACHEINFO => {
                a.preferred_lft = u32_of(v);
                a.valid_lft = v.get(4..).and_then(u32_of);
            }
            _ => {}
        }
    }
    match local.or(address) {
        Some(ip) => a.ip = ip,
        None => return Ok(None),
    }
    Ok(Some(a))
}

pub fn decode_route(payload: &[u8]) -> Result<Option<Route>> {
    let h = payload.get(..12).context("short RTM_NEWROUTE message")?;
    let Some(family) = family_of(h[0]) else {
        return Ok(None);
    };
    let unspecified = match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let mut r = Route {
        family,
        dst: unspecified,
        dst_len: h[1],
        table: h[4] as u32,
        protocol: h[5],
        scope: h[6],
        kind: h[7],
        oif: None,
        gateway: None,
        multipath: false,
        priority: 0,
        prefsrc: None,
    };
    for (ty, v) in attrs(&payload[12..]) {
        match ty {
            RTA_DST => r.dst = ip_of(family, v).unwrap_or(unspecified),
            RTA_OIF => r.oif = u32_of(v),
            RTA_GATEWAY => r.gateway = ip_of(family, v),
            // A gateway of the other family (IPv4 via IPv6): still a gateway.
            RTA_VIA => r.gateway = Some(unspecified),
            RTA_MULTIPATH => r.multipath = true,
            RTA_PRIORITY => r.priority = u32_of(v).unwrap_or(0),
            RTA_PREFSRC => r.prefsrc = ip_of(family, v),
            RTA_TABLE => r.table = u32_of(v).unwrap_or(r.table),
            _ => {}
        }
    }
    Ok(Some(r))
}

/// A NETLINK_ROUTE socket.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
    requests: u32,
}

impl Netlink {
    pub fn open() -> Result<Netlink> {
        // SAFETY: plain socket(2); the returned descriptor is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("cannot open a netlink socket");
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Extended ack: the kernel says in words why it refused. Strict checking: dumps are
        // filtered by the kernel (interface, table) instead of sending everything. Both are
        // optional (older kernels): without them we only lose detail and filter ourselves.
        let _ = setsockopt_int(&fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
        let _ = setsockopt_int(&fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
        // The kernel answers synchronously; a lost reply must not hang the action.
        let tv = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        // SAFETY: valid pointer and length of a timeval.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
        }
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(1);
        Ok(Netlink {
            fd,
            seq,
            buf: vec![0; 64 * 1024],
            requests: 0,
        })
    }

    /// How many requests this socket has sent (monitor's cost shows in debug logs).
    pub fn requests(&self) -> u32 {
        self.requests
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.requests += 1;
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: msg and sa are valid for the given lengths.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr() as *const libc::c_void,
                msg.len(),
                0,
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error()).context("netlink send failed");
        }
        Ok(())
    }

    fn recv(&mut self) -> Result<usize> {
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr() as *mut libc::c_void,
                    self.buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).context("no answer from the kernel over netlink");
            }
            let n = n as usize;
            if n > self.buf.len() {
                // Never with the kernel's dump sizes; grow and ask again rather than misparse.
                self.buf.resize(n.next_power_of_two(), 0);
                bail!("netlink reply of {n} bytes did not fit the buffer");
            }
            return Ok(n);
        }
    }

    /// Send a request that is answered by an acknowledgement.
    fn ack(&mut self, msg: Vec<u8>) -> std::result::Result<(), AckError> {
        let seq = u32::from_ne_bytes(msg[8..12].try_into().unwrap());
        self.send(&msg).map_err(AckError::Io)?;
        loop {
            let n = self.recv().map_err(AckError::Io)?;
            for m in split_messages(&self.buf[..n]).map_err(AckError::Io)? {
                if m.seq != seq || m.ty != NLMSG_ERROR {
                    continue;
                }
                return match decode_error(&m).map_err(AckError::Io)? {
                    None => Ok(()),
                    Some(e) => Err(AckError::Kernel(e)),
                };
            }
        }
    }

    /// Send a dump (or get) request and collect the payloads of the answers of type `want`.
    /// A dump interrupted by a concurrent change is repeated: its content may be inconsistent.
    fn collect(&mut self, msg: Vec<u8>, want: u16) -> std::result::Result<Vec<Vec<u8>>, AckError> {
        let dump = u16::from_ne_bytes(msg[6..8].try_into().unwrap()) & NLM_F_DUMP == NLM_F_DUMP;
        for _ in 0..3 {
            let mut msg = msg.clone();
            let seq = self.next_seq();
            msg[8..12].copy_from_slice(&seq.to_ne_bytes());
            self.send(&msg).map_err(AckError::Io)?;
            let mut out = Vec::new();
            let mut interrupted = false;
            'recv: loop {
                let n = self.recv().map_err(AckError::Io)?;
                for m in split_messages(&self.buf[..n]).map_err(AckError::Io)? {
                    if m.seq != seq {
                        continue;
                    }
                    interrupted |= m.flags & NLM_F_DUMP_INTR != 0;
                    match m.ty {
                        NLMSG_DONE => break 'recv,
                        NLMSG_ERROR => match decode_error(&m).map_err(AckError::Io)? {
                            None => break 'recv,
                            Some(e) => return Err(AckError::Kernel(e)),
                        },
                        t if t == want => {
                            out.push(m.payload.to_vec());
                            if !dump {
                                break 'recv;
                            }
                        }
                        _ => {}
                    }
                }
            }
            if !interrupted {
                return Ok(out);
            }
        }
        Err(AckError::Io(anyhow::anyhow!(
            "netlink dump kept being interrupted by concurrent changes"
        )))
    }

    /// The interface called `name`, or None when there is none.
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<Link>> {
        let msg = MsgBuilder::new(RTM_GETLINK, NLM_F_REQUEST, 0)
            .raw(&[0u8; 16])
            .attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
            .attr_str(IFLA_IFNAME, name)
            .finish();
        self.one_link(msg)
            .with_context(|| format!("cannot look up interface {name}"))
    }

    pub fn link_by_index(&mut self, index: u32) -> Result<Option<Link>> {
        let mut h = [0u8; 16];
        h[4..8].copy_from_slice(&index.to_ne_bytes());
        let msg = MsgBuilder::new(RTM_GETLINK, NLM_F_REQUEST, 0)
            .raw(&h)
            .attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
            .finish();
        self.one_link(msg)
            .with_context(|| format!("cannot look up interface #{index}"))
    }

    fn one_link(&mut self, msg: Vec<u8>) -> Result<Option<Link>> {
        match self.collect(msg, RTM_NEWLINK) {
            Ok(v) => v.first().map(|p| decode_link(p)).transpose(),
            Err(AckError::Kernel(e)) if e.is(libc::ENODEV) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The addresses of one family, of one interface when `index` is given.
    pub fn addrs(&mut self, family: Family, index: Option<u32>) -> Result<Vec<Addr>> {
        let msg = MsgBuilder::new(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 0)
            .raw(&ifaddrmsg(family, 0, index.unwrap_or(0)))
            .finish();
        let mut out = Vec::new();
        for p in self
            .collect(msg, RTM_NEWADDR)
            .map_err(anyhow::Error::from)
            .context("cannot list addresses")?
        {
            if let Some(a) = decode_addr(&p)? {
                // The kernel filters by index with strict checking; older ones send all.
                if index.map_or(true, |i| i == a.index) && Family::of(&a.ip) == family {
                    out.push(a);
                }
            }
        }
        Ok(out)
    }

    /// The routes of one family in one table, through one interface when `oif` is given.
    pub fn routes(&mut self, family: Family, table: u32, oif: Option<u32>) -> Result<Vec<Route>> {
        let mut h = [0u8; 12];
        h[0] = family.af();
        h[4] = if table < 256 { table as u8 } else { 0 };
        let mut m = MsgBuilder::new(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, 0)
            .raw(&h)
            .attr_u32(RTA_TABLE, table);
        if let Some(oif) = oif {
            m = m.attr_u32(RTA_OIF, oif);
        }
        let mut out = Vec::new();
        for p in self
            .collect(m.finish(), RTM_NEWROUTE)
            .map_err(anyhow::Error::from)
            .context("cannot list routes")?
        {
            if let Some(r) = decode_route(&p)? {
                if r.table == table && r.family == family && oif.map_or(true, |o| r.oif == Some(o))
                {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    pub fn add_addr(&mut self, a: &NewAddr) -> std::result::Result<(), AckError> {
        let seq = self.next_seq();
        self.ack(encode_new_addr(a, seq))
    }

    pub fn del_addr(
        &mut self,
        ip: &IpAddr,
        prefix: u8,
        index: u32,
    ) -> std::result::Result<(), AckError> {
        let seq = self.next_seq();
        self.ack(encode_del_addr(ip, prefix, index, seq))
    }

    /// `ip link set INDEX up`.
    pub fn set_up(&mut self, index: u32) -> std::result::Result<(), AckError> {
        let seq = self.next_seq();
        let mut h = [0u8; 16];
        h[4..8].copy_from_slice(&index.to_ne_bytes());
        h[8..12].copy_from_slice(&IFF_UP.to_ne_bytes()); // flags
        h[12..16].copy_from_slice(&IFF_UP.to_ne_bytes()); // change mask
        self.ack(
            MsgBuilder::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq)
                .raw(&h)
                .finish(),
        )
    }

    /// `ip addrlabel add|del prefix IP/128 label VALUE` (RFC 6724 source address selection).
    pub fn addrlabel(
        &mut self,
        add: bool,
        ip: &Ipv6Addr,
        label: u32,
    ) -> std::result::Result<(), AckError> {
        let seq = self.next_seq();
        let (ty, flags) = if add {
            (
                RTM_NEWADDRLABEL,
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            )
        } else {
            (RTM_DELADDRLABEL, NLM_F_REQUEST | NLM_F_ACK)
        };
        // struct ifaddrlblmsg { family, reserved, prefixlen, flags, ifindex, seq }
        let mut h = [0u8; 12];
        h[0] = libc::AF_INET6 as u8;
        h[2] = 128;
        self.ack(
            MsgBuilder::new(ty, flags, seq)
                .raw(&h)
                .attr(IFAL_ADDRESS, &ip.octets())
                .attr_u32(IFAL_LABEL, label)
                .finish(),
        )
    }
}

/// A failed acknowledged request: the kernel refused (with its errno), or the socket failed.
#[derive(Debug)]
pub enum AckError {
    Kernel(NetlinkError),
    Io(anyhow::Error),
}

impl AckError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            AckError::Kernel(e) => Some(e.errno),
            AckError::Io(_) => None,
        }
    }
}

impl fmt::Display for AckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckError::Kernel(e) => e.fmt(f),
            AckError::Io(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for AckError {}

fn setsockopt_int(
    fd: &OwnedFd,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: valid pointer and length of an int.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            &v as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The routes of a captured dump, for other modules' tests.
    pub(crate) fn captured_routes(name: &str) -> Vec<Route> {
        payloads(name, RTM_NEWROUTE)
            .iter()
            .filter_map(|p| decode_route(p).unwrap())
            .collect()
    }

    /// The reply streams in netlink_captures.txt, by section name.
    fn capture(name: &str) -> Vec<u8> {
        let text = include_str!("netlink_captures.txt");
        let mut lines = text.lines();
        while let Some(l) = lines.next() {
            if l.strip_prefix("== ") == Some(name) {
                let hex = lines.next().unwrap().trim();
                return (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
            }
        }
        panic!("no capture {name}");
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn payloads(name: &str, ty: u16) -> Vec<Vec<u8>> {
        let bytes = capture(name);
        let msgs = split_messages(&bytes).unwrap();
        assert_eq!(msgs.last().unwrap().ty, NLMSG_DONE, "{name} ends with DONE");
        msgs.iter()
            .filter(|m| m.ty == ty)
            .map(|m| m.payload.to_vec())
            .collect()
    }

    #[test]
    fn decodes_ipv4_addresses_with_label_broadcast_and_lifetimes() {
        let addrs: Vec<Addr> = payloads("addr4", RTM_NEWADDR)
            .iter()
            .filter_map(|p| decode_addr(p).unwrap())
            .collect();
        assert_eq!(addrs.len(), 2);
        let a = &addrs[0];
        assert_eq!(a.ip, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!((a.prefix, a.index), (24, 2));
        assert_eq!(a.label.as_deref(), Some("fipt0"));
        assert_eq!(a.preferred_lft, Some(INFINITY_LIFE_TIME));
        let vip = &addrs[1];
        assert_eq!(vip.ip, "192.0.2.10".parse::<IpAddr>().unwrap());
        assert_eq!(vip.label.as_deref(), Some("fipt0:vip"));
        assert_eq!(vip.broadcast, Some(Ipv4Addr::new(192, 0, 2, 255)));
        // A second address in the same subnet is a secondary.
        assert_eq!(vip.flags & 0x01, 0x01);
    }

    #[test]
    fn decodes_ipv6_flags_and_preferred_lifetime() {
        let addrs: Vec<Addr> = payloads("addr6", RTM_NEWADDR)
            .iter()
            .filter_map(|p| decode_addr(p).unwrap())
            .collect();
        let find = |ip: &str| {
            addrs
                .iter()
                .find(|a| a.ip == ip.parse::<IpAddr>().unwrap())
                .unwrap_or_else(|| panic!("{ip} in {addrs:?}"))
        };
        let deprecated = find("2001:db8::10");
        assert_eq!(deprecated.prefix, 64);
        assert_eq!(deprecated.preferred_lft, Some(0));
        assert_eq!(deprecated.valid_lft, Some(INFINITY_LIFE_TIME));
        assert_ne!(deprecated.flags & IFA_F_NODAD, 0);
        assert_eq!(deprecated.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED), 0);
        assert_eq!(find("2001:db8::1").preferred_lft, Some(INFINITY_LIFE_TIME));
        assert!(addrs.iter().any(|a| a.scope == RT_SCOPE_LINK));
    }

    #[test]
    fn decodes_routes_of_both_families() {
        let r4: Vec<Route> = payloads("route4", RTM_NEWROUTE)
            .iter()
            .filter_map(|p| decode_route(p).unwrap())
            .collect();
        let subnet = r4.iter().find(|r| r.table == RT_TABLE_MAIN).unwrap();
        assert_eq!(subnet.dst, "192.0.2.0".parse::<IpAddr>().unwrap());
        assert_eq!(subnet.dst_len, 24);
        assert_eq!(
            (subnet.scope, subnet.kind, subnet.oif),
            (RT_SCOPE_LINK, RTN_UNICAST, Some(2))
        );
        assert_eq!(subnet.protocol, 2); // kernel
        assert_eq!(subnet.prefsrc, Some("192.0.2.1".parse().unwrap()));
        assert!(r4
            .iter()
            .any(|r| r.table == RT_TABLE_LOCAL && r.kind == RTN_LOCAL));
        let r6: Vec<Route> = payloads("route6", RTM_NEWROUTE)
            .iter()
            .filter_map(|p| decode_route(p).unwrap())
            .collect();
        let subnet = r6
            .iter()
            .find(|r| r.table == RT_TABLE_MAIN && r.dst == "2001:db8::".parse::<IpAddr>().unwrap())
            .unwrap();
        assert_eq!(
            (subnet.dst_len, subnet.priority, subnet.oif),
            (64, 256, Some(2))
        );
        assert!(subnet.gateway.is_none() && !subnet.multipath);
    }

    #[test]
    fn decodes_a_link() {
        let bytes = capture("link");
        let msgs = split_messages(&bytes).unwrap();
        assert_eq!(msgs.len(), 1);
        let l = decode_link(msgs[0].payload).unwrap();
        assert_eq!(l.name, "fipt0");
        assert_eq!(l.index, 2);
        assert!(l.is_up() && l.has_carrier() && !l.is_loopback());
        assert_eq!(l.operstate, 6); // IF_OPER_UP
        assert_eq!(l.ethernet_mac(), Some([2, 0, 0, 0, 0, 1]));
    }

    #[test]
    fn decodes_an_error_with_its_extended_ack_message() {
        let bytes = capture("exist");
        let msgs = split_messages(&bytes).unwrap();
        let e = decode_error(&msgs[0]).unwrap().unwrap();
        assert_eq!(e.errno, libc::EEXIST);
        assert_eq!(e.message.as_deref(), Some("ipv4: Address already assigned"));
        assert_eq!(
            e.to_string(),
            "ipv4: Address already assigned (File exists)"
        );
    }

    #[test]
    fn encodes_addresses_exactly_as_iproute2_does() {
        // `ip addr add 192.0.2.11/24 brd + dev fipt0 label fipt0:vip`, captured with strace.
        let ip4 = hex(
            "40000000 14000506 ce6c076b 00000000 02180000 02000000 08000200 c000020b
             0e000300 66697074 303a7669 70000000 08000100 c000020b 08000400 c00002ff",
        );
        let a = NewAddr {
            ip: "192.0.2.11".parse().unwrap(),
            prefix: 24,
            index: 2,
            label: Some("fipt0:vip".into()),
            broadcast: Some(Ipv4Addr::new(192, 0, 2, 255)),
            flags: 0,
            preferred_lft: None,
        };
        assert_eq!(encode_new_addr(&a, 0x6b076cce), ip4);
        // `ip -6 addr add 2001:db8::11/64 dev fipt0 nodad noprefixroute preferred_lft 0`.
        let ip6 = hex(
            "5c000000 14000506 ce6c076b 00000000 0a400000 02000000 14000200 20010db8
             00000000 00000000 00000011 08000800 02020000 14000100 20010db8 00000000
             00000000 00000011 14000600 00000000 ffffffff 00000000 00000000",
        );
        let a = NewAddr {
            ip: "2001:db8::11".parse().unwrap(),
            prefix: 64,
            index: 2,
            label: None,
            broadcast: None,
            flags: IFA_F_NODAD | IFA_F_NOPREFIXROUTE,
            preferred_lft: Some(0),
        };
        assert_eq!(encode_new_addr(&a, 0x6b076cce), ip6);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(split_messages(&[0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(decode_addr(&[2, 24]).is_err());
        assert_eq!(attrs(&[9, 0, 1, 0]).len(), 0); // attribute longer than the buffer
    }
}
