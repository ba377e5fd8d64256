//! `gshn bench train`: the runner's own training step timed on a device — warm-up (kernel
//! compilation and autotuning on a GPU), per-step times after it, and how many distinct batch
//! shapes the steps produced (each new shape can cost a GPU new kernels).

use std::collections::BTreeSet;
use std::time::Instant;

use burn::tensor::Device;
use gshn_snn::rng::SeedRng;

use crate::cli::experiment::ExperimentConfig;
use crate::cli::run_error::RunError;
use crate::cli::train::{batch_indices, learning_rate, load_data, optimizer, stage_of, train_step};

/// What the bench measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// The device, in words.
    pub device: String,
    /// Seconds of each step, each ended by a device sync.
    pub step_s: Vec<f64>,
    /// The first step's seconds.
    pub first_step_s: f64,
    /// Steps counted as warm-up: up to the last step that met a new batch shape, and at least
    /// the first.
    pub warmup_steps: usize,
    /// Seconds the warm-up steps took.
    pub warmup_s: f64,
    /// Distinct batch shapes over all steps ([`GshnBatch::shape_key`](crate::GshnBatch::shape_key)).
    pub distinct_shapes: usize,
    /// Median, 90th percentile and maximum of the steps after warm-up (NaN with none).
    pub p50_s: f64,
    /// 90th percentile after warm-up.
    pub p90_s: f64,
    /// Slowest step after warm-up.
    pub max_s: f64,
    /// Images per second after warm-up.
    pub images_per_s: f64,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// The most steps one bench times (each step's time is kept).
pub const MAX_STEPS: usize = 1_000_000;

/// Times `steps` training steps of `cfg` on `device` (the runner's schedule, batches and
/// losses; no validation, no checkpoints), printing a line per step through `say`.
pub fn bench_train(cfg: &ExperimentConfig, device: &Device, device_name: &str, steps: usize, say: &dyn Fn(String)) -> Result<BenchReport, RunError> {
    cfg.validate()?;
    if !(1..=MAX_STEPS).contains(&steps) {
        return Err(crate::cli::experiment::ConfigError::Invalid { field: "--steps".into(), reason: format!("{steps} must lie in 1..={MAX_STEPS}") }.into());
    }
    let t0 = Instant::now();
    let mut data = load_data(cfg)?;
    let batcher = data.batcher(cfg)?;
    say(format!("data ready in {:.1} s: {} training images", t0.elapsed().as_secs_f64(), data.train.len()));
    device.seed(cfg.seed);
    let mut model = cfg.model.clone().with_vocab_size(data.vocab.len()).with_answers(data.answers.len().max(1)).init(device)?;
    data.attach_features(&model, device, say)?;
    let batcher = batcher.with_frozen_text(&model, device);
    let tc = &cfg.train;
    let mut optim = optimizer(tc);
    let stl_weights = cfg.model.loss.stl_only();
    let mut shapes = BTreeSet::new();
    let mut last_new = 0;
    let mut step_s = Vec::with_capacity(steps);
    for step in 1..=steps {
        let start = Instant::now();
        let (stl, stage_step, stage_len) = stage_of(tc, step.min(tc.total_steps()));
        if crate::cli::train::enters_main_stage(tc, step) {
            (model, optim) = crate::cli::train::enter_main_stage(model, tc, device);
        }
        let idx = batch_indices(cfg.seed, data.train.len(), tc.batch_size, step);
        let mut pick = SeedRng::new(cfg.seed).fork("step").fork(&step.to_string());
        let batch = batcher.batch(&data.train.refs(&idx), &mut pick, device)?;
        if shapes.insert(batch.shape_key()) {
            last_new = step;
        }
        let parts;
        (model, parts) = train_step(model, &mut optim, &batch, stl.then_some(&stl_weights), learning_rate(tc, stage_step, stage_len))?;
        drop(parts);
        device.sync().map_err(|e| RunError::Device(format!("sync: {e:?}")))?;
        let s = start.elapsed().as_secs_f64();
        step_s.push(s);
        say(format!("step {step:>4}/{steps}  {s:>8.3} s  {} shapes so far", shapes.len()));
    }
    let warmup_steps = last_new.max(1).min(steps);
    let mut after: Vec<f64> = step_s[warmup_steps..].to_vec();
    after.sort_by(f64::total_cmp);
    let total_after: f64 = after.iter().sum();
    Ok(BenchReport {
        device: device_name.to_string(),
        first_step_s: step_s.first().copied().unwrap_or(f64::NAN),
        warmup_s: step_s[..warmup_steps].iter().sum(),
        warmup_steps,
        distinct_shapes: shapes.len(),
        p50_s: quantile(&after, 0.5),
        p90_s: quantile(&after, 0.9),
        max_s: after.last().copied().unwrap_or(f64::NAN),
        images_per_s: if total_after > 0.0 { (after.len() * tc.batch_size) as f64 / total_after } else { f64::NAN },
        step_s,
    })
}

impl BenchReport {
    /// The report as a short Markdown table.
    pub fn markdown(&self) -> String {
        format!(
            "| device | steps | distinct shapes | first step (s) | warm-up steps | warm-up (s) | p50 (s) | p90 (s) | max (s) | images/s |\n|---|---|---|---|---|---|---|---|---|---|\n| {} | {} | {} | {:.2} | {} | {:.1} | {:.3} | {:.3} | {:.3} | {:.0} |\n",
            self.device,
            self.step_s.len(),
            self.distinct_shapes,
            self.first_step_s,
            self.warmup_steps,
            self.warmup_s,
            self.p50_s,
            self.p90_s,
            self.max_s,
            self.images_per_s
        )
    }
}
