//! `gshn ablate`: a base experiment against a list or grid of overrides, each over several
//! seeds (and data seeds); resumable and shardable over processes or machines; `runs.csv`,
//! `curves.csv`, `table.md` (mean ± std, 95 % CI, paired difference to the reference variant
//! with effect size and Holm-corrected p-value), bar charts with error bars and learning curves.
//!
//! An ablation file:
//!
//! ```toml
//! base = "../shapeworld.toml"          # relative to this file
//! seeds = [0, 1, 2, 3, 4]              # initialisation, batches, dropout; default 0–4
//! data_seeds = [0]                     # data (ShapeWorld scenes, splits); default [0]
//! set = ["train.steps=300"]            # applied to every variant (sizes the grid)
//! reference = "hybrid"                 # default: the first variant
//! primary = "t2i_r10"                  # the one metric the grid's claim is about; default: the first plotted
//! plot = ["t2i_r10", "vqa"]            # metrics drawn as bar charts
//!
//! [[variant]]
//! name = "hybrid"
//!
//! [[variant]]
//! name = "gat-only"
//! set = ["model.fusion.branches=gat-only"]
//!
//! [grid]                               # or / and: the Cartesian product of field values
//! "model.snn.time_steps" = [1, 2, 4, 8]
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use serde::Deserialize;

use crate::cli::eval::EvalReport;
use crate::cli::experiment::{ConfigError, ExperimentConfig};
use crate::cli::plot::{self, Bar, BarChart, LineChart, Series};
use crate::cli::run_error::{io_at, DataError, RunError};
use crate::cli::run_folder::{self, FolderState};
use crate::cli::run_log::hms;
use crate::cli::stats::{compare, holm, mde80, summarise, Comparison};
use crate::cli::train::{run, RunOptions};

/// One variant: a name and its overrides.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Name (a folder name: letters, digits, `-`, `_`, `.`, `=`).
    pub name: String,
    /// Overrides `key=value`.
    #[serde(default)]
    pub set: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AblationFile {
    base: PathBuf,
    #[serde(default = "default_seeds")]
    seeds: Vec<u64>,
    #[serde(default = "default_data_seeds")]
    data_seeds: Vec<u64>,
    #[serde(default)]
    set: Vec<String>,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    primary: Option<String>,
    #[serde(default = "default_plot")]
    plot: Vec<String>,
    #[serde(default)]
    variant: Vec<Variant>,
    #[serde(default)]
    grid: toml::Table,
}

fn default_seeds() -> Vec<u64> {
    vec![0, 1, 2, 3, 4]
}

fn default_data_seeds() -> Vec<u64> {
    vec![0]
}

fn default_plot() -> Vec<String> {
    vec!["t2i_r10".into()]
}

/// Most variants one ablation may have (the grid is sized before it is expanded).
pub const MAX_VARIANTS: usize = 512;

/// A resolved ablation: every variant's full config.
#[derive(Debug, Clone)]
pub struct Ablation {
    /// Seeds of initialisation, batches and dropout.
    pub seeds: Vec<u64>,
    /// Data seeds.
    pub data_seeds: Vec<u64>,
    /// Variants with their resolved configs (seed not yet applied).
    pub variants: Vec<(Variant, ExperimentConfig)>,
    /// The reference variant's name.
    pub reference: String,
    /// Metrics to plot.
    pub plot: Vec<String>,
    /// The primary metric: the grid's claim; Holm over the variants on it alone. Every other
    /// metric is secondary, corrected over all secondary metrics × variants.
    pub primary: String,
}

/// The model's own metrics beside the tasks': spiking statistics, energy, fusion, PLIF's τ,
/// the training time.
pub const MODEL_METRICS: [(&str, &str); 7] = [
    ("firing_rate", "mean firing rate"),
    ("sops", "spike-driven SOPs / image"),
    ("energy_nj", "compute energy / image (nJ)"),
    ("energy_mem_nj", "compute + memory energy / image (nJ)"),
    ("r", "r (mean)"),
    ("plif_tau", "PLIF τ (learned, mean over layers)"),
    ("train_s", "training time (s)"),
];

/// Every metric an ablation can compare and plot, `(name, label)`: each task's
/// ([`crate::task::Task::metrics`], in [`crate::task::TASKS`] order), then [`MODEL_METRICS`].
pub fn metrics() -> Vec<(&'static str, &'static str)> {
    crate::task::TASKS.iter().flat_map(|t| t.metrics().iter().copied()).chain(MODEL_METRICS).collect()
}

/// The names of [`metrics`], comma-separated (for errors).
fn metric_list() -> String {
    metrics().iter().map(|m| m.0).collect::<Vec<_>>().join(", ")
}

/// The named metrics of a test evaluation (`None` where the run has no such number): a
/// task's from the report ([`EvalReport::task_metric`]), else the model's.
pub fn metric(e: &EvalReport, train_s: f64, name: &str) -> Option<f64> {
    match name {
        "firing_rate" => (!e.layers.is_empty()).then(|| e.mean_firing_rate()),
        "sops" => (!e.layers.is_empty()).then_some(e.sops_per_image),
        // The whole image side, so defined without a spiking branch too (0 only in reports
        // written before energy was counted).
        "energy_nj" => (e.energy_pj_per_image > 0.0).then_some(e.energy_pj_per_image / 1000.0),
        // Reports written before the memory term have none.
        "energy_mem_nj" => (e.energy.image_mem_pj > 0.0).then(|| (e.energy.image_pj + e.energy.image_mem_pj) / 1000.0),
        "r" => (!e.r.is_empty()).then(|| e.r.iter().map(|&v| v as f64).sum::<f64>() / e.r.len() as f64),
        "plif_tau" => (!e.plif_tau.is_empty()).then(|| e.plif_tau.iter().sum::<f64>() / e.plif_tau.len() as f64),
        "train_s" => Some(train_s),
        task => e.task_metric(task),
    }
}

fn parse_err(path: &Path, message: impl ToString) -> ConfigError {
    ConfigError::Parse { origin: path.display().to_string(), message: message.to_string() }
}

impl Ablation {
    /// Reads an ablation file; `extra` overrides apply to every variant (after the file's).
    pub fn load(path: &Path, extra: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let file: AblationFile = toml::from_str(&text).map_err(|e| parse_err(path, e))?;
        let base_path = path.parent().unwrap_or(Path::new(".")).join(&file.base);
        let base_text = std::fs::read_to_string(&base_path).map_err(|source| ConfigError::Read { path: base_path.clone(), source })?;
        let mut variants = file.variant.clone();
        let grid_size = file.grid.values().try_fold(1usize, |n, v| n.checked_mul(v.as_array().map_or(1, |a| a.len())));
        match grid_size {
            Some(n) if n + variants.len() <= MAX_VARIANTS => {}
            _ => {
                return Err(parse_err(
                    path,
                    format!("the [grid] and [[variant]]s give more than {MAX_VARIANTS} variants; split the ablation into several files"),
                ));
            }
        }
        if !file.grid.is_empty() {
            let mut combos: Vec<Variant> = vec![Variant { name: String::new(), set: vec![] }];
            for (key, values) in &file.grid {
                let values = values.as_array().ok_or_else(|| parse_err(path, format!("grid field `{key}` must be a list of values")))?;
                let mut next = Vec::new();
                for c in &combos {
                    for v in values {
                        let text = match v {
                            toml::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        let short = key.rsplit('.').next().unwrap_or(key);
                        let name = if c.name.is_empty() { format!("{short}={text}") } else { format!("{},{short}={text}", c.name) };
                        let mut set = c.set.clone();
                        set.push(format!("{key}={}", v));
                        next.push(Variant { name, set });
                    }
                }
                combos = next;
            }
            variants.extend(combos);
        }
        if variants.is_empty() {
            return Err(parse_err(path, "no [[variant]] and no [grid]"));
        }
        if file.seeds.is_empty() {
            return Err(parse_err(path, "seeds is empty"));
        }
        for (what, list) in [("seed", &file.seeds), ("data seed", &file.data_seeds)] {
            let mut seen = std::collections::BTreeSet::new();
            if let Some(d) = list.iter().find(|s| !seen.insert(**s)) {
                return Err(parse_err(path, format!("{what} {d} is listed twice")));
            }
        }
        if file.data_seeds.is_empty() {
            return Err(parse_err(path, "data_seeds is empty"));
        }
        let mut resolved = Vec::new();
        for v in variants {
            crate::cli::experiment::check_folder_name(&v.name).map_err(|r| parse_err(path, format!("variant name {r}")))?;
            if resolved.iter().any(|(o, _): &(Variant, ExperimentConfig)| o.name == v.name) {
                return Err(parse_err(path, format!("two variants are named `{}`", v.name)));
            }
            let all: Vec<String> = file.set.iter().chain(&v.set).chain(extra).cloned().collect();
            let cfg = ExperimentConfig::from_toml(&base_text, &base_path.display().to_string(), &all)
                .map_err(|e| parse_err(path, format!("variant `{}`: {e}", v.name)))?;
            resolved.push((v, cfg));
        }
        let reference = file.reference.unwrap_or_else(|| resolved[0].0.name.clone());
        if !resolved.iter().any(|(v, _)| v.name == reference) {
            return Err(parse_err(path, format!("the reference variant `{reference}` does not exist")));
        }
        for m in &file.plot {
            if !metrics().iter().any(|(k, _)| k == m) {
                return Err(parse_err(path, format!("unknown plot metric `{m}` (one of {})", metric_list())));
            }
        }
        let primary = file.primary.or_else(|| file.plot.first().cloned()).unwrap_or_else(|| "t2i_r10".into());
        if !metrics().iter().any(|(k, _)| *k == primary) {
            return Err(parse_err(path, format!("unknown primary metric `{primary}` (one of {})", metric_list())));
        }
        Ok(Self { seeds: file.seeds, data_seeds: file.data_seeds, variants: resolved, reference, plot: file.plot, primary })
    }
}

impl Ablation {
    /// The grid cut to its first `n` seeds (every variant, every data draw, the same configs):
    /// a pilot whose runs are the full grid's, so that running the full grid into the same
    /// folder later reuses them (`gshn ablate --seeds N`).
    pub fn first_seeds(mut self, n: usize) -> Result<Self, ConfigError> {
        let origin = || format!("--seeds {n}");
        if n == 0 {
            return Err(ConfigError::Parse { origin: origin(), message: "a grid needs at least one seed".into() });
        }
        if n > self.seeds.len() {
            return Err(ConfigError::Parse {
                origin: origin(),
                message: format!("the grid lists {} seeds ({:?}); ask for at most that many", self.seeds.len(), self.seeds),
            });
        }
        self.seeds.truncate(n);
        Ok(self)
    }

    /// Runs in the whole grid: variants × data seeds × seeds.
    pub fn runs(&self) -> usize {
        self.variants.len() * self.runs_per_variant()
    }

    /// Runs of each variant: data seeds × seeds.
    pub fn runs_per_variant(&self) -> usize {
        self.data_seeds.len() * self.seeds.len()
    }
}

/// One finished run.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// Variant name.
    pub variant: String,
    /// Data seed.
    pub data_seed: u64,
    /// Seed.
    pub seed: u64,
    /// Test metrics.
    pub eval: EvalReport,
    /// Training seconds.
    pub train_s: f64,
    /// The validation rows of its metrics log (the learning curve).
    pub curve: Vec<crate::cli::run_log::LogRow>,
}

/// The file a diverged run leaves in its folder: the error, one line. The grid goes on, and
/// the run counts as finished (without metrics) until its config changes: other optimiser
/// settings (`train.lr`, …) resume it from its last good checkpoint, any other change reruns
/// it; or delete its folder.
pub const DIVERGED: &str = "diverged.txt";

/// A run of the grid that stopped on a non-finite loss or weight — a result of the grid,
/// listed in `table.md`, not a failure of the runner.
#[derive(Debug, Clone, PartialEq)]
pub struct DivergedRun {
    /// Variant name.
    pub variant: String,
    /// Data seed.
    pub data_seed: u64,
    /// Seed.
    pub seed: u64,
    /// The error the run stopped with.
    pub reason: String,
}

fn run_dir(out: &Path, variant: &str, data_seed: u64, seed: u64) -> PathBuf {
    out.join("runs").join(variant).join(format!("data-{data_seed}-seed-{seed}"))
}

/// Which of a grid's jobs a process runs: `i/n` takes every job whose index is `i` modulo `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: usize,
    /// Shards in all.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a shard I/N with 0 ≤ I < N (e.g. 0/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

/// The pairing key of a run: its data seed and seed.
fn key(r: &RunRow) -> u64 {
    r.data_seed.wrapping_mul(1_000_003) ^ r.seed
}

/// A free name beside `dir` for a stale run: `seed-0.stale-1`, `seed-0.stale-2`, …
fn stale_name(dir: &Path) -> PathBuf {
    let base = dir.file_name().and_then(|n| n.to_str()).unwrap_or("run").to_string();
    (1..).map(|k| dir.with_file_name(format!("{base}.stale-{k}"))).find(|p| !p.exists()).expect("a free name")
}

/// Runs every variant × data seed × seed not yet finished (a run with `eval.json` is done;
/// one with a checkpoint resumes; one that diverges is recorded in [`DIVERGED`] and the grid
/// goes on) — only this `shard`'s share when given — then, once every
/// run of the grid is finished (by this process or others writing the same folder), writes
/// `runs.csv`, `curves.csv`, `table.md` and the plots into `out`. Returns the finished runs.
pub fn ablate(ab: &Ablation, out: &Path, device: &Device, progress: bool, shard: Option<Shard>) -> Result<Vec<RunRow>, RunError> {
    crate::cli::output::claim_folder(out, crate::cli::output::OutputKind::Ablation, "the output folder", false)?;
    let jobs = jobs(ab);
    let total = jobs.len();
    let mine: Vec<usize> = (0..total).filter(|k| shard.is_none_or(|s| k % s.count == s.index)).collect();
    let start = Instant::now();
    let (mut fresh_time, mut fresh_runs) = (0.0, 0usize);
    for (done, &k) in mine.iter().enumerate() {
        let (v, cfg) = &jobs[k];
        let dir = run_dir(out, &v.name, cfg.data_seed(), cfg.seed);
        let eval_path = dir.join("eval.json");
        let diverged_path = dir.join(DIVERGED);
        let t0 = Instant::now();
        // A run made with another config (the ablation file changed) is set aside, not reused
        // and not deleted.
        let mut status = if eval_path.is_file() {
            "done earlier".to_string()
        } else if diverged_path.is_file() {
            "diverged earlier (retried when the variant's optimiser settings change, or delete its folder)".to_string()
        } else {
            "running".to_string()
        };
        if let FolderState::Run { config, .. } = run_folder::inspect(&dir)? {
            // Runs of another config or of different code are never compared as if they
            // were one experiment.
            let stale = if run_folder::continues(&config, cfg) { other_code(&dir) } else { Some("had another config".to_string()) };
            if let Some(why) = stale {
                let aside = stale_name(&dir);
                std::fs::rename(&dir, &aside).map_err(io_at(&dir))?;
                status = format!("rerunning: the run there {why} (moved to {})", aside.display());
            } else if diverged_path.is_file() && !diverged_with(&dir, cfg) {
                // New optimiser settings (e.g. a lower learning rate): resume the diverged run
                // from its last good checkpoint.
                std::fs::remove_file(&diverged_path).map_err(io_at(&diverged_path))?;
                status = "retrying: it diverged earlier with other optimiser settings".into();
            }
        }
        if progress {
            let left = mine.len() - done;
            let eta = if fresh_runs > 0 { format!(", ETA {}", hms(fresh_time / fresh_runs as f64 * left as f64)) } else { String::new() };
            eprintln!(
                "[ablate {}/{}{}] {} data {} seed {} — {status} (elapsed {}{eta})",
                done + 1,
                mine.len(),
                shard.map_or(String::new(), |s| format!(" of shard {}/{}", s.index, s.count)),
                v.name,
                cfg.data_seed(),
                cfg.seed,
                hms(start.elapsed().as_secs_f64())
            );
        }
        if !eval_path.is_file() && !diverged_path.is_file() {
            match run(cfg, device, &RunOptions { out: dir.clone(), resume: true, stop_after: None, progress: false }) {
                Ok(_) => {
                    if progress {
                        let row = finished(out, v, cfg)?.expect("just finished");
                        let show = |m: &str| metric(&row.eval, row.train_s, m).map_or("–".to_string(), |x| format!("{x:.3}"));
                        eprintln!("    t→i R@10 {}  VQA {}  firing {}  ({})", show("t2i_r10"), show("vqa"), show("firing_rate"), hms(row.train_s));
                    }
                }
                // A diverged run is a result of the grid: recorded, and the grid goes on.
                Err(RunError::NonFinite { step, value, .. }) => {
                    // The error's advice is for `gshn train`; a grid's run is retried by
                    // changing the variant's optimiser settings instead.
                    let reason = format!("the loss became {value} at step {step}");
                    crate::cli::checkpoint::write_atomic(&diverged_path, reason.as_bytes()).map_err(io_at(&diverged_path))?;
                    if progress {
                        eprintln!(
                            "    diverged: {reason}\n    (recorded in {}; the grid goes on. To retry, give the variant other optimiser settings, e.g. a lower train.lr in its `set`, or delete the folder)",
                            diverged_path.display()
                        );
                    }
                }
                Err(e) => return Err(e),
            }
            fresh_time += t0.elapsed().as_secs_f64();
            fresh_runs += 1;
        }
    }
    // Every finished or diverged run of the grid, whoever ran it.
    let (mut rows, mut diverged) = (Vec::new(), Vec::new());
    for (v, cfg) in &jobs {
        if let Some(r) = finished(out, v, cfg)? {
            rows.push(r);
        } else if let Some(d) = diverged_run(out, v, cfg)? {
            diverged.push(d);
        }
    }
    if rows.len() + diverged.len() == total {
        write_outputs(ab, &rows, &diverged, out)?;
    } else if progress {
        eprintln!(
            "{} of {total} runs are finished ({} of them diverged); the tables are written when the last shard finishes (or run again without --shard)",
            rows.len() + diverged.len(),
            diverged.len()
        );
    }
    Ok(rows)
}

/// Why the run in `dir` was made by other code than this build (`None`: by this build only),
/// naming the commits.
pub fn other_code(dir: &Path) -> Option<String> {
    match crate::cli::train::read_provenance(dir) {
        None => Some(format!("records no commit (made before runs recorded one; this build is {})", crate::cli::train::COMMIT)),
        Some(p) => {
            let other = p.other_commits();
            (!other.is_empty()).then(|| format!("was made by commit {} and this build is {}", other.join(", "), crate::cli::train::COMMIT))
        }
    }
}

/// Every run of the grid in order: each variant × data seed × seed, with its config.
fn jobs(ab: &Ablation) -> Vec<(&Variant, ExperimentConfig)> {
    ab.variants
        .iter()
        .flat_map(|(v, c)| {
            ab.data_seeds.iter().flat_map(move |&ds| {
                ab.seeds.iter().map(move |&seed| {
                    let mut cfg = ExperimentConfig { seed, ..c.clone() };
                    cfg.data.seed = Some(ds);
                    (v, cfg)
                })
            })
        })
        .collect()
}

/// The grid's runs that diverged (each left [`DIVERGED`] in a folder made with its config).
pub fn diverged_runs(ab: &Ablation, out: &Path) -> Result<Vec<DivergedRun>, RunError> {
    jobs(ab).iter().filter_map(|(v, cfg)| diverged_run(out, v, cfg).transpose()).collect()
}

/// The diverged run of `variant` with `cfg`'s seeds, if its folder holds one (no `eval.json`,
/// a [`DIVERGED`] marker, made with `cfg` and its optimiser settings).
fn diverged_run(out: &Path, variant: &Variant, cfg: &ExperimentConfig) -> Result<Option<DivergedRun>, RunError> {
    let dir = run_dir(out, &variant.name, cfg.data_seed(), cfg.seed);
    let marker = dir.join(DIVERGED);
    if !marker.is_file() || dir.join("eval.json").is_file() {
        return Ok(None);
    }
    match run_folder::inspect(&dir)? {
        FolderState::Run { config, .. } if run_folder::continues(&config, cfg) && diverged_with(&dir, cfg) => {}
        _ => return Ok(None),
    }
    let reason = std::fs::read_to_string(&marker).map_err(io_at(&marker))?.trim().to_string();
    Ok(Some(DivergedRun { variant: variant.name.clone(), data_seed: cfg.data_seed(), seed: cfg.seed, reason }))
}

/// Whether the run in `dir` diverged with `cfg`'s optimiser settings: its `config.toml`, which
/// each session of a run rewrites, is that of the session that diverged.
fn diverged_with(dir: &Path, cfg: &ExperimentConfig) -> bool {
    let optimiser = |t: &crate::cli::experiment::TrainConfig| (t.lr, t.warmup, t.grad_clip, t.weight_decay);
    ExperimentConfig::load(&dir.join("config.toml"), &[]).is_ok_and(|saved| optimiser(&saved.train) == optimiser(&cfg.train))
}

/// The finished run of `variant` with `cfg`'s seeds, if its folder holds one made with `cfg`.
fn finished(out: &Path, variant: &Variant, cfg: &ExperimentConfig) -> Result<Option<RunRow>, RunError> {
    let dir = run_dir(out, &variant.name, cfg.data_seed(), cfg.seed);
    let eval_path = dir.join("eval.json");
    if !eval_path.is_file() {
        return Ok(None);
    }
    match run_folder::inspect(&dir)? {
        FolderState::Run { config, .. } if run_folder::continues(&config, cfg) && other_code(&dir).is_none() => {}
        _ => return Ok(None),
    }
    let text = crate::cli::checkpoint::read_checked(&eval_path)?;
    let eval: EvalReport = serde_json::from_str(&text).map_err(|e| DataError::Malformed { path: eval_path.clone(), reason: e.to_string() })?;
    let log = crate::cli::run_log::read_log(&dir)?;
    let train_s = log.last().map_or(0.0, |r| r.elapsed_s);
    let curve = log.into_iter().filter(|r| r.validated()).collect();
    Ok(Some(RunRow { variant: variant.name.clone(), data_seed: cfg.data_seed(), seed: cfg.seed, eval, train_s, curve }))
}

/// `runs.csv`: one row per run, the variant and seed then every metric (empty where the run
/// has none), written with a CSV library so that names with commas stay one field.
pub fn runs_csv(rows: &[RunRow]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let all = metrics();
    let header: Vec<&str> = ["variant", "data_seed", "seed"].into_iter().chain(all.iter().map(|m| m.0)).collect();
    w.write_record(&header).expect("writing to memory");
    for r in rows {
        let mut rec = vec![r.variant.clone(), r.data_seed.to_string(), r.seed.to_string()];
        rec.extend(all.iter().map(|(k, _)| metric(&r.eval, r.train_s, k).map_or(String::new(), |v| v.to_string())));
        w.write_record(&rec).expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("UTF-8 fields")
}

/// Writes `runs.csv`, `curves.csv`, `table.md` (with the diverged runs listed), the bar
/// charts and one learning curve per task (`curve_KEY`, its headline validation metric:
/// `curve_t2i_r10`, `curve_vqa`, `curve_entailment`, `curve_nlvr`).
pub fn write_outputs(ab: &Ablation, rows: &[RunRow], diverged: &[DivergedRun], out: &Path) -> Result<(), RunError> {
    let mut md = table(ab, rows);
    if !diverged.is_empty() {
        let _ = writeln!(
            md,
            "### Diverged runs\n\nThese runs stopped on a non-finite loss or weight; they have no metrics and are not in the counts above.\n\n| variant | data seed | seed | reason |\n|---|---|---|---|"
        );
        for d in diverged {
            let _ = writeln!(md, "| {} | {} | {} | {} |", d.variant, d.data_seed, d.seed, d.reason.replace('|', "\\|"));
        }
    }
    for (name, text) in [("runs.csv", runs_csv(rows)), ("curves.csv", curves_csv(rows)), ("table.md", md)] {
        let p = out.join(name);
        crate::cli::checkpoint::write_atomic(&p, text.as_bytes()).map_err(io_at(&p))?;
    }
    for m in &ab.plot {
        let label = metrics().into_iter().find(|(k, _)| k == m).map_or(m.as_str(), |x| x.1);
        let chart = BarChart {
            title: format!("{label} (mean, 95% CI over {} runs per variant)", ab.runs_per_variant()),
            y_label: label.to_string(),
            bars: bars(ab, rows, m),
        };
        plot::save(&out.join(m), &chart)?;
    }
    // One learning curve per task: its headline validation metric.
    for c in crate::task::TASKS.iter().map(|t| t.headline()) {
        if let Some(chart) = learning_curve(ab, rows, &format!("validation {}", c.label), c.key) {
            plot::save(&out.join(format!("curve_{}", c.key)), &chart)?;
        }
    }
    Ok(())
}

/// One bar per variant for metric `m`: the mean over its runs with the 95 % CI. A variant
/// with fewer runs than the grid has (some diverged or are missing) says how many it has in
/// its label, e.g. `stl (3 of 5 runs)`; one with none is labelled `(no runs)` and has no bar
/// (a NaN value), not a bar at 0.
pub fn bars(ab: &Ablation, rows: &[RunRow], m: &str) -> Vec<Bar> {
    let expected = ab.runs_per_variant();
    ab.variants
        .iter()
        .map(|(v, _)| {
            let vals: Vec<f64> = rows.iter().filter(|r| r.variant == v.name).filter_map(|r| metric(&r.eval, r.train_s, m)).collect();
            let s = summarise(&vals);
            let label = match vals.len() {
                0 => format!("{} (no runs)", v.name),
                n if n < expected => format!("{} ({n} of {expected} runs)", v.name),
                _ => v.name.clone(),
            };
            Bar { label, value: s.mean, error: s.ci95.is_finite().then_some(s.ci95) }
        })
        .collect()
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.3}")
    }
}

/// The Markdown table: per variant and metric, mean ± std [95 % CI], and the paired
/// comparison with the reference over the shared (data seed, seed) pairs: the difference with
/// its 95 % CI, the effect size `d_z` and the paired t-test's p-value after Holm's correction.
/// The primary metric comes first, corrected over the variants alone, with the minimum
/// detectable effect of each comparison; every other metric is secondary, its p-values
/// corrected over all secondary metrics × variants together.
pub fn table(ab: &Ablation, rows: &[RunRow]) -> String {
    let mut s = String::new();
    let compared = ab.variants.len().saturating_sub(1);
    let mut used: Vec<(&str, &str)> = metrics().into_iter().filter(|(k, _)| rows.iter().any(|r| metric(&r.eval, r.train_s, k).is_some())).collect();
    // The primary first.
    used.sort_by_key(|(k, _)| *k != ab.primary);
    let secondary = used.iter().filter(|(k, _)| *k != ab.primary).count();
    let _ = writeln!(
        s,
        "Seeds {:?} × data seeds {:?}. Each cell: mean ± sample std, then the 95 % confidence interval of the mean (Student t). \
         Δ: the paired difference to `{}` over the same (data seed, seed) pairs with its 95 % CI; d: the effect size (Cohen's d_z, \
         mean over the std of the differences); p: the paired t-test's two-sided p-value after Holm's correction. \
         **Primary metric: {}**, corrected over the {compared} variants compared; MDE: the difference a paired t-test at the \
         Bonferroni level 0.05/{compared} finds with 80 % power, from the spread of the paired differences. Every other metric is \
         **secondary**: its p-values are corrected over all {secondary} secondary metrics × {compared} variants together, and only \
         then called resolved. A difference the seeds resolve has p < 0.05; a variant whose interval contains 0 is not resolved \
         from the reference, which is not the same as being equal to it.\n",
        ab.seeds, ab.data_seeds, ab.reference, ab.primary
    );
    let per = |name: &str, key_name: &str| -> Vec<(u64, f64)> {
        rows.iter().filter(|r| r.variant == name).filter_map(|r| metric(&r.eval, r.train_s, key_name).map(|v| (key(r), v))).collect()
    };
    // Every comparison, per metric; Holm within the primary, and across all secondaries.
    let mut comparisons: Vec<Vec<Option<Comparison>>> = used
        .iter()
        .map(|(key_name, _)| {
            let reference = per(&ab.reference, key_name);
            ab.variants.iter().map(|(v, _)| (v.name != ab.reference).then(|| compare(&per(&v.name, key_name), &reference))).collect()
        })
        .collect();
    for family in [true, false] {
        let members: Vec<(usize, usize)> = comparisons
            .iter()
            .enumerate()
            .filter(|(m, _)| (used[*m].0 == ab.primary) == family)
            .flat_map(|(m, row)| row.iter().enumerate().filter(|(_, c)| c.is_some()).map(move |(v, _)| (m, v)))
            .collect();
        let mut flat: Vec<Comparison> = members.iter().map(|&(m, v)| comparisons[m][v].expect("a comparison")).collect();
        holm(&mut flat);
        for (&(m, v), c) in members.iter().zip(flat) {
            comparisons[m][v] = Some(c);
        }
    }
    for ((key_name, label), cmps) in used.iter().zip(&comparisons) {
        let primary = *key_name == ab.primary;
        let _ = if primary {
            writeln!(
                s,
                "### Primary: {label}\n\n| variant | runs | mean ± std | 95 % CI | Δ vs {} [95 % CI] | d | p (Holm) | MDE (80 % power) |\n|---|---|---|---|---|---|---|---|",
                ab.reference
            )
        } else {
            writeln!(s, "### {label} (secondary)\n\n| variant | runs | mean ± std | 95 % CI | Δ vs {} [95 % CI] | d | p (Holm, all secondary) |\n|---|---|---|---|---|---|---|", ab.reference)
        };
        for ((v, _), cmp) in ab.variants.iter().zip(cmps) {
            let sm = summarise(&per(&v.name, key_name).iter().map(|x| x.1).collect::<Vec<_>>());
            let (delta, d, p, mde) = match cmp {
                None => ("—".to_string(), "—".to_string(), "—".to_string(), "—".to_string()),
                Some(c) if c.diff.n == 0 => ("–".into(), "–".into(), "–".into(), "–".into()),
                Some(c) => {
                    let ci = if c.diff.ci95.is_finite() {
                        format!(" [{}, {}]", fmt(c.diff.mean - c.diff.ci95), fmt(c.diff.mean + c.diff.ci95))
                    } else {
                        String::new()
                    };
                    let d = if c.effect.is_finite() { format!("{:+.2}", c.effect) } else { "–".into() };
                    let p = if c.p_holm.is_nan() {
                        "–".into()
                    } else if c.p_holm < 0.001 {
                        "<0.001".into()
                    } else {
                        format!("{:.3}", c.p_holm)
                    };
                    let mde = mde80(&c.diff, 0.05 / compared.max(1) as f64);
                    (format!("{:+.3}{ci}", c.diff.mean), d, p, if mde.is_finite() { fmt(mde) } else { "–".into() })
                }
            };
            let ci = if sm.ci95.is_finite() { format!("[{}, {}]", fmt(sm.mean - sm.ci95), fmt(sm.mean + sm.ci95)) } else { "–".into() };
            let row = format!("| {} | {} | {} ± {} | {ci} | {delta} | {d} | {p} |", v.name, sm.n, fmt(sm.mean), fmt(sm.std));
            let _ = if primary { writeln!(s, "{row} {mde} |") } else { writeln!(s, "{row}") };
        }
        s += "\n";
    }
    s
}

/// `curves.csv`: every validation row of every run (variant, data seed, seed, step, stage,
/// loss, then every task's validation metrics), the learning curves behind the table.
pub fn curves_csv(rows: &[RunRow]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let vals = crate::task::val_columns();
    let head = ["variant", "data_seed", "seed", "step", "stage", "loss"].map(String::from).into_iter().chain(vals.iter().map(|c| format!("val_{}", c.key)));
    w.write_record(head.collect::<Vec<_>>()).expect("writing to memory");
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    for r in rows {
        for c in &r.curve {
            let fixed = [r.variant.clone(), r.data_seed.to_string(), r.seed.to_string(), c.step.to_string(), c.stage.clone(), c.loss.to_string()];
            w.write_record(fixed.into_iter().chain(vals.iter().map(|v| opt(c.val(v.key)))).collect::<Vec<_>>()).expect("writing to memory");
        }
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("UTF-8 fields")
}

/// The learning curve of one validation metric: per variant, the mean over its runs at each
/// step that every run logged.
fn learning_curve(ab: &Ablation, rows: &[RunRow], label: &str, key: &str) -> Option<LineChart> {
    let pick = |c: &crate::cli::run_log::LogRow| c.val(key);
    let series: Vec<Series> = ab
        .variants
        .iter()
        .map(|(v, _)| {
            let runs: Vec<&RunRow> = rows.iter().filter(|r| r.variant == v.name).collect();
            let mut steps: Vec<usize> = runs.first().map(|r| r.curve.iter().filter(|c| pick(c).is_some()).map(|c| c.step).collect()).unwrap_or_default();
            steps.retain(|s| runs.iter().all(|r| r.curve.iter().any(|c| c.step == *s && pick(c).is_some())));
            let summaries: Vec<(f64, crate::cli::stats::Summary)> = steps
                .iter()
                .map(|&s| {
                    let vals: Vec<f64> = runs.iter().filter_map(|r| r.curve.iter().find(|c| c.step == s).and_then(pick)).collect();
                    (s as f64, crate::cli::stats::summarise(&vals))
                })
                .collect();
            let points = summaries.iter().map(|(x, m)| (*x, m.mean)).collect();
            // The 95 % CI over the variant's runs as a band (none with a single run).
            let band = summaries.iter().filter(|(_, m)| m.ci95.is_finite()).map(|(x, m)| (*x, m.mean - m.ci95, m.mean + m.ci95)).collect();
            Series { name: v.name.clone(), points, band }
        })
        .collect();
    series.iter().any(|s| s.points.len() >= 2).then(|| LineChart {
        title: format!("{label} during training (mean, 95% CI band over {} runs per variant)", ab.runs_per_variant()),
        x_label: "step".into(),
        y_label: label.into(),
        series,
        y_range: Some((0.0, 1.0)),
    })
}
