//! The import graph of `src/` is a straight stack: every `crate::` path in
//! a module names its own layer or a lower one, and the top-level modules
//! import each other without a cycle. The layer order is the one in the
//! crate doc and the README's Layout table:
//!
//! wire -> model (with `error`) -> proto (the sans-IO core), rules -> handle
//! (`handle`, `batch`, `sys`, `conn`, `daemon`, `sysctl`, `kmod`) -> reconcile, sched.
//!
//! Comments and `#[cfg(test)] mod tests` blocks are not imports and are
//! skipped. A `crate::Name` path to a crate-root re-export counts as the
//! layer of the module that defines `Name`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module -> layer (lower imports nothing higher).
const LAYERS: &[(&str, u8)] = &[
    ("wire", 1),
    ("model", 2),
    ("error", 2),
    ("proto", 3),
    ("request", 3), // `crate::request` is the core's public face
    ("rules", 3),   // ipvsadm's rule text: on the model only
    ("sys", 4),
    ("handle", 4),
    ("batch", 4),
    ("conn", 4),
    ("daemon", 4),
    ("sysctl", 4),
    ("kmod", 4), // loading kernel modules: beside the handle, on error only
    ("reconcile", 5),
    ("sched", 5),
];

/// Crate-root re-exports (`pub use module::{A, B};` in lib.rs), so that
/// `crate::A` counts as an import of `module`.
fn root_names() -> Vec<(String, String)> {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("readable lib.rs");
    let mut out = Vec::new();
    for stmt in lib.split(';') {
        let Some(at) = stmt.find("pub use ") else {
            continue;
        };
        let path = stmt[at + "pub use ".len()..].trim();
        let Some((module, rest)) = path.split_once("::") else {
            continue;
        };
        let names = rest.trim().trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let name = name.rsplit("::").next().unwrap_or(name);
            out.push((name.to_owned(), module.to_owned()));
        }
    }
    out
}

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable src dir") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None`: the root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    match first.strip_suffix(".rs") {
        Some("lib") => None,
        Some(m) => Some(m.to_owned()),
        None => Some(first),
    }
}

/// The top-level modules named by `crate::` paths in `text`'s code.
fn imports(text: &str, roots: &[(String, String)]) -> BTreeSet<String> {
    let code = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let line = line.split("//").next().unwrap_or_default();
        for (i, _) in line.match_indices("crate::") {
            let rest = &line[i + "crate::".len()..];
            // `crate::{A, b::C}` names several paths at once.
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .collect(),
                None => vec![rest],
            };
            for path in names {
                let name: String = path
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let module = roots
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, m)| m.clone())
                    .unwrap_or(name);
                out.insert(module);
            }
        }
    }
    out
}

#[test]
fn imports_only_go_down_and_never_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut upward = Vec::new();
    let roots = root_names();
    for f in &files {
        let Some(module) = module_of(&src, f) else {
            continue;
        };
        let from = layer(&module).unwrap_or_else(|| panic!("module {module} has no layer"));
        let text = std::fs::read_to_string(f).expect("readable source");
        for dep in imports(&text, &roots) {
            if dep == module {
                continue;
            }
            let to = layer(&dep)
                .unwrap_or_else(|| panic!("{}: crate::{dep} is in no layer", f.display()));
            if to > from {
                upward.push(format!(
                    "{} (layer {from}) imports {dep} (layer {to})",
                    f.display()
                ));
            }
            graph.entry(module.clone()).or_default().insert(dep);
        }
    }
    assert!(
        upward.is_empty(),
        "imports up the stack:\n{}",
        upward.join("\n")
    );

    // No cycle between top-level modules (depth-first search).
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == m) {
            panic!("import cycle: {} -> {m}", path[at..].join(" -> "));
        }
        path.push(m.to_owned());
        for d in graph.get(m).into_iter().flatten() {
            visit(d, graph, path, done);
        }
        path.pop();
        done.insert(m.to_owned());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
    for (m, deps) in &graph {
        println!(
            "{m} -> {}",
            deps.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
}
