//! `gshn-train` with `default-features = false` is the model library alone: a crate outside
//! this workspace that depends on it (plus one Burn backend) pulls no CLI, TOML, CSV or
//! plotting crate, and none of the workspace's backends (the `workspace-hack` it sees is the
//! empty crates.io stub). Checked with `cargo tree` on such a crate, made here.

use std::path::Path;
use std::process::Command;

fn tree(dir: &Path, args: &[&str]) -> String {
    let run = |offline: bool| {
        let mut c = Command::new(env!("CARGO"));
        c.arg("tree").args(args).current_dir(dir).env_remove("CARGO_TARGET_DIR");
        if offline {
            c.arg("--offline");
        }
        c.output().expect("cargo runs")
    };
    // Offline first (the registry cache has every crate after the workspace's own build);
    // online when this machine's cache lacks one.
    let out = run(true);
    let out = if out.status.success() { out } else { run(false) };
    assert!(out.status.success(), "cargo tree {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_library_user_gets_no_runner_dependencies() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().canonicalize().unwrap();
    let dir = std::env::temp_dir().join(format!("gshn-library-user-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"library-user\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n\n[dependencies]\n\
             gshn-train = {{ path = \"{}\", default-features = false }}\n\
             burn = {{ version = \"0.22.1\", default-features = false, features = [\"std\", \"autodiff\", \"optim\", \"flex\"] }}\n",
            repo.join("gshn-train").display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    // Reuse the workspace's lock file so that the versions (and the offline resolution) match.
    std::fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();

    let all = tree(&dir, &["-e", "normal", "--prefix", "none", "--format", "{p}"]);
    let names: Vec<&str> = all.lines().filter_map(|l| l.split_whitespace().next()).collect();
    for banned in ["clap", "plotters", "csv", "serde_path_to_error", "anyhow", "wgpu", "burn-wgpu", "burn-cubecl"] {
        assert!(!names.contains(&banned), "{banned} is in the library's dependency tree:\n{all}");
    }
    assert!(names.contains(&"gshn-train") && names.contains(&"burn-flex"), "{all}");
    // One toml: Burn's own (its runtime config reader), which gshn-snn shares for a neuron's
    // config in NIR metadata; the runner's experiment-file toml stays out.
    let versions: Vec<&str> = all.lines().filter(|l| l.starts_with("toml v")).filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert!(versions.iter().all(|v| *v == versions[0]), "two toml versions: {versions:?}");
    let toml = tree(&dir, &["-e", "normal", "-i", "toml", "--depth", "1", "--prefix", "none", "--format", "{p}"]);
    for parent in toml.lines().skip(1).filter_map(|l| l.split_whitespace().next()) {
        assert!(parent.starts_with("cubecl") || parent.starts_with("burn") || parent == "gshn-snn", "toml is pulled by {parent}:\n{toml}");
    }
    // The workspace-hack it sees is the empty stub: no dependencies below it.
    let hack = tree(&dir, &["-e", "normal", "-p", "workspace-hack", "--prefix", "none", "--format", "{p}"]);
    assert_eq!(hack.lines().count(), 1, "{hack}");
    std::fs::remove_dir_all(&dir).ok();
}
