//! Criterion bench: multi-step LIF forward + backward on flex, T = 4, 8, 16 over
//! 64 × 100 × 256 neurons (64 graphs × 100 nodes × 256 features), through the fused kernel
//! (`lif_fwd_bwd_64x100x256/fused`, the default) and the per-step ops (`…/unfused`).

use burn::tensor::Device;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gshn_bench::{lif_forward_backward_with, lif_input};

fn bench_lif(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let mut group = c.benchmark_group("lif_fwd_bwd_64x100x256");
    group.sample_size(10);
    for t in [4usize, 8, 16] {
        let x = lif_input(t, [64, 100, 256], &device);
        for (name, fused) in [("fused", true), ("unfused", false)] {
            group.bench_with_input(BenchmarkId::new(name, format!("T{t}")), &x, |b, x| b.iter(|| lif_forward_backward_with(x, &device, fused)));
        }
    }
    group.finish();
}

criterion_group!(benches, bench_lif);
criterion_main!(benches);
