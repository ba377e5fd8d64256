//! Panoptic quality (Kirillov et al. 2019) with the COCO panopticapi rules.
//!
//! Segments of the same category match when `IoU > 0.5`, where the union leaves out the
//! predicted segment's void pixels. Unmatched ground-truth crowd segments are ignored;
//! an unmatched prediction is not a false positive when more than half of it lies on void or
//! on a crowd region of its category. Per category `PQ = ΣIoU/(TP + ½FP + ½FN)`,
//! `SQ = ΣIoU/TP`, `RQ = TP/(TP + ½FP + ½FN)`; PQ/SQ/RQ average over the categories that occur.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{invalid, Result};
use crate::segmentation::{Segmentation, VOID};

/// Counts for one category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PqCounts {
    /// Sum of IoU over true positives.
    pub iou: f64,
    /// True positives.
    pub tp: u64,
    /// False positives.
    pub fp: u64,
    /// False negatives.
    pub fn_: u64,
}

/// PQ, SQ, RQ and the number of categories averaged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PqScores {
    /// Panoptic quality.
    pub pq: f64,
    /// Segmentation quality.
    pub sq: f64,
    /// Recognition quality.
    pub rq: f64,
    /// Categories with at least one TP, FP or FN.
    pub n: usize,
}

/// Accumulated counts over images, per category.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PanopticQuality {
    /// Per-category counts.
    pub per_category: BTreeMap<u32, PqCounts>,
    /// Which categories are things.
    pub is_thing: BTreeMap<u32, bool>,
}

impl PanopticQuality {
    /// Adds one image: ground truth and prediction of the same size, every segment with a
    /// category (`SegmentInfo::category_id`).
    pub fn add(&mut self, gt: &Segmentation, pred: &Segmentation) -> Result<()> {
        if (gt.width, gt.height) != (pred.width, pred.height) {
            return Err(invalid("pred", "ground truth and prediction differ in size"));
        }
        if gt.is_overlapping() || pred.is_overlapping() {
            return Err(invalid("pred", "panoptic quality needs partitions, not overlapping boxes"));
        }
        let cat = |s: &Segmentation, k: usize| {
            s.segments[k].category_id.ok_or_else(|| invalid("category_id", format!("segment {} has no category", s.segments[k].id)))
        };
        for s in [gt, pred] {
            for k in 0..s.len() {
                self.is_thing.insert(cat(s, k)?, s.segments[k].is_thing);
            }
        }
        let mut inter: HashMap<(u32, u32), u64> = HashMap::new();
        for (&g, &p) in gt.labels.iter().zip(&pred.labels) {
            *inter.entry((g, p)).or_default() += 1;
        }
        let (mut gt_matched, mut pred_matched) = (HashSet::new(), HashSet::new());
        let mut pairs: Vec<_> = inter.iter().collect();
        pairs.sort();
        for (&(g, p), &i) in pairs {
            if g == VOID || p == VOID {
                continue;
            }
            let (gs, ps) = (&gt.segments[g as usize], &pred.segments[p as usize]);
            if gs.is_crowd || cat(gt, g as usize)? != cat(pred, p as usize)? {
                continue;
            }
            let void = inter.get(&(VOID, p)).copied().unwrap_or(0);
            let union = ps.area + gs.area - i - void;
            let iou = i as f64 / union as f64;
            if iou > 0.5 {
                let c = self.per_category.entry(cat(gt, g as usize)?).or_default();
                c.tp += 1;
                c.iou += iou;
                gt_matched.insert(g);
                pred_matched.insert(p);
            }
        }
        let mut crowd: HashMap<u32, u32> = HashMap::new();
        for g in 0..gt.len() as u32 {
            if gt_matched.contains(&g) {
                continue;
            }
            let c = cat(gt, g as usize)?;
            if gt.segments[g as usize].is_crowd {
                crowd.insert(c, g);
            } else {
                self.per_category.entry(c).or_default().fn_ += 1;
            }
        }
        for p in 0..pred.len() as u32 {
            if pred_matched.contains(&p) || pred.segments[p as usize].area == 0 {
                continue;
            }
            let c = cat(pred, p as usize)?;
            let mut ignored = inter.get(&(VOID, p)).copied().unwrap_or(0);
            if let Some(&g) = crowd.get(&c) {
                ignored += inter.get(&(g, p)).copied().unwrap_or(0);
            }
            if ignored as f64 / pred.segments[p as usize].area as f64 > 0.5 {
                continue;
            }
            self.per_category.entry(c).or_default().fp += 1;
        }
        Ok(())
    }

    /// Scores over all categories (`None`), things (`Some(true)`) or stuff (`Some(false)`).
    pub fn scores(&self, things: Option<bool>) -> PqScores {
        let mut s = PqScores::default();
        for (c, k) in &self.per_category {
            if things.is_some_and(|t| self.is_thing.get(c).copied().unwrap_or(false) != t) {
                continue;
            }
            let denom = k.tp as f64 + 0.5 * k.fp as f64 + 0.5 * k.fn_ as f64;
            if denom == 0.0 {
                continue;
            }
            s.n += 1;
            s.pq += k.iou / denom;
            s.sq += if k.tp > 0 { k.iou / k.tp as f64 } else { 0.0 };
            s.rq += k.tp as f64 / denom;
        }
        if s.n > 0 {
            let n = s.n as f64;
            s.pq /= n;
            s.sq /= n;
            s.rq /= n;
        }
        s
    }
}
