//! Atomic checkpoints: a run folder's `checkpoints/step-NNNNNN/` holds the model, the
//! optimiser state, the training state, the resolved config and the vocabulary.
//!
//! Writing never leaves a half checkpoint behind: everything goes into `step-NNNNNN.tmp/`,
//! which is synced and then renamed; the `latest` pointer is replaced the same way (a temp
//! file and a rename); older checkpoints are removed only after that. A run killed at any moment
//! resumes from the last complete checkpoint.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::experiment::ExperimentConfig;
use crate::model::{Gshn, Vocab};
use crate::run_error::{io_at, RunError};

/// Where a run stands, saved with each checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimiser steps completed (both stages).
    pub step: usize,
    /// Wall time spent so far, over all sessions (seconds).
    pub elapsed_s: f64,
    /// The answer vocabulary of the VQA head.
    pub answers: Vec<String>,
}

/// Errors from reading checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// No checkpoint at the path.
    #[error("no checkpoint at {} (expected a run folder with checkpoints/latest, or a checkpoints/step-NNNNNN folder)", .0.display())]
    Missing(PathBuf),
    /// A file of the checkpoint could not be read or parsed.
    #[error("checkpoint file {}: {reason}", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

fn damaged(path: &Path, reason: impl ToString) -> CheckpointError {
    CheckpointError::Damaged { path: path.to_path_buf(), reason: reason.to_string() }
}

/// Writes `bytes` to `path` atomically (temp file in the same folder, sync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or("")));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

/// Saves a checkpoint of `model` and `optim` at `state.step` under `run_dir/checkpoints`,
/// keeping the newest `keep` checkpoints. Returns its folder.
pub fn save(
    run_dir: &Path,
    model: &Gshn,
    optim: &ModuleOptimizer,
    cfg: &ExperimentConfig,
    vocab: &Vocab,
    state: &TrainState,
    keep: usize,
) -> Result<PathBuf, RunError> {
    let root = run_dir.join("checkpoints");
    fs::create_dir_all(&root).map_err(io_at(&root))?;
    let name = format!("step-{:06}", state.step);
    let tmp = root.join(format!("{name}.tmp"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io_at(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(io_at(&tmp))?;
    let failed = |file: &str, e: String| RunError::Io { path: tmp.join(file), source: std::io::Error::other(e) };
    model.clone().save_file(tmp.join("model.bpk")).map_err(|e| failed("model.bpk", format!("{e:?}")))?;
    optim.to_record().save(tmp.join("optimizer.bpk")).map_err(|e| failed("optimizer.bpk", format!("{e:?}")))?;
    for (file, bytes) in [
        ("state.json", serde_json::to_vec_pretty(state).expect("a train state serialises")),
        ("config.toml", cfg.to_toml().into_bytes()),
        ("vocab.json", serde_json::to_vec(&vocab.words).expect("words serialise")),
    ] {
        let p = tmp.join(file);
        fs::write(&p, bytes).map_err(io_at(&p))?;
    }
    for entry in fs::read_dir(&tmp).map_err(io_at(&tmp))? {
        let p = entry.map_err(io_at(&tmp))?.path();
        fs::File::open(&p).and_then(|f| f.sync_all()).map_err(io_at(&p))?;
    }
    let dir = root.join(&name);
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(io_at(&dir))?;
    }
    fs::rename(&tmp, &dir).map_err(io_at(&dir))?;
    let latest = root.join("latest");
    write_atomic(&latest, name.as_bytes()).map_err(io_at(&latest))?;
    let mut all: Vec<PathBuf> = fs::read_dir(&root)
        .map_err(io_at(&root))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("step-") && !n.ends_with(".tmp")))
        .collect();
    all.sort();
    let excess = all.len().saturating_sub(keep.max(1));
    for old in all.into_iter().take(excess) {
        if old != dir {
            fs::remove_dir_all(&old).map_err(io_at(&old))?;
        }
    }
    Ok(dir)
}

/// The checkpoint folder `path` points at: a checkpoint itself, a run folder (its latest
/// checkpoint) or a run's `checkpoints` folder.
pub fn resolve(path: &Path) -> Result<PathBuf, CheckpointError> {
    if path.join("model.bpk").is_file() {
        return Ok(path.to_path_buf());
    }
    for root in [path.join("checkpoints"), path.to_path_buf()] {
        let latest = root.join("latest");
        if latest.is_file() {
            let name = fs::read_to_string(&latest).map_err(|e| damaged(&latest, e))?;
            let dir = root.join(name.trim());
            if dir.join("model.bpk").is_file() {
                return Ok(dir);
            }
            return Err(damaged(&latest, format!("points at {}, which has no model.bpk", dir.display())));
        }
    }
    Err(CheckpointError::Missing(path.to_path_buf()))
}

/// A loaded checkpoint.
pub struct Loaded {
    /// The folder.
    pub dir: PathBuf,
    /// The config it was trained with.
    pub config: ExperimentConfig,
    /// The vocabulary.
    pub vocab: Vocab,
    /// The training state.
    pub state: TrainState,
    /// The model.
    pub model: Gshn,
}

/// Loads the checkpoint at (or under) `path` onto `device`.
pub fn load(path: &Path, device: &Device) -> Result<Loaded, RunError> {
    let dir = resolve(path)?;
    let read = |name: &str| -> Result<String, CheckpointError> {
        let p = dir.join(name);
        fs::read_to_string(&p).map_err(|e| damaged(&p, e))
    };
    let config = ExperimentConfig::from_toml(&read("config.toml")?, &dir.join("config.toml").display().to_string(), &[])?;
    let words: Vec<String> = serde_json::from_str(&read("vocab.json")?).map_err(|e| damaged(&dir.join("vocab.json"), e))?;
    let state: TrainState = serde_json::from_str(&read("state.json")?).map_err(|e| damaged(&dir.join("state.json"), e))?;
    let vocab = Vocab::from_words(words);
    let model = config.model.clone().with_vocab_size(vocab.len()).with_answers(state.answers.len().max(1)).init(device)?;
    let model = model.try_load_file(dir.join("model.bpk")).map_err(|e| damaged(&dir.join("model.bpk"), format!("{e:?}")))?;
    Ok(Loaded { dir, config, vocab, state, model })
}

/// Loads the optimiser state saved in checkpoint folder `dir` into `optim`.
pub fn load_optimizer(dir: &Path, optim: ModuleOptimizer) -> Result<ModuleOptimizer, RunError> {
    let p = dir.join("optimizer.bpk");
    let record = burn::optim::OptimizerRecord::load(&p).map_err(|e| damaged(&p, format!("{e:?}")))?;
    Ok(optim.load_record(record))
}
