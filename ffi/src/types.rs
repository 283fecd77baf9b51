//! Plain C structs for IPVS values, and their conversions to and from the
//! `lvs` model.
//!
//! The structs hold no pointers: C owns them outright, copies them freely
//! and never frees anything in them. Inputs are fields of fixed-width
//! integers and byte arrays only (never Rust enums or `bool`), so every bit
//! pattern C can store is a value this library checks rather than
//! undefined behaviour. Names are fixed `char[LVS_NAME_MAX]` arrays,
//! NUL-terminated UTF-8.

use std::ffi::c_char;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use lvs::{
    AddressFamily, ConnCounts, ConnOrigin, Connection, DaemonRole, Destination, DestinationEntry,
    Forwarding, GueChecksum, HashFlags, Info, Netmask, Persistence, Protocol, Scheduler, Service,
    ServiceEntry, ServiceKey, Stats, SyncDaemon, Thresholds, Timeouts, Tunnel,
};

use crate::error::{Failure, Outcome, finish, lvs_result};

/// `addr.family` of an IPv4 address (`AF_INET`).
pub const LVS_AF_INET: u8 = 2;
/// `addr.family` of an IPv6 address (`AF_INET6`).
pub const LVS_AF_INET6: u8 = 10;

/// `lvs_service_key.protocol` of a TCP service.
pub const LVS_PROTO_TCP: u16 = 6;
/// `lvs_service_key.protocol` of a UDP service.
pub const LVS_PROTO_UDP: u16 = 17;
/// `lvs_service_key.protocol` of an SCTP service.
pub const LVS_PROTO_SCTP: u16 = 132;

/// A buffer of this many bytes always holds the text that
/// `lvs_addr_format` and `lvs_service_key_format` write.
pub const LVS_TEXT_MAX: usize = 80;

/// Size of the name arrays (`scheduler`, `pe_name`), including the NUL:
/// names are at most 15 bytes, as in the kernel.
pub const LVS_NAME_MAX: usize = 16;

/// `lvs_service.flags`: one-packet scheduling (ipvsadm `-o`; UDP and
/// firewall-mark services only).
pub const LVS_SVC_F_ONEPACKET: u32 = 0x0004;
/// `lvs_service.flags`: `sh-fallback` / `mh-fallback` (schedulers sh and mh
/// only): when the hashed destination is unavailable, try another.
pub const LVS_SVC_F_SCHED_FALLBACK: u32 = 0x0008;
/// `lvs_service.flags`: `sh-port` / `mh-port` (schedulers sh and mh only):
/// hash the client's source port too.
pub const LVS_SVC_F_SCHED_PORT: u32 = 0x0010;
const SVC_FLAGS: u32 = LVS_SVC_F_ONEPACKET | LVS_SVC_F_SCHED_FALLBACK | LVS_SVC_F_SCHED_PORT;

/// `lvs_destination.forwarding`: NAT (masquerading, ipvsadm `-m`).
pub const LVS_FWD_MASQ: u32 = 0;
/// `lvs_destination.forwarding`: local node (the destination is this host).
///
/// The kernel hands such packets to this host's own stack unchanged, to
/// the virtual address: the destination's address and port are not used
/// to forward. Neither this library nor the kernel checks that the address
/// is one of the host's (only the namespace knows, and its addresses
/// change over time); give one of the host's addresses so that listings
/// make sense.
pub const LVS_FWD_LOCAL: u32 = 1;
/// `lvs_destination.forwarding`: IP tunnelling (ipvsadm `-i`); see
/// `tun_type`.
pub const LVS_FWD_TUNNEL: u32 = 2;
/// `lvs_destination.forwarding`: direct routing (ipvsadm `-g`).
pub const LVS_FWD_DROUTE: u32 = 3;

/// `lvs_destination.tun_type`: IP-in-IP (the default tunnel).
pub const LVS_TUN_IPIP: u8 = 0;
/// `lvs_destination.tun_type`: Generic UDP Encapsulation to `tun_port`.
pub const LVS_TUN_GUE: u8 = 1;
/// `lvs_destination.tun_type`: GRE.
pub const LVS_TUN_GRE: u8 = 2;

/// Size of `lvs_sync_daemon.interface`, including the NUL: interface names
/// are at most 15 bytes (`IFNAMSIZ`).
pub const LVS_IFNAME_MAX: usize = 16;

/// Size of `lvs_connection.state`, including the NUL: the kernel's state
/// names are at most 17 bytes (`SHUTDOWN_RECEIVED`).
pub const LVS_CONN_STATE_MAX: usize = 32;

/// `lvs_sync_daemon.role` of a master, which sends the state of its
/// connections (`IP_VS_STATE_MASTER`).
pub const LVS_DAEMON_MASTER: u32 = 1;
/// `lvs_sync_daemon.role` of a backup, which receives a master's
/// connections (`IP_VS_STATE_BACKUP`).
pub const LVS_DAEMON_BACKUP: u32 = 2;

/// `lvs_connection.origin`: not reported (`lvs_handle_connections`).
pub const LVS_CONN_ORIGIN_UNKNOWN: u8 = 0;
/// `lvs_connection.origin`: scheduled by this host (`LOCAL`).
pub const LVS_CONN_ORIGIN_LOCAL: u8 = 1;
/// `lvs_connection.origin`: made by this host's backup sync daemon from a
/// master's message (`SYNC`).
pub const LVS_CONN_ORIGIN_SYNC: u8 = 2;
/// `lvs_connection.origin`: a word this version does not know.
pub const LVS_CONN_ORIGIN_OTHER: u8 = 3;

/// `lvs_destination.tun_flags`: checksums (GUE or GRE).
pub const LVS_TUN_F_CSUM: u16 = 0x0001;
/// `lvs_destination.tun_flags`: remote checksum offload (GUE only).
pub const LVS_TUN_F_REMCSUM: u16 = 0x0002;

/// An IP address and port.
///
/// `family` is `LVS_AF_INET` or `LVS_AF_INET6`. `addr` is in network byte
/// order: an IPv4 address fills `addr[0..4]` and the other 12 bytes must
/// be 0. `port` is in host byte order (`80` is port 80). `lvs_addr_parse`
/// fills one from text.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct lvs_addr {
    /// `LVS_AF_INET` or `LVS_AF_INET6`.
    pub family: u8,
    /// The address, network byte order.
    pub addr: [u8; 16],
    /// Reserved (where padding would be): 0. See "No padding" at the top
    /// of lvs.h.
    pub reserved: u8,
    /// The port, host byte order (0: any / same as the service's).
    pub port: u16,
}
castable!(lvs_addr);

/// Identity of a virtual service: a protocol with an address and port, or
/// an address family with a firewall mark.
///
/// - Address service: `protocol` is the IP protocol (`LVS_PROTO_TCP`,
///   `LVS_PROTO_UDP`, `LVS_PROTO_SCTP` or another non-zero number),
///   `addr` the virtual address and port, `fwmark` 0.
/// - Firewall-mark service: `fwmark` is the non-zero mark, `addr.family`
///   the family of the marked packets, and `protocol`, `addr.addr` and
///   `addr.port` are 0.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct lvs_service_key {
    /// Virtual address and port (address services); only `family` for
    /// firewall-mark services.
    pub addr: lvs_addr,
    /// IP protocol number, 1 to 255; 0 for firewall-mark services.
    pub protocol: u16,
    /// Reserved (where padding would be): 0.
    pub reserved: u16,
    /// Firewall mark; 0 for address services.
    pub fwmark: u32,
}
castable!(lvs_service_key);

/// A virtual service's configuration (ipvsadm `-A` / `-E`).
///
/// All-zero fields mean the defaults: scheduler `wlc`, no flags, not
/// persistent, no persistence engine.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct lvs_service {
    /// Identity.
    pub key: lvs_service_key,
    /// Scheduler name, NUL-terminated: "rr", "wrr", "lc", "wlc", "sed",
    /// "nq", "dh", "sh", "mh", "lblc", "lblcr", "fo", "ovf", "twos", "none"
    /// or another module's name (`ip_vs_<name>`); "" means "wlc".
    pub scheduler: [c_char; LVS_NAME_MAX],
    /// `LVS_SVC_F_*` bits; any other bit is an error.
    pub flags: u32,
    /// Persistence timeout in seconds (ipvsadm `-p`); 0: not persistent.
    pub persistence_timeout: u32,
    /// Client netmask of a persistent service (ipvsadm `-M`). IPv4: the
    /// mask as a host-order number (`0xffffff00` for /24), a prefix (ones
    /// then zeros: `0xff00ff00` is `LVS_INVALID_ARGUMENT`); IPv6: a prefix
    /// length, 1 to 128. 0 means the full mask (/32 or /128, ipvsadm's
    /// default), so an IPv4 mask of 0.0.0.0 cannot be set here. Must be 0
    /// when `persistence_timeout` is 0.
    pub persistence_netmask: u32,
    /// Persistence engine (ipvsadm `--pe`), e.g. "sip"; "" for none. Needs
    /// persistence.
    pub pe_name: [c_char; LVS_NAME_MAX],
}
castable!(lvs_service);

impl Default for lvs_service {
    fn default() -> Self {
        lvs_service {
            key: lvs_service_key::default(),
            scheduler: [0; LVS_NAME_MAX],
            flags: 0,
            persistence_timeout: 0,
            persistence_netmask: 0,
            pe_name: [0; LVS_NAME_MAX],
        }
    }
}

/// A real server of a service (ipvsadm `-a` / `-e`).
///
/// Tunnel fields are used with `forwarding == LVS_FWD_TUNNEL` and must be
/// 0 otherwise: `tun_type` `LVS_TUN_IPIP` (with `tun_port` and `tun_flags`
/// 0), `LVS_TUN_GUE` (non-zero `tun_port`; `tun_flags` 0, `LVS_TUN_F_CSUM`
/// or `LVS_TUN_F_REMCSUM`) or `LVS_TUN_GRE` (`tun_port` 0; `tun_flags` 0
/// or `LVS_TUN_F_CSUM`). Read back from the kernel, these fields carry
/// whatever another client set, even values this library refuses to write.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct lvs_destination {
    /// Address and port of the real server (port 0: the service's port).
    pub addr: lvs_addr,
    /// `LVS_FWD_*`.
    pub forwarding: u32,
    /// Weight, 0 to 2147483647; 0 stops new connections. Not defaulted: a
    /// zeroed struct is a quiesced destination.
    pub weight: u32,
    /// Upper connection threshold; 0: none.
    pub upper_threshold: u32,
    /// Lower connection threshold, at most `upper_threshold`; 0: none.
    pub lower_threshold: u32,
    /// `LVS_TUN_*` (tunnel forwarding only).
    pub tun_type: u8,
    /// Reserved (where padding would be): 0.
    pub reserved0: u8,
    /// GUE destination port (GUE only).
    pub tun_port: u16,
    /// `LVS_TUN_F_*` bits (tunnel forwarding only).
    pub tun_flags: u16,
    /// Reserved (where padding would be): 0.
    pub reserved1: u16,
}
castable!(lvs_destination);

/// Traffic counters since creation or the last zeroing, and the kernel's
/// rate estimates (averaged over a few seconds).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct lvs_stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets in (client to server).
    pub in_packets: u64,
    /// Packets out (server to client; NAT only).
    pub out_packets: u64,
    /// Bytes in.
    pub in_bytes: u64,
    /// Bytes out.
    pub out_bytes: u64,
    /// Connections per second.
    pub cps: u64,
    /// Incoming packets per second.
    pub in_pps: u64,
    /// Outgoing packets per second.
    pub out_pps: u64,
    /// Incoming bytes per second.
    pub in_bps: u64,
    /// Outgoing bytes per second.
    pub out_bps: u64,
    /// True when the kernel sent only 32-bit counters (kernels before 4.1),
    /// which wrap at 2^32.
    pub from_32bit: bool,
    /// Reserved (where padding would be): 0.
    pub reserved: [u8; 7],
}
castable!(lvs_stats);

/// Connection counts of a destination.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct lvs_conn_counts {
    /// Established (active) connections.
    pub active: u32,
    /// Other (inactive) connections; every UDP connection counts here.
    pub inactive: u32,
    /// Persistence templates.
    pub persistent: u32,
}

/// A service as read back from the kernel.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct lvs_service_entry {
    /// Counters and rates.
    pub stats: lvs_stats,
    /// Configuration; last, so that it can grow (see "Structs that grow"
    /// at the top of lvs.h).
    pub service: lvs_service,
}
castable!(lvs_service_entry);

/// A destination as read back from the kernel.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct lvs_destination_entry {
    /// Counters and rates.
    pub stats: lvs_stats,
    /// Connection counts.
    pub conns: lvs_conn_counts,
    /// Configuration; last, so that it can grow (see "Structs that grow"
    /// at the top of lvs.h).
    pub destination: lvs_destination,
}
castable!(lvs_destination_entry);

/// Protocol timeouts in seconds (ipvsadm `--set`). Setting: 0 leaves a
/// value unchanged, others must be 1 to 2147483. Reading: 0 means the
/// kernel did not report that value.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct lvs_timeouts {
    /// Established TCP connections.
    pub tcp: u32,
    /// TCP after FIN.
    pub tcp_fin: u32,
    /// UDP.
    pub udp: u32,
}
castable!(lvs_timeouts);

/// IPVS version and connection table size.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct lvs_info {
    /// Major version (the 1 of 1.2.1).
    pub version_major: u8,
    /// Minor version.
    pub version_minor: u8,
    /// Patch level.
    pub version_patch: u8,
    /// Reserved (where padding would be): 0.
    pub reserved: u8,
    /// Size of the connection hash table.
    pub conn_table_size: u32,
}
castable!(lvs_info);

/// A connection synchronisation daemon (ipvsadm `--start-daemon`): what to
/// start with `lvs_daemon_start`, or what `lvs_handle_daemons` reports.
///
/// Starting, 0 in `max_len`, `port`, `ttl` and `group.family` means the
/// kernel's default (1472-byte messages for a master, 1452 with an IPv6
/// group, the interface's MTU less the headers for a backup; port 8848;
/// TTL 1; group 224.0.0.81). Read back, every option the kernel reports is
/// filled in with its effective value (0 only from kernels before 4.3,
/// which report none).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct lvs_sync_daemon {
    /// `LVS_DAEMON_MASTER` or `LVS_DAEMON_BACKUP` (read back: whatever
    /// state number the kernel reports).
    pub role: u32,
    /// The interface the daemon sends or receives on, in the handle's
    /// namespace: 1 to 15 bytes, NUL-terminated.
    pub interface: [c_char; LVS_IFNAME_MAX],
    /// Sync id, 0 to 255: a master stamps it on its messages; a backup
    /// accepts only messages with its own id, or every message when it is
    /// 0.
    pub sync_id: u32,
    /// Multicast group, IPv4 or IPv6 (ipvsadm `--mcast-group`); `family` 0
    /// (all zero) for the default. `group.port` must be 0: the port is
    /// `port`.
    pub group: lvs_addr,
    /// UDP port (ipvsadm `--mcast-port`); 0: the default.
    pub port: u16,
    /// Largest sync message in bytes of UDP payload (ipvsadm
    /// `--sync-maxlen`); 0: the default. A backup needs at least 1024.
    pub max_len: u16,
    /// Multicast TTL or hop limit (ipvsadm `--mcast-ttl`); 0: the default.
    pub ttl: u8,
    /// Reserved (where padding would be): 0.
    pub reserved: [u8; 3],
}
castable!(lvs_sync_daemon);

impl Default for lvs_sync_daemon {
    fn default() -> Self {
        lvs_sync_daemon {
            role: 0,
            interface: [0; LVS_IFNAME_MAX],
            sync_id: 0,
            group: lvs_addr::default(),
            port: 0,
            max_len: 0,
            ttl: 0,
            reserved: [0; 3],
        }
    }
}

/// One entry of the kernel's connection table (ipvsadm `-Lnc`): a
/// connection, or a persistence template (`client.port` 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct lvs_connection {
    /// IP protocol number (`LVS_PROTO_TCP`, ...); 0 for a firewall-mark
    /// template.
    pub protocol: u16,
    /// The client's address and port (port 0 in a template).
    pub client: lvs_addr,
    /// The virtual address and port the client reached (a firewall-mark
    /// template: the mark as an IPv4 address).
    pub virtual_addr: lvs_addr,
    /// The real server; its family may differ from the client's
    /// (tunnels).
    pub destination: lvs_addr,
    /// State as the kernel names it, NUL-terminated: "ESTABLISHED",
    /// "SYN_RECV", "TIME_WAIT", "UDP", "NONE", "ASSURED", SCTP states, ...
    pub state: [c_char; LVS_CONN_STATE_MAX],
    /// Reserved (where padding would be): 0.
    pub reserved0: u16,
    /// Seconds before the entry expires.
    pub expires: u32,
    /// `LVS_CONN_ORIGIN_*`: set by `lvs_handle_connections_with_origin`
    /// only (`LVS_CONN_ORIGIN_UNKNOWN` from `lvs_handle_connections`).
    pub origin: u8,
    /// Persistence engine of the entry (e.g. "sip"), "" for none; from
    /// `lvs_handle_connections` only. Its data (the SIP Call-ID) comes
    /// from `lvs_connection_list_pe_data`.
    pub pe_name: [c_char; LVS_NAME_MAX],
    /// Reserved (where padding would be): 0.
    pub reserved1: [u8; 3],
}
castable!(lvs_connection);

// ----- no padding -----------------------------------------------------------

/// `no_padding!(T { a, b, ... })` fails to compile unless `T`'s size is
/// the sum of its fields' sizes: no padding byte the compiler may leave
/// uninitialised when the library writes a `T` into caller memory (every
/// byte of a written struct is then a field or a reserved field set to 0).
/// List every field.
macro_rules! no_padding {
    ($t:ty { $($f:ident),* $(,)? }) => {
        const _: () = {
            const fn field_size<T, F>(_: fn(&T) -> &F) -> usize {
                std::mem::size_of::<F>()
            }
            assert!(
                std::mem::size_of::<$t>() == 0 $(+ field_size(|v: &$t| &v.$f))*,
                concat!(stringify!($t), " has padding (or a field missing from no_padding!)")
            );
        };
    };
}

no_padding!(lvs_addr {
    family,
    addr,
    reserved,
    port
});
no_padding!(lvs_service_key {
    addr,
    protocol,
    reserved,
    fwmark
});
no_padding!(lvs_service {
    key,
    scheduler,
    flags,
    persistence_timeout,
    persistence_netmask,
    pe_name
});
no_padding!(lvs_destination {
    addr,
    forwarding,
    weight,
    upper_threshold,
    lower_threshold,
    tun_type,
    reserved0,
    tun_port,
    tun_flags,
    reserved1,
});
no_padding!(lvs_stats {
    conns,
    in_packets,
    out_packets,
    in_bytes,
    out_bytes,
    cps,
    in_pps,
    out_pps,
    in_bps,
    out_bps,
    from_32bit,
    reserved,
});
no_padding!(lvs_conn_counts {
    active,
    inactive,
    persistent
});
no_padding!(lvs_service_entry { service, stats });
no_padding!(lvs_destination_entry {
    destination,
    conns,
    stats
});
no_padding!(lvs_timeouts { tcp, tcp_fin, udp });
no_padding!(lvs_info {
    version_major,
    version_minor,
    version_patch,
    reserved,
    conn_table_size
});
no_padding!(lvs_sync_daemon {
    role,
    interface,
    sync_id,
    group,
    port,
    max_len,
    ttl,
    reserved
});
no_padding!(lvs_connection {
    protocol,
    client,
    virtual_addr,
    destination,
    state,
    reserved0,
    expires,
    origin,
    pe_name,
    reserved1,
});

// ----- sized copies ----------------------------------------------------------

// The sizes of the structs that grow in their first layout (0.1): what
// the entry points without a size argument read and write, for ever. When
// a struct grows, its assert below fails: keep the number, drop the
// assert.
/// `lvs_service`, first layout.
pub(crate) const SERVICE_SIZE_V1: usize = 72;
/// `lvs_destination`, first layout.
pub(crate) const DESTINATION_SIZE_V1: usize = 44;
/// `lvs_sync_daemon`, first layout.
pub(crate) const SYNC_DAEMON_SIZE_V1: usize = 52;
/// `lvs_service_entry`, first layout.
pub(crate) const SERVICE_ENTRY_SIZE_V1: usize = 160;
/// `lvs_destination_entry`, first layout.
pub(crate) const DESTINATION_ENTRY_SIZE_V1: usize = 144;
const _: () = assert!(size_of::<lvs_service>() == SERVICE_SIZE_V1);
const _: () = assert!(size_of::<lvs_destination>() == DESTINATION_SIZE_V1);
const _: () = assert!(size_of::<lvs_sync_daemon>() == SYNC_DAEMON_SIZE_V1);
const _: () = assert!(size_of::<lvs_service_entry>() == SERVICE_ENTRY_SIZE_V1);
const _: () = assert!(size_of::<lvs_destination_entry>() == DESTINATION_ENTRY_SIZE_V1);

// SAFETY (each impl): `#[repr(C)]` with no padding (no_padding! above), so
// every byte is initialised and may be copied out.
unsafe impl crate::ffi::AsBytes for lvs_service {}
// SAFETY: as above.
unsafe impl crate::ffi::AsBytes for lvs_destination {}
// SAFETY: as above.
unsafe impl crate::ffi::AsBytes for lvs_sync_daemon {}
// SAFETY: as above (`lvs_stats.from_32bit`, a bool, is copied out only).
unsafe impl crate::ffi::AsBytes for lvs_service_entry {}
// SAFETY: as above.
unsafe impl crate::ffi::AsBytes for lvs_destination_entry {}
// SAFETY (each impl): fields are integers and integer arrays only (with
// the nested lvs_addr and lvs_service_key, likewise), so any bytes are a
// value.
unsafe impl crate::ffi::FromBytes for lvs_service {}
// SAFETY: as above.
unsafe impl crate::ffi::FromBytes for lvs_destination {}
// SAFETY: as above.
unsafe impl crate::ffi::FromBytes for lvs_sync_daemon {}

// ----- conversions ----------------------------------------------------------

fn family_of(family: u8, what: &str) -> Outcome<AddressFamily> {
    match family {
        LVS_AF_INET => Ok(AddressFamily::Inet),
        LVS_AF_INET6 => Ok(AddressFamily::Inet6),
        f => Err(Failure::invalid(
            &format!("{what}.family"),
            format_args!("must be LVS_AF_INET (2) or LVS_AF_INET6 (10), got {f}"),
        )),
    }
}

fn family_number(f: AddressFamily) -> u8 {
    match f {
        AddressFamily::Inet => LVS_AF_INET,
        AddressFamily::Inet6 => LVS_AF_INET6,
    }
}

impl lvs_addr {
    /// The socket address, checked.
    pub(crate) fn socket_addr(&self, what: &str) -> Outcome<SocketAddr> {
        let ip = match family_of(self.family, what)? {
            AddressFamily::Inet => {
                if self.addr[4..].iter().any(|b| *b != 0) {
                    return Err(Failure::invalid(
                        &format!("{what}.addr"),
                        "an IPv4 address fills addr[0..4]; addr[4..16] must be 0",
                    ));
                }
                let [a, b, c, d, ..] = self.addr;
                IpAddr::V4(Ipv4Addr::new(a, b, c, d))
            }
            AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::from(self.addr)),
        };
        Ok(SocketAddr::new(ip, self.port))
    }

    /// The C form of a socket address (IPv6 scope id and flow info, which
    /// IPVS does not have, are dropped).
    pub(crate) fn from_socket(sa: SocketAddr) -> lvs_addr {
        let mut addr = [0u8; 16];
        let family = match sa.ip() {
            IpAddr::V4(v4) => {
                addr[..4].copy_from_slice(&v4.octets());
                LVS_AF_INET
            }
            IpAddr::V6(v6) => {
                addr = v6.octets();
                LVS_AF_INET6
            }
        };
        lvs_addr {
            family,
            addr,
            reserved: 0,
            port: sa.port(),
        }
    }
}

impl lvs_service_key {
    /// The model key. Only the C-level shape is checked here; the handle
    /// validates the rest as it does for Rust callers.
    pub(crate) fn model(&self, what: &str) -> Outcome<ServiceKey> {
        if self.fwmark != 0 {
            let family = family_of(self.addr.family, &format!("{what}.addr"))?;
            if self.protocol != 0 || self.addr.port != 0 || self.addr.addr != [0; 16] {
                return Err(Failure::invalid(
                    what,
                    "a firewall-mark service (fwmark != 0) has protocol, addr.addr and addr.port 0",
                ));
            }
            return Ok(ServiceKey::fwmark(family, self.fwmark));
        }
        if self.protocol == 0 {
            return Err(Failure::invalid(
                what,
                "set protocol (LVS_PROTO_TCP, LVS_PROTO_UDP, LVS_PROTO_SCTP, ...) for an address \
                 service, or fwmark for a firewall-mark service",
            ));
        }
        if self.protocol > 255 {
            return Err(Failure::invalid(
                &format!("{what}.protocol"),
                format_args!(
                    "IP protocol numbers are 1..=255 (the field is 16 bits wide as in the \
                     kernel), got {}",
                    self.protocol
                ),
            ));
        }
        Ok(ServiceKey::Addr {
            protocol: Protocol::from_number(self.protocol),
            addr: self.addr.socket_addr(&format!("{what}.addr"))?,
        })
    }

    pub(crate) fn from_model(key: &ServiceKey) -> Outcome<lvs_service_key> {
        match key {
            ServiceKey::Addr { protocol, addr } => Ok(lvs_service_key {
                addr: lvs_addr::from_socket(*addr),
                protocol: protocol.number(),
                reserved: 0,
                fwmark: 0,
            }),
            ServiceKey::Fwmark { family, mark } => Ok(lvs_service_key {
                addr: lvs_addr {
                    family: family_number(*family),
                    ..lvs_addr::default()
                },
                protocol: 0,
                reserved: 0,
                fwmark: *mark,
            }),
            other => Err(unknown_variant("service key", other)),
        }
    }
}

fn unknown_variant(what: &str, v: &dyn std::fmt::Debug) -> Failure {
    Failure::new(
        lvs_result::LVS_OTHER,
        format!("this version of the C API cannot represent the {what} {v:?}"),
    )
}

/// A name from a `char[N]` field (`LVS_NAME_MAX`, `LVS_IFNAME_MAX`).
pub(crate) fn read_name<const N: usize>(field: &[c_char; N], what: &str) -> Outcome<String> {
    let bytes = field.map(|c| c as u8);
    let Some(end) = bytes.iter().position(|b| *b == 0) else {
        return Err(Failure::invalid(
            what,
            format_args!("not NUL-terminated within its {N} bytes"),
        ));
    };
    String::from_utf8(bytes[..end].to_vec()).map_err(|e| {
        Failure::new(
            lvs_result::LVS_INVALID_UTF8,
            format!("{what} is not valid UTF-8 ({e})"),
        )
    })
}

/// A `char[N]` holding `name` (read from the kernel), zero-padded.
fn write_name<const N: usize>(name: &str, what: &str) -> Outcome<[c_char; N]> {
    if name.len() >= N || name.as_bytes().contains(&0) {
        return Err(Failure::new(
            lvs_result::LVS_DECODE,
            format!("the kernel reported a {what} {name:?} that does not fit {N} bytes with a NUL"),
        ));
    }
    let mut out = [0 as c_char; N];
    for (o, b) in out.iter_mut().zip(name.bytes()) {
        *o = b as c_char;
    }
    Ok(out)
}

impl lvs_service {
    /// The model service (C-level checks only; see
    /// `lvs_service_key::model`).
    pub(crate) fn model(&self, what: &str) -> Outcome<Service> {
        let key = self.key.model(&format!("{what}.key"))?;
        let name = read_name(&self.scheduler, &format!("{what}.scheduler"))?;
        let mut scheduler = if name.is_empty() {
            Scheduler::default()
        } else {
            Scheduler::from_name(&name)?
        };
        if self.flags & !SVC_FLAGS != 0 {
            return Err(Failure::invalid(
                &format!("{what}.flags"),
                format_args!(
                    "unknown bits {:#x}: only LVS_SVC_F_ONEPACKET, LVS_SVC_F_SCHED_FALLBACK and \
                     LVS_SVC_F_SCHED_PORT exist (persistence is persistence_timeout != 0)",
                    self.flags & !SVC_FLAGS
                ),
            ));
        }
        let hash = HashFlags {
            fallback: self.flags & LVS_SVC_F_SCHED_FALLBACK != 0,
            port: self.flags & LVS_SVC_F_SCHED_PORT != 0,
        };
        match &mut scheduler {
            Scheduler::Sh(f) | Scheduler::Mh(f) => *f = hash,
            _ if hash != HashFlags::default() => {
                return Err(Failure::invalid(
                    &format!("{what}.flags"),
                    format_args!(
                        "LVS_SVC_F_SCHED_FALLBACK and LVS_SVC_F_SCHED_PORT apply to the sh and mh \
                         schedulers only, not {:?}",
                        scheduler.name()
                    ),
                ));
            }
            _ => {}
        }
        let mut svc = Service::new(key).with_scheduler(scheduler);
        svc.one_packet = self.flags & LVS_SVC_F_ONEPACKET != 0;
        svc.persistence = self.persistence(&key, what)?;
        let pe = read_name(&self.pe_name, &format!("{what}.pe_name"))?;
        if !pe.is_empty() {
            svc.persistence_engine = Some(pe);
        }
        Ok(svc)
    }

    fn persistence(&self, key: &ServiceKey, what: &str) -> Outcome<Option<Persistence>> {
        let (timeout, mask) = (self.persistence_timeout, self.persistence_netmask);
        if timeout == 0 {
            if mask != 0 {
                return Err(Failure::invalid(
                    &format!("{what}.persistence_netmask"),
                    "set, but persistence_timeout is 0 (not persistent)",
                ));
            }
            return Ok(None);
        }
        let family = key.family();
        let netmask = match (mask, family) {
            (0, _) => Netmask::full(family),
            (m, AddressFamily::Inet) => Netmask::V4(Ipv4Addr::from(m)),
            (m, AddressFamily::Inet6) => match u8::try_from(m) {
                Ok(len) => Netmask::V6(len),
                Err(_) => {
                    return Err(Failure::invalid(
                        &format!("{what}.persistence_netmask"),
                        format_args!("an IPv6 netmask is a prefix length 1..=128, got {m}"),
                    ));
                }
            },
        };
        Ok(Some(Persistence { timeout, netmask }))
    }

    pub(crate) fn from_model(svc: &Service) -> Outcome<lvs_service> {
        let mut flags = 0;
        if let Some(h) = svc.scheduler.hash_flags() {
            if h.fallback {
                flags |= LVS_SVC_F_SCHED_FALLBACK;
            }
            if h.port {
                flags |= LVS_SVC_F_SCHED_PORT;
            }
        }
        if svc.one_packet {
            flags |= LVS_SVC_F_ONEPACKET;
        }
        let (persistence_timeout, persistence_netmask) = match &svc.persistence {
            None => (0, 0),
            Some(p) => (
                p.timeout,
                match p.netmask {
                    Netmask::V4(m) => u32::from(m),
                    Netmask::V6(len) => u32::from(len),
                    other => return Err(unknown_variant("netmask", &other)),
                },
            ),
        };
        Ok(lvs_service {
            key: lvs_service_key::from_model(&svc.key)?,
            scheduler: write_name(svc.scheduler.name(), "scheduler name")?,
            flags,
            persistence_timeout,
            persistence_netmask,
            pe_name: write_name(
                svc.persistence_engine.as_deref().unwrap_or(""),
                "persistence engine name",
            )?,
        })
    }
}

impl lvs_destination {
    /// The model destination (C-level checks only; the handle validates it
    /// against its service).
    pub(crate) fn model(&self, what: &str) -> Outcome<Destination> {
        let addr = self.addr.socket_addr(&format!("{what}.addr"))?;
        let no_tunnel_fields = self.tun_type == 0 && self.tun_port == 0 && self.tun_flags == 0;
        let forwarding = match self.forwarding {
            LVS_FWD_MASQ | LVS_FWD_LOCAL | LVS_FWD_DROUTE if !no_tunnel_fields => {
                return Err(Failure::invalid(
                    what,
                    "tun_type, tun_port and tun_flags are for LVS_FWD_TUNNEL only and must be 0",
                ));
            }
            LVS_FWD_MASQ => Forwarding::Masquerade,
            LVS_FWD_LOCAL => Forwarding::Local,
            LVS_FWD_DROUTE => Forwarding::DirectRoute,
            LVS_FWD_TUNNEL => Forwarding::Tunnel(self.tunnel(what)?),
            f => {
                return Err(Failure::invalid(
                    &format!("{what}.forwarding"),
                    format_args!(
                        "must be LVS_FWD_MASQ (0), LVS_FWD_LOCAL (1), LVS_FWD_TUNNEL (2) or \
                         LVS_FWD_DROUTE (3), got {f}"
                    ),
                ));
            }
        };
        Ok(Destination::new(addr)
            .with_forwarding(forwarding)
            .with_weight(self.weight)
            .with_thresholds(Thresholds {
                upper: self.upper_threshold,
                lower: self.lower_threshold,
            }))
    }

    fn tunnel(&self, what: &str) -> Outcome<Tunnel> {
        let bad = |why: &str| Err(Failure::invalid(what, why));
        match (self.tun_type, self.tun_flags) {
            (LVS_TUN_IPIP, 0) if self.tun_port == 0 => Ok(Tunnel::Ipip),
            (LVS_TUN_IPIP, _) => bad("an IPIP tunnel has tun_port and tun_flags 0"),
            (LVS_TUN_GUE, f) => Ok(Tunnel::Gue {
                port: self.tun_port,
                checksum: match f {
                    0 => GueChecksum::None,
                    LVS_TUN_F_CSUM => GueChecksum::Checksum,
                    LVS_TUN_F_REMCSUM => GueChecksum::RemoteChecksum,
                    _ => {
                        return bad(
                            "a GUE tunnel's tun_flags is 0, LVS_TUN_F_CSUM or LVS_TUN_F_REMCSUM",
                        );
                    }
                },
            }),
            (LVS_TUN_GRE, f @ (0 | LVS_TUN_F_CSUM)) if self.tun_port == 0 => Ok(Tunnel::Gre {
                checksum: f == LVS_TUN_F_CSUM,
            }),
            (LVS_TUN_GRE, _) => {
                bad("a GRE tunnel has tun_port 0 and tun_flags 0 or LVS_TUN_F_CSUM")
            }
            _ => bad("tun_type must be LVS_TUN_IPIP (0), LVS_TUN_GUE (1) or LVS_TUN_GRE (2)"),
        }
    }

    pub(crate) fn from_model(d: &Destination) -> Outcome<lvs_destination> {
        let (forwarding, (tun_type, tun_port, tun_flags)) = match d.forwarding {
            Forwarding::Masquerade => (LVS_FWD_MASQ, (0, 0, 0)),
            Forwarding::Local => (LVS_FWD_LOCAL, (0, 0, 0)),
            Forwarding::DirectRoute => (LVS_FWD_DROUTE, (0, 0, 0)),
            Forwarding::Other(m) => (m, (0, 0, 0)),
            Forwarding::Tunnel(t) => (
                LVS_FWD_TUNNEL,
                match t {
                    Tunnel::Ipip => (LVS_TUN_IPIP, 0, 0),
                    Tunnel::Gue { port, checksum } => (
                        LVS_TUN_GUE,
                        port,
                        match checksum {
                            GueChecksum::None => 0,
                            GueChecksum::Checksum => LVS_TUN_F_CSUM,
                            GueChecksum::RemoteChecksum => LVS_TUN_F_REMCSUM,
                        },
                    ),
                    Tunnel::Gre { checksum } => {
                        (LVS_TUN_GRE, 0, if checksum { LVS_TUN_F_CSUM } else { 0 })
                    }
                    Tunnel::Other { kind, port, flags } => (kind, port, flags),
                    other => return Err(unknown_variant("tunnel", &other)),
                },
            ),
            other => return Err(unknown_variant("forwarding method", &other)),
        };
        Ok(lvs_destination {
            addr: lvs_addr::from_socket(d.addr),
            forwarding,
            weight: d.weight,
            upper_threshold: d.upper_threshold,
            lower_threshold: d.lower_threshold,
            tun_type,
            reserved0: 0,
            tun_port,
            tun_flags,
            reserved1: 0,
        })
    }
}

impl From<&Stats> for lvs_stats {
    fn from(s: &Stats) -> Self {
        lvs_stats {
            conns: s.conns,
            in_packets: s.in_packets,
            out_packets: s.out_packets,
            in_bytes: s.in_bytes,
            out_bytes: s.out_bytes,
            cps: s.rates.cps,
            in_pps: s.rates.in_pps,
            out_pps: s.rates.out_pps,
            in_bps: s.rates.in_bps,
            out_bps: s.rates.out_bps,
            from_32bit: s.from_32bit,
            reserved: [0; 7],
        }
    }
}

impl From<&ConnCounts> for lvs_conn_counts {
    fn from(c: &ConnCounts) -> Self {
        lvs_conn_counts {
            active: c.active,
            inactive: c.inactive,
            persistent: c.persistent,
        }
    }
}

impl lvs_service_entry {
    pub(crate) fn from_model(e: &ServiceEntry) -> Outcome<lvs_service_entry> {
        Ok(lvs_service_entry {
            service: lvs_service::from_model(&e.service)?,
            stats: (&e.stats).into(),
        })
    }
}

impl lvs_destination_entry {
    pub(crate) fn from_model(e: &DestinationEntry) -> Outcome<lvs_destination_entry> {
        Ok(lvs_destination_entry {
            destination: lvs_destination::from_model(&e.destination)?,
            conns: (&e.conns).into(),
            stats: (&e.stats).into(),
        })
    }
}

impl lvs_timeouts {
    pub(crate) fn to_model(self) -> Timeouts {
        let some = |v: u32| (v != 0).then_some(v);
        let mut t = Timeouts::default();
        t.tcp = some(self.tcp);
        t.tcp_fin = some(self.tcp_fin);
        t.udp = some(self.udp);
        t
    }

    pub(crate) fn from_model(t: &Timeouts) -> lvs_timeouts {
        lvs_timeouts {
            tcp: t.tcp.unwrap_or(0),
            tcp_fin: t.tcp_fin.unwrap_or(0),
            udp: t.udp.unwrap_or(0),
        }
    }
}

impl From<&Info> for lvs_info {
    fn from(i: &Info) -> Self {
        let (version_major, version_minor, version_patch) = i.version;
        lvs_info {
            version_major,
            version_minor,
            version_patch,
            reserved: 0,
            conn_table_size: i.conn_table_size,
        }
    }
}

impl lvs_sync_daemon {
    /// The model daemon (C-level checks only; the handle validates the
    /// rest as `SyncDaemon::validate` does for Rust callers).
    pub(crate) fn model(&self, what: &str) -> Outcome<SyncDaemon> {
        let interface = read_name(&self.interface, &format!("{what}.interface"))?;
        let mut d = SyncDaemon::new(DaemonRole::from_state(self.role), interface, 0);
        d.sync_id = self.sync_id;
        if self.group.port != 0 {
            return Err(Failure::invalid(
                &format!("{what}.group.port"),
                "must be 0: the sync daemon's UDP port is the `port` field",
            ));
        }
        d.group = if self.group.family == 0 {
            if self.group.addr != [0; 16] {
                return Err(Failure::invalid(
                    &format!("{what}.group"),
                    "family 0 (the default group) with a non-zero address; set family to \
                     LVS_AF_INET or LVS_AF_INET6",
                ));
            }
            None
        } else {
            Some(self.group.socket_addr(&format!("{what}.group"))?.ip())
        };
        d.port = (self.port != 0).then_some(self.port);
        d.max_len = (self.max_len != 0).then_some(self.max_len);
        d.ttl = (self.ttl != 0).then_some(self.ttl);
        Ok(d)
    }

    pub(crate) fn from_model(d: &SyncDaemon) -> Outcome<lvs_sync_daemon> {
        Ok(lvs_sync_daemon {
            role: d.role.state(),
            interface: write_name(&d.interface, "sync daemon interface")?,
            sync_id: d.sync_id,
            group: d.group.map_or_else(lvs_addr::default, |ip| {
                lvs_addr::from_socket(SocketAddr::new(ip, 0))
            }),
            port: d.port.unwrap_or(0),
            max_len: d.max_len.unwrap_or(0),
            ttl: d.ttl.unwrap_or(0),
            reserved: [0; 3],
        })
    }
}

impl lvs_connection {
    pub(crate) fn from_model(c: &Connection) -> Outcome<lvs_connection> {
        let origin = match &c.origin {
            None => LVS_CONN_ORIGIN_UNKNOWN,
            Some(ConnOrigin::Local) => LVS_CONN_ORIGIN_LOCAL,
            Some(ConnOrigin::Sync) => LVS_CONN_ORIGIN_SYNC,
            Some(_) => LVS_CONN_ORIGIN_OTHER,
        };
        let pe = c.pe.as_ref().map_or("", |p| p.engine.as_str());
        Ok(lvs_connection {
            protocol: c.protocol.number(),
            client: lvs_addr::from_socket(c.client),
            virtual_addr: lvs_addr::from_socket(c.virtual_addr),
            destination: lvs_addr::from_socket(c.destination),
            state: write_name(c.state.as_str(), "connection state")?,
            reserved0: 0,
            expires: u32::try_from(c.expires.as_secs()).unwrap_or(u32::MAX),
            origin,
            pe_name: write_name(pe, "persistence engine name")?,
            reserved1: [0; 3],
        })
    }
}

// ----- text helpers ---------------------------------------------------------

/// Parse an address with an optional port: `10.0.0.1:80`,
/// `[2001:db8::1]:443`, `10.0.0.1` or `2001:db8::1` (port 0). An IPv6
/// scope id (`fe80::1%2`, `[fe80::1%eth0]:80`) is refused, never dropped:
/// IPVS addresses have none.
pub(crate) fn parse_addr(text: &str) -> Outcome<SocketAddr> {
    if text.contains('%') {
        return Err(Failure::invalid(
            "address",
            format_args!(
                "{text:?} has an IPv6 scope id (after '%'): IPVS addresses have no scope id \
                 or interface; give the address alone"
            ),
        ));
    }
    text.parse::<SocketAddr>()
        .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 0)))
        .map_err(|_| {
            Failure::invalid(
                "address",
                format_args!(
                    "{text:?} is not an IP address with an optional port \
                     (\"10.0.0.1:80\", \"[2001:db8::1]:443\", \"10.0.0.1\")"
                ),
            )
        })
}

/// Copy `text` out as a formatting function does: a short buffer is an
/// error the thread's last error explains.
///
/// # Safety
/// As `copy_message`.
pub(crate) unsafe fn format_out(
    text: &str,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> lvs_result {
    // SAFETY: forwarded from this function's contract.
    match unsafe { crate::error::copy_message(text, buf, len, out_len) } {
        // Neither a success nor a short buffer (how a length is asked for)
        // touches the thread's last error: a caller formatting a key or an
        // address to log an error must not lose that error.
        code @ (lvs_result::LVS_OK | lvs_result::LVS_BUFFER_TOO_SMALL) => code,
        lvs_result::LVS_NULL_PARAMETER => finish(Err(Failure::new(
            lvs_result::LVS_NULL_PARAMETER,
            "argument `buf` is NULL while `len` is not 0",
        ))),
        other => finish(Err(Failure::new(other, "invalid `out_len` or `len`"))),
    }
}

/// Parse an IP address with an optional port into `*out`: `10.0.0.1:80`,
/// `[2001:db8::1]:443`, or without a port `10.0.0.1`, `2001:db8::1`
/// (port 0). Returns `LVS_INVALID_ARGUMENT` for anything else (an IPv6
/// scope id such as `fe80::1%2` included: IPVS has none, and it is
/// refused rather than dropped) and
/// `LVS_INVALID_UTF8` for bytes that are not UTF-8; `*out` is then left
/// unchanged.
///
/// # Safety
/// `text` must be a NUL-terminated string (not NULL); `out` must be valid
/// for writing one `lvs_addr` (not NULL). Neither is kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_addr_parse(text: *const c_char, out: *mut lvs_addr) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let mut out = try_out!(out)?;
            let text = try_utf8!(text)?;
            out.set(lvs_addr::from_socket(parse_addr(text)?));
            Ok(())
        })())
    }
}

/// Write `addr` as text (`10.0.0.1:80`, `[2001:db8::1]:443`) into `buf`,
/// NUL-terminated; `LVS_TEXT_MAX` bytes always suffice. Returns
/// `LVS_INVALID_ARGUMENT` for an invalid `lvs_addr`, or
/// `LVS_BUFFER_TOO_SMALL` (with as much as fits written; `buf` NULL and
/// `len` 0 ask for the length). Success and a short buffer leave the
/// thread's last error as it was, so an error can be formatted and logged.
///
/// # Safety
/// `addr` must be valid for reading one `lvs_addr` (not NULL). `buf` may be
/// NULL only when `len` is 0; otherwise it must be valid for writes of
/// `len` bytes. `out_len` may be NULL; if not, it receives the text's
/// length without the NUL. Nothing is kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_addr_format(
    addr: *const lvs_addr,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> lvs_result {
    ffi_boundary! {
        let text = match try_ref!(addr).and_then(|a| a.socket_addr("addr")) {
            Ok(sa) => sa.to_string(),
            Err(f) => return finish(Err(f)),
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { format_out(&text, buf, len, out_len) }
    }
}

/// Whether `a` and `b` are the same service key: every field but the
/// reserved ones compared (`addr.family`, `addr.addr`, `addr.port`,
/// `protocol`, `fwmark`), so two keys the library treats as one are
/// equal whatever their reserved bytes hold. NULL equals only NULL. No
/// last error is changed.
///
/// # Safety
/// `a` and `b` must each be NULL or valid for reading one
/// `lvs_service_key`. Nothing is kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_service_key_equal(
    a: *const lvs_service_key,
    b: *const lvs_service_key,
) -> bool {
    ffi_boundary! {
        match (try_ref!(a), try_ref!(b)) {
            (Ok(a), Ok(b)) => key_fields(a) == key_fields(b),
            (Err(_), Err(_)) => a.is_null() && b.is_null(),
            _ => false,
        }
    }
}

/// A 64-bit hash of `key` over the fields `lvs_service_key_equal`
/// compares (equal keys hash alike; reserved bytes are ignored), for a
/// C hash table. The same in every process and run of this library
/// version (FNV-1a of the fields; not a defence against chosen keys).
/// NULL hashes to 0. No last error is changed.
///
/// # Safety
/// `key` must be NULL or valid for reading one `lvs_service_key`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_service_key_hash(key: *const lvs_service_key) -> u64 {
    ffi_boundary! {
        try_ref!(key).map_or(0, |k| {
            let (family, addr, port, protocol, fwmark) = key_fields(k);
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            let bytes = std::iter::once(family)
                .chain(addr)
                .chain(port.to_le_bytes())
                .chain(protocol.to_le_bytes())
                .chain(fwmark.to_le_bytes());
            for b in bytes {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            h
        })
    }
}

/// The fields that make a key's identity (not the reserved ones).
pub(crate) fn key_fields(k: &lvs_service_key) -> (u8, [u8; 16], u16, u16, u32) {
    (
        k.addr.family,
        k.addr.addr,
        k.addr.port,
        k.protocol,
        k.fwmark,
    )
}

/// Parse a service key from the text `lvs_service_key_format` writes, into
/// `*out`: `TCP 10.0.0.1:80`, `UDP [2001:db8::1]:53`, `SCTP
/// 10.0.0.1:3868`, `proto 50 10.0.0.1:0`, `FWM 7 (IPv4)`, `FWM 7 (IPv6)`,
/// and ipvsadm's spellings: `TCP  10.0.0.1:80`, `FWM  7` (IPv4), `FWM  7
/// IPv6`, `-t 10.0.0.1:80`, `-f 7 -6` (protocol names and `FWM` in any
/// case; the port is required). The key
/// is checked as the handle would check it. Returns
/// `LVS_INVALID_ARGUMENT` for other text (a mark of 0, a protocol outside
/// 1..=255, an IPv6 scope id included), `LVS_INVALID_UTF8`,
/// `LVS_NULL_PARAMETER`; `*out` is then left unchanged.
///
/// # Safety
/// `text` must be a NUL-terminated string (not NULL); `out` must be valid
/// for writing one `lvs_service_key` (not NULL). Neither is kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_service_key_parse(
    text: *const c_char,
    out: *mut lvs_service_key,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let mut out = try_out!(out)?;
            let text = try_utf8!(text)?;
            let key: ServiceKey = text.parse()?;
            out.set(lvs_service_key::from_model(&key)?);
            Ok(())
        })())
    }
}

/// Write a service key as text into `buf`, NUL-terminated, as the
/// library's messages show it: `TCP 10.0.0.1:80`, `UDP [2001:db8::1]:53`,
/// `FWM 7 (IPv4)`; `LVS_TEXT_MAX` bytes always suffice. Errors as
/// `lvs_addr_format`.
///
/// # Safety
/// `key` must be valid for reading one `lvs_service_key` (not NULL). `buf`
/// and `out_len` as for `lvs_addr_format`. Nothing is kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_service_key_format(
    key: *const lvs_service_key,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> lvs_result {
    ffi_boundary! {
        let text = match try_ref!(key).and_then(|k| k.model("key")) {
            Ok(k) => k.to_string(),
            Err(f) => return finish(Err(f)),
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { format_out(&text, buf, len, out_len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    /// The layout is ABI; tests/c/api_test.c asserts the same numbers with
    /// the C compiler's own layout.
    #[test]
    fn struct_layout_is_pinned() {
        macro_rules! layout {
            ($t:ty, $size:expr, $align:expr) => {
                assert_eq!(
                    (size_of::<$t>(), align_of::<$t>()),
                    ($size, $align),
                    stringify!($t)
                );
            };
        }
        layout!(lvs_addr, 20, 2);
        layout!(lvs_service_key, 28, 4);
        layout!(lvs_service, 72, 4);
        layout!(lvs_destination, 44, 4);
        layout!(lvs_stats, 88, 8);
        layout!(lvs_conn_counts, 12, 4);
        layout!(lvs_service_entry, 160, 8);
        layout!(lvs_destination_entry, 144, 8);
        layout!(lvs_timeouts, 12, 4);
        layout!(lvs_info, 8, 4);
        layout!(lvs_sync_daemon, 52, 4);
        layout!(lvs_connection, 120, 4);
        assert_eq!(offset_of!(lvs_addr, port), 18);
        assert_eq!(offset_of!(lvs_service, persistence_netmask), 52);
        assert_eq!(offset_of!(lvs_destination, tun_flags), 40);
        assert_eq!(offset_of!(lvs_stats, from_32bit), 80);
        assert_eq!(offset_of!(lvs_destination_entry, stats), 0);
        assert_eq!(offset_of!(lvs_destination_entry, destination), 100);
        assert_eq!(offset_of!(lvs_service_entry, service), 88);
        assert_eq!(offset_of!(lvs_info, conn_table_size), 4);
        assert_eq!(offset_of!(lvs_sync_daemon, group), 24);
        assert_eq!(offset_of!(lvs_sync_daemon, ttl), 48);
        assert_eq!(offset_of!(lvs_connection, state), 62);
        assert_eq!(offset_of!(lvs_connection, expires), 96);
        assert_eq!(offset_of!(lvs_connection, pe_name), 101);
    }

    fn name(s: &str) -> [c_char; LVS_NAME_MAX] {
        write_name(s, "test").unwrap()
    }

    #[test]
    fn services_round_trip() {
        let key = lvs_service_key {
            addr: lvs_addr::from_socket("10.0.0.1:80".parse().unwrap()),
            protocol: LVS_PROTO_TCP,
            fwmark: 0,
            reserved: 0,
        };
        let cases = [
            lvs_service {
                key,
                scheduler: name("rr"),
                ..Default::default()
            },
            lvs_service {
                key,
                scheduler: name("mh"),
                flags: LVS_SVC_F_SCHED_FALLBACK | LVS_SVC_F_SCHED_PORT,
                persistence_timeout: 300,
                persistence_netmask: 0xffff_ff00,
                pe_name: name("sip"),
            },
            lvs_service {
                key: lvs_service_key {
                    addr: lvs_addr {
                        family: LVS_AF_INET6,
                        ..Default::default()
                    },
                    protocol: 0,
                    fwmark: 7,
                    reserved: 0,
                },
                scheduler: name("my_sched"),
                flags: LVS_SVC_F_ONEPACKET,
                persistence_timeout: 60,
                persistence_netmask: 64,
                pe_name: [0; LVS_NAME_MAX],
            },
        ];
        for c in cases {
            let m = c.model("service").unwrap();
            assert_eq!(lvs_service::from_model(&m).unwrap(), c, "{m:?}");
        }
        // Defaults: "" is wlc; netmask 0 is the full mask.
        let d = lvs_service {
            key,
            persistence_timeout: 10,
            ..Default::default()
        };
        let m = d.model("service").unwrap();
        assert_eq!(m.scheduler, Scheduler::Wlc);
        assert_eq!(
            m.persistence.unwrap().netmask,
            Netmask::V4(Ipv4Addr::BROADCAST)
        );
    }

    #[test]
    fn bad_services_are_refused() {
        let key = lvs_service_key {
            addr: lvs_addr::from_socket("10.0.0.1:80".parse().unwrap()),
            protocol: LVS_PROTO_TCP,
            fwmark: 0,
            reserved: 0,
        };
        let ok = lvs_service {
            key,
            ..Default::default()
        };
        let code = |s: lvs_service| s.model("service").unwrap_err().code;
        use lvs_result::*;
        let mut s = ok;
        s.scheduler = [b'x' as c_char; LVS_NAME_MAX];
        assert_eq!(code(s), LVS_INVALID_ARGUMENT);
        s.scheduler = name("");
        s.scheduler[0] = 0xff_u8 as c_char;
        assert_eq!(code(s), LVS_INVALID_UTF8);
        let mut s = ok;
        s.flags = 0x1;
        assert_eq!(code(s), LVS_INVALID_ARGUMENT);
        s.flags = LVS_SVC_F_SCHED_PORT; // wlc has no hash flags
        assert_eq!(code(s), LVS_INVALID_ARGUMENT);
        let mut s = ok;
        s.persistence_netmask = 24;
        assert_eq!(code(s), LVS_INVALID_ARGUMENT);
        let mut s = ok;
        s.key.addr.family = 0;
        assert_eq!(code(s), LVS_INVALID_ARGUMENT);
        let mut s = ok;
        s.key.addr.addr[15] = 1;
        assert_eq!(code(s), LVS_INVALID_ARGUMENT);
        let mut s = ok;
        s.key.protocol = 0;
        assert_eq!(code(s), LVS_INVALID_ARGUMENT);
        for p in [256, 65535] {
            let mut s = ok;
            s.key.protocol = p;
            assert_eq!(code(s), LVS_INVALID_ARGUMENT);
        }
        let mut s = ok;
        s.key.fwmark = 3; // with a protocol and address set
        assert_eq!(code(s), LVS_INVALID_ARGUMENT);
    }

    #[test]
    fn destinations_round_trip() {
        let base = lvs_destination {
            addr: lvs_addr::from_socket("[2001:db8::2]:8080".parse().unwrap()),
            forwarding: LVS_FWD_MASQ,
            weight: 5,
            upper_threshold: 10,
            lower_threshold: 2,
            ..Default::default()
        };
        let tun = |t, p, f| lvs_destination {
            forwarding: LVS_FWD_TUNNEL,
            tun_type: t,
            tun_port: p,
            tun_flags: f,
            ..base
        };
        for d in [
            base,
            lvs_destination {
                forwarding: LVS_FWD_DROUTE,
                ..base
            },
            lvs_destination {
                forwarding: LVS_FWD_LOCAL,
                ..base
            },
            tun(LVS_TUN_IPIP, 0, 0),
            tun(LVS_TUN_GUE, 6080, 0),
            tun(LVS_TUN_GUE, 6080, LVS_TUN_F_CSUM),
            tun(LVS_TUN_GUE, 6080, LVS_TUN_F_REMCSUM),
            tun(LVS_TUN_GRE, 0, 0),
            tun(LVS_TUN_GRE, 0, LVS_TUN_F_CSUM),
        ] {
            let m = d.model("d").unwrap();
            assert_eq!(lvs_destination::from_model(&m).unwrap(), d, "{m:?}");
        }
        for bad in [
            lvs_destination {
                forwarding: 4,
                ..base
            },
            lvs_destination {
                tun_port: 1,
                ..base
            },
            tun(LVS_TUN_IPIP, 1, 0),
            tun(LVS_TUN_GUE, 1, 3),
            tun(LVS_TUN_GRE, 1, 0),
            tun(3, 0, 0),
        ] {
            assert_eq!(
                bad.model("d").unwrap_err().code,
                lvs_result::LVS_INVALID_ARGUMENT,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sync_daemons_convert_both_ways() {
        let mut c = lvs_sync_daemon {
            role: LVS_DAEMON_BACKUP,
            interface: write_name("eth1", "test").unwrap(),
            sync_id: 9,
            group: lvs_addr::from_socket("[ff02::1:81]:0".parse().unwrap()),
            port: 9000,
            max_len: 1400,
            ttl: 3,
            reserved: [0; 3],
        };
        let m = c.model("d").unwrap();
        let want = SyncDaemon::backup("eth1", 9)
            .with_group("ff02::1:81".parse().unwrap())
            .with_port(9000)
            .with_max_len(1400)
            .with_ttl(3);
        assert_eq!(m, want);
        assert_eq!(lvs_sync_daemon::from_model(&m).unwrap(), c);
        // Zeros are the kernel's defaults.
        c.group = lvs_addr::default();
        c.port = 0;
        c.max_len = 0;
        c.ttl = 0;
        c.role = LVS_DAEMON_MASTER;
        assert_eq!(c.model("d").unwrap(), SyncDaemon::master("eth1", 9));
        let code = |d: lvs_sync_daemon| d.model("d").unwrap_err().code;
        let mut bad = c;
        bad.group.port = 1;
        assert_eq!(code(bad), lvs_result::LVS_INVALID_ARGUMENT);
        let mut bad = c;
        bad.group.addr[0] = 239;
        assert_eq!(code(bad), lvs_result::LVS_INVALID_ARGUMENT);
        let mut bad = c;
        bad.interface = [b'x' as c_char; LVS_IFNAME_MAX];
        assert_eq!(code(bad), lvs_result::LVS_INVALID_ARGUMENT);
        bad.interface[0] = 0xff_u8 as c_char;
        bad.interface[1] = 0;
        assert_eq!(code(bad), lvs_result::LVS_INVALID_UTF8);
    }

    #[test]
    fn addresses_parse() {
        for (text, want) in [
            ("10.0.0.1:80", "10.0.0.1:80"),
            ("[2001:db8::1]:443", "[2001:db8::1]:443"),
            ("10.0.0.1", "10.0.0.1:0"),
            ("2001:db8::1", "[2001:db8::1]:0"),
        ] {
            assert_eq!(
                parse_addr(text).unwrap(),
                want.parse::<SocketAddr>().unwrap()
            );
        }
        for bad in [
            "",
            "10.0.0.1:",
            "10.0.0.1:65536",
            "example.com:80",
            "1.2.3",
            "fe80::1%2",
            "[fe80::1%2]:80",
            "[fe80::1%eth0]:80",
        ] {
            assert_eq!(
                parse_addr(bad).unwrap_err().code,
                lvs_result::LVS_INVALID_ARGUMENT
            );
        }
    }
}
