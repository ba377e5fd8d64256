//! The fused multi-step neuron (`gshn_snn::fused`) against the per-step path
//! (`SpikingNeuron::forward_unfused`): spikes exactly, membrane and gradients (input, start
//! state, PLIF's weight) to 1e-5, over every model, reset mode and timing, `detach_reset`,
//! fire condition and surrogate, on flex and on wgpu.

mod common;

use burn::tensor::{Device, Tensor};
use common::{assert_close, tensor, values};
use gshn_snn::neuron::*;
use gshn_snn::rng::SeedRng;
use gshn_snn::surrogate::{FireCondition, Surrogate};

const SURROGATES: [Surrogate; 5] = [
    Surrogate::ATan { alpha: 2.0 },
    Surrogate::Sigmoid { alpha: 4.0 },
    Surrogate::FastSigmoid { slope: 5.0 },
    Surrogate::PiecewiseQuadratic { alpha: 1.0 },
    Surrogate::StraightThrough,
];

/// The models: IF, LIF (τ with and without decay_input, β), PLIF (with and without).
fn model(kind: usize, base: NeuronBaseConfig) -> NeuronConfig {
    match kind {
        0 => NeuronConfig::If(IfConfig::new().with_base(base)),
        1 => NeuronConfig::Lif(LifConfig::new().with_leak(Leak::Tau { tau: 2.0, decay_input: true }).with_base(base)),
        2 => NeuronConfig::Lif(LifConfig::new().with_leak(Leak::Tau { tau: 3.0, decay_input: false }).with_base(base)),
        3 => NeuronConfig::Lif(LifConfig::new().with_leak(Leak::Beta { beta: 0.8 }).with_base(base)),
        4 => NeuronConfig::Plif(PlifConfig::new().with_init_tau(2.5).with_base(base)),
        _ => NeuronConfig::Plif(PlifConfig::new().with_init_tau(3.0).with_decay_input(false).with_base(base)),
    }
}

const MODELS: usize = 6;

/// Random values (mean `mean`, std `std`), with some set so that an IF neuron hits the
/// threshold exactly (0.5 + 0.5 = 1.0), where `≥` and `>` differ.
fn random(rng: &mut SeedRng, len: usize, mean: f64, std: f64) -> Vec<f32> {
    (0..len).map(|i| if i % 11 == 3 { 0.5 } else { (mean + std * rng.normal()) as f32 }).collect()
}

struct Run {
    spikes: Vec<f32>,
    membrane: Vec<f32>,
    grad_x: Vec<f32>,
    grad_v0: Vec<f32>,
    grad_s0: Vec<f32>,
    grad_w: Option<f32>,
    /// Spikes and `∂L/∂x` of `forward` (spikes only).
    spikes_only: Vec<f32>,
    grad_x_spikes_only: Vec<f32>,
}

/// Two chunks of `T` steps (the second from the first's state, gradients flowing through it),
/// then `forward` alone; fused or not.
fn run(cfg: &NeuronConfig, fused: bool, t: usize, n: usize, seed: u64, device: &Device) -> Run {
    let mut rng = SeedRng::new(seed);
    let xs = random(&mut rng, 2 * t * n, 0.6, 0.8);
    let gs = random(&mut rng, 2 * t * n, 0.0, 1.0);
    let gv = random(&mut rng, 2 * t * n, 0.0, 1.0);
    let neuron = cfg.init(device).unwrap();
    let go = |a: Tensor<2>, s: Option<NeuronState<2>>| if fused { neuron.forward_multi(a, s).unwrap() } else { neuron.forward_unfused(a, s).unwrap() };

    let x = tensor(&xs, [2 * t, n], device).require_grad();
    // A start state with gradient: the membrane is a function of a tracked tensor.
    let v_in = Tensor::<2>::from_data(burn::tensor::TensorData::new(random(&mut rng, n, 0.3, 0.4), [1, n]), device).require_grad();
    let first = go(x.clone().narrow(0, 0, t), None);
    let start = NeuronState { v: first.state.v.clone().add(v_in.clone()), spike: first.state.spike.clone() };
    let second = go(x.clone().narrow(0, t, t), Some(start));
    let spikes = Tensor::cat(vec![first.spikes, second.spikes], 0);
    let membrane = Tensor::cat(vec![first.membrane, second.membrane], 0);
    let loss = spikes.clone().mul(tensor(&gs, [2 * t, n], device)).sum() + membrane.clone().mul(tensor(&gv, [2 * t, n], device)).sum();
    let grads = loss.backward();
    let grad_x = values(&x.grad(&grads).expect("input gradient"));
    let grad_v0 = values(&v_in.grad(&grads).expect("start-state gradient"));
    let grad_w = match &neuron {
        Neuron::Plif(p) => Some(p.w.grad(&grads).expect("w gradient").into_scalar()),
        _ => None,
    };
    // The spike of the first chunk's last step, as the second chunk's start: its gradient
    // reaches x only through a delayed reset, so compare ∂L/∂S₀ through a fresh leaf too.
    let s_in = first.state.spike.clone().detach().require_grad();
    let third = go(x.clone().detach().narrow(0, 0, t), Some(NeuronState { v: first.state.v.clone().detach(), spike: s_in.clone() }));
    let loss3 = third.spikes.mul(tensor(&gs[..t * n], [t, n], device)).sum() + third.membrane.mul(tensor(&gv[..t * n], [t, n], device)).sum();
    let grads3 = loss3.backward();
    let grad_s0 = s_in.grad(&grads3).map(|g| values(&g)).unwrap_or_else(|| vec![0.0; n]);

    let x1 = tensor(&xs[..t * n], [t, n], device).require_grad();
    let cfg_spikes = if fused { neuron.forward(x1.clone()).unwrap() } else { neuron.forward_unfused(x1.clone(), None).unwrap().spikes };
    let grads1 = cfg_spikes.clone().mul(tensor(&gs[..t * n], [t, n], device)).sum().backward();
    Run {
        spikes: values(&spikes),
        membrane: values(&membrane),
        grad_x,
        grad_v0,
        grad_s0,
        grad_w,
        spikes_only: values(&cfg_spikes),
        grad_x_spikes_only: values(&x1.grad(&grads1).expect("input gradient")),
    }
}

fn compare(what: &str, cfg: &NeuronConfig, device: &Device) {
    compare_shape(what, cfg, 5, 37, device);
}

fn compare_shape(what: &str, cfg: &NeuronConfig, t: usize, n: usize, device: &Device) {
    let fused = run(cfg, true, t, n, 7, device);
    let plain = run(cfg, false, t, n, 7, device);
    assert_eq!(fused.spikes, plain.spikes, "{what}: spikes");
    assert_eq!(fused.spikes_only, plain.spikes_only, "{what}: forward spikes");
    assert_close(&format!("{what}: membrane"), &fused.membrane, &plain.membrane, 1e-5);
    assert_close(&format!("{what}: grad x"), &fused.grad_x, &plain.grad_x, 1e-5);
    assert_close(&format!("{what}: grad v0"), &fused.grad_v0, &plain.grad_v0, 1e-5);
    assert_close(&format!("{what}: grad s0"), &fused.grad_s0, &plain.grad_s0, 1e-5);
    assert_close(&format!("{what}: forward grad x"), &fused.grad_x_spikes_only, &plain.grad_x_spikes_only, 1e-5);
    match (fused.grad_w, plain.grad_w) {
        (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{what}: grad w {a} vs {b}"),
        (None, None) => {}
        other => panic!("{what}: grad w {other:?}"),
    }
    assert!(plain.spikes.contains(&1.0) && plain.spikes.contains(&0.0), "{what}: the case should both fire and stay silent");
}

fn base(reset: ResetMode, timing: ResetTiming, detach: bool, fire: FireCondition, surrogate: Surrogate) -> NeuronBaseConfig {
    NeuronBaseConfig::new()
        .with_reset(reset)
        .with_reset_value(if reset == ResetMode::Hard { -0.1 } else { 0.0 })
        .with_reset_timing(timing)
        .with_detach_reset(detach)
        .with_fire_condition(fire)
        .with_surrogate(surrogate)
}

/// Every combination on flex: 6 models × 3 resets × 2 timings × detach or not × 2 fire
/// conditions × 5 surrogates.
#[test]
fn fused_matches_unfused_on_flex_for_every_combination() {
    let device = common::flex().autodiff();
    let mut cases = 0;
    for kind in 0..MODELS {
        for reset in [ResetMode::Hard, ResetMode::Soft, ResetMode::None] {
            for timing in [ResetTiming::Immediate, ResetTiming::Delayed] {
                for detach in [false, true] {
                    for fire in [FireCondition::GreaterEqual, FireCondition::Greater] {
                        for surrogate in SURROGATES {
                            let cfg = model(kind, base(reset, timing, detach, fire, surrogate));
                            compare(&format!("{cfg:?}"), &cfg, &device);
                            cases += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(cases, 720);
}

/// Shapes that split into several chunks of neurons (the flex kernel's unit of work, 64 to
/// 1024 neurons depending on T), the last one partial; long and short runs.
#[test]
fn fused_matches_unfused_across_chunks_on_flex() {
    let device = common::flex().autodiff();
    for (t, n) in [(3, 2500), (40, 700), (300, 150)] {
        for cfg in [
            model(1, NeuronBaseConfig::new()),
            model(4, base(ResetMode::Soft, ResetTiming::Delayed, false, FireCondition::Greater, Surrogate::sigmoid())),
            model(5, base(ResetMode::Hard, ResetTiming::Delayed, false, FireCondition::GreaterEqual, Surrogate::atan())),
        ] {
            compare_shape(&format!("T {t} N {n} {cfg:?}"), &cfg, t, n, &device);
        }
    }
}

/// On wgpu every configuration compiles its own kernels (slow on lavapipe): each setting is
/// varied once from the default, and every model runs with every reset and timing.
#[test]
fn fused_matches_unfused_on_wgpu() {
    let Some(device) = common::wgpu() else { return };
    let device = device.autodiff();
    let d = || base(ResetMode::Hard, ResetTiming::Immediate, false, FireCondition::GreaterEqual, Surrogate::atan());
    let mut cfgs = Vec::new();
    for kind in 0..MODELS {
        for reset in [ResetMode::Hard, ResetMode::Soft, ResetMode::None] {
            for timing in [ResetTiming::Immediate, ResetTiming::Delayed] {
                cfgs.push(model(kind, d().with_reset(reset).with_reset_value(if reset == ResetMode::Hard { -0.1 } else { 0.0 }).with_reset_timing(timing)));
            }
        }
    }
    for surrogate in SURROGATES {
        cfgs.push(model(1, d().with_surrogate(surrogate)));
    }
    for timing in [ResetTiming::Immediate, ResetTiming::Delayed] {
        cfgs.push(model(4, d().with_reset_timing(timing).with_detach_reset(true)));
        cfgs.push(model(3, d().with_reset(ResetMode::Soft).with_reset_value(0.0).with_reset_timing(timing).with_detach_reset(true)));
        cfgs.push(model(0, d().with_reset_timing(timing).with_fire_condition(FireCondition::Greater)));
    }
    for cfg in &cfgs {
        compare(&format!("wgpu {cfg:?}"), cfg, &device);
    }
}

/// Without autodiff (inference) the fused op runs on the bare backend and gives the same
/// spikes and membrane.
#[test]
fn fused_matches_unfused_without_autodiff() {
    for (name, device) in common::backends() {
        let cfg = model(4, NeuronBaseConfig::new());
        let neuron = cfg.init(&device).unwrap();
        let mut rng = SeedRng::new(3);
        let x = tensor(&random(&mut rng, 6 * 50, 0.6, 0.8), [6, 5, 10], &device);
        let a = neuron.forward_multi(x.clone(), None).unwrap();
        let b = neuron.forward_unfused(x.clone(), None).unwrap();
        assert_eq!(values(&a.spikes), values(&b.spikes), "{name}");
        assert_eq!(values(&neuron.forward(x).unwrap()), values(&b.spikes), "{name}");
        assert_close(name, &values(&a.membrane), &values(&b.membrane), 1e-5);
        assert_eq!(a.state.v.dims(), [1, 50]);
    }
}

/// The fused kernel is what runs on f32 flex and wgpu tensors, and `fused = false` or another
/// dtype falls back to the per-step path.
#[test]
fn the_fused_path_is_taken_where_it_exists() {
    for (name, device) in common::backends() {
        let x = Tensor::<2>::zeros([2, 3], &device);
        assert!(gshn_snn::fused::supports(&x), "{name}");
        assert!(gshn_snn::fused::supports(&Tensor::<2>::zeros([2, 3], &device.clone().autodiff()).require_grad()), "{name}: autodiff");
        if device.supports_dtype(burn::tensor::DType::F64) {
            assert!(!gshn_snn::fused::supports(&x.cast(burn::tensor::DType::F64)), "{name}: f64");
        }
    }
    let device = common::flex();
    let unfused = LifConfig::new().with_base(NeuronBaseConfig::new().with_fused(false)).init(&device).unwrap();
    let fused = LifConfig::new().init(&device).unwrap();
    let x = Tensor::<2>::full([4, 3], 0.9, &device);
    assert_eq!(values(&unfused.forward(x.clone()).unwrap()), values(&fused.forward(x).unwrap()));
}

/// A config file turns the fused kernel off with `fused = false`; on is the default and is
/// not written out.
#[test]
fn fused_is_a_config_field() {
    let on: NeuronConfig = toml::from_str::<toml::Table>("[neuron.lif]\ntau = 2.0\n").unwrap()["neuron"].clone().try_into().unwrap();
    assert!(on.base().fused);
    let off: NeuronConfig = toml::from_str::<toml::Table>("[neuron.lif]\nfused = false\n").unwrap()["neuron"].clone().try_into().unwrap();
    assert!(!off.base().fused);
    assert!(!serde_json::to_string(&on).unwrap().contains("fused"));
    assert!(serde_json::to_string(&off).unwrap().contains("\"fused\":false"));
}
