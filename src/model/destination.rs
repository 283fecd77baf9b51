//! Real servers ("destinations") of a virtual service.

use std::fmt;
use std::net::SocketAddr;

use super::service::{AddressFamily, ServiceKey};
use crate::error::{Error, Operation};

/// Checksum option of a GUE tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum GueChecksum {
    /// No checksum (`IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM`).
    #[default]
    None,
    /// UDP checksum (`IP_VS_TUNNEL_ENCAP_FLAG_CSUM`).
    Checksum,
    /// Remote checksum offload (`IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM`).
    RemoteChecksum,
}

/// Encapsulation of tunnel forwarding.
///
/// # Example
/// ```
/// use lvs::{Destination, Forwarding, GueChecksum, ServiceKey, Tunnel};
///
/// // ipvsadm -a -t 10.0.0.1:80 -r 192.168.1.2 -i --tun-type gue --tun-port 6080 --tun-csum
/// let gue = Tunnel::Gue { port: 6080, checksum: GueChecksum::Checksum };
/// let dest = Destination::new(([192, 168, 1, 2], 80)).with_forwarding(Forwarding::Tunnel(gue));
/// dest.validate_for(&ServiceKey::tcp(([10, 0, 0, 1], 80)))?;
/// // GUE needs a port.
/// let no_port = Tunnel::Gue { port: 0, checksum: GueChecksum::None };
/// let bad = Destination::new(([192, 168, 1, 2], 80)).with_forwarding(Forwarding::Tunnel(no_port));
/// assert!(bad.validate_for(&ServiceKey::tcp(([10, 0, 0, 1], 80))).is_err());
/// # Ok::<(), lvs::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(remote = "Self"),
    serde(deny_unknown_fields)
)]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum Tunnel {
    /// IP-in-IP (ipvsadm `-i`, the default).
    #[default]
    Ipip,
    /// Generic UDP Encapsulation to `port` (non-zero).
    Gue {
        /// Destination UDP port of the encapsulation, not 0.
        port: u16,
        /// Checksum option.
        checksum: GueChecksum,
    },
    /// GRE, with or without checksums.
    Gre {
        /// Add GRE checksums.
        checksum: bool,
    },
    /// A tunnel type or flag combination the kernel accepted from another
    /// client but `lvs` does not model (read-only: refused on write).
    Other {
        /// `IPVS_DEST_ATTR_TUN_TYPE`.
        kind: u8,
        /// `IPVS_DEST_ATTR_TUN_PORT`.
        port: u16,
        /// `IPVS_DEST_ATTR_TUN_FLAGS`.
        flags: u16,
    },
}

/// How packets reach a destination.
///
/// # Example
/// ```
/// use lvs::{Destination, Forwarding, ServiceKey, Tunnel};
///
/// let vip = ServiceKey::tcp(([10, 0, 0, 1], 80));
/// // ipvsadm -a -t 10.0.0.1:80 -r 192.168.1.2 -g: direct routing keeps the port.
/// let dr = Destination::new(([192, 168, 1, 2], 80)).with_forwarding(Forwarding::DirectRoute);
/// dr.validate_for(&vip)?;
/// assert_eq!(Forwarding::default(), Forwarding::Masquerade); // -m, NAT
/// assert_eq!(Forwarding::Tunnel(Tunnel::Gre { checksum: true }).to_string(), "Tunnel(gre:+c)");
/// # Ok::<(), lvs::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize), serde(remote = "Self"))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum Forwarding {
    /// NAT (masquerading, ipvsadm `-m`): replies must return through IPVS.
    #[default]
    Masquerade,
    /// Direct routing (ipvsadm `-g`): the real server holds the VIP.
    DirectRoute,
    /// IP tunnelling (ipvsadm `-i`).
    Tunnel(Tunnel),
    /// Local node: the destination is this host. The kernel hands the
    /// packets to this host's own stack, to the virtual address; the
    /// destination's address is not used to forward and is not checked to
    /// be local (by `lvs` or the kernel: only the namespace knows, and its
    /// addresses change over time).
    Local,
    /// A forwarding method number (4..=7) the kernel stores but binds no
    /// transmitter to, set by another client (read-only: refused on write).
    Other(u32),
}

/// ipvsadm's `Forward` word ([`Forwarding::ipvsadm_name`]), a tunnel
/// followed by its `--tun-info` in parentheses: `Masq`, `Route`,
/// `Local`, `Tunnel(ipip)`, `Tunnel(gue:6080:+c)`, `Tunnel(gre:-c)`.
/// `FromStr` reads it back.
impl fmt::Display for Forwarding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Forwarding::Tunnel(t) => write!(f, "Tunnel({t})"),
            Forwarding::Other(m) => write!(f, "forwarding method {m}"),
            other => f.write_str(other.ipvsadm_name()),
        }
    }
}

/// The connection thresholds of a destination (ipvsadm `-x`/`-y`,
/// `IPVS_DEST_ATTR_U_THRESH`/`L_THRESH`), as named fields so that the two
/// cannot be swapped. 0 means "none" for either.
///
/// At `upper` connections (active + inactive) the kernel marks the
/// destination overloaded; it clears the mark below `lower`, or, with no
/// lower threshold, below 3/4 of `upper`. The kernel refuses
/// `lower > upper` (`-ERANGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Thresholds {
    /// Upper threshold (0 = none).
    #[cfg_attr(feature = "serde", serde(default))]
    pub upper: u32,
    /// Lower threshold (0 = none), at most `upper`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub lower: u32,
}

impl Thresholds {
    /// No thresholds.
    pub const NONE: Thresholds = Thresholds { upper: 0, lower: 0 };

    /// An upper threshold alone.
    pub const fn upper(upper: u32) -> Self {
        Thresholds { upper, lower: 0 }
    }

    /// This with a lower threshold.
    pub const fn with_lower(self, lower: u32) -> Self {
        Thresholds {
            upper: self.upper,
            lower,
        }
    }
}

/// A real server of a service, with its configuration.
///
/// # Example
/// ```
/// use lvs::{Destination, ServiceKey};
///
/// // ipvsadm -a -t 10.0.0.1:80 -r 192.168.1.2:8080 -m -w 3
/// let dest = Destination::new(([192, 168, 1, 2], 8080)).with_weight(3);
/// dest.validate_for(&ServiceKey::tcp(([10, 0, 0, 1], 80)))?;
/// // A NAT destination must be of the service's family (only tunnels may mix).
/// let v6 = Destination::new(("2001:db8::2".parse::<std::net::IpAddr>().unwrap(), 8080));
/// assert!(v6.validate_for(&ServiceKey::tcp(([10, 0, 0, 1], 80))).is_err());
/// # Ok::<(), lvs::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[non_exhaustive]
pub struct Destination {
    /// Address and port of the real server (port 0: same as the service's).
    pub addr: SocketAddr,
    /// Forwarding method.
    #[cfg_attr(feature = "serde", serde(default))]
    pub forwarding: Forwarding,
    /// Weight, `0..=i32::MAX`; 0 stops new connections (quiesce).
    #[cfg_attr(feature = "serde", serde(default = "default_weight"))]
    pub weight: u32,
    /// Upper connection threshold (0 = none): at this many connections
    /// the destination is overloaded.
    #[cfg_attr(feature = "serde", serde(default))]
    pub upper_threshold: u32,
    /// Lower connection threshold (0 = none), at most `upper_threshold`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub lower_threshold: u32,
}

#[cfg(feature = "serde")]
fn default_weight() -> u32 {
    1
}

impl Destination {
    /// Largest weight the kernel accepts (it stores weights as `int`).
    pub const MAX_WEIGHT: u32 = i32::MAX as u32;

    /// A NAT destination of weight 1.
    pub fn new(addr: impl Into<SocketAddr>) -> Self {
        Destination {
            addr: addr.into(),
            forwarding: Forwarding::Masquerade,
            weight: 1,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    }

    /// Set the weight.
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Set the forwarding method.
    pub fn with_forwarding(mut self, forwarding: Forwarding) -> Self {
        self.forwarding = forwarding;
        self
    }

    /// Set both connection thresholds. They come as a [`Thresholds`],
    /// whose fields are named, so the two numbers cannot be swapped:
    ///
    /// ```
    /// use lvs::{Destination, Thresholds};
    /// let d = Destination::new(([10, 0, 0, 1], 80))
    ///     .with_thresholds(Thresholds { upper: 100, lower: 10 });
    /// assert_eq!((d.upper_threshold, d.lower_threshold), (100, 10));
    /// // An upper threshold alone (the kernel then clears OVERLOAD below 3/4 of it):
    /// let d = d.with_thresholds(Thresholds::upper(50));
    /// assert_eq!(d.thresholds(), Thresholds { upper: 50, lower: 0 });
    /// ```
    pub fn with_thresholds(mut self, thresholds: Thresholds) -> Self {
        self.upper_threshold = thresholds.upper;
        self.lower_threshold = thresholds.lower;
        self
    }

    /// Set the upper connection threshold only (0 = none).
    pub fn with_upper_threshold(mut self, upper: u32) -> Self {
        self.upper_threshold = upper;
        self
    }

    /// Set the lower connection threshold only (0 = none).
    pub fn with_lower_threshold(mut self, lower: u32) -> Self {
        self.lower_threshold = lower;
        self
    }

    /// Both connection thresholds.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            upper: self.upper_threshold,
            lower: self.lower_threshold,
        }
    }

    /// The destination's address family.
    pub fn family(&self) -> AddressFamily {
        AddressFamily::of(self.addr.ip())
    }

    /// Check the destination on its own and against the service it joins.
    pub fn validate_for(&self, service: &ServiceKey) -> Result<(), Error> {
        let bad = |field, why: String| Err(Error::invalid(Operation::Validate, field, why));
        if self.weight > Self::MAX_WEIGHT {
            return bad(
                "destination.weight",
                format!(
                    "weight must be 0..={} (the kernel stores an int), got {}",
                    Self::MAX_WEIGHT,
                    self.weight
                ),
            );
        }
        if self.lower_threshold > self.upper_threshold {
            return bad(
                "destination.lower_threshold",
                format!(
                    "lower threshold {} is above upper threshold {} (0 means none)",
                    self.lower_threshold, self.upper_threshold
                ),
            );
        }
        if matches!(
            self.forwarding,
            Forwarding::Other(_) | Forwarding::Tunnel(Tunnel::Other { .. })
        ) {
            return bad(
                "destination.forwarding",
                format!(
                    "{} is what the kernel reported for another client's destination; \
                     packets cannot be forwarded that way, so lvs does not write it",
                    self.forwarding
                ),
            );
        }
        if let Forwarding::Tunnel(Tunnel::Gue { port: 0, .. }) = self.forwarding {
            return bad(
                "destination.forwarding",
                "a GUE tunnel needs a non-zero port".into(),
            );
        }
        if let SocketAddr::V6(a) = self.addr
            && (a.scope_id() != 0 || a.flowinfo() != 0)
        {
            return bad(
                "destination.addr",
                format!("IPVS has no IPv6 scope id or flow info (got {a})"),
            );
        }
        if self.family() != service.family() && !matches!(self.forwarding, Forwarding::Tunnel(_)) {
            return bad(
                "destination.addr",
                format!(
                    "{} destination {} in {} service {}: mixed families need tunnel forwarding",
                    self.family(),
                    self.addr,
                    service.family(),
                    service
                ),
            );
        }
        Ok(())
    }
}

/// Connection counts of a destination, as the kernel reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConnCounts {
    /// Established (active) connections.
    pub active: u32,
    /// Other (inactive) connections; all UDP connections count here.
    pub inactive: u32,
    /// Persistence templates.
    pub persistent: u32,
}
