//! The GSHN model: shapes, spikes, branch ablations, the dense and edge-list GAT paths, the
//! configuration's shapes reaching the model and the data, save → load → same outputs, the
//! vocabulary's round trip, and the learning-rate schedule.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use gshn_graph::GatPath;
use gshn_train::batch::ImageBatch;
use gshn_train::cli::experiment::TrainConfig;
use gshn_train::cli::train::learning_rate;
use gshn_train::data::segments::{shapeworld_dataset, SegmentsConfig};
use gshn_train::data::shapeworld::{generate, ShapeWorldConfig, Split};
use gshn_train::dataset::Dataset;
use gshn_train::model::config::{FusionMode, GatPathChoice, GraphChoice, TokensConfig};
use gshn_train::model::{Branches, GshnConfig, Vocab};
use gshn_train::GshnBatcher;

/// Burn's CPU random stream is global: tests that initialise models hold this lock so that
/// the determinism test sees only its own draws.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn small_config(vocab: &Vocab) -> GshnConfig {
    let mut c = GshnConfig::default().with_vocab_size(vocab.len()).with_answers(18);
    c.d_model = 32;
    c.embed_dim = 16;
    c
}

/// [`small_config`] at width 16 without text dropout: the config of the tests that take a
/// training step and compare its numbers.
fn narrow_config(vocab: &Vocab) -> GshnConfig {
    let mut c = small_config(vocab);
    c.d_model = 16;
    c.text.width = 16;
    c.text.dropout = 0.0;
    c
}

fn small_data(n: usize, cfg: &GshnConfig) -> (Dataset, Vocab) {
    let data = shapeworld_dataset(&generate(&ShapeWorldConfig::default(), 5, Split::Train, n), &SegmentsConfig::default(), &cfg.tokens).unwrap();
    let vocab = Vocab::build(data.texts());
    (data, vocab)
}

fn images(data: &Dataset, n: usize, cfg: &GshnConfig, vocab: &Vocab, device: &Device) -> ImageBatch {
    let idx: Vec<usize> = (0..n).collect();
    GshnBatcher::new(cfg, vocab.clone()).images(&data.refs(&idx), device).unwrap()
}

#[test]
fn every_branch_encodes_unit_vectors_and_spikes_are_binary() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let (data, vocab) = small_data(6, &GshnConfig::default());
    for branches in [Branches::Hybrid, Branches::GatOnly, Branches::SnnOnly, Branches::TokensOnly] {
        let mut cfg = small_config(&vocab);
        cfg.fusion.branches = branches;
        let model = cfg.init(&device).unwrap();
        let b = images(&data, 6, &cfg, &vocab, &device);
        let out = model.encode_images(&b).unwrap();
        assert_eq!(out.embedding.dims(), [6, 16]);
        let norms = values(&out.embedding.clone().powf_scalar(2.0).sum_dim(1));
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-4), "{norms:?}");
        assert_eq!(out.nodes.dims()[0], b.rows());
        assert_eq!(b.rows(), 6 * b.max_nodes);
        assert!(b.max_nodes.is_power_of_two() && b.max_nodes >= data.items.iter().take(6).map(|p| p.tokens.n).max().unwrap());
        match branches {
            Branches::GatOnly => assert!(out.spikes.is_empty() && out.snn_nodes.is_none() && model.snn.is_none()),
            Branches::TokensOnly => {
                // Neither branch exists or runs: V' is the tokens, row-normalised.
                assert!(out.spikes.is_empty() && out.snn_nodes.is_none() && out.gat_nodes.is_none());
                assert!(model.snn.is_none() && model.gat.is_none());
                let want = values(&gshn_train::model::fusion::normalize_rows(out.tokens.clone()));
                let got = values(&out.nodes);
                assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6), "tokens-only: V' is not N(V)");
                let names: Vec<String> = gshn_train::energy::image_ops(&cfg, &gshn_train::energy::Measured::default()).into_iter().map(|l| l.name).collect();
                assert!(names.iter().all(|n| !n.starts_with("gat") && !n.starts_with("snn") && n != "fusion"), "tokens-only counts no branch: {names:?}");
            }
            _ => {
                assert_eq!(out.spikes.len(), 2);
                for s in &out.spikes {
                    assert_eq!(s.dims()[0], 4);
                    assert!(values(s).iter().all(|&v| v == 0.0 || v == 1.0));
                }
            }
        }
        let texts: Vec<&str> = data.items.iter().take(3).map(|p| p.captions[0].as_str()).collect();
        let batcher = GshnBatcher::new(&cfg, vocab.clone());
        assert_eq!(model.encode_text(&batcher.texts(&texts, &device)).dims(), [3, 16]);
    }
    let bad = |f: &dyn Fn(&mut GshnConfig)| {
        let mut c = small_config(&vocab);
        f(&mut c);
        c.init(&device).err().map(|e| e.to_string())
    };
    assert!(bad(&|c| c.d_model = 30).unwrap().contains("gat.heads"));
    assert!(bad(&|c| c.snn.time_steps = 0).unwrap().contains("snn.time_steps"));
    assert!(bad(&|c| c.vocab_size = 0).unwrap().contains("with_vocab_size"));
}

#[test]
fn masks_made_for_another_stride_are_an_error_not_a_panic() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let (data, vocab) = small_data(2, &GshnConfig::default());
    let mut cfg = small_config(&vocab);
    cfg.tokens.stride = 8;
    let model = cfg.init(&device).unwrap();
    // Prepared for stride 4 (16×16 cells), run by a stride-8 backbone (8×8).
    let b = images(&data, 2, &GshnConfig::default(), &vocab, &device);
    let err = model.encode_images(&b).unwrap_err().to_string();
    assert!(err.contains("256-cell feature map") && err.contains("tokens.stride"), "{err}");
}

#[test]
fn the_config_shapes_reach_model_and_data() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let mut cfg = GshnConfig::default();
    cfg.tokens.stride = 8;
    cfg.text.max_len = 5;
    cfg.snn.time_steps = 3;
    cfg.snn.layers = 3;
    cfg.gat.layers = 3;
    let (data, vocab) = small_data(3, &cfg);
    assert_eq!(data[0].tokens.cells, 8 * 8, "64-px images at stride 8");
    let cfg = cfg.with_vocab_size(vocab.len()).with_answers(18);
    let model = cfg.init(&device).unwrap();
    assert_eq!(model.gat.as_ref().unwrap().layers.len(), 3);
    let batcher = GshnBatcher::new(&cfg, vocab.clone());
    let text = batcher.texts(&["a red circle is left of a blue square on the floor"], &device);
    assert_eq!(text.ids.dims(), [1, 5], "texts are cut at text.max_len");
    let b = batcher.images(&data.refs(&[0, 1, 2]), &device).unwrap();
    let out = model.encode_images(&b).unwrap();
    assert_eq!(out.spikes.len(), 3);
    assert_eq!(out.spikes[0].dims()[0], 3);
}

#[test]
fn the_dense_and_edge_list_gat_paths_give_the_same_model_output() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let (data, vocab) = small_data(5, &GshnConfig::default());
    let cfg = small_config(&vocab);
    let model = cfg.init(&device).unwrap();
    let b = images(&data, 5, &cfg, &vocab, &device);
    let v = model.tokens(&b).unwrap();
    let gat = model.gat.as_ref().unwrap();
    let close = |a: &[f32], e: &[f32]| {
        assert_eq!(a.len(), e.len());
        let worst = a.iter().zip(e).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-5, "largest difference {worst}");
    };
    // On the padded batch: dense blocks against the edge list over the padded rows.
    let dense = gat.forward_padded_along(v.clone(), &b, GatPath::Dense).unwrap();
    let edges = gat.forward_padded_along(v.clone(), &b, GatPath::EdgeList).unwrap();
    close(&values(&b.real_rows(dense.clone(), 0)), &values(&b.real_rows(edges, 0)));
    // And against gshn-graph's own batching of the unpadded graphs.
    let [bb, m, d] = v.dims();
    let mut graph = b.graph.clone();
    graph.x = b.real_rows(v.reshape([bb * m, d]), 0);
    close(&values(&b.real_rows(dense, 0)), &values(&gat.forward_along(&graph, GatPath::EdgeList).unwrap()));
    // And through the whole model, chosen by the config.
    let embed = |path: GatPathChoice| {
        let mut c = cfg.clone();
        c.gat.path = path;
        let m = c.init(&device).unwrap().load_record(model.clone().into_record());
        values(&m.encode_images(&b).unwrap().embedding)
    };
    let (a, e) = (embed(GatPathChoice::Dense), embed(GatPathChoice::EdgeList));
    close(&a, &e);
    close(&a, &embed(GatPathChoice::Auto));
}

#[test]
fn saved_then_loaded_model_gives_the_same_embeddings() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let (data, vocab) = small_data(4, &GshnConfig::default());
    let mut cfg = small_config(&vocab);
    cfg.fusion.mode = FusionMode::PerChannel;
    cfg.fusion.r = 0.5;
    let model = cfg.init(&device).unwrap();
    let b = images(&data, 4, &cfg, &vocab, &device);
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
fn the_vqa_head_attends_over_each_questions_image_only_and_every_loss_term_is_finite() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let (data, vocab) = small_data(5, &GshnConfig::default());
    let mut cfg = small_config(&vocab);
    cfg.loss.stl = 0.5;
    cfg.loss.node = 0.1;
    let model = cfg.init(&device).unwrap();
    let batcher = GshnBatcher::new(&cfg, vocab.clone());
    let b = batcher.images(&data.refs(&[0, 1, 2, 3, 4]), &device).unwrap();
    let out = model.encode_images(&b).unwrap();
    // Three questions about images 4, 0, 4.
    let qs = [(4, &data[4].questions[0]), (0, &data[0].questions[0]), (4, &data[4].questions[1])];
    let v = model.answer(&b, &out, &batcher.questions(&qs, &device));
    assert_eq!(v.logits.dims(), [3, 18]);
    let att = values(&v.attention);
    let m = b.max_nodes;
    for (row, img) in [(0, 4), (1, 0), (2, 4)] {
        let n = data[img].tokens.n;
        let r = &att[row * m..(row + 1) * m];
        assert!((r[..n].iter().sum::<f32>() - 1.0).abs() < 1e-5, "attention over the image's {n} nodes sums to 1: {r:?}");
        assert!(r[n..].iter().all(|&a| a == 0.0), "no attention on padding: {r:?}");
    }
    // A training batch: every term, and the total is their weighted sum.
    let batch = batcher.batch(&data.refs(&[0, 1, 2, 3, 4]), &mut gshn_snn::rng::SeedRng::new(1), &device).unwrap();
    let l = model.losses(&batch).unwrap();
    let v = |name: &str| l.get(name).cloned().unwrap().into_scalar::<f32>();
    let (clip, stl, vqa, node) = (v("clip"), v("stl"), v("vqa"), v("node"));
    assert!([clip, stl, vqa, node].iter().all(|x| x.is_finite() && *x > 0.0));
    let total: f32 = l.total.clone().into_scalar();
    assert!((total - (clip + 0.5 * stl + 0.5 * vqa + 0.1 * node)).abs() < 1e-4, "{total}");
    // Weight 0 switches a term off.
    let only_stl = model.losses_with(&batch, &gshn_train::model::config::LossConfig::default().stl_only()).unwrap();
    assert!(only_stl.get("clip").is_none() && only_stl.get("vqa").is_none() && only_stl.get("stl").is_some());
}

#[test]
fn every_segment_source_and_graph_kind_prepares_shapeworld() {
    use gshn_train::data::SegmentSource;
    let examples = generate(&ShapeWorldConfig::default(), 9, Split::Test, 4);
    for source in [SegmentSource::Panoptic, SegmentSource::Felzenszwalb, SegmentSource::Slic, SegmentSource::Grid, SegmentSource::Boxes] {
        for graph in [GraphChoice::RegionAdjacency, GraphChoice::Knn, GraphChoice::Radius, GraphChoice::Full] {
            let seg = SegmentsConfig { source, ..Default::default() };
            let tokens = TokensConfig { graph, ..Default::default() };
            let data = shapeworld_dataset(&examples, &seg, &tokens).unwrap_or_else(|e| panic!("{source:?} / {graph:?}: {e}"));
            for p in &data.items {
                let t = &p.tokens;
                assert!(t.n >= 2, "{source:?}: {} tokens", t.n);
                assert!(!t.edges.src.is_empty(), "{source:?} / {graph:?}: no edges");
                assert_eq!(t.masks.len(), t.n * 16 * 16);
            }
        }
    }
}

#[test]
fn a_vocabulary_survives_serialisation() {
    let v = Vocab::build(["A red circle.", "two blue squares"]);
    let json = serde_json::to_string(&v).unwrap();
    let back: Vocab = serde_json::from_str(&json).unwrap();
    assert_eq!(back, v);
    assert_eq!(back.encode("red squares, purple"), v.encode("red squares, purple"));
    assert!(back.encode("red squares").iter().all(|&id| id > 1), "known words are not <unk> after a round trip");
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

/// Every parameter's gradient, flattened in module order.
fn all_grads(model: &gshn_train::Gshn, grads: &burn::tensor::Gradients) -> Vec<f32> {
    struct Collect<'a>(&'a burn::tensor::Gradients, Vec<f32>);
    impl burn::module::ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if let Some(g) = param.val().grad(self.0) {
                self.1.extend(values(&g));
            }
        }
    }
    let mut c = Collect(grads, vec![]);
    model.visit(&mut c);
    c.1
}

/// Padding the node block, the edge count and the text length to buckets changes no loss term
/// and no gradient: the padded batch trains exactly as the tightest one. On flex, and on
/// wgpu when an adapter answers.
#[test]
fn shape_buckets_change_no_loss_and_no_gradient() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let mut devices = vec![("flex", Device::flex().autodiff())];
    if let Some(d) = common_wgpu() {
        devices.push(("wgpu", d.autodiff()));
    }
    let (data, vocab) = small_data(24, &GshnConfig::default());
    // Images whose largest node count is not a power of two, so that the bucket pads.
    let idx: Vec<usize> = (0..24).filter(|&i| data[i].tokens.n > 2).take(4).collect();
    let largest = idx.iter().map(|&i| data[i].tokens.n).max().unwrap();
    assert!(!largest.is_power_of_two(), "pick images that need padding ({largest} nodes)");
    let mut cfg = narrow_config(&vocab);
    cfg.loss.stl = 0.5;
    cfg.loss.node = 0.2;
    for (name, device) in devices {
        let run = |buckets: bool| {
            device.seed(3);
            let model = cfg.init(&device).unwrap();
            let batcher = GshnBatcher::new(&cfg, vocab.clone()).with_buckets(buckets);
            let batch = batcher.batch(&data.refs(&idx), &mut gshn_snn::rng::SeedRng::new(1), &device).unwrap();
            let l = model.losses(&batch).unwrap();
            let terms: Vec<f32> = ["clip", "stl", "vqa", "node"].iter().map(|t| l.get(t).cloned().unwrap().into_scalar::<f32>()).collect();
            let grads = l.total.backward();
            (batch.shape_key(), terms, all_grads(&model, &grads))
        };
        let (tight_key, tight_terms, tight_grads) = run(false);
        let (padded_key, padded_terms, padded_grads) = run(true);
        assert_ne!(tight_key, padded_key, "{name}: the buckets padded nothing");
        for (a, b) in tight_terms.iter().zip(&padded_terms) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{name}: loss terms {tight_terms:?} vs {padded_terms:?}");
        }
        assert_eq!(tight_grads.len(), padded_grads.len());
        let worst = tight_grads.iter().zip(&padded_grads).map(|(a, b)| (a - b).abs() / (1e-3 + a.abs())).fold(0f32, f32::max);
        assert!(worst < 1e-3, "{name}: largest relative gradient difference {worst}");
    }
}

/// A WGPU device when an adapter answers (CI sets `GSHN_REQUIRE_WGPU=1`: then it must).
fn common_wgpu() -> Option<Device> {
    let probe = std::panic::catch_unwind(|| {
        let d = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
        Tensor::<1>::from_floats([1.0, 2.0], &d).sum().into_scalar::<f32>();
        d
    });
    match probe {
        Ok(d) => Some(d),
        Err(_) if std::env::var("GSHN_REQUIRE_WGPU").is_ok_and(|v| v == "1") => panic!("GSHN_REQUIRE_WGPU=1 but no WGPU adapter answers"),
        Err(_) => {
            eprintln!("SKIP wgpu: no adapter");
            None
        }
    }
}

/// The same model (initialised once, on flex) trained for three steps on the same batches on
/// flex and on wgpu gives the same loss terms at every step, within floating-point tolerance:
/// the WGPU path trains the model flex trains. Skipped without an adapter (CI requires one).
#[test]
fn flex_and_wgpu_train_the_same_steps() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let Some(wgpu) = common_wgpu() else { return };
    let (data, vocab) = small_data(24, &GshnConfig::default());
    let cfg = narrow_config(&vocab);
    let flex = Device::flex().autodiff();
    flex.seed(5);
    let start = cfg.init(&flex).unwrap();
    let tc = TrainConfig { lr: 1e-3, ..TrainConfig::default() };
    let batcher = GshnBatcher::new(&cfg, vocab.clone());
    let train = |device: &Device| -> Vec<Vec<f32>> {
        let mut model = start.clone().fork(device);
        let mut optim = gshn_train::cli::train::optimizer(&tc);
        (0..3)
            .map(|step| {
                let idx: Vec<usize> = (step * 8..step * 8 + 8).collect();
                let batch = batcher.batch(&data.refs(&idx), &mut gshn_snn::rng::SeedRng::new(step as u64), device).unwrap();
                let (next, parts) = gshn_train::cli::train::train_step(model.clone(), &mut optim, &batch, None, tc.lr).unwrap();
                model = next;
                parts.into_data().try_to_vec::<f32>().unwrap()
            })
            .collect()
    };
    let (on_flex, on_wgpu) = (train(&flex), train(&wgpu.autodiff()));
    for (step, (a, b)) in on_flex.iter().zip(&on_wgpu).enumerate() {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-3 * (1.0 + x.abs()), "step {}: flex {a:?} vs wgpu {b:?}", step + 1);
        }
    }
}

#[test]
fn the_cnn_backbone_pools_as_avg_pool_2d_does() {
    use burn::tensor::activation::relu;
    use burn::tensor::Distribution;
    use gshn_train::model::backbone::CnnBackbone;
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    for (stride, side) in [(4, 16), (4, 18), (8, 24)] {
        let cfg = TokensConfig { stride, ..TokensConfig::default() };
        let cnn = CnnBackbone::new(&cfg, &device);
        let pixels = Tensor::<4>::random([2, 3, side, side], Distribution::Uniform(-0.5, 0.5), &device);
        let mut want = pixels.clone();
        for (i, conv) in cnn.convs.iter().enumerate() {
            want = relu(conv.forward(want));
            if i < cnn.pools {
                want = cnn.pool.forward(want);
            }
        }
        let got = cnn.forward(pixels);
        assert_eq!(got.dims(), want.dims(), "stride {stride}, side {side}");
        let diff: f32 = got.sub(want).abs().max().into_scalar();
        assert!(diff < 1e-5, "stride {stride}, side {side}: max difference {diff}");
    }
}

#[test]
fn plif_layers_report_their_learned_time_constant() {
    use gshn_snn::neuron::{NeuronConfig, PlifConfig};
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let vocab = Vocab::build(["a red circle"]);
    let mut cfg = small_config(&vocab);
    assert!(cfg.clone().init(&device).unwrap().plif_tau().is_empty(), "LIF layers have no learned τ");
    cfg.snn.neuron = NeuronConfig::Plif(PlifConfig::new().with_init_tau(3.0));
    let model = cfg.clone().init(&device).unwrap();
    let taus = model.plif_tau();
    assert_eq!(taus.len(), cfg.snn.layers);
    assert!(taus.iter().all(|t| (t - 3.0).abs() < 1e-5), "{taus:?}");
    cfg.fusion.branches = Branches::GatOnly;
    assert!(cfg.init(&device).unwrap().plif_tau().is_empty(), "no spiking branch, no τ");
}

/// The spiking branch's per-node NIR form (`model::snn_export`) is the branch on a graph
/// without edges: the same spikes in every layer and the same `E_SNN`, for every norm that
/// exports (the affine ones folded into the synapses); LayerNorm is refused by name.
#[test]
fn the_per_node_network_is_the_spiking_branch_on_a_graph_without_edges() {
    use burn::module::Param;
    use burn::tensor::Distribution;
    use gshn_snn::network::Stage;
    use gshn_train::model::config::SpikeNorm;
    use gshn_train::model::snn_export::per_node_network;
    use gshn_train::model::spiking_graph::FoldedEdges;
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let vocab = Vocab::build(["a red circle"]);
    let (n, t) = (7, 6);
    for norm in [SpikeNorm::None, SpikeNorm::Gain, SpikeNorm::ThresholdBn, SpikeNorm::LayerNorm] {
        let mut cfg = small_config(&vocab);
        cfg.snn.norm = norm;
        cfg.snn.time_steps = t;
        let d = cfg.d_model;
        device.seed(11); // the weights and the draws below, whatever ran before
        let mut branch = cfg.init(&device).unwrap().snn.unwrap();
        // Trained-looking norms: gains, biases and running statistics away from their start.
        let draw = |shape: [usize; 2], lo: f64, hi: f64| Tensor::<2>::random(shape, Distribution::Uniform(lo, hi), &device);
        for layer in branch.layers.iter_mut() {
            if let Some(g) = &mut layer.gain {
                *g = Param::from_tensor(Tensor::cat(vec![draw([1, d], 0.5, 3.0), draw([1, d], -0.3, 0.3)], 0));
            }
            if let Some(bn) = &mut layer.bn {
                bn.gamma = Param::from_tensor(draw([1, d], 0.5, 2.0).reshape([d]));
                bn.beta = Param::from_tensor(draw([1, d], -0.2, 0.2).reshape([d]));
                bn.running_mean = burn::module::RunningState::new(draw([1, d], -0.1, 0.1).reshape([d]));
                bn.running_var = burn::module::RunningState::new(draw([1, d], 0.01, 0.05).reshape([d]));
            }
        }
        let exported = per_node_network(&branch);
        if norm == SpikeNorm::LayerNorm {
            let err = exported.unwrap_err().to_string();
            assert!(err.contains("model.snn.norm") && err.contains("layer-norm") && err.contains("\"gain\""), "{err}");
            continue;
        }
        let (net, _) = exported.unwrap();
        let v = draw([n, d], -1.0, 3.0);
        let edges = FoldedEdges::new(&gshn_graph::EdgeList::new(n, []).unwrap(), t, &device);
        let out = branch.forward(v.clone(), &edges, Tensor::ones([n, 1], &device)).unwrap();
        let x = v.unsqueeze_dim::<3>(0).repeat_dim(0, t);
        let trace = net.forward_trace(x).unwrap();
        let neurons: Vec<&Tensor<3>> = net.stages.iter().zip(&trace).filter(|(s, _)| matches!(s, Stage::Neuron(_))).map(|(_, o)| o).collect();
        assert_eq!(neurons.len(), out.spikes.len());
        let (mut differ, mut total, mut fired) = (0, 0, 0.0);
        for (ours, theirs) in neurons.iter().zip(&out.spikes) {
            let (a, b) = (values(ours), values(theirs));
            differ += a.iter().zip(&b).filter(|(x, y)| x != y).count();
            total += a.len();
            fired += b.iter().sum::<f32>();
        }
        assert!(fired > 0.02 * total as f32, "{norm:?}: the branch barely fires ({fired} of {total})");
        let e_nir = values(&trace.last().unwrap().clone().mean_dim(0).reshape([n, d]));
        let e_snn = values(&out.nodes);
        let worst = e_nir.iter().zip(&e_snn).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        eprintln!("{norm:?}: {differ} of {total} spikes differ, |ΔE_SNN| ≤ {worst:e}");
        if norm == SpikeNorm::None {
            assert_eq!(differ, 0, "{norm:?}: nothing is folded, so the spikes are the branch's bit for bit");
        }
        assert!(differ * 1000 <= total, "{norm:?}: {differ} of {total} spikes differ");
        assert!(worst <= 1e-4 || differ > 0, "{norm:?}: E_SNN differs by {worst}");
    }
}

/// Spiked-words STL with words whose neurons stay silent: they leave the mean (as padding
/// does), so no gradient is scaled by `l2_normalize`'s 1/ε; every gradient stays finite and
/// small, where the silent rows used to pass 1e12 back.
#[test]
fn silent_spiked_words_send_no_huge_gradient() {
    const THRESHOLD: f64 = 1.0;
    use gshn_snn::neuron::{LifConfig, NeuronBaseConfig, NeuronConfig};
    use gshn_train::model::config::StlMode;
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let (data, vocab) = small_data(8, &GshnConfig::default());
    let mut cfg = narrow_config(&vocab);
    cfg.loss = cfg.loss.stl_only();
    cfg.loss.stl_mode = StlMode::SpikedWords;
    // The default threshold leaves some projected words silent over all T steps; before
    // silent words left the mean, this batch's gradient norm was 5e10.
    cfg.snn.neuron = NeuronConfig::Lif(LifConfig::new().with_base(NeuronBaseConfig::new().with_threshold(THRESHOLD)));
    device.seed(5);
    let model = cfg.init(&device).unwrap();
    let batch = GshnBatcher::new(&cfg, vocab.clone()).batch(&data.refs(&(0..8).collect::<Vec<_>>()), &mut gshn_snn::rng::SeedRng::new(2), &device).unwrap();
    let losses = model.losses(&batch).unwrap();
    let stl: f32 = losses.get("stl").cloned().unwrap().into_scalar();
    assert!(stl.is_finite(), "STL loss {stl}");
    let grads = all_grads(&model, &losses.total.backward());
    let norm = grads.iter().map(|g| (*g as f64).powi(2)).sum::<f64>().sqrt();
    assert!(grads.iter().all(|g| g.is_finite()) && norm < 1e3, "gradient norm {norm:e}");
}

/// STL trains the CLIP logit scale it shares with the main stage and fills AdamW's moments;
/// the main stage starts from neither: the scale back at its initial value and fresh moments,
/// as in a run without STL, with what STL taught the other weights kept.
#[test]
fn the_main_stage_starts_from_the_same_state_with_or_without_stl() {
    use gshn_train::cli::train::{enter_main_stage, optimizer, train_step};
    use gshn_train::loss::LOGIT_SCALE_INIT;
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let (data, vocab) = small_data(8, &GshnConfig::default());
    let cfg = narrow_config(&vocab);
    let tc = TrainConfig::default();
    device.seed(7);
    let mut model = cfg.init(&device).unwrap();
    let fresh = optimizer(&tc);
    let mut optim = optimizer(&tc);
    let batch = GshnBatcher::new(&cfg, vocab.clone()).batch(&data.refs(&(0..8).collect::<Vec<_>>()), &mut gshn_snn::rng::SeedRng::new(3), &device).unwrap();
    let stl = cfg.loss.stl_only();
    let init = model.logit_scale.value();
    assert!((init - LOGIT_SCALE_INIT.exp()).abs() < 1e-3);
    let words_before = values(&model.stl_words.weight.val());
    for _ in 0..3 {
        (model, _) = train_step(model, &mut optim, &batch, Some(&stl), 1e-2).unwrap();
    }
    assert_ne!(model.logit_scale.value(), init, "STL moves the shared logit scale");
    assert!(!optim.to_record().is_empty(), "STL fills the optimiser's moments");
    let words_after = values(&model.stl_words.weight.val());
    let (model, optim) = enter_main_stage(model, &tc, &device);
    assert_eq!(model.logit_scale.value(), init, "the main stage starts from the initial scale");
    assert_eq!(optim.to_record().len(), fresh.to_record().len(), "and from fresh moments");
    assert!(optim.to_record().is_empty());
    assert_eq!(values(&model.stl_words.weight.val()), words_after, "what STL learned is kept");
    assert_ne!(words_before, words_after);
}

/// What a spike count becomes after each norm. Two nodes each averaging 4 in-neighbours and
/// themselves: one neighbour of node 8 spiked, three of node 9's, so their currents are
/// `w/5` and `3w/5` (zero bias). LayerNorm per (step, node) is scale-invariant: it gives both
/// nodes the same current, erasing the count — what rate coding carries. Threshold-dependent
/// BatchNorm (running statistics at evaluation) and the learned gain are affine per channel
/// and keep the two apart, in order. (docs/results.md says which norm each grid used.)
#[test]
fn per_step_layer_norm_erases_spike_counts_and_threshold_bn_keeps_them() {
    use gshn_train::model::config::{Activation, SpikeNorm};
    use gshn_train::model::spiking_graph::{FoldedEdges, LayerInput, SpikingGraphConvConfig};
    let device = Device::flex();
    let edges = gshn_graph::EdgeList::new(10, [(0, 8), (1, 8), (2, 8), (3, 8), (4, 9), (5, 9), (6, 9), (7, 9)]).unwrap();
    let folded = FoldedEdges::new(&edges, 1, &device);
    let mut x = vec![0.0f32; 10 * 4];
    for node in [0, 4, 5, 6] {
        x[node * 4..node * 4 + 4].fill(1.0);
    }
    let x = Tensor::<3>::from_data(burn::tensor::TensorData::new(x, [1, 10, 4]), &device);
    for (norm, keeps) in [(SpikeNorm::LayerNorm, false), (SpikeNorm::ThresholdBn, true), (SpikeNorm::Gain, true), (SpikeNorm::None, true)] {
        let mut layer = SpikingGraphConvConfig::new(4, 8).with_norm(norm).with_activation(Activation::Relu).init(&device).unwrap();
        layer.linear.bias = None;
        // Fixed weights (the device's random stream is shared with the tests running beside).
        let w: Vec<f32> = (0..32).map(|i| (i as f32 * 0.37).sin()).collect();
        layer.linear.weight = burn::module::Param::from_tensor(Tensor::<2>::from_data(burn::tensor::TensorData::new(w, [4, 8]), &device));
        let out = layer.forward(LayerInput::Steps(x.clone()), &folded, Tensor::ones([10, 1], &device)).unwrap();
        let current = values(&out.membrane);
        let (c8, c9) = (&current[8 * 8..9 * 8], &current[9 * 8..10 * 8]);
        let gap = c8.iter().zip(c9).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        if keeps {
            assert!(gap > 1e-2, "{norm:?} erased the spike count: {c8:?} vs {c9:?}");
            // Three spikes drive three times what one does.
            let ratio = c9.iter().zip(c8).filter(|(_, a)| a.abs() > 1e-3).map(|(b, a)| b / a).fold(0.0f32, f32::max);
            assert!((ratio - 3.0).abs() < 1e-3 || norm == SpikeNorm::Gain, "{norm:?}: ratio {ratio}");
        } else {
            // Equal but for LayerNorm's ε: (a − μ)/√(σ² + ε) against (a − μ)/√(σ² + ε/9) for the
            // tripled current, a relative difference of about 4ε/(9σ²): 2.5e-3 here (σ² ≈ 2e-3),
            // where the norms that keep the count differ by O(1).
            assert!(gap < 1e-2, "{norm:?} was expected to map both counts to one current: {c8:?} vs {c9:?}");
        }
    }
}

/// The scratch text encoder's transformer (`model::transformer`, the fast-dropout path) is
/// Burn's `TransformerEncoder` op for op: without dropout, and in evaluation with it, the same
/// bits forward and backward as `TransformerEncoder::forward`.
#[test]
fn the_text_transformer_is_burns_op_for_op() {
    use burn::tensor::{Bool, Int, TensorData};
    use gshn_train::model::TextEncoderConfig;
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let train = Device::flex().autodiff();
    train.seed(3);
    let (b, l, vocab) = (3, 7, 40);
    let ids: Vec<i64> = (0..b * l).map(|i| 2 + (i as i64 * 7919) % (vocab as i64 - 2)).collect();
    let pad: Vec<bool> = (0..b * l).map(|i| i / l == 0 && i % l >= 5).collect();
    for (dropout, device) in [(0.0, train.clone()), (0.1, Device::flex())] {
        let burn = TextEncoderConfig::new(vocab).with_d_model(16).with_heads(4).with_layers(2).with_dropout(dropout).with_fast_dropout(false).init(&device);
        let fast = gshn_train::model::TextEncoder { fast_dropout: true, ..burn.clone() };
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [b, l]), &device);
        let pad = Tensor::<2, Bool>::from_data(TensorData::new(pad.clone(), [b, l]), &device);
        let (tokens_b, sentence_b) = burn.forward(ids.clone(), pad.clone());
        let (tokens_f, sentence_f) = fast.forward(ids.clone(), pad.clone());
        assert_eq!(values(&tokens_b), values(&tokens_f), "tokens, dropout {dropout}");
        assert_eq!(values(&sentence_b), values(&sentence_f), "sentence, dropout {dropout}");
        if device.is_autodiff() {
            let weights = Tensor::<3>::from_data(TensorData::new((0..b * l * 16).map(|i| (i as f32 * 0.37).sin()).collect::<Vec<f32>>(), [b, l, 16]), &device);
            let (gb, gf) = ((tokens_b * weights.clone()).sum().backward(), (tokens_f * weights).sum().backward());
            let grad = |m: &gshn_train::model::TextEncoder, g: &burn::tensor::Gradients| {
                let layer = &m.encoder.layers[1];
                let matrices = [m.words.weight.val().grad(g), layer.mha.query.weight.val().grad(g), layer.pwff.linear_inner.weight.val().grad(g)]
                    .map(|t| values(&t.expect("a gradient")));
                (matrices, values(&layer.norm_2.gamma.val().grad(g).expect("a gradient")))
            };
            assert_eq!(grad(&burn, &gb), grad(&fast, &gf), "gradients");
        }
    }
}

/// `model::dropout` on flex during training: each element kept with probability `1 − p` and
/// scaled by `1/(1 − p)`, its gradient the mask; the same device seed gives the same mask, and
/// a new seed (the trainer seeds per step) another; outside training it is the identity.
#[test]
fn fast_dropout_keeps_the_asked_share_and_follows_the_device_seed() {
    use burn::nn::DropoutConfig;
    use gshn_train::model::dropout::dropout;
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let layer = DropoutConfig::new(0.3).init();
    let draw = |seed: u64| {
        device.seed(seed);
        let x = Tensor::<2>::ones([400, 250], &device).require_grad();
        let y = dropout(&layer, x.clone());
        let grad = y.clone().sum().backward();
        (values(&y), values(&x.grad(&grad).unwrap()))
    };
    let (y, g) = draw(11);
    assert_eq!(y, g, "the gradient of Σ y is the mask");
    let keep = (1.0f64 / (1.0 - 0.3)) as f32;
    assert!(y.iter().all(|&v| v == 0.0 || v == keep), "values are 0 or 1/(1 − p)");
    let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / y.len() as f64;
    assert!((kept - 0.7).abs() < 0.01, "kept {kept}");
    assert_eq!(draw(11).0, y, "the same seed, the same mask");
    let other = draw(12).0;
    let agree = y.iter().zip(&other).filter(|(a, b)| a == b).count() as f64 / y.len() as f64;
    assert!(agree < 0.7, "another seed, another mask (agree on {agree})");
    let eval = Tensor::<2>::ones([4, 5], &Device::flex());
    assert_eq!(values(&dropout(&layer, eval.clone())), values(&eval));
}
