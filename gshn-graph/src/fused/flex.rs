//! The fused aggregation on flex: Rust over f32 slices, rayon over chunks of nodes.
//!
//! `x`, `out` and their gradients are `[N, H·C]` row-major, so a node's messages are one
//! contiguous run. The forward and `∂L/∂e` walk the targets (the edges into a chunk of nodes
//! are one contiguous range of the by-target CSR), `∂L/∂x` walks the sources. Per-edge values
//! (`α`, `∂L/∂e`) are computed in CSR order into chunk-owned slices and permuted back to edge
//! order in one serial pass.

use std::borrow::Cow;

use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::{DType, TensorData};
use rayon::prelude::*;

use super::ops::FusedGatOps;
use super::packed_offsets;

/// The values of a flex float tensor, contiguous.
fn values(t: &FloatTensor<Flex>) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("the fused GAT aggregation runs on f32").to_vec()),
    }
}

/// The packed index as `u32`: borrowed where flex holds it so (its default int type is 32
/// bits), else converted.
fn indices(t: &IntTensor<Flex>) -> Cow<'_, [u32]> {
    if let Some(v) = t.as_slice::<i32>() {
        return Cow::Borrowed(bytemuck_u32(v));
    }
    if let Some(v) = t.as_slice::<u32>() {
        return Cow::Borrowed(v);
    }
    let t = t.to_contiguous();
    let wide = |v: i64| u32::try_from(v).expect("GAT index values fit in u32");
    Cow::Owned(match t.dtype() {
        DType::I64 => t.as_slice::<i64>().expect("contiguous").iter().map(|&v| wide(v)).collect(),
        DType::U64 => t.as_slice::<u64>().expect("contiguous").iter().map(|&v| wide(v as i64)).collect(),
        DType::I32 => t.as_slice::<i32>().expect("contiguous").iter().map(|&v| wide(v as i64)).collect(),
        DType::U32 => t.as_slice::<u32>().expect("contiguous").to_vec(),
        other => panic!("the GAT index must be an integer tensor, got {other:?}"),
    })
}

/// `i32` indices as `u32`, the same bits ([`super::packed_index`] writes no negative value;
/// one would turn into a huge index that the bounds checks reject).
fn bytemuck_u32(v: &[i32]) -> &[u32] {
    // SAFETY: i32 and u32 have the same size and alignment, and every bit pattern is valid.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u32, v.len()) }
}

fn tensor(values: Vec<f32>, shape: impl Into<burn::tensor::Shape>) -> FloatTensor<Flex> {
    Flex::float_from_data(TensorData::new(values, shape.into()), &Default::default())
}

/// Nodes per rayon task: about eight tasks per thread, 16 to 1024 nodes.
fn chunk_len(n: usize) -> usize {
    (n / (8 * rayon::current_num_threads()).max(1)).clamp(16, 1024)
}

/// The layout of one call: `n` nodes, `e` edges, `h` heads, `c` channels, and the CSR.
struct Csr<'a> {
    n: usize,
    h: usize,
    c: usize,
    ptr: &'a [u32],
    /// Edge ids in CSR order.
    edge: &'a [u32],
    /// The other end of each edge in CSR order.
    other: &'a [u32],
}

impl<'a> Csr<'a> {
    /// The by-target (`by_target`) or by-source view of the packed index `idx`.
    fn new(idx: &'a [u32], n: usize, e: usize, h: usize, c: usize, by_target: bool) -> Self {
        let [ip, op, ie, is, oe, od] = packed_offsets(n, e);
        let (p, ed, ot) = if by_target { (ip, ie, is) } else { (op, oe, od) };
        Self { n, h, c, ptr: &idx[p..p + n + 1], edge: &idx[ed..ed + e], other: &idx[ot..ot + e] }
    }

    /// The first CSR position of node `i` (`i = n`: the end).
    #[inline(always)]
    fn at(&self, i: usize) -> usize {
        self.ptr[i] as usize
    }

    /// `(edge id, other end)` at CSR positions `a..b`.
    #[inline(always)]
    fn pairs(&self, a: usize, b: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.edge[a..b].iter().zip(&self.other[a..b]).map(|(&k, &j)| (k as usize, j as usize))
    }

    /// Node chunks `lo..hi` for rayon.
    fn ranges(&self) -> Vec<(usize, usize)> {
        let chunk = chunk_len(self.n);
        (0..self.n).step_by(chunk).map(|lo| (lo, (lo + chunk).min(self.n))).collect()
    }

    /// `buf` cut per range: `H·C` floats per node (`per_edge` false) or `H` per CSR position.
    fn split<'b>(&self, ranges: &[(usize, usize)], mut buf: &'b mut [f32], per_edge: bool) -> Vec<&'b mut [f32]> {
        ranges
            .iter()
            .map(|&(lo, hi)| {
                let len = if per_edge { (self.at(hi) - self.at(lo)) * self.h } else { (hi - lo) * self.h * self.c };
                let (mine, rest) = std::mem::take(&mut buf).split_at_mut(len);
                buf = rest;
                mine
            })
            .collect()
    }
}

/// `⟨a, b⟩` in eight independent lanes, so that it vectorises.
#[inline(always)]
fn dot_product(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(&p, &q)| p * q).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `dst[edge[p]·H + h] = src[p·H + h]`: per-edge values from CSR order back to edge order.
fn to_edge_order(src: &[f32], edge: &[u32], h: usize) -> Vec<f32> {
    let mut dst = vec![0f32; src.len()];
    for (p, &k) in edge.iter().enumerate() {
        let k = k as usize;
        dst[k * h..(k + 1) * h].copy_from_slice(&src[p * h..(p + 1) * h]);
    }
    dst
}

impl FusedGatOps for Flex {
    fn gat_aggregate_forward(scores: FloatTensor<Self>, x: FloatTensor<Self>, index: IntTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [n, h, c] = x.shape().dims::<3>();
        let [e, _] = scores.shape().dims::<2>();
        let (s, xs, idx) = (values(&scores), values(&x), indices(&index));
        let (s, xs): (&[f32], &[f32]) = (&s, &xs);
        let csr = Csr::new(&idx, n, e, h, c, true);
        let hc = h * c;
        let mut out = vec![0f32; n * hc];
        let mut alpha = vec![0f32; e * h];
        let ranges = csr.ranges();
        let chunks: Vec<_> = ranges.iter().zip(csr.split(&ranges, &mut out, false)).zip(csr.split(&ranges, &mut alpha, true)).collect();
        let csr = &csr;
        chunks.into_par_iter().for_each_init(
            || vec![0f32; 2 * h],
            |stats, ((&(lo, hi), rows), alpha)| {
                let base = csr.at(lo);
                for i in lo..hi {
                    let (a, b) = (csr.at(i), csr.at(i + 1));
                    if a == b {
                        continue;
                    }
                    let (max, sum) = stats.split_at_mut(h);
                    max.fill(f32::MIN);
                    sum.fill(0.0);
                    for (k, _) in csr.pairs(a, b) {
                        for (m, &v) in max.iter_mut().zip(&s[k * h..(k + 1) * h]) {
                            *m = m.max(v);
                        }
                    }
                    let w = &mut alpha[(a - base) * h..(b - base) * h];
                    for (wr, (k, _)) in w.chunks_exact_mut(h).zip(csr.pairs(a, b)) {
                        for (((o, &v), m), t) in wr.iter_mut().zip(&s[k * h..(k + 1) * h]).zip(max.iter()).zip(sum.iter_mut()) {
                            *o = (v - m).exp();
                            *t += *o;
                        }
                    }
                    sum.iter_mut().for_each(|t| *t += 1e-16);
                    for wr in w.chunks_exact_mut(h) {
                        wr.iter_mut().zip(sum.iter()).for_each(|(o, t)| *o /= t);
                    }
                    let row = &mut rows[(i - lo) * hc..(i - lo + 1) * hc];
                    for (wr, (_, j)) in w.chunks_exact(h).zip(csr.pairs(a, b)) {
                        let xr = &xs[j * hc..(j + 1) * hc];
                        for (hh, &aw) in wr.iter().enumerate() {
                            let span = hh * c..(hh + 1) * c;
                            row[span.clone()].iter_mut().zip(&xr[span]).for_each(|(o, &xv)| *o += xv * aw);
                        }
                    }
                }
            },
        );
        let alpha = to_edge_order(&alpha, csr.edge, h);
        (tensor(out, [n, h, c]), tensor(alpha, [e, h]))
    }

    fn gat_aggregate_backward(
        alpha: FloatTensor<Self>,
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        index: IntTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [n, h, c] = x.shape().dims::<3>();
        let [e, _] = alpha.shape().dims::<2>();
        let (al, xs, g, idx) = (values(&alpha), values(&x), values(&grad), indices(&index));
        let (al, xs, g): (&[f32], &[f32], &[f32]) = (&al, &xs, &g);
        let hc = h * c;

        // ∂L/∂e, by target: g_k = ⟨∂L/∂out_i, x_j⟩, then α_k (g_k − Σ α g).
        let by_target = Csr::new(&idx, n, e, h, c, true);
        let mut de = vec![0f32; e * h];
        let ranges = by_target.ranges();
        let chunks: Vec<_> = ranges.iter().zip(by_target.split(&ranges, &mut de, true)).collect();
        let csr = &by_target;
        chunks.into_par_iter().for_each_init(
            || vec![0f32; h],
            |dot, (&(lo, hi), de)| {
                let base = csr.at(lo);
                for i in lo..hi {
                    let (a, b) = (csr.at(i), csr.at(i + 1));
                    let grow = &g[i * hc..(i + 1) * hc];
                    dot.fill(0.0);
                    let w = &mut de[(a - base) * h..(b - base) * h];
                    for (wr, (k, j)) in w.chunks_exact_mut(h).zip(csr.pairs(a, b)) {
                        let xr = &xs[j * hc..(j + 1) * hc];
                        for (hh, ((o, &aw), d)) in wr.iter_mut().zip(&al[k * h..(k + 1) * h]).zip(dot.iter_mut()).enumerate() {
                            *o = dot_product(&grow[hh * c..(hh + 1) * c], &xr[hh * c..(hh + 1) * c]);
                            *d += aw * *o;
                        }
                    }
                    for (wr, (k, _)) in w.chunks_exact_mut(h).zip(csr.pairs(a, b)) {
                        for ((o, &aw), &d) in wr.iter_mut().zip(&al[k * h..(k + 1) * h]).zip(dot.iter()) {
                            *o = aw * (*o - d);
                        }
                    }
                }
            },
        );
        let de = to_edge_order(&de, by_target.edge, h);

        // ∂L/∂x, by source: Σ_{j→i} α ∂L/∂out_i.
        let by_source = Csr::new(&idx, n, e, h, c, false);
        let mut gx = vec![0f32; n * hc];
        let ranges = by_source.ranges();
        let chunks: Vec<_> = ranges.iter().zip(by_source.split(&ranges, &mut gx, false)).collect();
        let csr = &by_source;
        chunks.into_par_iter().for_each(|(&(lo, hi), rows)| {
            for j in lo..hi {
                let row = &mut rows[(j - lo) * hc..(j - lo + 1) * hc];
                for (k, i) in csr.pairs(csr.at(j), csr.at(j + 1)) {
                    let grow = &g[i * hc..(i + 1) * hc];
                    for (hh, &aw) in al[k * h..(k + 1) * h].iter().enumerate() {
                        let span = hh * c..(hh + 1) * c;
                        row[span.clone()].iter_mut().zip(&grow[span]).for_each(|(o, &gv)| *o += gv * aw);
                    }
                }
            }
        });
        (tensor(de, [e, h]), tensor(gx, [n, h, c]))
    }
}
