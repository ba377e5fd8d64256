//! The one segmentation type every tokenizer produces.

use serde::{Deserialize, Serialize};

use crate::error::{invalid, Result};

/// Label of a pixel that belongs to no segment (COCO panoptic id 0, "void").
pub const VOID: u32 = u32::MAX;

/// What is known about one segment (one visual token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentInfo {
    /// Segment id: the COCO panoptic id for annotated data, else `index + 1`.
    pub id: u32,
    /// Category, when annotated.
    pub category_id: Option<u32>,
    /// A countable object ("thing") rather than an amorphous region ("stuff").
    pub is_thing: bool,
    /// A COCO crowd region.
    pub is_crowd: bool,
    /// Pixels in the segment.
    pub area: u64,
    /// Bounding box `[x, y, width, height]` in pixels (COCO order).
    pub bbox: [u32; 4],
    /// Centroid `[x, y]` in pixel coordinates (pixel centres at integers).
    pub centroid: [f64; 2],
}

/// An image cut into segments: a per-pixel segment index plus per-segment info.
///
/// Partitions (panoptic, Felzenszwalb, SLIC, grid) have `masks == None` and every segment's
/// pixels are `labels == index`. Overlapping tokens (boxes) carry one full-size mask per
/// segment in `masks`; `labels` then names, per pixel, the smallest segment covering it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segmentation {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major segment index per pixel, or [`VOID`].
    pub labels: Vec<u32>,
    /// Per-segment info, indexed by label.
    pub segments: Vec<SegmentInfo>,
    /// Per-segment masks for overlapping tokens (row-major, `width × height` each).
    pub masks: Option<Vec<Vec<bool>>>,
}

/// Area, bounding box and centroid accumulated over a set of pixels.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Extent {
    area: u64,
    min: [u32; 2],
    max: [u32; 2],
    sum: [f64; 2],
}

impl Extent {
    pub(crate) fn add(&mut self, x: u32, y: u32) {
        if self.area == 0 {
            self.min = [x, y];
            self.max = [x, y];
        } else {
            self.min = [self.min[0].min(x), self.min[1].min(y)];
            self.max = [self.max[0].max(x), self.max[1].max(y)];
        }
        self.area += 1;
        self.sum[0] += x as f64;
        self.sum[1] += y as f64;
    }

    pub(crate) fn info(&self, id: u32) -> SegmentInfo {
        let (bbox, centroid) = if self.area == 0 {
            ([0; 4], [0.0; 2])
        } else {
            (
                [self.min[0], self.min[1], self.max[0] - self.min[0] + 1, self.max[1] - self.min[1] + 1],
                [self.sum[0] / self.area as f64, self.sum[1] / self.area as f64],
            )
        };
        SegmentInfo { id, category_id: None, is_thing: false, is_crowd: false, area: self.area, bbox, centroid }
    }
}

impl Segmentation {
    /// A partition from a label map (`labels[i] < n` or [`VOID`]); segment `k` gets id `k + 1`
    /// and no category. Area, bbox and centroid are computed from the pixels.
    pub fn from_labels(width: u32, height: u32, labels: Vec<u32>) -> Result<Self> {
        let n = labels.iter().filter(|&&l| l != VOID).map(|&l| l as usize + 1).max().unwrap_or(0);
        let mut seg = Self { width, height, labels, segments: Vec::new(), masks: None };
        if seg.labels.len() != width as usize * height as usize {
            return Err(invalid("labels", format!("{} labels for a {width}×{height} image", seg.labels.len())));
        }
        let extents = seg.extents(n);
        seg.segments = extents.iter().enumerate().map(|(k, e)| e.info(k as u32 + 1)).collect();
        Ok(seg)
    }

    /// Overlapping tokens from one mask per segment; `labels` takes the smallest covering mask.
    pub fn from_masks(width: u32, height: u32, masks: Vec<Vec<bool>>) -> Result<Self> {
        let npix = width as usize * height as usize;
        if let Some(bad) = masks.iter().position(|m| m.len() != npix) {
            return Err(invalid("masks", format!("mask {bad} does not have {width}×{height} pixels")));
        }
        let mut extents = vec![Extent::default(); masks.len()];
        for (k, m) in masks.iter().enumerate() {
            for (i, _) in m.iter().enumerate().filter(|(_, &on)| on) {
                extents[k].add((i % width as usize) as u32, (i / width as usize) as u32);
            }
        }
        let mut labels = vec![VOID; npix];
        for (i, l) in labels.iter_mut().enumerate() {
            let mut best: Option<(u64, u32)> = None;
            for (k, m) in masks.iter().enumerate() {
                if m[i] && best.is_none_or(|(a, _)| extents[k].area < a) {
                    best = Some((extents[k].area, k as u32));
                }
            }
            if let Some((_, k)) = best {
                *l = k;
            }
        }
        let segments = extents.iter().enumerate().map(|(k, e)| e.info(k as u32 + 1)).collect();
        Ok(Self { width, height, labels, segments, masks: Some(masks) })
    }

    pub(crate) fn extents(&self, n: usize) -> Vec<Extent> {
        let mut extents = vec![Extent::default(); n];
        let w = self.width as usize;
        for (i, &l) in self.labels.iter().enumerate() {
            if l != VOID {
                extents[l as usize].add((i % w) as u32, (i / w) as u32);
            }
        }
        extents
    }

    /// Number of segments (tokens).
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// Whether there are no segments.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Number of pixels.
    pub fn num_pixels(&self) -> usize {
        self.labels.len()
    }

    /// The segment index at `(x, y)`, or [`VOID`].
    pub fn label_at(&self, x: u32, y: u32) -> u32 {
        self.labels[y as usize * self.width as usize + x as usize]
    }

    /// Whether the segments may overlap (boxes).
    pub fn is_overlapping(&self) -> bool {
        self.masks.is_some()
    }

    /// Whether pixel `i` belongs to segment `k`.
    pub fn contains(&self, k: usize, i: usize) -> bool {
        match &self.masks {
            Some(m) => m[k][i],
            None => self.labels[i] == k as u32,
        }
    }

    /// The mask of segment `k`, row-major.
    pub fn mask(&self, k: usize) -> Vec<bool> {
        match &self.masks {
            Some(m) => m[k].clone(),
            None => self.labels.iter().map(|&l| l == k as u32).collect(),
        }
    }

    /// Checks the invariants: labels in range, areas equal to the pixel counts, masks sized.
    pub fn validate(&self) -> Result<()> {
        if self.labels.len() != self.width as usize * self.height as usize {
            return Err(invalid("labels", "label count differs from width × height"));
        }
        if let Some(&l) = self.labels.iter().find(|&&l| l != VOID && l as usize >= self.segments.len()) {
            return Err(invalid("labels", format!("label {l} but only {} segments", self.segments.len())));
        }
        if self.masks.is_none() {
            for (k, e) in self.extents(self.segments.len()).iter().enumerate() {
                if e.area != self.segments[k].area {
                    return Err(invalid("segments", format!("segment {k} claims {} pixels, has {}", self.segments[k].area, e.area)));
                }
            }
        }
        Ok(())
    }

    /// Renumbers a label map so that labels are `0..n` in order of first appearance
    /// (raster order), dropping unused labels. Returns the number of labels.
    pub fn relabel_sequential(labels: &mut [u32]) -> usize {
        // Labels below the pixel count (every segmenter's case) map through a table.
        let max = labels.iter().filter(|&&l| l != VOID).max().copied();
        if let Some(max) = max.filter(|&m| (m as usize) < labels.len()) {
            let mut map = vec![VOID; max as usize + 1];
            let mut next = 0u32;
            for l in labels.iter_mut().filter(|l| **l != VOID) {
                let m = &mut map[*l as usize];
                if *m == VOID {
                    *m = next;
                    next += 1;
                }
                *l = *m;
            }
            return next as usize;
        }
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
}
