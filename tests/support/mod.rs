//! Helpers for tests and examples that run inside an IPVS kernel: network
//! namespaces, shell commands, ipvsadm, running code inside a netns, TCP
//! backends that say who answered, and polling.
#![allow(dead_code)]

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::mem::ManuallyDrop;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Run a shell command; panic with its output when it fails.
pub fn sh(cmd: &str) -> String {
    run_ok(Command::new("sh").arg("-c").arg(cmd))
}

/// Run a shell command and return its output whatever the status.
pub fn sh_out(cmd: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run sh -c {cmd:?}: {e}"))
}

/// Fail (never skip) when this process cannot reach an IPVS kernel.
pub fn require_ipvs_kernel() {
    let ok = std::path::Path::new("/proc/net/ip_vs").exists()
        || sh_out("modprobe -q ip_vs 2>/dev/null").status.success()
            && std::path::Path::new("/proc/net/ip_vs").exists();
    let root = sh_out("id -u").stdout.starts_with(b"0");
    assert!(
        ok && root,
        "this test needs root in a kernel with IPVS (CONFIG_IP_VS); this one (uname -r: {}) \
         has {}. Run it through `cargo test`, whose runner (.cargo/ipvs-runner) boots a Debian \
         kernel with IPVS under QEMU; prerequisites: apt-get install qemu-system-x86 \
         linux-image-amd64 ipvsadm busybox-static && pip install virtme-ng",
        sh_out("uname -r").stdout.escape_ascii(),
        if root { "no IPVS" } else { "no root" }
    );
    preload_ipvs_modules();
}

/// Load every IPVS scheduler and PE module this kernel ships, once per
/// process, before a test adds a service: the kernel's own on-demand load
/// of a scheduler can deadlock against another test's namespace teardown
/// (`lvs::kmod`).
pub fn preload_ipvs_modules() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(load_ipvs_modules);
}

/// Load every IPVS scheduler and PE module this kernel ships (again,
/// after a test unloaded them).
pub fn load_ipvs_modules() {
    let all = lvs::kmod::shipped_scheduler_modules().unwrap_or_else(|e| panic!("{e}"));
    lvs::kmod::ensure_loaded(&all).unwrap_or_else(|e| panic!("{e}"));
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// A fresh namespace named `<prefix>-<pid>-<n>` with `lo` up.
    ///
    /// Under QEMU without KVM a process costs 0.3-1 s, so this runs one
    /// (`ip netns add`, which mounts the namespace as iproute2 expects)
    /// and brings `lo` up itself, over rtnetlink from a thread inside.
    pub fn new(prefix: &str) -> Netns {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name };
        ns.run(lo_up)
            .unwrap_or_else(|e| panic!("set lo up in {}: {e}", ns.name));
        ns
    }

    /// Path of the namespace file.
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// An `lvs` handle in this namespace.
    pub fn handle(&self) -> lvs::Handle {
        lvs::Handle::open_netns_path(self.path())
            .unwrap_or_else(|e| panic!("open handle in {}: {e}", self.name))
    }

    /// Run a shell command inside the namespace (`sh -c`, spawned from a
    /// thread inside it: no `ip netns exec` process).
    pub fn sh(&self, cmd: &str) -> String {
        let cmd = cmd.to_owned();
        self.run(move || sh(&cmd))
    }

    /// Run a shell command inside the namespace, whatever its status.
    pub fn sh_out(&self, cmd: &str) -> Output {
        let cmd = cmd.to_owned();
        self.run(move || sh_out(&cmd))
    }

    /// `ipvsadm ARGS` inside the namespace (ARGS split at whitespace, run
    /// without a shell); panics when it fails.
    pub fn ipvsadm(&self, args: &str) -> String {
        let args: Vec<String> = args.split_whitespace().map(str::to_owned).collect();
        self.run(move || run_ok(Command::new("ipvsadm").args(&args)))
    }

    /// `ipvsadm -R` of `rules` inside the namespace; panics when it fails.
    pub fn ipvsadm_restore(&self, rules: &str) {
        let rules = rules.to_owned();
        let out = self.run(move || {
            let mut child = Command::new("ipvsadm")
                .arg("-R")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run ipvsadm -R");
            let mut stdin = child.stdin.take().expect("stdin");
            let writer = thread::spawn(move || stdin.write_all(rules.as_bytes()));
            let out = child.wait_with_output().expect("wait for ipvsadm -R");
            let _ = writer.join();
            out
        });
        assert!(
            out.status.success(),
            "ipvsadm -R in {} failed ({}): {}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Spawn a thread that runs `f` inside this namespace.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let file = File::open(self.path()).expect("open netns");
        std::thread::spawn(move || {
            rustix::thread::move_into_link_name_space(
                file.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .expect("setns");
            f()
        })
    }

    /// Run `f` inside this namespace (on a helper thread) and return its result.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn(f).join().expect("thread in netns panicked")
    }
}

impl Drop for Netns {
    /// What `ip netns del` does, without its process: detach the mount,
    /// remove the file. The kernel tears the namespace down once nothing
    /// holds it.
    fn drop(&mut self) {
        let path = self.path();
        let _ = rustix::mount::unmount(path.as_str(), rustix::mount::UnmountFlags::DETACH);
        let _ = std::fs::remove_file(&path);
    }
}

/// Run `cmd`; panic with its output when it fails, else return its stdout.
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "command failed ({}): {cmd:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Set `lo` (ifindex 1 in every namespace) up in the calling thread's
/// namespace: one RTM_NEWLINK with an ACK over rtnetlink.
fn lo_up() -> io::Result<()> {
    use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType, recv, send, socket};
    const RTM_NEWLINK: u16 = 16;
    const NLM_F_REQUEST_ACK: u16 = 0x1 | 0x4;
    const IFF_UP: u32 = 1;
    // No protocol: NETLINK_ROUTE is netlink's protocol 0.
    let fd = socket(AddressFamily::NETLINK, SocketType::RAW, None)?;
    let mut msg = Vec::with_capacity(32);
    msg.extend_from_slice(&32u32.to_ne_bytes()); // nlmsg_len: header + ifinfomsg
    msg.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    msg.extend_from_slice(&NLM_F_REQUEST_ACK.to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // seq
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel assigns
    msg.extend_from_slice(&[0, 0]); // ifi_family AF_UNSPEC, padding
    msg.extend_from_slice(&0u16.to_ne_bytes()); // ifi_type
    msg.extend_from_slice(&1i32.to_ne_bytes()); // ifi_index: lo
    msg.extend_from_slice(&IFF_UP.to_ne_bytes()); // ifi_flags
    msg.extend_from_slice(&IFF_UP.to_ne_bytes()); // ifi_change
    send(&fd, &msg, SendFlags::empty())?;
    let mut buf = [0u8; 512];
    let (n, _) = recv(&fd, &mut buf[..], RecvFlags::empty())?;
    // NLMSG_ERROR (2): a 16-byte header, then the error (0 is the ACK).
    let field = |at: usize, len: usize| buf.get(at..at + len).filter(|_| at + len <= n);
    let kind = field(4, 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    let err = field(16, 4).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    match (kind, err) {
        (Some(2), Some(0)) => Ok(()),
        (Some(2), Some(e)) => Err(io::Error::from_raw_os_error(-e)),
        _ => Err(io::Error::other(format!(
            "unexpected rtnetlink reply: {:?}",
            &buf[..n.min(32)]
        ))),
    }
}

/// Join namespace `a` and `b` with a veth pair: `a_ip/prefix` on `a`'s end,
/// `b_ip/prefix` on `b`'s. Interface names are `<tag>a` and `<tag>b`.
pub fn veth(tag: &str, a: &Netns, a_cidr: &str, b: &Netns, b_cidr: &str) {
    sh(&format!(
        "ip link add {tag}a netns {an} type veth peer name {tag}b netns {bn} && \
         ip -n {an} addr add {a_cidr} dev {tag}a && ip -n {an} link set {tag}a up && \
         ip -n {bn} addr add {b_cidr} dev {tag}b && ip -n {bn} link set {tag}b up",
        an = a.name,
        bn = b.name
    ));
}

// ----- topologies built in few processes -----------------------------------
//
// Under QEMU without KVM every process costs about a second: one `ip
// -batch` makes the namespaces and links, one per namespace sets its
// addresses and routes; sysctls are written from a thread in the namespace.

/// Run `PROG [-n NETNS] -batch -` (`ip` or `tc`) with `cmds`, one per line.
pub fn batch(prog: &str, netns: Option<&Netns>, cmds: &[String]) {
    let mut c = Command::new(prog);
    if let Some(ns) = netns {
        c.args(["-n", &ns.name]);
    }
    let mut child = c
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {prog}: {e}"));
    let script = cmds.join("\n") + "\n";
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .unwrap_or_else(|e| panic!("write to {prog}: {e}"));
    let out = child.wait_with_output().expect("wait for batch");
    assert!(
        out.status.success(),
        "{prog} -batch failed ({}) in {:?}:\n{script}{}",
        out.status,
        netns.map(|n| &n.name),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Write sysctls (`net.ipv4.ip_forward`, ...) in `ns`.
pub fn sysctls(ns: &Netns, kv: &[(&str, &str)]) {
    let kv: Vec<(String, String)> = kv
        .iter()
        .map(|(k, v)| (format!("/proc/sys/{}", k.replace('.', "/")), v.to_string()))
        .collect();
    let name = ns.name.clone();
    ns.run(move || {
        for (path, v) in kv {
            std::fs::write(&path, &v).unwrap_or_else(|e| panic!("{path} = {v} in {name}: {e}"));
        }
    });
}

/// Namespaces made together and deleted together (one `ip` each way).
pub struct Namespaces(pub Vec<String>);

impl Namespaces {
    /// Fresh namespaces `<prefix>-<pid>-<n>`; `links` (`ip link add ...`
    /// lines, `{prefix}` standing for a namespace) may join them.
    pub fn new(prefixes: &[&str], links: &[String]) -> (Namespaces, Vec<ManuallyDrop<Netns>>) {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let names: Vec<String> = prefixes
            .iter()
            .map(|p| {
                let n = NEXT.fetch_add(1, Ordering::SeqCst);
                format!("{p}-{}-{n}", std::process::id())
            })
            .collect();
        let mut cmds: Vec<String> = names.iter().map(|n| format!("netns add {n}")).collect();
        cmds.extend(links.iter().map(|l| {
            let mut l = l.clone();
            for (p, n) in prefixes.iter().zip(&names) {
                l = l.replace(&format!("{{{p}}}"), n);
            }
            l
        }));
        batch("ip", None, &cmds);
        let ns = names
            .iter()
            .map(|n| ManuallyDrop::new(Netns { name: n.clone() }))
            .collect();
        (Namespaces(names), ns)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        let script: String = self.0.iter().map(|n| format!("netns del {n}\n")).collect();
        let child = Command::new("ip")
            .args(["-force", "-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(mut child) = child {
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(script.as_bytes());
            }
            let _ = child.wait();
        }
    }
}

/// `v` as owned strings (command lists for [`batch`]).
pub fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Log a step with the time since the process started: the guest is
/// slow, and this shows where the time goes.
///
/// It writes to the process's stderr directly, past the test harness's
/// capture (which only takes `eprintln!`), so a long test shows progress
/// as it goes. That is also what tells the rig's idle watchdog
/// (`LVS_VM_IDLE_TIMEOUT`) that a slow test on a busy host is not hung.
pub fn mark(test: &str, what: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let t0 = *START.get_or_init(Instant::now);
    let line = format!("[{:7.2}s] {test}: {what}\n", t0.elapsed().as_secs_f64());
    let _ = io::stderr().write_all(line.as_bytes());
}

// ----- polling -------------------------------------------------------------------

/// Pause between two polls.
const POLL: Duration = Duration::from_millis(50);

/// Poll `f` until it returns `Ok` or `limit` passes; then its last `Err`.
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(last) if start.elapsed() >= limit => return Err(last),
            Err(_) => thread::sleep(POLL),
        }
    }
}

/// Poll `f` until it returns `Ok`; panic with its last `Err` after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, f: impl FnMut() -> Result<T, String>) -> T {
    poll(limit, f).unwrap_or_else(|last| panic!("waited {limit:?} for {what}; last: {last}"))
}

/// Poll `f` until it is true; panic after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    wait_for(what, limit, || {
        if f() {
            Ok(())
        } else {
            Err("not yet".to_string())
        }
    })
}

// ----- TCP backends that say who answered -----------------------------------------

/// What a [`TcpBackend`] answers each request line with.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A fixed name.
    Name(String),
    /// The local address the connection was accepted on: behind IPVS NAT,
    /// the destination IPVS chose.
    LocalAddr,
}

/// A TCP server: answers every line a client sends with one [`Answer`]
/// line, and holds the connection until the client closes it. The listener
/// is bound inside a namespace; the accept loop runs on a thread of this
/// process (a socket keeps its namespace). [`TcpBackend::stop`] closes the
/// listener, so new connections are refused while open ones go on.
pub struct TcpBackend {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<()>,
}

impl TcpBackend {
    /// Listen on `addr` in `ns`.
    pub fn start(ns: &Netns, addr: SocketAddr, answer: Answer) -> TcpBackend {
        let listener = ns
            .run(move || TcpListener::bind(addr))
            .unwrap_or_else(|e| panic!("listen on {addr} in {}: {e}", ns.name));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("nonblocking listener on {addr}: {e}"));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let answer = answer.clone();
                        // Small stacks: scheduler tests hold hundreds of
                        // connections open.
                        let _ = thread::Builder::new()
                            .stack_size(64 * 1024)
                            .spawn(move || serve_lines(s, &answer));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("accept on {addr}: {e}"),
                }
            }
            // Dropping the listener: new connections are refused from now on.
        });
        TcpBackend { stop, thread }
    }

    /// Close the listener (open connections stay).
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("server thread");
    }
}

/// Answer every line read from `s` with one [`Answer`] line until the peer
/// closes (the server side of a [`TcpBackend`] connection, or of any
/// stream socket wrapped as a `TcpStream`).
pub fn serve_lines(s: TcpStream, answer: &Answer) {
    let _ = s.set_nonblocking(false);
    let name = match answer {
        Answer::Name(n) => n.clone(),
        Answer::LocalAddr => match s.local_addr() {
            Ok(a) => a.to_string(),
            Err(_) => return,
        },
    };
    let Ok(r) = s.try_clone() else { return };
    let mut r = BufReader::new(r);
    let mut w = s;
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if writeln!(w, "{name}").is_err() {
                    return;
                }
            }
        }
    }
}

/// A client connection to a [`TcpBackend`] (possibly through IPVS).
pub struct TcpClient {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl TcpClient {
    /// Connect to `to`; `timeout` bounds the connect and every read and
    /// write.
    pub fn open(to: SocketAddr, timeout: Duration) -> io::Result<TcpClient> {
        let s = TcpStream::connect_timeout(&to, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        TcpClient::from_stream(s)
    }

    /// Wrap a connected stream (its timeouts are the caller's).
    pub fn from_stream(s: TcpStream) -> io::Result<TcpClient> {
        Ok(TcpClient {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.w.local_addr()
    }

    /// Send `request` (one line) and read the answer line.
    pub fn ask_with(&mut self, request: &[u8]) -> io::Result<String> {
        self.w.write_all(request)?;
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        Ok(line.trim().to_owned())
    }

    /// One exchange with a backend that answers with its address.
    pub fn ask(&mut self) -> io::Result<SocketAddr> {
        let line = self.ask_with(b"ping\n")?;
        line.parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{line:?}: {e}")))
    }
}

/// The rules battery: (name, rule text as `ipvsadm -R` takes it), one
/// `*.txt` file per rule set in `dir` (the root crate's
/// `tests/fixtures/rules/`), sorted by name. Read by `kernel_rules` and by
/// lvsadm's `kernel_lvsadm`.
pub fn rule_battery(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&p).expect("read a rule set");
            (name, text)
        })
        .collect()
}
