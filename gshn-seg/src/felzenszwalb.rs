//! Felzenszwalb–Huttenlocher graph-based segmentation with scikit-image's semantics
//! (`skimage.segmentation.felzenszwalb`).
//!
//! The image (floats in `[0, 1]`) is smoothed by a Gaussian of width `sigma`; pixels are
//! nodes of an 8-connected grid whose edge weights are RGB Euclidean distances. Edges are
//! visited in increasing weight; two components `C₁, C₂` merge when
//! `w < min(Int(C₁) + k/|C₁|, Int(C₂) + k/|C₂|)` with `k = scale/255` (skimage's rescaling)
//! and `Int(C)` the largest weight inside `C`'s spanning tree. Components smaller than
//! `min_size` are then merged along the remaining edges in the same order.

use image::RgbImage;

use crate::error::{invalid, Result};
use crate::filter::gaussian_blur;
use crate::image_io::{check_size, ImageLimits};
use crate::segmentation::Segmentation;

/// Parameters of [`felzenszwalb`], with skimage's defaults.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FelzenszwalbParams {
    /// Observation scale `k`: larger means larger segments. Default 1.
    pub scale: f64,
    /// Gaussian pre-smoothing width. Default 0.8.
    pub sigma: f64,
    /// Minimum component size, enforced in post-processing. Default 20.
    pub min_size: usize,
}

impl Default for FelzenszwalbParams {
    fn default() -> Self {
        Self { scale: 1.0, sigma: 0.8, min_size: 20 }
    }
}

/// Pixel limit: edges are packed as `pixel · 4 + direction` in a `u32`.
const MAX_PIXELS: u64 = 1 << 30;

/// Segments an 8-bit RGB image; every pixel gets a segment (labels in raster order of first
/// appearance).
///
/// The result is exactly that of the textbook version (kept in `tests/reference/mod.rs`); what
/// differs is how it is computed. The image is smoothed as three planes. Edge `(pixel a,
/// direction d)` lives in slot `d·N + a`, so slots increase in skimage's edge order and ties
/// between equal weights go to the smaller slot. The order by (weight, slot) comes from a
/// stable radix sort on the weight rounded to `f32` (monotone, so it can only tie unequal
/// weights, never invert them) followed by a pass that re-sorts those ties by the exact weight.
/// The forest uses union by size and path halving (roots differ, partitions do not) and caches
/// each component's threshold `Int(C) + k/|C|`, computed by the same expression as before.
pub fn felzenszwalb(img: &RgbImage, params: &FelzenszwalbParams) -> Result<Segmentation> {
    let (w, h) = img.dimensions();
    check_size(w, h, &ImageLimits::unlimited())?;
    if !(params.scale.is_finite() && params.scale > 0.0) {
        return Err(invalid("scale", format!("must be finite and > 0, got {}", params.scale)));
    }
    if !(params.sigma.is_finite() && (0.0..=crate::filter::MAX_SIGMA).contains(&params.sigma)) {
        return Err(invalid(
            "sigma",
            format!("must lie in [0, {}] (the Gaussian's kernel spans 8σ + 1 pixels), got {}", crate::filter::MAX_SIGMA, params.sigma),
        ));
    }
    if w as u64 * h as u64 > MAX_PIXELS {
        return Err(invalid("image", format!("{w}×{h} is over Felzenszwalb's limit of 2^30 pixels")));
    }
    let (w, h) = (w as usize, h as usize);
    let n = w * h;
    let planes: [Vec<f64>; 3] = [0, 1, 2].map(|c| {
        let mut p: Vec<f64> = img.as_raw()[c..].iter().step_by(3).map(|&v| v as f64 / 255.0).collect();
        gaussian_blur(&mut p, w, h, 1, params.sigma);
        p
    });
    let (weights, mut order) = edge_weights(&planes, w, h);
    drop(planes);
    let mut sorted = radix_sort_high(&mut order);
    // `sorted[i]` becomes the bits of edge `order[i]`'s weight.
    sort_ties(&mut order, &weights, &mut sorted);
    drop(weights);

    let n32 = n as u32;
    let w32 = w as u32;
    let offset = [1u32.wrapping_neg(), w32.wrapping_neg(), (w32 + 1).wrapping_neg(), w32 - 1];
    // An edge's two pixels from its slot.
    let ends = |slot: u32| {
        let d = (slot >= n32) as u32 + (slot >= 2 * n32) as u32 + (slot >= 3 * n32) as u32;
        let a = slot - d * n32;
        (a, a.wrapping_add(offset[d as usize]))
    };
    let k = params.scale / 255.0;
    let mut forest = Forest::new(n);
    // The merge threshold `Int(C) + k/|C|` of each root (`Int` = 0 for a single pixel).
    let mut threshold = vec![k / 1.0; n];
    for (&e, &c) in order.iter().zip(&sorted) {
        let (a, b) = ends(e as u32);
        let (ra, rb) = (forest.find(a), forest.find(b));
        if ra == rb {
            continue;
        }
        let c = f64::from_bits(c);
        if c < threshold[ra as usize].min(threshold[rb as usize]) {
            let r = forest.join_roots(ra, rb);
            threshold[r as usize] = c + k / forest.size(r) as f64;
        }
    }
    drop((threshold, sorted));
    // Small components merge along the edges in the same order. A pixel whose component is
    // already big stays in a big one, so an edge between two such pixels never merges, and
    // once no small component is left the scan stops.
    let min = params.min_size.min(u32::MAX as usize) as u32;
    let mut small = 0usize;
    let mut big = vec![false; n];
    for i in 0..n32 {
        let r = forest.find(i);
        big[i as usize] = forest.size(r) >= min;
        small += (r == i && forest.size(r) < min) as usize;
    }
    for &e in &order {
        if small == 0 {
            break;
        }
        let (a, b) = ends(e as u32);
        if big[a as usize] && big[b as usize] {
            continue;
        }
        let (ra, rb) = (forest.find(a), forest.find(b));
        let (sa, sb) = (forest.size(ra), forest.size(rb));
        if ra != rb && (sa < min || sb < min) {
            forest.join_roots(ra, rb);
            small -= (sa < min) as usize + (sb < min) as usize;
            small += (sa + sb < min) as usize;
        }
    }
    let mut labels: Vec<u32> = (0..n32).map(|i| forest.find(i)).collect();
    Segmentation::relabel_sequential(&mut labels);
    Segmentation::from_labels(w as u32, h as u32, labels)
}

/// Union–find over pixels: `node[i]` is `i`'s parent, or `−size` for a root (union by size,
/// path halving).
struct Forest {
    node: Vec<i32>,
}

impl Forest {
    fn new(n: usize) -> Self {
        Self { node: vec![-1; n] }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        loop {
            let p = self.node[x as usize];
            if p < 0 {
                return x;
            }
            let g = self.node[p as usize];
            if g < 0 {
                return p as u32;
            }
            self.node[x as usize] = g;
            x = g as u32;
        }
    }

    /// The size of a root's component.
    fn size(&self, root: u32) -> u32 {
        self.node[root as usize].unsigned_abs()
    }

    /// Joins two distinct roots; returns the new root.
    fn join_roots(&mut self, a: u32, b: u32) -> u32 {
        let (sa, sb) = (self.node[a as usize], self.node[b as usize]);
        let (big, small) = if sa <= sb { (a, b) } else { (b, a) };
        self.node[big as usize] = sa + sb;
        self.node[small as usize] = big as i32;
        big
    }
}

/// The 8-connected grid's edge weights by slot (`direction · N + pixel`; directions right,
/// down, down-right, up-right as in skimage; slots of edges that leave the image hold 0), and
/// the edges as `(weight as f32 bits) << 32 | slot`, in slot order.
fn edge_weights(p: &[Vec<f64>; 3], w: usize, h: usize) -> (Vec<f64>, Vec<u64>) {
    let n = w * h;
    let count = (w - 1) * h + w * (h - 1) + 2 * (w - 1) * (h - 1);
    let mut weights = vec![0.0f64; 4 * n];
    let mut order = Vec::with_capacity(count);
    // (direction, rows, first x, offset of the neighbour)
    let dirs = [(0, 0..h, 1, -1isize), (1, 1..h, 0, -(w as isize)), (2, 1..h, 1, -(w as isize) - 1), (3, 0..h.saturating_sub(1), 1, w as isize - 1)];
    for (dir, rows, x0, off) in dirs {
        for y in rows {
            let a = y * w + x0;
            let len = w - x0;
            let slot = dir * n + a;
            let out = &mut weights[slot..slot + len];
            row_weights(p, a, a.wrapping_add_signed(off), out);
            order.extend(out.iter().zip(slot as u64..).map(|(&c, s)| ((c as f32).to_bits() as u64) << 32 | s));
        }
    }
    (weights, order)
}

/// `out[i]` = the RGB distance between pixels `a + i` and `b + i`.
fn row_weights(p: &[Vec<f64>; 3], a: usize, b: usize, out: &mut [f64]) {
    let n = out.len();
    let (a0, a1, a2) = (&p[0][a..a + n], &p[1][a..a + n], &p[2][a..a + n]);
    let (b0, b1, b2) = (&p[0][b..b + n], &p[1][b..b + n], &p[2][b..b + n]);
    for i in 0..n {
        let (d0, d1, d2) = (a0[i] - b0[i], a1[i] - b1[i], a2[i] - b2[i]);
        out[i] = (d0 * d0 + d1 * d1 + d2 * d2).sqrt();
    }
}

/// Stable LSD radix sort of `keys` by their high 32 bits, in as few passes of at most 11 bits
/// as the largest key needs; a pass on a digit that every key shares is skipped. Returns the
/// scratch buffer (same length, contents unspecified).
fn radix_sort_high(keys: &mut Vec<u64>) -> Vec<u64> {
    let n = keys.len();
    let mut scratch = vec![0u64; n];
    let max = keys.iter().map(|&k| (k >> 32) as u32).max().unwrap_or(0);
    let bits = (32 - max.leading_zeros()) as usize;
    let passes = bits.div_ceil(11);
    if passes == 0 {
        return scratch;
    }
    let digit = bits.div_ceil(passes);
    let mask = (1usize << digit) - 1;
    let mut counts = vec![0u32; passes << digit];
    for &k in keys.iter() {
        let hi = (k >> 32) as usize;
        for (pass, c) in counts.chunks_exact_mut(1 << digit).enumerate() {
            c[(hi >> (pass * digit)) & mask] += 1;
        }
    }
    let mut at = vec![0usize; 1 << digit];
    for (pass, c) in counts.chunks_exact(1 << digit).enumerate() {
        if c.iter().any(|&m| m as usize == n) {
            continue;
        }
        let mut sum = 0;
        for (a, &m) in at.iter_mut().zip(c) {
            *a = sum;
            sum += m as usize;
        }
        let shift = 32 + pass * digit;
        for &k in keys.iter() {
            let d = (k >> shift) as usize & mask;
            scratch[at[d]] = k;
            at[d] += 1;
        }
        std::mem::swap(keys, &mut scratch);
    }
    scratch
}

/// Edges sorted by `f32` weight and then slot → sorted by exact weight and then slot: only
/// runs of equal `f32` weight can be out of order, and those are re-sorted. Writes each
/// sorted edge's exact weight (bits) to `sorted`.
fn sort_ties(order: &mut [u64], weights: &[f64], sorted: &mut [u64]) {
    for (s, &e) in sorted.iter_mut().zip(order.iter()) {
        *s = weights[e as u32 as usize].to_bits();
    }
    let mut i = 1;
    while i < order.len() {
        if sorted[i] >= sorted[i - 1] {
            i += 1;
            continue;
        }
        // An inversion, inside a run of equal f32 keys: re-sort the whole run.
        let hi = order[i] >> 32;
        let start = order[..i].iter().rposition(|&e| e >> 32 != hi).map_or(0, |p| p + 1);
        let end = order[i..].iter().position(|&e| e >> 32 != hi).map_or(order.len(), |p| i + p);
        let mut run: Vec<(u64, u32)> = (start..end).map(|j| (sorted[j], order[j] as u32)).collect();
        run.sort_unstable();
        for (j, (bits, slot)) in (start..end).zip(run) {
            sorted[j] = bits;
            order[j] = hi << 32 | slot as u64;
        }
        i = end;
    }
}
