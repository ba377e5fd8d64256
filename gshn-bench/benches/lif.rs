//! Criterion bench: multi-step LIF forward + backward on flex, T = 4, 8, 16 over
//! 64 × 100 × 256 neurons (64 graphs × 100 nodes × 256 features).

use burn::tensor::Device;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gshn_bench::{lif_forward_backward, lif_input};

fn bench_lif(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let mut group = c.benchmark_group("lif_fwd_bwd_64x100x256");
    group.sample_size(10);
    for t in [4usize, 8, 16] {
        let x = lif_input(t, [64, 100, 256], &device);
        group.bench_with_input(BenchmarkId::from_parameter(format!("T{t}")), &x, |b, x| b.iter(|| lif_forward_backward(x, &device)));
    }
    group.finish();
}

criterion_group!(benches, bench_lif);
criterion_main!(benches);
