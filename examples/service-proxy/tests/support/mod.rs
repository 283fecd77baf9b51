//! Helpers shared by the proxy's kernel tests: namespaces, commands,
//! pod servers, requests, continuous load, IPVS and metrics reads.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use lvs::{Handle, ServiceKey};

pub fn sh(cmd: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run `f` on a thread inside network namespace `ns`.
pub fn spawn_in<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    thread::spawn(move || {
        let f_ns = File::open(&path).expect("netns exists");
        rustix::thread::move_into_link_name_space(
            f_ns.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("setns");
        f()
    })
}

pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    spawn_in(ns, f).join().expect("thread in netns")
}

pub fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {secs}s waiting for: {what}");
}

/// TCP 8080 and UDP 5353 servers in pod `name`, answering
/// `<name> <peer ip>`.
pub fn start_servers(name: &'static str) {
    spawn_in(name, move || {
        let l = TcpListener::bind("0.0.0.0:8080").expect("bind 8080");
        for c in l.incoming().flatten() {
            thread::spawn(move || {
                let mut c = c;
                let peer = c
                    .peer_addr()
                    .map(|p| p.ip().to_string())
                    .unwrap_or_default();
                let mut b = [0u8; 64];
                let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = c.read(&mut b);
                let _ = c.write_all(format!("{name} {peer}\n").as_bytes());
            });
        }
    });
    spawn_in(name, move || {
        let u = UdpSocket::bind("0.0.0.0:5353").expect("bind 5353");
        let mut b = [0u8; 512];
        while let Ok((_, peer)) = u.recv_from(&mut b) {
            let _ = u.send_to(format!("{name} {}\n", peer.ip()).as_bytes(), peer);
        }
    });
}

/// One TCP request from `ns` to `to`: `(pod, peer seen by the pod)`.
pub fn tcp_from(ns: &str, to: &str) -> Result<(String, String), String> {
    let to: SocketAddr = to.parse().map_err(|e| format!("{e}"))?;
    in_ns(ns, move || tcp_req(to))
}

pub fn tcp_req(to: SocketAddr) -> Result<(String, String), String> {
    let mut c = TcpStream::connect_timeout(&to, Duration::from_secs(5))
        .map_err(|e| format!("connect {to}: {e}"))?;
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    c.write_all(b"hi\n")
        .map_err(|e| format!("write {to}: {e}"))?;
    let mut s = String::new();
    c.read_to_string(&mut s)
        .map_err(|e| format!("read {to}: {e}"))?;
    let mut it = s.split_whitespace();
    match (it.next(), it.next()) {
        (Some(a), Some(b)) => Ok((a.to_string(), b.to_string())),
        _ => Err(format!("short reply {s:?} from {to}")),
    }
}

pub fn udp_from(ns: &str, to: &str) -> Result<(String, String), String> {
    let to: SocketAddr = to.parse().map_err(|e| format!("{e}"))?;
    in_ns(ns, move || {
        let u = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
        u.set_read_timeout(Some(Duration::from_secs(3)))
            .map_err(|e| e.to_string())?;
        u.send_to(b"q", to).map_err(|e| e.to_string())?;
        let mut b = [0u8; 128];
        let (n, _) = u.recv_from(&mut b).map_err(|e| format!("udp {to}: {e}"))?;
        let s = String::from_utf8_lossy(&b[..n]).to_string();
        let mut it = s.split_whitespace();
        Ok((
            it.next().unwrap_or("").to_string(),
            it.next().unwrap_or("").to_string(),
        ))
    })
}

pub fn http_get(ns: &str, to: &str, path: &str) -> Result<(u16, String), String> {
    let to: SocketAddr = to.parse().map_err(|e| format!("{e}"))?;
    let path = path.to_string();
    in_ns(ns, move || {
        let mut c =
            TcpStream::connect_timeout(&to, Duration::from_secs(5)).map_err(|e| e.to_string())?;
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").map_err(|e| e.to_string())?;
        let mut s = String::new();
        c.read_to_string(&mut s).map_err(|e| e.to_string())?;
        let code = s
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = s
            .split_once("\r\n\r\n")
            .map(|x| x.1.to_string())
            .unwrap_or_default();
        Ok((code, body))
    })
}

/// The IPVS table of node `ns`: service -> (destination -> weight).
pub fn ipvs(ns: &str) -> BTreeMap<ServiceKey, BTreeMap<SocketAddr, u32>> {
    let mut h =
        Handle::open_netns_path(format!("/run/netns/{ns}")).expect("IPVS reachable in the guest");
    h.table()
        .expect("table")
        .into_iter()
        .map(|e| {
            let d = e
                .destinations
                .iter()
                .map(|d| (d.destination.addr, d.destination.weight))
                .collect();
            (e.service.service.key, d)
        })
        .collect()
}

/// Destinations with a non-zero weight.
pub fn live(ns: &str, key: ServiceKey) -> BTreeSet<SocketAddr> {
    ipvs(ns)
        .get(&key)
        .map(|d| d.iter().filter(|(_, w)| **w > 0).map(|(a, _)| *a).collect())
        .unwrap_or_default()
}

pub fn metric(ns: &str, name: &str) -> Option<f64> {
    let (code, body) = http_get(ns, "127.0.0.1:10249", "/metrics").ok()?;
    if code != 200 {
        return None;
    }
    body.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Continuous TCP requests from `ns` to `to` until stopped: (ok, failures).
pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Load {
    pub fn start(ns: &str, to: &str) -> Load {
        let to: SocketAddr = to.parse().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let (s, o, f) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failures));
        let thread = spawn_in(ns, move || {
            while !s.load(Ordering::Relaxed) {
                match tcp_req(to) {
                    Ok(_) => {
                        o.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => f.lock().unwrap().push(e),
                }
                thread::sleep(Duration::from_millis(20));
            }
        });
        Load {
            stop,
            ok,
            failures,
            thread: Some(thread),
        }
    }

    /// Wait until `n` more requests succeeded (so the load spans a change).
    pub fn pass(&self, n: usize) {
        let start = self.ok.load(Ordering::Relaxed);
        wait_until(&format!("{n} more requests"), 120, || {
            self.ok.load(Ordering::Relaxed) >= start + n
        });
    }

    pub fn finish(mut self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failures.lock().unwrap().clone(),
        )
    }
}

pub fn names(rs: &[(String, String)]) -> BTreeSet<String> {
    rs.iter().map(|r| r.0.clone()).collect()
}

pub fn repeat(
    n: usize,
    mut f: impl FnMut() -> Result<(String, String), String>,
) -> Vec<(String, String)> {
    (0..n)
        .map(|_| f().unwrap_or_else(|e| panic!("request failed: {e}")))
        .collect()
}

/// Start `lvs-proxy` in netns `ns` on the manifest directory `dir`, with
/// `args` and the HTTP endpoints on 127.0.0.1; appends its log to `log`.
pub fn spawn_proxy(ns: &str, dir: &Path, args: &[String], log: std::path::PathBuf) -> Child {
    let log = File::options()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            env!("CARGO_BIN_EXE_lvs-proxy"),
            "--manifests",
        ])
        .arg(dir)
        .args([
            "--metrics-bind-address",
            "127.0.0.1:10249",
            "--healthz-bind-address",
            "127.0.0.1:10256",
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("lvs-proxy starts")
}
