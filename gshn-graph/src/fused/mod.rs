//! The fused GAT segment softmax + weighted aggregation: one custom autodiff operation with a
//! hand-written backward (Burn's backend extension).
//!
//! For edges `j → i` (source `j`, target `i`) with attention logits `e` `[E, H]` (after the
//! LeakyReLU) and node messages `x` `[N, H, C]` (`x W`, per head):
//!
//! ```text
//! α_k   = exp(e_k − max_{k'→i} e_k') / (Σ_{k'→i} exp(e_k' − max) + 1e-16)     (per head)
//! out_i = Σ_{k = (j→i)} α_k x_j
//! ```
//!
//! the same as [`crate::scatter::segment_softmax_aggregate`] (PyG's `softmax` then a scatter
//! sum), which builds about a dozen Burn ops and materialises the `[E, H, C]` messages and
//! their gradient. Here the forward is one pass over the targets, and the backward two:
//!
//! ```text
//! g_k      = ⟨∂L/∂out_i, x_j⟩                       (per head, k = j → i)
//! ∂L/∂e_k  = α_k (g_k − Σ_{k'→i} α_k' g_k')         (the softmax Jacobian; ε drops out)
//! ∂L/∂x_j  = Σ_{k = (j→i)} α_k ∂L/∂out_i
//! ```
//!
//! The per-target maximum cancels in the value and is not differentiated, as in PyG. Edges
//! are visited in a CSR order built on the host ([`GatIndex`]): by target for the forward and
//! `∂L/∂e`, by source for `∂L/∂x`; within a node in edge order, so the sums add in the order
//! of the unfused scatter.
//!
//! * Flex (feature `fused-flex`): Rust over slices, nodes split into chunks that rayon runs in
//!   parallel; each node's rows are contiguous `H·C` runs.
//! * CubeCL (feature `fused-wgpu`, any CubeCL runtime behind Burn's fusion backend): one
//!   thread per output element `(i, h, c)` for the forward and `∂L/∂x`, one per `(i, h)` for
//!   `∂L/∂e`.
//!
//! `α` comes back as a second, untracked output (the attention weights the layer reports).
//! Every other backend or dtype runs the unfused path (`tests/gat_fused_parity.rs` holds them
//! equal).

#[cfg(any(feature = "fused-flex", feature = "fused-wgpu"))]
mod autodiff;
#[cfg(feature = "fused-wgpu")]
mod cube;
#[cfg(feature = "fused-flex")]
mod flex;
#[cfg(any(feature = "fused-flex", feature = "fused-wgpu"))]
mod ops;

#[cfg(any(feature = "fused-flex", feature = "fused-wgpu"))]
pub use ops::FusedGatOps;

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::edges::EdgeList;

/// The edge list as CSR, built on the host, packed into one integer tensor of length
/// `2(N + 1) + 4E`: `[in_ptr | out_ptr | in_edge | in_src | out_edge | out_dst]`. The edges
/// into node `i` are `in_edge[in_ptr[i]..in_ptr[i + 1]]` (ascending edge ids), their sources
/// `in_src` at the same positions; the edges out of node `j` are `out_edge[out_ptr[j]..]`,
/// their targets `out_dst`.
#[derive(Debug, Clone)]
pub struct GatIndex {
    /// The packed index.
    pub packed: Tensor<1, Int>,
    /// Nodes `N`.
    pub nodes: usize,
    /// Edges `E`.
    pub edges: usize,
}

/// Offsets of the packed index's parts for `n` nodes and `e` edges:
/// `(in_ptr, out_ptr, in_edge, in_src, out_edge, out_dst)`.
pub fn packed_offsets(n: usize, e: usize) -> [usize; 6] {
    let p = n + 1;
    [0, p, 2 * p, 2 * p + e, 2 * p + 2 * e, 2 * p + 3 * e]
}

/// A stable counting sort of edges `0..keys.len()` by `keys` (each `< n`): `(ptr, order)`.
fn csr(keys: &[usize], n: usize) -> (Vec<usize>, Vec<usize>) {
    let mut ptr = vec![0usize; n + 1];
    keys.iter().for_each(|&k| ptr[k + 1] += 1);
    for i in 0..n {
        ptr[i + 1] += ptr[i];
    }
    let mut next = ptr.clone();
    let mut order = vec![0usize; keys.len()];
    for (e, &k) in keys.iter().enumerate() {
        order[next[k]] = e;
        next[k] += 1;
    }
    (ptr, order)
}

/// The packed CSR index of `edges` `src[k] → dst[k]` over `nodes` nodes, as host values (see
/// [`GatIndex`]). Panics if an index is out of range or the lists differ in length.
pub fn packed_index(src: &[usize], dst: &[usize], nodes: usize) -> Vec<i64> {
    assert_eq!(src.len(), dst.len(), "one source per target");
    assert!(src.iter().chain(dst).all(|&v| v < nodes), "edge index out of range");
    let (in_ptr, in_edge) = csr(dst, nodes);
    let (out_ptr, out_edge) = csr(src, nodes);
    let in_src = in_edge.iter().map(|&k| src[k]);
    let out_dst = out_edge.iter().map(|&k| dst[k]);
    let mut v = Vec::with_capacity(2 * (nodes + 1) + 4 * src.len());
    v.extend(in_ptr.iter().chain(&out_ptr).chain(&in_edge).map(|&x| x as i64));
    v.extend(in_src.map(|x| x as i64));
    v.extend(out_edge.iter().map(|&x| x as i64));
    v.extend(out_dst.map(|x| x as i64));
    v
}

impl GatIndex {
    /// The index of edges `src[k] → dst[k]` over `nodes` nodes, on `device`.
    pub fn new(src: &[usize], dst: &[usize], nodes: usize, device: &Device) -> Self {
        let v = packed_index(src, dst, nodes);
        let len = v.len();
        Self { packed: Tensor::from_data(TensorData::new(v, [len]), device), nodes, edges: src.len() }
    }

    /// The index of an edge list.
    pub fn from_edges(edges: &EdgeList, device: &Device) -> Self {
        Self::new(&edges.src, &edges.dst, edges.num_nodes, device)
    }
}

#[cfg(any(feature = "fused-flex", feature = "fused-wgpu"))]
/// Whether a fused kernel exists for `x`: an f32 tensor on a backend whose kernel this build
/// has (`fused-flex`: flex; `fused-wgpu`: the CubeCL backends, WGPU among them).
pub fn supports<const D: usize>(x: &Tensor<D>) -> bool {
    if x.dtype() != burn::tensor::DType::F32 {
        return false;
    }
    let device = x.device().inner();
    #[allow(unreachable_patterns)]
    match device.as_dispatch() {
        #[cfg(feature = "fused-flex")]
        burn::backend::DispatchDevice::Flex(_) => true,
        #[cfg(feature = "fused-wgpu")]
        burn::backend::DispatchDevice::Cube(_) => true,
        _ => false,
    }
}

#[cfg(any(feature = "fused-flex", feature = "fused-wgpu"))]
/// The fused segment softmax + aggregation: `α = softmax_i(e)` over the edges into each node
/// (per head, PyG's `softmax` with `+ 1e-16`) and `out_i = Σ_{j→i} α_ji x_j`. Takes `scores`
/// `e` `[E, H]`, node messages `x` `[N, H, C]` and the edges' [`GatIndex`]; returns `out`
/// `[N, H, C]` (differentiable in `e` and `x`) and `α` `[E, H]` (not tracked). A node with no
/// in-edge gets zeros. Needs [`supports`]`(&x)`; panics on another backend.
pub fn gat_aggregate(scores: Tensor<2>, x: Tensor<3>, index: &GatIndex) -> (Tensor<3>, Tensor<2>) {
    let [e, h] = scores.dims();
    let [n, hx, _] = x.dims();
    assert_eq!((n, e, h), (index.nodes, index.edges, hx), "scores [E, H], x [N, H, C] and the index must agree");
    let (out, alpha) =
        <burn::backend::Dispatch as FusedGatOps>::gat_aggregate_forward(scores.into_dispatch(), x.into_dispatch(), index.packed.clone().into_dispatch());
    (Tensor::from_dispatch(out), Tensor::from_dispatch(alpha))
}
