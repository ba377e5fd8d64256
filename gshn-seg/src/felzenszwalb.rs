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

use crate::color::rgb8_to_f64;
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

/// Union–find with skimage's convention: the root of a merged tree is the smaller index.
pub(crate) struct Forest {
    parent: Vec<u32>,
}

impl Forest {
    pub(crate) fn new(n: usize) -> Self {
        Self { parent: (0..n as u32).collect() }
    }

    pub(crate) fn find(&mut self, mut n: u32) -> u32 {
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
    pub(crate) fn join_roots(&mut self, a: u32, b: u32) -> u32 {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        self.parent[hi as usize] = lo;
        lo
    }
}

/// Segments an 8-bit RGB image; every pixel gets a segment (labels in raster order of first
/// appearance).
pub fn felzenszwalb(img: &RgbImage, params: &FelzenszwalbParams) -> Result<Segmentation> {
    let (w, h) = img.dimensions();
    check_size(w, h, &ImageLimits::unlimited())?;
    if !(params.scale.is_finite() && params.scale > 0.0) {
        return Err(invalid("scale", format!("must be finite and > 0, got {}", params.scale)));
    }
    if !(params.sigma.is_finite() && params.sigma >= 0.0) {
        return Err(invalid("sigma", format!("must be finite and ≥ 0, got {}", params.sigma)));
    }
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
    Segmentation::relabel_sequential(&mut labels);
    Segmentation::from_labels(w as u32, h as u32, labels)
}
