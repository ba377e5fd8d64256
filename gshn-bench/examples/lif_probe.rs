use burn::tensor::{Device, Tensor};
use gshn_bench::{lif_input, set_threads};
use gshn_snn::neuron::{LifConfig, SpikingNeuron};
use std::time::Instant;

fn time<R>(name: &str, mut f: impl FnMut() -> R) {
    f();
    let mut v = vec![];
    for _ in 0..5 {
        let s = Instant::now();
        std::hint::black_box(f());
        v.push(s.elapsed().as_secs_f64() * 1e3);
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("{name}: {:.1} ms (min {:.1})", v[2], v[0]);
}

fn main() {
    set_threads(2);
    let t: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(4);
    let plain = Device::flex();
    let ad = plain.clone().autodiff();
    let lif = LifConfig::new().init(&ad).unwrap();
    let x = lif_input(t, [64, 100, 256], &ad);
    let xp = lif_input(t, [64, 100, 256], &plain);
    time("sum of x (read 1 buffer)", || xp.clone().sum().into_scalar::<f32>());
    time("x + 1 (read + write)", || (xp.clone() + 1.0).sum().into_scalar::<f32>());
    time("forward, no autodiff", || lif.forward(xp.clone()).unwrap().sum().into_scalar::<f32>());
    time("forward, autodiff untracked", || lif.forward(x.clone()).unwrap().sum().into_scalar::<f32>());
    time("forward tracked (no backward)", || lif.forward(x.clone().require_grad()).unwrap().sum().into_scalar::<f32>());
    time("forward+backward", || gshn_bench::lif_forward_backward(&x, &ad));
    time("forward+backward, g not summed", || {
        let xg = x.clone().require_grad();
        let s = lif.forward(xg.clone()).unwrap();
        let grads = s.sum().backward();
        xg.grad(&grads).unwrap()
    });
    let _ = Tensor::<1>::zeros([1], &plain);
}
