//! Graph construction, batching and GAT invariants (proptest), and clear errors.

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use gshn_graph::gat::{GatConvConfig, GatVariant};
use gshn_graph::scatter::segment_softmax;
use gshn_graph::*;
use gshn_seg::baselines::grid_patches;
use gshn_seg::Segmentation;
use proptest::prelude::*;

fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn random_edges(n: usize, pairs: &[(usize, usize)]) -> EdgeList {
    EdgeList::new(n, pairs.iter().map(|&(a, b)| (a % n, b % n))).unwrap()
}

fn any_graph() -> impl Strategy<Value = (usize, Vec<(usize, usize)>)> {
    (1usize..14).prop_flat_map(|n| (Just(n), proptest::collection::vec((0..n, 0..n), 0..40)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn attention_into_each_node_sums_to_one((n, pairs) in any_graph(), heads in 1usize..4, v2 in any::<bool>()) {
        let device = Device::flex();
        let edges = random_edges(n, &pairs);
        let variant = if v2 { GatVariant::V2 { share_weights: false } } else { GatVariant::V1 };
        let layer = GatConvConfig::new(5, 3).with_heads(heads).with_variant(variant).init(&device).unwrap();
        let x = Tensor::<2>::random([n, 5], Distribution::Normal(0.0, 1.0), &device);
        let out = layer.forward(x, &edges, None).unwrap();
        let a = values(&out.attention);
        let mut sums = vec![0f32; n * heads];
        for (e, &t) in out.edges.dst.iter().enumerate() {
            for h in 0..heads {
                sums[t * heads + h] += a[e * heads + h];
            }
        }
        // With self loops every node has at least one incoming edge.
        prop_assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{:?}", sums);
    }

    #[test]
    fn a_batch_equals_the_graphs_one_by_one(graphs in proptest::collection::vec(any_graph(), 1..5)) {
        let device = Device::flex();
        let layer = GatConvConfig::new(4, 2).with_heads(2).with_residual(true).init(&device).unwrap();
        let inputs: Vec<_> = graphs.iter().map(|(n, pairs)| {
            (Tensor::<2>::random([*n, 4], Distribution::Normal(0.0, 1.0), &device), random_edges(*n, pairs), None)
        }).collect();
        let singles: Vec<Vec<f32>> = inputs.iter().map(|(x, e, _)| values(&layer.forward(x.clone(), e, None).unwrap().out)).collect();
        let batch = GraphBatch::new(inputs).unwrap();
        let out = layer.forward(batch.x.clone(), &batch.edges, None).unwrap().out;
        for (g, part) in batch.unbatch(out).iter().enumerate() {
            let got = values(part);
            for (a, b) in got.iter().zip(&singles[g]) {
                prop_assert!((a - b).abs() < 1e-5, "graph {}: {} vs {}", g, a, b);
            }
        }
    }

    #[test]
    fn segment_graphs_are_symmetric(rows in 1u32..5, cols in 1u32..5, k in 1usize..4, dilation in 0u32..3) {
        let seg = grid_patches(20, 20, rows, cols).unwrap();
        for kind in [GraphKind::RegionAdjacency { dilation }, GraphKind::Knn { k }, GraphKind::Radius { radius: 12.0 }, GraphKind::Full] {
            let g = SegmentGraph::build(&seg, kind).unwrap();
            let e = g.edge_list(SelfLoops::Without);
            let pairs: std::collections::HashSet<(usize, usize)> = e.src.iter().copied().zip(e.dst.iter().copied()).collect();
            for &(s, t) in &pairs {
                prop_assert!(pairs.contains(&(t, s)), "{:?}: {} → {} has no reverse", kind, s, t);
                prop_assert!(s != t);
            }
        }
    }
}

#[test]
fn region_adjacency_of_a_grid_and_dilation() {
    let seg = grid_patches(30, 30, 3, 3).unwrap();
    let g = SegmentGraph::build(&seg, GraphKind::RegionAdjacency { dilation: 0 }).unwrap();
    // A 3×3 grid has 12 4-neighbour pairs; the centre patch touches 4 others.
    assert_eq!(g.graph.edge_count(), 12);
    let e = g.edge_list(SelfLoops::Without);
    assert_eq!(e.dst.iter().filter(|&&t| t == 4).count(), 4);
    // A dilation of one pixel also joins diagonal patches (2 per 2×2 block, 8 in all).
    let d = SegmentGraph::build(&seg, GraphKind::RegionAdjacency { dilation: 1 }).unwrap();
    assert_eq!(d.graph.edge_count(), 20);
    let with = g.edge_list(SelfLoops::With);
    assert_eq!(with.len(), 2 * 12 + 9);
    let back = SegmentGraph::from_edge_list(&EdgeList::from_edge_index(9, &with.edge_index(&Device::flex())).unwrap()).unwrap();
    assert_eq!(back.graph.edge_count(), 12);
    let knn = SegmentGraph::build(&seg, GraphKind::Knn { k: 1 }).unwrap();
    assert!(knn.graph.edge_count() >= 5 && knn.graph.edge_count() <= 9);
    assert_eq!(SegmentGraph::build(&seg, GraphKind::Full).unwrap().graph.edge_count(), 36);
}

#[test]
fn dense_padding_and_pooling() {
    let device = Device::flex();
    let x1 = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]), &device);
    let x2 = Tensor::<2>::from_data(TensorData::new(vec![5.0f32, -6.0], [1, 2]), &device);
    let b = GraphBatch::new(vec![(x1, EdgeList::new(2, [(0, 1)]).unwrap(), None), (x2, EdgeList::new(1, []).unwrap(), None)]).unwrap();
    assert_eq!(b.ptr, vec![0, 2, 3]);
    assert_eq!(b.batch, vec![0, 0, 1]);
    assert_eq!(b.edges.src, vec![0]);
    let (dense, mask) = b.to_dense(b.x.clone());
    assert_eq!(values(&dense), vec![1.0, 2.0, 3.0, 4.0, 5.0, -6.0, 0.0, 0.0]);
    assert_eq!(mask.to_data().try_to_vec::<bool>().unwrap(), vec![true, true, true, false]);
    assert_eq!(values(&pool(b.x.clone(), &b, Pool::Mean)), vec![2.0, 3.0, 5.0, -6.0]);
    assert_eq!(values(&pool(b.x.clone(), &b, Pool::Sum)), vec![4.0, 6.0, 5.0, -6.0]);
    assert_eq!(values(&pool(b.x.clone(), &b, Pool::Max)), vec![3.0, 4.0, 5.0, -6.0]);
    let att = AttentionPool::new(2, &device);
    let (out, w) = att.forward(b.x.clone(), &b);
    assert_eq!(out.dims(), [2, 2]);
    let w = values(&w);
    assert!((w[0] + w[1] - 1.0).abs() < 1e-6 && (w[2] - 1.0).abs() < 1e-6);
}

#[test]
fn segment_softmax_hand_computed() {
    let device = Device::flex();
    let s = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 1.0, 5.0], [3, 1]), &device);
    let idx = Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(vec![0i64, 0, 1], [3]), &device);
    let a = values(&segment_softmax(s, idx, 2));
    let e = std::f32::consts::E;
    assert!((a[0] - 1.0 / (1.0 + e)).abs() < 1e-6 && (a[1] - e / (1.0 + e)).abs() < 1e-6 && (a[2] - 1.0).abs() < 1e-6);
}

#[test]
fn aggregation_is_deterministic_on_the_cpu() {
    let device = Device::flex();
    let n = 60;
    let pairs: Vec<(usize, usize)> = (0..600).map(|i| ((i * 7919) % n, (i * 104_729 + 3) % n)).collect();
    let edges = EdgeList::new(n, pairs).unwrap();
    let layer = GatConvConfig::new(16, 8).with_heads(4).init(&device).unwrap();
    let x = Tensor::<2>::random([n, 16], Distribution::Normal(0.0, 1.0), &device);
    let first = values(&layer.forward(x.clone(), &edges, None).unwrap().out);
    for _ in 0..5 {
        assert_eq!(values(&layer.forward(x.clone(), &edges, None).unwrap().out), first, "bit for bit");
    }
}

#[test]
fn bad_inputs_are_clear_errors() {
    let device = Device::flex();
    assert!(matches!(EdgeList::new(3, [(0, 3)]), Err(GraphError::EdgeOutOfRange { edge: 0, src: 0, dst: 3, num_nodes: 3 })));
    let layer = GatConvConfig::new(4, 2).init(&device).unwrap();
    let e = EdgeList::new(2, [(0, 1)]).unwrap();
    let err = layer.forward(Tensor::<2>::zeros([2, 5], &device), &e, None).unwrap_err();
    assert!(matches!(err, GraphError::ShapeMismatch(_)) && err.to_string().contains("5 features"), "{err}");
    assert!(matches!(layer.forward(Tensor::<2>::zeros([0, 4], &device), &EdgeList::default(), None), Err(GraphError::EmptyGraph(_))));
    assert!(matches!(layer.forward(Tensor::<2>::zeros([3, 4], &device), &e, None), Err(GraphError::ShapeMismatch(_))));
    let bad = EdgeList { num_nodes: 2, src: vec![0], dst: vec![7] };
    assert!(matches!(layer.forward(Tensor::<2>::zeros([2, 4], &device), &bad, None), Err(GraphError::EdgeOutOfRange { .. })));
    assert!(layer.forward(Tensor::<2>::zeros([2, 4], &device), &e, Some(Tensor::<2>::zeros([1, 3], &device))).is_err());
    assert!(GatConvConfig::new(0, 2).init(&device).is_err());
    assert!(GatConvConfig::new(2, 2).with_dropout(1.0).init(&device).is_err());
    let empty = Segmentation::from_labels(2, 1, vec![gshn_seg::VOID, gshn_seg::VOID]).unwrap();
    assert!(matches!(SegmentGraph::build(&empty, GraphKind::Full), Err(GraphError::EmptyGraph(_))));
    assert!(GraphBatch::new(vec![]).is_err());
    let ok = (Tensor::<2>::zeros([1, 2], &device), EdgeList::new(1, []).unwrap(), None);
    let wide = (Tensor::<2>::zeros([1, 3], &device), EdgeList::new(1, []).unwrap(), None);
    assert!(matches!(GraphBatch::new(vec![ok, wide]), Err(GraphError::ShapeMismatch(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn dense_path_equals_edge_list_path(graphs in proptest::collection::vec(any_graph(), 1..4), concat in any::<bool>(), residual in any::<bool>()) {
        let device = Device::flex();
        let layer = GatConvConfig::new(4, 3).with_heads(2).with_concat(concat).with_residual(residual).init(&device).unwrap();
        let inputs: Vec<_> = graphs.iter().map(|(n, pairs)| {
            (Tensor::<2>::random([*n, 4], Distribution::Normal(0.0, 1.0), &device), random_edges(*n, pairs), None)
        }).collect();
        let batch = GraphBatch::new(inputs).unwrap();
        let a = values(&layer.forward_batch(&batch, GatPath::EdgeList).unwrap());
        let b = values(&layer.forward_batch(&batch, GatPath::Dense).unwrap());
        for (x, y) in a.iter().zip(&b) {
            prop_assert!((x - y).abs() < 1e-5, "{} vs {}", x, y);
        }
    }

    /// Graphs of different sizes pad the smaller ones in the dense path: the gradients with
    /// respect to the inputs must still equal the edge list's (and stay finite).
    #[test]
    fn dense_path_gradients_equal_edge_list_gradients(graphs in proptest::collection::vec(any_graph(), 2..4)) {
        let device = Device::flex().autodiff();
        let layer = GatConvConfig::new(4, 3).with_heads(2).init(&device).unwrap();
        let grad = |path: GatPath| {
            let inputs: Vec<_> = graphs.iter().enumerate().map(|(g, (n, pairs))| {
                let x: Vec<f32> = (0..n * 4).map(|i| ((i * 7 + g * 3) % 11) as f32 / 5.0 - 1.0).collect();
                (Tensor::<2>::from_data(burn::tensor::TensorData::new(x, [*n, 4]), &device).require_grad(), random_edges(*n, pairs), None)
            }).collect();
            let xs: Vec<Tensor<2>> = inputs.iter().map(|i| i.0.clone()).collect();
            let batch = GraphBatch::new(inputs).unwrap();
            let out = layer.forward_batch(&batch, path).unwrap();
            let grads = out.powf_scalar(2.0).sum().backward();
            xs.iter().flat_map(|x| values(&x.grad(&grads).unwrap())).collect::<Vec<f32>>()
        };
        let (a, b) = (grad(GatPath::EdgeList), grad(GatPath::Dense));
        for (x, y) in a.iter().zip(&b) {
            prop_assert!(x.is_finite() && (x - y).abs() < 1e-4 * (1.0 + x.abs()), "{} vs {}", x, y);
        }
    }
}

#[test]
fn dense_path_refuses_what_it_cannot_do() {
    let device = Device::flex();
    let layer = GatConvConfig::new(2, 2).with_variant(GatVariant::V2 { share_weights: true }).init(&device).unwrap();
    let b = GraphBatch::new(vec![(Tensor::<2>::zeros([2, 2], &device), EdgeList::new(2, [(0, 1)]).unwrap(), None)]).unwrap();
    assert!(layer.forward_batch(&b, GatPath::Dense).is_err());
    assert!(layer.forward_batch(&b, GatPath::Auto).is_ok(), "auto falls back to the edge list");
}

#[test]
fn attention_dropout_applies_in_training_only() {
    let n = 8;
    let pairs: Vec<(usize, usize)> = (0..n).flat_map(|t| (0..n).map(move |s| (s, t))).collect();
    let edges = EdgeList::new(n, pairs).unwrap();
    let train = Device::flex().autodiff();
    train.seed(3);
    let layer = GatConvConfig::new(4, 2).with_heads(2).with_dropout(0.5).init(&train).unwrap();
    let x = Tensor::<2>::random([n, 4], Distribution::Normal(0.0, 1.0), &train);
    let a = values(&layer.forward(x.clone(), &edges, None).unwrap().attention);
    let zeros = a.iter().filter(|&&v| v == 0.0).count();
    assert!(zeros > a.len() / 5 && zeros < a.len() * 4 / 5, "about half dropped: {zeros} of {}", a.len());
    // Without autodiff (inference) nothing is dropped and each node's weights sum to 1.
    use burn::module::Module;
    let eval = layer.valid();
    let x = Tensor::<2>::from_data(x.to_data(), &Device::flex());
    let a = values(&eval.forward(x, &edges, None).unwrap().attention);
    assert!(a.iter().all(|&v| v > 0.0));
}
