//! `lvsadm`: ipvsadm's command line on `lvs` (see the library's docs).

use std::io::{Read, Write};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = lvsadm::run(&args, &mut std::io::stdin().lock() as &mut dyn Read);
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    std::process::exit(out.status);
}
