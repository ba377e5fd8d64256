//! The runner's typed errors (training, evaluation, data folders, checkpoints, reports): each
//! names the file or the field it is about. The `gshn` binary turns them into messages; the
//! library never uses `anyhow`.

use std::path::{Path, PathBuf};

use crate::cli::experiment::ConfigError;
pub use crate::data::DataError;
use crate::GshnError;

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

/// Everything a run can stop on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The experiment file or an override.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The model or its inputs.
    #[error(transparent)]
    Model(#[from] GshnError),
    /// The data.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The loss (or a weight) became NaN or infinite.
    #[error("the loss became {value} at step {step}; stopped. {advice}")]
    NonFinite {
        /// The step.
        step: usize,
        /// The value.
        value: f32,
        /// The last good checkpoint.
        checkpoint: Option<PathBuf>,
        /// What to do next (a command that works).
        advice: String,
    },
    /// The run folder holds another run.
    #[error("{}", occupied_message(dir, *.different, changed))]
    Occupied {
        /// The folder.
        dir: PathBuf,
        /// Whether its config differs from this one.
        different: bool,
        /// The fields that differ, `field: saved → this run's` (empty when the same).
        changed: Vec<String>,
    },
    /// The output folder cannot take this run (a file, or a folder that is not a gshn run).
    #[error("{}: {reason}", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
    /// Another process is training into the folder.
    #[error("{} is held by {holder}; two runs cannot write one folder", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Who holds it.
        holder: String,
    },
    /// A device or tensor read failed.
    #[error("device: {0}")]
    Device(String),
}

fn occupied_message(dir: &Path, different: bool, changed: &[String]) -> String {
    if !different {
        return format!("{} already holds a run of this config; pass --resume to continue it, or choose another --out", dir.display());
    }
    const SHOWN: usize = 8;
    let mut list = changed.iter().take(SHOWN).map(String::as_str).collect::<Vec<_>>().join("; ");
    if changed.len() > SHOWN {
        list.push_str(&format!("; and {} more", changed.len() - SHOWN));
    }
    format!(
        "{} already holds a run of a different config (saved → this run: {list}); --resume continues only the same config (changing only {}); choose another --out, or give the saved values",
        dir.display(),
        crate::cli::experiment::RESUMABLE_FIELDS.join(", ")
    )
}

/// `map_err` for I/O on `path`.
pub fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io { path: path.to_path_buf(), source }
}
