//! The GSHN model: shapes, spikes, branch ablations, save → load → same outputs, and a short
//! training run whose loss falls.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use gshn_train::data::shapeworld::{generate, ShapeWorldConfig, Split};
use gshn_train::model::hybrid::FusionWeight;
use gshn_train::model::{Branches, GshnConfig, ImageBatch, ImageTokens, Vocab};
use gshn_train::train::{learning_rate, prepare, train, TrainSettings};

/// Burn's CPU random stream is global: tests that initialise models hold this lock so that
/// the determinism test sees only its own draws.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn small_data(n: usize) -> (gshn_train::train::Prepared, Vocab) {
    let data = prepare(&generate(&ShapeWorldConfig::default(), 5, Split::Train, n)).unwrap();
    let vocab = Vocab::build(data.captions.iter().flatten().map(|s| s.as_str()));
    (data, vocab)
}

fn batch(data: &gshn_train::train::Prepared, n: usize, t: usize, device: &Device) -> ImageBatch {
    let imgs: Vec<_> = data.images.iter().take(n).collect();
    let toks: Vec<&ImageTokens> = data.tokens.iter().take(n).collect();
    ImageBatch::new(&imgs, &toks, t, device).unwrap()
}

#[test]
fn every_branch_encodes_unit_vectors_and_spikes_are_binary() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let (data, vocab) = small_data(6);
    for branches in [Branches::Hybrid, Branches::GatOnly, Branches::SnnOnly] {
        let model = GshnConfig::new(vocab.len()).with_branches(branches).with_d_model(32).with_embed_dim(16).init(&device).unwrap();
        let b = batch(&data, 6, model.time_steps, &device);
        let out = model.encode_images(&b).unwrap();
        assert_eq!(out.embedding.dims(), [6, 16]);
        let norms = values(&out.embedding.clone().powf_scalar(2.0).sum_dim(1));
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-4), "{norms:?}");
        assert_eq!(out.nodes.dims()[0], *b.ptr.last().unwrap());
        match branches {
            Branches::GatOnly => assert!(out.spikes.is_empty() && out.snn_nodes.is_none()),
            _ => {
                assert_eq!(out.spikes.len(), 2);
                for s in &out.spikes {
                    assert_eq!(s.dims()[0], 4);
                    assert!(values(s).iter().all(|&v| v == 0.0 || v == 1.0));
                }
            }
        }
        let texts: Vec<&str> = data.captions.iter().take(3).map(|c| c[0].as_str()).collect();
        let (ids, pad) = vocab.batch(&texts, 48, &device);
        assert_eq!(model.encode_text(ids, pad).dims(), [3, 16]);
    }
    assert!(GshnConfig::new(vocab.len()).with_d_model(30).with_heads(4).init(&device).is_err());
    assert!(GshnConfig::new(vocab.len()).with_time_steps(0).init(&device).is_err());
    // Masks made for another feature-map size are an error, not a panic.
    let odd = ImageTokens::new(&gshn_seg::baselines::grid_patches(64, 64, 2, 2).unwrap(), 8, 8, gshn_graph::GraphKind::Full).unwrap();
    let model = GshnConfig::new(vocab.len()).with_d_model(32).init(&device).unwrap();
    let b = ImageBatch::new(&[&data.images[0]], &[&odd], model.time_steps, &device).unwrap();
    let err = model.encode_images(&b).unwrap_err().to_string();
    assert!(err.contains("64-cell feature map"), "{err}");
}

#[test]
fn saved_then_loaded_model_gives_the_same_embeddings() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let (data, vocab) = small_data(4);
    let cfg = GshnConfig::new(vocab.len()).with_d_model(32).with_embed_dim(16).with_fusion(FusionWeight::LearnedPerChannel { init: 0.5 });
    let model = cfg.init(&device).unwrap();
    let b = batch(&data, 4, model.time_steps, &device);
    let before = values(&model.encode_images(&b).unwrap().embedding);
    let dir = std::env::temp_dir().join(format!("gshn-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    model.clone().save_file(dir.join("model.bpk")).unwrap();
    let loaded = cfg.init(&device).unwrap().try_load_file(dir.join("model.bpk")).unwrap();
    assert_eq!(before, values(&loaded.encode_images(&b).unwrap().embedding));
    assert_eq!(loaded.r_values(), vec![0.5; 32]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_short_training_run_lowers_the_loss_and_repeats_bit_for_bit() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (data, vocab) = small_data(48);
    let settings = TrainSettings { steps: 80, batch_size: 16, warmup: 5, lr: 3e-3, train_images: 48, ..Default::default() };
    let run = || {
        let device = Device::flex().autodiff();
        device.seed(1);
        let model = GshnConfig::new(vocab.len()).with_d_model(32).with_embed_dim(32).with_text_width(32).with_text_layers(1).init(&device).unwrap();
        train(model, &data, &vocab, &settings, &device, |_, _, _| {}).unwrap().1
    };
    let losses = run();
    // Chance level for a batch of 16 is ln 16 = 2.77; learning must beat it clearly.
    let last: f64 = losses[losses.len() - 10..].iter().sum::<f64>() / 10.0;
    assert!(last < 0.9 * 16f64.ln(), "mean loss of the last 10 steps {last:.3} (chance {:.3}): {losses:?}", 16f64.ln());
    assert_eq!(losses, run(), "same seed, same losses");
}

#[test]
fn learning_rate_warms_up_then_decays_to_zero() {
    let s = TrainSettings { lr: 1.0, warmup: 10, steps: 110, ..Default::default() };
    assert_eq!(learning_rate(&s, 5), 0.5);
    assert_eq!(learning_rate(&s, 10), 1.0);
    assert!((learning_rate(&s, 60) - 0.5).abs() < 1e-12);
    assert!(learning_rate(&s, 110).abs() < 1e-12);
}
