//! The fused aggregation as CubeCL kernels (WGPU and the other CubeCL runtimes). The forward
//! and `∂L/∂x` run one thread per output element `(node, head, channel)`: neighbouring threads
//! read neighbouring channels of the same rows, and each recomputes its `(node, head)`'s
//! softmax statistics over the node's few in-edges rather than sharing them. `∂L/∂e` runs one
//! thread per `(target, head)`.

use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::TensorMetadata;
use burn::tensor::Shape;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeBackend;
use cubecl::calculate_cube_count_elemwise;
use cubecl::prelude::*;

use super::ops::FusedGatOps;
use super::packed_offsets;

/// Forward: `out[i,h,c] = Σ_p α_p x[src_p,h,c]` over the edges `p` into `i`; the thread of
/// channel 0 also writes `α` for its head. `idx` is the packed index ([`super::GatIndex`]).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn forward_kernel<F: Float, I: Int>(
    scores: &Tensor<F>,
    x: &Tensor<F>,
    idx: &Tensor<I>,
    out: &mut Tensor<F>,
    alpha: &mut Tensor<F>,
    nodes: usize,
    heads: usize,
    channels: usize,
    in_edge: usize,
    in_src: usize,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    let pos = ABSOLUTE_POS;
    if pos >= nodes * heads * channels {
        terminate!();
    }
    let c = pos % channels;
    let ih = pos / channels;
    let h = ih % heads;
    let i = ih / heads;
    let lo = usize::cast_from(idx[i]);
    let hi = usize::cast_from(idx[i + 1]);
    let mut acc = F::new(0.0_f32);
    if hi > lo {
        let mut m = scores[usize::cast_from(idx[in_edge + lo]) * heads + h];
        for p in lo + 1..hi {
            m = F::max(m, scores[usize::cast_from(idx[in_edge + p]) * heads + h]);
        }
        let mut sum = F::new(0.0_f32);
        for p in lo..hi {
            sum += F::exp(scores[usize::cast_from(idx[in_edge + p]) * heads + h] - m);
        }
        let den = sum + F::new(1e-16_f32);
        for p in lo..hi {
            let k = usize::cast_from(idx[in_edge + p]);
            let j = usize::cast_from(idx[in_src + p]);
            let a = F::exp(scores[k * heads + h] - m) / den;
            acc += x[(j * heads + h) * channels + c] * a;
            if c == 0 {
                alpha[k * heads + h] = a;
            }
        }
    }
    out[pos] = acc;
}

/// `∂L/∂e`: per `(i, h)`, `g_k = ⟨∂L/∂out[i,h,:], x[src_k,h,:]⟩` for the edges `k` into `i`,
/// then `α_k (g_k − Σ α g)`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn scores_kernel<F: Float, I: Int>(
    alpha: &Tensor<F>,
    x: &Tensor<F>,
    grad: &Tensor<F>,
    idx: &Tensor<I>,
    de: &mut Tensor<F>,
    nodes: usize,
    heads: usize,
    channels: usize,
    in_edge: usize,
    in_src: usize,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    let pos = ABSOLUTE_POS;
    if pos >= nodes * heads {
        terminate!();
    }
    let h = pos % heads;
    let i = pos / heads;
    let lo = usize::cast_from(idx[i]);
    let hi = usize::cast_from(idx[i + 1]);
    let mut s = F::new(0.0_f32);
    for p in lo..hi {
        let k = usize::cast_from(idx[in_edge + p]);
        let j = usize::cast_from(idx[in_src + p]);
        let mut dot = F::new(0.0_f32);
        for c in 0..channels {
            dot += grad[(i * heads + h) * channels + c] * x[(j * heads + h) * channels + c];
        }
        de[k * heads + h] = dot;
        s += alpha[k * heads + h] * dot;
    }
    for p in lo..hi {
        let k = usize::cast_from(idx[in_edge + p]);
        de[k * heads + h] = alpha[k * heads + h] * (de[k * heads + h] - s);
    }
}

/// `∂L/∂x[j,h,c] = Σ_p α_p ∂L/∂out[dst_p,h,c]` over the edges `p` out of `j`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn source_kernel<F: Float, I: Int>(
    alpha: &Tensor<F>,
    grad: &Tensor<F>,
    idx: &Tensor<I>,
    gx: &mut Tensor<F>,
    nodes: usize,
    heads: usize,
    channels: usize,
    out_ptr: usize,
    out_edge: usize,
    out_dst: usize,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    let pos = ABSOLUTE_POS;
    if pos >= nodes * heads * channels {
        terminate!();
    }
    let c = pos % channels;
    let jh = pos / channels;
    let h = jh % heads;
    let j = jh / heads;
    let lo = usize::cast_from(idx[out_ptr + j]);
    let hi = usize::cast_from(idx[out_ptr + j + 1]);
    let mut acc = F::new(0.0_f32);
    for p in lo..hi {
        let k = usize::cast_from(idx[out_edge + p]);
        let i = usize::cast_from(idx[out_dst + p]);
        acc += grad[(i * heads + h) * channels + c] * alpha[k * heads + h];
    }
    gx[pos] = acc;
}

fn empty(like: &CubeTensor, shape: impl Into<Shape>) -> CubeTensor {
    empty_device_contiguous_dtype(like.client.clone(), like.device.clone(), shape.into(), like.dtype)
}

/// Launch geometry for `len` threads.
fn geometry(like: &CubeTensor, len: usize) -> (CubeCount, CubeDim) {
    let cube_dim = CubeDim::new(&like.client, len);
    (calculate_cube_count_elemwise(&like.client, len, cube_dim), cube_dim)
}

impl FusedGatOps for CubeBackend {
    fn gat_aggregate_forward(scores: FloatTensor<Self>, x: FloatTensor<Self>, index: IntTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (scores, x, index) = (into_contiguous(scores), into_contiguous(x), into_contiguous(index));
        let [n, h, c] = x.shape().dims::<3>();
        let [e, _] = scores.shape().dims::<2>();
        let out = empty(&x, [n, h, c]);
        let alpha = empty(&x, [e, h]);
        let len = n * h * c;
        if len == 0 {
            return (out, alpha);
        }
        let [_, _, in_edge, in_src, _, _] = packed_offsets(n, e);
        let (count, dim) = geometry(&x, len);
        let dtypes = [dtype_to_storage_type(x.dtype), dtype_to_storage_type(index.dtype)];
        forward_kernel::launch(
            &x.client.clone(),
            count,
            dim,
            scores.into_tensor_arg(),
            x.into_tensor_arg(),
            index.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            alpha.clone().into_tensor_arg(),
            n,
            h,
            c,
            in_edge,
            in_src,
            dtypes,
        );
        (out, alpha)
    }

    fn gat_aggregate_backward(
        alpha: FloatTensor<Self>,
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        index: IntTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (alpha, x, grad, index) = (into_contiguous(alpha), into_contiguous(x), into_contiguous(grad), into_contiguous(index));
        let [n, h, c] = x.shape().dims::<3>();
        let [e, _] = alpha.shape().dims::<2>();
        let de = empty(&x, [e, h]);
        let gx = empty(&x, [n, h, c]);
        if n * h * c == 0 {
            return (de, gx);
        }
        let [_, out_ptr, in_edge, in_src, out_edge, out_dst] = packed_offsets(n, e);
        let dtypes = [dtype_to_storage_type(x.dtype), dtype_to_storage_type(index.dtype)];
        let client = x.client.clone();
        let (count, dim) = geometry(&x, n * h);
        scores_kernel::launch(
            &client,
            count,
            dim,
            alpha.clone().into_tensor_arg(),
            x.clone().into_tensor_arg(),
            grad.clone().into_tensor_arg(),
            index.clone().into_tensor_arg(),
            de.clone().into_tensor_arg(),
            n,
            h,
            c,
            in_edge,
            in_src,
            dtypes,
        );
        let (count, dim) = geometry(&x, n * h * c);
        source_kernel::launch(
            &client,
            count,
            dim,
            alpha.into_tensor_arg(),
            grad.into_tensor_arg(),
            index.into_tensor_arg(),
            gx.clone().into_tensor_arg(),
            n,
            h,
            c,
            out_ptr,
            out_edge,
            out_dst,
            dtypes,
        );
        (de, gx)
    }
}
