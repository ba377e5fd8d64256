//! A prepared data set: images, their visual tokens and graphs, captions, hard negatives and
//! questions — what training and evaluation consume, whatever the source.

use gshn_seg::baselines::{boxes, grid_patches};
use gshn_seg::felzenszwalb::{felzenszwalb, FelzenszwalbParams};
use gshn_seg::slic::{slic, SlicParams};
use gshn_seg::Segmentation;
use image::RgbImage;

use crate::config::{TokenConfig, TokenSource};
use crate::data::shapeworld::{answer_vocabulary, Example};
use crate::model::ImageTokens;

/// A question with its answer as an index into the answer vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct QaItem {
    /// Question type (for per-type accuracy), e.g. `colour`.
    pub kind: String,
    /// The question.
    pub text: String,
    /// Index of the answer.
    pub answer: usize,
}

/// Images ready for the model.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Images, all the same size.
    pub images: Vec<RgbImage>,
    /// The segmentation each image's tokens came from (kept for the report's pictures).
    pub segmentations: Vec<Segmentation>,
    /// Visual-token inputs.
    pub tokens: Vec<ImageTokens>,
    /// True captions (one or more per image; ShapeWorld has five).
    pub captions: Vec<Vec<String>>,
    /// Hard-negative captions (false of the image), possibly none.
    pub negatives: Vec<Vec<String>>,
    /// Questions, possibly none.
    pub questions: Vec<Vec<QaItem>>,
}

impl Dataset {
    /// Images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// The images `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Self {
        let mut d = Self::default();
        for &i in idx {
            d.images.push(self.images[i].clone());
            d.segmentations.push(self.segmentations[i].clone());
            d.tokens.push(self.tokens[i].clone());
            d.captions.push(self.captions[i].clone());
            d.negatives.push(self.negatives[i].clone());
            d.questions.push(self.questions[i].clone());
        }
        d
    }

    /// Whether every image has a caption (contrastive learning and retrieval need them).
    pub fn has_captions(&self) -> bool {
        !self.is_empty() && self.captions.iter().all(|c| !c.is_empty())
    }

    /// Whether any image has a question.
    pub fn has_questions(&self) -> bool {
        self.questions.iter().any(|q| !q.is_empty())
    }

    /// Appends one image with everything known about it; `reference` is the ground-truth
    /// segmentation when one exists (panoptic and box tokens need it).
    pub fn push(&mut self, image: RgbImage, reference: Option<&Segmentation>, cfg: &TokenConfig, captions: Vec<String>, negatives: Vec<String>, questions: Vec<QaItem>) -> anyhow::Result<()> {
        let side = image.width();
        anyhow::ensure!(side % 4 == 0 && image.height() == side, "images must be square with a side divisible by 4, got {}×{}", image.width(), image.height());
        let seg = segment(&image, reference, cfg)?;
        self.tokens.push(ImageTokens::new(&seg, side as usize / 4, side as usize / 4, cfg.graph_kind(side))?);
        self.segmentations.push(seg);
        self.images.push(image);
        self.captions.push(captions);
        self.negatives.push(negatives);
        self.questions.push(questions);
        Ok(())
    }

    /// ShapeWorld examples: renders them and cuts them into tokens per `cfg`.
    pub fn from_shapeworld(examples: &[Example], cfg: &TokenConfig) -> anyhow::Result<Self> {
        let answers = answer_vocabulary();
        let mut out = Self::default();
        for ex in examples {
            let questions = ex
                .questions
                .iter()
                .map(|q| QaItem {
                    kind: format!("{:?}", q.kind).to_lowercase(),
                    text: q.text.clone(),
                    answer: answers.iter().position(|a| *a == q.answer).expect("ShapeWorld answers are in the vocabulary"),
                })
                .collect();
            out.push(
                ex.scene.render(),
                Some(&ex.scene.panoptic()),
                cfg,
                ex.captions.iter().map(|c| c.text()).collect(),
                ex.negatives.iter().map(|c| c.text()).collect(),
                questions,
            )?;
        }
        Ok(out)
    }
}

/// Cuts `image` into segments per `cfg.source`. Panoptic and box tokens need the
/// ground-truth `reference`.
pub fn segment(image: &RgbImage, reference: Option<&Segmentation>, cfg: &TokenConfig) -> anyhow::Result<Segmentation> {
    let (w, h) = image.dimensions();
    let need = || anyhow::anyhow!("token source {:?} needs ground-truth segments, and this data set has none", cfg.source);
    Ok(match cfg.source {
        TokenSource::Panoptic => reference.ok_or_else(need)?.clone(),
        TokenSource::Boxes => {
            let r = reference.ok_or_else(need)?;
            let b: Vec<[f64; 4]> = r.segments.iter().filter(|s| s.area > 0).map(|s| s.bbox.map(|v| v as f64)).collect();
            boxes(w, h, &b)?
        }
        TokenSource::Felzenszwalb => felzenszwalb(image, &FelzenszwalbParams { scale: cfg.fh_scale, sigma: cfg.fh_sigma, min_size: cfg.fh_min_size })?,
        TokenSource::Slic => slic(image, &SlicParams { n_segments: cfg.slic_segments, compactness: cfg.slic_compactness, ..Default::default() })?,
        TokenSource::Grid => grid_patches(w, h, cfg.grid, cfg.grid)?,
    })
}
