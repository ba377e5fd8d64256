//! Every ablation knob changes what its name says (issue 14): the fusion weight `r` is the
//! branches' relative weight and gets a gradient; the encodings feed time-varying inputs; the
//! readouts, norms and the ReLU twin change the spiking branch; the STL readings differ; the
//! false-negative mask removes exactly the in-batch pairs whose caption is true of both.

use burn::tensor::{Device, Tensor};
use gshn_snn::rng::SeedRng;
use gshn_train::data::segments::{shapeworld_dataset, SegmentsConfig};
use gshn_train::data::shapeworld::{generate, ShapeWorldConfig, Split};
use gshn_train::dataset::Dataset;
use gshn_train::model::config::{Activation, Encoding, FusionMode, Readout, SpikeNorm, StlMode};
use gshn_train::model::{GshnConfig, Vocab};
use gshn_train::GshnBatcher;

static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn data(n: usize) -> (Dataset, Vocab) {
    let d = shapeworld_dataset(&generate(&ShapeWorldConfig::default(), 8, Split::Train, n), &SegmentsConfig::default(), &GshnConfig::default().tokens).unwrap();
    let v = Vocab::build(d.texts());
    (d, v)
}

fn config(vocab: &Vocab) -> GshnConfig {
    let mut c = GshnConfig::default().with_vocab_size(vocab.len()).with_answers(18);
    c.d_model = 16;
    c.embed_dim = 8;
    c.text.width = 16;
    c.text.dropout = 0.0;
    c
}

fn differ(a: &[f32], b: &[f32]) -> bool {
    a.iter().zip(b).any(|(x, y)| (x - y).abs() > 1e-5)
}

#[test]
fn r_is_the_branches_relative_weight_and_learns() {
    let _g = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let (d, vocab) = data(6);
    let base = config(&vocab);
    let idx: Vec<usize> = (0..6).collect();
    for mode in [FusionMode::Scalar, FusionMode::PerChannel, FusionMode::Convex, FusionMode::Fixed] {
        let mut cfg = base.clone();
        cfg.fusion.mode = mode;
        cfg.fusion.r = if mode == FusionMode::Convex { 0.5 } else { 1.0 };
        device.seed(1);
        let model = cfg.init(&device).unwrap();
        let batcher = GshnBatcher::new(&cfg, vocab.clone());
        let batch = batcher.batch(&d.refs(&idx), &mut SeedRng::new(2), &device).unwrap();
        let embed = |m: &gshn_train::Gshn| values(&m.encode_images(&batch.images).unwrap().embedding);
        let before = embed(&model);
        // The same model with only r changed computes another function…
        let mut other = cfg.clone();
        other.fusion.r = if mode == FusionMode::Convex { 0.8 } else { 3.0 };
        device.seed(1);
        let changed = other.init(&device).unwrap();
        assert!(differ(&before, &embed(&changed)), "{mode:?}: r changes the output");
        // …and scaling the spiking branch's readout (which could absorb an unnormalised r)
        // does not change it: the branches are normalised before the fusion.
        let mut scaled = model.clone();
        let snn = scaled.snn.as_mut().unwrap();
        snn.readout.weight = snn.readout.weight.clone().map(|w| w.mul_scalar(7.0));
        if let Some(b) = snn.readout.bias.as_mut() {
            *b = b.clone().map(|b| b.mul_scalar(7.0));
        }
        let after = embed(&scaled);
        let worst = before.iter().zip(&after).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 2e-3, "{mode:?}: a rescaled readout leaves V' as it was (up to the normalisation's ε): {worst}");
        if mode == FusionMode::Scalar {
            // Without the normalisation the readout's scale is r's scale: the two are one
            // degree of freedom (r is absorbed).
            let mut raw = cfg.clone();
            raw.fusion.normalize = false;
            device.seed(1);
            let m = raw.init(&device).unwrap();
            let mut s7 = m.clone();
            let snn = s7.snn.as_mut().unwrap();
            snn.readout.weight = snn.readout.weight.clone().map(|w| w.mul_scalar(7.0));
            if let Some(b) = snn.readout.bias.as_mut() {
                *b = b.clone().map(|b| b.mul_scalar(7.0));
            }
            let mut r7 = m.clone();
            r7.fusion.r = r7.fusion.r.clone().map(|r| r.mul_scalar(7.0));
            let (a, b) = (embed(&s7), embed(&r7));
            assert!(differ(&embed(&m), &a) && !differ(&a, &b), "unnormalised: scaling the readout equals scaling r");
        }
        // The gradient reaches r unless it is fixed.
        let losses = model.losses(&batch).unwrap();
        let grads = losses.total.backward();
        let g = model.fusion.r.val().grad(&grads);
        match mode {
            FusionMode::Fixed => assert!(g.is_none() || values(&g.unwrap()).iter().all(|v| *v == 0.0), "a fixed r gets no gradient"),
            _ => assert!(g.is_some_and(|g| values(&g).iter().any(|v| v.abs() > 0.0)), "{mode:?}: the gradient reaches r"),
        }
    }
}

#[test]
fn encodings_readouts_norms_and_the_twin_change_the_spiking_branch() {
    let _g = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let (d, vocab) = data(4);
    let idx: Vec<usize> = (0..4).collect();
    let run = |f: &dyn Fn(&mut GshnConfig)| {
        let mut cfg = config(&vocab);
        f(&mut cfg);
        device.seed(5);
        let model = cfg.init(&device).unwrap();
        let batch = GshnBatcher::new(&cfg, vocab.clone()).images(&d.refs(&idx), &device).unwrap();
        let out = model.encode_images(&batch).unwrap();
        (values(&out.snn_nodes.clone().unwrap()), out)
    };
    let (direct, out) = run(&|_| {});
    let input = out.snn_input.unwrap();
    let [t, ..] = input.dims();
    let steps: Vec<Vec<f32>> = input.chunk(t, 0).iter().map(values).collect();
    assert!(steps.windows(2).all(|w| w[0] == w[1]), "direct: the same input at every step");
    for enc in [Encoding::Rate, Encoding::Latency] {
        let (e, out) = run(&|c| c.snn.encoding = enc);
        assert!(differ(&direct, &e), "{enc:?} changes E_SNN");
        let input = out.snn_input.unwrap();
        let v = values(&input);
        assert!(v.iter().all(|&x| x == 0.0 || x == 1.0), "{enc:?}: the input is spikes");
        let steps: Vec<Vec<f32>> = input.clone().chunk(t, 0).iter().map(values).collect();
        assert!(steps.windows(2).any(|w| w[0] != w[1]), "{enc:?}: the input varies over time");
        if enc == Encoding::Latency {
            let per_feature: Vec<f32> = values(&input.sum_dim(0));
            assert!(per_feature.iter().all(|&s| s == 1.0), "latency: one spike per feature");
        }
    }
    let (learned, _) = run(&|c| c.snn.encoding = Encoding::Learned);
    assert!(!differ(&direct, &learned), "the learned encoding starts as direct encoding");
    for readout in [Readout::Membrane, Readout::FirstSpike] {
        assert!(differ(&direct, &run(&|c| c.snn.readout = readout).0), "{readout:?} changes E_SNN");
    }
    for norm in [SpikeNorm::ThresholdBn, SpikeNorm::Gain, SpikeNorm::None] {
        assert!(differ(&direct, &run(&|c| c.snn.norm = norm).0), "{norm:?} changes E_SNN");
    }
    let (twin, out) = run(&|c| {
        c.snn.activation = Activation::Relu;
        c.snn.time_steps = 1;
    });
    assert!(differ(&direct, &twin));
    let a = values(&out.spikes[0]);
    assert!(a.iter().any(|&x| x != 0.0 && x != 1.0), "the twin's activations are not spikes");
    assert_eq!(out.spikes[0].dims()[0], 1, "the twin runs one step");
}

#[test]
fn stl_readings_differ_and_false_negatives_are_masked() {
    let _g = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let (d, vocab) = data(16);
    let idx: Vec<usize> = (0..16).collect();
    let stl = |mode: StlMode| {
        let mut cfg = config(&vocab);
        cfg.loss.stl_mode = mode;
        device.seed(3);
        let model = cfg.init(&device).unwrap();
        let batch = GshnBatcher::new(&cfg, vocab.clone()).batch(&d.refs(&idx), &mut SeedRng::new(4), &device).unwrap();
        let l = model
            .losses_with(&batch, &gshn_train::model::config::LossConfig { stl_mode: mode, ..gshn_train::model::config::LossConfig::default().stl_only() })
            .unwrap();
        l.get("stl").cloned().unwrap().into_scalar::<f32>()
    };
    let (w, s, k) = (stl(StlMode::WordSegment), stl(StlMode::Sentence), stl(StlMode::SpikedWords));
    assert!(w.is_finite() && s.is_finite() && k.is_finite());
    assert!((w - s).abs() > 1e-4 && (w - k).abs() > 1e-4, "{w} {s} {k}");
    // ShapeWorld's claims tell which captions are also true of other images in the batch.
    let cfg = config(&vocab);
    let batcher = GshnBatcher::new(&cfg, vocab.clone());
    let mut found = None;
    for seed in 0..50 {
        let b = batcher.batch(&d.refs(&idx), &mut SeedRng::new(seed), &device).unwrap();
        let p = values(&b.positives.clone().unwrap().float());
        if p.iter().sum::<f32>() > 16.0 {
            found = Some(b);
            break;
        }
    }
    let batch = found.expect("a batch with an in-batch false negative");
    let p = values(&batch.positives.clone().unwrap().float());
    assert!((0..16).all(|i| p[i * 16 + i] == 1.0), "a caption is true of its own image");
    device.seed(3);
    let model = cfg.init(&device).unwrap();
    let mut masked = cfg.loss.clone();
    masked.mask_false_negatives = true;
    let plain = model.losses(&batch).unwrap().get("clip").cloned().unwrap().into_scalar::<f32>();
    let without = model.losses_with(&batch, &masked).unwrap().get("clip").cloned().unwrap().into_scalar::<f32>();
    assert!((plain - without).abs() > 1e-6, "masking false negatives changes the CLIP loss ({plain} vs {without})");
}

/// The runner's STL stage takes its weights from `LossConfig::stl_only`, which must keep the
/// configured STL reading and masking (it once reset them to the defaults, so every STL
/// variant trained the word–segment reading).
#[test]
fn the_stl_stage_keeps_the_configured_reading() {
    use gshn_train::model::config::{LossConfig, StlMode};
    for mode in [StlMode::WordSegment, StlMode::Sentence, StlMode::SpikedWords] {
        let w = LossConfig { stl_mode: mode, mask_false_negatives: true, ..LossConfig::default() }.stl_only();
        assert_eq!((w.stl_mode, w.mask_false_negatives), (mode, true));
        assert_eq!((w.clip, w.stl, w.vqa, w.node), (0.0, 1.0, 0.0, 0.0));
    }
}
