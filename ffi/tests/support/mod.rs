//! Building and running the C programs of the C API tests: strict warnings,
//! AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer), valgrind.
#![allow(dead_code)]

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `ffi/`.
pub fn ffi_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where cargo put the `liblvs_ffi.so` / `liblvs_ffi.a` (installed as
/// `liblvs.so` / `liblvs.a`) built for this test run:
/// beside the test binary (`target/<profile>/deps`). Cargo does not copy
/// them up to `target/<profile>` for test builds.
pub fn built_lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .expect("test binary has a directory")
        .to_path_buf();
    for f in ["liblvs_ffi.so", "liblvs_ffi.a"] {
        assert!(
            dir.join(f).is_file(),
            "{} is missing: build the lvs-ffi library (cargo test -p lvs-ffi builds it)",
            dir.join(f).display()
        );
    }
    dir
}

/// A scratch directory, removed on drop unless `LVS_KEEP_TMP` is set.
pub struct Scratch {
    pub dir: PathBuf,
}

static SCRATCH: AtomicUsize = AtomicUsize::new(0);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let n = SCRATCH.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("lvs-ffi-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        Scratch { dir }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("LVS_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// How a C program is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `-O1 -g`: for plain runs and valgrind.
    Plain,
    /// ASan + UBSan (LeakSanitizer comes with ASan), aborting on the first
    /// report.
    Sanitized,
}

/// The strict warning set every C and C++ program is built with.
pub const WARNINGS: &[&str] = &["-Wall", "-Wextra", "-Wpedantic", "-Werror"];

/// A copy of `liblvs.so` in `scratch/lib` (so a rebuild during the run
/// cannot swap it), to link against with an rpath.
pub fn private_lib(scratch: &Scratch) -> PathBuf {
    let lib = scratch.dir.join("lib");
    install_lib(&lib);
    lib
}

/// The library's SONAME (set by ffi/build.rs): what programs linked
/// against it load.
pub const SONAME: &str = env!("LVS_SONAME");

/// Copy the built `liblvs.so` into `lib` as installed: the file under its
/// SONAME, and `liblvs.so` linking to it (what `-llvs` finds).
pub fn install_lib(lib: &Path) {
    std::fs::create_dir_all(lib).expect("mkdir lib");
    std::fs::copy(built_lib_dir().join("liblvs_ffi.so"), lib.join(SONAME))
        .expect("copy liblvs_ffi.so");
    let link = lib.join("liblvs.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(SONAME, &link).expect("symlink liblvs.so");
}

/// Compile `sources` (C11, or C++17 when `cxx`) into `out_dir/name`,
/// linked with `-llvs` from `lib`. Panics with the compiler's output on
/// any warning or error.
pub fn compile(
    out_dir: &Path,
    lib: &Path,
    name: &str,
    sources: &[PathBuf],
    cxx: bool,
    flavor: Flavor,
) -> PathBuf {
    let (compiler, std) = if cxx {
        (
            std::env::var("CXX").unwrap_or_else(|_| "c++".into()),
            "-std=c++17",
        )
    } else {
        (
            std::env::var("CC").unwrap_or_else(|_| "cc".into()),
            "-std=c11",
        )
    };
    let out = out_dir.join(name);
    let mut cmd = Command::new(&compiler);
    cmd.arg(std).args(WARNINGS).args(["-g", "-O1", "-pthread"]);
    if flavor == Flavor::Sanitized {
        cmd.args([
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=all",
        ]);
    }
    cmd.arg("-I")
        .arg(ffi_dir().join("include"))
        .arg("-I")
        .arg(ffi_dir().join("tests/c"))
        .args(sources)
        .arg("-o")
        .arg(&out)
        .arg("-L")
        .arg(lib)
        .arg("-llvs")
        // DT_RPATH, not DT_RUNPATH: the private copy wins over the
        // LD_LIBRARY_PATH cargo sets for tests, which lists
        // target/<profile> and its liblvs.so from an earlier `cargo build`.
        .arg("-Wl,--disable-new-dtags")
        .arg(format!("-Wl,-rpath,{}", lib.display()));
    let o = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run the C compiler {compiler:?}: {e} (apt-get install gcc g++)")
    });
    assert!(
        o.status.success(),
        "compiling {name} failed: {cmd:?}\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// `ffi/tests/c/<file>`.
pub fn c_test(file: &str) -> PathBuf {
    ffi_dir().join("tests/c").join(file)
}

/// `ffi/examples/<file>`.
pub fn example(file: &str) -> PathBuf {
    ffi_dir().join("examples").join(file)
}

/// Set the sanitizer options: stop at the first report, check leaks.
pub fn sanitizer_env(cmd: &mut Command) -> &mut Command {
    cmd.env(
        "ASAN_OPTIONS",
        "detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=86:detect_stack_use_after_return=1",
    )
    .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    .env("LSAN_OPTIONS", "exitcode=87")
}

/// `valgrind` with leak checking; every leak kind is an error, with no
/// suppression file (users have none either). Fails (never skips) when
/// valgrind is not installed.
pub fn valgrind() -> Command {
    let ok = Command::new("valgrind")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "valgrind is not installed; the C API tests run the C programs under it. \
         Install it: apt-get install -y valgrind"
    );
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--quiet",
        "--error-exitcode=88",
        "--leak-check=full",
        "--show-leak-kinds=definite,indirect,possible",
        "--errors-for-leak-kinds=definite,indirect,possible",
        "--track-fds=no",
        // No gdbserver: its shared-memory file cannot live on the guest's
        // 9p /tmp.
        "--vgdb=no",
        // Stack traces without inlined frames (file:line stays): reading
        // the inline info of liblvs's debug build costs a valgrind run
        // ~20 s in the emulated guest (create_service: 46 s -> 26 s), and
        // the C tests start valgrind a dozen times. What memcheck detects
        // is the same.
        "--read-inline-info=no",
    ]);
    cmd
}

/// Run `cmd`; panic with its output unless it exits 0 with no sanitizer or
/// valgrind report. Returns stdout + stderr.
pub fn run_ok(cmd: &mut Command, what: &str) -> String {
    let o = run(cmd);
    let text = output_text(&o);
    assert!(o.status.success(), "{what} failed ({}):\n{text}", o.status);
    for marker in [
        "ERROR: AddressSanitizer",
        "ERROR: LeakSanitizer",
        "runtime error:",
        "== ERROR SUMMARY: ",
        "Invalid read",
        "Invalid write",
        "uninitialised",
        "are definitely lost",
        "are possibly lost",
    ] {
        assert!(
            !text.contains(marker),
            "{what}: found {marker:?} in its output:\n{text}"
        );
    }
    text
}

/// Set by the kernel tests: [`run`] echoes each line a program prints to
/// this process's stderr as it comes, so a slow run (valgrind in an
/// emulated guest on a busy host) shows progress and the rig's idle
/// watchdog (`LVS_VM_IDLE_TIMEOUT`) can tell it from a hang.
pub static ECHO_OUTPUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Run `cmd` and return its output, whatever the status (echoed as it
/// comes when [`ECHO_OUTPUT`] is set).
pub fn run(cmd: &mut Command) -> Output {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let name = Path::new(cmd.get_program())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    fn pump(from: impl Read, name: &str) -> Vec<u8> {
        let mut all = Vec::new();
        let mut reader = BufReader::new(from);
        let mut line = Vec::new();
        let echo = ECHO_OUTPUT.load(Ordering::Relaxed);
        while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            if !echo {
                all.append(&mut line);
                continue;
            }
            // Straight to fd 2: libtest's capture would hold eprint!
            // output back until the test ends.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("  [{name}] {}", String::from_utf8_lossy(&line)).as_bytes(),
            );
            all.append(&mut line);
        }
        all
    }
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let (stdout, stderr) = std::thread::scope(|s| {
        let o = s.spawn(|| out.map(|o| pump(o, &name)).unwrap_or_default());
        let e = err.map(|e| pump(e, &name)).unwrap_or_default();
        (o.join().unwrap_or_default(), e)
    });
    let status = child
        .wait()
        .unwrap_or_else(|e| panic!("cannot wait for {cmd:?}: {e}"));
    Output {
        status,
        stdout,
        stderr,
    }
}

/// stdout then stderr, as text.
pub fn output_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The "N passed, M failed" line of a C test program: asserts it is there
/// and that M is 0 and N is at least `min_passed`.
pub fn assert_summary(text: &str, name: &str, min_passed: usize) {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name}: ")) && l.ends_with(" failed"))
        .unwrap_or_else(|| panic!("{name} printed no summary line:\n{text}"));
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    let (passed, failed) = (nums[nums.len() - 2], nums[nums.len() - 1]);
    assert_eq!(failed, 0, "{line}\n{text}");
    assert!(
        passed >= min_passed,
        "{name} ran only {passed} checks:\n{text}"
    );
}

/// The C programs the kernel tests run: (name, source under `ffi/`).
pub const PROGRAMS: &[(&str, &str)] = &[
    ("kernel_test", "tests/c/kernel_test.c"),
    ("api_test", "tests/c/api_test.c"),
    ("create_service", "examples/create_service.c"),
    ("watch_stats", "examples/watch_stats.c"),
    ("quickstart", "examples/quickstart.c"),
    ("reconcile", "examples/reconcile.c"),
    ("quickstart_reconcile", "examples/quickstart_reconcile.c"),
];

/// [`PROGRAMS`], built plain and sanitized, with the `liblvs.so` they link.
pub struct Programs {
    pub dir: PathBuf,
    _scratch: Option<Scratch>,
}

impl Programs {
    pub fn get(&self, flavor: Flavor, name: &str) -> PathBuf {
        self.dir.join(format!("{flavor:?}")).join(name)
    }
}

/// A key for one build of [`PROGRAMS`]: the sources, the header, the
/// library and the compiler settings.
fn programs_key() -> String {
    let mut h = DefaultHasher::new();
    let mut files: Vec<PathBuf> = ["tests/c", "examples"]
        .iter()
        .flat_map(|d| std::fs::read_dir(ffi_dir().join(d)).expect("read_dir"))
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    files.push(ffi_dir().join("include/lvs.h"));
    files.push(built_lib_dir().join("liblvs_ffi.so"));
    for f in files {
        f.hash(&mut h);
        std::fs::read(&f).expect("read").hash(&mut h);
    }
    for v in ["CC", "CXX"] {
        std::env::var(v).ok().hash(&mut h);
    }
    WARNINGS.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Where [`build_programs`] keeps its builds: `target/<profile>/lvs-ffi-c`.
fn programs_cache() -> PathBuf {
    built_lib_dir()
        .parent()
        .expect("deps has a parent")
        .join("lvs-ffi-c")
}

/// Compile [`PROGRAMS`] (both flavors, in parallel) into `dir`, with a
/// private copy of `liblvs.so` in `dir/lib`.
fn compile_programs(dir: &Path) {
    let lib = dir.join("lib");
    install_lib(&lib);
    std::thread::scope(|scope| {
        for flavor in [Flavor::Plain, Flavor::Sanitized] {
            let out = dir.join(format!("{flavor:?}"));
            std::fs::create_dir_all(&out).expect("mkdir");
            for (name, src) in PROGRAMS {
                let (out, lib) = (out.clone(), &lib);
                scope
                    .spawn(move || compile(&out, lib, name, &[ffi_dir().join(src)], false, flavor));
            }
        }
    });
}

/// Build [`PROGRAMS`] into the cache under the target directory (the host
/// C API tests do, so that the kernel tests need not compile in a slow
/// emulated guest), replacing older builds.
pub fn build_programs() -> Programs {
    let cache = programs_cache();
    let key = programs_key();
    let dir = cache.join(&key);
    if !dir.join("complete").exists() {
        // Older builds go; so does a half-made one of this key.
        if let Ok(old) = std::fs::read_dir(&cache) {
            for e in old.flatten() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        compile_programs(&dir);
        std::fs::write(dir.join("complete"), "").expect("mark the build complete");
    }
    Programs {
        dir,
        _scratch: None,
    }
}

/// [`PROGRAMS`]: the cached build if one matches, else a fresh build in a
/// scratch directory.
pub fn programs() -> Programs {
    let dir = programs_cache().join(programs_key());
    if dir.join("complete").exists() {
        eprintln!(
            "using the C programs built on the host in {}",
            dir.display()
        );
        return Programs {
            dir,
            _scratch: None,
        };
    }
    let scratch = Scratch::new("programs");
    let started = std::time::Instant::now();
    compile_programs(&scratch.dir);
    eprintln!("compiled the C programs in {:.1?}", started.elapsed());
    Programs {
        dir: scratch.dir.clone(),
        _scratch: Some(scratch),
    }
}
