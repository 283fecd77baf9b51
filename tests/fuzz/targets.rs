//! The fuzz targets' bodies, shared by the coverage-guided fuzzer
//! (`fuzz_targets/*.rs`, cargo-fuzz) and the stable smoke test
//! (`tests/fuzz_smoke.rs`, which runs them over the seeds and their
//! mutations in every `cargo test`), and the seeds both start from.
//! Decoders return errors; a panic, or a value that does not survive its
//! own round trip, is a bug.
#![allow(dead_code)]

use std::path::Path;

use lvs::reconcile::{DesiredState, Policy, Scope};
use lvs::request;
use lvs::wire::{
    Attribute, CmdAttr, DaemonAttr, DestAttr, Messages, ServiceAttr, StatsAttr, emit_attrs,
    parse_attrs, parse_cmd_attrs, parse_info_attrs,
};
use lvs::{AddressFamily, Destination, Forwarding, Scheduler, Service, ServiceKey};

/// Any datagram, as if the kernel sent it: every message through every
/// reply decoder.
pub fn netlink(data: &[u8]) {
    for msg in Messages::new(data) {
        let Ok(msg) = msg else { break };
        if let Some(err) = msg.error() {
            let _ = err;
            continue;
        }
        let Ok((_cmd, attrs)) = msg.genl() else {
            continue;
        };
        let _ = parse_cmd_attrs(attrs);
        let _ = parse_info_attrs(attrs);
        let _ = request::parse_service_reply(attrs);
        let _ = request::parse_destination_reply(attrs, AddressFamily::Inet);
        let _ = request::parse_destination_reply(attrs, AddressFamily::Inet6);
        let _ = request::parse_info_reply(attrs);
        let _ = request::parse_config_reply(attrs);
        let _ = request::parse_family_reply(attrs);
    }
}

fn round_trip<A: Attribute + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(attrs) = parse_attrs::<A>(data, "fuzz") {
        let bytes = emit_attrs(&attrs).expect("parsed attributes fit again");
        let again = parse_attrs::<A>(&bytes, "fuzz").expect("emitted attributes parse");
        assert_eq!(attrs, again);
    }
}

/// Any run of attributes through each attribute enum; what parses must
/// emit and parse back to itself.
pub fn attrs(data: &[u8]) {
    round_trip::<CmdAttr>(data);
    round_trip::<ServiceAttr>(data);
    round_trip::<DestAttr>(data);
    round_trip::<DaemonAttr>(data);
    round_trip::<StatsAttr>(data);
}

/// Any text as `/proc/net/ip_vs_conn` or `ip_vs_conn_sync`.
pub fn conn_table(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = lvs::Connection::parse_proc(text);
    }
}

/// Any text as a desired-state or policy file in JSON, YAML and TOML (the
/// C API's JSON loaders use the same code); what loads must save and load
/// back to itself.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = serde_json::from_str::<DesiredState>(text) {
        let json = serde_json::to_string(&d).expect("save JSON");
        assert_eq!(
            serde_json::from_str::<DesiredState>(&json).expect("reload JSON"),
            d
        );
    }
    if let Ok(p) = serde_json::from_str::<Policy>(text) {
        let json = serde_json::to_string(&p).expect("save JSON");
        assert_eq!(
            serde_json::from_str::<Policy>(&json).expect("reload JSON"),
            p
        );
    }
    if let Ok(d) = serde_yaml::from_str::<DesiredState>(text) {
        let yaml = serde_yaml::to_string(&d).expect("save YAML");
        assert_eq!(
            serde_yaml::from_str::<DesiredState>(&yaml).expect("reload YAML"),
            d
        );
    }
    if let Ok(p) = serde_yaml::from_str::<Policy>(text) {
        let yaml = serde_yaml::to_string(&p).expect("save YAML");
        assert_eq!(
            serde_yaml::from_str::<Policy>(&yaml).expect("reload YAML"),
            p
        );
    }
    if let Ok(d) = toml::from_str::<DesiredState>(text) {
        let t = toml::to_string(&d).expect("save TOML");
        assert_eq!(toml::from_str::<DesiredState>(&t).expect("reload TOML"), d);
    }
    if let Ok(p) = toml::from_str::<Policy>(text) {
        let t = toml::to_string(&p).expect("save TOML");
        assert_eq!(toml::from_str::<Policy>(&t).expect("reload TOML"), p);
    }
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The targets by name, as `tests/fuzz/run` and the smoke test name them.
pub const TARGETS: [(&str, Target); 4] = [
    ("netlink", netlink),
    ("attrs", attrs),
    ("conn_table", conn_table),
    ("config", config),
];

const CONN: &str = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
UDP 0A090002 9C42 0A090064 13C4 0A09000C 13C4 UDP             297
UDP 0A090002 0000 0A090064 13C4 0A09000C 13C4 NONE             57 sip aaa
TCP 2001:0db8:0009:0000:0000:0000:0000:0002 CFDC 2001:0db8:0009:0000:0000:0000:0000:0100 0055 0A09000C 0055 FIN_WAIT        110
";
const SYNC: &str = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires
TCP 0A000002 AE96 0A000001 0050 0A010002 0050 TIME_WAIT   SYNC       118
";

/// The datagrams of one fixture file: each `> send` / `< recv` block of
/// hex bytes.
fn datagrams(text: &str) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for line in text.lines() {
        if line.starts_with('>') || line.starts_with('<') {
            out.push(Vec::new());
        } else if let Some(cur) = out.last_mut()
            && !line.starts_with('#')
        {
            cur.extend(
                line.split_whitespace()
                    .filter_map(|b| u8::from_str_radix(b, 16).ok()),
            );
        }
    }
    out.retain(|d| !d.is_empty());
    out
}

/// The seeds, as (target, name, bytes): the netlink datagrams of the
/// golden fixtures under `root/tests/fixtures/ipvsadm` (what ipvsadm and
/// the kernel sent) and their attribute runs, connection tables in the
/// kernel's format, and a desired state and policy in JSON, YAML and TOML.
pub fn seeds(root: &Path) -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let dir = root.join("tests/fixtures/ipvsadm");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read fixture");
        let stem = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        for (i, d) in datagrams(&text).into_iter().enumerate() {
            // netlink (16) + generic netlink (4) headers, then attributes.
            if d.len() > 20 {
                out.push(("attrs", format!("{stem}-{i}"), d[20..].to_vec()));
            }
            out.push(("netlink", format!("{stem}-{i}"), d));
        }
    }
    out.push(("conn_table", "conn".into(), CONN.into()));
    out.push(("conn_table", "sync".into(), SYNC.into()));

    let web = ServiceKey::tcp(([10, 0, 0, 1], 80));
    let desired = DesiredState::new()
        .with_service(
            Service::new(web)
                .with_scheduler(Scheduler::Wrr)
                .with_persistence(300),
            [
                Destination::new(([192, 168, 1, 2], 8080)).with_weight(3),
                Destination::new(([192, 168, 1, 3], 80)).with_forwarding(Forwarding::DirectRoute),
            ],
        )
        .with_service(Service::new(ServiceKey::fwmark(AddressFamily::Inet, 7)), []);
    let policy = Policy::new(Scope::services([web]));
    for (name, text) in [
        (
            "desired.json",
            serde_json::to_string_pretty(&desired).expect("json"),
        ),
        (
            "desired.yaml",
            serde_yaml::to_string(&desired).expect("yaml"),
        ),
        ("desired.toml", toml::to_string(&desired).expect("toml")),
        (
            "policy.json",
            serde_json::to_string_pretty(&policy).expect("json"),
        ),
        ("policy.yaml", serde_yaml::to_string(&policy).expect("yaml")),
        ("policy.toml", toml::to_string(&policy).expect("toml")),
    ] {
        out.push(("config", name.into(), text.into_bytes()));
    }
    out
}
