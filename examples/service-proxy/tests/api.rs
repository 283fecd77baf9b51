//! The live-API source against a local HTTP server that speaks the API
//! server's list and watch formats: a paginated-style list, a chunked
//! watch stream with a BOOKMARK, then a `410 Gone` watch error that forces
//! a re-list (what an API server sends when the resource version expired).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use lvs_service_proxy::source::{API_SOURCES, ApiTarget, Msg, client, run_api};
use lvs_service_proxy::store::{Cluster, Event};
use serde_json::json;

fn service(name: &str, rv: &str, ip: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"namespace": "default", "name": name, "resourceVersion": rv},
           "spec": {"clusterIP": ip, "ports": [{"port": 80, "protocol": "TCP"}]}})
}

#[derive(Default)]
struct Api {
    service_lists: AtomicUsize,
    service_watches: AtomicUsize,
    requests: Mutex<Vec<String>>,
}

fn respond(conn: &mut TcpStream, body: &serde_json::Value) {
    let b = body.to_string();
    let _ = write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
        b.len()
    );
}

fn chunk(conn: &mut TcpStream, v: &serde_json::Value) {
    let line = format!("{v}\n");
    let _ = write!(conn, "{:x}\r\n{line}\r\n", line.len());
    let _ = conn.flush();
}

fn serve(api: Arc<Api>, mut conn: TcpStream) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    loop {
        let mut l = String::new();
        if reader.read_line(&mut l).map(|n| n == 0).unwrap_or(true) || l == "\r\n" {
            break;
        }
    }
    let target = first.split_whitespace().nth(1).unwrap_or("").to_string();
    api.requests.lock().unwrap().push(target.clone());
    let watch = target.contains("watch=true");
    let (path, _) = target.split_once('?').unwrap_or((&target, ""));
    if !watch {
        let list = match path {
            "/api/v1/services" => {
                let n = api.service_lists.fetch_add(1, Ordering::SeqCst);
                if n == 0 {
                    json!({"kind": "ServiceList", "apiVersion": "v1", "metadata": {"resourceVersion": "10"},
                           "items": [service("s1", "9", "10.96.0.1")]})
                } else {
                    // s1 was deleted while the watch was gone; s3 is new.
                    json!({"kind": "ServiceList", "apiVersion": "v1", "metadata": {"resourceVersion": "20"},
                           "items": [service("s2", "11", "10.96.0.2"), service("s3", "19", "10.96.0.3")]})
                }
            }
            "/apis/discovery.k8s.io/v1/endpointslices" => {
                json!({"kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1",
                       "metadata": {"resourceVersion": "10"}, "items": []})
            }
            "/api/v1/nodes" => {
                json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "10"},
                "items": [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "resourceVersion": "3"},
                           "status": {"addresses": [{"type": "InternalIP", "address": "192.168.1.1"}]}}]})
            }
            _ => {
                let _ = write!(
                    conn,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                return;
            }
        };
        respond(&mut conn, &list);
        return;
    }
    let _ = write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let _ = conn.flush();
    if path == "/api/v1/services" && api.service_watches.fetch_add(1, Ordering::SeqCst) == 0 {
        chunk(
            &mut conn,
            &json!({"type": "ADDED", "object": service("s2", "11", "10.96.0.2")}),
        );
        chunk(
            &mut conn,
            &json!({"type": "BOOKMARK", "object": {"kind": "Service", "apiVersion": "v1",
              "metadata": {"resourceVersion": "12"}}}),
        );
        chunk(
            &mut conn,
            &json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1",
              "metadata": {}, "status": "Failure", "message": "too old resource version: 12 (15)",
              "reason": "Expired", "code": 410}}),
        );
        let _ = write!(conn, "0\r\n\r\n");
        return;
    }
    // Other watches stay open and quiet (keep the socket until the peer goes).
    let mut buf = String::new();
    let _ = reader.read_line(&mut buf);
}

#[test]
fn watchers_list_watch_bookmark_and_relist_after_410() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let api = Arc::new(Api::default());
    let a2 = Arc::clone(&api);
    thread::spawn(move || {
        for c in listener.incoming().flatten() {
            let a = Arc::clone(&a2);
            thread::spawn(move || serve(a, c));
        }
    });

    let (tx, rx) = mpsc::channel();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = rt
        .block_on(client(&ApiTarget::Url(format!("http://{addr}"))))
        .unwrap();
    thread::spawn(move || rt.block_on(run_api(c, "node-1".into(), tx)));

    let mut cluster = Cluster::new("node-1");
    let mut ready = BTreeSet::new();
    let mut history = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let names = |c: &Cluster| c.services().keys().map(|k| k.1.clone()).collect::<Vec<_>>();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Msg::Event(e)) => {
                let label = match &e {
                    Event::Upsert(o) => format!("upsert {}", o.key().1),
                    Event::Delete(o) => format!("delete {}", o.key().1),
                    Event::Replace(k, v) => format!("replace {k:?} {}", v.len()),
                };
                history.push(label);
                cluster.apply(e);
            }
            Ok(Msg::Ready(n)) => {
                ready.insert(n);
            }
            Ok(Msg::Skipped(s)) => panic!("skipped {s:?}"),
            Err(_) => {}
        }
        if ready.len() == 3 && names(&cluster) == ["s2", "s3"] {
            break;
        }
    }
    assert_eq!(ready, API_SOURCES.into_iter().collect(), "{history:?}");
    assert_eq!(names(&cluster), ["s2", "s3"], "{history:?}");
    assert!(cluster.node().is_some(), "this node's object is kept");
    // The order: first list, the watched add, then the re-list after 410.
    let svc: Vec<&String> = history
        .iter()
        .filter(|h| h.contains("Service") || h.starts_with("upsert s"))
        .collect();
    assert_eq!(
        svc,
        ["replace Service 1", "upsert s2", "replace Service 2"],
        "{history:?}"
    );
    assert_eq!(api.service_lists.load(Ordering::SeqCst), 2);
    let reqs = api.requests.lock().unwrap().clone();
    assert!(
        reqs.iter().any(|r| r.starts_with("/api/v1/nodes?")
            && r.contains("fieldSelector=metadata.name%3Dnode-1")),
        "{reqs:?}"
    );
    assert!(
        reqs.iter().any(|r| r.contains("allowWatchBookmarks=true")),
        "{reqs:?}"
    );
}
