//! Criterion bench: GAT forward + backward for 64 graphs of 10, 50 and 100 nodes (about 5
//! in-edges per node, 64 features, 4 heads × 16 channels) on flex, edge-list and dense paths.

use burn::tensor::Device;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gshn_bench::{gat_forward_backward, gat_graphs, gat_layer};
use gshn_graph::GatPath;

fn bench_gat(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let layer = gat_layer(64, 4, 16, &device);
    let mut group = c.benchmark_group("gat_fwd_bwd_64_graphs");
    group.sample_size(10);
    for nodes in [10usize, 50, 100] {
        let batch = gat_graphs(64, nodes, 5, 64, 7, &device);
        for (name, path) in [("edge_list", GatPath::EdgeList), ("dense", GatPath::Dense)] {
            group.bench_with_input(BenchmarkId::new(name, nodes), &batch, |b, batch| b.iter(|| gat_forward_backward(&layer, batch, path)));
        }
    }
    group.finish();
}

criterion_group!(benches, bench_gat);
criterion_main!(benches);
