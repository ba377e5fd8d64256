//! The metrics log of a run: `metrics.jsonl` (one [`LogRow`] per line, what gshn reads back)
//! and `metrics.csv` (the same rows for a spreadsheet), appended as training goes and
//! rewritten whole on resume.

use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cli::checkpoint::write_atomic;
use crate::cli::run_error::{io_at, DataError, RunError};

/// One row of the metrics log (`metrics.jsonl` and `metrics.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRow {
    /// Step (both stages counted).
    pub step: usize,
    /// `stl` or `main`.
    pub stage: String,
    /// Mean total loss since the previous row.
    pub loss: f64,
    /// Mean CLIP loss (main stage).
    pub clip: f64,
    /// Mean VQA loss (main stage).
    pub vqa: f64,
    /// Mean node-level InfoNCE (main stage).
    pub node: f64,
    /// Mean STL loss (STL stage).
    pub stl: f64,
    /// Learning rate at the row's step.
    pub lr: f64,
    /// Training images per second since the previous row.
    pub images_per_s: f64,
    /// Validation image→text R@1 (rows where validation ran).
    pub val_i2t_r1: Option<f64>,
    /// Validation text→image R@1.
    pub val_t2i_r1: Option<f64>,
    /// Validation text→image R@5.
    pub val_t2i_r5: Option<f64>,
    /// Validation text→image R@10.
    pub val_t2i_r10: Option<f64>,
    /// Validation VQA accuracy.
    pub val_vqa: Option<f64>,
    /// Seconds since the run began (all sessions).
    pub elapsed_s: f64,
    /// Mean visual-entailment loss (main stage; 0 without the task).
    #[serde(default)]
    pub entailment: f64,
    /// Validation visual-entailment accuracy.
    #[serde(default)]
    pub val_entailment: Option<f64>,
    /// Mean NLVR² loss (main stage; 0 without the task).
    #[serde(default)]
    pub nlvr: f64,
    /// Validation NLVR² accuracy.
    #[serde(default)]
    pub val_nlvr: Option<f64>,
}

const CSV_HEADER: &str =
    "step,stage,loss,clip,vqa,node,stl,lr,images_per_s,val_i2t_r1,val_t2i_r1,val_t2i_r5,val_t2i_r10,val_vqa,elapsed_s,entailment,val_entailment,nlvr,val_nlvr";

impl LogRow {
    fn csv(&self) -> String {
        let o = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
        format!(
            "{},{},{:.5},{:.5},{:.5},{:.5},{:.5},{:.3e},{:.1},{},{},{},{},{},{:.1},{:.5},{},{:.5},{}",
            self.step,
            self.stage,
            self.loss,
            self.clip,
            self.vqa,
            self.node,
            self.stl,
            self.lr,
            self.images_per_s,
            o(self.val_i2t_r1),
            o(self.val_t2i_r1),
            o(self.val_t2i_r5),
            o(self.val_t2i_r10),
            o(self.val_vqa),
            self.elapsed_s,
            self.entailment,
            o(self.val_entailment),
            self.nlvr,
            o(self.val_nlvr)
        )
    }
}

/// Reads a run's metrics log (a torn last line is dropped; see [`read_log_noting`]).
pub fn read_log(run_dir: &Path) -> Result<Vec<LogRow>, RunError> {
    Ok(read_log_noting(run_dir)?.0)
}

pub(crate) fn write_log(run_dir: &Path, rows: &[LogRow]) -> Result<(), RunError> {
    let jsonl: String = rows.iter().map(|r| serde_json::to_string(r).expect("a log row serialises") + "\n").collect();
    let p = run_dir.join("metrics.jsonl");
    write_atomic(&p, jsonl.as_bytes()).map_err(io_at(&p))?;
    let csv: String = std::iter::once(CSV_HEADER.to_string()).chain(rows.iter().map(LogRow::csv)).map(|l| l + "\n").collect();
    let p = run_dir.join("metrics.csv");
    write_atomic(&p, csv.as_bytes()).map_err(io_at(&p))
}

pub(crate) fn append_log(run_dir: &Path, row: &LogRow) -> Result<(), RunError> {
    let append = |name: &str, line: String, header: Option<&str>| -> Result<(), RunError> {
        let p = run_dir.join(name);
        let fresh = !p.exists();
        let mut f = fs::OpenOptions::new().create(true).append(true).open(&p).map_err(io_at(&p))?;
        if let (true, Some(h)) = (fresh, header) {
            writeln!(f, "{h}").map_err(io_at(&p))?;
        }
        writeln!(f, "{line}").map_err(io_at(&p))
    };
    append("metrics.jsonl", serde_json::to_string(row).expect("a log row serialises"), None)?;
    append("metrics.csv", row.csv(), Some(CSV_HEADER))
}

/// Reads a run's metrics log. A last line that does not parse (a crash or a full disk while it
/// was written) is dropped and reported in the note; a bad line before it is an error naming
/// the file and the line.
pub fn read_log_noting(run_dir: &Path) -> Result<(Vec<LogRow>, Option<String>), RunError> {
    let p = run_dir.join("metrics.jsonl");
    if !p.exists() {
        return Ok((vec![], None));
    }
    let text = fs::read_to_string(&p).map_err(io_at(&p))?;
    let lines: Vec<(usize, &str)> = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).collect();
    let mut rows = Vec::with_capacity(lines.len());
    let mut note = None;
    for (k, &(n, line)) in lines.iter().enumerate() {
        match serde_json::from_str::<LogRow>(line) {
            Ok(r) => rows.push(r),
            Err(e) if k + 1 == lines.len() => note = Some(format!("{}: dropped a torn last line {} ({e})", p.display(), n + 1)),
            Err(e) => return Err(DataError::Malformed { path: p.clone(), reason: format!("line {}: {e}", n + 1) }.into()),
        }
    }
    Ok((rows, note))
}

/// Seconds as `1h02m03s` / `4m05s` / `6s`.
pub fn hms(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, sec) => format!("{h}h{m:02}m{sec:02}s"),
    }
}
