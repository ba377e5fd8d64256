//! The metrics log of a run: `metrics.jsonl` (one [`LogRow`] per line, what gshn reads back)
//! and `metrics.csv` (the same rows for a spreadsheet), appended as training goes and
//! rewritten whole on resume.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cli::checkpoint::write_atomic;
use crate::cli::run_error::{io_at, DataError, RunError};
use crate::task;

/// One row of the metrics log (`metrics.jsonl` and `metrics.csv`): the step's fixed fields
/// and one column per loss term and validation metric of the tasks
/// ([`crate::task::loss_columns`], [`crate::task::val_columns`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRow {
    /// Step (both stages counted).
    pub step: usize,
    /// `stl` or `main`.
    pub stage: String,
    /// Mean total loss since the previous row.
    pub loss: f64,
    /// Learning rate at the row's step.
    pub lr: f64,
    /// Training images per second since the previous row.
    pub images_per_s: f64,
    /// Seconds since the run began (all sessions).
    pub elapsed_s: f64,
    /// The mean of each loss term since the previous row, by its key (`clip`, `stl`, `vqa`,
    /// `entailment`, `nlvr`, `node`; 0 for a term not computed), and each validation metric
    /// as `val_` + its key (`val_t2i_r10`, `val_vqa`, …; null where validation did not run).
    /// Any other field of a line is kept as it was read (a log written by newer code reads).
    #[serde(flatten)]
    pub columns: BTreeMap<String, serde_json::Value>,
}

impl LogRow {
    /// A row with every loss term 0 and no validation metric.
    pub fn new(step: usize, stage: &str, loss: f64, lr: f64, images_per_s: f64, elapsed_s: f64) -> Self {
        let mut columns: BTreeMap<String, serde_json::Value> = task::loss_columns().iter().map(|c| (c.key.to_string(), 0.0.into())).collect();
        columns.extend(task::val_columns().iter().map(|c| (val_key(c.key), serde_json::Value::Null)));
        Self { step, stage: stage.into(), loss, lr, images_per_s, elapsed_s, columns }
    }

    /// The mean of loss term `key` since the previous row (0 where it was not computed).
    pub fn term(&self, key: &str) -> f64 {
        self.columns.get(key).and_then(serde_json::Value::as_f64).unwrap_or(0.0)
    }

    /// Sets loss term `key`.
    pub fn set_term(&mut self, key: &str, value: f64) {
        self.columns.insert(key.into(), value.into());
    }

    /// Validation metric `key` (`t2i_r10`, `vqa`, `entailment`, …), where validation ran.
    pub fn val(&self, key: &str) -> Option<f64> {
        self.columns.get(&val_key(key)).and_then(serde_json::Value::as_f64)
    }

    /// Sets validation metric `key`.
    pub fn set_val(&mut self, key: &str, value: Option<f64>) {
        self.columns.insert(val_key(key), value.map_or(serde_json::Value::Null, Into::into));
    }

    /// Whether validation ran at this row (any validation metric is set).
    pub fn validated(&self) -> bool {
        task::val_columns().iter().any(|c| self.val(c.key).is_some())
    }

    fn csv(&self) -> String {
        let o = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
        let terms: Vec<String> = task::loss_columns().iter().map(|c| format!("{:.5}", self.term(c.key))).collect();
        let vals: Vec<String> = task::val_columns().iter().map(|c| o(self.val(c.key))).collect();
        format!(
            "{},{},{:.5},{},{:.3e},{:.1},{},{:.1}",
            self.step,
            self.stage,
            self.loss,
            terms.join(","),
            self.lr,
            self.images_per_s,
            vals.join(","),
            self.elapsed_s
        )
    }
}

/// The fields every row has besides its columns (no column may take one of these keys).
pub const FIXED_FIELDS: [&str; 6] = ["step", "stage", "loss", "lr", "images_per_s", "elapsed_s"];

/// The log's key of validation metric `key`.
fn val_key(key: &str) -> String {
    format!("val_{key}")
}

/// `metrics.csv`'s header: the fixed fields, the loss terms, the validation metrics.
fn csv_header() -> String {
    let terms: Vec<&str> = task::loss_columns().iter().map(|c| c.key).collect();
    let vals: Vec<String> = task::val_columns().iter().map(|c| val_key(c.key)).collect();
    format!("step,stage,loss,{},lr,images_per_s,{},elapsed_s", terms.join(","), vals.join(","))
}

/// Reads a run's metrics log (a torn last line is dropped; see [`read_log_noting`]).
pub fn read_log(run_dir: &Path) -> Result<Vec<LogRow>, RunError> {
    Ok(read_log_noting(run_dir)?.0)
}

pub(crate) fn write_log(run_dir: &Path, rows: &[LogRow]) -> Result<(), RunError> {
    let jsonl: String = rows.iter().map(|r| serde_json::to_string(r).expect("a log row serialises") + "\n").collect();
    let p = run_dir.join("metrics.jsonl");
    write_atomic(&p, jsonl.as_bytes()).map_err(io_at(&p))?;
    let csv: String = std::iter::once(csv_header()).chain(rows.iter().map(LogRow::csv)).map(|l| l + "\n").collect();
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
    append("metrics.csv", row.csv(), Some(&csv_header()))
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
