//! The library API alone trains a GSHN: `examples/own_loop.rs` (AdamW, 50 steps on generated
//! ShapeWorld) lowers its loss.

#[allow(dead_code)]
#[path = "../examples/own_loop.rs"]
mod own_loop;

#[test]
fn the_hand_written_loop_lowers_the_loss() {
    let losses = own_loop::train(50, &burn::tensor::Device::flex().autodiff()).unwrap();
    assert_eq!(losses.len(), 50);
    assert!(losses.iter().all(|l| l.is_finite()));
    let mean = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
    let (first, last) = (mean(&losses[..5]), mean(&losses[45..]));
    assert!(last < 0.8 * first, "loss {first} → {last}");
}
