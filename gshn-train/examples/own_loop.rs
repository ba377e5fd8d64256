//! A training loop of your own around the GSHN library — no runner, no config files: generate
//! ShapeWorld scenes, build a model and a batcher, and train with AdamW for 50 steps.
//!
//! ```sh
//! cargo run -p gshn-train --example own_loop
//! ```
//!
//! In a crate of your own, depend on the library without the runner and pick a backend:
//!
//! ```toml
//! [dependencies]
//! gshn-train = { path = "…/gshn-train", default-features = false }
//! gshn-snn = { path = "…/gshn-snn" }
//! burn = { version = "0.22.1", default-features = false, features = ["std", "autodiff", "optim", "flex"] }
//! ```

use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use gshn_snn::rng::SeedRng;
use gshn_train::data::shapeworld::{answer_vocabulary, generate, ShapeWorldConfig, Split};
use gshn_train::model::Vocab;
use gshn_train::{GshnBatcher, GshnConfig, GshnError, Prepared};

/// Trains for `steps` steps on `device` and returns the total loss of every step.
pub fn train(steps: usize, device: &Device) -> Result<Vec<f32>, GshnError> {
    // Data: 128 generated scenes with their panoptic segments, captions and questions.
    let examples: Vec<_> = generate(&ShapeWorldConfig::default(), 0, Split::Train, 128).iter().map(|e| e.to_example()).collect();
    let vocab = Vocab::build(examples.iter().flat_map(|e| e.captions.iter().chain(e.questions.iter().map(|q| &q.text)).map(String::as_str)));

    // 1. The model, from a config with the fields we change.
    let mut config = GshnConfig::default().with_vocab_size(vocab.len()).with_answers(answer_vocabulary().len());
    config.d_model = 32;
    config.embed_dim = 32;
    config.text.width = 32;
    device.seed(0);
    let mut model = config.init(device)?;

    // 2. The batcher: tokens once per example, then batches.
    let batcher = GshnBatcher::new(&config, vocab);
    let items: Vec<Prepared> = examples.into_iter().map(|e| batcher.prepare(e)).collect::<Result<_, _>>()?;

    let mut optim = AdamWConfig::new().init();
    let mut rng = SeedRng::new(0);
    let mut losses = Vec::with_capacity(steps);
    for step in 0..steps {
        let start = (step * 16) % items.len();
        let batch: Vec<&Prepared> = items[start..start + 16].iter().collect();
        let batch = batcher.batch(&batch, &mut rng, device)?;
        // 3. Every loss term and their weighted total.
        let l = model.losses(&batch)?;
        losses.push(l.total.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(l.total.backward(), &model);
        model = optim.step(2e-3, model, grads);
    }
    Ok(losses)
}

fn main() -> Result<(), GshnError> {
    let losses = train(50, &Device::flex().autodiff())?;
    for (i, l) in losses.iter().enumerate().filter(|(i, _)| i % 10 == 0 || *i == losses.len() - 1) {
        println!("step {:>3}  loss {l:.4}", i + 1);
    }
    Ok(())
}
