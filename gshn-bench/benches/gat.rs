//! Criterion bench: GAT forward + backward for 64 graphs of 10, 50 and 100 nodes (about 5
//! in-edges per node, 64 features, 4 heads × 16 channels) on flex: the edge-list path with the
//! fused softmax + aggregation and with unfused Burn ops, and the dense path; and the attention
//! step alone (segment softmax + aggregation), fused beside unfused.

use burn::tensor::{Device, Distribution, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gshn_bench::{gat_aggregate_forward_backward, gat_forward_backward, gat_graphs, gat_layer};
use gshn_graph::GatPath;

fn bench_gat(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let layer = gat_layer(64, 4, 16, &device);
    let mut unfused = layer.clone();
    unfused.fused = false;
    let mut group = c.benchmark_group("gat_fwd_bwd_64_graphs");
    group.sample_size(10);
    for nodes in [10usize, 50, 100] {
        let batch = gat_graphs(64, nodes, 5, 64, 7, &device);
        for (name, l, path) in [("edge_list", &layer, GatPath::EdgeList), ("edge_list_unfused", &unfused, GatPath::EdgeList), ("dense", &layer, GatPath::Dense)]
        {
            group.bench_with_input(BenchmarkId::new(name, nodes), &batch, |b, batch| b.iter(|| gat_forward_backward(l, batch, path)));
        }
    }
    group.finish();
}

/// The attention step alone: `softmax_i(e)` over each node's in-edges and `Σ α x_j`, forward +
/// backward, on the workload's edges (with self loops) and random `[E, 4]` scores and
/// `[N, 4, 16]` messages.
fn bench_gat_aggregate(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let mut group = c.benchmark_group("gat_aggregate_fwd_bwd_64_graphs");
    group.sample_size(10);
    for nodes in [10usize, 50, 100] {
        let batch = gat_graphs(64, nodes, 5, 64, 7, &device);
        let (edges, _) = batch.edges.with_self_loops();
        let n = edges.num_nodes;
        let scores = Tensor::<2>::random([edges.len(), 4], Distribution::Normal(0.0, 1.0), &device);
        let x = Tensor::<3>::random([n, 4, 16], Distribution::Normal(0.0, 1.0), &device);
        for (name, fused) in [("fused", true), ("unfused", false)] {
            group.bench_with_input(BenchmarkId::new(name, nodes), &edges, |b, edges| b.iter(|| gat_aggregate_forward_backward(&scores, &x, edges, fused)));
        }
    }
    group.finish();
}

criterion_group!(benches, bench_gat, bench_gat_aggregate);
criterion_main!(benches);
