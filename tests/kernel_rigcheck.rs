//! THROWAWAY rig check (to be deleted): runs only inside an IPVS kernel.
use std::process::Command;

fn sh(cmd: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("spawn sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "`{cmd}` failed: {text}");
    text
}

#[test]
fn ipvs_is_there() {
    println!("kernel: {}", sh("uname -r"));
    sh("ipvsadm -Ln");
    let s = std::fs::read_to_string("/proc/net/ip_vs").expect("/proc/net/ip_vs readable");
    assert!(s.contains("IP Virtual Server"), "{s}");
}

#[test]
fn fails_on_request() {
    println!(
        "env LVS_RIGCHECK_FAIL={:?}",
        std::env::var("LVS_RIGCHECK_FAIL")
    );
    println!(
        "env CARGO_MANIFEST_DIR={:?}",
        std::env::var("CARGO_MANIFEST_DIR")
    );
    println!("cwd={:?}", std::env::current_dir());
    println!("args={:?}", std::env::args().collect::<Vec<_>>());
    assert_ne!(
        std::env::var("LVS_RIGCHECK_FAIL").as_deref(),
        Ok("1"),
        "failing on purpose: LVS_RIGCHECK_FAIL=1"
    );
}

#[test]
fn netns_veth() {
    let out = sh(
        "ip netns add rigx && ip link add rva type veth peer name rvb \
                  && ip link set rvb netns rigx && ip netns exec rigx ip -br link \
                  && ip netns exec rigx python3 -c 'print(\"py in netns\")'",
    );
    println!("{out}");
    assert!(out.contains("rvb"), "{out}");
    assert!(out.contains("py in netns"), "{out}");
}

#[test]
fn writes_come_back() {
    let dir = std::env::var("CARGO_TARGET_TMPDIR")
        .unwrap_or_else(|_| env!("CARGO_TARGET_TMPDIR").to_string());
    std::fs::write(format!("{dir}/rigcheck-from-guest.txt"), "hello from guest").unwrap();
    std::fs::write("/tmp/rigcheck-from-guest.txt", "hello from guest tmp").unwrap();
}
