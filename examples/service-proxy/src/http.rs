//! A small HTTP/1.1 responder for `/healthz`, `/metrics` and the
//! health-check node ports: GET only, one response per connection. Probes
//! and scrapers need nothing more, and it keeps an HTTP server stack out
//! of the proxy.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use tracing::warn;

use crate::translate::HealthCheck;

/// One response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, body: String) -> Self {
        Response {
            status,
            content_type: "application/json",
            body,
        }
    }
}

/// Answers a request path.
pub type Handler = Arc<dyn Fn(&str) -> Response + Send + Sync>;

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "",
    }
}

fn handle(mut conn: TcpStream, handler: &Handler) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let path = target.split('?').next().unwrap_or("/");
    let resp = match method {
        "GET" | "HEAD" => handler(path),
        _ => Response::json(405, "{}".into()),
    };
    let body = if method == "HEAD" {
        ""
    } else {
        resp.body.as_str()
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len(),
        body
    );
}

/// Serve `handler` on `listener` in a thread until `stop` is set (and a
/// connection wakes the thread).
pub fn serve(
    listener: TcpListener,
    handler: Handler,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for conn in listener.incoming() {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match conn {
                Ok(c) => handle(c, &handler),
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    thread::sleep(Duration::from_millis(100));
                }
            }
        }
    })
}

/// The body a health-check port answers: kube-proxy's shape.
pub fn health_body(h: &HealthCheck) -> String {
    let (ns, name) = h.service.split_once('/').unwrap_or(("", &h.service));
    serde_json::json!({
        "service": {"namespace": ns, "name": name},
        "localEndpoints": h.local_endpoints,
        "serviceProxyHealthy": true,
    })
    .to_string()
}

/// The health-check node ports of `externalTrafficPolicy: Local`
/// services: 200 with the local endpoint count, 503 with none.
#[derive(Default)]
pub struct HealthPorts {
    state: Arc<Mutex<BTreeMap<u16, HealthCheck>>>,
    running: BTreeMap<u16, Arc<AtomicBool>>,
    /// Address to listen on (default: all IPv4 addresses).
    pub bind: Option<IpAddr>,
}

impl HealthPorts {
    /// Serve exactly `wanted`. Returns ports that could not be opened.
    pub fn update(&mut self, wanted: &BTreeMap<u16, HealthCheck>) -> Vec<(u16, String)> {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = wanted.clone();
        let ip = self.bind.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let mut failed = Vec::new();
        let gone: Vec<u16> = self
            .running
            .keys()
            .filter(|p| !wanted.contains_key(p))
            .copied()
            .collect();
        for port in gone {
            if let Some(stop) = self.running.remove(&port) {
                stop.store(true, Ordering::Relaxed);
                let wake = if ip.is_unspecified() {
                    IpAddr::V4(Ipv4Addr::LOCALHOST)
                } else {
                    ip
                };
                let _ = TcpStream::connect_timeout(
                    &SocketAddr::new(wake, port),
                    Duration::from_secs(1),
                );
            }
        }
        for &port in wanted.keys() {
            if self.running.contains_key(&port) {
                continue;
            }
            match TcpListener::bind(SocketAddr::new(ip, port)) {
                Ok(l) => {
                    let stop = Arc::new(AtomicBool::new(false));
                    let state = Arc::clone(&self.state);
                    let handler: Handler = Arc::new(move |_path: &str| {
                        let s = state.lock().unwrap_or_else(PoisonError::into_inner);
                        match s.get(&port) {
                            Some(h) => Response::json(
                                if h.local_endpoints > 0 { 200 } else { 503 },
                                health_body(h),
                            ),
                            None => Response::json(503, "{}".into()),
                        }
                    });
                    serve(l, handler, Arc::clone(&stop));
                    self.running.insert(port, stop);
                }
                Err(e) => failed.push((port, e.to_string())),
            }
        }
        failed
    }
}
