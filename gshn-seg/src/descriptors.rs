//! Per-segment descriptors: what a visual token knows about its segment, and which segments
//! touch (the region adjacency `gshn-graph` builds on).

use std::collections::BTreeMap;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::color::rgb_to_lab;
use crate::error::{invalid, Result};
use crate::segmentation::{Segmentation, VOID};

/// The descriptors of one segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentDescriptor {
    /// Pixels.
    pub area: u64,
    /// `[x, y, w, h]`.
    pub bbox: [u32; 4],
    /// `[x, y]`.
    pub centroid: [f64; 2],
    /// Mean CIE L*a*b* colour (skimage `rgb2lab`) of the segment's pixels.
    pub mean_lab: [f64; 3],
    /// The mask resized to the feature map, `fh × fw` row-major: the fraction of each cell
    /// covered by the segment (area averaging), the `resize(mask)` of `V = CNN(I) ⊙ resize(mask)`.
    pub mask: Vec<f32>,
}

/// Resizes segment `k`'s mask to `fw × fh` cells by area averaging: cell `(i, j)` covers
/// image rows `[i·H/fh, (i+1)·H/fh)` and columns likewise, partial pixels weighted by overlap.
pub fn resize_mask(seg: &Segmentation, k: usize, fw: usize, fh: usize) -> Result<Vec<f32>> {
    if fw == 0 || fh == 0 {
        return Err(invalid("feature_size", format!("{fw}×{fh} has no cells")));
    }
    let (w, h) = (seg.width as usize, seg.height as usize);
    // Weights of each pixel row/column in each cell (separable).
    let spans = |n: usize, cells: usize| -> Vec<Vec<(usize, f64)>> {
        (0..cells)
            .map(|c| {
                let (a, b) = (c as f64 * n as f64 / cells as f64, (c + 1) as f64 * n as f64 / cells as f64);
                (a.floor() as usize..(b.ceil() as usize).min(n))
                    .map(|p| (p, (b.min(p as f64 + 1.0) - a.max(p as f64)).max(0.0)))
                    .filter(|&(_, wgt)| wgt > 0.0)
                    .collect()
            })
            .collect()
    };
    let (rows, cols) = (spans(h, fh), spans(w, fw));
    let mut out = vec![0.0f32; fw * fh];
    for (i, row) in rows.iter().enumerate() {
        for (j, col) in cols.iter().enumerate() {
            let (mut on, mut total) = (0.0, 0.0);
            for &(y, wy) in row {
                for &(x, wx) in col {
                    let wgt = wy * wx;
                    total += wgt;
                    if seg.contains(k, y * w + x) {
                        on += wgt;
                    }
                }
            }
            out[i * fw + j] = (on / total) as f32;
        }
    }
    Ok(out)
}

/// Descriptors of every segment of `seg` on `img`, masks resized to `fw × fh`.
pub fn describe(img: &RgbImage, seg: &Segmentation, fw: usize, fh: usize) -> Result<Vec<SegmentDescriptor>> {
    if img.dimensions() != (seg.width, seg.height) {
        return Err(invalid("image", format!("{:?} differs from the segmentation's {}×{}", img.dimensions(), seg.width, seg.height)));
    }
    let lab: Vec<[f64; 3]> = img.pixels().map(|p| rgb_to_lab(p.0.map(|c| c as f64 / 255.0))).collect();
    (0..seg.len())
        .map(|k| {
            let mut sum = [0.0; 3];
            let mut n = 0u64;
            for (i, l) in lab.iter().enumerate() {
                if seg.contains(k, i) {
                    (0..3).for_each(|c| sum[c] += l[c]);
                    n += 1;
                }
            }
            let info = &seg.segments[k];
            Ok(SegmentDescriptor {
                area: info.area,
                bbox: info.bbox,
                centroid: info.centroid,
                mean_lab: sum.map(|s| if n > 0 { s / n as f64 } else { 0.0 }),
                mask: resize_mask(seg, k, fw, fh)?,
            })
        })
        .collect()
}

/// Region adjacency: segment pairs `(i, j)`, `i < j`, that touch, with the length of their
/// shared border (4-connected pixel pairs, one in each segment).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Adjacency {
    /// `(i, j, border_length)`, sorted, `i < j`.
    pub edges: Vec<(u32, u32, u64)>,
}

impl Adjacency {
    /// The neighbours of segment `k`.
    pub fn neighbours(&self, k: u32) -> Vec<u32> {
        self.edges
            .iter()
            .filter_map(|&(i, j, _)| {
                if i == k {
                    Some(j)
                } else if j == k {
                    Some(i)
                } else {
                    None
                }
            })
            .collect()
    }
}

/// The region adjacency of a segmentation. For partitions two segments touch when a pixel of
/// one has a 4-neighbour in the other; for overlapping tokens (boxes) when their masks
/// overlap or touch, the border then counting 4-connected pairs across the two masks.
pub fn region_adjacency(seg: &Segmentation) -> Adjacency {
    let (w, h) = (seg.width as usize, seg.height as usize);
    let mut border: BTreeMap<(u32, u32), u64> = BTreeMap::new();
    match &seg.masks {
        None => {
            for y in 0..h {
                for x in 0..w {
                    let a = seg.labels[y * w + x];
                    if a == VOID {
                        continue;
                    }
                    for (nx, ny) in [(x + 1, y), (x, y + 1)] {
                        if nx < w && ny < h {
                            let b = seg.labels[ny * w + nx];
                            if b != VOID && b != a {
                                *border.entry((a.min(b), a.max(b))).or_default() += 1;
                            }
                        }
                    }
                }
            }
        }
        Some(masks) => {
            for i in 0..masks.len() {
                for j in i + 1..masks.len() {
                    let (mi, mj) = (&masks[i], &masks[j]);
                    let mut len = 0u64;
                    let mut overlap = false;
                    for y in 0..h {
                        for x in 0..w {
                            let p = y * w + x;
                            overlap |= mi[p] && mj[p];
                            for (nx, ny) in [(x + 1, y), (x, y + 1)] {
                                if nx < w && ny < h {
                                    let q = ny * w + nx;
                                    if (mi[p] && mj[q] && !mj[p]) || (mj[p] && mi[q] && !mi[p]) {
                                        len += 1;
                                    }
                                }
                            }
                        }
                    }
                    if len > 0 || overlap {
                        border.insert((i as u32, j as u32), len);
                    }
                }
            }
        }
    }
    Adjacency { edges: border.into_iter().map(|((i, j), l)| (i, j, l)).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacency_and_borders_of_a_hand_made_partition() {
        #[rustfmt::skip]
        let labels = vec![
            0, 0, 1,
            0, 2, 1,
            2, 2, 1,
        ];
        let seg = Segmentation::from_labels(3, 3, labels).unwrap();
        let adj = region_adjacency(&seg);
        // 0–1: (1,0)|(2,0); 0–2: (0,1)/(0,2), (1,0)/(1,1), (0,1)/(1,1); 1–2: (1,1)|(2,1), (1,2)|(2,2).
        assert_eq!(adj.edges, vec![(0, 1, 1), (0, 2, 3), (1, 2, 2)]);
        assert_eq!(adj.neighbours(1), vec![0, 2]);
    }

    #[test]
    fn resized_masks_are_coverage_fractions() {
        let seg = crate::baselines::grid_patches(4, 4, 2, 2).unwrap();
        let m = resize_mask(&seg, 0, 2, 2).unwrap();
        assert_eq!(m, vec![1.0, 0.0, 0.0, 0.0]);
        let m = resize_mask(&seg, 0, 1, 1).unwrap();
        assert_eq!(m, vec![0.25]);
        // 3 cells over 4 pixels: the middle cell is half in patch 0.
        let m = resize_mask(&seg, 0, 3, 1).unwrap();
        assert!((m[0] - 0.5).abs() < 1e-6 && (m[1] - 0.25).abs() < 1e-6 && m[2] == 0.0, "{m:?}");
    }
}
