//! `ServiceKey`'s text form: `FromStr` is the inverse of `Display`.

use lvs::*;

#[test]
fn service_keys_parse_what_they_print() {
    for text in [
        "TCP 10.0.0.1:80",
        "UDP [2001:db8::1]:53",
        "SCTP 10.0.0.1:3868",
        "proto 50 10.0.0.1:0",
        "FWM 7 (IPv4)",
        "FWM 4000000000 (IPv6)",
    ] {
        let key: ServiceKey = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(key.to_string(), text);
    }
    let key: ServiceKey = "udp  10.0.0.2:53".parse().unwrap();
    assert_eq!(
        key,
        ServiceKey::udp("10.0.0.2:53".parse::<std::net::SocketAddr>().unwrap())
    );
    // ipvsadm's spellings (`ServiceKey::ipvsadm`): listing and rule forms.
    for (text, key) in [
        ("FWM  7", ServiceKey::fwmark(AddressFamily::Inet, 7)),
        ("FWM  7 IPv6", ServiceKey::fwmark(AddressFamily::Inet6, 7)),
        ("TCP  10.0.0.1:80", ServiceKey::tcp(([10, 0, 0, 1], 80))),
        (
            "SCTP 10.0.0.1:3868",
            ServiceKey::sctp(([10, 0, 0, 1], 3868)),
        ),
    ] {
        assert_eq!(text.parse::<ServiceKey>().unwrap(), key, "{text}");
        assert_eq!(key.ipvsadm().to_string(), text);
    }
    for (text, key) in [
        ("-f 7", ServiceKey::fwmark(AddressFamily::Inet, 7)),
        ("-f 7 -6", ServiceKey::fwmark(AddressFamily::Inet6, 7)),
        (
            "-u [2001:db8::1]:53",
            ServiceKey::udp("[2001:db8::1]:53".parse::<std::net::SocketAddr>().unwrap()),
        ),
        (
            "--sctp-service 10.0.0.1:3868",
            ServiceKey::sctp(([10, 0, 0, 1], 3868)),
        ),
    ] {
        assert_eq!(text.parse::<ServiceKey>().unwrap(), key, "{text}");
        assert_eq!(format!("{:#}", key.ipvsadm()), text);
    }
    for bad in [
        "",
        "TCP 10.0.0.1",
        "HTTP 10.0.0.1:80",
        "proto 0 10.0.0.1:80",
        "proto 256 10.0.0.1:80",
        "FWM 0 (IPv4)",
        "FWM 7 (IPv5)",
        "FWM  0",
        "-f 7 -4",
        "-t 10.0.0.1",
        "TCP [fe80::1%2]:80",
        "TCP 10.0.0.1:80 extra",
    ] {
        let e = bad.parse::<ServiceKey>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}: {e}");
    }
}
