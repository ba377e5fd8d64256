//! The data every task and loader shares, below both the loaders (`data`) and the batcher
//! (`batch`): an [`Example`] (an image, its segments and its texts: captions, hard negatives,
//! questions, entailment hypotheses, statements about a pair), the same example
//! [`Prepared`] with its visual-token inputs, and a [`Dataset`] of them. Nothing here knows
//! where the data came from; a source whose captions can be checked against any of its images
//! says so through [`CaptionClaims`].

use std::any::Any;
use std::ops::Deref;
use std::sync::Arc;

use gshn_graph::GraphKind;
use gshn_seg::Segmentation;
use image::RgbImage;

use crate::error::{bad_input, Result};
use crate::model::config::TokensConfig;
use crate::model::tokens::ImageTokens;

/// What an example's captions claim, checkable against the images of other examples of the
/// same source: claim-aware retrieval (a caption counts as found at any image it is true of)
/// and the masking of in-batch false negatives use it. ShapeWorld implements it with its
/// scene and the captions' claims (`data::shapeworld::ExampleClaims`).
pub trait CaptionClaims: std::fmt::Debug + Send + Sync {
    /// The number of captions covered, in caption order.
    fn captions(&self) -> usize;
    /// Whether caption `k` is true of the image whose claims are `other`; `None` where `other`
    /// comes from a source these claims cannot be checked against.
    fn holds_of(&self, k: usize, other: &dyn CaptionClaims) -> Option<bool>;
    /// `self` as [`Any`], so that an implementation can recognise its own kind in `other`.
    fn as_any(&self) -> &dyn Any;
}

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

/// A statement about a pair of images (NLVR²), true or false.
#[derive(Debug, Clone, PartialEq)]
pub struct PairStatement {
    /// Statement kind (for per-kind accuracy), e.g. `count`.
    pub kind: String,
    /// The statement about (the example's image, its partner).
    pub text: String,
    /// The same statement about the pair in the other order (left and right exchanged in the
    /// words), for BLIP's image-swap augmentation.
    pub swapped: String,
    /// 1 true, 0 false.
    pub answer: usize,
}

/// One image with everything known about it.
#[derive(Debug, Clone)]
pub struct Example {
    /// The image (RGB8, square, its side divisible by the feature-map stride).
    pub image: RgbImage,
    /// Its segments (the graph's nodes).
    pub segmentation: Segmentation,
    /// True captions (none, one or more).
    pub captions: Vec<String>,
    /// Hard-negative captions (false of the image), possibly none.
    pub negatives: Vec<String>,
    /// Questions, possibly none.
    pub questions: Vec<QaItem>,
    /// Visual-entailment hypotheses, possibly none: `kind` the claim type, `answer` the label
    /// (contradiction 0, neutral 1, entailment 2; [`crate::task::entailment`]).
    pub hypotheses: Vec<QaItem>,
    /// The second image of a pair (NLVR²; only its image and segmentation are used).
    pub partner: Option<Box<Example>>,
    /// Statements about the pair (this image left, `partner` right), possibly none.
    pub statements: Vec<PairStatement>,
    /// For each hard negative, the index of the true caption it was made from (empty: each
    /// negative is compared with every true caption).
    pub negative_sources: Vec<usize>,
    /// What the captions claim, checkable against any image of the same source (ShapeWorld):
    /// for claim-aware retrieval and for masking in-batch false negatives.
    pub claims: Option<Arc<dyn CaptionClaims>>,
}

impl Example {
    /// An image and its segments with nothing else (no texts).
    pub fn image_only(image: RgbImage, segmentation: Segmentation) -> Self {
        Self {
            image,
            segmentation,
            captions: vec![],
            negatives: vec![],
            questions: vec![],
            hypotheses: vec![],
            partner: None,
            statements: vec![],
            negative_sources: vec![],
            claims: None,
        }
    }
}

/// An example with its visual-token inputs, computed once.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The example.
    pub example: Example,
    /// Masks, geometry and graph of its segments.
    pub tokens: ImageTokens,
    /// Its feature map from a frozen pretrained backbone, when one was attached
    /// ([`FeatureCache::attach`](crate::model::feature_cache::FeatureCache::attach)).
    pub features: Option<Features>,
    /// The pair's second image, prepared the same way (NLVR²).
    pub partner: Option<Box<Prepared>>,
}

impl Deref for Prepared {
    type Target = Example;

    fn deref(&self) -> &Example {
        &self.example
    }
}

/// Computes the token inputs of `example` (and of its partner) for `tokens` (the feature-map
/// stride) with graph `kind` (e.g. overlapping box tokens take region adjacency without
/// dilation).
pub fn prepare(mut example: Example, tokens: &TokensConfig, kind: GraphKind) -> Result<Prepared> {
    let partner = example.partner.take().map(|p| prepare(*p, tokens, kind).map(Box::new)).transpose()?;
    let (w, h) = example.image.dimensions();
    if w != h {
        return Err(bad_input(format!("images must be square, got {w}×{h}")));
    }
    if (example.segmentation.width, example.segmentation.height) != (w, h) {
        return Err(bad_input(format!("the segmentation is {}×{}, the image {w}×{h}", example.segmentation.width, example.segmentation.height)));
    }
    let side = tokens.feature_side(w)?;
    let tokens = ImageTokens::new(&example.segmentation, side, side, kind)?;
    Ok(Prepared { example, tokens, features: None, partner })
}

/// One image's feature map `[C, H, W]`, shared between clones of the example.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    /// Row-major values.
    pub values: Arc<Vec<f32>>,
}

/// The pixels of an RGB image as planar `[3, H, W]` values in `[−0.5, 0.5]` (the batch's).
pub fn planar_pixels(image: &RgbImage) -> impl Iterator<Item = f32> + '_ {
    (0..3).flat_map(move |c| image.pixels().map(move |px| px.0[c] as f32 / 255.0 - 0.5))
}

/// Examples prepared for a model: what training and evaluation consume, whatever the source.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// The prepared examples.
    pub items: Vec<Prepared>,
}

impl Dataset {
    /// Images.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The examples `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Self {
        Self { items: idx.iter().map(|&i| self.items[i].clone()).collect() }
    }

    /// References to the examples `idx`.
    pub fn refs(&self, idx: &[usize]) -> Vec<&Prepared> {
        idx.iter().map(|&i| &self.items[i]).collect()
    }

    /// Whether every image has a caption (contrastive learning and retrieval need them).
    pub fn has_captions(&self) -> bool {
        !self.is_empty() && self.items.iter().all(|p| !p.captions.is_empty())
    }

    /// Whether any image has a question.
    pub fn has_questions(&self) -> bool {
        self.items.iter().any(|p| !p.questions.is_empty())
    }

    /// Whether every image has a partner and some have statements about the pair (NLVR²).
    pub fn has_statements(&self) -> bool {
        !self.is_empty() && self.items.iter().all(|p| p.partner.is_some()) && self.items.iter().any(|p| !p.statements.is_empty())
    }

    /// Whether any image has an entailment hypothesis.
    pub fn has_hypotheses(&self) -> bool {
        self.items.iter().any(|p| !p.hypotheses.is_empty())
    }

    /// Every caption, hard negative, question, hypothesis and statement (both wordings) of the
    /// set (for building a vocabulary).
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.items.iter().flat_map(|p| {
            p.captions
                .iter()
                .chain(&p.negatives)
                .map(String::as_str)
                .chain(p.questions.iter().chain(&p.hypotheses).map(|q| q.text.as_str()))
                .chain(p.statements.iter().flat_map(|s| [s.text.as_str(), s.swapped.as_str()]))
        })
    }
}

impl std::ops::Index<usize> for Dataset {
    type Output = Prepared;

    fn index(&self, i: usize) -> &Prepared {
        &self.items[i]
    }
}
