//! A short run of the spiking demo learns, and repeats bit for bit with the same seed.

use burn::tensor::Device;
use gshn_train::snn_demo::{run, SnnDemoConfig};

#[test]
fn short_spiking_run_learns_and_is_deterministic() {
    let cfg = SnnDemoConfig::new().with_steps(80).with_batch(32).with_hidden(32);
    let device = Device::flex().autodiff();
    let a = run(&cfg, &device, |_| {}).unwrap();
    assert!(a.loss_last < 0.7 * a.loss_first, "loss {} → {}", a.loss_first, a.loss_last);
    assert!(a.test_accuracy > 0.6, "accuracy {} (chance 0.25)", a.test_accuracy);
    let rate = a.layers[0].firing_rate();
    assert!(rate > 0.0 && rate < 1.0, "fc1 firing rate {rate}");
    let b = run(&cfg, &device, |_| {}).unwrap();
    assert_eq!((a.loss_last, a.test_accuracy), (b.loss_last, b.test_accuracy), "same seed, same run");
}
