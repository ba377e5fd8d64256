//! The run folder: what counts as one, who may write to it, where a run resumes, and its
//! metrics log. The guarantees (docs/training.md, "What is safe"):
//!
//! * a folder that is not a gshn run, or a file, is never written into;
//! * a run is never restarted, truncated or pruned unless the new session continues it
//!   exactly (same config; only the documented optimiser and progress fields may change on
//!   `--resume`);
//! * a damaged or missing `checkpoints/latest` resumes from the newest complete checkpoint,
//!   saying so, or stops with an error;
//! * one process at a time: `run.lock` names its holder;
//! * a torn last line of `metrics.jsonl` (a crash mid-write) is dropped, saying so.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::checkpoint;
use crate::cli::experiment::ExperimentConfig;
use crate::cli::run_error::CheckpointError;
use crate::cli::run_error::{io_at, RunError};

/// What an output folder holds.
#[derive(Debug, Clone, PartialEq)]
pub enum FolderState {
    /// Nothing yet (absent or empty): a new run may start.
    Fresh,
    /// A gshn run.
    Run {
        /// Its config (the newest checkpoint's, else the folder's `config.toml`).
        config: Box<ExperimentConfig>,
        /// The checkpoint to resume from (`None`: stopped before its first checkpoint).
        checkpoint: Option<PathBuf>,
        /// What was unusual about finding it (a damaged `latest` pointer), to tell the user.
        note: Option<String>,
    },
}

fn refused(path: &Path, reason: impl Into<String>) -> RunError {
    RunError::Folder { path: path.to_path_buf(), reason: reason.into() }
}

fn read_config(path: &Path) -> Option<ExperimentConfig> {
    fs::read_to_string(path).ok().and_then(|t| ExperimentConfig::from_toml(&t, &path.display().to_string(), &[]).ok())
}

/// The run folder's own `config.toml`, checked against its checksum.
fn read_folder_config(out: &Path) -> Result<Option<ExperimentConfig>, RunError> {
    let p = out.join("config.toml");
    if !p.is_file() {
        return Ok(None);
    }
    let text = checkpoint::read_checked(&p)?;
    Ok(ExperimentConfig::from_toml(&text, &p.display().to_string(), &[]).ok())
}

/// Inspects `out` without changing anything in it.
pub fn inspect(out: &Path) -> Result<FolderState, RunError> {
    if !out.exists() {
        return Ok(FolderState::Fresh);
    }
    if !out.is_dir() {
        return Err(refused(out, "is a file, not a run folder; choose another --out"));
    }
    let mut entries = fs::read_dir(out).map_err(io_at(out))?;
    if entries.next().is_none() {
        return Ok(FolderState::Fresh);
    }
    let root = out.join("checkpoints");
    // A run killed before its first log line has its config, the config's checksum and the
    // (stale) lock: a gshn run too.
    let is_run =
        out.join("config.toml").is_file() && (out.join("metrics.jsonl").is_file() || root.is_dir() || checkpoint::sidecar(&out.join("config.toml")).is_file());
    let folder_config = if is_run { read_folder_config(out)? } else { None };
    let Some(folder_config) = folder_config else {
        return Err(refused(
            out,
            "exists and is not a gshn run folder (no readable config.toml with metrics.jsonl or checkpoints/); nothing was written — choose another --out",
        ));
    };
    let steps = checkpoint::checkpoints_by_step(&root);
    let (found, note) = if root.join("latest").is_file() {
        match checkpoint::from_latest(&root) {
            Ok(dir) => (Some(dir), None),
            Err(why) => match steps.iter().find(|(_, d)| checkpoint::looks_complete(d)) {
                Some((_, dir)) => (Some(dir.clone()), Some(format!("{why}; resuming from the newest complete checkpoint, {}", dir.display()))),
                None => {
                    return Err(CheckpointError::Damaged {
                        path: root.join("latest"),
                        reason: format!("{why}, and no other complete checkpoint exists; nothing was changed"),
                    }
                    .into())
                }
            },
        }
    } else {
        match steps.iter().find(|(_, d)| checkpoint::looks_complete(d)) {
            Some((_, dir)) => {
                (Some(dir.clone()), Some(format!("checkpoints/latest is missing; resuming from the newest complete checkpoint, {}", dir.display())))
            }
            None if steps.is_empty() => (None, None),
            None => return Err(CheckpointError::Damaged { path: root, reason: "no checkpoint in it is complete; nothing was changed".into() }.into()),
        }
    };
    let config = match &found {
        Some(dir) => {
            read_config(&dir.join("config.toml")).ok_or_else(|| CheckpointError::Damaged { path: dir.join("config.toml"), reason: "does not parse".into() })?
        }
        None => folder_config,
    };
    Ok(FolderState::Run { config: Box::new(config), checkpoint: found, note })
}

/// `saved` with the device and the fields a resume may change ([`RESUMABLE_FIELDS`](crate::cli::experiment::RESUMABLE_FIELDS)) taken
/// from `next`.
fn resumable_as(saved: &ExperimentConfig, next: &ExperimentConfig) -> ExperimentConfig {
    let mut s = saved.clone();
    s.device = next.device;
    let (t, n) = (&mut s.train, &next.train);
    (t.lr, t.warmup, t.grad_clip, t.weight_decay) = (n.lr, n.warmup, n.grad_clip, n.weight_decay);
    (t.log_every, t.eval_every, t.checkpoint_every) = (n.log_every, n.eval_every, n.checkpoint_every);
    s
}

/// Whether `next` continues a run of `saved` exactly: equal but for the device and the fields
/// a resume may change ([`RESUMABLE_FIELDS`](crate::cli::experiment::RESUMABLE_FIELDS)).
pub fn continues(saved: &ExperimentConfig, next: &ExperimentConfig) -> bool {
    resumable_as(saved, next) == *next
}

/// The fields that keep `next` from continuing `saved`, each `field: saved → next`.
pub fn changed_fields(saved: &ExperimentConfig, next: &ExperimentConfig) -> Vec<String> {
    let mut out = Vec::new();
    crate::cli::experiment::differences(&resumable_as(saved, next).to_value(), &next.to_value(), "", &mut out);
    out
}

/// The lock that keeps a second process out of a run folder; released when dropped.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

/// Who holds a lock.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Holder {
    pid: u32,
    host: String,
    since: String,
    command: String,
    /// The holder's start time in clock ticks after boot (`/proc/PID/stat`, field 22), so that
    /// a new process that reuses a dead holder's pid is not taken for it.
    #[serde(default)]
    start: Option<u64>,
}

/// The start time of process `pid` in clock ticks after boot (Linux), `None` elsewhere.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

fn host_name() -> String {
    fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

fn alive(holder: &Holder) -> bool {
    // Linux and most Unixes expose live processes under /proc; elsewhere assume alive.
    if !Path::new("/proc/self").exists() {
        return true;
    }
    if !Path::new(&format!("/proc/{}", holder.pid)).exists() {
        return false;
    }
    // The pid runs: the holder only if it started when the holder did.
    match (holder.start, start_time(holder.pid)) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// Creates `path` holding `bytes` only if it does not exist, never visible half-written: the
/// bytes go to a temporary file first, which is then hard-linked to `path` (atomic, and fails
/// when `path` exists). Where the file system has no hard links, `create_new` and a write.
fn create_new_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("lock.{}.tmp", std::process::id()));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            let mut f = fs::OpenOptions::new().write(true).create_new(true).open(path)?;
            f.write_all(bytes)?;
            f.sync_all()
        }
        other => other,
    }
}

impl RunLock {
    /// Takes `out/run.lock`, or refuses naming the process that holds it. A lock left by a
    /// process that no longer runs on this host (a crash, a kill) is taken over, saying so
    /// through `say`.
    pub fn acquire(out: &Path, say: &dyn Fn(String)) -> Result<Self, RunError> {
        let path = out.join("run.lock");
        let holder = Holder {
            pid: std::process::id(),
            host: host_name(),
            since: format!("{:?}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs()),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            start: start_time(std::process::id()),
        };
        let text = serde_json::to_string(&holder).expect("a lock serialises");
        for _ in 0..2 {
            match create_new_atomic(&path, text.as_bytes()) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let other = fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str::<Holder>(&t).ok());
                    match other {
                        Some(o) if o.host == holder.host && !alive(&o) => {
                            say(format!(
                                "{}: taking over a stale lock of process {} (no longer running; its pid may now belong to another process)",
                                path.display(),
                                o.pid
                            ));
                            fs::remove_file(&path).map_err(io_at(&path))?;
                        }
                        Some(o) => {
                            return Err(RunError::Locked {
                                path,
                                holder: format!("process {} on {} (since {} s after the epoch): `{}`", o.pid, o.host, o.since, o.command),
                            })
                        }
                        None => return Err(RunError::Locked { path, holder: "an unreadable lock file; delete it if no gshn process uses this folder".into() }),
                    }
                }
                Err(e) => return Err(io_at(&path)(e)),
            }
        }
        Err(RunError::Locked { path, holder: "a process that keeps re-creating it".into() })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
