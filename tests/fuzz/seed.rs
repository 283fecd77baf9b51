//! Writes the seeds (see `targets::seeds`) into `corpus/<target>/`. Run
//! from the repository root (tests/fuzz/run does).

#[path = "targets.rs"]
mod targets;

fn main() {
    let seeds = targets::seeds(std::path::Path::new("."));
    for (target, name, bytes) in &seeds {
        let dir = std::path::Path::new("tests/fuzz/corpus").join(target);
        std::fs::create_dir_all(&dir).expect("create corpus directory");
        std::fs::write(dir.join(name), bytes).expect("write seed");
    }
    println!("seeded {} inputs", seeds.len());
}
