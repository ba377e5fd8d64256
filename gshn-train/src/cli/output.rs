//! Where commands other than `train` write: each output folder is claimed for one kind of
//! output before anything is written into it, so that no command writes into a folder it did
//! not make (`train` has its own rule, [`crate::cli::run_folder`]).
//!
//! A folder may be written when it is absent or empty, when it holds the marker file
//! `.gshn-<kind>` of the same kind (a folder this command made earlier: rewriting it is the
//! point of running again), or when the user passed `--force`. Anything else — a folder of
//! notes, a data set, another command's output — is refused, naming the folder and the flag.
//! An output file is refused where it exists (unless `--force`) and always where it is one of
//! the command's inputs.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cli::run_error::{io_at, RunError};

/// The kinds of output folder, each with its marker file `.gshn-<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// `gshn eval --report`: report.md, eval.json and pictures.
    Report,
    /// `gshn ablate --out`: runs/, runs.csv, table.md and plots.
    Ablation,
    /// `gshn data shapeworld --out`: train/, val/, test/ in COCO style.
    ShapeWorld,
}

impl OutputKind {
    /// The kind's name, as in its marker file and messages.
    pub fn name(self) -> &'static str {
        match self {
            OutputKind::Report => "report",
            OutputKind::Ablation => "ablation",
            OutputKind::ShapeWorld => "shapeworld",
        }
    }

    /// The marker file's name.
    pub fn marker(self) -> String {
        format!(".gshn-{}", self.name())
    }

    /// Whether `dir` is a folder of this kind written before markers existed.
    fn is_legacy(self, dir: &Path) -> bool {
        match self {
            OutputKind::Report => dir.join("report.md").is_file(),
            OutputKind::ShapeWorld => dir.join("train/captions.json").is_file(),
            // `runs/<variant>/data-D-seed-S/`: the layout only an ablation writes.
            OutputKind::Ablation => fs::read_dir(dir.join("runs")).into_iter().flatten().flatten().any(|v| {
                fs::read_dir(v.path()).into_iter().flatten().flatten().any(|r| {
                    let n = r.file_name();
                    let n = n.to_string_lossy();
                    n.starts_with("data-") && n.contains("-seed-")
                })
            }),
        }
    }
}

/// Checks, writing nothing, that `dir` may become an output folder of `kind` (see the module
/// doc); `flag` names the option that chose the folder, for the message.
pub fn check_folder(dir: &Path, kind: OutputKind, flag: &str, force: bool) -> Result<(), RunError> {
    let refuse = |reason: String| RunError::Folder { path: dir.to_path_buf(), reason };
    if dir.exists() && !dir.is_dir() {
        return Err(refuse(format!("is a file, not a folder; choose another {flag}")));
    }
    let marker = dir.join(kind.marker());
    if dir.is_dir() && !marker.is_file() && !force {
        let empty = fs::read_dir(dir).map_err(io_at(dir))?.next().is_none();
        let legacy = kind.is_legacy(dir);
        if !empty && !legacy {
            return Err(refuse(format!(
                "exists, is not empty and is not a gshn {} folder (no {}); nothing was written — choose another {flag}, or pass --force to write into it anyway",
                kind.name(),
                kind.marker()
            )));
        }
    }
    Ok(())
}

/// Makes `dir` an output folder of `kind` (creating it and its marker), or refuses, writing
/// nothing: see [`check_folder`].
pub fn claim_folder(dir: &Path, kind: OutputKind, flag: &str, force: bool) -> Result<(), RunError> {
    check_folder(dir, kind, flag, force)?;
    fs::create_dir_all(dir).map_err(io_at(dir))?;
    let marker = dir.join(kind.marker());
    if !marker.is_file() {
        fs::write(&marker, format!("written by gshn {} ({})\n", env!("CARGO_PKG_VERSION"), kind.name())).map_err(io_at(&marker))?;
    }
    Ok(())
}

/// Whether two paths name the same file (both exist and resolve alike).
fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Checks that the output file `out` (chosen by `flag`) may be written: it is none of
/// `inputs`, its folder exists, and it does not exist yet unless `force`.
pub fn check_output_file(out: &Path, flag: &str, inputs: &[&Path], force: bool) -> Result<(), RunError> {
    let refuse = |reason: String| RunError::Folder { path: out.to_path_buf(), reason };
    if let Some(input) = inputs.iter().find(|i| same_file(out, i)) {
        return Err(refuse(format!("is an input of this command ({}); an input is never overwritten — choose another {flag}", input.display())));
    }
    if out.is_dir() {
        return Err(refuse(format!("is a folder; {flag} names a file")));
    }
    if out.exists() && !force {
        return Err(refuse(format!("exists; nothing was written — choose another {flag}, or pass --force to overwrite it")));
    }
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    if !parent.is_dir() {
        return Err(refuse(format!("its folder {} does not exist", parent.display())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gshn-output-{name}-{}", std::process::id()));
        fs::remove_dir_all(&d).ok();
        d
    }

    #[test]
    fn a_folder_is_claimed_when_new_empty_or_its_own_kind() {
        let d = scratch("claim");
        claim_folder(&d, OutputKind::Report, "--report", false).unwrap();
        assert!(d.join(".gshn-report").is_file());
        fs::write(d.join("report.md"), "x").unwrap();
        claim_folder(&d, OutputKind::Report, "--report", false).unwrap();
        // Another kind's folder, or a user's folder, is refused and left alone.
        let err = claim_folder(&d, OutputKind::Ablation, "--out", false).unwrap_err().to_string();
        assert!(err.contains("--out") && err.contains("--force"), "{err}");
        assert!(!d.join(".gshn-ablation").exists());
        let user = scratch("user");
        fs::create_dir_all(&user).unwrap();
        fs::write(user.join("notes.txt"), "mine").unwrap();
        assert!(claim_folder(&user, OutputKind::ShapeWorld, "--out", false).is_err());
        assert_eq!(fs::read_dir(&user).unwrap().count(), 1);
        claim_folder(&user, OutputKind::ShapeWorld, "--out", true).unwrap();
        fs::remove_dir_all(&d).ok();
        fs::remove_dir_all(&user).ok();
    }

    #[test]
    fn an_output_file_never_overwrites_an_input_or_an_existing_file() {
        let d = scratch("file");
        fs::create_dir_all(&d).unwrap();
        let input = d.join("in.png");
        fs::write(&input, "pixels").unwrap();
        let err = check_output_file(&d.join("./in.png"), "--out", &[&input], true).unwrap_err().to_string();
        assert!(err.contains("input"), "{err}");
        assert!(check_output_file(&input, "--out", &[], false).unwrap_err().to_string().contains("--force"));
        check_output_file(&input, "--out", &[], true).unwrap();
        check_output_file(&d.join("new.png"), "--out", &[&input], false).unwrap();
        assert!(check_output_file(&d.join("no/such/new.png"), "--out", &[], false).is_err());
        fs::remove_dir_all(&d).ok();
    }
}
