//! Visual entailment (SNLI-VE, as ALBEF evaluates it): an image and a hypothesis →
//! contradiction (0), neutral (1) or entailment (2), scored by 3-way accuracy.
//!
//! ```text
//! h        = TextEncoder(hypothesis)                                   [H, text_width]
//! logits   = AttentionHead(h, V' of the hypothesis's image)            [H, 3]   (VqaHead's form)
//! loss     = CE(logits, label)
//! probe    = W₂ · ReLU(W₁ · stopgrad(h))                               [H, 3]   hypothesis only
//! ```
//!
//! The head is ALBEF's in spirit — an MLP over a hypothesis-conditioned pooling of the fused
//! node features — and has the VQA head's form ([`VqaHead`]: attention of the hypothesis over
//! the image's nodes, then `[pooled; h; pooled ⊙ h]` → MLP) with three classes. Beside it a
//! **hypothesis-only probe** is trained on the detached hypothesis features: it reads the
//! same text representation but cannot see the image and cannot change the model (its
//! gradient stops at its own two layers), so its accuracy is what the text alone gives away
//! (SNLI-VE's known flaw; on ShapeWorld-VE the classes are balanced and "neutral" means the
//! image cannot decide, [`crate::data::shapeworld_ve`]).

use std::collections::BTreeMap;

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::batch::GshnBatch;
use crate::data::shapeworld_ve::LABELS;
use crate::dataset::{Dataset, QaItem};
use crate::loss::{cross_entropy, LossConfig, Losses};
use crate::model::vqa::{VqaHead, VqaHeadConfig};
use crate::model::{Gshn, ImageOutput};
use crate::task::{argmax_rows, every_item, in_batch, Column, EvalBatch, Scorer, Task, TaskScores};

/// Classes: contradiction, neutral, entailment.
pub const CLASSES: usize = 3;

/// Visual entailment as a [`Task`]: one hypothesis per image that has hypotheses,
/// `entailment = CE(EntailmentHead(h, V'), label)` and the hypothesis-only probe's
/// `entailment_probe = CE(probe(stopgrad h), label)`, both with weight `loss.entailment` (the
/// probe's gradient reaches only the probe).
#[derive(Debug, Clone, Copy)]
pub struct Entailment;

impl Task for Entailment {
    fn name(&self) -> &'static str {
        "entailment"
    }

    fn title(&self) -> &'static str {
        "visual entailment (hypotheses)"
    }

    fn weighted(&self, w: &LossConfig) -> bool {
        w.entailment > 0.0
    }

    fn carried_by(&self, data: &Dataset) -> bool {
        data.has_hypotheses()
    }

    fn examples(&self) -> &'static str {
        "hypotheses (with model.loss.entailment > 0)"
    }

    fn missing(&self, w: &LossConfig) -> Option<&'static str> {
        (w.entailment > 0.0)
            .then_some("model.loss.entailment > 0 but the training split has no entailment hypotheses (ShapeWorld: set data.hypotheses, e.g. 3)")
    }

    fn add_losses(&self, model: &Gshn, batch: &GshnBatch, out: &ImageOutput, w: &LossConfig, losses: &mut Losses) -> crate::error::Result<()> {
        if let (Some(h), true) = (&batch.hypotheses, w.entailment > 0.0) {
            if let Some(e) = model.entail(&batch.images, out, h) {
                losses.add("entailment", cross_entropy(e.logits, h.answers.clone()), w.entailment);
                losses.add("entailment_probe", cross_entropy(e.text_only, h.answers.clone()), w.entailment);
            }
        }
        Ok(())
    }

    fn loss_columns(&self) -> &'static [Column] {
        const C: &[Column] = &[Column::new("entailment", "VE")];
        C
    }

    fn val_columns(&self) -> &'static [Column] {
        const C: &[Column] = &[Column::new("entailment", "VE acc")];
        C
    }

    fn metrics(&self) -> &'static [(&'static str, &'static str)] {
        &[("ve", "visual-entailment accuracy"), ("ve_hypothesis_only", "VE hypothesis-only probe accuracy")]
    }

    fn scorer<'a>(&self, model: &Gshn, data: &'a Dataset) -> Option<Box<dyn Scorer + 'a>> {
        (model.entailment.is_some() && model.config.loss.entailment > 0.0).then(|| {
            Box::new(EntailmentScorer { hypotheses: every_item(data, |p| &p.hypotheses), pred: vec![], probe: vec![], cursor: 0 }) as Box<dyn Scorer + 'a>
        })
    }

    fn scored(&self, scores: &TaskScores) -> bool {
        scores.entailment.is_some()
    }

    fn texts<'a>(&self, data: &'a Dataset) -> Vec<&'a str> {
        every_item(data, |p| &p.hypotheses).into_iter().map(|(_, q)| q.text.as_str()).collect()
    }

    fn text_unit(&self) -> &'static str {
        "hypothesis"
    }

    fn metric(&self, scores: &TaskScores, name: &str) -> Option<f64> {
        let e = scores.entailment.as_ref();
        match name {
            "ve" => e.map(|v| v.accuracy),
            "ve_hypothesis_only" => e.map(|v| v.hypothesis_only),
            _ => None,
        }
    }

    fn validation(&self, scores: &TaskScores) -> Vec<(&'static str, f64)> {
        scores.entailment.iter().map(|e| ("entailment", e.accuracy)).collect()
    }

    fn markdown(&self, scores: &TaskScores) -> String {
        scores.entailment.as_ref().map_or(String::new(), |e| e.markdown() + "\n")
    }
}

/// Configuration of the [`EntailmentHead`].
#[derive(Config, Debug)]
pub struct EntailmentHeadConfig {
    /// Node feature width.
    pub d_model: usize,
    /// Hypothesis feature width (the text encoder's).
    pub text_width: usize,
}

/// The entailment classifier and the hypothesis-only probe.
#[derive(Module, Debug)]
pub struct EntailmentHead {
    /// Hypothesis-conditioned attention over the image's fused nodes, then the 3-way MLP.
    pub pair: VqaHead,
    /// Probe: hypothesis features → hidden.
    pub probe_hidden: Linear,
    /// Probe: hidden → 3 classes.
    pub probe_out: Linear,
}

impl EntailmentHeadConfig {
    /// Builds the head.
    pub fn init(&self, device: &Device) -> EntailmentHead {
        EntailmentHead {
            pair: VqaHeadConfig::new(self.d_model, self.text_width, CLASSES).init(device),
            probe_hidden: LinearConfig::new(self.text_width, self.d_model).init(device),
            probe_out: LinearConfig::new(self.d_model, CLASSES).init(device),
        }
    }
}

/// What the head produced.
#[derive(Debug, Clone)]
pub struct EntailmentOutput {
    /// Class logits `[H, 3]`.
    pub logits: Tensor<2>,
    /// The hypothesis-only probe's logits `[H, 3]` (no gradient reaches the text encoder).
    pub text_only: Tensor<2>,
    /// Attention of each hypothesis over its image's node slots `[H, M]` (0 on padding).
    pub attention: Tensor<2>,
}

impl EntailmentHead {
    /// Classifies hypotheses `[H, text_width]` about images whose fused nodes are given padded,
    /// `nodes` `[H, M, d]` with `mask` `[H, M]` true on real nodes (row `h` holds the nodes of
    /// hypothesis `h`'s image).
    pub fn forward(&self, hypothesis: Tensor<2>, nodes: Tensor<3>, mask: Tensor<2, burn::tensor::Bool>) -> EntailmentOutput {
        let text_only = self.probe_out.forward(relu(self.probe_hidden.forward(hypothesis.clone().detach())));
        let pair = self.pair.forward(hypothesis, nodes, mask);
        EntailmentOutput { logits: pair.logits, text_only, attention: pair.attention }
    }
}

/// Accuracy with the count it is over.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Accuracy {
    /// Fraction right.
    pub accuracy: f64,
    /// Hypotheses counted.
    pub count: usize,
}

/// Visual-entailment metrics on one split, each beside its baselines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntailmentMetrics {
    /// Hypotheses scored.
    pub hypotheses: usize,
    /// 3-way accuracy of the model.
    pub accuracy: f64,
    /// Accuracy per true class (`contradiction`, `neutral`, `entailment`).
    pub per_class: BTreeMap<String, Accuracy>,
    /// Accuracy per claim type (`existence`, `attribute`, `count`, `relation`).
    pub per_claim: BTreeMap<String, Accuracy>,
    /// The share of each class in this split.
    pub class_shares: BTreeMap<String, f64>,
    /// Accuracy of always answering the training split's most frequent class (the split's
    /// own majority share without a training split).
    pub majority: f64,
    /// Accuracy of the hypothesis-only probe (the image unseen).
    pub hypothesis_only: f64,
    /// The probe's accuracy per claim type.
    pub hypothesis_only_per_claim: BTreeMap<String, Accuracy>,
}

/// Tallies right answers by key.
fn tally<'a>(keys: impl Iterator<Item = &'a str>, right: impl Iterator<Item = bool>) -> BTreeMap<String, Accuracy> {
    let mut m: BTreeMap<String, Accuracy> = BTreeMap::new();
    for (k, ok) in keys.zip(right) {
        let e = m.entry(k.to_string()).or_default();
        e.accuracy += ok as u8 as f64;
        e.count += 1;
    }
    m.values_mut().for_each(|a| a.accuracy /= a.count as f64);
    m
}

impl EntailmentMetrics {
    /// The metrics of predictions `model` and `probe` (class indices) for `items`; `train`
    /// (the training split's hypotheses) gives the majority class.
    pub fn new(items: &[&QaItem], model: &[usize], probe: &[usize], train: Option<&[&QaItem]>) -> Self {
        let n = items.len().max(1) as f64;
        let counts = |xs: &[&QaItem]| (0..CLASSES).map(|c| xs.iter().filter(|q| q.answer == c).count()).collect::<Vec<_>>();
        let here = counts(items);
        let source = train.map_or(here.clone(), counts);
        let majority_class = (0..CLASSES).max_by_key(|&c| (source[c], std::cmp::Reverse(c))).unwrap_or(0);
        let right = |pred: &[usize]| items.iter().zip(pred).map(|(q, &p)| q.answer == p).collect::<Vec<_>>();
        let (m, p) = (right(model), right(probe));
        let share = |r: &[bool]| r.iter().filter(|&&b| b).count() as f64 / n;
        let label = |q: &&QaItem| LABELS.get(q.answer).copied().unwrap_or("?");
        Self {
            hypotheses: items.len(),
            accuracy: share(&m),
            per_class: tally(items.iter().map(label), m.iter().copied()),
            per_claim: tally(items.iter().map(|q| q.kind.as_str()), m.iter().copied()),
            class_shares: LABELS.iter().zip(&here).map(|(l, &c)| (l.to_string(), c as f64 / n)).collect(),
            majority: here[majority_class] as f64 / n,
            hypothesis_only: share(&p),
            hypothesis_only_per_claim: tally(items.iter().map(|q| q.kind.as_str()), p.iter().copied()),
        }
    }

    /// The metrics as a Markdown table, each beside its baselines.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "Visual entailment ({} hypotheses; classes {}):\n\n| metric | model | majority class | hypothesis only |\n|---|---|---|---|\n",
            self.hypotheses,
            LABELS.iter().map(|l| format!("{l} {:.1} %", 100.0 * self.class_shares.get(*l).copied().unwrap_or(0.0))).collect::<Vec<_>>().join(", ")
        );
        s += &format!("| 3-way accuracy | {:.3} | {:.3} | {:.3} |\n", self.accuracy, self.majority, self.hypothesis_only);
        for (k, a) in &self.per_claim {
            let probe = self.hypothesis_only_per_claim.get(k).map_or(f64::NAN, |a| a.accuracy);
            s += &format!("| {k} ({}) | {:.3} | | {probe:.3} |\n", a.count, a.accuracy);
        }
        for (k, a) in &self.per_class {
            s += &format!("| true {k} ({}) | {:.3} | | |\n", a.count, a.accuracy);
        }
        s
    }
}

/// Visual entailment's evaluation: the model's and the probe's class for every hypothesis.
struct EntailmentScorer<'a> {
    hypotheses: Vec<(usize, &'a QaItem)>,
    pred: Vec<usize>,
    probe: Vec<usize>,
    cursor: usize,
}

impl Scorer for EntailmentScorer<'_> {
    fn batch(&mut self, b: &EvalBatch) -> crate::error::Result<()> {
        let hs = in_batch(&self.hypotheses, &mut self.cursor, &b.range);
        if let Some(e) = (!hs.is_empty()).then(|| b.model.entail(b.images, b.out, &b.batcher.questions(&hs, b.device))).flatten() {
            self.pred.extend(argmax_rows(e.logits)?);
            self.probe.extend(argmax_rows(e.text_only)?);
        }
        Ok(())
    }

    fn finish(self: Box<Self>, train: Option<&Dataset>, scores: &mut TaskScores) -> crate::error::Result<()> {
        if !self.hypotheses.is_empty() {
            let items: Vec<&QaItem> = self.hypotheses.iter().map(|(_, q)| *q).collect();
            let train_items: Option<Vec<&QaItem>> = train.map(|t| t.items.iter().flat_map(|p| &p.hypotheses).collect());
            scores.entailment = Some(EntailmentMetrics::new(&items, &self.pred, &self.probe, train_items.as_deref().filter(|t| !t.is_empty())));
        }
        Ok(())
    }
}
