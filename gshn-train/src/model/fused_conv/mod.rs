//! The CNN backbone's convolution, bias and ReLU as one custom autodiff op on flex:
//!
//! ```text
//! y = max(0, W ⋆ x + b)              W: [O, C, K, K], K odd, stride 1, padding K/2
//! ```
//!
//! with a written-out backward over the image patches `col(x_n): [C·K², H·W]` (im2col):
//!
//! ```text
//! g      = ∂L/∂y ⊙ [y > 0]                  ReLU's derivative, as Burn's
//! ∂L/∂b  = Σ_n Σ_pixels g_n
//! ∂L/∂W  = Σ_n g_n · col(x_n)ᵀ
//! ∂L/∂x_n = col2im(Wᵀ · g_n)                 only when x needs a gradient
//! ```
//!
//! Burn's flex runs the same layer as a convolution (its input copied to NHWC, patches
//! filled per 512-pixel tile), a bias pass, a ReLU pass, and in the backward a ReLU pass, a
//! transposed convolution for `∂L/∂x` and, for `∂L/∂W`, a convolution with batch and channel
//! axes swapped whose "kernel" is the whole image (a gemm with `k = N·H·W` and `n = 9`, three
//! parallel tasks for the first layer). Here the images are split into one run per thread
//! (rayon), each image computed in one of two ways (`flex.rs`):
//!
//! * 3×3 kernels (the backbone's), `direct.rs`: a 9-tap stencil over zero-padded planes for
//!   the forward and `∂L/∂x` (the flipped kernel) and nine dot products for `∂L/∂W`, eight
//!   pixels per AVX2/FMA instruction where the CPU has them;
//! * other odd kernels: the patches (im2col) and three gemms per image (the `gemm` crate,
//!   which Burn's flex also calls).
//!
//! Values and gradients match Burn's ops to float rounding (`tests/fused_conv_parity.rs`,
//! both paths); the speed is in docs/performance.md.
//!
//! Other backends and shapes (strides, dilation, groups, other padding, no bias, even
//! kernels), and `fused = false`, run Burn's `Conv2d` and `relu`.

#[cfg(feature = "fused-flex")]
mod autodiff;
#[cfg(feature = "fused-flex")]
mod direct;
#[cfg(feature = "fused-flex")]
mod flex;
#[cfg(feature = "fused-flex")]
mod ops;

#[cfg(feature = "fused-flex")]
pub use ops::FusedConvOps;

use burn::nn::conv::Conv2d;
use burn::tensor::activation::relu;
use burn::tensor::Tensor;

/// `max(0, conv(x) + b)`: the fused op where [`fusable`] and `fused`, otherwise Burn's
/// `Conv2d::forward` and `relu` (the reference path).
pub fn conv_relu(conv: &Conv2d, x: Tensor<4>, fused: bool) -> Tensor<4> {
    #[cfg(feature = "fused-flex")]
    if fused && fusable(conv, &x) {
        if let Some(bias) = &conv.bias {
            let out =
                <burn::backend::Dispatch as FusedConvOps>::conv_relu_forward(x.into_dispatch(), conv.weight.val().into_dispatch(), bias.val().into_dispatch());
            return Tensor::from_dispatch(out);
        }
    }
    let _ = fused;
    relu(conv.forward(x))
}

/// Whether this build runs `conv` on `x` fused: f32 tensors on flex (feature `fused-flex`), an
/// odd square kernel with stride 1, dilation 1, one group, padding `K/2` on every side (`Same`
/// or the equal `Explicit`), a bias, and no empty dimension.
pub fn fusable(conv: &Conv2d, x: &Tensor<4>) -> bool {
    #[cfg(feature = "fused-flex")]
    {
        use burn::nn::PaddingConfig2d;
        use burn::tensor::DType;
        let [k, k2] = conv.kernel_size;
        let pad = k / 2;
        let padding = match conv.padding {
            PaddingConfig2d::Same => true,
            PaddingConfig2d::Explicit(t, l, b, r) => [t, l, b, r] == [pad; 4],
            PaddingConfig2d::Valid => false,
        };
        let weight = conv.weight.val();
        let flex = on_flex(&x.device());
        let f32s = x.dtype() == DType::F32 && weight.dtype() == DType::F32 && conv.bias.as_ref().is_some_and(|b| b.val().dtype() == DType::F32);
        let [o, c, wk, wk2] = weight.dims();
        let [n, xc, h, w] = x.dims();
        flex && f32s
            && padding
            && k == k2
            && [wk, wk2] == [k, k2]
            && k % 2 == 1
            && conv.stride == [1, 1]
            && conv.dilation == [1, 1]
            && conv.groups == 1
            && xc == c
            && [n, c, h, w, o].iter().all(|&d| d > 0)
    }
    #[cfg(not(feature = "fused-flex"))]
    {
        let _ = (conv, x);
        false
    }
}

/// Whether `device` is flex, the CPU backend this crate's fused ops (the convolution here,
/// the text encoder's dropout mask in `model::dropout`) are written for; false in builds
/// without it (feature `fused-flex`).
pub fn on_flex(device: &burn::tensor::Device) -> bool {
    #[cfg(feature = "fused-flex")]
    {
        matches!(device.clone().inner().as_dispatch(), burn::backend::DispatchDevice::Flex(_))
    }
    #[cfg(not(feature = "fused-flex"))]
    {
        let _ = device;
        false
    }
}
