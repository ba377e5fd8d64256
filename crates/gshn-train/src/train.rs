//! Contrastive training of the GSHN on ShapeWorld and retrieval evaluation.
//!
//! This is the first cut of the training loop: AdamW with linear warm-up then cosine decay,
//! gradient-norm clipping, one random caption of five per image per step, CLIP's symmetric
//! InfoNCE. Config files, checkpoints, resume, VQA and STL come with the rest of issue 5.

use burn::module::Module;
use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use gshn_graph::GraphKind;
use gshn_snn::rng::SeedRng;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::data::shapeworld::{generate, Example, ShapeWorldConfig, Split};
use crate::loss::clip_loss;
use crate::metrics::{retrieval, RetrievalMetrics};
use crate::model::{Gshn, GshnConfig, ImageBatch, ImageTokens, Vocab};

/// Feature-map cells per side (64-px images → 16 × 16 after two 2×2 poolings).
pub const FEATURE_SIDE: usize = 16;

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// The one seed (data, initialisation, caption sampling, dropout).
    pub seed: u64,
    /// Training images.
    pub train_images: usize,
    /// Test images.
    pub test_images: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up steps.
    pub warmup: usize,
    /// AdamW weight decay.
    pub weight_decay: f32,
    /// Gradient-norm clip.
    pub grad_clip: f32,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self { seed: 0, train_images: 4000, test_images: 1000, steps: 1500, batch_size: 64, lr: 2e-3, warmup: 100, weight_decay: 1e-4, grad_clip: 1.0 }
    }
}

/// Images, tokens and captions ready for the model.
pub struct Prepared {
    /// Rendered images.
    pub images: Vec<RgbImage>,
    /// Their visual-token inputs (ground-truth panoptic segments, region adjacency).
    pub tokens: Vec<ImageTokens>,
    /// Five captions each.
    pub captions: Vec<Vec<String>>,
}

/// Renders and segments examples (ground-truth panoptic tokens, region adjacency with a
/// 1-pixel dilation).
pub fn prepare(examples: &[Example]) -> anyhow::Result<Prepared> {
    let mut out = Prepared { images: vec![], tokens: vec![], captions: vec![] };
    for ex in examples {
        out.images.push(ex.scene.render());
        out.tokens.push(ImageTokens::new(&ex.scene.panoptic(), FEATURE_SIDE, FEATURE_SIDE, GraphKind::RegionAdjacency { dilation: 1 })?);
        out.captions.push(ex.captions.iter().map(|c| c.text()).collect());
    }
    Ok(out)
}

/// The learning rate at `step` (1-based): linear warm-up, then cosine decay to 0.
pub fn learning_rate(s: &TrainSettings, step: usize) -> f64 {
    if step <= s.warmup {
        s.lr * step as f64 / s.warmup.max(1) as f64
    } else {
        let p = (step - s.warmup) as f64 / (s.steps - s.warmup).max(1) as f64;
        s.lr * 0.5 * (1.0 + (std::f64::consts::PI * p.min(1.0)).cos())
    }
}

/// Trains `model` for `settings.steps` steps on `data`; returns the per-step losses.
pub fn train(mut model: Gshn, data: &Prepared, vocab: &Vocab, settings: &TrainSettings, device: &Device, mut log: impl FnMut(usize, f64, f64)) -> anyhow::Result<(Gshn, Vec<f64>)> {
    let mut rng = SeedRng::new(settings.seed).fork("train-batches");
    let mut optim = AdamWConfig::new()
        .with_weight_decay(settings.weight_decay)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(settings.grad_clip)))
        .init();
    let n = data.images.len();
    anyhow::ensure!(n >= settings.batch_size && settings.batch_size >= 2, "need at least batch_size (≥ 2) training images");
    let mut order: Vec<usize> = (0..n).collect();
    let mut cursor = n;
    let mut losses = Vec::with_capacity(settings.steps);
    for step in 1..=settings.steps {
        if cursor + settings.batch_size > n {
            rng.shuffle(&mut order);
            cursor = 0;
        }
        let idx = &order[cursor..cursor + settings.batch_size];
        cursor += settings.batch_size;
        let imgs: Vec<&RgbImage> = idx.iter().map(|&i| &data.images[i]).collect();
        let toks: Vec<&ImageTokens> = idx.iter().map(|&i| &data.tokens[i]).collect();
        let texts: Vec<&str> = idx.iter().map(|&i| data.captions[i][rng.below(data.captions[i].len() as u64) as usize].as_str()).collect();
        let batch = ImageBatch::new(&imgs, &toks, model.time_steps, device)?;
        let (ids, pad) = vocab.batch(&texts, 48, device);
        let image = model.encode_images(&batch)?.embedding;
        let text = model.encode_text(ids, pad);
        let loss = clip_loss(image, text, model.logit_scale.scale());
        let value: f32 = loss.clone().into_scalar();
        anyhow::ensure!(value.is_finite(), "the loss became {value} at step {step}; stopping");
        losses.push(value as f64);
        let lr = learning_rate(settings, step);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
        log(step, value as f64, lr);
    }
    Ok((model, losses))
}

/// Retrieval metrics on `data` with all five captions per image.
pub fn evaluate(model: &Gshn, data: &Prepared, vocab: &Vocab, device: &Device) -> anyhow::Result<RetrievalMetrics> {
    let model = model.clone().valid();
    let n = data.images.len();
    let mut image_emb = Vec::new();
    let mut text_emb = Vec::new();
    let mut text_image = Vec::new();
    for start in (0..n).step_by(100) {
        let idx: Vec<usize> = (start..(start + 100).min(n)).collect();
        let imgs: Vec<&RgbImage> = idx.iter().map(|&i| &data.images[i]).collect();
        let toks: Vec<&ImageTokens> = idx.iter().map(|&i| &data.tokens[i]).collect();
        let batch = ImageBatch::new(&imgs, &toks, model.time_steps, device)?;
        image_emb.push(model.encode_images(&batch)?.embedding);
        let texts: Vec<&str> = idx.iter().flat_map(|&i| data.captions[i].iter().map(|s| s.as_str())).collect();
        text_image.extend(idx.iter().flat_map(|&i| std::iter::repeat_n(i, data.captions[i].len())));
        let (ids, pad) = vocab.batch(&texts, 48, device);
        text_emb.push(model.encode_text(ids, pad));
    }
    let sim = Tensor::cat(image_emb, 0).matmul(Tensor::cat(text_emb, 0).transpose());
    let sim: Vec<f32> = sim.to_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(retrieval(&sim, n, &text_image))
}

/// Generates ShapeWorld, builds the vocabulary and the model, trains and evaluates.
pub fn run(settings: &TrainSettings, model_cfg: impl FnOnce(usize) -> GshnConfig, device: &Device, log: impl FnMut(usize, f64, f64)) -> anyhow::Result<(Gshn, Vec<f64>, RetrievalMetrics)> {
    device.seed(settings.seed);
    let sw = ShapeWorldConfig::default();
    let train_data = prepare(&generate(&sw, settings.seed, Split::Train, settings.train_images))?;
    let test_data = prepare(&generate(&sw, settings.seed, Split::Test, settings.test_images))?;
    let vocab = Vocab::build(train_data.captions.iter().flatten().map(|s| s.as_str()));
    let model = model_cfg(vocab.len()).init(device)?;
    let (model, losses) = train(model, &train_data, &vocab, settings, device, log)?;
    let metrics = evaluate(&model, &test_data, &vocab, device)?;
    Ok((model, losses, metrics))
}
