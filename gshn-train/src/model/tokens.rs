//! Per-image visual-token inputs: segment masks at the feature-map resolution, box/centroid/
//! area geometry, and the segment graph — computed once per image from a segmentation.

use gshn_graph::{EdgeList, GraphKind, SegmentGraph, SelfLoops};
use gshn_seg::descriptors::resize_mask;
use gshn_seg::Segmentation;

use crate::error::{bad_input, Result};

/// Geometry features per segment: `[x0, y0, w, h, cx, cy, area]`, all divided by the image size.
pub const GEOMETRY: usize = 7;

/// What the model needs from one segmented image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageTokens {
    /// Segments (graph nodes).
    pub n: usize,
    /// Feature-map cells per mask (`fh·fw`).
    pub cells: usize,
    /// Masks resized to the feature map, `n × (fh·fw)` row-major, each normalised to sum 1
    /// (so a product with the feature map is the masked average, `CNN(I) ⊙ resize(mask)`).
    pub masks: Vec<f32>,
    /// Geometry, `n × GEOMETRY`.
    pub geometry: Vec<f32>,
    /// Directed edges between segments (no self loops; the layers add them).
    pub edges: EdgeList,
}

impl ImageTokens {
    /// Tokens of `seg` on a feature map of `fw × fh` cells, with graph `kind`. Segments with
    /// no pixel are dropped.
    pub fn new(seg: &Segmentation, fw: usize, fh: usize, kind: GraphKind) -> Result<Self> {
        let keep: Vec<usize> = (0..seg.len()).filter(|&k| seg.segments[k].area > 0).collect();
        if keep.is_empty() {
            return Err(bad_input("the segmentation has no non-empty segment"));
        }
        let (w, h) = (seg.width as f32, seg.height as f32);
        let mut masks = Vec::with_capacity(keep.len() * fw * fh);
        let mut geometry = Vec::with_capacity(keep.len() * GEOMETRY);
        for &k in &keep {
            let m = resize_mask(seg, k, fw, fh)?;
            let total: f32 = m.iter().sum::<f32>().max(1e-6);
            masks.extend(m.iter().map(|v| v / total));
            let s = &seg.segments[k];
            geometry.extend([
                s.bbox[0] as f32 / w,
                s.bbox[1] as f32 / h,
                s.bbox[2] as f32 / w,
                s.bbox[3] as f32 / h,
                s.centroid[0] as f32 / w,
                s.centroid[1] as f32 / h,
                s.area as f32 / (w * h),
            ]);
        }
        let full = SegmentGraph::build(seg, kind)?.edge_list(SelfLoops::Without);
        // Renumber nodes to the kept segments.
        let mut index = vec![usize::MAX; seg.len()];
        keep.iter().enumerate().for_each(|(new, &old)| index[old] = new);
        let pairs = full.src.iter().zip(&full.dst).filter(|&(&s, &t)| index[s] != usize::MAX && index[t] != usize::MAX).map(|(&s, &t)| (index[s], index[t]));
        let edges = EdgeList::new(keep.len(), pairs)?;
        Ok(Self { n: keep.len(), cells: fw * fh, masks, geometry, edges })
    }
}
