//! A verbatim copy of gshn-seg's Felzenszwalb and SLIC as they were before the speed work
//! (commit 9f97b4e), kept so that `segmenter_identity.rs` can check that the optimised
//! implementations give exactly the same label maps. Only the plumbing differs: the functions
//! return the label map (`Vec<u32>`) instead of a `Segmentation`, and parameter validation is
//! left to the real implementations.
#![allow(dead_code, clippy::all)]

use gshn_seg::felzenszwalb::FelzenszwalbParams;
use gshn_seg::slic::SlicParams;
use image::RgbImage;

const VOID: u32 = u32::MAX;
// ---- color.rs ----
pub fn rgb_to_lab(rgb: [f64; 3]) -> [f64; 3] {
    let lin = rgb.map(|c| if c > 0.04045 { ((c + 0.055) / 1.055).powf(2.4) } else { c / 12.92 });
    const M: [[f64; 3]; 3] = [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]];
    const WHITE: [f64; 3] = [0.95047, 1.0, 1.08883];
    let mut f = [0.0; 3];
    for r in 0..3 {
        let v = (M[r][0] * lin[0] + M[r][1] * lin[1] + M[r][2] * lin[2]) / WHITE[r];
        f[r] = if v > 0.008856 { v.cbrt() } else { 7.787 * v + 16.0 / 116.0 };
    }
    [116.0 * f[1] - 16.0, 500.0 * (f[0] - f[1]), 200.0 * (f[1] - f[2])]
}

/// An 8-bit RGB image as `f64` planes in `[0, 1]`, interleaved `[r, g, b]` per pixel.
pub fn rgb8_to_f64(pixels: &[u8]) -> Vec<f64> {
    pixels.iter().map(|&p| p as f64 / 255.0).collect()
}

// ---- filter.rs ----
pub fn gaussian_kernel(sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as i64;
    let mut k: Vec<f64> = (-radius..=radius).map(|x| (-0.5 / (sigma * sigma) * (x * x) as f64).exp()).collect();
    let s: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    k
}

/// SciPy's `reflect` boundary: `d c b a | a b c d | d c b a`.
fn reflect(mut i: i64, n: i64) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * n;
    i = i.rem_euclid(period);
    if i >= n {
        i = period - 1 - i;
    }
    i as usize
}

/// Smooths an interleaved `height × width × channels` image in place, rows (y) first, then
/// columns (x), each channel separately. `sigma ≤ 0` leaves it unchanged.
pub fn gaussian_blur(img: &mut [f64], width: usize, height: usize, channels: usize, sigma: f64) {
    if sigma <= 0.0 {
        return;
    }
    let k = gaussian_kernel(sigma);
    let mut tmp = vec![0.0; img.len()];
    convolve_axis(img, &mut tmp, width, height, channels, &k, true);
    convolve_axis(&tmp, img, width, height, channels, &k, false);
}

/// One separable pass of `kernel` along y (`along_y`) or x, reflecting at the borders.
fn convolve_axis(src: &[f64], dst: &mut [f64], width: usize, height: usize, channels: usize, kernel: &[f64], along_y: bool) {
    let r = (kernel.len() / 2) as i64;
    let n = if along_y { height } else { width } as i64;
    for y in 0..height {
        for x in 0..width {
            let at = if along_y { y } else { x } as i64;
            for c in 0..channels {
                let mut acc = 0.0;
                for (j, w) in kernel.iter().enumerate() {
                    let p = reflect(at + j as i64 - r, n);
                    let (sx, sy) = if along_y { (x, p) } else { (p, y) };
                    acc += w * src[(sy * width + sx) * channels + c];
                }
                dst[(y * width + x) * channels + c] = acc;
            }
        }
    }
}

// ---- segmentation.rs ----
pub fn relabel_sequential(labels: &mut [u32]) -> usize {
    let mut map = std::collections::HashMap::new();
    for l in labels.iter_mut() {
        if *l == VOID {
            continue;
        }
        let next = map.len() as u32;
        *l = *map.entry(*l).or_insert(next);
    }
    map.len()
}

// ---- felzenszwalb.rs ----
/// Union–find with skimage's convention: the root of a merged tree is the smaller index.
pub struct Forest {
    parent: Vec<u32>,
}

impl Forest {
    pub fn new(n: usize) -> Self {
        Self { parent: (0..n as u32).collect() }
    }

    pub fn find(&mut self, mut n: u32) -> u32 {
        let mut root = n;
        while self.parent[root as usize] != root {
            root = self.parent[root as usize];
        }
        while self.parent[n as usize] != root {
            let next = self.parent[n as usize];
            self.parent[n as usize] = root;
            n = next;
        }
        root
    }

    /// Joins two roots; returns the new root (the smaller index).
    pub fn join_roots(&mut self, a: u32, b: u32) -> u32 {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        self.parent[hi as usize] = lo;
        lo
    }
}

pub fn felzenszwalb(img: &RgbImage, params: &FelzenszwalbParams) -> Vec<u32> {
    let (w, h) = img.dimensions();
    let (w, h) = (w as usize, h as usize);
    let mut pix = rgb8_to_f64(img.as_raw());
    gaussian_blur(&mut pix, w, h, 3, params.sigma);
    let dist = |a: usize, b: usize| -> f64 {
        let (pa, pb) = (&pix[a * 3..a * 3 + 3], &pix[b * 3..b * 3 + 3]);
        ((pa[0] - pb[0]).powi(2) + (pa[1] - pb[1]).powi(2) + (pa[2] - pb[2]).powi(2)).sqrt()
    };
    // Edges in skimage's order: right, down, down-right, up-right.
    let mut edges: Vec<(u32, u32)> = Vec::with_capacity(4 * w * h);
    for y in 0..h {
        for x in 1..w {
            edges.push(((y * w + x) as u32, (y * w + x - 1) as u32));
        }
    }
    for y in 1..h {
        for x in 0..w {
            edges.push(((y * w + x) as u32, ((y - 1) * w + x) as u32));
        }
    }
    for y in 1..h {
        for x in 1..w {
            edges.push(((y * w + x) as u32, ((y - 1) * w + x - 1) as u32));
        }
    }
    for y in 0..h.saturating_sub(1) {
        for x in 1..w {
            edges.push(((y * w + x) as u32, ((y + 1) * w + x - 1) as u32));
        }
    }
    let costs: Vec<f64> = edges.iter().map(|&(a, b)| dist(a as usize, b as usize)).collect();
    let mut order: Vec<u32> = (0..edges.len() as u32).collect();
    order.sort_by(|&a, &b| costs[a as usize].total_cmp(&costs[b as usize]).then(a.cmp(&b)));

    let k = params.scale / 255.0;
    let mut forest = Forest::new(w * h);
    let mut size = vec![1u64; w * h];
    let mut inner = vec![0.0f64; w * h];
    for &e in &order {
        let (a, b) = edges[e as usize];
        let (ra, rb) = (forest.find(a), forest.find(b));
        if ra == rb {
            continue;
        }
        let c = costs[e as usize];
        let ta = inner[ra as usize] + k / size[ra as usize] as f64;
        let tb = inner[rb as usize] + k / size[rb as usize] as f64;
        if c < ta.min(tb) {
            let r = forest.join_roots(ra, rb);
            size[r as usize] = size[ra as usize] + size[rb as usize];
            inner[r as usize] = c;
        }
    }
    let min = params.min_size as u64;
    for &e in &order {
        let (a, b) = edges[e as usize];
        let (ra, rb) = (forest.find(a), forest.find(b));
        if ra != rb && (size[ra as usize] < min || size[rb as usize] < min) {
            let r = forest.join_roots(ra, rb);
            size[r as usize] = size[ra as usize] + size[rb as usize];
        }
    }
    let mut labels: Vec<u32> = (0..(w * h) as u32).map(|i| forest.find(i)).collect();
    relabel_sequential(&mut labels);
    labels
}
// ---- slic.rs ----
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
pub fn slic(img: &RgbImage, params: &SlicParams) -> Vec<u32> {
    let (w, h) = img.dimensions();
    let (w, h) = (w as usize, h as usize);
    // Rescale to [0, 1] by the global min/max, then Lab.
    let raw = img.as_raw();
    let (lo, hi) = raw.iter().fold((u8::MAX, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let range = if hi > lo { (hi - lo) as f64 / 255.0 } else { 1.0 };
    let mut feat: Vec<f64> = Vec::with_capacity(w * h * 3);
    for p in raw.chunks_exact(3) {
        let rgb = [0, 1, 2].map(|c| (p[c] as f64 / 255.0 - lo as f64 / 255.0) / range);
        feat.extend(if params.convert2lab { rgb_to_lab(rgb) } else { rgb });
    }
    gaussian_blur(&mut feat, w, h, 3, params.sigma);
    let ratio = 1.0 / params.compactness;
    feat.iter_mut().for_each(|v| *v *= ratio);

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
    let mut nearest = vec![u32::MAX; w * h];
    let mut distance = vec![f64::MAX; w * h];
    let mut alive = vec![true; n];
    for _ in 0..params.max_iter {
        let mut changed = false;
        distance.iter_mut().for_each(|d| *d = f64::MAX);
        for (k, c) in centres.iter().enumerate() {
            if !alive[k] {
                continue;
            }
            let ymin = (c[0] - window).max(0.0) as usize;
            let ymax = ((c[0] + window + 1.0).min(h as f64)) as usize;
            let xmin = (c[1] - window).max(0.0) as usize;
            let xmax = ((c[1] + window + 1.0).min(w as f64)) as usize;
            for y in ymin..ymax {
                let dy = (c[0] - y as f64).powi(2);
                let row = y * w;
                // Row slices let the compiler drop the bounds checks in the hot loop.
                let feats = &feat[(row + xmin) * 3..(row + xmax) * 3];
                let dists = &mut distance[row + xmin..row + xmax];
                let owners = &mut nearest[row + xmin..row + xmax];
                for (((f, dist), owner), x) in feats.chunks_exact(3).zip(dists.iter_mut()).zip(owners.iter_mut()).zip(xmin..) {
                    let dx = (c[1] - x as f64).powi(2);
                    let dc = (f[0] - c[2]).powi(2) + (f[1] - c[3]).powi(2) + (f[2] - c[4]).powi(2);
                    let d = (dy + dx) * spatial_weight + dc;
                    if *dist > d {
                        *owner = k as u32;
                        *dist = d;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
        let mut sums = vec![[0.0f64; 5]; n];
        let mut counts = vec![0u64; n];
        for (i, &k) in nearest.iter().enumerate() {
            if k == u32::MAX {
                continue;
            }
            let s = &mut sums[k as usize];
            s[0] += (i / w) as f64;
            s[1] += (i % w) as f64;
            for c in 0..3 {
                s[2 + c] += feat[i * 3 + c];
            }
            counts[k as usize] += 1;
        }
        for k in 0..n {
            if counts[k] == 0 {
                alive[k] = false; // skimage divides by zero here; the centre never wins again
            } else {
                centres[k] = sums[k].map(|v| v / counts[k] as f64);
            }
        }
    }
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
    relabel_sequential(&mut labels);
    labels
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
