//! Scoring one trained checkpoint on other data sets (`gshn eval --set data.… / --dataset
//! FILE`): the checkpoint's model and config, with only the data and evaluation settings
//! changed, evaluated as on its own test split — one row of a transfer table per data set, as
//! open_clip's evaluation runs one model over a list of data sets.
//!
//! What must fit, and what is done where it does not:
//! * only `data.*`, `eval.*` and `device` may change; `data.image_size` may not (the model's
//!   token grid was trained at it) — refused, naming the field; a data set read from a folder
//!   drops the ShapeWorld generator's settings (hypotheses, pairs, occluders, held-out pairs);
//! * the scratch text encoder knows the words of the data it was trained on: another data
//!   set's texts are encoded with the checkpoint's vocabulary, and the words it lacks are read
//!   as `[UNK]`, counted and reported beside the metrics (MiniLM's word pieces cover any text);
//! * VQA answers are matched by name to the checkpoint's answer set; questions whose answer the
//!   checkpoint never saw are refused, naming the answers (the head has no output for them);
//! * a data set that carries none of the tasks the checkpoint learned is refused, naming them.

use std::path::Path;

use burn::tensor::Device;
use serde::Serialize;

use crate::cli::checkpoint::Loaded;
use crate::cli::eval::{evaluate, EvalReport};
use crate::cli::experiment::{ConfigError, ExperimentConfig};
use crate::cli::run_error::{DataError, RunError};
use crate::cli::train::{read_data, Data};
use crate::model::text::UNK;
use crate::GshnBatcher;

/// A data set to score a checkpoint on: a name (its table row) and config overrides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalSet {
    /// The row's name.
    pub name: String,
    /// `KEY=VALUE` overrides of the checkpoint's config (`data.*`, `eval.*`).
    pub overrides: Vec<String>,
}

/// Flattens a TOML table into `a.b=value` overrides.
fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            other => out.push(format!("{key}={other}")),
        }
    }
}

impl EvalSet {
    /// Reads a data-set file: TOML with an optional `name` (default: the file's stem) and
    /// `[data]` / `[eval]` tables, e.g. `[data]\nsource = "coco"\ndir = "../shared/data/coco-mini"`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let origin = path.display().to_string();
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse { origin: origin.clone(), message: e.to_string() })?;
        let name = match table.remove("name") {
            Some(toml::Value::String(s)) => s,
            Some(other) => return Err(ConfigError::Parse { origin, message: format!("`name` must be a string, not {other}") }),
            None => path.file_stem().and_then(|s| s.to_str()).unwrap_or("data set").to_string(),
        };
        if let Some(k) = table.keys().find(|k| !matches!(k.as_str(), "data" | "eval")) {
            return Err(ConfigError::Parse {
                origin,
                message: format!("`{k}`: a data-set file holds `name`, `[data]` and `[eval]` only (the model and its training are the checkpoint's)"),
            });
        }
        let mut overrides = Vec::new();
        flatten("", &table, &mut overrides);
        Ok(Self { name, overrides })
    }
}

/// The checkpoint's config `saved` with `overrides` applied; only `data.*`, `eval.*` and
/// `device` may change, and not `data.image_size`.
pub fn config_for(saved: &ExperimentConfig, overrides: &[String]) -> Result<ExperimentConfig, ConfigError> {
    // Another source than ShapeWorld has no generated hypotheses, pairs, occluders or held-out
    // pairs: those settings of a ShapeWorld checkpoint are dropped (an explicit override, given
    // later, still wins).
    let leaves_shapeworld = overrides.iter().any(|o| o.replace(' ', "").starts_with("data.source=") && !o.contains("shapeworld"));
    let mut all: Vec<String> = Vec::new();
    if leaves_shapeworld {
        all.extend(["data.hypotheses=0", "data.statements=0", "data.occluders=0.0", "data.holdout=[]"].map(String::from));
    }
    all.extend(overrides.iter().cloned());
    let cfg = ExperimentConfig::from_toml(&saved.to_toml(), "the checkpoint's config", &all)?;
    let mut changed = Vec::new();
    crate::cli::experiment::differences(&saved.to_value(), &cfg.to_value(), "", &mut changed);
    for c in &changed {
        let field = c.split(':').next().unwrap_or(c);
        let allowed = (field.starts_with("data.") || field.starts_with("eval.") || field == "device") && field != "data.image_size";
        if !allowed {
            let why = if field == "data.image_size" {
                "the model's token grid was trained at the checkpoint's image size; images of any size are resized to it"
            } else {
                "evaluation keeps the checkpoint's model and training; only data.*, eval.* and device may change"
            };
            return Err(ConfigError::Invalid { field: field.to_string(), reason: format!("cannot change ({c}): {why}") });
        }
    }
    Ok(cfg)
}

/// How a data set fits a checkpoint, reported beside its metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Fit {
    /// Words of the test texts (captions, questions, hypotheses, statements).
    pub words: usize,
    /// Of them, words the checkpoint's vocabulary lacks (read as `[UNK]`; 0 with MiniLM).
    pub unknown_words: usize,
}

impl Fit {
    /// The share of unknown words.
    pub fn unknown_share(&self) -> f64 {
        self.unknown_words as f64 / self.words.max(1) as f64
    }
}

/// One row of a transfer table.
#[derive(Debug, Clone, Serialize)]
pub struct TransferRow {
    /// The data set.
    pub set: EvalSet,
    /// How it fits the checkpoint.
    pub fit: Fit,
    /// Its test evaluation.
    pub report: EvalReport,
}

/// Gives the questions of `data` the checkpoint's answer indices (`to`), matching by name.
fn remap_answers(data: &mut Data, to: &[String], cfg: &ExperimentConfig) -> Result<(), RunError> {
    if data.answers == to {
        return Ok(());
    }
    let index: std::collections::BTreeMap<&str, usize> = to.iter().enumerate().map(|(i, a)| (a.as_str(), i)).collect();
    let missing: Vec<&String> = data.answers.iter().filter(|a| !index.contains_key(a.as_str())).collect();
    let asked =
        |a: &String| [&data.train, &data.val, &data.test].iter().any(|s| s.items.iter().any(|p| p.questions.iter().any(|q| &data.answers[q.answer] == a)));
    let missing: Vec<&String> = missing.into_iter().filter(|a| asked(a)).collect();
    if !missing.is_empty() {
        let list = missing.iter().take(8).map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ");
        return Err(DataError::Unfit(format!(
            "{}: {} answer(s) of its questions are not among the checkpoint's {} answers ({list}); the VQA head has no output for them — use a data set whose answers the checkpoint knows",
            crate::cli::train::data_description(cfg),
            missing.len(),
            to.len()
        ))
        .into());
    }
    let map: Vec<usize> = data.answers.iter().map(|a| index.get(a.as_str()).copied().unwrap_or(0)).collect();
    for split in [&mut data.train, &mut data.val, &mut data.test] {
        for p in &mut split.items {
            for q in &mut p.example.questions {
                q.answer = map[q.answer];
            }
        }
    }
    data.answers = to.to_vec();
    Ok(())
}

/// Scores `loaded` on the data of `cfg` (a [`config_for`] of its config) on `device`: reads
/// the data, fits it to the checkpoint (vocabulary, answers; see the module doc), attaches
/// frozen-backbone features and evaluates the test split. `own` says whether this is the
/// checkpoint's own data, whose vocabulary must then equal the checkpoint's exactly (else the
/// data changed since training: an error in the data's terms).
pub fn score(loaded: &Loaded, cfg: &ExperimentConfig, own: bool, device: &Device, say: &dyn Fn(String)) -> Result<Scored, RunError> {
    // The checks that the data can train the config do not apply to scoring.
    let mut data = read_data(cfg)?;
    let scratch = matches!(cfg.model.text.encoder, crate::model::config::TextEncoderChoice::Scratch);
    if own {
        if let Some(why) = crate::cli::train::vocab_mismatch(&loaded.vocab, &data.vocab, cfg) {
            return Err(DataError::Unfit(format!("{}: {why}", loaded.dir.join("vocab.json").display())).into());
        }
    }
    data.vocab = loaded.vocab.clone();
    let mut fit = Fit::default();
    for t in data.test.texts() {
        let ids = data.vocab.encode(t);
        fit.words += ids.len();
        if scratch {
            fit.unknown_words += ids.iter().filter(|&&i| i == UNK).count();
        }
    }
    remap_answers(&mut data, &loaded.state.answers, cfg)?;
    data.attach_features(&loaded.model, device, say)?;
    let batcher = data.batcher(cfg)?.with_frozen_text(&loaded.model, device);
    let report = evaluate(&loaded.model, &data.test, &batcher, &cfg.eval.energy, cfg.eval.batch_size, device, Some(&data.train))?;
    if report.tasks.first_scored().is_none() {
        let learned: Vec<&str> = crate::task::TASKS.iter().filter(|t| t.weighted(&cfg.model.loss)).map(|t| t.title()).collect();
        return Err(DataError::Unfit(format!(
            "{} carries none of the tasks this checkpoint learned: {}",
            crate::cli::train::data_description(cfg),
            learned.join(", ")
        ))
        .into());
    }
    Ok(Scored { data, batcher, fit, report })
}

/// What [`score`] returns.
pub struct Scored {
    /// The data, fitted to the checkpoint.
    pub data: Data,
    /// The batcher that scored it.
    pub batcher: GshnBatcher,
    /// How the data fits the checkpoint.
    pub fit: Fit,
    /// The test evaluation.
    pub report: EvalReport,
}

fn cell(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{x:.3}"))
}

/// The transfer table: one row per data set, each metric beside its chance level or
/// majority baseline, and the share of words the checkpoint's vocabulary lacks.
pub fn table(rows: &[TransferRow]) -> String {
    let mut md = String::from(
        "| data set | test images | unknown words | t→i R@1 | t→i R@10 (chance) | i→t R@1 | VQA | VE (majority) | NLVR² (majority) |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let e = &r.report;
        let m = |name: &str| crate::cli::ablate::metric(e, 0.0, name);
        let n = e.images.max(1) as f64;
        let r10 = m("t2i_r10").map_or("–".into(), |v| format!("{v:.3} ({:.3})", (10.0 / n).min(1.0)));
        let ve = e.tasks.entailment.as_ref().map_or("–".into(), |v| format!("{:.3} ({:.3})", v.accuracy, v.majority));
        let nlvr = e.tasks.nlvr.as_ref().map_or("–".into(), |v| format!("{:.3} ({:.3})", v.accuracy, v.majority));
        md.push_str(&format!(
            "| {} | {} | {:.1} % ({} of {}) | {} | {r10} | {} | {} | {ve} | {nlvr} |\n",
            r.set.name.replace('|', "\\|"),
            e.images,
            100.0 * r.fit.unknown_share(),
            r.fit.unknown_words,
            r.fit.words,
            cell(m("t2i_r1")),
            cell(m("i2t_r1")),
            cell(m("vqa")),
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_set_file_becomes_overrides_and_only_data_and_eval_may_change() {
        let dir = std::env::temp_dir().join(format!("gshn-transfer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("coco-mini.toml");
        std::fs::write(&p, "[data]\nsource = \"coco\"\ndir = \"x\"\ntest_images = 40\n[data.segments]\nsource = \"grid\"\n").unwrap();
        let set = EvalSet::load(&p).unwrap();
        assert_eq!(set.name, "coco-mini");
        assert_eq!(set.overrides, vec!["data.dir=\"x\"", "data.segments.source=\"grid\"", "data.source=\"coco\"", "data.test_images=40"]);
        std::fs::write(&p, "[model]\nd_model = 8\n").unwrap();
        assert!(EvalSet::load(&p).unwrap_err().to_string().contains("`model`"));
        let saved = ExperimentConfig::from_toml("", "empty", &[]).unwrap();
        let other = config_for(&saved, &["data.seed=7".into(), "eval.batch_size=8".into()]).unwrap();
        assert_eq!((other.data.seed, other.eval.batch_size), (Some(7), 8));
        for (set, field) in [("model.d_model=8", "model.d_model"), ("train.lr=1", "train.lr"), ("data.image_size=128", "data.image_size")] {
            let err = config_for(&saved, &[set.into()]).unwrap_err().to_string();
            assert!(err.contains(field) && err.contains("cannot change"), "{err}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
