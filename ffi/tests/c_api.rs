//! The C API from C and C++, on the host (no IPVS kernel needed): the
//! programs are built with `-std=c11 -Wall -Wextra -Wpedantic -Werror` and
//! run plainly, under ASan/UBSan/LSan and under valgrind; the header is
//! compiled as C++17; `ffi/install.sh` makes a prefix that
//! `pkg-config --cflags --libs lvs` works against. The kernel half is
//! tests/kernel_c.rs.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use support::*;

#[test]
fn api_test_runs_clean() {
    let s = Scratch::new("api");
    let lib = private_lib(&s);
    let bin = compile(
        &s.dir,
        &lib,
        "api_test",
        &[c_test("api_test.c")],
        false,
        Flavor::Plain,
    );
    let out = run_ok(&mut Command::new(&bin), "api_test");
    assert_summary(&out, "api_test", 1000);
}

#[test]
fn api_test_under_address_and_ub_sanitizers() {
    let s = Scratch::new("api-asan");
    let lib = private_lib(&s);
    let bin = compile(
        &s.dir,
        &lib,
        "api_test",
        &[c_test("api_test.c")],
        false,
        Flavor::Sanitized,
    );
    let out = run_ok(
        sanitizer_env(&mut Command::new(&bin)),
        "api_test (ASan/UBSan/LSan)",
    );
    assert_summary(&out, "api_test", 1000);
}

#[test]
fn api_test_under_valgrind() {
    let s = Scratch::new("api-vg");
    let lib = private_lib(&s);
    let bin = compile(
        &s.dir,
        &lib,
        "api_test",
        &[c_test("api_test.c")],
        false,
        Flavor::Plain,
    );
    let out = run_ok(valgrind().arg(&bin), "api_test (valgrind)");
    assert_summary(&out, "api_test", 1000);
}

/// The header from C++: declarations, extern "C" linkage, the typed enum.
#[test]
fn header_works_from_cxx() {
    let s = Scratch::new("cxx");
    let lib = private_lib(&s);
    let bin = compile(
        &s.dir,
        &lib,
        "cxx_header",
        &[c_test("cxx_header.cpp")],
        true,
        Flavor::Sanitized,
    );
    let out = run_ok(sanitizer_env(&mut Command::new(&bin)), "cxx_header");
    assert_summary(&out, "cxx_header", 9);
}

/// Everything the guest runs builds cleanly here too (so a warning shows
/// up without booting a kernel), into the cache tests/kernel_c.rs uses.
#[test]
fn kernel_programs_and_examples_build_strict() {
    let p = build_programs();
    for (name, _) in PROGRAMS {
        for flavor in [Flavor::Plain, Flavor::Sanitized] {
            assert!(
                p.get(flavor, name).is_file(),
                "{name} ({flavor:?}) was not built"
            );
        }
    }
}

/// The functions lvs.h declares.
fn declared_functions() -> BTreeSet<String> {
    let header = std::fs::read_to_string(ffi_dir().join("include/lvs.h")).expect("read lvs.h");
    let declared: BTreeSet<String> = header
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && !l.starts_with("typedef"))
        .filter_map(|l| {
            let open = l.find('(')?;
            let name = l[..open].rsplit([' ', '*']).next()?;
            name.starts_with("lvs_").then(|| name.to_string())
        })
        .collect();
    assert!(declared.len() > 50, "parsed only {declared:?} from lvs.h");
    declared
}

/// Every function the header declares is called by the C tests.
#[test]
fn c_tests_call_every_function() {
    let declared = declared_functions();
    let tests: String = ["api_test.c", "kernel_test.c", "check.h"]
        .iter()
        .map(|f| std::fs::read_to_string(c_test(f)).expect("read C test"))
        .collect();
    let missing: Vec<&String> = declared
        .iter()
        .filter(|f| !tests.contains(&format!("{f}(")))
        .collect();
    assert!(missing.is_empty(), "no C test calls {missing:?}");
}

/// `ffi/install.sh PREFIX` gives a prefix that pkg-config and a C compiler
/// can use, for dynamic and static linking.
#[test]
fn pkg_config_works_against_an_installed_prefix() {
    let s = Scratch::new("pkgconfig");
    let prefix = s.dir.join("prefix");
    run_ok(
        Command::new(ffi_dir().join("install.sh"))
            .arg(&prefix)
            .arg(built_lib_dir()),
        "ffi/install.sh",
    );
    let soname = format!("lib/{SONAME}");
    let versioned = format!("lib/liblvs.so.{}", env!("CARGO_PKG_VERSION"));
    for f in [
        "lib/liblvs.so",
        &soname,
        &versioned,
        "lib/liblvs.a",
        "include/lvs.h",
        "lib/pkgconfig/lvs.pc",
    ] {
        assert!(prefix.join(f).is_file(), "install.sh did not install {f}");
    }
    // The shared library names its ABI, and what links against it loads
    // that name.
    let dynamic_section = |file: &Path| {
        let o = Command::new("readelf")
            .arg("-d")
            .arg(file)
            .output()
            .expect("readelf (binutils)");
        assert!(o.status.success(), "readelf -d: {}", output_text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let lib = dynamic_section(&prefix.join(&versioned));
    assert!(
        lib.contains(&format!("Library soname: [{SONAME}]")),
        "no SONAME {SONAME}:\n{lib}"
    );
    let pkg_config = |args: &[&str]| {
        let o = Command::new("pkg-config")
            .args(args)
            .arg("lvs")
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
            .output()
            .expect("pkg-config is not installed: apt-get install -y pkg-config");
        assert!(
            o.status.success(),
            "pkg-config {args:?} lvs: {}",
            output_text(&o)
        );
        String::from_utf8(o.stdout)
            .expect("UTF-8")
            .trim()
            .to_string()
    };
    let flags = pkg_config(&["--cflags", "--libs"]);
    let (inc, libdir) = (prefix.join("include"), prefix.join("lib"));
    assert_eq!(
        flags,
        format!("-I{} -L{} -llvs", inc.display(), libdir.display())
    );
    let version = pkg_config(&["--modversion"]);
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let static_libs = pkg_config(&["--static", "--libs"]);
    assert!(
        static_libs.contains("-lpthread") && static_libs.contains("-ldl"),
        "{static_libs}"
    );

    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let build = |out: &str, link: Vec<String>| {
        let bin = s.dir.join(out);
        let mut cmd = Command::new(&cc);
        cmd.arg("-std=c11")
            .args(WARNINGS)
            .arg(example("create_service.c"))
            .arg("-o")
            .arg(&bin)
            .args(link);
        run_ok(&mut cmd, &format!("cc ... $(pkg-config ...) -o {out}"));
        bin
    };
    let split = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    // Dynamic: exactly the flags pkg-config gives.
    let dynamic = build("create_service", split(&flags));
    // Static: liblvs.a plus the private libraries.
    let mut link = split(&pkg_config(&["--cflags"]));
    link.push(libdir.join("liblvs.a").display().to_string());
    link.extend(
        split(&static_libs)
            .into_iter()
            .filter(|f| f != "-llvs" && !f.starts_with("-L")),
    );
    let fixed = build("create_service_static", link);
    // Fully static, from the pkg-config file alone (README's recipe).
    let mut link = vec!["-static".to_string()];
    link.extend(split(&pkg_config(&["--static", "--cflags", "--libs"])));
    let all_static = build("create_service_all_static", link);
    // liblvs.a defines exactly the header's functions as global symbols:
    // the Rust standard library and compiler builtins inside are local.
    let archive = libdir.join("liblvs.a");
    assert_eq!(defined_globals(&archive), declared_functions());
    // So a program that defines one of the names cargo's archive exports
    // links with it: no duplicate symbol.
    let cargo_archive = built_lib_dir().join("liblvs_ffi.a");
    let taken = defined_globals(&cargo_archive)
        .into_iter()
        .find(|n| n.starts_with("_RNv") && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .expect("cargo's liblvs_ffi.a exports Rust symbols");
    let clash = s.dir.join("clash.c");
    std::fs::write(&clash, format!("int {taken} = 1;\n")).expect("write clash.c");
    let mut link = split(&pkg_config(&["--cflags"]));
    link.extend([clash.display().to_string(), archive.display().to_string()]);
    link.extend(
        split(&static_libs)
            .into_iter()
            .filter(|f| f != "-llvs" && !f.starts_with("-L")),
    );
    let beside = build("create_service_beside", link);
    let pc = std::fs::read_to_string(prefix.join("lib/pkgconfig/lvs.pc")).expect("lvs.pc");
    assert!(
        pc.lines()
            .filter(|l| l.starts_with('#'))
            .all(|l| !l.contains(&*prefix.to_string_lossy())),
        "install.sh wrote the prefix into a comment:\n{pc}"
    );
    let needed = dynamic_section(&dynamic);
    assert!(
        needed.contains(&format!("Shared library: [{SONAME}]")),
        "the program does not load {SONAME}:\n{needed}"
    );

    // Both run (no kernel needed to get as far as a clean error).
    for (bin, env) in [
        (&dynamic, Some(&libdir)),
        (&fixed, None),
        (&all_static, None),
        (&beside, None),
    ] {
        let mut cmd = Command::new(bin);
        cmd.arg("/nonexistent/netns");
        if let Some(dir) = env {
            cmd.env("LD_LIBRARY_PATH", dir);
        } else {
            cmd.env_remove("LD_LIBRARY_PATH");
        }
        let o = run(&mut cmd);
        let text = output_text(&o);
        assert_eq!(o.status.code(), Some(1), "{}: {text}", bin.display());
        assert!(
            text.contains("cannot open network namespace /nonexistent/netns"),
            "{text}"
        );
    }
}

/// The global symbols FILE (an object or archive) defines, read with
/// binutils' readelf.
fn defined_globals(file: &Path) -> BTreeSet<String> {
    let o = Command::new("readelf")
        .args(["-s", "--wide"])
        .arg(file)
        .output()
        .expect("readelf (binutils)");
    assert!(
        o.status.success(),
        "readelf -s {}: {}",
        file.display(),
        output_text(&o)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            // Num: Value Size Type Bind Vis Ndx Name
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 8 && matches!(f[4], "GLOBAL" | "WEAK") && f[6] != "UND")
                .then(|| f[7].to_string())
        })
        .collect()
}
