//! Scatter and segment operations on Burn tensors (PyG's `torch_scatter` / `utils`): index
//! tensors from host indices, per-segment sums, means and softmax, and the padded layout
//! that turns variable-size graphs into `[B, N_max, …]` blocks.
//!
//! A *segment* is a group of rows sharing an index (the edges into one node, or the nodes of
//! one graph); `index[r]` names the segment of row `r`.

use burn::tensor::{Device, IndexingUpdateOp, Int, Tensor, TensorData};

/// Host indices as a 1-D device index tensor (for `select` / `select_assign`).
pub fn index_tensor(v: &[usize], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(v.iter().map(|&i| i as i64).collect::<Vec<_>>(), [v.len()]), device)
}

/// `out[s] = Σ_{r: index[r] = s} x[r]` for `segments` segments: `[R, F] → [segments, F]`.
pub fn segment_sum(x: Tensor<2>, index: Tensor<1, Int>, segments: usize) -> Tensor<2> {
    let [_, f] = x.dims();
    Tensor::<2>::zeros([segments, f], &x.device()).select_assign(0, index, x, IndexingUpdateOp::Add)
}

/// The mean of node rows `[ΣN, F]` per graph `[B, F]`, given each node's graph (`index`)
/// and the node offsets `ptr` (graph `g` owns rows `ptr[g]..ptr[g + 1]`; an empty graph's
/// mean is 0).
pub fn segment_mean(x: Tensor<2>, index: Tensor<1, Int>, ptr: &[usize]) -> Tensor<2> {
    let b = ptr.len() - 1;
    let device = x.device();
    let sum = segment_sum(x, index, b);
    let counts: Vec<f32> = ptr.windows(2).map(|w| (w[1] - w[0]).max(1) as f32).collect();
    sum.div(Tensor::from_data(TensorData::new(counts, [b, 1]), &device))
}

/// Softmax of `scores` `[R, H]` over the rows sharing a segment (`index`, `segments`
/// segments), PyG's `utils.softmax`: `exp(s − max_seg s) / (Σ_seg exp(s − max_seg s) + 1e-16)`.
/// The per-segment maximum is taken on detached scores (it cancels in the value, and its
/// gradient with duplicate indices is undefined on some backends), as PyG does.
pub fn segment_softmax(scores: Tensor<2>, index: Tensor<1, Int>, segments: usize) -> Tensor<2> {
    let [_, h] = scores.dims();
    let device = scores.device();
    let max = Tensor::<2>::full([segments, h], f32::MIN, &device).select_assign(0, index.clone(), scores.clone().detach(), IndexingUpdateOp::Max);
    let exp = scores.sub(max.select(0, index.clone())).exp();
    let sum = segment_sum(exp.clone(), index.clone(), segments).add_scalar(1e-16);
    exp.div(sum.select(0, index))
}

/// `out[i] = Σ_{k: dst[k] = i} α_k ⊙ x[src[k]]`: per-edge, per-head weights `alpha` `[E, H]`
/// times source rows of `x` `[N, H, C]`, summed per target: `[N, H, C]`.
pub fn segment_aggregate(x: Tensor<3>, alpha: Tensor<2>, src: Tensor<1, Int>, dst: Tensor<1, Int>) -> Tensor<3> {
    let [n, h, c] = x.dims();
    let [e, _] = alpha.dims();
    let msg = x.select(0, src).mul(alpha.reshape([e, h, 1]));
    Tensor::<3>::zeros([n, h, c], &msg.device()).select_assign(0, dst, msg, IndexingUpdateOp::Add)
}

/// GAT's attention step with Burn ops: `α = softmax_i(e)` over the edges into each node
/// ([`segment_softmax`]) and `out_i = Σ_{j→i} α_ji x_j` ([`segment_aggregate`]), for scores `e`
/// `[E, H]` and `x` `[N, H, C]`; returns `out` `[N, H, C]` and `α` `[E, H]`. The reference of
/// the fused op [`crate::fused::gat_aggregate`].
pub fn segment_softmax_aggregate(scores: Tensor<2>, x: Tensor<3>, src: Tensor<1, Int>, dst: Tensor<1, Int>) -> (Tensor<3>, Tensor<2>) {
    let n = x.dims()[0];
    let alpha = segment_softmax(scores, dst.clone(), n);
    (segment_aggregate(x, alpha.clone(), src, dst), alpha)
}

/// For graphs with node offsets `ptr` (graph `g` owns nodes `ptr[g]..ptr[g + 1]`): the row of
/// each node in a padded `[B·N_max, …]` layout (`g·N_max + i − ptr[g]`), and `N_max`.
pub fn dense_slots(ptr: &[usize]) -> (Vec<usize>, usize) {
    let m = ptr.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    (dense_slots_with(ptr, m), m)
}

/// [`dense_slots`] for a given block size `max_nodes` (at least the largest graph), e.g. a
/// size rounded up so that batches share shapes.
pub fn dense_slots_with(ptr: &[usize], max_nodes: usize) -> Vec<usize> {
    ptr.windows(2).enumerate().flat_map(|(g, w)| (0..w[1] - w[0]).map(move |k| g * max_nodes + k)).collect()
}

/// Node rows `[ΣN, F]` padded into `[graphs, max_nodes, F]` (zeros elsewhere), row `i` going
/// to slot `slots[i]` of [`dense_slots`].
pub fn pad_rows(x: Tensor<2>, slots: Tensor<1, Int>, graphs: usize, max_nodes: usize) -> Tensor<3> {
    let [_, f] = x.dims();
    segment_sum(x, slots, graphs * max_nodes).reshape([graphs, max_nodes, f])
}

/// The padded adjacency of batched graphs for the dense GAT path: `[B·M·M]` row-major, entry
/// `(g, i, j)` counting the edges `j → i` of graph `g` (local indices, self loops included),
/// for graphs with node offsets `ptr` and `edges` over all their nodes, `M` at least the
/// largest graph.
pub fn dense_adjacency(edges: &crate::EdgeList, ptr: &[usize], m: usize) -> Vec<f32> {
    let b = ptr.len() - 1;
    let mut graph_of = vec![0; edges.num_nodes];
    for (g, w) in ptr.windows(2).enumerate() {
        graph_of[w[0]..w[1]].iter_mut().for_each(|x| *x = g);
    }
    let mut mult = vec![0f32; b * m * m];
    for (&s, &t) in edges.src.iter().zip(&edges.dst) {
        let g = graph_of[t];
        mult[g * m * m + (t - ptr[g]) * m + (s - ptr[g])] += 1.0;
    }
    mult
}
