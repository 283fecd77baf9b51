//! Sources of desired state. Each turns what it reads into
//! [`Msg`]s on one channel; the sync loop does not know which source
//! spoke.
//!
//! | source | how | initial state complete when |
//! |---|---|---|
//! | manifest directory | every `*.yaml`, `*.yml`, `*.json`, polled for changes | each read (whole-kind replacement) |
//! | `--watch-stdin` | `kubectl get services,endpointslices -A --watch --output-watch-events -o json` | stdin has been quiet for a while after the first object |
//! | API server | `kube` watchers on Services, EndpointSlices and this Node | every watcher's first list is in |

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::thread;
use std::time::{Duration, SystemTime};

use futures_util::TryStreamExt;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, watcher};
use kube::{Api, Client};
use tracing::{info, warn};

use crate::manifest::{self, Parsed, Skipped};
use crate::store::{Event, Kind, Object};

/// What a source tells the sync loop.
#[derive(Debug)]
pub enum Msg {
    /// A change.
    Event(Event),
    /// This source's initial state is complete (the first sync waits for
    /// every source's, so a restart never syncs a partial cluster).
    Ready(&'static str),
    /// Input that was skipped (logged and counted by the loop).
    Skipped(Skipped),
}

const KINDS: [Kind; 3] = [Kind::Service, Kind::Slice, Kind::Node];

/// Every object in the manifest files of `dir` (sorted by file name).
pub fn read_dir(dir: &Path) -> Parsed {
    let mut out = Parsed::default();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            out.skipped.push(Skipped {
                what: dir.display().to_string(),
                reason: format!("cannot read the directory: {e}"),
            });
            return out;
        }
    };
    files.retain(|p| {
        matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        )
    });
    files.sort();
    for f in files {
        match std::fs::read_to_string(&f) {
            Ok(text) => {
                let p = manifest::parse_text(&f.display().to_string(), &text);
                out.objects.extend(p.objects);
                out.skipped.extend(p.skipped);
            }
            Err(e) => out.skipped.push(Skipped {
                what: f.display().to_string(),
                reason: format!("cannot read: {e}"),
            }),
        }
    }
    out
}

/// Names, sizes and modification times of the manifest files: what
/// "changed" means for the directory source.
fn fingerprint(dir: &Path) -> BTreeMap<PathBuf, (u64, Option<SystemTime>)> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let m = e.metadata().ok()?;
                    Some((e.path(), (m.len(), m.modified().ok())))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The messages of one directory read: a whole-kind replacement each.
pub fn dir_messages(parsed: Parsed) -> Vec<Msg> {
    let mut v: Vec<Msg> = parsed.skipped.into_iter().map(Msg::Skipped).collect();
    for kind in KINDS {
        let objs: Vec<Object> = parsed
            .objects
            .iter()
            .filter(|o| o.kind() == kind)
            .cloned()
            .collect();
        v.push(Msg::Event(Event::Replace(kind, objs)));
    }
    v
}

/// Watch a manifest directory: read it now, then again whenever a file
/// appears, disappears or changes (checked every `poll`).
pub fn spawn_dir(dir: PathBuf, poll: Duration, tx: Sender<Msg>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut last = None;
        loop {
            let fp = fingerprint(&dir);
            if last.as_ref() != Some(&fp) {
                let parsed = read_dir(&dir);
                info!(dir = %dir.display(), objects = parsed.objects.len(), "manifests read");
                for m in dir_messages(parsed) {
                    if tx.send(m).is_err() {
                        return;
                    }
                }
                if last.is_none() && tx.send(Msg::Ready("manifests")).is_err() {
                    return;
                }
                last = Some(fp);
            }
            thread::sleep(poll);
        }
    })
}

/// Read the `kubectl --watch --output-watch-events -o json` stream from
/// `input` (stdin in the binary). `Ready` is sent after `settle` without
/// input once something arrived, or at end of input.
pub fn spawn_stream<R: Read + Send + 'static>(
    input: R,
    settle: Duration,
    tx: Sender<Msg>,
) -> thread::JoinHandle<()> {
    let (vtx, vrx) = std::sync::mpsc::channel::<Result<serde_json::Value, String>>();
    // The reader thread blocks on input; this one turns values into
    // messages and notices quiet periods.
    thread::spawn(move || {
        let stream = serde_json::Deserializer::from_reader(input).into_iter::<serde_json::Value>();
        for v in stream {
            let stop = v.is_err();
            if vtx.send(v.map_err(|e| e.to_string())).is_err() || stop {
                return;
            }
        }
    });
    thread::spawn(move || {
        let mut ready = false;
        let mut seen = false;
        loop {
            let got = if seen && !ready {
                vrx.recv_timeout(settle)
            } else {
                vrx.recv()
                    .map_err(|_| std::sync::mpsc::RecvTimeoutError::Disconnected)
            };
            let msg = match got {
                Ok(Ok(v)) => {
                    seen = true;
                    match manifest::watch_event(v) {
                        Ok(Some(e)) => Msg::Event(e),
                        Ok(None) => continue,
                        Err(s) => Msg::Skipped(s),
                    }
                }
                Ok(Err(e)) => Msg::Skipped(Skipped {
                    what: "stdin".into(),
                    reason: format!("bad JSON, stream ends: {e}"),
                }),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    ready = true;
                    Msg::Ready("stdin")
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    if !ready {
                        let _ = tx.send(Msg::Ready("stdin"));
                    }
                    warn!("the watch stream ended");
                    return;
                }
            };
            if tx.send(msg).is_err() {
                return;
            }
        }
    })
}

/// How to reach the API server.
#[derive(Debug, Clone)]
pub enum ApiTarget {
    /// `--master URL` (no credentials: tests and `kubectl proxy`).
    Url(String),
    /// `--kubeconfig PATH`.
    Kubeconfig(PathBuf),
    /// The pod's service account (in-cluster), or the usual kubeconfig
    /// places.
    Infer,
}

/// A client for `target`.
///
/// # Errors
/// A message naming what failed.
pub async fn client(target: &ApiTarget) -> Result<Client, String> {
    let config = match target {
        ApiTarget::Url(u) => kube::Config::new(
            u.parse()
                .map_err(|e| format!("bad --master URL {u:?}: {e}"))?,
        ),
        ApiTarget::Kubeconfig(p) => {
            let kc = kube::config::Kubeconfig::read_from(p)
                .map_err(|e| format!("cannot read kubeconfig {}: {e}", p.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| format!("bad kubeconfig {}: {e}", p.display()))?
        }
        ApiTarget::Infer => kube::Config::infer()
            .await
            .map_err(|e| format!("no in-cluster config or kubeconfig: {e}"))?,
    };
    Client::try_from(config).map_err(|e| format!("cannot build the API client: {e}"))
}

/// Forward one watcher's events; `Ready(name)` after its first list.
async fn forward<K>(
    name: &'static str,
    stream: impl futures_util::Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
    wrap: fn(K) -> Object,
    kind: Kind,
    tx: Sender<Msg>,
) where
    K: Clone,
{
    let mut stream = std::pin::pin!(stream);
    let mut buffer: Option<Vec<Object>> = None;
    let mut first = true;
    loop {
        let item = match stream.try_next().await {
            Ok(Some(i)) => i,
            Ok(None) => return,
            Err(e) => {
                warn!(source = name, error = %e, "watch failed; retrying");
                continue;
            }
        };
        let msg = match item {
            watcher::Event::Init => {
                buffer = Some(Vec::new());
                continue;
            }
            watcher::Event::InitApply(o) => {
                buffer.get_or_insert_with(Vec::new).push(wrap(o));
                continue;
            }
            watcher::Event::InitDone => {
                Msg::Event(Event::Replace(kind, buffer.take().unwrap_or_default()))
            }
            watcher::Event::Apply(o) => Msg::Event(Event::Upsert(wrap(o))),
            watcher::Event::Delete(o) => Msg::Event(Event::Delete(wrap(o))),
        };
        let done = matches!(&msg, Msg::Event(Event::Replace(..)));
        if tx.send(msg).is_err() {
            return;
        }
        if done && first {
            first = false;
            if tx.send(Msg::Ready(name)).is_err() {
                return;
            }
        }
    }
}

/// The names of the API sources, each sending its own `Ready`.
pub const API_SOURCES: [&str; 3] = ["services", "endpointslices", "node"];

/// Watch Services, EndpointSlices and the Node `node_name` until the
/// channel closes.
pub async fn run_api(client: Client, node_name: String, tx: Sender<Msg>) {
    let cfg = watcher::Config::default;
    let services = watcher(Api::<Service>::all(client.clone()), cfg()).default_backoff();
    let slices = watcher(Api::<EndpointSlice>::all(client.clone()), cfg()).default_backoff();
    let node = watcher(
        Api::<Node>::all(client),
        cfg().fields(&format!("metadata.name={node_name}")),
    )
    .default_backoff();
    let a = forward(
        API_SOURCES[0],
        services,
        |s| Object::Service(Box::new(s)),
        Kind::Service,
        tx.clone(),
    );
    let b = forward(
        API_SOURCES[1],
        slices,
        |s| Object::Slice(Box::new(s)),
        Kind::Slice,
        tx.clone(),
    );
    let c = forward(
        API_SOURCES[2],
        node,
        |n| Object::Node(Box::new(n)),
        Kind::Node,
        tx,
    );
    futures_util::future::join3(a, b, c).await;
}
