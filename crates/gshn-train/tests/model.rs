//! The GSHN model: shapes, spikes, branch ablations, save → load → same outputs, and a short
//! training run whose loss falls.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use gshn_train::data::shapeworld::{generate, ShapeWorldConfig, Split};
use gshn_train::model::hybrid::FusionWeight;
use gshn_train::model::{Branches, GshnConfig, ImageBatch, ImageTokens, Vocab};
use gshn_train::config::{TokenConfig, TrainConfig};
use gshn_train::data::Dataset;
use gshn_train::train::learning_rate;

/// Burn's CPU random stream is global: tests that initialise models hold this lock so that
/// the determinism test sees only its own draws.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn small_data(n: usize) -> (Dataset, Vocab) {
    let data = Dataset::from_shapeworld(&generate(&ShapeWorldConfig::default(), 5, Split::Train, n), &TokenConfig::default()).unwrap();
    let vocab = Vocab::build(data.captions.iter().flatten().map(|s| s.as_str()));
    (data, vocab)
}

fn batch(data: &Dataset, n: usize, t: usize, device: &Device) -> ImageBatch {
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
fn the_vqa_head_attends_over_each_questions_image_only_and_stl_compares_words_with_segments() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let (data, vocab) = small_data(5);
    let model = GshnConfig::new(vocab.len()).with_d_model(32).with_embed_dim(16).with_answers(18).init(&device).unwrap();
    let b = batch(&data, 5, model.time_steps, &device);
    let out = model.encode_images(&b).unwrap();
    // Three questions about images 4, 0, 4.
    let texts: Vec<&str> = vec![&data.questions[4][0].text, &data.questions[0][0].text, &data.questions[4][1].text].into_iter().map(|s| s.as_str()).collect();
    let (ids, pad) = vocab.batch(&texts, 48, &device);
    let (_, sentence) = model.text.forward(ids, pad);
    let qi = Tensor::<1, burn::tensor::Int>::from_data(burn::tensor::TensorData::new(vec![4i64, 0, 4], [3]), &device);
    let v = model.answer(&b, &out, sentence, qi);
    assert_eq!(v.logits.dims(), [3, 18]);
    let att = values(&v.attention);
    let m = b.max_nodes;
    for (row, img) in [(0, 4), (1, 0), (2, 4)] {
        let n = data.tokens[img].n;
        let r = &att[row * m..(row + 1) * m];
        assert!((r[..n].iter().sum::<f32>() - 1.0).abs() < 1e-5, "attention over the image's {n} nodes sums to 1: {r:?}");
        assert!(r[n..].iter().all(|&a| a == 0.0), "no attention on padding: {r:?}");
    }
    // STL: [captions, images] similarities; node-level InfoNCE is a finite scalar.
    let caps: Vec<&str> = data.captions.iter().take(5).map(|c| c[0].as_str()).collect();
    let (ids, pad) = vocab.batch(&caps, 48, &device);
    let (words, _) = model.text.forward(ids, pad.clone());
    assert_eq!(model.stl_logits(&b, &out, words, pad).dims(), [5, 5]);
    let node: f32 = model.node_infonce(&out, 0.1, 512).unwrap().into_scalar();
    assert!(node.is_finite() && node > 0.0);
}

#[test]
fn every_token_source_and_graph_kind_prepares_shapeworld() {
    use gshn_train::config::{GraphChoice, TokenSource};
    let examples = generate(&ShapeWorldConfig::default(), 9, Split::Test, 4);
    for source in [TokenSource::Panoptic, TokenSource::Felzenszwalb, TokenSource::Slic, TokenSource::Grid, TokenSource::Boxes] {
        for graph in [GraphChoice::RegionAdjacency, GraphChoice::Knn, GraphChoice::Radius, GraphChoice::Full] {
            let cfg = TokenConfig { source, graph, ..Default::default() };
            let data = Dataset::from_shapeworld(&examples, &cfg).unwrap_or_else(|e| panic!("{source:?} / {graph:?}: {e}"));
            for t in &data.tokens {
                assert!(t.n >= 2, "{source:?}: {} tokens", t.n);
                assert!(!t.edges.src.is_empty(), "{source:?} / {graph:?}: no edges");
                assert_eq!(t.masks.len(), t.n * 16 * 16);
            }
        }
    }
}

#[test]
fn learning_rate_warms_up_then_decays_to_zero() {
    let s = TrainConfig { lr: 1.0, warmup: 10, ..Default::default() };
    assert_eq!(learning_rate(&s, 5, 110), 0.5);
    assert_eq!(learning_rate(&s, 10, 110), 1.0);
    assert!((learning_rate(&s, 60, 110) - 0.5).abs() < 1e-12);
    assert!(learning_rate(&s, 110, 110).abs() < 1e-12);
    // A stage shorter than twice the warm-up warms up over half of it.
    assert_eq!(learning_rate(&s, 2, 8), 0.5);
}
