//! Helpers shared by gshn-train's integration tests that run the trainer on tiny configs.
#![allow(dead_code)] // each test binary uses some of them

use std::path::{Path, PathBuf};

use gshn_train::cli::experiment::ExperimentConfig;
use gshn_train::cli::train::RunOptions;

/// Burn's CPU random stream is global: runs hold this lock so that each sees only its draws.
pub static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A fresh path `gshn-GROUP-NAME-PID` under the temp folder (removed if it is there).
pub fn scratch(group: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gshn-{group}-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    d
}

/// Options for a fresh, quiet run into `out`.
pub fn opts(out: &Path) -> RunOptions {
    RunOptions { out: out.to_path_buf(), resume: false, stop_after: None, progress: false }
}

/// The experiment `toml` (named `origin`) with `overrides` applied.
pub fn config(toml: &str, origin: &str, overrides: &[&str]) -> ExperimentConfig {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    ExperimentConfig::from_toml(toml, origin, &o).unwrap()
}

/// A tiny experiment for tests that run the `gshn` command: 32 ShapeWorld images, 2 STL + 6
/// main steps, checkpoints every 3 steps, no example pictures (about a second on flex).
pub const CLI_TINY: &str = r#"
name = "tiny"
seed = 1
device = "flex"
[data]
train_images = 32
val_images = 8
test_images = 16
[model]
d_model = 16
embed_dim = 16
[model.text]
width = 16
layers = 1
[model.tokens]
cnn_channels = 8
[train]
steps = 6
stl_steps = 2
batch_size = 16
warmup = 2
log_every = 2
eval_every = 100
checkpoint_every = 3
[eval]
report_images = 0
"#;

/// Runs the built `gshn` command with `args` in `cwd`, with extra environment variables.
pub fn gshn_cli(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gshn")).args(args).envs(env.iter().copied()).current_dir(cwd).output().unwrap()
}
