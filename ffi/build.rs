//! Gives liblvs.so its SONAME: `liblvs.so.MAJOR`, or `liblvs.so.0.MINOR`
//! while the version is 0.x (where a minor release may break the ABI), so
//! programs linked against one ABI never load another. `ffi/install.sh`
//! installs the file under that name with the `liblvs.so` link beside it.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_default();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_default();
    let abi = if major == "0" {
        format!("0.{minor}")
    } else {
        major
    };
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,liblvs.so.{abi}");
    }
    println!("cargo:rustc-env=LVS_SONAME=liblvs.so.{abi}");
    println!("cargo:rerun-if-changed=build.rs");
}
