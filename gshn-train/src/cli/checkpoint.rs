//! Atomic checkpoints: a run folder's `checkpoints/step-NNNNNN/` holds the model, the
//! optimiser state, the training state, the resolved config and the vocabulary.
//!
//! Writing never leaves a half checkpoint behind: everything goes into `step-NNNNNN.tmp/`,
//! which is synced and then renamed; the `latest` pointer is replaced the same way (a temp
//! file and a rename); older checkpoints are removed only after that. A run killed at any moment
//! resumes from the last complete checkpoint.
//!
//! Every file a run reads back proves it is the one written: a checkpoint folder holds
//! `SHA256SUMS` (the `sha256sum` format, so `sha256sum -c SHA256SUMS` checks it by hand) with
//! the SHA-256 of each file, written inside the temporary folder before the rename; the run
//! folder's `config.toml` and `eval.json` each have a `.sha256` file beside them
//! ([`write_checked`], [`read_checked`]). A mismatch is an error naming the file. A checkpoint
//! written before checksums existed (no `SHA256SUMS`) still loads, and the loader says it could
//! not be verified.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cli::experiment::ExperimentConfig;
use crate::cli::run_error::{io_at, CheckpointError, RunError};
use crate::model::{Gshn, Vocab};

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

fn damaged(path: &Path, reason: impl ToString) -> CheckpointError {
    CheckpointError::Damaged { path: path.to_path_buf(), reason: reason.to_string() }
}

/// Writes `bytes` to `path` atomically and durably: a temp file in the same folder, synced,
/// renamed over `path`, then the folder synced so that the rename itself survives a crash.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or("")));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// The SHA-256 (hex) of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::model::weights::hex(&Sha256::digest(bytes))
}

/// The checksum file beside `path`: `path` with `.sha256` appended.
pub fn sidecar(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".sha256");
    path.with_file_name(name)
}

/// Writes `bytes` to `path` and its SHA-256 to [`sidecar`]`(path)`, each atomically (the
/// checksum first: a crash between the two leaves a mismatch, which a reader reports, never a
/// wrong file taken for right).
pub fn write_checked(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic(&sidecar(path), format!("{}\n", sha256_hex(bytes)).as_bytes())?;
    write_atomic(path, bytes)
}

/// Reads `path` and checks it against its [`sidecar`] checksum when there is one (files from
/// before checksums have none and are read as they are).
pub fn read_checked(path: &Path) -> Result<String, CheckpointError> {
    let bytes = fs::read(path).map_err(|e| damaged(path, e))?;
    let sum = sidecar(path);
    if sum.is_file() {
        let want = fs::read_to_string(&sum).map_err(|e| damaged(&sum, e))?;
        if want.trim() != sha256_hex(&bytes) {
            return Err(damaged(path, format!("does not match its checksum in {} (changed or damaged after gshn wrote it)", sum.display())));
        }
    }
    String::from_utf8(bytes).map_err(|e| damaged(path, e))
}

/// The name of a checkpoint's checksum file.
pub const SUMS: &str = "SHA256SUMS";

/// Writes `dir/SHA256SUMS` for the checkpoint files in `dir`.
fn write_sums(dir: &Path) -> std::io::Result<()> {
    let mut text = String::new();
    for f in FILES {
        text.push_str(&format!("{}  {f}\n", crate::model::weights::sha256_file(&dir.join(f))?));
    }
    fs::write(dir.join(SUMS), text)
}

/// Whether a checkpoint's files were checked against its `SHA256SUMS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Every file matches its checksum.
    Checked,
    /// The checkpoint predates checksums (no `SHA256SUMS`): nothing could be checked.
    Unchecked,
}

/// Checks every file of the checkpoint in `dir` against its `SHA256SUMS`; a missing file, a
/// missing line or a mismatch is an error naming the file.
pub fn verify(dir: &Path) -> Result<Verified, CheckpointError> {
    let sums = dir.join(SUMS);
    if !sums.is_file() {
        return Ok(Verified::Unchecked);
    }
    let text = fs::read_to_string(&sums).map_err(|e| damaged(&sums, e))?;
    for f in FILES {
        let want = text
            .lines()
            .find_map(|l| l.split_once("  ").filter(|(_, name)| *name == f).map(|(h, _)| h.trim()))
            .ok_or_else(|| damaged(&sums, format!("has no checksum for {f}")))?;
        let p = dir.join(f);
        let got = crate::model::weights::sha256_file(&p).map_err(|e| damaged(&p, e))?;
        if got != want {
            return Err(damaged(&p, format!("does not match its checksum in {} (changed or damaged after gshn wrote it)", sums.display())));
        }
    }
    Ok(Verified::Checked)
}

/// Syncs a folder's entries (the names created, renamed or removed in it) to disk.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    // Opening a directory read-only and fsyncing it is how POSIX makes renames durable; other
    // systems cannot open a directory as a file, and there is nothing more to do there.
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// The step of a checkpoint folder name `step-NNNNNN` (any number of digits), or `None`.
pub fn step_of(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("step-")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

/// The checkpoint folders under `root` (`step-N`, no temporary ones), newest step first.
pub fn checkpoints_by_step(root: &Path) -> Vec<(usize, PathBuf)> {
    let mut all: Vec<(usize, PathBuf)> = fs::read_dir(root)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.is_dir())
        .filter_map(|p| Some((step_of(p.file_name()?.to_str()?)?, p)))
        .collect();
    all.sort_by_key(|c| std::cmp::Reverse(c.0));
    all
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
    write_sums(&tmp).map_err(io_at(&tmp.join(SUMS)))?;
    for entry in fs::read_dir(&tmp).map_err(io_at(&tmp))? {
        let p = entry.map_err(io_at(&tmp))?.path();
        fs::File::open(&p).and_then(|f| f.sync_all()).map_err(io_at(&p))?;
    }
    sync_dir(&tmp).map_err(io_at(&tmp))?;
    let dir = root.join(&name);
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(io_at(&dir))?;
    }
    fs::rename(&tmp, &dir).map_err(io_at(&dir))?;
    sync_dir(&root).map_err(io_at(&root))?;
    sync_dir(run_dir).map_err(io_at(run_dir))?;
    let latest = root.join("latest");
    write_atomic(&latest, name.as_bytes()).map_err(io_at(&latest))?;
    // Only now, with the new checkpoint durable and named by `latest`: drop the oldest, by
    // step number (`step-1000000` is newer than `step-999000`).
    for (_, old) in checkpoints_by_step(&root).into_iter().skip(keep.max(1)) {
        if old != dir {
            fs::remove_dir_all(&old).map_err(io_at(&old))?;
        }
    }
    Ok(dir)
}

/// The files every complete checkpoint holds.
pub const FILES: [&str; 5] = ["model.bpk", "optimizer.bpk", "state.json", "config.toml", "vocab.json"];

/// Whether `dir` holds every checkpoint file, each matching its checksum, and its state
/// parses.
pub fn looks_complete(dir: &Path) -> bool {
    FILES.iter().all(|f| dir.join(f).is_file())
        && verify(dir).is_ok()
        && fs::read_to_string(dir.join("state.json")).ok().and_then(|t| serde_json::from_str::<TrainState>(&t).ok()).is_some()
}

/// The checkpoint the `latest` pointer in `root` names, checked: the pointer must name a
/// `step-N` folder inside `root` (no other path), and that folder must be complete.
pub fn from_latest(root: &Path) -> Result<PathBuf, CheckpointError> {
    let latest = root.join("latest");
    let name = fs::read_to_string(&latest).map_err(|e| damaged(&latest, e))?;
    let name = name.trim();
    if step_of(name).is_none() {
        return Err(damaged(&latest, format!("`{name}` is not a checkpoint of this run (expected step-NNNNNN)")));
    }
    let dir = root.join(name);
    if !FILES.iter().all(|f| dir.join(f).is_file()) {
        return Err(damaged(&latest, format!("points at {}, which is missing or incomplete", dir.display())));
    }
    verify(&dir)?;
    if !looks_complete(&dir) {
        return Err(damaged(&latest, format!("points at {}, whose state.json does not parse", dir.display())));
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
        if root.join("latest").is_file() {
            return from_latest(&root);
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
    /// Whether the files were checked against the checkpoint's checksums.
    pub verified: Verified,
}

/// Loads the checkpoint at (or under) `path` onto `device`.
pub fn load(path: &Path, device: &Device) -> Result<Loaded, RunError> {
    let dir = resolve(path)?;
    let verified = verify(&dir)?;
    let read = |name: &str| -> Result<String, CheckpointError> {
        let p = dir.join(name);
        fs::read_to_string(&p).map_err(|e| damaged(&p, e))
    };
    let config = ExperimentConfig::from_toml(&read("config.toml")?, &dir.join("config.toml").display().to_string(), &[])?;
    let words: Vec<String> = serde_json::from_str(&read("vocab.json")?).map_err(|e| damaged(&dir.join("vocab.json"), e))?;
    let state: TrainState = serde_json::from_str(&read("state.json")?).map_err(|e| damaged(&dir.join("state.json"), e))?;
    let vocab = Vocab::from_words(words);
    // Every weight comes from the checkpoint: pretrained encoders are not read from disk.
    let model = config.model.clone().with_vocab_size(vocab.len()).with_answers(state.answers.len().max(1)).init_untrained(device)?;
    let model = model.try_load_file(dir.join("model.bpk")).map_err(|e| damaged(&dir.join("model.bpk"), format!("{e:?}")))?;
    Ok(Loaded { dir, config, vocab, state, model, verified })
}

/// Loads the optimiser state saved in checkpoint folder `dir` into `optim`.
pub fn load_optimizer(dir: &Path, optim: ModuleOptimizer) -> Result<ModuleOptimizer, RunError> {
    let p = dir.join("optimizer.bpk");
    let record = burn::optim::OptimizerRecord::load(&p).map_err(|e| damaged(&p, format!("{e:?}")))?;
    Ok(optim.load_record(record))
}
