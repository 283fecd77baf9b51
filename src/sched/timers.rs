//! Connection states and their timers: which states count as active, and
//! how long an idle connection lives in each (the kernel's
//! `ip_vs_proto_tcp.c`, `ip_vs_proto_udp.c` and `ip_vs_proto_sctp.c`).

use crate::conn::ConnState;
use crate::model::{Protocol, Timeouts};

/// Kernel default timeout of an established TCP connection (15 min).
const TCP_ESTABLISHED_S: u32 = 15 * 60;
/// Kernel default timeout of a TCP connection in FIN_WAIT (2 min).
const TCP_FIN_WAIT_S: u32 = 2 * 60;
/// Kernel default timeout of a UDP connection (5 min).
const UDP_S: u32 = 5 * 60;
/// Kernel timeout of an established SCTP association (15 min; not
/// settable).
const SCTP_ESTABLISHED_S: u32 = 15 * 60;
/// The SCTP states' longest retransmission time plus a second, the
/// timeout of most SCTP handshake and shutdown states (61 s).
const SCTP_MAX_RTO_S: u32 = 61;

/// The state a connection enters with the first packet the kernel
/// schedules: a TCP SYN leaves it in SYN_RECV, an SCTP INIT in `INIT1`,
/// a UDP datagram in `UDP`. Other protocols keep `NONE`.
pub(crate) fn initial_state(protocol: Protocol) -> ConnState {
    match protocol {
        Protocol::Tcp => ConnState::SynRecv,
        Protocol::Udp => ConnState::Udp,
        Protocol::Sctp => ConnState::Other("INIT1".to_owned()),
        Protocol::Other(_) => ConnState::None,
    }
}

/// Whether the kernel counts a connection of `protocol` in `state` as
/// active (`activeconns`) rather than inactive: TCP in SYN_SENT, SYN_RECV,
/// SYNACK or ESTABLISHED; SCTP only in ESTABLISHED; UDP never. `None` if
/// `state` is not a state of `protocol`.
pub(crate) fn is_active(protocol: Protocol, state: &ConnState) -> Option<bool> {
    if let Protocol::Other(_) = protocol {
        return (*state == ConnState::None).then_some(false);
    }
    timeout_s(protocol, state, &Timeouts::default())?;
    Some(match protocol {
        Protocol::Tcp => matches!(
            state,
            ConnState::SynSent | ConnState::SynRecv | ConnState::SynAck | ConnState::Established
        ),
        Protocol::Sctp => *state == ConnState::Established,
        _ => false,
    })
}

/// How long an idle connection of `protocol` stays in `state` before it
/// expires, in seconds: the kernel's default, or `timeouts` for the three
/// states it sets (TCP ESTABLISHED, TCP FIN_WAIT, UDP). `None` if `state`
/// is not a state of `protocol`, and for protocols other than TCP, UDP and
/// SCTP (the kernel schedules none of them; their connections never
/// expire here).
pub(crate) fn timeout_s(protocol: Protocol, state: &ConnState, timeouts: &Timeouts) -> Option<u32> {
    let set = |v: Option<u32>, default| v.filter(|&s| s > 0).unwrap_or(default);
    use ConnState as S;
    match protocol {
        Protocol::Tcp => Some(match state {
            S::None => 2,
            S::Established => set(timeouts.tcp, TCP_ESTABLISHED_S),
            S::FinWait => set(timeouts.tcp_fin, TCP_FIN_WAIT_S),
            S::SynSent | S::TimeWait | S::Listen | S::SynAck => 120,
            S::SynRecv | S::CloseWait => 60,
            S::Close => 10,
            S::LastAck => 30,
            _ => return None,
        }),
        Protocol::Udp => (*state == S::Udp).then(|| set(timeouts.udp, UDP_S)),
        Protocol::Sctp => Some(match state {
            S::None => 2,
            S::Established => SCTP_ESTABLISHED_S,
            S::Other(name) => match name.as_str() {
                "INIT1" | "REJECTED" => 4,
                "INIT" | "C-SENT" | "C-REPLIED" | "C-WAIT" | "COOKIE" | "C-ECHOED" | "S-SENT"
                | "S-RECEIVED" | "S-ACK-SENT" | "CLOSED" => SCTP_MAX_RTO_S,
                _ => return None,
            },
            _ => return None,
        }),
        Protocol::Other(_) => None,
    }
}
