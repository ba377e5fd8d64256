//! SLIC superpixels (Achanta et al. 2012) with scikit-image's semantics
//! (`skimage.segmentation.slic`, 2-D, no mask, SLIC rather than SLICO).
//!
//! The image is rescaled to `[0, 1]` by its global min/max, converted to L*a*b*, optionally
//! smoothed, and multiplied by `1/compactness`. Cluster centres start on a regular grid of
//! step `S = round(√(H·W/n))` (skimage's `regular_grid`) with colour zero; each iteration
//! assigns every pixel within `±2S` of a centre to the centre minimising
//! `‖c_p − c_k‖² + ‖p − k‖²/S²`, then moves centres to their members' means, until no pixel
//! changes or `max_iter` is reached. `enforce_connectivity` then relabels 4-connected
//! components in raster order, merging those under `min_size_factor·HW/n` pixels into the
//! previously labelled neighbour and splitting those over `max_size_factor·HW/n`.

use image::RgbImage;

use crate::color::{linear_to_lab, srgb_to_linear};
use crate::error::{invalid, Result};
use crate::filter::gaussian_blur;
use crate::segmentation::Segmentation;

/// Parameters of [`slic`], with skimage's defaults.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SlicParams {
    /// Approximate number of superpixels. Default 100.
    pub n_segments: usize,
    /// Colour vs space balance: larger gives squarer superpixels. Default 10.
    pub compactness: f64,
    /// Maximum k-means iterations. Default 10.
    pub max_iter: usize,
    /// Gaussian pre-smoothing width. Default 0.
    pub sigma: f64,
    /// Convert to L*a*b* first. Default true.
    pub convert2lab: bool,
    /// Relabel connected components and absorb small ones. Default true.
    pub enforce_connectivity: bool,
    /// Components under this fraction of the mean size are merged. Default 0.5.
    pub min_size_factor: f64,
    /// Components over this multiple of the mean size are split. Default 3.
    pub max_size_factor: f64,
}

impl Default for SlicParams {
    fn default() -> Self {
        Self {
            n_segments: 100,
            compactness: 10.0,
            max_iter: 10,
            sigma: 0.0,
            convert2lab: true,
            enforce_connectivity: true,
            min_size_factor: 0.5,
            max_size_factor: 3.0,
        }
    }
}

/// skimage's `regular_grid` for a `(1, h, w)` volume: returns (start, step) along y and x.
fn grid(h: usize, w: usize, n: usize) -> ((usize, usize), (usize, usize), f64) {
    let space = (h * w) as f64;
    if space <= n as f64 {
        return ((0, 1), (0, 1), 1.0);
    }
    let mut dims = [(1usize, 0usize), (h, 1), (w, 2)];
    dims.sort_by_key(|d| d.0);
    let mut steps = [(space / n as f64).powf(1.0 / 3.0); 3];
    if dims.iter().zip(steps).any(|(d, s)| (d.0 as f64) < s) {
        for dim in 0..3 {
            steps[dim] = dims[dim].0 as f64;
            let rest: f64 = dims[dim + 1..].iter().map(|d| d.0 as f64).product();
            let left = 3 - dim - 1;
            for s in steps.iter_mut().skip(dim + 1) {
                *s = (rest / n as f64).powf(1.0 / left as f64);
            }
            if dims.iter().zip(steps).all(|(d, s)| d.0 as f64 >= s) {
                break;
            }
        }
    }
    let mut by_axis = [(0usize, 1usize); 3];
    for (i, d) in dims.iter().enumerate() {
        let start = (steps[i] / 2.0).floor() as usize;
        let step = round_half_even(steps[i]).max(1.0) as usize;
        by_axis[d.1] = (start, step);
    }
    let max_step = by_axis.iter().map(|a| a.1).max().unwrap_or(1) as f64;
    (by_axis[1], by_axis[2], max_step)
}

fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

/// Segments an 8-bit RGB image into superpixels; every pixel gets a segment.
pub fn slic(img: &RgbImage, params: &SlicParams) -> Result<Segmentation> {
    let (w, h) = img.dimensions();
    crate::image_io::check_size(w, h, &crate::image_io::ImageLimits::unlimited())?;
    if params.n_segments == 0 {
        return Err(invalid("n_segments", "must be at least 1"));
    }
    if !(params.compactness.is_finite() && params.compactness > 0.0) {
        return Err(invalid("compactness", format!("must be finite and > 0, got {}", params.compactness)));
    }
    if !(params.sigma.is_finite() && (0.0..=crate::filter::MAX_SIGMA).contains(&params.sigma)) {
        return Err(invalid(
            "sigma",
            format!("must lie in [0, {}] (the Gaussian's kernel spans 8σ + 1 pixels), got {}", crate::filter::MAX_SIGMA, params.sigma),
        ));
    }
    let (w, h) = (w as usize, h as usize);
    let feat = features(img, params);

    let ((y0, sy), (x0, sx), step) = grid(h, w, params.n_segments);
    // Centres: [y, x, c0, c1, c2], colour initialised to zero as in skimage.
    let mut centres: Vec<[f64; 5]> = Vec::new();
    for y in (y0..h).step_by(sy) {
        for x in (x0..w).step_by(sx) {
            centres.push([y as f64, x as f64, 0.0, 0.0, 0.0]);
        }
    }
    let n = centres.len();
    let spatial_weight = 1.0 / (step * step);
    let window = 2.0 * step;
    let mut nearest = vec![u64::MAX; w * h];
    let mut alive = vec![true; n];
    let mut windows: Vec<Window> = Vec::with_capacity(n);
    let mut dx2 = Vec::new();
    let mut strip = Vec::with_capacity(n);
    let mut dist = vec![0.0f64; STRIP * w];
    let mut sums = Sums::new(n, w, h);
    for _ in 0..params.max_iter {
        // Every centre's window, in centre order, with (x_centre − x)² along it.
        windows.clear();
        dx2.clear();
        for (k, c) in centres.iter().enumerate() {
            if !alive[k] {
                continue;
            }
            let ymin = (c[0] - window).max(0.0) as usize;
            let ymax = ((c[0] + window + 1.0).min(h as f64)) as usize;
            let xmin = (c[1] - window).max(0.0) as usize;
            let xmax = ((c[1] + window + 1.0).min(w as f64)) as usize;
            if ymin < ymax && xmin < xmax {
                windows.push(Window { k: k as u64, ys: ymin..ymax, xs: xmin..xmax, dx2: dx2.len() });
                dx2.extend((xmin..xmax).map(|x| (c[1] - x as f64).powi(2)));
            }
        }
        // Strip by strip of rows (so that a strip stays in cache while every centre that
        // reaches it is tried): each pixel still sees its centres in centre order, so it ends
        // up with the same owner as in the window-by-window loop; and the strip's pixels, in
        // raster order, then go into their centres' sums, in the same order as a separate
        // raster pass would add them.
        let mut changed = false;
        sums.clear();
        for ty in (0..h).step_by(STRIP) {
            let ty1 = (ty + STRIP).min(h);
            strip.clear();
            strip.extend((0..windows.len()).filter(|&i| windows[i].ys.start < ty1 && ty < windows[i].ys.end));
            dist.fill(f64::MAX);
            for win in strip.iter().map(|&i| &windows[i]) {
                let c = &centres[win.k as usize];
                let (x0, x1) = (win.xs.start, win.xs.end);
                for y in win.ys.start.max(ty)..win.ys.end.min(ty1) {
                    let dy2 = (c[0] - y as f64).powi(2);
                    let (lo, hi) = (y * w + x0, y * w + x1);
                    let t = (y - ty) * w + x0;
                    let row = Row {
                        feat: [&feat[0][lo..hi], &feat[1][lo..hi], &feat[2][lo..hi]],
                        dx2: &dx2[win.dx2..win.dx2 + x1 - x0],
                        dist: &mut dist[t..t + x1 - x0],
                        owner: &mut nearest[lo..hi],
                    };
                    changed |= row.assign(win.k, dy2, spatial_weight, [c[2], c[3], c[4]]);
                }
            }
            for y in ty..ty1 {
                sums.add_row(y, &nearest[y * w..(y + 1) * w], [0, 1, 2].map(|c| &feat[c][y * w..(y + 1) * w]));
            }
        }
        if !changed {
            break;
        }
        for k in 0..n {
            match sums.mean(k) {
                Some(mean) => centres[k] = mean,
                None => alive[k] = false, // skimage divides by zero here; the centre never wins again
            }
        }
    }
    let mut nearest: Vec<u32> = nearest.into_iter().map(|k| k as u32).collect();
    // A pixel no window reached (only possible for degenerate grids) joins its nearest centre.
    for (i, l) in nearest.iter_mut().enumerate() {
        if *l == u32::MAX {
            let (y, x) = ((i / w) as f64, (i % w) as f64);
            *l = (0..n)
                .filter(|&k| alive[k])
                .min_by(|&a, &b| {
                    let da = (centres[a][0] - y).powi(2) + (centres[a][1] - x).powi(2);
                    let db = (centres[b][0] - y).powi(2) + (centres[b][1] - x).powi(2);
                    da.total_cmp(&db)
                })
                .unwrap_or(0) as u32;
        }
    }
    let mut labels = if params.enforce_connectivity {
        let seg_size = (w * h) as f64 / n as f64;
        enforce_connectivity(&nearest, w, h, (params.min_size_factor * seg_size) as usize, (params.max_size_factor * seg_size) as usize)
    } else {
        nearest
    };
    Segmentation::relabel_sequential(&mut labels);
    Segmentation::from_labels(w as u32, h as u32, labels)
}

/// The per-pixel features as three planes: the image rescaled to `[0, 1]` by its global
/// min/max, in L*a*b* (`convert2lab`), smoothed (`sigma`), times `1/compactness`. An 8-bit
/// channel has 256 possible values, so the rescaling and the sRGB gamma are tables; the
/// arithmetic per pixel is that of [`rgb_to_lab`](crate::color::rgb_to_lab).
fn features(img: &RgbImage, params: &SlicParams) -> [Vec<f64>; 3] {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let raw = img.as_raw();
    let (lo, hi) = raw.iter().fold((u8::MAX, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let range = if hi > lo { (hi - lo) as f64 / 255.0 } else { 1.0 };
    let scaled: [f64; 256] = std::array::from_fn(|p| (p as f64 / 255.0 - lo as f64 / 255.0) / range);
    let mut feat: [Vec<f64>; 3] = [0, 1, 2].map(|_| Vec::with_capacity(w * h));
    if params.convert2lab {
        let linear = scaled.map(srgb_to_linear);
        for p in raw.chunks_exact(3) {
            let lab = linear_to_lab([linear[p[0] as usize], linear[p[1] as usize], linear[p[2] as usize]]);
            for (f, v) in feat.iter_mut().zip(lab) {
                f.push(v);
            }
        }
    } else {
        for p in raw.chunks_exact(3) {
            for (f, &v) in feat.iter_mut().zip(p) {
                f.push(scaled[v as usize]);
            }
        }
    }
    let ratio = 1.0 / params.compactness;
    for f in feat.iter_mut() {
        gaussian_blur(f, w, h, 1, params.sigma);
        f.iter_mut().for_each(|v| *v *= ratio);
    }
    feat
}

/// Rows per strip of the assignment step: a strip's distances and features stay in cache
/// while every centre that reaches it is tried.
const STRIP: usize = 16;

/// The part of the image a centre's assignment reaches.
struct Window {
    k: u64,
    ys: std::ops::Range<usize>,
    xs: std::ops::Range<usize>,
    /// Where its `(x_centre − x)²` values start in the shared buffer.
    dx2: usize,
}

/// The update step's per-centre sums of pixel coordinates and features, and pixel counts,
/// accumulated in raster order.
struct Sums {
    /// `[Σy, Σx, Σf₀, Σf₁, Σf₂]` per centre.
    sums: Vec<[f64; 5]>,
    counts: Vec<u64>,
    /// Coordinate sums as integers: exact, so equal to the `f64` sums pixel by pixel as long
    /// as every partial sum stays below 2⁵³ (`exact_coords`); then whole runs add at once.
    coords: Vec<[u64; 2]>,
    exact_coords: bool,
}

impl Sums {
    fn new(n: usize, w: usize, h: usize) -> Self {
        let exact_coords = (w as f64) * (h as f64) * (w.max(h) as f64) < 2f64.powi(53);
        Self { sums: vec![[0.0; 5]; n], counts: vec![0; n], coords: vec![[0; 2]; n], exact_coords }
    }

    fn clear(&mut self) {
        self.sums.fill([0.0; 5]);
        self.counts.fill(0);
        self.coords.fill([0; 2]);
    }

    /// Adds row `y`'s pixels (owner per pixel, `u64::MAX` for none) in order.
    fn add_row(&mut self, y: usize, owners: &[u64], feat: [&[f64]; 3]) {
        let mut x = 0;
        while x < owners.len() {
            let k = owners[x];
            let end = owners[x..].iter().position(|&o| o != k).map_or(owners.len(), |p| x + p);
            if k != u64::MAX {
                let (k, len) = (k as usize, (end - x) as u64);
                self.counts[k] += len;
                let s = &mut self.sums[k];
                if self.exact_coords {
                    self.coords[k][0] += y as u64 * len;
                    self.coords[k][1] += (x + end - 1) as u64 * len / 2;
                } else {
                    for xi in x..end {
                        s[0] += y as f64;
                        s[1] += xi as f64;
                    }
                }
                for ((a, b), c) in feat[0][x..end].iter().zip(&feat[1][x..end]).zip(&feat[2][x..end]) {
                    s[2] += a;
                    s[3] += b;
                    s[4] += c;
                }
            }
            x = end;
        }
    }

    /// Centre `k`'s mean `[y, x, f₀, f₁, f₂]`, or `None` when no pixel chose it.
    fn mean(&self, k: usize) -> Option<[f64; 5]> {
        let count = self.counts[k];
        if count == 0 {
            return None;
        }
        let mut s = self.sums[k];
        if self.exact_coords {
            s[0] = self.coords[k][0] as f64;
            s[1] = self.coords[k][1] as f64;
        }
        Some(s.map(|v| v / count as f64))
    }
}

/// One row of one centre's window in the assignment step.
struct Row<'a> {
    feat: [&'a [f64]; 3],
    /// `(x_centre − x)²` along the row.
    dx2: &'a [f64],
    dist: &'a mut [f64],
    /// The owning centre, as `u64` so that the select vectorises beside the `f64` distance.
    owner: &'a mut [u64],
}

impl Row<'_> {
    /// Gives centre `k` the pixels it is strictly closer to than their current owner:
    /// `d = (dy² + dx²)·spatial_weight + ‖f − colour‖²`. Returns whether any pixel moved.
    /// The update is a bitwise blend under a mask rather than an `if`, which the compiler
    /// vectorises (an `if` becomes a branch per pixel).
    #[inline]
    fn assign(self, k: u64, dy2: f64, spatial_weight: f64, colour: [f64; 3]) -> bool {
        let n = self.dist.len();
        let (f0, f1, f2, dx2) = (&self.feat[0][..n], &self.feat[1][..n], &self.feat[2][..n], &self.dx2[..n]);
        let owner = &mut self.owner[..n];
        let mut changed = 0u64;
        for (i, dist) in self.dist.iter_mut().enumerate() {
            let dc = (f0[i] - colour[0]).powi(2) + (f1[i] - colour[1]).powi(2) + (f2[i] - colour[2]).powi(2);
            let d = (dy2 + dx2[i]) * spatial_weight + dc;
            let old = *dist;
            let closer = ((d < old) as u64).wrapping_neg();
            *dist = f64::from_bits((d.to_bits() & closer) | (old.to_bits() & !closer));
            owner[i] = (k & closer) | (owner[i] & !closer);
            changed |= closer;
        }
        changed != 0
    }
}

/// skimage's `_enforce_label_connectivity_cython` on a 2-D label map: breadth-first search of
/// 4-connected components in raster order, capped at `max_size` pixels; a component under
/// `min_size` takes the label of the last differently labelled neighbour found (if none was
/// found, it keeps its own label, where skimage would leave it unlabelled).
pub fn enforce_connectivity(labels: &[u32], w: usize, h: usize, min_size: usize, max_size: usize) -> Vec<u32> {
    const UNSET: u32 = u32::MAX;
    let max_size = max_size.max(1);
    let mut out = vec![UNSET; w * h];
    let mut next = 0u32;
    let mut queue: Vec<usize> = Vec::with_capacity(max_size);
    for start in 0..w * h {
        if out[start] != UNSET {
            continue;
        }
        let label = labels[start];
        let mut adjacent = UNSET;
        out[start] = next;
        queue.clear();
        queue.push(start);
        let mut visited = 0;
        'bfs: while visited < queue.len() && queue.len() < max_size {
            let p = queue[visited];
            let (x, y) = (p % w, p / w);
            let nbrs = [(x + 1 < w).then(|| p + 1), (x > 0).then(|| p - 1), (y + 1 < h).then(|| p + w), (y > 0).then(|| p - w)];
            for q in nbrs.into_iter().flatten() {
                if labels[q] == label && out[q] == UNSET {
                    out[q] = next;
                    queue.push(q);
                    if queue.len() >= max_size {
                        break 'bfs;
                    }
                } else if out[q] != UNSET && out[q] != next {
                    adjacent = out[q];
                }
            }
            visited += 1;
        }
        if queue.len() < min_size && adjacent != UNSET {
            for &q in &queue {
                out[q] = adjacent;
            }
        } else {
            next += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_matches_skimage_regular_grid() {
        // 512×512, n = 100: step √2621.44 = 51.2 → start 25, step 51.
        let ((y0, sy), (x0, sx), step) = grid(512, 512, 100);
        assert_eq!((y0, sy, x0, sx), (25, 51, 25, 51));
        assert_eq!(step, 51.0);
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(3.5), 4.0);
    }

    #[test]
    fn connectivity_splits_disconnected_labels_and_absorbs_small_ones() {
        // Label 0 appears in two separate places; the single-pixel island of 1 is absorbed.
        #[rustfmt::skip]
        let labels = [
            0, 0, 2, 0,
            0, 1, 2, 0,
            0, 0, 2, 0,
        ];
        let out = enforce_connectivity(&labels, 4, 3, 2, 100);
        assert_eq!(out, vec![0, 0, 1, 2, 0, 0, 1, 2, 0, 0, 1, 2]);
    }
}
