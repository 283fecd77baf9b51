//! Desired state and policy as people write them, in JSON, YAML and TOML:
//! the same shape loads from each, saves and reloads as itself, and every
//! hostile or mistaken file is a clear error naming the line and the
//! field, never a default.
#![cfg(feature = "serde")]

use std::time::Duration;

use lvs::reconcile::{DesiredState, DrainPolicy, Policy, Scope};
use lvs::{
    AddressFamily, Destination, Forwarding, GueChecksum, HashFlags, Netmask, Protocol, Scheduler,
    Service, ServiceKey, Tunnel,
};

fn sa(s: &str) -> std::net::SocketAddr {
    s.parse().expect("test address")
}

/// A state that uses every enum form: address and fwmark keys, unit and
/// flagged schedulers, a netmask, every forwarding method and tunnel.
fn everything() -> DesiredState {
    let web = ServiceKey::tcp(sa("10.0.0.1:80"));
    let v6 = ServiceKey::udp(sa("[2001:db8::1]:53"));
    let mark = ServiceKey::fwmark(AddressFamily::Inet6, 7);
    DesiredState::new()
        .with_service(
            Service::new(web)
                .with_scheduler(Scheduler::Mh(HashFlags {
                    fallback: true,
                    port: false,
                }))
                .with_persistence_netmask(
                    300,
                    Netmask::prefix(AddressFamily::Inet, 24).expect("prefix"),
                ),
            [
                Destination::new(sa("192.168.1.2:8080")).with_weight(3),
                Destination::new(sa("192.168.1.3:80")).with_forwarding(Forwarding::DirectRoute),
                Destination::new(sa("192.0.2.7:80")).with_forwarding(Forwarding::Tunnel(
                    Tunnel::Gue {
                        port: 6080,
                        checksum: GueChecksum::RemoteChecksum,
                    },
                )),
                Destination::new(sa("192.0.2.8:80"))
                    .with_forwarding(Forwarding::Tunnel(Tunnel::Gre { checksum: true })),
                Destination::new(sa("192.0.2.9:80"))
                    .with_forwarding(Forwarding::Tunnel(Tunnel::Ipip)),
            ],
        )
        .with_service(
            Service::new(v6)
                .with_scheduler(Scheduler::Rr)
                .with_one_packet(true),
            [Destination::new(sa("[2001:db8::2]:53"))],
        )
        .with_service(
            Service::new(mark).with_scheduler(Scheduler::Sh(HashFlags {
                fallback: false,
                port: true,
            })),
            [Destination::new(sa("[2001:db8::3]:0")).with_forwarding(Forwarding::Local)],
        )
}

const YAML: &str = r#"
services:
  - key: {addr: {protocol: tcp, addr: "10.0.0.1:80"}}
    scheduler: {mh: {fallback: true}}
    persistence: {timeout: 300, netmask: {v4: 255.255.255.0}}
    destinations:
      - {addr: "192.168.1.2:8080", weight: 3}
      - addr: "192.168.1.3:80"
        forwarding: directroute
      - addr: "192.0.2.7:80"
        forwarding: {tunnel: {gue: {port: 6080, checksum: remotechecksum}}}
      - addr: "192.0.2.8:80"
        forwarding: {tunnel: {gre: {checksum: true}}}
      - addr: "192.0.2.9:80"
        forwarding: {tunnel: ipip}
  - key:
      addr: {protocol: udp, addr: "[2001:db8::1]:53"}
    scheduler: rr
    one_packet: true
    destinations: [{addr: "[2001:db8::2]:53"}]
  - key: {fwmark: {family: inet6, mark: 7}}
    scheduler: {sh: {port: true}}
    destinations: [{addr: "[2001:db8::3]:0", forwarding: local}]
"#;

const TOML: &str = r#"
[[services]]
key = { addr = { protocol = "tcp", addr = "10.0.0.1:80" } }
scheduler = { mh = { fallback = true } }
persistence = { timeout = 300, netmask = { v4 = "255.255.255.0" } }
destinations = [
  { addr = "192.168.1.2:8080", weight = 3 },
  { addr = "192.168.1.3:80", forwarding = "directroute" },
  { addr = "192.0.2.7:80", forwarding = { tunnel = { gue = { port = 6080, checksum = "remotechecksum" } } } },
  { addr = "192.0.2.8:80", forwarding = { tunnel = { gre = { checksum = true } } } },
  { addr = "192.0.2.9:80", forwarding = { tunnel = "ipip" } },
]

[[services]]
key = { addr = { protocol = "udp", addr = "[2001:db8::1]:53" } }
scheduler = "rr"
one_packet = true
destinations = [{ addr = "[2001:db8::2]:53" }]

[[services]]
key = { fwmark = { family = "inet6", mark = 7 } }
scheduler = { sh = { port = true } }
destinations = [{ addr = "[2001:db8::3]:0", forwarding = "local" }]
"#;

#[test]
fn the_same_state_loads_from_yaml_toml_and_json() {
    let want = everything();
    let yaml: DesiredState = serde_yaml::from_str(YAML).unwrap_or_else(|e| panic!("YAML: {e}"));
    assert_eq!(yaml, want);
    let toml: DesiredState = toml::from_str(TOML).unwrap_or_else(|e| panic!("TOML: {e}"));
    assert_eq!(toml, want);
    let json = serde_json::to_string(&want).expect("to JSON");
    assert!(
        json.contains(r#""key":{"addr":{"protocol":"tcp","addr":"10.0.0.1:80"}}"#),
        "{json}"
    );
    assert!(json.contains(r#""forwarding":{"tunnel":{"gre":{"checksum":true}}}"#));
    assert_eq!(
        serde_json::from_str::<DesiredState>(&json).expect("from JSON"),
        want
    );
}

#[test]
fn saved_state_reloads_as_itself_in_every_format() {
    let want = everything();
    let yaml = serde_yaml::to_string(&want).expect("to YAML");
    assert!(!yaml.contains('!'), "no YAML tags, plain maps:\n{yaml}");
    assert_eq!(
        serde_yaml::from_str::<DesiredState>(&yaml).expect("YAML back"),
        want
    );
    let toml = toml::to_string(&want).expect("to TOML");
    assert_eq!(
        toml::from_str::<DesiredState>(&toml).expect("TOML back"),
        want
    );
    let json = serde_json::to_string_pretty(&want).expect("to JSON");
    assert_eq!(
        serde_json::from_str::<DesiredState>(&json).expect("JSON back"),
        want
    );
    // YAML tags (what serde_yaml 0.9's derived impls write) load too.
    let tagged = "services:\n  - key: !fwmark {family: inet, mark: 9}\n    scheduler: !sh {}\n";
    let d: DesiredState = serde_yaml::from_str(tagged).expect("tagged YAML");
    let key = ServiceKey::fwmark(AddressFamily::Inet, 9);
    assert_eq!(
        d.get(&key).map(|s| &s.service.scheduler),
        Some(&Scheduler::Sh(HashFlags::default()))
    );
}

#[test]
fn policies_and_drain_timeouts_round_trip_exactly() {
    let timeouts = [
        None,
        Some(Duration::ZERO),
        Some(Duration::from_millis(999)),
        Some(Duration::from_millis(1500)),
        Some(Duration::from_secs(900)),
        Some(Duration::from_nanos(1)),
        Some(Duration::new(3, 250_000)),
    ];
    for timeout in timeouts {
        let p = Policy::new(
            Scope::prefixes(["10.96.0.0/12".parse().expect("net")])
                .or(Scope::Fwmarks(100..=199))
                .or(Scope::services([ServiceKey::sctp(sa("10.0.0.1:3868"))]))
                .or(Scope::addresses([
                    sa("10.96.0.10:0").ip(),
                    sa("[fd00::10]:0").ip(),
                ])),
        )
        .with_drain(DrainPolicy::graceful().with_timeout(timeout));
        let json = serde_json::to_string(&p).expect("JSON");
        assert_eq!(
            serde_json::from_str::<Policy>(&json).expect("JSON back"),
            p,
            "{json}"
        );
        let yaml = serde_yaml::to_string(&p).expect("YAML");
        assert_eq!(
            serde_yaml::from_str::<Policy>(&yaml).expect("YAML back"),
            p,
            "{yaml}"
        );
        let toml = toml::to_string(&p).expect("TOML");
        assert_eq!(
            toml::from_str::<Policy>(&toml).expect("TOML back"),
            p,
            "{toml}"
        );
    }
    for (text, want) in [
        (r#""999ms""#, Some(Duration::from_millis(999))),
        (r#""1.5s""#, Some(Duration::from_millis(1500))),
        (r#""2m""#, Some(Duration::from_secs(120))),
        (r#""1h""#, Some(Duration::from_secs(3600))),
        (r#""250us""#, Some(Duration::from_micros(250))),
        ("30", Some(Duration::from_secs(30))),
        (r#""none""#, None),
        ("null", None),
    ] {
        let json = format!(r#"{{ "scope": "all", "drain": {{ "timeout": {text} }} }}"#);
        let p: Policy = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(p.drain.timeout, want, "{json}");
    }
}

/// Where a hostile or mistaken file must fail, and what the error must
/// name (the offending field or value, and its line).
struct Hostile {
    name: &'static str,
    format: Format,
    what: What,
    text: &'static str,
    /// Every one of these appears in the error.
    says: &'static [&'static str],
}

#[derive(Clone, Copy, Debug)]
enum Format {
    Json,
    Yaml,
    Toml,
}

#[derive(Clone, Copy, Debug)]
enum What {
    Desired,
    Policy,
}

fn load_error(h: &Hostile) -> Option<String> {
    fn load<T: serde::de::DeserializeOwned>(f: Format, text: &str) -> Option<String> {
        match f {
            Format::Json => serde_json::from_str::<T>(text).err().map(|e| e.to_string()),
            Format::Yaml => serde_yaml::from_str::<T>(text).err().map(|e| e.to_string()),
            Format::Toml => toml::from_str::<T>(text).err().map(|e| e.to_string()),
        }
    }
    match h.what {
        What::Desired => load::<DesiredState>(h.format, h.text),
        What::Policy => load::<Policy>(h.format, h.text),
    }
}

const HOSTILE: &[Hostile] = &[
    Hostile {
        name: "a service field inside key.addr (would create a wlc service)",
        format: Format::Json,
        what: What::Desired,
        text: "{\"services\": [\n {\"key\": {\"addr\": {\"protocol\": \"tcp\", \"addr\": \"10.0.0.1:80\",\n   \"scheduler\": \"rr\"}}}]}",
        says: &["unknown field `scheduler`", "line 3"],
    },
    Hostile {
        name: "unknown field inside key.fwmark",
        format: Format::Json,
        what: What::Desired,
        text: "{\"services\": [{\"key\": {\"fwmark\": {\"family\": \"inet\", \"mark\": 1, \"port\": 80}}}]}",
        says: &["unknown field `port`", "line 1"],
    },
    Hostile {
        name: "unknown field inside forwarding.tunnel.gue",
        format: Format::Json,
        what: What::Desired,
        text: "{\"services\": [{\"key\": {\"fwmark\": {\"family\": \"inet\", \"mark\": 1}},\n\"destinations\": [{\"addr\": \"10.1.1.1:80\",\n\"forwarding\": {\"tunnel\": {\"gue\": {\"port\": 6080, \"csum\": true}}}}]}]}",
        says: &["unknown field `csum`", "line 3"],
    },
    Hostile {
        name: "unknown field inside forwarding.tunnel.gre",
        format: Format::Yaml,
        what: What::Desired,
        text: "services:\n- key: {fwmark: {family: inet, mark: 1}}\n  destinations:\n  - addr: 10.1.1.1:80\n    forwarding: {tunnel: {gre: {checksum: true, key: 5}}}\n",
        says: &["unknown field `key`", "line 5"],
    },
    Hostile {
        name: "two variants in one key",
        format: Format::Json,
        what: What::Desired,
        text: "{\"services\": [{\"key\": {\"addr\": {\"protocol\": \"tcp\", \"addr\": \"10.0.0.1:80\"},\n \"fwmark\": {\"family\": \"inet\", \"mark\": 1}}}]}",
        says: &["exactly one key", "line 2"],
    },
    Hostile {
        name: "misspelt variant",
        format: Format::Yaml,
        what: What::Desired,
        text: "services:\n- key: {adr: {protocol: tcp, addr: 10.0.0.1:80}}\n",
        says: &["unknown variant `adr`", "line 2"],
    },
    Hostile {
        name: "unknown scheduler flag",
        format: Format::Toml,
        what: What::Desired,
        text: "[[services]]\nkey = { fwmark = { family = \"inet\", mark = 1 } }\nscheduler = { sh = { fallbak = true } }\n",
        says: &["unknown field `fallbak`", "line 3"],
    },
    Hostile {
        name: "an empty policy owns nothing by accident",
        format: Format::Json,
        what: What::Policy,
        text: "{}",
        says: &["missing field `scope`"],
    },
    Hostile {
        name: "an empty policy file (YAML)",
        format: Format::Yaml,
        what: What::Policy,
        text: "",
        says: &["scope"],
    },
    Hostile {
        name: "a policy with a drain but no scope",
        format: Format::Json,
        what: What::Policy,
        text: "{\"drain\": {\"timeout\": 30}}",
        says: &["missing field `scope`"],
    },
    Hostile {
        name: "a policy without scope in TOML",
        format: Format::Toml,
        what: What::Policy,
        text: "[drain]\ntimeout = 30\n",
        says: &["missing field `scope`"],
    },
    Hostile {
        name: "a duration in parsecs",
        format: Format::Json,
        what: What::Policy,
        text: "{\"scope\": \"all\",\n \"drain\": {\"timeout\": \"5 parsecs\"}}",
        says: &["unknown unit", "parsecs", "line 2"],
    },
    Hostile {
        name: "a negative duration",
        format: Format::Yaml,
        what: What::Policy,
        text: "scope: all\ndrain:\n  timeout: -5\n",
        says: &["negative", "line 3"],
    },
    Hostile {
        name: "a duration finer than a nanosecond",
        format: Format::Toml,
        what: What::Policy,
        text: "scope = \"all\"\n[drain]\ntimeout = \"1.0000000001s\"\n",
        says: &["finer than a nanosecond", "line 3"],
    },
    Hostile {
        name: "an unknown scope kind",
        format: Format::Json,
        what: What::Policy,
        text: "{\"scope\": {\"prefix\": [\"10.0.0.0/8\"]}}",
        says: &["unknown variant `prefix`"],
    },
];

#[test]
fn hostile_configs_are_clear_errors() {
    let mut failures = Vec::new();
    for h in HOSTILE {
        match load_error(h) {
            None => failures.push(format!("{} ({:?}): loaded without error", h.name, h.format)),
            Some(e) => {
                if std::env::var_os("LVS_SHOW_ERRORS").is_some() {
                    eprintln!("{} ({:?}): {e}", h.name, h.format);
                }
                for s in h.says {
                    if !e.contains(s) {
                        failures.push(format!(
                            "{} ({:?}): {e:?} does not say {s:?}",
                            h.name, h.format
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn input_that_can_never_carry_traffic_is_refused() {
    let no_port = Service::new(ServiceKey::tcp(sa("10.0.0.1:0")));
    let e = no_port.validate().expect_err("port 0 without persistence");
    assert!(e.to_string().contains("port 0"), "{e}");
    assert!(
        Service::new(ServiceKey::tcp(sa("10.0.0.1:0")))
            .with_persistence(60)
            .validate()
            .is_ok()
    );
    let key = ServiceKey::Addr {
        protocol: Protocol::Other(256),
        addr: sa("10.0.0.1:80"),
    };
    let e = Service::new(key).validate().expect_err("protocol 256");
    assert!(e.to_string().contains("0..=255"), "{e}");
    let esp = ServiceKey::Addr {
        protocol: Protocol::Other(50),
        addr: sa("10.0.0.1:0"),
    };
    assert!(Service::new(esp).with_persistence(60).validate().is_ok());
}

#[test]
fn a_large_service_scope_is_a_set() {
    let keys: Vec<ServiceKey> = (0..20_000u32)
        .map(|i| ServiceKey::tcp((std::net::Ipv4Addr::from(0x0a00_0000 + i), 80)))
        .collect();
    let scope = Scope::services(keys.iter().copied());
    assert!(keys.iter().all(|k| scope.contains(k)));
    assert!(!scope.contains(&ServiceKey::tcp(sa("192.0.2.1:80"))));
    let Scope::Services(set) = &scope else {
        panic!("not a service scope")
    };
    assert_eq!(set.len(), keys.len());
}
