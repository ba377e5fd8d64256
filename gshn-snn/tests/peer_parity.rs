//! Golden parity with snnTorch 1.0 and SpikingJelly 2.0 (fixtures from
//! `scripts/peers/snn_fixtures.py`): spikes exactly, membrane traces and gradients to 1e-5.

mod common;

use burn::tensor::Tensor;
use common::{assert_close, flex, tensor, values};
use gshn_snn::neuron::*;
use gshn_snn::surrogate::Surrogate;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    name: String,
    t: usize,
    n: usize,
    x: Vec<f32>,
    g_spike: Vec<f32>,
    g_mem: Vec<f32>,
    spikes: Vec<f32>,
    membrane: Vec<f32>,
    grad_x: Vec<f32>,
    grad_w: Option<f32>,
}

fn load(name: &str) -> Fixture {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Runs `neuron` on the fixture's input and checks spikes, membrane and input gradient.
/// Returns the gradients so callers can check parameters.
fn check<N: SpikingNeuron>(fix: &Fixture, neuron: &N, device: &burn::tensor::Device) -> burn::tensor::Gradients {
    let shape = [fix.t, fix.n];
    let x = tensor(&fix.x, shape, device).require_grad();
    let out = neuron.forward_multi(x.clone(), None).unwrap();
    assert_eq!(values(&out.spikes), fix.spikes, "{}: spikes differ", fix.name);
    assert_close(&format!("{}: membrane", fix.name), &values(&out.membrane), &fix.membrane, 1e-5);
    let loss: Tensor<1> = out.spikes.mul(tensor(&fix.g_spike, shape, device)).sum() + out.membrane.mul(tensor(&fix.g_mem, shape, device)).sum();
    let grads = loss.backward();
    let gx = x.grad(&grads).expect("input gradient");
    assert_close(&format!("{}: grad x", fix.name), &values(&gx), &fix.grad_x, 1e-5);
    grads
}

fn sj_base(surrogate: Surrogate) -> NeuronBaseConfig {
    NeuronBaseConfig::new().with_surrogate(surrogate)
}

/// Every fixture with the config that reproduces it.
fn fixtures() -> Vec<(&'static str, NeuronConfig)> {
    vec![
        ("snntorch_leaky_subtract_atan", NeuronConfig::Lif(LifConfig::snntorch(0.9))),
        ("spikingjelly_lif_hard_sigmoid", NeuronConfig::Lif(LifConfig::new().with_base(sj_base(Surrogate::sigmoid())))),
        ("spikingjelly_lif_hard_atan", NeuronConfig::Lif(LifConfig::new().with_base(sj_base(Surrogate::atan())))),
        (
            "spikingjelly_lif_nodecay_detach_atan",
            NeuronConfig::Lif(
                LifConfig::new().with_leak(Leak::Tau { tau: 3.0, decay_input: false }).with_base(sj_base(Surrogate::atan()).with_detach_reset(true)),
            ),
        ),
        ("spikingjelly_plif_hard_atan", NeuronConfig::Plif(PlifConfig::new().with_base(sj_base(Surrogate::atan())))),
        ("spikingjelly_if_soft_atan", NeuronConfig::If(IfConfig::new().with_base(sj_base(Surrogate::atan()).with_reset(ResetMode::Soft)))),
    ]
}

/// The same config with the fused kernel on or off.
fn with_fused(cfg: &NeuronConfig, fused: bool) -> NeuronConfig {
    let mut cfg = cfg.clone();
    match &mut cfg {
        NeuronConfig::If(c) => c.base.fused = fused,
        NeuronConfig::Lif(c) => c.base.fused = fused,
        NeuronConfig::Plif(c) => c.base.fused = fused,
    }
    cfg
}

/// One fixture on `device`, fused or not; PLIF's `∂L/∂w` too.
fn check_fixture(name: &str, cfg: &NeuronConfig, fused: bool, device: &burn::tensor::Device) {
    let fix = load(name);
    let neuron = with_fused(cfg, fused).init(device).unwrap();
    let grads = check(&fix, &neuron, device);
    if let Neuron::Plif(plif) = &neuron {
        assert!((plif.tau() - 2.0).abs() < 1e-6, "init τ = 2");
        let gw: f32 = plif.w.grad(&grads).expect("w gradient").into_scalar();
        let want = fix.grad_w.unwrap();
        assert!((gw - want).abs() <= 1e-5 * want.abs().max(1.0), "{name} (fused {fused}): PLIF grad w: {gw} vs {want}");
    }
}

fn check_all(device: &burn::tensor::Device, fused: bool) {
    for (name, cfg) in fixtures() {
        check_fixture(name, &cfg, fused, device);
    }
}

#[test]
fn snntorch_leaky_subtract_atan() {
    let (name, cfg) = &fixtures()[0];
    check_fixture(name, cfg, true, &flex().autodiff());
}

#[test]
fn spikingjelly_lif_hard_sigmoid() {
    let (name, cfg) = &fixtures()[1];
    check_fixture(name, cfg, true, &flex().autodiff());
}

#[test]
fn spikingjelly_lif_hard_atan() {
    let (name, cfg) = &fixtures()[2];
    check_fixture(name, cfg, true, &flex().autodiff());
}

#[test]
fn spikingjelly_lif_no_decay_input_detached_reset() {
    let (name, cfg) = &fixtures()[3];
    check_fixture(name, cfg, true, &flex().autodiff());
}

#[test]
fn spikingjelly_plif_with_tau_gradient() {
    let (name, cfg) = &fixtures()[4];
    check_fixture(name, cfg, true, &flex().autodiff());
}

#[test]
fn spikingjelly_if_soft_reset() {
    let (name, cfg) = &fixtures()[5];
    check_fixture(name, cfg, true, &flex().autodiff());
}

/// The per-step path (`fused = false`) reproduces every fixture too.
#[test]
fn every_fixture_unfused_on_flex() {
    check_all(&flex().autodiff(), false);
}

/// Every fixture on wgpu, through the CubeCL kernel and through the per-step ops.
#[test]
fn every_fixture_fused_and_unfused_on_wgpu() {
    let Some(device) = common::wgpu() else { return };
    let device = device.autodiff();
    check_all(&device, true);
    check_all(&device, false);
}
