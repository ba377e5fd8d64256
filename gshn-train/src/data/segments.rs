//! How images are cut into the segments that become tokens (the paper uses
//! panoptic segments): ground truth, Felzenszwalb–Huttenlocher, SLIC, a regular grid, or boxes
//! around the ground-truth segments — and a [`DatasetBuilder`] that segments and prepares
//! examples in one step.

use gshn_seg::baselines::{boxes, grid_patches};
use gshn_seg::felzenszwalb::{felzenszwalb, FelzenszwalbParams};
use gshn_seg::slic::{slic, SlicParams};
use gshn_seg::Segmentation;
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
}

impl Default for SegmentsConfig {
    fn default() -> Self {
        Self { source: SegmentSource::Panoptic, fh_scale: 100.0, fh_sigma: 0.5, fh_min_size: 30, slic_segments: 16, slic_compactness: 10.0, grid: 4 }
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
