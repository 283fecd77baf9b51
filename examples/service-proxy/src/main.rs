//! `lvs-proxy`: a Kubernetes node service proxy with kube-proxy's IPVS-mode
//! semantics. See the crate's library documentation and `--help`.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ipnet::IpNet;
use lvs::{Handle, Scheduler, Timeouts};
use lvs_service_proxy::http::{self, HealthPorts, Response};
use lvs_service_proxy::metrics::Metrics;
use lvs_service_proxy::nft;
use lvs_service_proxy::node::{self, DUMMY, Links};
use lvs_service_proxy::proxy::{NodeSide, Proxy};
use lvs_service_proxy::source::{self, API_SOURCES, ApiTarget, Msg};
use lvs_service_proxy::store::Cluster;
use lvs_service_proxy::translate::{Config, Translation};
use tracing::{Level, error, info, warn};

const HELP: &str = "\
lvs-proxy: Kubernetes Services on IPVS (kube-proxy --proxy-mode=ipvs semantics)

Sources (at least one; the API server is the default):
  --manifests DIR               Services/EndpointSlices/Nodes as YAML or JSON files, re-read on change
  --manifest-poll DURATION      how often to look for changes (default 1s)
  --watch-stdin                 read `kubectl get services,endpointslices -A --watch --output-watch-events -o json`
  --stdin-settle DURATION       quiet time that ends the initial list on stdin (default 1s)
  --kubeconfig PATH             API server from a kubeconfig
  --master URL                  API server URL (no credentials)
  (none of the above: in-cluster service account, else the default kubeconfig)

kube-proxy flags with the same meaning:
  --hostname-override NAME      this node's name (default: the host name)
  --ipvs-scheduler NAME         rr (default), wrr, lc, wlc, sh, mh, ...
  --ipvs-strict-arp             arp_ignore=1, arp_announce=2
  --ipvs-tcp-timeout DURATION   IPVS TCP idle timeout (0: leave as is)
  --ipvs-tcpfin-timeout DURATION
  --ipvs-udp-timeout DURATION
  --ipvs-sync-period DURATION   full resync period (default 30s)
  --nodeport-addresses CIDRS    comma-separated; NodePorts only on node addresses inside them
  --masquerade-all              masquerade all service traffic
  --cluster-cidr CIDRS          comma-separated; masquerade ClusterIP traffic from outside them
  --healthz-bind-address ADDR   default 0.0.0.0:10256 (empty: off)
  --metrics-bind-address ADDR   default 127.0.0.1:10249 (empty: off)
  --cleanup                     remove the proxy's IPVS services, dummy interface and nftables table, then exit
  --v N                         log verbosity (4 and up: debug)

Other:
  --node-port-range A-B         NodePorts adopted from the kernel at start (default 30000-32767)
  --help
";

struct Args {
    manifests: Option<PathBuf>,
    manifest_poll: Duration,
    watch_stdin: bool,
    stdin_settle: Duration,
    api: Option<ApiTarget>,
    hostname: Option<String>,
    scheduler: Scheduler,
    strict_arp: bool,
    timeouts: Timeouts,
    sync_period: Duration,
    nodeport_cidrs: Vec<IpNet>,
    masquerade_all: bool,
    cluster_cidrs: Vec<IpNet>,
    healthz: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
    cleanup: bool,
    verbosity: u32,
    node_port_range: (u16, u16),
}

/// `90`, `90s`, `15m`, `2h`, `500ms`.
fn duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("bad duration {s:?} (e.g. 30s, 15m, 500ms)");
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| bad())?;
    Ok(match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(bad()),
    })
}

fn cidrs(s: &str) -> Result<Vec<IpNet>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<IpNet>()
                .map(|n| n.trunc())
                .map_err(|_| format!("bad CIDR {c:?}"))
        })
        .collect()
}

fn bind_addr(s: &str) -> Result<Option<SocketAddr>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| format!("bad address {s:?} (want IP:PORT)"))
}

fn timeout_secs(s: &str) -> Result<Option<u32>, String> {
    let d = duration(s)?;
    if d.is_zero() {
        return Ok(None);
    }
    u32::try_from(d.as_secs())
        .map(Some)
        .map_err(|_| format!("timeout {s} too large"))
}

fn parse_args() -> Result<Option<Args>, String> {
    use lexopt::prelude::*;
    let mut a = Args {
        manifests: None,
        manifest_poll: Duration::from_secs(1),
        watch_stdin: false,
        stdin_settle: Duration::from_secs(1),
        api: None,
        hostname: None,
        scheduler: Scheduler::Rr,
        strict_arp: false,
        timeouts: Timeouts::default(),
        sync_period: Duration::from_secs(30),
        nodeport_cidrs: Vec::new(),
        masquerade_all: false,
        cluster_cidrs: Vec::new(),
        healthz: bind_addr("0.0.0.0:10256")?,
        metrics: bind_addr("127.0.0.1:10249")?,
        cleanup: false,
        verbosity: 2,
        node_port_range: (30000, 32767),
    };
    let mut p = lexopt::Parser::from_env();
    let e = |e: lexopt::Error| e.to_string();
    while let Some(arg) = p.next().map_err(e)? {
        let name = match arg {
            Long(l) => l.to_string(),
            Short(c) => c.to_string(),
            Value(v) => return Err(format!("unexpected argument {v:?}")),
        };
        let mut val = || -> Result<String, String> {
            p.value()
                .map_err(e)?
                .into_string()
                .map_err(|v| format!("not UTF-8: {v:?}"))
        };
        match name.as_str() {
            "help" | "h" => {
                print!("{HELP}");
                return Ok(None);
            }
            "manifests" => a.manifests = Some(val()?.into()),
            "manifest-poll" => a.manifest_poll = duration(&val()?)?,
            "watch-stdin" => a.watch_stdin = true,
            "stdin-settle" => a.stdin_settle = duration(&val()?)?,
            "kubeconfig" => a.api = Some(ApiTarget::Kubeconfig(val()?.into())),
            "master" => a.api = Some(ApiTarget::Url(val()?)),
            "hostname-override" => a.hostname = Some(val()?),
            "ipvs-scheduler" => {
                let v = val()?;
                a.scheduler = Scheduler::from_name(&v)
                    .map_err(|err| format!("--ipvs-scheduler {v}: {err}"))?;
            }
            "ipvs-strict-arp" => a.strict_arp = true,
            "ipvs-tcp-timeout" => a.timeouts.tcp = timeout_secs(&val()?)?,
            "ipvs-tcpfin-timeout" => a.timeouts.tcp_fin = timeout_secs(&val()?)?,
            "ipvs-udp-timeout" => a.timeouts.udp = timeout_secs(&val()?)?,
            "ipvs-sync-period" => {
                a.sync_period = duration(&val()?)?.max(Duration::from_millis(100))
            }
            "nodeport-addresses" => a.nodeport_cidrs = cidrs(&val()?)?,
            "masquerade-all" => a.masquerade_all = true,
            "cluster-cidr" => a.cluster_cidrs = cidrs(&val()?)?,
            "healthz-bind-address" => a.healthz = bind_addr(&val()?)?,
            "metrics-bind-address" => a.metrics = bind_addr(&val()?)?,
            "cleanup" => a.cleanup = true,
            "v" => {
                a.verbosity = val()?
                    .parse()
                    .map_err(|_| "--v wants a number".to_string())?
            }
            "node-port-range" => {
                let v = val()?;
                let r = v
                    .split_once('-')
                    .and_then(|(x, y)| Some((x.parse().ok()?, y.parse().ok()?)))
                    .ok_or_else(|| format!("bad --node-port-range {v:?}"))?;
                a.node_port_range = r;
            }
            other => return Err(format!("unknown option --{other}")),
        }
    }
    Ok(Some(a))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_lowercase())
        .unwrap_or_default()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lvs-proxy: {e}\n(see --help)");
            return ExitCode::from(2);
        }
    };
    let level = if args.verbosity >= 4 {
        Level::DEBUG
    } else {
        Level::INFO
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let node_name = args.hostname.clone().unwrap_or_else(hostname);
    let cfg = Config {
        scheduler: args.scheduler.clone(),
        nodeport_cidrs: args.nodeport_cidrs.clone(),
        masquerade_all: args.masquerade_all,
        cluster_cidrs: args.cluster_cidrs.clone(),
    };
    let mut handle = Handle::open().map_err(|e| format!("cannot reach IPVS: {e}"))?;
    let links = Links::ensure_dummy(DUMMY).map_err(|e| e.to_string())?;
    if args.cleanup {
        return cleanup(handle, links, cfg, &node_name);
    }
    for s in node::set_sysctls(args.strict_arp) {
        match &s.outcome {
            Ok(v) => info!(sysctl = %s.name, value = %v, set = s.want.is_some(), "sysctl"),
            Err(e) => warn!(sysctl = %s.name, error = %e, "sysctl"),
        }
    }
    // Load the scheduler's module now, holding no IPVS lock: left to the
    // kernel's on-demand load at the first service, it can deadlock
    // against a pod's namespace teardown on this node (lvs::kmod).
    let modules: Vec<String> = cfg.scheduler.kernel_module().into_iter().collect();
    match lvs::kmod::ensure_loaded(&modules) {
        Ok(()) => info!(?modules, "scheduler module loaded"),
        Err(e) => {
            warn!(error = %e, "cannot load the scheduler's module; the kernel will try at the first service")
        }
    }
    let t = args.timeouts;
    if t.tcp.is_some() || t.tcp_fin.is_some() || t.udp.is_some() {
        handle
            .set_timeouts(&t)
            .map_err(|e| format!("cannot set IPVS timeouts: {e}"))?;
    }
    let metrics = Arc::new(Metrics::new());
    let node_side = NodeSide {
        links,
        cluster_cidrs: args.cluster_cidrs.clone(),
        health: HealthPorts::default(),
    };
    let mut proxy = Proxy::new(
        Cluster::new(node_name.clone()),
        cfg,
        handle,
        Some(node_side),
        Arc::clone(&metrics),
    );
    let (lo, hi) = args.node_port_range;
    match proxy
        .ipvs
        .adopt_node_ports(&proxy.node_addresses(), lo..=hi)
    {
        Ok(n) => info!(services = n, "NodePort services found in the kernel"),
        Err(e) => return Err(format!("cannot read the IPVS table: {e}")),
    }

    // HTTP: /metrics and /healthz.
    let last_ok = Arc::new(AtomicU64::new(0));
    let stale_after = args.sync_period.as_secs() * 2 + 10;
    if let Some(addr) = args.metrics {
        let m = Arc::clone(&metrics);
        let l =
            TcpListener::bind(addr).map_err(|e| format!("--metrics-bind-address {addr}: {e}"))?;
        http::serve(
            l,
            Arc::new(move |path: &str| match path {
                "/metrics" => Response {
                    status: 200,
                    content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    body: m.render(),
                },
                _ => Response::json(404, "{}".into()),
            }),
            Arc::new(AtomicBool::new(false)),
        );
    }
    if let Some(addr) = args.healthz {
        let last = Arc::clone(&last_ok);
        let l =
            TcpListener::bind(addr).map_err(|e| format!("--healthz-bind-address {addr}: {e}"))?;
        http::serve(
            l,
            Arc::new(move |path: &str| {
                if path != "/healthz" && path != "/livez" {
                    return Response::json(404, "{}".into());
                }
                let (last, now) = (last.load(Ordering::Relaxed), unix_now());
                let ok = last > 0 && now.saturating_sub(last) <= stale_after;
                let body = serde_json::json!({"lastUpdated": last, "currentTime": now}).to_string();
                Response::json(if ok { 200 } else { 503 }, body)
            }),
            Arc::new(AtomicBool::new(false)),
        );
    }

    // Sources.
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut waiting: BTreeSet<&'static str> = BTreeSet::new();
    if let Some(dir) = &args.manifests {
        waiting.insert("manifests");
        source::spawn_dir(dir.clone(), args.manifest_poll, tx.clone());
    }
    if args.watch_stdin {
        waiting.insert("stdin");
        source::spawn_stream(std::io::stdin(), args.stdin_settle, tx.clone());
    }
    if args.api.is_some() || waiting.is_empty() {
        let target = args.api.clone().unwrap_or(ApiTarget::Infer);
        waiting.extend(API_SOURCES);
        let tx = tx.clone();
        let node = node_name.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let client = rt.block_on(source::client(&target))?;
        std::thread::spawn(move || rt.block_on(source::run_api(client, node, tx)));
    }
    drop(tx);
    info!(node = %node_name, sources = ?waiting, "waiting for the initial state");

    let mut dirty = true;
    let mut first = true;
    let mut next_full = Instant::now() + args.sync_period;
    loop {
        let timeout = next_full.saturating_duration_since(Instant::now());
        let mut handle_msg = |m: Msg, proxy: &mut Proxy<Handle>, dirty: &mut bool| match m {
            Msg::Event(e) => {
                metrics.events.inc();
                *dirty |= proxy.cluster.apply(e);
            }
            Msg::Ready(name) => {
                waiting.remove(name);
            }
            Msg::Skipped(s) => {
                metrics.bad_objects.inc();
                warn!(input = %s.what, reason = %s.reason, "skipped input");
            }
        };
        match rx.recv_timeout(timeout) {
            Ok(m) => {
                handle_msg(m, &mut proxy, &mut dirty);
                while let Ok(m) = rx.try_recv() {
                    handle_msg(m, &mut proxy, &mut dirty);
                }
            }
            Err(RecvTimeoutError::Timeout) => dirty = true,
            Err(RecvTimeoutError::Disconnected) => return Err("every source has ended".into()),
        }
        if !waiting.is_empty() || !dirty {
            continue;
        }
        dirty = false;
        next_full = Instant::now() + args.sync_period;
        match proxy.sync() {
            Ok(r) => {
                last_ok.store(unix_now(), Ordering::Relaxed);
                let (svcs, ipvs, eps) = r.counts;
                if first || r.ipvs.writes > 0 || r.address_changes > 0 || r.nft_written {
                    info!(
                        first,
                        services = svcs,
                        ipvs_services = ipvs,
                        endpoints = eps,
                        ipvs_writes = r.ipvs.writes,
                        ipvs_failures = r.ipvs.failures,
                        draining = r.ipvs.draining,
                        address_changes = r.address_changes,
                        nft_written = r.nft_written,
                        ms = r.duration.as_secs_f64() * 1e3,
                        "sync pass"
                    );
                }
                first = false;
            }
            Err(e) => {
                error!(error = %e, "sync failed; retrying");
                dirty = true;
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

/// `--cleanup`: every service the proxy would own, its addresses, its
/// nftables table and the dummy interface go.
fn cleanup(handle: Handle, links: Links, cfg: Config, node_name: &str) -> Result<(), String> {
    let metrics = Arc::new(Metrics::new());
    let node_side = NodeSide {
        links: links.clone(),
        cluster_cidrs: Vec::new(),
        health: HealthPorts::default(),
    };
    let mut proxy = Proxy::new(
        Cluster::new(node_name),
        cfg,
        handle,
        Some(node_side),
        metrics,
    );
    let addrs = proxy.node_addresses();
    proxy
        .ipvs
        .adopt_node_ports(&addrs, 30000..=32767)
        .map_err(|e| e.to_string())?;
    let bound = links.bound().map_err(|e| e.to_string())?;
    let r = proxy
        .ipvs
        .sync(&Translation::default(), &bound)
        .map_err(|e| e.to_string())?;
    info!(removed = r.writes, "IPVS services removed");
    node::nft_apply(&nft::cleanup_script()).map_err(|e| e.to_string())?;
    links.remove_dummy().map_err(|e| e.to_string())?;
    info!(dummy = %links.dummy, addresses = bound.len(), "dummy interface removed");
    Ok(())
}
