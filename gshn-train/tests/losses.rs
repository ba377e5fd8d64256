//! The CLIP loss against open_clip's `ClipLoss` on the same embeddings (fixture from
//! `scripts/peers/clip_loss_fixture.py`): value and gradients to 1e-5.

use burn::tensor::{Device, Tensor, TensorData};
use gshn_train::loss::{clip_loss, LogitScale, LOGIT_SCALE_INIT};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    n: usize,
    d: usize,
    log_scale: f64,
    image: Vec<f32>,
    text: Vec<f32>,
    loss: f32,
    grad_image: Vec<f32>,
    grad_text: Vec<f32>,
    grad_log_scale: f32,
}

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn close(what: &str, got: &[f32], want: &[f32]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{what}[{i}]: {g} vs {w}");
    }
}

#[test]
fn clip_loss_matches_open_clip() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/open_clip_loss.json");
    let fix: Fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let device = Device::flex().autodiff();
    for c in &fix.cases {
        let img = Tensor::<2>::from_data(TensorData::new(c.image.clone(), [c.n, c.d]), &device).require_grad();
        let txt = Tensor::<2>::from_data(TensorData::new(c.text.clone(), [c.n, c.d]), &device).require_grad();
        let scale = LogitScale::new(c.log_scale, &device);
        let loss = clip_loss(img.clone(), txt.clone(), scale.scale(), None);
        let value: f32 = loss.clone().into_scalar();
        assert!((value - c.loss).abs() <= 1e-5 * c.loss.abs().max(1.0), "loss {value} vs {}", c.loss);
        let grads = loss.backward();
        close("grad image", &values(&img.grad(&grads).unwrap()), &c.grad_image);
        close("grad text", &values(&txt.grad(&grads).unwrap()), &c.grad_text);
        let gs: f32 = scale.log_scale.grad(&grads).unwrap().into_scalar();
        assert!((gs - c.grad_log_scale).abs() <= 1e-5 * c.grad_log_scale.abs().max(1.0), "grad ln s {gs} vs {}", c.grad_log_scale);
    }
}

#[test]
fn logit_scale_starts_at_one_over_007_and_is_clamped_at_100() {
    let device = Device::flex();
    assert!((LogitScale::new(LOGIT_SCALE_INIT, &device).value() - 1.0 / 0.07).abs() < 1e-3);
    assert!((LogitScale::new(9.0, &device).value() - 100.0).abs() < 1e-3);
    assert!((LogitScale::new(-3.0, &device).value() - 1.0).abs() < 1e-6);
}
