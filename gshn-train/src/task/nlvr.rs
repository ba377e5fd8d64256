//! NLVR²: two images and one statement → true / false (accuracy, as ALBEF and BLIP report
//! it).
//!
//! ```text
//! s          = TextEncoder(statement)                                     [S, text_width]
//! q          = W_q · s                                                    [S, d]
//! p_img      = Σ_k softmax_k(⟨q, W_k V'_k⟩/√d) · V'_k   over each image's fused nodes
//! (p_L, p_R) = (p_left, p_right), exchanged where the pair was swapped   (BLIP's augmentation)
//! logits     = W_o · ReLU(W_f [p_L ; p_R ; q ; p_L ⊙ q ; p_R ⊙ q])        [S, 2]
//! ```
//!
//! Both images go through the same encoder; the statement attends over each image's nodes
//! with the same query (ALBEF and BLIP fuse the text with each image, then classify the
//! pair). Two probes, trained on detached features so that they cannot change the model, give
//! the baselines a reader needs: **text only** (an MLP on the statement features) and
//! **single image** (an MLP on the statement and the left image's pooled nodes) — the control
//! that shows the task needs both images.

use std::collections::BTreeMap;

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Bool, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::batch::GshnBatch;
use crate::dataset::{Dataset, PairStatement};
use crate::loss::{cross_entropy, LossConfig, Losses};
use crate::model::vqa::attention_pool;
use crate::model::{Gshn, ImageOutput};
use crate::task::entailment::Accuracy;
use crate::task::{argmax_rows, Column, EvalBatch, Scorer, Task, TaskScores};

/// NLVR² as a [`Task`]: one statement per pair that has statements, `nlvr =
/// CE(NlvrHead(s, V'_left, V'_right), truth)` and its probes' `nlvr_probes = CE(text-only) +
/// CE(single-image)`, both with weight `loss.nlvr` (the probes' gradients reach only the
/// probes).
#[derive(Debug, Clone, Copy)]
pub struct Nlvr;

impl Task for Nlvr {
    fn name(&self) -> &'static str {
        "nlvr"
    }

    fn title(&self) -> &'static str {
        "NLVR² (image pairs with statements)"
    }

    fn weighted(&self, w: &LossConfig) -> bool {
        w.nlvr > 0.0
    }

    fn carried_by(&self, data: &Dataset) -> bool {
        data.has_statements()
    }

    fn examples(&self) -> &'static str {
        "statements about image pairs (with model.loss.nlvr > 0)"
    }

    fn missing(&self, w: &LossConfig) -> Option<&'static str> {
        (w.nlvr > 0.0).then_some("model.loss.nlvr > 0 but the training split has no image pairs with statements (ShapeWorld: set data.statements, e.g. 1)")
    }

    fn add_losses(&self, model: &Gshn, batch: &GshnBatch, out: &ImageOutput, w: &LossConfig, losses: &mut Losses) -> crate::error::Result<()> {
        if let (Some(p), true) = (&batch.pairs, w.nlvr > 0.0) {
            if let Some(o) = model.judge_pairs(&batch.images, out, p)? {
                let t = p.statements.answers.clone();
                let probes = cross_entropy(o.text_only, t.clone()).add(cross_entropy(o.single_image, t.clone()));
                losses.add("nlvr", cross_entropy(o.logits, t), w.nlvr);
                losses.add("nlvr_probes", probes, w.nlvr);
            }
        }
        Ok(())
    }

    fn loss_columns(&self) -> &'static [Column] {
        const C: &[Column] = &[Column::new("nlvr", "NLVR")];
        C
    }

    fn val_columns(&self) -> &'static [Column] {
        const C: &[Column] = &[Column::new("nlvr", "NLVR acc")];
        C
    }

    fn metrics(&self) -> &'static [(&'static str, &'static str)] {
        &[("nlvr", "NLVR² accuracy"), ("nlvr_text_only", "NLVR² text-only probe accuracy"), ("nlvr_single_image", "NLVR² single-image probe accuracy")]
    }

    fn scorer<'a>(&self, model: &Gshn, data: &'a Dataset) -> Option<Box<dyn Scorer + 'a>> {
        (model.nlvr.is_some() && model.config.loss.nlvr > 0.0 && data.has_statements())
            .then(|| Box::new(NlvrScorer { data, items: vec![], pred: vec![], text_only: vec![], single_image: vec![] }) as Box<dyn Scorer + 'a>)
    }

    fn scored(&self, scores: &TaskScores) -> bool {
        scores.nlvr.is_some()
    }

    fn texts<'a>(&self, data: &'a Dataset) -> Vec<&'a str> {
        data.items.iter().flat_map(|p| p.statements.iter().map(|s| s.text.as_str())).collect()
    }

    fn text_unit(&self) -> &'static str {
        "statement"
    }

    fn metric(&self, scores: &TaskScores, name: &str) -> Option<f64> {
        let n = scores.nlvr.as_ref();
        match name {
            "nlvr" => n.map(|v| v.accuracy),
            "nlvr_text_only" => n.map(|v| v.text_only),
            "nlvr_single_image" => n.map(|v| v.single_image),
            _ => None,
        }
    }

    fn validation(&self, scores: &TaskScores) -> Vec<(&'static str, f64)> {
        scores.nlvr.iter().map(|n| ("nlvr", n.accuracy)).collect()
    }

    fn markdown(&self, scores: &TaskScores) -> String {
        scores.nlvr.as_ref().map_or(String::new(), |n| n.markdown() + "\n")
    }
}

/// Configuration of the [`NlvrHead`].
#[derive(Config, Debug)]
pub struct NlvrHeadConfig {
    /// Node feature width.
    pub d_model: usize,
    /// Statement feature width (the text encoder's).
    pub text_width: usize,
}

/// The pair classifier and its two probes.
#[derive(Module, Debug)]
pub struct NlvrHead {
    /// Statement → query.
    pub query: Linear,
    /// Node → key (both images).
    pub key: Linear,
    /// Fuses the two pooled images and the statement.
    pub fuse: Linear,
    /// True / false logits.
    pub out: Linear,
    /// Text-only probe: statement → hidden.
    pub text_hidden: Linear,
    /// Text-only probe: hidden → 2.
    pub text_out: Linear,
    /// Single-image probe: `[p_L ; q]` → hidden.
    pub single_hidden: Linear,
    /// Single-image probe: hidden → 2.
    pub single_out: Linear,
}

impl NlvrHeadConfig {
    /// Builds the head.
    pub fn init(&self, device: &Device) -> NlvrHead {
        let (d, w) = (self.d_model, self.text_width);
        let lin = |i, o| LinearConfig::new(i, o).init(device);
        NlvrHead {
            query: lin(w, d),
            key: lin(d, d),
            fuse: lin(5 * d, d),
            out: lin(d, 2),
            text_hidden: lin(w, d),
            text_out: lin(d, 2),
            single_hidden: lin(2 * d, d),
            single_out: lin(d, 2),
        }
    }
}

/// One image's side of a pair: its fused nodes padded `[S, M, d]` and their mask `[S, M]`
/// (row `s` the image of statement `s`).
#[derive(Debug, Clone)]
pub struct PairSide {
    /// Fused node features.
    pub nodes: Tensor<3>,
    /// True on real nodes.
    pub mask: Tensor<2, Bool>,
}

/// What the head produced.
#[derive(Debug, Clone)]
pub struct NlvrOutput {
    /// True/false logits `[S, 2]` (class 1 true).
    pub logits: Tensor<2>,
    /// The text-only probe's logits `[S, 2]`.
    pub text_only: Tensor<2>,
    /// The single-image probe's logits `[S, 2]`.
    pub single_image: Tensor<2>,
}

impl NlvrHead {
    /// Attention pooling of one image's nodes by the statement's query `[S, d]` → `[S, d]`.
    fn pool(&self, query: &Tensor<2>, side: &PairSide) -> Tensor<2> {
        attention_pool(self.key.forward(side.nodes.clone()), query.clone(), side.nodes.clone(), side.mask.clone()).0
    }

    /// Classifies statements `[S, text_width]` about the pairs (`left`, `right`); `swap`
    /// `[S, 1]` is 1 where the right image reads as the left (the statement was swapped with
    /// it), else 0.
    pub fn forward(&self, statement: Tensor<2>, left: &PairSide, right: &PairSide, swap: Tensor<2>) -> NlvrOutput {
        let q = self.query.forward(statement.clone());
        let (a, b) = (self.pool(&q, left), self.pool(&q, right));
        // Exchange the pooled images where the pair was swapped: p_L = (1−s)·a + s·b.
        let keep = swap.clone().neg().add_scalar(1.0);
        let p_l = a.clone().mul(keep.clone()).add(b.clone().mul(swap.clone()));
        let p_r = b.mul(keep).add(a.mul(swap));
        let h = relu(self.fuse.forward(Tensor::cat(vec![p_l.clone(), p_r.clone(), q.clone(), p_l.clone().mul(q.clone()), p_r.mul(q.clone())], 1)));
        let text_only = self.text_out.forward(relu(self.text_hidden.forward(statement.detach())));
        let single_image = self.single_out.forward(relu(self.single_hidden.forward(Tensor::cat(vec![p_l.detach(), q.detach()], 1))));
        NlvrOutput { logits: self.out.forward(h), text_only, single_image }
    }
}

/// NLVR² metrics on one split, beside their baselines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NlvrMetrics {
    /// Statements scored.
    pub statements: usize,
    /// Accuracy of the model.
    pub accuracy: f64,
    /// Accuracy per statement kind (`count`, `existence`, `relation`).
    pub per_kind: BTreeMap<String, Accuracy>,
    /// Share of true statements in this split.
    pub true_share: f64,
    /// Accuracy of always answering the training split's more frequent truth value.
    pub majority: f64,
    /// Accuracy of the text-only probe.
    pub text_only: f64,
    /// Accuracy of the single-image probe (statement + left image).
    pub single_image: f64,
}

impl NlvrMetrics {
    /// The metrics of predictions (class indices: 1 true) of the model and the two probes for
    /// `items`; `train` (the training split's statements) gives the majority value.
    pub fn new(items: &[&PairStatement], model: &[usize], text_only: &[usize], single_image: &[usize], train: Option<&[&PairStatement]>) -> Self {
        let n = items.len().max(1) as f64;
        let acc = |pred: &[usize]| items.iter().zip(pred).filter(|(s, &p)| s.answer == p).count() as f64 / n;
        let trues = |xs: &[&PairStatement]| xs.iter().filter(|s| s.answer == 1).count() * 2 >= xs.len();
        let majority_true = train.map_or(trues(items), trues);
        let true_share = items.iter().filter(|s| s.answer == 1).count() as f64 / n;
        let mut per_kind: BTreeMap<String, Accuracy> = BTreeMap::new();
        for (s, &p) in items.iter().zip(model) {
            let e = per_kind.entry(s.kind.clone()).or_default();
            e.accuracy += (s.answer == p) as u8 as f64;
            e.count += 1;
        }
        per_kind.values_mut().for_each(|a| a.accuracy /= a.count as f64);
        Self {
            statements: items.len(),
            accuracy: acc(model),
            per_kind,
            true_share,
            majority: if majority_true { true_share } else { 1.0 - true_share },
            text_only: acc(text_only),
            single_image: acc(single_image),
        }
    }

    /// The metrics as a Markdown table.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "NLVR² ({} statements, {:.1} % true):\n\n| metric | model | majority | text only | single image |\n|---|---|---|---|---|\n",
            self.statements,
            100.0 * self.true_share
        );
        s += &format!("| accuracy | {:.3} | {:.3} | {:.3} | {:.3} |\n", self.accuracy, self.majority, self.text_only, self.single_image);
        for (k, a) in &self.per_kind {
            s += &format!("| {k} ({}) | {:.3} | | | |\n", a.count, a.accuracy);
        }
        s
    }
}

/// NLVR²'s evaluation: every statement about every pair of the split, unswapped, read by the
/// model and its two probes.
struct NlvrScorer<'a> {
    data: &'a Dataset,
    items: Vec<&'a PairStatement>,
    pred: Vec<usize>,
    text_only: Vec<usize>,
    single_image: Vec<usize>,
}

impl<'a> Scorer for NlvrScorer<'a> {
    fn batch(&mut self, b: &EvalBatch) -> crate::error::Result<()> {
        let idx: Vec<usize> = b.range.clone().collect();
        let data = self.data;
        let items = data.refs(&idx);
        let chosen: Vec<(usize, &PairStatement, bool)> = items.iter().enumerate().flat_map(|(r, p)| p.statements.iter().map(move |s| (r, s, false))).collect();
        if !chosen.is_empty() {
            let pb = b.batcher.pair_statements(&items, &chosen, b.device)?;
            if let Some(o) = b.model.judge_pairs(b.images, b.out, &pb)? {
                self.pred.extend(argmax_rows(o.logits)?);
                self.text_only.extend(argmax_rows(o.text_only)?);
                self.single_image.extend(argmax_rows(o.single_image)?);
                self.items.extend(chosen.iter().map(|c| c.1));
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>, train: Option<&Dataset>, scores: &mut TaskScores) -> crate::error::Result<()> {
        if !self.items.is_empty() {
            let train_items: Option<Vec<&PairStatement>> = train.map(|t| t.items.iter().flat_map(|p| &p.statements).collect());
            scores.nlvr =
                Some(NlvrMetrics::new(&self.items, &self.pred, &self.text_only, &self.single_image, train_items.as_deref().filter(|t| !t.is_empty())));
        }
        Ok(())
    }
}
