//! The backend extension: the forward and the backward of the fused convolution.

use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend};

/// A `K×K` convolution (stride 1, padding `K/2`, one group), its bias and a ReLU as one
/// operation, implemented on flex (`flex.rs`) and for autodiff (`autodiff.rs`, which calls the
/// backward of the backend it wraps). Other backends run Burn's own ops ([`super::conv_relu`]).
#[backend_extension(Flex: cfg(feature = "fused-flex"), Autodiff)]
pub trait FusedConvOps: Backend {
    /// `y = max(0, W ⋆ x + b)` for `x: [N, C, H, W]`, `weight: [O, C, K, K]` (`K` odd) and
    /// `bias: [O]`; returns `y: [N, O, H, W]`.
    fn conv_relu_forward(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The backward from the forward's input `x`, `weight`, its output `y` and `∂L/∂y`:
    /// returns `(∂L/∂x, ∂L/∂W, ∂L/∂b)`; `∂L/∂x` is a `[1, 1, 1, 1]` zero unless `need_dx`.
    fn conv_relu_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        y: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        need_dx: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}
