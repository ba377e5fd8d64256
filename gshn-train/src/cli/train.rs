//! Training a GSHN from an [`ExperimentConfig`]: an optional Spiked Text Learning stage, then
//! the main stage (CLIP's symmetric InfoNCE + the VQA cross-entropy + the optional
//! node-level InfoNCE between `E_SNN` and `F_GAT`), AdamW with a linear warm-up and a cosine
//! decay per stage, gradient-norm clipping, validation, atomic checkpoints and resume.
//!
//! Every random choice is a function of the config seed and the step number — the batch
//! order (a permutation per epoch), the caption and question picked per image, and the
//! dropout stream (the device RNG is re-seeded each step) — so a resumed run repeats an
//! uninterrupted one bit for bit on the CPU.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use gshn_snn::rng::SeedRng;
use serde::{Deserialize, Serialize};

use crate::batch::{GshnBatch, GshnBatcher};
use crate::cli::checkpoint::{self, TrainState};
use crate::cli::eval::{evaluate, EvalReport};
use crate::cli::experiment::{DataSource, ExperimentConfig, TrainConfig};
use crate::cli::run_error::{io_at, DataError, RunError};
use crate::cli::run_folder::{self, FolderState, RunLock};
use crate::cli::run_log::{append_log, hms, write_log, LogRow};
use crate::data::segments::shapeworld_dataset;
use crate::data::shapeworld::{answer_vocabulary, generate, parse_holdout, ShapeWorldConfig, Split};
use crate::dataset::Dataset;
use crate::model::config::LossConfig;
use crate::model::{Gshn, Vocab};
use crate::task::{to_vec, TASKS};

/// The learning rate at 1-based `step` of a stage of `len` steps: linear warm-up over
/// `cfg.warmup` steps, then cosine decay to 0 at the end of the stage.
pub fn learning_rate(cfg: &TrainConfig, step: usize, len: usize) -> f64 {
    let warmup = cfg.warmup.min(len / 2);
    if step <= warmup {
        cfg.lr * step as f64 / warmup.max(1) as f64
    } else {
        let p = (step - warmup) as f64 / (len - warmup).max(1) as f64;
        cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * p.min(1.0)).cos())
    }
}

/// The three splits, the vocabulary and the VQA answers.
pub struct Data {
    /// Training split.
    pub train: Dataset,
    /// Validation split.
    pub val: Dataset,
    /// Test split.
    pub test: Dataset,
    /// Word vocabulary (built from the training texts).
    pub vocab: Vocab,
    /// VQA answers.
    pub answers: Vec<String>,
}

impl Data {
    /// The batcher for these data and a model config (with MiniLM's WordPiece tokenizer when
    /// the text encoder is MiniLM).
    pub fn batcher(&self, cfg: &ExperimentConfig) -> Result<GshnBatcher, RunError> {
        Ok(GshnBatcher::for_model(&cfg.model, self.vocab.clone())?)
    }

    /// With a frozen pretrained backbone, gives every image of the three splits its feature
    /// map (from the on-disk cache, or computed and cached) — see [`Gshn::attach_features`] —
    /// and says what it did.
    pub fn attach_features(&mut self, model: &Gshn, device: &Device, say: &dyn Fn(String)) -> Result<(), RunError> {
        let mut total = crate::model::feature_cache::CacheStats::default();
        for (name, split) in [("train", &mut self.train), ("val", &mut self.val), ("test", &mut self.test)] {
            // A line about every 30 s while the backbone runs (about 80 ms per image on 2 cores).
            let last = std::cell::Cell::new(Instant::now());
            let progress = |done: usize, todo: usize| {
                if last.get().elapsed().as_secs() >= 30 || done == todo {
                    say(format!("  backbone features, {name} split: {done}/{todo} computed"));
                    last.set(Instant::now());
                }
            };
            match model.attach_features_with_progress(split, FEATURE_BATCH, device, &progress)? {
                Some(s) => total.merge(s),
                None => return Ok(()),
            }
        }
        say(format!("  frozen backbone features: {} from the cache, {} computed ({:.1} s)", total.hits, total.computed, total.seconds));
        if let Some(why) = &total.first_rejection {
            say(format!("  refused {} damaged or stale cache entries and computed them again (first: {why})", total.rejected));
        }
        Ok(())
    }
}

/// Images per batch when a frozen backbone's feature maps are computed.
pub const FEATURE_BATCH: usize = 32;

/// Generates or loads the data of `cfg` and cuts it into tokens: the three splits, the VQA
/// answers and the vocabulary of the training texts. No check that the data can train `cfg`
/// ([`load_data`] adds them): evaluation reads data this way.
pub fn read_data(cfg: &ExperimentConfig) -> Result<Data, RunError> {
    let d = &cfg.data;
    let (train, val, test, answers) = match d.source {
        DataSource::Shapeworld => {
            let holdout = d
                .holdout
                .iter()
                .map(|h| parse_holdout(h))
                .collect::<Result<_, _>>()
                .map_err(|e| crate::cli::experiment::ConfigError::Invalid { field: "data.holdout".into(), reason: e })?;
            let sw = ShapeWorldConfig {
                image_size: d.image_size,
                min_objects: d.min_objects,
                max_objects: d.max_objects,
                holdout,
                occluders: d.occluders,
                hypotheses: d.hypotheses,
                statements: d.statements,
            };
            let split = |s, n| shapeworld_dataset(&generate(&sw, cfg.data_seed(), s, n), &d.segments, &cfg.model.tokens);
            (split(Split::Train, d.train_images)?, split(Split::Val, d.val_images)?, split(Split::Test, d.test_images)?, answer_vocabulary())
        }
        DataSource::Coco => crate::data::coco::load_splits(&cfg.load_config())?,
        DataSource::EasyVqa => crate::data::easy_vqa::load_splits(&cfg.load_config())?,
        DataSource::SnliVe => crate::data::albef::load_ve_splits(&cfg.load_config())?,
        DataSource::Nlvr2 => crate::data::albef::load_nlvr_splits(&cfg.load_config())?,
    };
    if test.len() < 2 {
        return Err(DataError::Unfit(format!("the test split has {} images; at least 2 are needed (data.test_images)", test.len())).into());
    }
    let vocab = Vocab::build(train.texts());
    Ok(Data { train, val, test, vocab, answers })
}

/// [`read_data`], then the checks that the data can train `cfg` (a full batch, captions for
/// STL, something to learn for each loss term, a vocabulary the scratch text encoder can hold).
pub fn load_data(cfg: &ExperimentConfig) -> Result<Data, RunError> {
    let data = read_data(cfg)?;
    check_trainable(cfg, &data)?;
    Ok(data)
}

fn check_trainable(cfg: &ExperimentConfig, data: &Data) -> Result<(), RunError> {
    let (train, vocab) = (&data.train, &data.vocab);
    let unfit = |m: String| -> Result<(), RunError> { Err(DataError::Unfit(m).into()) };
    if train.len() < cfg.train.batch_size {
        return unfit(format!("{} training images cannot fill a batch of {} (lower train.batch_size)", train.len(), cfg.train.batch_size));
    }
    if !train.has_captions() && cfg.train.stl_steps > 0 {
        return unfit("Spiked Text Learning contrasts caption words with segments, and this data has no captions: set train.stl_steps = 0".into());
    }
    let w = &cfg.model.loss;
    if !TASKS.iter().any(|t| t.learns(train, w)) {
        let examples: Vec<&str> = TASKS.iter().map(|t| t.examples()).collect();
        return unfit(format!("this data has none of: {}; nothing to learn", examples.join(", ")));
    }
    if let Some(hint) = TASKS.iter().filter(|t| !t.carried_by(train)).find_map(|t| t.missing(w)) {
        return unfit(hint.into());
    }
    if matches!(cfg.model.text.encoder, crate::model::config::TextEncoderChoice::Scratch) {
        let (words, width) = (vocab.len(), cfg.model.text.width);
        let bytes = words as u128 * width as u128 * 4;
        if words > MAX_VOCAB || bytes > MAX_EMBEDDING_BYTES {
            return unfit(format!(
                "the training texts of {} hold {words} distinct words; the scratch text encoder learns one embedding row per word ({words} × model.text.width {width} × 4 bytes = {:.1} GiB), over the limits of {MAX_VOCAB} words and {} GiB. Use fewer training images (data.train_images), a smaller model.text.width, or model.text.encoder = \"minilm-l6\" (a fixed word-piece vocabulary)",
                data_description(cfg),
                bytes as f64 / (1u64 << 30) as f64,
                MAX_EMBEDDING_BYTES >> 30
            ));
        }
    }
    Ok(())
}

/// The most distinct words the scratch text encoder embeds.
pub const MAX_VOCAB: usize = 1_000_000;
/// The largest scratch word-embedding table, in bytes.
pub const MAX_EMBEDDING_BYTES: u128 = 4 << 30;

/// The data of `cfg` in its own terms: the folder read, or the ShapeWorld draw.
pub fn data_description(cfg: &ExperimentConfig) -> String {
    match (&cfg.data.source, &cfg.data.dir) {
        (DataSource::Shapeworld, _) => {
            format!("ShapeWorld (data seed {}, {} training images of {} px)", cfg.data_seed(), cfg.data.train_images, cfg.data.image_size)
        }
        (source, Some(dir)) => format!("{} ({:?} data, data.dir)", dir.display(), source),
        (source, None) => format!("{source:?} data"),
    }
}

/// Why a checkpoint's vocabulary `saved` does not fit the data's `now` (`None`: it does),
/// in the data's terms: how many words each has, which are new and which are gone.
pub fn vocab_mismatch(saved: &Vocab, now: &Vocab, cfg: &ExperimentConfig) -> Option<String> {
    if saved == now {
        return None;
    }
    let a: std::collections::BTreeSet<&String> = saved.words.iter().collect();
    let b: std::collections::BTreeSet<&String> = now.words.iter().collect();
    let sample = |v: Vec<&&String>| v.iter().take(5).map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ");
    let new: Vec<&&String> = b.difference(&a).collect();
    let gone: Vec<&&String> = a.difference(&b).collect();
    let what = if new.is_empty() && gone.is_empty() {
        "the same words in another order".to_string()
    } else {
        format!("{} words new ({}), {} gone ({})", new.len(), sample(new.clone()), gone.len(), sample(gone.clone()))
    };
    Some(format!(
        "the checkpoint's vocabulary has {} words, built from the training texts it was trained on; the training texts of {} give {}: {what}. The vocabulary is the data's, so the data changed since the checkpoint was trained — point the config at the data it was trained on",
        saved.len(),
        data_description(cfg),
        now.len()
    ))
}

/// The images of training step `step` (1-based): epoch `e` visits a permutation of the
/// training set drawn from `(seed, e)`, in consecutive batches (the remainder is dropped).
pub fn batch_indices(seed: u64, n: usize, batch: usize, step: usize) -> Vec<usize> {
    let per_epoch = (n / batch).max(1);
    let (epoch, k) = ((step - 1) / per_epoch, (step - 1) % per_epoch);
    let mut order: Vec<usize> = (0..n).collect();
    SeedRng::new(seed).fork("batches").fork(&format!("epoch-{epoch}")).shuffle(&mut order);
    order[k * batch..(k + 1) * batch].to_vec()
}

/// Whether every float parameter of `model` is finite.
pub fn all_finite(model: &Gshn) -> bool {
    struct Check(bool);
    impl ModuleVisitor for Check {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.0 {
                let s: f32 = param.val().abs().sum().into_scalar();
                self.0 = s.is_finite();
            }
        }
    }
    let mut c = Check(true);
    model.visit(&mut c);
    c.0
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run folder (checkpoints, logs, report).
    pub out: PathBuf,
    /// Continue the run in `out` from its last checkpoint.
    pub resume: bool,
    /// Stop after this many steps in this session (tests use it to simulate a kill).
    pub stop_after: Option<usize>,
    /// Print progress to stderr.
    pub progress: bool,
}

/// What a finished (or stopped) run left.
pub struct RunResult {
    /// The model after the last step.
    pub model: Gshn,
    /// Steps completed.
    pub step: usize,
    /// The test evaluation (`None` if the session stopped early via `stop_after`).
    pub test: Option<EvalReport>,
    /// The metrics log.
    pub log: Vec<LogRow>,
    /// The data (for the report).
    pub data: Data,
    /// The batcher the run used.
    pub batcher: GshnBatcher,
}

/// The stage of 1-based `step`: `(is the STL stage, step within the stage, stage length)`.
pub fn stage_of(cfg: &TrainConfig, step: usize) -> (bool, usize, usize) {
    if step <= cfg.stl_steps {
        (true, step, cfg.stl_steps)
    } else {
        (false, step - cfg.stl_steps, cfg.steps)
    }
}

/// Whether 1-based `step` is the first step of the main stage after an STL stage, where
/// [`enter_main_stage`] resets the shared state.
pub fn enters_main_stage(cfg: &TrainConfig, step: usize) -> bool {
    cfg.stl_steps > 0 && step == cfg.stl_steps + 1
}

/// Trains per `cfg` into `opts.out`, then evaluates on the test split and writes
/// `eval.json`. Resumes from the folder's last checkpoint with `opts.resume`.
///
/// Each step is the library's three calls: [`GshnBatcher::batch`], [`Gshn::losses`] (or
/// [`Gshn::losses_with`] STL alone in the pre-training stage), and the optimiser step. The loss
/// terms stay on the device and are read back only when a progress row is logged, so a step
/// does not wait for the device; a non-finite loss stops the run at that read.
pub fn run(cfg: &ExperimentConfig, device: &Device, opts: &RunOptions) -> Result<RunResult, RunError> {
    cfg.validate()?;
    let say = |s: String| {
        if opts.progress {
            eprintln!("{s}");
        }
    };
    let out = &opts.out;
    // Everything about the folder is checked before anything is written into it.
    let existing = match run_folder::inspect(out)? {
        FolderState::Fresh => None,
        FolderState::Run { config, checkpoint, note } => {
            let same = run_folder::continues(&config, cfg);
            if !opts.resume || !same {
                let changed = if same { vec![] } else { run_folder::changed_fields(&config, cfg) };
                return Err(RunError::Occupied { dir: out.clone(), different: !same, changed });
            }
            if let Some(n) = note {
                say(n);
            }
            if config.train != cfg.train {
                say(format!("resuming with changed {} (allowed on --resume: {})", "train settings", crate::cli::experiment::RESUMABLE_FIELDS.join(", ")));
            }
            Some(checkpoint)
        }
    };
    // The data is read before the folder is made: a data error leaves nothing behind.
    let t0 = Instant::now();
    say(format!("preparing data: {:?}, segments {:?}, graph {:?}", cfg.data.source, cfg.data.segments.source, cfg.model.tokens.graph));
    let mut data = load_data(cfg)?;
    say(format!(
        "  {} train / {} val / {} test images, {} words, {} answers, {:.1} nodes per image ({:.1} s)",
        data.train.len(),
        data.val.len(),
        data.test.len(),
        data.vocab.len(),
        data.answers.len(),
        data.train.items.iter().map(|p| p.tokens.n).sum::<usize>() as f64 / data.train.len() as f64,
        t0.elapsed().as_secs_f64()
    ));
    let batcher = data.batcher(cfg)?;
    fs::create_dir_all(out).map_err(io_at(out))?;
    let _lock = RunLock::acquire(out, &say)?;
    let p = out.join("config.toml");
    checkpoint::write_checked(&p, cfg.to_toml().as_bytes()).map_err(io_at(&p))?;
    record_provenance(out, cfg)?;

    device.seed(cfg.seed);
    let model_cfg = cfg.model.clone().with_vocab_size(data.vocab.len()).with_answers(data.answers.len().max(1));
    let mut model = model_cfg.init(device)?;
    let tc = &cfg.train;
    let mut optim: ModuleOptimizer = optimizer(tc);
    let mut step = 0;
    let mut elapsed_before = 0.0;
    let mut log = Vec::new();
    let mut last_good: Option<PathBuf> = None;
    if let Some(Some(dir)) = existing {
        let loaded = checkpoint::load(&dir, device)?;
        if let Some(why) = vocab_mismatch(&loaded.vocab, &data.vocab, cfg) {
            return Err(DataError::Unfit(format!("{}: {why}", loaded.dir.join("vocab.json").display())).into());
        }
        model = loaded.model;
        optim = checkpoint::load_optimizer(&loaded.dir, optim)?;
        step = loaded.state.step;
        elapsed_before = loaded.state.elapsed_s;
        let (rows, torn) = crate::cli::run_log::read_log_noting(out)?;
        if let Some(n) = torn {
            say(n);
        }
        log = rows.into_iter().filter(|r| r.step <= step).collect();
        write_log(out, &log)?;
        say(format!("resuming from {} (step {step})", loaded.dir.display()));
        last_good = Some(loaded.dir);
    } else {
        // A new run, or one stopped before its first checkpoint (same config): from step 0.
        write_log(out, &[])?;
    }

    data.attach_features(&model, device, &say)?;
    let batcher = batcher.with_frozen_text(&model, device);

    let total = tc.total_steps();
    let session_start = Instant::now();
    let elapsed = |t: &Instant| elapsed_before + t.elapsed().as_secs_f64();
    let stl_weights = cfg.model.loss.stl_only();
    // [total, the loss columns…] summed on the device since the last read.
    let columns = crate::task::loss_columns();
    let mut acc: Option<Tensor<1>> = None;
    let mut acc_n = 0usize;
    let mut window = Instant::now();
    let mut window_images = 0usize;
    let mut session_steps = 0usize;
    let non_finite = |step: usize, value: f32, checkpoint: Option<PathBuf>| {
        let advice = match &checkpoint {
            Some(c) => format!(
                "The last good checkpoint is {}. Continue from it with a lower learning rate: gshn train --config {} --out {} --resume --set train.lr={:e}",
                c.display(),
                out.join("config.toml").display(),
                out.display(),
                tc.lr / 10.0
            ),
            None => format!("No checkpoint had been written yet; start again with a lower learning rate (--set train.lr={:e}).", tc.lr / 10.0),
        };
        RunError::NonFinite { step, value, checkpoint, advice }
    };
    while step < total {
        if opts.stop_after.is_some_and(|s| session_steps >= s) {
            return Ok(RunResult { model, step, test: None, log, data, batcher });
        }
        step += 1;
        session_steps += 1;
        let (stl, stage_step, stage_len) = stage_of(tc, step);
        if enters_main_stage(tc, step) {
            (model, optim) = enter_main_stage(model, tc, device);
        }
        let lr = learning_rate(tc, stage_step, stage_len);
        let idx = batch_indices(cfg.seed, data.train.len(), tc.batch_size, step);
        let mut pick = SeedRng::new(cfg.seed).fork("step").fork(&step.to_string());
        device.seed(SeedRng::new(cfg.seed).fork("dropout").fork(&step.to_string()).next_u64());
        let batch = batcher.batch(&data.train.refs(&idx), &mut pick, device)?;
        let parts;
        (model, parts) = train_step(model, &mut optim, &batch, stl.then_some(&stl_weights), lr).map_err(|e| match e {
            RunError::Data(DataError::Unfit(m)) => DataError::Unfit(format!("step {step}: {m}")).into(),
            other => other,
        })?;
        acc = Some(match acc {
            Some(a) => a.add(parts),
            None => parts,
        });
        acc_n += 1;
        window_images += idx.len();

        let log_now = step % tc.log_every == 0 || step == total || step == tc.stl_steps;
        let eval_now = step % tc.eval_every == 0 || step == total;
        let save_now = step % tc.checkpoint_every == 0 || step == total;
        if log_now || eval_now {
            // The one read of the loss terms since the last row.
            let sums = to_vec(acc.take().expect("at least one step accumulated"))?;
            if let Some(bad) = sums.iter().find(|v| !v.is_finite()) {
                return Err(non_finite(step, *bad, last_good));
            }
            let mean = |k: usize| sums[k] as f64 / acc_n.max(1) as f64;
            let ips = window_images as f64 / window.elapsed().as_secs_f64().max(1e-9);
            let mut row = LogRow::new(step, if stl { "stl" } else { "main" }, mean(0), lr, ips, elapsed(&session_start));
            for (k, c) in columns.iter().enumerate() {
                row.set_term(c.key, mean(k + 1));
            }
            if eval_now && data.val.len() >= 2 {
                let v = evaluate(&model, &data.val, &batcher, &cfg.eval.energy, cfg.eval.batch_size, device, None)?;
                for (key, value) in v.validation() {
                    row.set_val(key, Some(value));
                }
            }
            {
                let last_val = if row.validated() { Some(row.clone()) } else { log.iter().rev().find(|r| r.validated()).cloned() };
                let val_text = last_val.map_or(String::from("val –"), |r| {
                    let shown: Vec<String> =
                        crate::task::val_columns().iter().filter(|c| c.brief).filter_map(|c| r.val(c.key).map(|v| format!("{} {v:.3}", c.label))).collect();
                    format!("val {}", shown.join(" "))
                });
                let done = session_steps as f64 / session_start.elapsed().as_secs_f64().max(1e-9);
                let eta = (total - step) as f64 / done.max(1e-9);
                say(format!("[{:>4}] step {step:>5}/{total}  loss {:.4}  lr {lr:.2e}  {ips:>5.0} img/s  {val_text}  ETA {}", row.stage, row.loss, hms(eta)));
                append_log(out, &row)?;
                log.push(row);
                window = Instant::now();
                window_images = 0;
            }
            acc_n = 0;
        }
        if save_now {
            // A checkpoint is written only of a model whose weights are finite and whose losses
            // since the last row were finite, so that the advice of a later divergence points
            // at a checkpoint from before it.
            if let Some(a) = &acc {
                if let Some(bad) = to_vec(a.clone())?.into_iter().find(|v| !v.is_finite()) {
                    return Err(non_finite(step, bad, last_good));
                }
            }
            if !all_finite(&model) {
                return Err(non_finite(step, f32::NAN, last_good));
            }
            let state = TrainState { step, elapsed_s: elapsed(&session_start), answers: data.answers.clone() };
            last_good = Some(checkpoint::save(out, &model, &optim, cfg, &data.vocab, &state, 2)?);
        }
    }
    say(format!("evaluating on {} test images", data.test.len()));
    let test = evaluate(&model, &data.test, &batcher, &cfg.eval.energy, cfg.eval.batch_size, device, Some(&data.train))?;
    let p = out.join("eval.json");
    checkpoint::write_checked(&p, serde_json::to_string_pretty(&test).expect("a report serialises").as_bytes()).map_err(io_at(&p))?;
    Ok(RunResult { model, step, test: Some(test), log, data, batcher })
}

/// One optimiser step on `batch`: the losses (with `weights`, or the model's own), backward,
/// AdamW at `lr`. Returns the updated model and the total with the log's loss columns
/// ([`crate::loss::Losses::stacked`] over [`crate::task::loss_columns`])
/// (detached, still on the device: reading them is the caller's choice).
pub fn train_step(model: Gshn, optim: &mut ModuleOptimizer, batch: &GshnBatch, weights: Option<&LossConfig>, lr: f64) -> Result<(Gshn, Tensor<1>), RunError> {
    let losses = match weights {
        Some(w) => model.losses_with(batch, w)?,
        None => model.losses(batch)?,
    };
    if losses.is_empty() {
        return Err(
            DataError::Unfit("the batch gives no loss term (no captions, questions, hypotheses or statements with their weights above 0)".into()).into()
        );
    }
    let keys: Vec<&str> = crate::task::loss_columns().iter().map(|c| c.key).collect();
    let parts = losses.stacked(&keys);
    let grads = GradientsParams::from_grads(losses.total.backward(), &model);
    Ok((optim.step(lr, model, grads), parts))
}

/// The git commit this build of gshn was made from (`unknown` outside a git checkout).
pub const COMMIT: &str = env!("GSHN_COMMIT");

/// The file in a run folder that says which code ran it: `provenance.json`, with the commit of
/// every session (a resumed run has several) and the optimiser's full settings.
pub const PROVENANCE: &str = "provenance.json";

/// What made a run: the commit of each session, in order, and the optimiser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The commit of each session that trained the run.
    pub commits: Vec<String>,
    /// The optimiser with every setting (AdamW's defaults included).
    pub optimizer: String,
}

impl Provenance {
    /// The commits that are not this build's, if any.
    pub fn other_commits(&self) -> Vec<&str> {
        self.commits.iter().map(String::as_str).filter(|c| *c != COMMIT).collect()
    }
}

/// The optimiser of `tc`, every setting written out (Burn's `AdamWConfig` as JSON, defaults
/// included), with the learning-rate schedule.
pub fn optimizer_description(tc: &TrainConfig) -> String {
    let adamw = AdamWConfig::new().with_weight_decay(tc.weight_decay).with_grad_clipping(Some(GradientClippingConfig::Norm(tc.grad_clip)));
    format!(
        "AdamW {}; lr {} with {} warm-up steps, then cosine decay to 0 within each stage",
        serde_json::to_string(&adamw).unwrap_or_default(),
        tc.lr,
        tc.warmup
    )
}

/// The provenance of the run in `dir` (`None` for runs made before it was recorded).
pub fn read_provenance(dir: &Path) -> Option<Provenance> {
    serde_json::from_str(&fs::read_to_string(dir.join(PROVENANCE)).ok()?).ok()
}

/// Adds this session's commit to the run folder's provenance.
fn record_provenance(out: &Path, cfg: &ExperimentConfig) -> Result<(), RunError> {
    let mut p = read_provenance(out).unwrap_or(Provenance { commits: vec![], optimizer: String::new() });
    p.commits.push(COMMIT.to_string());
    p.optimizer = optimizer_description(&cfg.train);
    let path = out.join(PROVENANCE);
    // Two strings and a list: serialising cannot fail.
    let text = serde_json::to_string_pretty(&p).unwrap_or_default();
    checkpoint::write_atomic(&path, text.as_bytes()).map_err(io_at(&path))
}

/// The state the main stage starts from after the STL stage: the state a run without STL
/// starts its main stage from — the CLIP logit scale at its initial value (STL trains that
/// shared scale) and fresh AdamW moments (STL's would otherwise carry over) — with every
/// weight STL trained kept.
pub fn enter_main_stage(mut model: Gshn, tc: &TrainConfig, device: &Device) -> (Gshn, ModuleOptimizer) {
    model.logit_scale = crate::loss::LogitScale::new(crate::loss::LOGIT_SCALE_INIT, device);
    (model, optimizer(tc))
}

/// The AdamW optimiser of `tc` (weight decay, gradient-norm clipping).
pub fn optimizer(tc: &TrainConfig) -> ModuleOptimizer {
    AdamWConfig::new().with_weight_decay(tc.weight_decay).with_grad_clipping(Some(GradientClippingConfig::Norm(tc.grad_clip))).init()
}
