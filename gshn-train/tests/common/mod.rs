//! Helpers shared by gshn-train's integration tests that run the trainer on tiny configs.
#![allow(dead_code)] // each test binary uses some of them

use std::path::{Path, PathBuf};

use gshn_train::experiment::ExperimentConfig;
use gshn_train::train::RunOptions;

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
