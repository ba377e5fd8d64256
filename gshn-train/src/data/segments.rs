//! How images are cut into the segments that become tokens (the paper uses
//! panoptic segments): ground truth, Felzenszwalb–Huttenlocher, SLIC, a regular grid, or boxes
//! around the ground-truth segments — and a [`DatasetBuilder`] that segments and prepares
//! examples in one step.

use gshn_seg::baselines::{boxes, grid_patches};
use gshn_seg::descriptors::region_adjacency;
use gshn_seg::felzenszwalb::{felzenszwalb, FelzenszwalbParams};
use gshn_seg::segmentation::VOID;
use gshn_seg::slic::{slic, SlicParams};
use gshn_seg::Segmentation;
use gshn_snn::rng::SeedRng;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::dataset::{prepare, Dataset, Example, QaItem};
use crate::error::{bad_input, invalid, Result};
use crate::model::config::TokensConfig;

/// Where the segments come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SegmentSource {
    /// Ground-truth panoptic segments (the paper's, with a perfect segmenter). Default.
    #[default]
    Panoptic,
    /// Felzenszwalb–Huttenlocher graph segmentation (weight-free).
    Felzenszwalb,
    /// SLIC superpixels (weight-free).
    Slic,
    /// A regular grid of patches (ViT-style baseline).
    Grid,
    /// Boxes around the panoptic segments (detector-style baseline, overlapping).
    Boxes,
}

/// The segmenter and its parameters (`[data.segments]` in an experiment file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegmentsConfig {
    /// Source. Default `panoptic`.
    pub source: SegmentSource,
    /// Felzenszwalb scale `k`. Default 100 (64-px images).
    pub fh_scale: f64,
    /// Felzenszwalb smoothing σ. Default 0.5.
    pub fh_sigma: f64,
    /// Felzenszwalb minimum segment size in pixels. Default 30.
    pub fh_min_size: usize,
    /// SLIC: approximate number of superpixels. Default 16.
    pub slic_segments: usize,
    /// SLIC compactness. Default 10.
    pub slic_compactness: f64,
    /// Grid: patches per side. Default 4.
    pub grid: u32,
    /// Control: merge each segment, with this probability, into the neighbour it shares the
    /// longest border with (under-segmentation; [`perturb`]). Default 0 (off).
    pub merge: f64,
    /// Control: erode every segment by this many pixels, the band along each border left to
    /// no segment (masks that miss the boundaries; [`perturb`]; segments that would vanish keep
    /// their pixels). Region adjacency then needs `model.tokens.dilation ≥ 2·erode + 1` to
    /// keep the graph. Default 0 (off).
    pub erode: u32,
}

impl Default for SegmentsConfig {
    fn default() -> Self {
        Self {
            source: SegmentSource::Panoptic,
            fh_scale: 100.0,
            fh_sigma: 0.5,
            fh_min_size: 30,
            slic_segments: 16,
            slic_compactness: 10.0,
            grid: 4,
            merge: 0.0,
            erode: 0,
        }
    }
}

impl SegmentsConfig {
    /// Whether the source needs ground-truth segments.
    pub fn needs_reference(&self) -> bool {
        matches!(self.source, SegmentSource::Panoptic | SegmentSource::Boxes)
    }

    /// Checks every field; errors name the field relative to this config.
    pub fn validate(&self) -> Result<()> {
        if !(self.fh_scale.is_finite() && self.fh_scale > 0.0 && self.fh_scale <= 1e6) {
            return Err(invalid("fh_scale", format!("{} must lie in (0, 1e6]", self.fh_scale)));
        }
        if !(self.fh_sigma.is_finite() && (0.0..=50.0).contains(&self.fh_sigma)) {
            return Err(invalid("fh_sigma", format!("{} must lie in [0, 50]", self.fh_sigma)));
        }
        if self.fh_min_size > 1 << 20 {
            return Err(invalid("fh_min_size", format!("{} must be at most 2^20 pixels", self.fh_min_size)));
        }
        if self.slic_segments == 0 || self.slic_segments > 1 << 16 {
            return Err(invalid("slic_segments", format!("{} must lie in 1..=65536", self.slic_segments)));
        }
        if !(self.slic_compactness.is_finite() && self.slic_compactness > 0.0 && self.slic_compactness <= 1e4) {
            return Err(invalid("slic_compactness", format!("{} must lie in (0, 1e4]", self.slic_compactness)));
        }
        if self.grid == 0 || self.grid > 1024 {
            return Err(invalid("grid", format!("{} must lie in 1..=1024", self.grid)));
        }
        if !(self.merge.is_finite() && (0.0..=1.0).contains(&self.merge)) {
            return Err(invalid("merge", format!("{} must be a probability in [0, 1]", self.merge)));
        }
        if self.erode > 64 {
            return Err(invalid("erode", format!("{} must lie in 0..=64 pixels", self.erode)));
        }
        if self.source == SegmentSource::Boxes && (self.merge > 0.0 || self.erode > 0) {
            return Err(invalid("merge", "box tokens overlap and have no borders to erode or merge along; perturb panoptic (or segmenter) segments"));
        }
        Ok(())
    }
}

/// Cuts `image` into segments per `cfg.source`; panoptic and box segments need the
/// ground-truth `reference`.
pub fn segment(image: &RgbImage, reference: Option<&Segmentation>, cfg: &SegmentsConfig) -> Result<Segmentation> {
    let (w, h) = image.dimensions();
    let need = || bad_input(format!("segment source {:?} needs ground-truth segments, and this data set has none; use felzenszwalb, slic or grid", cfg.source));
    Ok(match cfg.source {
        SegmentSource::Panoptic => reference.ok_or_else(need)?.clone(),
        SegmentSource::Boxes => {
            let r = reference.ok_or_else(need)?;
            let b: Vec<[f64; 4]> = r.segments.iter().filter(|s| s.area > 0).map(|s| s.bbox.map(|v| v as f64)).collect();
            boxes(w, h, &b)?
        }
        SegmentSource::Felzenszwalb => felzenszwalb(image, &FelzenszwalbParams { scale: cfg.fh_scale, sigma: cfg.fh_sigma, min_size: cfg.fh_min_size })?,
        SegmentSource::Slic => slic(image, &SlicParams { n_segments: cfg.slic_segments, compactness: cfg.slic_compactness, ..Default::default() })?,
        SegmentSource::Grid => grid_patches(w, h, cfg.grid, cfg.grid)?,
    })
    .and_then(|seg| if cfg.merge > 0.0 || cfg.erode > 0 { perturb(&seg, cfg.merge, cfg.erode) } else { Ok(seg) })
}

/// A segmentation made worse on purpose, for controls: each segment, in a random order, is
/// merged with probability `merge` into the neighbour it shares the longest border with
/// (its group's, once merged); then every segment is eroded by `erode` pixels (a pixel with a
/// pixel of another label or of none within `erode` in either axis joins no segment; image
/// borders do not erode; a segment that would vanish keeps its pixels). The random order and
/// draws are a function of the segmentation itself, so a data set is perturbed the same way
/// every time. Categories are dropped (the result is a plain partition).
pub fn perturb(seg: &Segmentation, merge: f64, erode: u32) -> Result<Segmentation> {
    let (w, h) = (seg.width as usize, seg.height as usize);
    let mut labels = seg.labels.clone();
    if merge > 0.0 {
        let n = seg.len();
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        for &l in &seg.labels {
            hash = (hash ^ l as u64).wrapping_mul(0x0100_0000_01b3);
        }
        let mut rng = SeedRng::new(hash).fork("merge");
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        let adjacency = region_adjacency(seg);
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(parent: &mut [usize], mut k: usize) -> usize {
            while parent[k] != k {
                parent[k] = parent[parent[k]];
                k = parent[k];
            }
            k
        }
        for k in order {
            if rng.next_f64() >= merge {
                continue;
            }
            let best = adjacency.edges.iter().filter(|e| e.0 as usize == k || e.1 as usize == k).max_by_key(|e| (e.2, std::cmp::Reverse((e.0, e.1))));
            if let Some(&(i, j, _)) = best {
                let other = if i as usize == k { j } else { i } as usize;
                let (a, b) = (find(&mut parent, k), find(&mut parent, other));
                parent[a] = b;
            }
        }
        for l in labels.iter_mut().filter(|l| **l != VOID) {
            *l = find(&mut parent, *l as usize) as u32;
        }
        Segmentation::relabel_sequential(&mut labels);
    }
    if erode > 0 {
        let e = erode as usize;
        let before = labels.clone();
        let n = before.iter().filter(|&&l| l != VOID).map(|&l| l as usize + 1).max().unwrap_or(0);
        let mut kept = vec![0usize; n];
        for y in 0..h {
            for x in 0..w {
                let l = before[y * w + x];
                if l == VOID {
                    continue;
                }
                let border = (y.saturating_sub(e)..(y + e + 1).min(h)).any(|yy| (x.saturating_sub(e)..(x + e + 1).min(w)).any(|xx| before[yy * w + xx] != l));
                if border {
                    labels[y * w + x] = VOID;
                } else {
                    kept[l as usize] += 1;
                }
            }
        }
        for (i, &l) in before.iter().enumerate() {
            if l != VOID && kept[l as usize] == 0 {
                labels[i] = l;
            }
        }
    }
    Ok(Segmentation::from_labels(seg.width, seg.height, labels)?)
}

/// Segments images and prepares their tokens, one at a time, into a [`Dataset`].
#[derive(Debug)]
pub struct DatasetBuilder<'a> {
    segments: &'a SegmentsConfig,
    tokens: &'a TokensConfig,
    /// What was built so far.
    pub dataset: Dataset,
}

impl<'a> DatasetBuilder<'a> {
    /// A builder cutting images per `segments` into tokens per `tokens`.
    pub fn new(segments: &'a SegmentsConfig, tokens: &'a TokensConfig) -> Self {
        Self { segments, tokens, dataset: Dataset::default() }
    }

    /// Segments `image` (with the ground truth `reference` when there is one) and appends it
    /// with its texts.
    pub fn push(
        &mut self,
        image: RgbImage,
        reference: Option<&Segmentation>,
        captions: Vec<String>,
        negatives: Vec<String>,
        questions: Vec<QaItem>,
    ) -> Result<()> {
        let segmentation = Segmentation::from_labels(image.width(), image.height(), vec![0; image.width() as usize * image.height() as usize])?;
        let example = Example { captions, negatives, questions, ..Example::image_only(image, segmentation) };
        self.push_example(example, reference)
    }

    /// Appends an example whose segmentation is replaced by this builder's segments of its
    /// image (`reference`: the ground truth, when the source needs it); a pair's partner is
    /// segmented the same way, its own segmentation the reference.
    pub fn push_example(&mut self, mut example: Example, reference: Option<&Segmentation>) -> Result<()> {
        example.segmentation = segment(&example.image, reference, self.segments)?;
        if let Some(p) = example.partner.as_mut() {
            let own = p.segmentation.clone();
            p.segmentation = segment(&p.image, Some(&own), self.segments)?;
        }
        let kind = self.tokens.graph_kind(example.image.width(), self.segments.source == SegmentSource::Boxes);
        self.dataset.items.push(prepare(example, self.tokens, kind)?);
        Ok(())
    }

    /// The data set.
    pub fn finish(self) -> Dataset {
        self.dataset
    }
}

/// ShapeWorld examples segmented per `segments` and prepared per `tokens`.
pub fn shapeworld_dataset(examples: &[crate::data::shapeworld::ShapeWorldExample], segments: &SegmentsConfig, tokens: &TokensConfig) -> Result<Dataset> {
    let mut b = DatasetBuilder::new(segments, tokens);
    for ex in examples {
        let e = ex.to_example();
        let reference = e.segmentation.clone();
        b.push_example(e, Some(&reference))?;
    }
    Ok(b.finish())
}
