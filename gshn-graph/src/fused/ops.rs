//! The backend extension: one forward and one backward operation per backend.

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{backend_extension, Backend};

/// The fused GAT segment softmax + aggregation, implemented per backend (`flex.rs`,
/// `cube.rs`) and for autodiff (`autodiff.rs`, which calls the backward of the backend it
/// wraps). `index` is the packed CSR index of [`super::GatIndex`].
#[backend_extension(
    Flex: cfg(feature = "fused-flex"),
    Cube: cfg(feature = "fused-wgpu"),
    Fusion: cfg(feature = "fused-wgpu"),
    Autodiff,
)]
pub trait FusedGatOps: Backend {
    /// The forward pass: `α = softmax_i(e)` per target node and head, `out[i,h,:] = Σ_{j→i} α_jih x[j,h,:]`.
    /// Takes `scores` `e` `[E, H]` and `x` `[N, H, C]`; returns `out` `[N, H, C]` and `α` `[E, H]`.
    #[fusion(meta = forward_meta)]
    fn gat_aggregate_forward(scores: FloatTensor<Self>, x: FloatTensor<Self>, index: IntTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The backward pass: from `α` `[E, H]`, `x` `[N, H, C]` and `∂L/∂out` `[N, H, C]`, returns
    /// `∂L/∂e = α ⊙ (g − Σ_{k→i} α_k g_k)` with `g_k = ⟨∂L/∂out_i, x_src(k)⟩` `[E, H]`, and
    /// `∂L/∂x[j] = Σ_{j→i} α ∂L/∂out_i` `[N, H, C]`.
    #[fusion(meta = backward_meta)]
    fn gat_aggregate_backward(
        alpha: FloatTensor<Self>,
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        index: IntTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

#[cfg(feature = "fused-wgpu")]
use burn::backend::fusion::custom::TensorSpec;

#[cfg(feature = "fused-wgpu")]
fn forward_meta(scores: &TensorSpec, x: &TensorSpec, _index: &TensorSpec) -> (TensorSpec, TensorSpec) {
    (x.clone(), scores.clone())
}

#[cfg(feature = "fused-wgpu")]
fn backward_meta(alpha: &TensorSpec, x: &TensorSpec, _grad: &TensorSpec, _index: &TensorSpec) -> (TensorSpec, TensorSpec) {
    (alpha.clone(), x.clone())
}
