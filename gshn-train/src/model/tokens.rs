//! Per-image visual-token inputs: segment masks at the feature-map resolution, box/centroid/
//! area geometry, and the segment graph — computed once per image from a segmentation.

use gshn_graph::{EdgeList, GraphKind, SegmentGraph, SelfLoops};
use gshn_seg::descriptors::resize_mask;
use gshn_seg::Segmentation;

use super::backbone::Backbone;
use super::efficientnet;
use crate::error::invalid;
use crate::error::{bad_input, Result};
use serde::{Deserialize, Serialize};

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

/// Which segment graph the tokens form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GraphChoice {
    /// Segments that touch (after a `dilation`-pixel dilation). Default.
    #[default]
    RegionAdjacency,
    /// Each segment to its `k` nearest centroids.
    Knn,
    /// Centroids within `radius` (a fraction of the image side).
    Radius,
    /// Every pair.
    Full,
}

/// Visual tokens: `V_k = W_v · masked-mean_k(CNN(I)) + W_g · geometry_k`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokensConfig {
    /// Backbone: `cnn` or `efficientnet-lite0`. Default `cnn`.
    pub backbone: Backbone,
    /// The CNN's output channels (EfficientNet-Lite0's are fixed by the tap). Default 32.
    pub cnn_channels: usize,
    /// The CNN's convolutions, biases and ReLUs as fused ops on flex (`model::fused_conv`,
    /// the same values; docs/performance.md has the speed). Default true; false runs Burn's
    /// `Conv2d` and `relu` (the reference path). Other devices always run Burn's.
    pub fused_conv: bool,
    /// Feature-map stride: one feature cell per `stride × stride` pixels (of the backbone's
    /// input), and the resolution the segment masks are resized to (a power of two, 1–16; 4, 8
    /// or 16 for EfficientNet-Lite0, tapped after its last block of that stride). Default 4.
    pub stride: usize,
    /// Add the box/centroid/area embedding to each token. Default true.
    pub geometry: bool,
    /// The segment graph. Default `region-adjacency`.
    pub graph: GraphChoice,
    /// Region adjacency: dilation in pixels (box tokens overlap and use none). Default 1.
    pub dilation: u32,
    /// k-NN: neighbours. Default 4.
    pub k: usize,
    /// Radius graph: radius as a fraction of the image side. Default 0.3.
    pub radius: f64,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            backbone: Backbone::Cnn,
            cnn_channels: 32,
            fused_conv: true,
            stride: 4,
            geometry: true,
            graph: GraphChoice::RegionAdjacency,
            dilation: 1,
            k: 4,
            radius: 0.3,
        }
    }
}

impl TokensConfig {
    /// The graph kind for images of `side` pixels; `overlapping` segments (box tokens) take
    /// region adjacency without dilation (overlap or a shared border).
    pub fn graph_kind(&self, side: u32, overlapping: bool) -> GraphKind {
        match self.graph {
            GraphChoice::RegionAdjacency if overlapping => GraphKind::RegionAdjacency { dilation: 0 },
            GraphChoice::RegionAdjacency => GraphKind::RegionAdjacency { dilation: self.dilation },
            GraphChoice::Knn => GraphKind::Knn { k: self.k },
            GraphChoice::Radius => GraphKind::Radius { radius: self.radius * side as f64 },
            GraphChoice::Full => GraphKind::Full,
        }
    }

    /// The feature map's side for images of `side` pixels (EfficientNet-Lite0 resizes every
    /// image to its `input_size` first), or an error when the stride does not divide it.
    pub fn feature_side(&self, side: u32) -> Result<usize> {
        let (side, what) = match self.backbone.efficientnet() {
            Some(e) => (e.input_size as u32, "the backbone's input_size"),
            None => (side, "the image side"),
        };
        let s = self.stride as u32;
        if s == 0 || !side.is_multiple_of(s) {
            return Err(invalid("tokens.stride", format!("{} does not divide {what} {side}", self.stride)));
        }
        Ok((side / s) as usize)
    }

    /// Channels of the backbone's feature map: `cnn_channels`, or those of EfficientNet-Lite0
    /// at the tap (24, 40 or 112 at stride 4, 8 or 16).
    pub fn feature_channels(&self) -> usize {
        match &self.backbone {
            Backbone::Cnn => self.cnn_channels,
            Backbone::EfficientnetLite0(_) => efficientnet::tap(self.stride).map_or(0, |t| t.1),
        }
    }
}
