//! Where gshn's training step spends its time: forward and forward + backward of each part of
//! the default model (backbone, tokens, GAT and spiking branches, text encoder, the whole
//! losses) on one ShapeWorld batch of 64 images, flex (CPU), median of 7 after one untimed
//! call. `compare-train` times the whole step against the PyTorch twin; this splits gshn's.
//!
//! ```text
//! cargo run --example model_parts -- 2                                  # threads (default 1)
//! cargo run --example model_parts -- 1 model.tokens.fused_conv=false    # then config overrides
//! ```

use burn::tensor::{Device, Tensor};
use gshn_bench::set_threads;
use gshn_snn::rng::SeedRng;
use gshn_train::cli::experiment::ExperimentConfig;
use gshn_train::cli::train::{batch_indices, load_data};
use std::time::Instant;

fn time(name: &str, reps: usize, mut f: impl FnMut()) {
    f();
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(f64::total_cmp);
    println!("{name:40} {:8.1} ms (min {:.1})", v[v.len() / 2], v[0]);
}

fn main() -> anyhow::Result<()> {
    let threads: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(1);
    set_threads(threads);
    let sets: Vec<String> = std::env::args().skip(2).collect();
    let mut cfg = ExperimentConfig::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/shapeworld.toml"), &sets)?;
    (cfg.data.train_images, cfg.data.val_images, cfg.data.test_images) = (64, 0, 2);
    let data = load_data(&cfg)?;
    let device = Device::flex().autodiff();
    let batcher = data.batcher(&cfg)?;
    let idx = batch_indices(0, 64, 64, 1);
    let batch = batcher.batch(&data.train.refs(&idx), &mut SeedRng::new(0), &device)?;
    device.seed(0);
    let model = cfg.model.clone().with_vocab_size(data.vocab.len()).with_answers(18).init(&device)?;
    let reps = 7;
    let im = &batch.images;
    time("backbone fwd", reps, || {
        let _ = model.backbone.forward(im.pixels.clone()).sum().into_scalar::<f32>();
    });
    time("backbone fwd+bwd", reps, || {
        let g = model.backbone.forward(im.pixels.clone()).sum().backward();
        drop(g);
    });
    time("tokens fwd+bwd", reps, || {
        let g = model.tokens(im).unwrap().sum().backward();
        drop(g);
    });
    let v3 = model.tokens(im).unwrap().detach().require_grad();
    let [b, m, d] = v3.dims();
    time("gat fwd+bwd", reps, || {
        let g = model.gat.as_ref().unwrap().forward(v3.clone(), im).unwrap().sum().backward();
        drop(g);
    });
    time("snn fwd+bwd", reps, || {
        let rows = Tensor::cat(vec![v3.clone().reshape([b * m, d]), Tensor::zeros([2, d], &device)], 0);
        let g = model.snn.as_ref().unwrap().forward(rows, &im.folded, im.row_weight.clone()).unwrap().nodes.sum().backward();
        drop(g);
    });
    let c = batch.captions.as_ref().unwrap();
    time("text (captions) fwd", reps, || {
        let _ = model.text.forward(c.ids.clone(), c.pad.clone()).1.sum().into_scalar::<f32>();
    });
    time("text (captions) fwd+bwd", reps, || {
        let g = model.text.forward(c.ids.clone(), c.pad.clone()).1.sum().backward();
        drop(g);
    });
    let q = batch.questions.as_ref().unwrap();
    time("text (questions) fwd+bwd", reps, || {
        let g = model.text.forward(q.text.ids.clone(), q.text.pad.clone()).1.sum().backward();
        drop(g);
    });
    time("encode_images fwd+bwd", reps, || {
        let g = model.encode_images(im).unwrap().embedding.sum().backward();
        drop(g);
    });
    time("losses fwd", reps, || {
        let _ = model.losses(&batch).unwrap().total.into_scalar::<f32>();
    });
    time("losses fwd+bwd", reps, || {
        let g = model.losses(&batch).unwrap().total.backward();
        drop(g);
    });
    println!("caption L {:?}, question L {:?}, M {}", c.ids.dims(), q.text.ids.dims(), m);
    Ok(())
}
