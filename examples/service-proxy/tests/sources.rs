//! Manifest directories and the kubectl watch stream.

use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use lvs_service_proxy::manifest::{parse_text, watch_event};
use lvs_service_proxy::source::{Msg, read_dir, spawn_dir, spawn_stream};
use lvs_service_proxy::store::{Cluster, Event, Object};

const SVC_JSON: &str = r#"{"apiVersion":"v1","kind":"Service","metadata":{"namespace":"a","name":"s1"},
 "spec":{"clusterIP":"10.96.0.1","ports":[{"port":80}]}}"#;

#[test]
fn lists_multi_documents_and_json() {
    let yaml = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {namespace: a, name: s2}\n  spec: {clusterIP: 10.96.0.2, ports: [{port: 80}]}\n---\n# empty doc next\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ignored}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSliceList\nitems:\n- metadata: {namespace: a, name: s2-x, labels: {kubernetes.io/service-name: s2}}\n  addressType: IPv4\n  endpoints: []\n";
    let p = parse_text("x.yaml", yaml);
    assert!(p.skipped.is_empty(), "{:?}", p.skipped);
    assert_eq!(p.objects.len(), 2);
    assert!(matches!(&p.objects[1], Object::Slice(_)));
    let p = parse_text("x.json", &format!("{SVC_JSON}\n{SVC_JSON}"));
    assert_eq!(p.objects.len(), 2);
    // A bad object is skipped with its name; the rest is kept.
    let p = parse_text(
        "y.yaml",
        "kind: Service\nmetadata: {namespace: a, name: broken}\nspec: {ports: 7}\n---\nkind: Service\nmetadata: {namespace: a, name: ok}\n",
    );
    assert_eq!(p.objects.len(), 1);
    assert_eq!(p.skipped.len(), 1);
    assert_eq!(p.skipped[0].what, "Service a/broken");
    let p = parse_text("z.yaml", ": : :\n  - [");
    assert_eq!(p.skipped.len(), 1);
    assert!(p.skipped[0].reason.starts_with("bad YAML"));
}

#[test]
fn watch_events() {
    let v = serde_json::json!({"type": "DELETED", "object": serde_json::from_str::<serde_json::Value>(SVC_JSON).unwrap()});
    assert!(matches!(
        watch_event(v),
        Ok(Some(Event::Delete(Object::Service(_))))
    ));
    let v = serde_json::json!({"type": "BOOKMARK", "object": {"kind": "Service", "metadata": {"resourceVersion": "5"}}});
    assert!(matches!(watch_event(v), Ok(None)));
}

fn drain(rx: &mpsc::Receiver<Msg>, until_ready: bool) -> Vec<Msg> {
    let mut v = Vec::new();
    while let Ok(m) = rx.recv_timeout(Duration::from_secs(20)) {
        let ready = matches!(m, Msg::Ready(_));
        v.push(m);
        if ready == until_ready && ready {
            break;
        }
    }
    v
}

#[test]
fn directory_is_reread_on_change() {
    let dir = std::env::temp_dir().join(format!("lvs-proxy-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.json"), SVC_JSON).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a manifest").unwrap();
    assert_eq!(read_dir(&dir).objects.len(), 1);
    let (tx, rx) = mpsc::channel();
    spawn_dir(dir.clone(), Duration::from_millis(20), tx);
    let mut c = Cluster::new("n");
    for m in drain(&rx, true) {
        if let Msg::Event(e) = m {
            c.apply(e);
        }
    }
    assert_eq!(c.services().len(), 1);
    std::fs::write(
        dir.join("b.yaml"),
        SVC_JSON.replace("s1", "s2").replace("0.1", "0.2"),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while c.services().len() != 2 && std::time::Instant::now() < deadline {
        if let Ok(Msg::Event(e)) = rx.recv_timeout(Duration::from_millis(200)) {
            c.apply(e);
        }
    }
    assert_eq!(c.services().len(), 2);
    std::fs::remove_file(dir.join("a.json")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while c.services().len() != 1 && std::time::Instant::now() < deadline {
        if let Ok(Msg::Event(e)) = rx.recv_timeout(Duration::from_millis(200)) {
            c.apply(e);
        }
    }
    assert_eq!(c.services().keys().next().unwrap().1, "s2");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kubectl_watch_stream() {
    let (mut w, r) = std::os::unix::net::UnixStream::pair().unwrap();
    let (tx, rx) = mpsc::channel();
    spawn_stream(r, Duration::from_millis(200), tx);
    // kubectl prints pretty JSON, one event after another.
    let added = format!("{{\"type\": \"ADDED\", \"object\": {SVC_JSON}}}\n");
    w.write_all(added.as_bytes()).unwrap();
    let msgs = drain(&rx, true);
    assert!(matches!(msgs.first(), Some(Msg::Event(Event::Upsert(_)))));
    assert!(matches!(msgs.last(), Some(Msg::Ready("stdin"))));
    w.write_all(added.replace("ADDED", "DELETED").as_bytes())
        .unwrap();
    let m = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(matches!(m, Msg::Event(Event::Delete(_))));
    w.write_all(b"{ not json").unwrap();
    drop(w);
    let m = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(matches!(m, Msg::Skipped(_)), "{m:?}");
}
