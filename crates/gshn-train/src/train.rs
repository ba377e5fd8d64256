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
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use gshn_snn::rng::SeedRng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, TrainState};
use crate::config::{DataSource, DeviceChoice, ExperimentConfig, TrainConfig};
use crate::data::shapeworld::{answer_vocabulary, generate, parse_holdout, ShapeWorldConfig, Split};
use crate::data::Dataset;
use crate::eval::{ask, evaluate, image_batch, EvalReport, MAX_TEXT};
use gshn_graph::edges::index_tensor;
use crate::loss::{clip_loss, cross_entropy, symmetric_infonce};
use crate::model::{Gshn, Vocab};

/// A run that had to stop.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The loss became NaN or infinite.
    #[error("the loss became {value} at step {step}; stopped. {}", match .checkpoint { Some(c) => format!("The last good checkpoint is {} (resume from it with --resume, perhaps with a lower train.lr).", c.display()), None => "No checkpoint had been written yet.".to_string() })]
    NonFinite {
        /// The step.
        step: usize,
        /// The value.
        value: f32,
        /// The last good checkpoint.
        checkpoint: Option<PathBuf>,
    },
    /// The run folder holds another run.
    #[error("{dir} already holds a run{}; pass --resume to continue it, or choose another --out", if *.different { " of a different config" } else { "" })]
    Occupied {
        /// The folder.
        dir: PathBuf,
        /// Whether its config differs from this one.
        different: bool,
    },
}

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

/// The training device for `choice`, as an autodiff device, with its name. `auto` takes a
/// discrete or integrated GPU through WGPU when one answers, else flex (a CPU adapter such as
/// Mesa's lavapipe is slower than flex, so `auto` does not pick it).
pub fn pick_device(choice: DeviceChoice) -> anyhow::Result<(Device, String)> {
    use burn::tensor::DeviceKind;
    // A missing adapter panics inside the WGPU runtime; the probe turns that into a reason.
    let probe = |kind: DeviceKind| -> Result<(), String> {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r = std::panic::catch_unwind(|| {
            let d = Device::wgpu(kind);
            Tensor::<1>::from_floats([1.0, 2.0], &d).sum().into_scalar::<f32>() == 3.0
        });
        std::panic::set_hook(hook);
        match r {
            Ok(true) => Ok(()),
            Ok(false) => Err("the adapter computed a wrong sum".into()),
            Err(p) => Err(p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_else(|| "no adapter".into())),
        }
    };
    Ok(match choice {
        DeviceChoice::Flex => (Device::flex().autodiff(), "flex (CPU)".into()),
        DeviceChoice::Wgpu => {
            if let Err(why) = probe(DeviceKind::DefaultDevice) {
                anyhow::bail!("--device wgpu: no WGPU adapter answers ({why}). Install a Vulkan driver and loader (e.g. mesa-vulkan-drivers libvulkan1; NVIDIA's ICD also needs libglvnd/libegl1), or use --device flex");
            }
            (Device::wgpu(DeviceKind::DefaultDevice).autodiff(), "wgpu (default adapter)".into())
        }
        DeviceChoice::Auto => {
            let mut reasons = Vec::new();
            let mut found = None;
            for (k, name) in [(DeviceKind::DiscreteGpu(0), "wgpu (discrete GPU)"), (DeviceKind::IntegratedGpu(0), "wgpu (integrated GPU)")] {
                match probe(k.clone()) {
                    Ok(()) => {
                        found = Some((k, name));
                        break;
                    }
                    Err(why) => reasons.push(why),
                }
            }
            match found {
                Some((k, name)) => (Device::wgpu(k).autodiff(), name.into()),
                None => (Device::flex().autodiff(), format!("flex (CPU; no GPU adapter: {})", reasons.first().map_or("none", |s| s.as_str()))),
            }
        }
    })
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

/// Generates or loads the data of `cfg` and cuts it into tokens.
pub fn load_data(cfg: &ExperimentConfig) -> anyhow::Result<Data> {
    let d = &cfg.data;
    let (train, val, test, answers) = match d.source {
        DataSource::Shapeworld => {
            let sw = ShapeWorldConfig {
                image_size: d.image_size,
                min_objects: d.min_objects,
                max_objects: d.max_objects,
                holdout: d.holdout.iter().map(|h| parse_holdout(h)).collect::<Result<_, _>>().map_err(|e| anyhow::anyhow!("data.holdout: {e}"))?,
            };
            let split = |s, n| Dataset::from_shapeworld(&generate(&sw, cfg.seed, s, n), &cfg.tokens);
            (split(Split::Train, d.train_images)?, split(Split::Val, d.val_images)?, split(Split::Test, d.test_images)?, answer_vocabulary())
        }
        DataSource::Coco => crate::data::coco::load_splits(cfg)?,
        DataSource::EasyVqa => crate::data::easy_vqa::load_splits(cfg)?,
    };
    anyhow::ensure!(train.len() >= cfg.train.batch_size, "{} training images cannot fill a batch of {}", train.len(), cfg.train.batch_size);
    anyhow::ensure!(test.len() >= 2, "the test split has {} images; at least 2 are needed", test.len());
    anyhow::ensure!(train.has_captions() || cfg.train.stl_steps == 0, "Spiked Text Learning contrasts caption words with segments, and this data has no captions: set train.stl_steps = 0");
    anyhow::ensure!(train.has_captions() || (cfg.train.vqa_weight > 0.0 && train.has_questions()), "this data has neither captions nor (with train.vqa_weight > 0) questions: nothing to learn");
    let vocab = Vocab::build(
        train
            .captions
            .iter()
            .chain(&train.negatives)
            .flatten()
            .map(String::as_str)
            .chain(train.questions.iter().flatten().map(|q| q.text.as_str())),
    );
    Ok(Data { train, val, test, vocab, answers })
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
}

const CSV_HEADER: &str = "step,stage,loss,clip,vqa,node,stl,lr,images_per_s,val_i2t_r1,val_t2i_r1,val_t2i_r5,val_t2i_r10,val_vqa,elapsed_s";

impl LogRow {
    fn csv(&self) -> String {
        let o = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
        format!(
            "{},{},{:.5},{:.5},{:.5},{:.5},{:.5},{:.3e},{:.1},{},{},{},{},{},{:.1}",
            self.step, self.stage, self.loss, self.clip, self.vqa, self.node, self.stl, self.lr, self.images_per_s,
            o(self.val_i2t_r1), o(self.val_t2i_r1), o(self.val_t2i_r5), o(self.val_t2i_r10), o(self.val_vqa), self.elapsed_s
        )
    }
}

/// Reads a run's metrics log.
pub fn read_log(run_dir: &Path) -> anyhow::Result<Vec<LogRow>> {
    let p = run_dir.join("metrics.jsonl");
    if !p.exists() {
        return Ok(vec![]);
    }
    fs::read_to_string(&p)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| anyhow::anyhow!("{}: {e}", p.display())))
        .collect()
}

fn write_log(run_dir: &Path, rows: &[LogRow]) -> anyhow::Result<()> {
    let jsonl: String = rows.iter().map(|r| serde_json::to_string(r).map(|s| s + "\n")).collect::<Result<_, _>>()?;
    checkpoint::write_atomic(&run_dir.join("metrics.jsonl"), jsonl.as_bytes())?;
    let csv: String = std::iter::once(CSV_HEADER.to_string()).chain(rows.iter().map(LogRow::csv)).map(|l| l + "\n").collect();
    checkpoint::write_atomic(&run_dir.join("metrics.csv"), csv.as_bytes())?;
    Ok(())
}

fn append_log(run_dir: &Path, row: &LogRow) -> anyhow::Result<()> {
    let open = |name| fs::OpenOptions::new().create(true).append(true).open(run_dir.join(name));
    writeln!(open("metrics.jsonl")?, "{}", serde_json::to_string(row)?)?;
    let csv = run_dir.join("metrics.csv");
    let fresh = !csv.exists();
    let mut f = open("metrics.csv")?;
    if fresh {
        writeln!(f, "{CSV_HEADER}")?;
    }
    writeln!(f, "{}", row.csv())?;
    Ok(())
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
}

fn stage_of(cfg: &TrainConfig, step: usize) -> (bool, usize, usize) {
    if step <= cfg.stl_steps {
        (true, step, cfg.stl_steps)
    } else {
        (false, step - cfg.stl_steps, cfg.steps)
    }
}

/// Trains per `cfg` into `opts.out`, then evaluates on the test split and writes
/// `eval.json`. Resumes from the folder's last checkpoint with `opts.resume`.
pub fn run(cfg: &ExperimentConfig, device: &Device, opts: &RunOptions) -> anyhow::Result<RunResult> {
    cfg.validate()?;
    let say = |s: String| {
        if opts.progress {
            eprintln!("{s}");
        }
    };
    let out = &opts.out;
    let existing = checkpoint::resolve(out).ok();
    if let Some(dir) = &existing {
        let saved = fs::read_to_string(dir.join("config.toml")).ok().and_then(|t| ExperimentConfig::from_toml(&t, "saved", &[]).ok());
        let same = saved.as_ref().is_some_and(|s| ExperimentConfig { device: cfg.device, ..s.clone() } == *cfg);
        if !opts.resume || !same {
            return Err(TrainError::Occupied { dir: out.clone(), different: !same }.into());
        }
    }
    fs::create_dir_all(out)?;
    fs::write(out.join("config.toml"), cfg.to_toml())?;

    let t0 = Instant::now();
    say(format!("preparing data: {:?}, tokens {:?}, graph {:?}", cfg.data.source, cfg.tokens.source, cfg.tokens.graph));
    let data = load_data(cfg)?;
    say(format!(
        "  {} train / {} val / {} test images, {} words, {} answers, {:.1} nodes per image ({:.1} s)",
        data.train.len(),
        data.val.len(),
        data.test.len(),
        data.vocab.len(),
        data.answers.len(),
        data.train.tokens.iter().map(|t| t.n).sum::<usize>() as f64 / data.train.len() as f64,
        t0.elapsed().as_secs_f64()
    ));

    device.seed(cfg.seed);
    let mut model = cfg.model.gshn(data.vocab.len(), data.answers.len()).init(device)?;
    let tc = &cfg.train;
    let mut optim: ModuleOptimizer = AdamWConfig::new().with_weight_decay(tc.weight_decay).with_grad_clipping(Some(GradientClippingConfig::Norm(tc.grad_clip))).init();
    let mut step = 0;
    let mut elapsed_before = 0.0;
    let mut log = Vec::new();
    let mut last_good: Option<PathBuf> = None;
    if let Some(dir) = existing {
        let loaded = checkpoint::load(&dir, device)?;
        anyhow::ensure!(loaded.vocab == data.vocab, "the checkpoint's vocabulary differs from the data's; the data changed since the run began");
        model = loaded.model;
        optim = checkpoint::load_optimizer(&loaded.dir, optim)?;
        step = loaded.state.step;
        elapsed_before = loaded.state.elapsed_s;
        log = read_log(out)?.into_iter().filter(|r| r.step <= step).collect();
        write_log(out, &log)?;
        say(format!("resuming from {} (step {step})", loaded.dir.display()));
        last_good = Some(loaded.dir);
    } else {
        write_log(out, &[])?;
    }

    let total = tc.total_steps();
    let session_start = Instant::now();
    let elapsed = |t: &Instant| elapsed_before + t.elapsed().as_secs_f64();
    let use_vqa = tc.vqa_weight > 0.0 && data.train.has_questions();
    let use_node = tc.node_loss_weight > 0.0;
    let use_clip = data.train.has_captions();
    let mut acc = [0.0f64; 5]; // total, clip, vqa, node, stl
    let mut acc_n = 0usize;
    let mut window = Instant::now();
    let mut window_images = 0usize;
    let mut session_steps = 0usize;
    while step < total {
        if opts.stop_after.is_some_and(|s| session_steps >= s) {
            return Ok(RunResult { model, step, test: None, log, data });
        }
        step += 1;
        session_steps += 1;
        let (stl, stage_step, stage_len) = stage_of(tc, step);
        let lr = learning_rate(tc, stage_step, stage_len);
        let idx = batch_indices(cfg.seed, data.train.len(), tc.batch_size, step);
        let mut pick = SeedRng::new(cfg.seed).fork("step").fork(&step.to_string());
        device.seed(SeedRng::new(cfg.seed).fork("dropout").fork(&step.to_string()).next_u64());
        let batch = image_batch(&model, &data.train, &idx, device)?;
        let texts: Vec<&str> = idx.iter().filter(|_| use_clip).map(|&i| data.train.captions[i][pick.below(data.train.captions[i].len() as u64) as usize].as_str()).collect();
        let (ids, pad) = data.vocab.batch(&texts, MAX_TEXT, device);
        let out_img = model.encode_images(&batch)?;
        let mut parts = [0.0f64; 5];
        let loss = if stl {
            let (words, _) = model.text.forward(ids, pad.clone());
            let l = symmetric_infonce(model.stl_logits(&batch, &out_img, words, pad));
            parts[4] = scalar(&l);
            l
        } else {
            let mut l = Tensor::<1>::zeros([1], device);
            if use_clip {
                let (_, sentence) = model.text.forward(ids, pad);
                l = clip_loss(out_img.embedding.clone(), model.embed_sentence(sentence), model.logit_scale.scale());
                parts[1] = scalar(&l);
            }
            if use_vqa {
                let with_q: Vec<(usize, usize)> = idx.iter().enumerate().filter(|(_, &i)| !data.train.questions[i].is_empty()).map(|(r, &i)| (r, i)).collect();
                let qs: Vec<&crate::data::QaItem> = with_q.iter().map(|&(_, i)| &data.train.questions[i][pick.below(data.train.questions[i].len() as u64) as usize]).collect();
                let texts: Vec<&str> = qs.iter().map(|q| q.text.as_str()).collect();
                let rows: Vec<usize> = with_q.iter().map(|&(r, _)| r).collect();
                let targets: Vec<usize> = qs.iter().map(|q| q.answer).collect();
                let v = cross_entropy(ask(&model, &data.vocab, &batch, &out_img, &texts, &rows, device).logits, index_tensor(&targets, device));
                parts[2] = scalar(&v);
                l = l.add(v.mul_scalar(tc.vqa_weight));
            }
            if use_node {
                if let Some(n) = model.node_infonce(&out_img, tc.node_temperature, 512) {
                    parts[3] = scalar(&n);
                    l = l.add(n.mul_scalar(tc.node_loss_weight));
                }
            }
            l
        };
        let value: f32 = loss.clone().into_scalar();
        if !value.is_finite() {
            return Err(TrainError::NonFinite { step, value, checkpoint: last_good }.into());
        }
        parts[0] = value as f64;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
        acc.iter_mut().zip(parts).for_each(|(a, p)| *a += p);
        acc_n += 1;
        window_images += idx.len();

        let log_now = step % tc.log_every == 0 || step == total || step == tc.stl_steps;
        let eval_now = step % tc.eval_every == 0 || step == total;
        if log_now || eval_now {
            let ips = window_images as f64 / window.elapsed().as_secs_f64().max(1e-9);
            let mut row = LogRow {
                step,
                stage: if stl { "stl" } else { "main" }.into(),
                loss: acc[0] / acc_n.max(1) as f64,
                clip: acc[1] / acc_n.max(1) as f64,
                vqa: acc[2] / acc_n.max(1) as f64,
                node: acc[3] / acc_n.max(1) as f64,
                stl: acc[4] / acc_n.max(1) as f64,
                lr,
                images_per_s: ips,
                val_i2t_r1: None,
                val_t2i_r1: None,
                val_t2i_r5: None,
                val_t2i_r10: None,
                val_vqa: None,
                elapsed_s: elapsed(&session_start),
            };
            if eval_now && data.val.len() >= 2 {
                let v = evaluate(&model, &data.val, &data.vocab, &cfg.eval.energy, cfg.eval.batch_size, device)?;
                if let Some(r) = &v.retrieval {
                    row.val_i2t_r1 = Some(r.i2t_recall[0]);
                    row.val_t2i_r1 = Some(r.t2i_recall[0]);
                    row.val_t2i_r5 = Some(r.t2i_recall[1]);
                    row.val_t2i_r10 = Some(r.t2i_recall[2]);
                }
                row.val_vqa = v.vqa.as_ref().map(|q| q.accuracy);
            }
            let validated = |r: &LogRow| r.val_t2i_r1.is_some() || r.val_vqa.is_some();
            let last_val = if validated(&row) { Some(row.clone()) } else { log.iter().rev().find(|r| validated(r)).cloned() };
            let val_text = last_val.map_or(String::from("val –"), |r| {
                let rec = r.val_t2i_r1.map_or(String::new(), |t| format!("val R@1 i→t {:.3} t→i {t:.3}", r.val_i2t_r1.unwrap_or(0.0)));
                format!("{rec}{}", r.val_vqa.map_or(String::new(), |v| format!(" val VQA {v:.3}"))).trim_start().to_string()
            });
            let done = session_steps as f64 / session_start.elapsed().as_secs_f64().max(1e-9);
            let eta = (total - step) as f64 / done.max(1e-9);
            say(format!(
                "[{:>4}] step {step:>5}/{total}  loss {:.4}  lr {lr:.2e}  {ips:>5.0} img/s  {val_text}  ETA {}",
                row.stage,
                row.loss,
                hms(eta)
            ));
            append_log(out, &row)?;
            log.push(row);
            acc = [0.0; 5];
            acc_n = 0;
            window = Instant::now();
            window_images = 0;
        }
        if step % tc.checkpoint_every == 0 || step == total {
            if !all_finite(&model) {
                return Err(TrainError::NonFinite { step, value: f32::NAN, checkpoint: last_good }.into());
            }
            let state = TrainState { step, elapsed_s: elapsed(&session_start), answers: data.answers.clone() };
            last_good = Some(checkpoint::save(out, &model, &optim, cfg, &data.vocab, &state, 2)?);
        }
    }
    say(format!("evaluating on {} test images", data.test.len()));
    let test = evaluate(&model, &data.test, &data.vocab, &cfg.eval.energy, cfg.eval.batch_size, device)?;
    checkpoint::write_atomic(&out.join("eval.json"), serde_json::to_string_pretty(&test)?.as_bytes())?;
    Ok(RunResult { model, step, test: Some(test), log, data })
}

fn scalar(t: &Tensor<1>) -> f64 {
    let v: f32 = t.clone().detach().into_scalar();
    v as f64
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
