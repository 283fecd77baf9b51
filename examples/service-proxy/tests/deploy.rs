//! The DaemonSet manifest parses with the API types and runs the binary
//! with flags it knows.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde::Deserialize;

const MANIFEST: &str = include_str!("../deploy/daemonset.yaml");

#[test]
fn daemonset_manifest() {
    let mut kinds = Vec::new();
    let mut daemonset = None;
    for doc in serde_norway::Deserializer::from_str(MANIFEST) {
        let v = serde_json::Value::deserialize(doc).expect("YAML");
        let kind = v["kind"].as_str().unwrap_or("").to_string();
        match kind.as_str() {
            "DaemonSet" => {
                daemonset = Some(serde_json::from_value::<DaemonSet>(v).expect("DaemonSet"))
            }
            "ServiceAccount" => {
                drop(serde_json::from_value::<ServiceAccount>(v).expect("ServiceAccount"))
            }
            "ClusterRole" => {
                let r: ClusterRole = serde_json::from_value(v).expect("ClusterRole");
                let rules = r.rules.unwrap_or_default();
                for res in ["services", "endpointslices", "nodes"] {
                    assert!(
                        rules
                            .iter()
                            .any(|r| r.resources.iter().flatten().any(|x| x == res)
                                && r.verbs.contains(&"watch".to_string())
                                && r.verbs.contains(&"list".to_string())),
                        "no list/watch on {res}"
                    );
                }
            }
            "ClusterRoleBinding" => {
                drop(serde_json::from_value::<ClusterRoleBinding>(v).expect("binding"))
            }
            other => panic!("unexpected kind {other}"),
        }
        kinds.push(kind);
    }
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "DaemonSet"
        ]
    );
    let ds = daemonset.unwrap();
    let pod = ds.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.host_network, Some(true));
    let c = &pod.containers[0];
    let caps = c
        .security_context
        .as_ref()
        .unwrap()
        .capabilities
        .as_ref()
        .unwrap();
    assert!(
        caps.add
            .as_ref()
            .unwrap()
            .contains(&"NET_ADMIN".to_string())
    );
    // Every flag in the manifest is one the binary documents.
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_lvs-proxy"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    let cmd = c.command.as_ref().unwrap();
    assert!(cmd[0].ends_with("lvs-proxy"));
    for flag in &cmd[1..] {
        let name = flag.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{name} ")),
            "{name} is not in --help"
        );
    }
    let probe = c
        .liveness_probe
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(probe.path.as_deref(), Some("/healthz"));
}
