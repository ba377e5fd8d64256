//! Encoders, the spiking linear layer, statistics and save/load.

mod common;

use burn::module::Module;
use burn::tensor::Tensor;
use common::{backends, flex, tensor, values};
use gshn_snn::encoder::{latency_straight_through, learned_temporal, rate_straight_through, EncoderConfig, Encoding, LatencyMode};
use gshn_snn::layer::{first_spike_readout, fold_time, membrane_readout, rate_readout, unfold_time, SpikingLinearConfig};
use gshn_snn::neuron::{NeuronConfig, PlifConfig};
use gshn_snn::rng::SeedRng;
use gshn_snn::stats::{EnergyModel, LayerStats};
use gshn_snn::SnnError;
use proptest::prelude::*;

#[test]
fn direct_encoding_repeats_the_input() {
    let device = flex();
    let enc = EncoderConfig::new().with_time_steps(3).init().unwrap();
    let x = tensor(&[0.1, 0.2, 0.3, 0.4], [2, 2], &device);
    let y: Tensor<3> = enc.encode(x, &mut SeedRng::new(0)).unwrap();
    assert_eq!(y.dims(), [3, 2, 2]);
    assert_eq!(values(&y), [0.1, 0.2, 0.3, 0.4].repeat(3));
}

#[test]
fn rate_encoding_is_seeded_and_has_the_right_rate() {
    let device = flex();
    let enc = EncoderConfig::new().with_time_steps(200).with_encoding(Encoding::Rate).init().unwrap();
    let x = tensor(&[0.0, 0.25, 0.75, 1.0, 1.7, -0.3], [6], &device);
    let a: Tensor<2> = enc.encode(x.clone(), &mut SeedRng::new(42)).unwrap();
    let b: Tensor<2> = enc.encode(x.clone(), &mut SeedRng::new(42)).unwrap();
    let c: Tensor<2> = enc.encode(x, &mut SeedRng::new(43)).unwrap();
    assert_eq!(values(&a), values(&b), "same seed, same spikes");
    assert_ne!(values(&a), values(&c), "another seed, other spikes");
    let rates = values(&rate_readout(a.unsqueeze_dim::<3>(2)).squeeze_dim::<1>(1));
    let want = [0.0, 0.25, 0.75, 1.0, 1.0, 0.0];
    for (r, w) in rates.iter().zip(want) {
        // 200 Bernoulli draws: 4 standard deviations ≤ 0.13.
        assert!((r - w).abs() <= 0.13, "rate {r} vs p {w}");
    }
    assert!(values(&b).iter().all(|&v| v == 0.0 || v == 1.0));
}

#[test]
fn latency_encoding_matches_hand_computed_spike_times() {
    let device = flex();
    let x = tensor(&[1.0, 0.0, 0.5, 0.8], [4], &device);
    // Linear, T = 5: t_f = round(4·(1 − x)) = 0, 4, 2, round(0.8) = 1.
    let enc = EncoderConfig::new().with_time_steps(5).with_encoding(Encoding::Latency(LatencyMode::Linear)).init().unwrap();
    let s: Tensor<2> = enc.encode(x.clone(), &mut SeedRng::new(0)).unwrap();
    assert_eq!(first_spikes(&values(&s), 5, 4), vec![0, 4, 2, 1]);
    // Log, T = 5: α = e⁴ − 1; t_f = round(4 − ln(αx + 1)): x=1 → 0, x=0 → 4,
    // x=0.5 → round(4 − ln(27.80)) = round(0.675) = 1, x=0.8 → round(4 − ln(43.08)) = round(0.237) = 0.
    let enc = EncoderConfig::new().with_time_steps(5).with_encoding(Encoding::Latency(LatencyMode::Log)).init().unwrap();
    let s: Tensor<2> = enc.encode(x, &mut SeedRng::new(0)).unwrap();
    assert_eq!(first_spikes(&values(&s), 5, 4), vec![0, 4, 1, 0]);
    // Exactly one spike per input.
    assert_eq!(values(&s).iter().sum::<f32>(), 4.0);
}

fn first_spikes(s: &[f32], t: usize, n: usize) -> Vec<usize> {
    (0..n).map(|j| (0..t).find(|&i| s[i * n + j] == 1.0).expect("one spike")).collect()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The GSHN branch's straight-through encoders: spike times by hand, and the gradient of
/// `Σ_t s_t` is `T·σ'(x)` (the sigmoid's, passed straight through the spikes).
#[test]
fn straight_through_latency_fires_at_the_hand_computed_step_and_passes_the_sigmoid_gradient() {
    for (name, device) in backends() {
        let device = device.autodiff();
        let xs = [0.0f32, 10.0, -10.0, 1.0];
        let x = tensor(&xs, [1, 4], &device).require_grad();
        let s = latency_straight_through(x.clone(), 4).unwrap();
        assert_eq!(s.dims(), [4, 1, 4]);
        // ⌊(1 − σ(x))·4⌋: σ(0) = 0.5 → 2; σ(10) → 0; σ(−10) → 3 (the last step); σ(1) = 0.731 → 1.
        assert_eq!(first_spikes(&values(&s), 4, 4), [2, 0, 3, 1], "{name}");
        assert_eq!(values(&s).iter().sum::<f32>(), 4.0, "{name}: one spike per feature");
        let grads = s.sum().backward();
        let g = values(&x.grad(&grads).unwrap());
        for (gi, xi) in g.iter().zip(xs) {
            let want = 4.0 * sigmoid(xi) * (1.0 - sigmoid(xi));
            assert!((gi - want).abs() < 1e-5, "{name}: gradient {gi} vs 4σ'(x) = {want}");
        }
    }
}

#[test]
fn straight_through_rate_fires_at_sigma_x_and_passes_the_sigmoid_gradient() {
    let device = flex().autodiff();
    device.seed(7);
    let xs = [-20.0f32, 0.0, 1.5, 20.0];
    let t = 400;
    let x = tensor(&xs, [1, 4], &device).require_grad();
    let s = rate_straight_through(x.clone(), t).unwrap();
    let v = values(&s);
    assert!(v.iter().all(|&a| a == 0.0 || a == 1.0), "forward values are spikes");
    let rates = values(&rate_readout(s.clone()));
    for (r, xi) in rates.iter().zip(xs) {
        // 400 Bernoulli draws: 4 standard deviations ≤ 0.1.
        assert!((r - sigmoid(xi)).abs() <= 0.1, "rate {r} vs σ(x) = {}", sigmoid(xi));
    }
    let grads = s.sum().backward();
    let g = values(&x.grad(&grads).unwrap());
    for (gi, xi) in g.iter().zip(xs) {
        let want = t as f32 * sigmoid(xi) * (1.0 - sigmoid(xi));
        assert!((gi - want).abs() <= 1e-3 * want.max(1.0), "gradient {gi} vs Tσ'(x) = {want}");
    }
}

#[test]
fn learned_temporal_encoding_by_hand_and_its_shape_errors() {
    let device = flex();
    let x = tensor(&[1.0, 2.0], [1, 2], &device);
    // T = 2: gains [[0, 1], [−1, 0]], biases [[0, 0], [3, −2]].
    let gb = tensor(&[0.0, 1.0, -1.0, 0.0, 0.0, 0.0, 3.0, -2.0], [2, 2, 2], &device);
    let y = learned_temporal(x.clone(), gb).unwrap();
    assert_eq!(y.dims(), [2, 1, 2]);
    assert_eq!(values(&y), [1.0, 4.0, 3.0, 0.0]);
    let zero = learned_temporal(x.clone(), Tensor::zeros([2, 3, 2], &device)).unwrap();
    assert_eq!(values(&zero), [1.0, 2.0].repeat(3), "zero gains and biases: direct coding");
    let err = learned_temporal(x.clone(), Tensor::zeros([2, 3, 5], &device)).unwrap_err();
    assert!(err.to_string().contains("[2, T, 2]"), "{err}");
    assert!(matches!(rate_straight_through(x.clone(), 0), Err(SnnError::ZeroTimeSteps)));
    assert!(matches!(latency_straight_through(x, 0), Err(SnnError::ZeroTimeSteps)));
}

#[test]
fn readouts_by_hand() {
    let device = flex();
    // One neuron per column, T = 4: spikes at t = 1, 2; none; at t = 0, 3.
    let s = tensor(&[0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0], [4, 1, 3], &device);
    assert_eq!(values(&first_spike_readout(s.clone())), [0.75, 0.0, 1.0], "(T − t)/T of the first spike");
    assert_eq!(values(&rate_readout(s)), [0.5, 0.0, 0.5]);
    let m = tensor(&[1.0, -2.0, 3.0, 0.0], [4, 1, 1], &device);
    assert_eq!(values(&membrane_readout(m)), [0.5]);
}

#[test]
fn encoder_errors() {
    assert_eq!(EncoderConfig::new().with_time_steps(0).init().unwrap_err(), SnnError::ZeroTimeSteps);
    let enc = EncoderConfig::new().init().unwrap();
    let r: Result<Tensor<3>, _> = enc.encode(Tensor::<1>::zeros([3], &flex()), &mut SeedRng::new(0));
    assert!(matches!(r, Err(SnnError::ShapeMismatch(_))));
}

#[test]
fn spiking_linear_folds_time_and_counts_operations() {
    let device = flex();
    let layer = SpikingLinearConfig::new(3, 2).init(&device).unwrap();
    // Input spikes: T=2, N=1, F=3 with 4 spikes in all; fan-out 2 → 8 SOPs.
    let x = tensor(&[1.0, 0.0, 1.0, 1.0, 1.0, 0.0], [2, 1, 3], &device);
    let (s, stats) = layer.forward_with_stats(x.clone(), true, "fc1").unwrap();
    assert_eq!(s.dims(), [2, 1, 2]);
    assert_eq!(stats.sops, 8.0);
    assert_eq!(stats.macs, 0.0);
    assert_eq!(stats.neuron_steps, 4.0);
    assert_eq!(stats.spikes, values(&s).iter().sum::<f32>() as f64);
    // Real-valued input: 6 values × fan-out 2 = 12 MACs.
    let (_, stats) = layer.forward_with_stats(x, false, "fc1").unwrap();
    assert_eq!((stats.macs, stats.sops), (12.0, 0.0));
    let e = stats.energy_pj(&EnergyModel::fp32_45nm());
    assert!((e - 12.0 * 4.6).abs() < 1e-9);

    let err = layer.forward(Tensor::<3>::zeros([2, 1, 4], &device)).unwrap_err();
    assert!(matches!(err, SnnError::ShapeMismatch(_)), "{err}");
    assert!(SpikingLinearConfig::new(0, 2).init(&device).is_err());
}

#[test]
fn stats_accumulate_and_rates() {
    let mut a = LayerStats { name: "l".into(), spikes: 3.0, neuron_steps: 10.0, sops: 5.0, macs: 0.0 };
    let b = LayerStats { name: "l".into(), spikes: 1.0, neuron_steps: 10.0, sops: 1.0, macs: 2.0 };
    a.accumulate(&b);
    assert_eq!(a.firing_rate(), 0.2);
    assert_eq!((a.sops, a.macs), (6.0, 2.0));
}

#[test]
fn time_folding_round_trips() {
    let device = flex();
    let x = Tensor::<3>::random([4, 3, 5], burn::tensor::Distribution::Default, &device);
    let back = unfold_time(fold_time(x.clone()), 4).unwrap();
    assert_eq!(values(&x), values(&back));
    assert!(unfold_time(Tensor::<2>::zeros([7, 2], &device), 2).is_err());
}

#[test]
fn saved_then_loaded_layer_gives_the_same_output() {
    let device = flex();
    let cfg = SpikingLinearConfig::new(6, 4).with_neuron(NeuronConfig::Plif(PlifConfig::new().with_init_tau(3.0)));
    let layer = cfg.init(&device).unwrap();
    let x = Tensor::<3>::random([4, 5, 6], burn::tensor::Distribution::Uniform(0.0, 2.0), &device);
    let before = values(&layer.forward(x.clone()).unwrap());
    let dir = std::env::temp_dir().join(format!("gshn-snn-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("layer.bpk");
    layer.save_file(&path).unwrap();
    let fresh = cfg.init(&device).unwrap();
    let loaded = fresh.try_load_file(&path).unwrap();
    assert_eq!(before, values(&loaded.forward(x).unwrap()));
    std::fs::remove_dir_all(&dir).ok();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn encoders_emit_zero_or_one(xs in proptest::collection::vec(-1.0f32..2.0, 12), t in 1usize..9, seed in any::<u64>()) {
        let device = flex();
        for enc in [Encoding::Rate, Encoding::Latency(LatencyMode::Linear), Encoding::Latency(LatencyMode::Log)] {
            let e = EncoderConfig::new().with_time_steps(t).with_encoding(enc).init().unwrap();
            let s: Tensor<3> = e.encode(tensor(&xs, [3, 4], &device), &mut SeedRng::new(seed)).unwrap();
            prop_assert_eq!(s.dims(), [t, 3, 4]);
            prop_assert!(values(&s).iter().all(|&v| v == 0.0 || v == 1.0));
        }
    }
}
