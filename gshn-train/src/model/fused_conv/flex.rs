//! The fused convolution on flex: Rust over f32 slices, rayon over the images (one run of
//! neighbouring images per thread). 3×3 kernels take the direct loops of [`super::direct`];
//! other odd kernels the im2col + gemm path described here.
//!
//! Per image, the forward writes the image's patches (`im2col`, `[C·K², H·W]`) into a buffer
//! the thread reuses (a few hundred KiB at the backbone's shapes, so it stays in L2), fills the
//! output rows with the bias, adds `W · col` with one gemm (`O × C·K² × H·W`, no transposes:
//! `W`'s `[O, C, K, K]` layout is already the left factor's) straight into the image's
//! `[O, H, W]` output, and applies the ReLU while the rows are in cache. The backward rebuilds
//! the patches from the input instead of saving them, and runs two gemms per image: `∂L/∂W`'s
//! share `g · colᵀ` and, when `x` needs a gradient, `Wᵀ · g`, whose columns are added back onto
//! the image (`col2im`). The per-image shares of `∂L/∂W` and `∂L/∂b` are summed in image
//! order, so the result does not depend on the thread count or on rayon's scheduling.

use std::borrow::Cow;

use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::TensorData;
use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use super::direct::{dot9, stencil, Grid};
use super::ops::FusedConvOps;

/// The values of a flex tensor, contiguous.
fn values(t: &FloatTensor<Flex>) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("the fused convolution runs on f32").to_vec()),
    }
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FloatTensor<Flex> {
    Flex::float_from_data(TensorData::new(values, shape), &Default::default())
}

/// The sizes of one call: `x: [n, c, h, w]`, `weight: [o, c, k, k]`, padding `k / 2`.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    k: usize,
}

impl Geometry {
    fn new(x: &FloatTensor<Flex>, weight: &FloatTensor<Flex>) -> Self {
        let [n, c, h, w] = x.shape().dims::<4>();
        let [o, wc, k, k2] = weight.shape().dims::<4>();
        assert!(wc == c && k == k2 && k % 2 == 1, "fused convolution: weight [{o}, {wc}, {k}, {k2}] for input channels {c} (callers check `super::fusable`)");
        Self { n, c, h, w, o, k }
    }

    /// Pixels per channel plane.
    fn hw(&self) -> usize {
        self.h * self.w
    }

    /// Rows of the patch matrix, `C·K²`.
    fn patch(&self) -> usize {
        self.c * self.k * self.k
    }

    /// For kernel column `kx`, the output columns `ox` whose input column `ox + kx − pad`
    /// lies inside the image: `lo..hi` (empty where the kernel reaches past a narrow image),
    /// and the input column of `lo` (meaningful when the range is not empty).
    fn columns(&self, kx: usize) -> (usize, usize, usize) {
        let pad = self.k / 2;
        let lo = pad.saturating_sub(kx).min(self.w);
        let hi = (self.w + pad).saturating_sub(kx).min(self.w).max(lo);
        (lo, hi, (lo + kx).saturating_sub(pad))
    }

    /// The input row of output row `oy` under kernel row `ky`, if inside the image.
    fn row(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy + ky).checked_sub(self.k / 2).filter(|&iy| iy < self.h)
    }

    /// Whether any dimension is zero (nothing to compute; every output is zero or empty).
    fn empty(&self) -> bool {
        [self.n, self.c, self.h, self.w, self.o].contains(&0)
    }

    /// Rayon tasks: one run of neighbouring images per thread (each task allocates its
    /// buffers once; the images all cost the same).
    fn per_task(&self) -> usize {
        self.n.div_ceil(rayon::current_num_threads().max(1)).max(1)
    }
}

/// Writes one image's patches into `col: [C·K², H·W]`: row `(ci·K + ky)·K + kx`, column
/// `oy·W + ox` holds `x[ci, oy + ky − pad, ox + kx − pad]`, zero outside the image.
fn im2col(img: &[f32], g: &Geometry, col: &mut [f32]) {
    let (hw, w, k) = (g.hw(), g.w, g.k);
    for ci in 0..g.c {
        let plane = &img[ci * hw..(ci + 1) * hw];
        for ky in 0..k {
            for kx in 0..k {
                let (lo, hi, src_lo) = g.columns(kx);
                let row = &mut col[((ci * k + ky) * k + kx) * hw..][..hw];
                for (oy, out) in row.chunks_exact_mut(w).enumerate() {
                    match g.row(oy, ky) {
                        Some(iy) => {
                            out[..lo].fill(0.0);
                            if hi > lo {
                                out[lo..hi].copy_from_slice(&plane[iy * w + src_lo..][..hi - lo]);
                            }
                            out[hi..].fill(0.0);
                        }
                        None => out.fill(0.0),
                    }
                }
            }
        }
    }
}

/// Adds the patch gradients `dcol: [C·K², H·W]` back onto one image's gradient `dx: [C, H, W]`
/// (the transpose of [`im2col`]).
fn col2im(dcol: &[f32], g: &Geometry, dx: &mut [f32]) {
    let (hw, w, k) = (g.hw(), g.w, g.k);
    for ci in 0..g.c {
        let plane = &mut dx[ci * hw..(ci + 1) * hw];
        for ky in 0..k {
            for kx in 0..k {
                let (lo, hi, src_lo) = g.columns(kx);
                let row = &dcol[((ci * k + ky) * k + kx) * hw..][..hw];
                for (oy, d) in row.chunks_exact(w).enumerate() {
                    if let (Some(iy), true) = (g.row(oy, ky), hi > lo) {
                        for (p, &v) in plane[iy * w + src_lo..][..hi - lo].iter_mut().zip(&d[lo..hi]) {
                            *p += v;
                        }
                    }
                }
            }
        }
    }
}

/// `dst [m, n] (+)= lhs [m, k] · rhs [k, n]` on row-major buffers, with each factor's strides
/// `(column, row)`; `accumulate` adds to `dst` instead of overwriting it. One thread: the
/// callers already run one rayon task per thread, each over its own images.
#[allow(clippy::too_many_arguments)]
fn matmul(m: usize, n: usize, k: usize, dst: &mut [f32], accumulate: bool, lhs: &[f32], lhs_strides: (usize, usize), rhs: &[f32], rhs_strides: (usize, usize)) {
    // The last element a factor of `rows × cols` with strides `(column, row)` reads.
    let last = |rows: usize, cols: usize, (cs, rs): (usize, usize)| (rows - 1) * rs + (cols - 1) * cs;
    assert!(m > 0 && n > 0 && k > 0 && dst.len() >= m * n && lhs.len() > last(m, k, lhs_strides) && rhs.len() > last(k, n, rhs_strides));
    // SAFETY: the assertion above keeps every index gemm reads or writes inside the slices;
    // `dst` is borrowed mutably, so it overlaps neither factor.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_strides.0 as isize,
            lhs_strides.1 as isize,
            rhs.as_ptr(),
            rhs_strides.0 as isize,
            rhs_strides.1 as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}

/// Burn's ReLU: values ≤ 0 become 0 (NaN stays NaN). A select, not a conditional store: the
/// signs are random, and a branch mispredicts half the time (measured: a quarter of the first
/// layer's time).
#[inline(always)]
fn relu(v: f32) -> f32 {
    if v <= 0.0 {
        0.0
    } else {
        v
    }
}

/// Writes `∂L/∂y ⊙ [y > 0]` (Burn's ReLU backward: zero where the output is ≤ 0) into `dst`
/// and adds each value to `sum` in order (the bias gradient).
fn relu_grad(dst: &mut [f32], y: &[f32], grad: &[f32], sum: &mut f32) {
    for ((d, &yv), &gv) in dst.iter_mut().zip(y).zip(grad) {
        *d = if yv <= 0.0 { 0.0 } else { gv };
        *sum += *d;
    }
}

/// The im2col + gemm forward (any odd kernel): one image per call.
fn forward_gemm(g: &Geometry, xv: &[f32], wv: &[f32], bv: &[f32], y: &mut [f32]) {
    let (hw, p) = (g.hw(), g.patch());
    y.par_chunks_mut(g.o * hw).zip(xv.par_chunks(g.c * hw)).with_min_len(g.per_task()).for_each_init(
        || vec![0.0f32; p * hw],
        |col, (yi, xi)| {
            im2col(xi, g, col);
            for (row, &b) in yi.chunks_exact_mut(hw).zip(bv.iter()) {
                row.fill(b);
            }
            matmul(g.o, hw, p, yi, true, wv, (1, p), col, (1, hw));
            for v in yi.iter_mut() {
                *v = relu(*v);
            }
        },
    );
}

/// The direct 3×3 forward ([`direct`]).
fn forward_direct(g: &Geometry, xv: &[f32], wv: &[f32], bv: &[f32], y: &mut [f32]) {
    let grid = Grid::new(g.h, g.w);
    let (hw, len) = (g.hw(), grid.len());
    y.par_chunks_mut(g.o * hw).zip(xv.par_chunks(g.c * hw)).with_min_len(g.per_task()).for_each_init(
        || (vec![0.0f32; g.c * len], vec![0.0f32; grid.out_len()]),
        |(xp, acc), (yi, xi)| {
            for (plane, dst) in xi.chunks_exact(hw).zip(xp.chunks_exact_mut(len)) {
                grid.pad(plane, dst);
            }
            for (oc, (yo, &b)) in yi.chunks_exact_mut(hw).zip(bv).enumerate() {
                acc.fill(b);
                for (ci, src) in xp.chunks_exact(len).enumerate() {
                    stencil(acc, src, &taps(wv, oc * g.c + ci, false), &grid);
                }
                for (row, out) in acc.chunks_exact(grid.wp).zip(yo.chunks_exact_mut(g.w)) {
                    for (o, &v) in out.iter_mut().zip(row) {
                        *o = relu(v);
                    }
                }
            }
        },
    );
}

/// The nine weights of filter `i` (`o·C + c`), or flipped (`W[8 − t]`, for `∂L/∂x`).
fn taps(wv: &[f32], i: usize, flipped: bool) -> [f32; 9] {
    let w = &wv[i * 9..][..9];
    std::array::from_fn(|t| if flipped { w[8 - t] } else { w[t] })
}

/// One image's inputs to the backward and the outputs it writes.
struct ImageGrads<'a> {
    x: &'a [f32],
    y: &'a [f32],
    grad: &'a [f32],
    dw: &'a mut [f32],
    db: &'a mut [f32],
    /// Empty unless `∂L/∂x` is needed.
    dx: &'a mut [f32],
}

/// Runs `image` on every image with a per-task scratch from `scratch`, and returns
/// `(∂L/∂x, ∂L/∂W, ∂L/∂b)` with the images' shares summed in image order.
fn backward_images<S>(
    g: &Geometry,
    (xv, yv, gv): (&[f32], &[f32], &[f32]),
    need_dx: bool,
    scratch: impl Fn() -> S + Sync + Send,
    image: impl Fn(&mut S, ImageGrads) + Sync + Send,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (hw, p, o) = (g.hw(), g.patch(), g.o);
    let mut dw_parts = vec![0.0f32; g.n * o * p];
    let mut db_parts = vec![0.0f32; g.n * o];
    let mut dx = vec![0.0f32; if need_dx { g.n * g.c * hw } else { 1 }];
    if !g.empty() {
        let dx_images: Vec<&mut [f32]> = if need_dx { dx.chunks_mut(g.c * hw).collect() } else { (0..g.n).map(|_| <&mut [f32]>::default()).collect() };
        dw_parts
            .par_chunks_mut(o * p)
            .zip(db_parts.par_chunks_mut(o))
            .zip(xv.par_chunks(g.c * hw))
            .zip(yv.par_chunks(o * hw).zip(gv.par_chunks(o * hw)))
            .zip(dx_images)
            .with_min_len(g.per_task())
            .for_each_init(scratch, |s, ((((dw, db), x), (y, grad)), dx)| image(s, ImageGrads { x, y, grad, dw, db, dx }));
    }
    let mut dw = vec![0.0f32; o * p];
    for part in dw_parts.chunks_exact((o * p).max(1)) {
        for (d, &v) in dw.iter_mut().zip(part) {
            *d += v;
        }
    }
    let mut db = vec![0.0f32; o];
    for part in db_parts.chunks_exact(o.max(1)) {
        for (d, &v) in db.iter_mut().zip(part) {
            *d += v;
        }
    }
    (dx, dw, db)
}

/// The im2col + gemm backward of one image.
fn backward_gemm_image(g: &Geometry, wv: &[f32], (col, gm, dcol): &mut (Vec<f32>, Vec<f32>, Vec<f32>), im: ImageGrads) {
    let (hw, p, o) = (g.hw(), g.patch(), g.o);
    // g = ∂L/∂y ⊙ [y > 0] (Burn's ReLU backward) and its row sums, ∂L/∂b.
    for (((gm_row, y_row), g_row), db) in gm.chunks_exact_mut(hw).zip(im.y.chunks_exact(hw)).zip(im.grad.chunks_exact(hw)).zip(im.db.iter_mut()) {
        let mut sum = 0.0f32;
        relu_grad(gm_row, y_row, g_row, &mut sum);
        *db = sum;
    }
    im2col(im.x, g, col);
    // ∂L/∂W share [O, C·K²] = g [O, HW] · colᵀ [HW, C·K²].
    matmul(o, p, hw, im.dw, false, gm, (1, hw), col, (hw, 1));
    if !im.dx.is_empty() {
        // dcol [C·K², HW] = Wᵀ [C·K², O] · g [O, HW], then back onto the image.
        matmul(p, hw, o, dcol, false, wv, (p, 1), gm, (1, hw));
        col2im(dcol, g, im.dx);
    }
}

/// The direct 3×3 backward of one image ([`direct`]).
fn backward_direct_image(g: &Geometry, wv: &[f32], (xp, gp, dxacc): &mut (Vec<f32>, Vec<f32>, Vec<f32>), im: ImageGrads) {
    let grid = Grid::new(g.h, g.w);
    let (hw, len, w) = (g.hw(), grid.len(), g.w);
    // gpad_o = ∂L/∂y ⊙ [y > 0] padded, and its sums, ∂L/∂b.
    for (((gpo, y_o), g_o), db) in gp.chunks_exact_mut(len).zip(im.y.chunks_exact(hw)).zip(im.grad.chunks_exact(hw)).zip(im.db.iter_mut()) {
        gpo.fill(0.0);
        let mut sum = 0.0f32;
        for (r, (y_r, g_r)) in y_o.chunks_exact(w).zip(g_o.chunks_exact(w)).enumerate() {
            relu_grad(&mut gpo[(r + 1) * grid.wp + 1..][..w], y_r, g_r, &mut sum);
        }
        *db = sum;
    }
    for (plane, dst) in im.x.chunks_exact(hw).zip(xp.chunks_exact_mut(len)) {
        grid.pad(plane, dst);
    }
    for (oc, gpo) in gp.chunks_exact(len).enumerate() {
        let gq = &gpo[grid.interior()..][..grid.out_len()];
        for (ci, src) in xp.chunks_exact(len).enumerate() {
            im.dw[(oc * g.c + ci) * 9..][..9].copy_from_slice(&dot9(gq, src, &grid));
        }
    }
    if !im.dx.is_empty() {
        for (ci, dx_c) in im.dx.chunks_exact_mut(hw).enumerate() {
            dxacc.fill(0.0);
            for (oc, gpo) in gp.chunks_exact(len).enumerate() {
                stencil(dxacc, gpo, &taps(wv, oc * g.c + ci, true), &grid);
            }
            for (row, out) in dxacc.chunks_exact(grid.wp).zip(dx_c.chunks_exact_mut(w)) {
                out.copy_from_slice(&row[..w]);
            }
        }
    }
}

impl FusedConvOps for Flex {
    fn conv_relu_forward(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        let g = Geometry::new(&x, &weight);
        assert_eq!(bias.shape().dims::<1>(), [g.o], "fused convolution: bias for {} outputs", g.o);
        let (xv, wv, bv) = (values(&x), values(&weight), values(&bias));
        let mut y = vec![0.0f32; g.n * g.o * g.hw()];
        if !g.empty() {
            if g.k == 3 {
                forward_direct(&g, &xv, &wv, &bv, &mut y);
            } else {
                forward_gemm(&g, &xv, &wv, &bv, &mut y);
            }
        }
        tensor(y, [g.n, g.o, g.h, g.w])
    }

    fn conv_relu_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        y: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        need_dx: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let g = Geometry::new(&x, &weight);
        let (hw, p, o) = (g.hw(), g.patch(), g.o);
        for (what, t) in [("output", &y), ("gradient", &grad)] {
            assert_eq!(t.shape().dims::<4>(), [g.n, o, g.h, g.w], "fused convolution backward: the {what}'s shape");
        }
        let (xv, wv, yv, gv) = (values(&x), values(&weight), values(&y), values(&grad));
        let inputs = (&xv[..], &yv[..], &gv[..]);
        let (dx, dw, db) = if g.k == 3 {
            let grid = Grid::new(g.h, g.w);
            let scratch = || (vec![0.0f32; g.c * grid.len()], vec![0.0f32; o * grid.len()], vec![0.0f32; if need_dx { grid.out_len() } else { 0 }]);
            backward_images(&g, inputs, need_dx, scratch, |s, im| backward_direct_image(&g, &wv, s, im))
        } else {
            let scratch = || (vec![0.0f32; p * hw], vec![0.0f32; o * hw], vec![0.0f32; if need_dx { p * hw } else { 0 }]);
            backward_images(&g, inputs, need_dx, scratch, |s, im| backward_gemm_image(&g, &wv, s, im))
        };
        let dx = if need_dx { tensor(dx, [g.n, g.c, g.h, g.w]) } else { tensor(dx, [1, 1, 1, 1]) };
        (dx, tensor(dw, [o, g.c, g.k, g.k]), tensor(db, [o]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flex(values: Vec<f32>, shape: [usize; 4]) -> FloatTensor<Flex> {
        tensor(values, shape)
    }

    fn read(t: &FloatTensor<Flex>) -> Vec<f32> {
        values(t).into_owned()
    }

    /// Forward and backward of both paths give the same bits with one thread and with three.
    #[test]
    fn the_result_does_not_depend_on_the_thread_count() {
        for k in [3usize, 5] {
            let (n, c, o, h, w) = (7, 3, 4, 6, 5);
            let wave = |len: usize, s: f32| (0..len).map(|i| (i as f32 * 0.37 + s).sin()).collect::<Vec<f32>>();
            let run = || {
                let x = flex(wave(n * c * h * w, 0.1), [n, c, h, w]);
                let weight = flex(wave(o * c * k * k, 0.2), [o, c, k, k]);
                let bias = tensor(wave(o, 0.3), [o]);
                let y = Flex::conv_relu_forward(x.clone(), weight.clone(), bias);
                let grad = flex(wave(n * o * h * w, 0.4), [n, o, h, w]);
                let (dx, dw, db) = Flex::conv_relu_backward(x, weight, y.clone(), grad, true);
                [read(&y), read(&dx), read(&dw), read(&db)]
            };
            let pool = |threads| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let (one, three) = (pool(1).install(run), pool(3).install(run));
            assert_eq!(one, three, "kernel {k}");
        }
    }
}
