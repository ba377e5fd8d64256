//! Visual question answering as a task: the head — question-conditioned attention over the
//! fused node features, then an answer classifier (the paper evaluates VQA; the head's form is
//! ours, docs/paper-map.md) — its metrics ([`VqaMetrics`]: accuracy overall and per question
//! type) and their baselines ([`VqaBaselines`]: answer prior and question-text lookup from the
//! training split). The loss term is `Gshn::losses`' cross-entropy over one question per image.
//!
//! ```text
//! q      = W_q · TextEncoder(question)                      [Q, d]
//! α_qk   = softmax_k ⟨q, W_k V'_k⟩ / √d    over the nodes k of the question's image
//! p_q    = Σ_k α_qk V'_k
//! logits = W_o · ReLU(W_f [p_q ; q ; p_q ⊙ q])              [Q, answers]
//! ```

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Bool, Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::batch::GshnBatch;
use crate::dataset::{Dataset, QaItem};
use crate::loss::{cross_entropy, LossConfig, Losses};
use crate::model::{Gshn, ImageOutput};
use crate::task::{argmax_rows, every_item, in_batch, Column, EvalBatch, Scorer, Task, TaskScores};

/// VQA as a [`Task`]: one question per image that has questions, `vqa = CE(VqaHead(q, V'),
/// answer)` (weight `loss.vqa`).
#[derive(Debug, Clone, Copy)]
pub struct Vqa;

impl Task for Vqa {
    fn name(&self) -> &'static str {
        "vqa"
    }

    fn title(&self) -> &'static str {
        "VQA (questions)"
    }

    fn weighted(&self, w: &LossConfig) -> bool {
        w.vqa > 0.0
    }

    fn carried_by(&self, data: &Dataset) -> bool {
        data.has_questions()
    }

    fn examples(&self) -> &'static str {
        "questions (with model.loss.vqa > 0)"
    }

    /// VQA's weight is on by default and most data has no questions: not an error.
    fn missing(&self, _w: &LossConfig) -> Option<&'static str> {
        None
    }

    fn add_losses(&self, model: &Gshn, batch: &GshnBatch, out: &ImageOutput, w: &LossConfig, losses: &mut Losses) -> crate::error::Result<()> {
        if let (Some(q), true) = (&batch.questions, w.vqa > 0.0) {
            let logits = model.answer(&batch.images, out, q).logits;
            losses.add("vqa", cross_entropy(logits, q.answers.clone()), w.vqa);
        }
        Ok(())
    }

    fn loss_columns(&self) -> &'static [Column] {
        const C: &[Column] = &[Column::new("vqa", "VQA")];
        C
    }

    fn val_columns(&self) -> &'static [Column] {
        const C: &[Column] = &[Column::new("vqa", "VQA acc")];
        C
    }

    fn metrics(&self) -> &'static [(&'static str, &'static str)] {
        &[("vqa", "VQA accuracy")]
    }

    /// Scores the model where `loss.vqa` > 0; the baselines wherever the split has questions.
    fn scorer<'a>(&self, model: &Gshn, data: &'a Dataset) -> Option<Box<dyn Scorer + 'a>> {
        let questions = if model.config.loss.vqa > 0.0 { every_item(data, |p| &p.questions) } else { vec![] };
        Some(Box::new(VqaScorer { data, right: vec![false; questions.len()], questions, cursor: 0 }))
    }

    fn scored(&self, scores: &TaskScores) -> bool {
        scores.vqa.is_some()
    }

    fn texts<'a>(&self, data: &'a Dataset) -> Vec<&'a str> {
        every_item(data, |p| &p.questions).into_iter().map(|(_, q)| q.text.as_str()).collect()
    }

    fn text_unit(&self) -> &'static str {
        "question"
    }

    fn metric(&self, scores: &TaskScores, name: &str) -> Option<f64> {
        (name == "vqa").then(|| scores.vqa.as_ref().map(|v| v.accuracy)).flatten()
    }

    fn validation(&self, scores: &TaskScores) -> Vec<(&'static str, f64)> {
        scores.vqa.iter().map(|v| ("vqa", v.accuracy)).collect()
    }

    fn markdown(&self, scores: &TaskScores) -> String {
        let Some(v) = &scores.vqa else { return String::new() };
        let b = scores.vqa_baselines.as_ref();
        let base = |k: &str| {
            b.map_or("–".to_string(), |b| {
                format!(
                    "prior {:.3}, question-text lookup {:.3}",
                    b.prior.get(k).copied().unwrap_or(f64::NAN),
                    b.question_only.get(k).copied().unwrap_or(f64::NAN)
                )
            })
        };
        let mut s =
            format!("| metric | value | baseline |\n|---|---|---|\n| VQA accuracy ({} questions) | {:.3} | {} |\n", v.questions, v.accuracy, base("all"));
        for (k, (acc, n)) in &v.per_type {
            s += &format!("| VQA {k} ({n}) | {acc:.3} | {} |\n", base(k));
        }
        s + "\n"
    }
}

/// Configuration of the [`VqaHead`].
#[derive(Config, Debug)]
pub struct VqaHeadConfig {
    /// Node feature width.
    pub d_model: usize,
    /// Question feature width (the text encoder's).
    pub text_width: usize,
    /// Answers.
    pub answers: usize,
}

/// Question-conditioned attention pooling and an answer classifier.
#[derive(Module, Debug)]
pub struct VqaHead {
    /// Question → query.
    pub query: Linear,
    /// Node → key.
    pub key: Linear,
    /// Fuses pooled nodes and the question.
    pub fuse: Linear,
    /// Answer logits.
    pub out: Linear,
}

/// What the head produced.
#[derive(Debug, Clone)]
pub struct VqaOutput {
    /// Answer logits `[Q, answers]`.
    pub logits: Tensor<2>,
    /// Attention over each question's image's node slots `[Q, N_max]` (0 on padding).
    pub attention: Tensor<2>,
}

impl VqaHeadConfig {
    /// Builds the head.
    pub fn init(&self, device: &Device) -> VqaHead {
        let d = self.d_model;
        VqaHead {
            query: LinearConfig::new(self.text_width, d).init(device),
            key: LinearConfig::new(d, d).init(device),
            fuse: LinearConfig::new(3 * d, d).init(device),
            out: LinearConfig::new(d, self.answers).init(device),
        }
    }
}

impl VqaHead {
    /// Answers questions `[Q, text_width]` about images whose nodes are given padded,
    /// `nodes` `[Q, N_max, d]` with `mask` `[Q, N_max]` true on real nodes (row `q` holds the
    /// nodes of question `q`'s image).
    pub fn forward(&self, question: Tensor<2>, nodes: Tensor<3>, mask: Tensor<2, Bool>) -> VqaOutput {
        let query = self.query.forward(question); // [Q, d]
        let keys = self.key.forward(nodes.clone()); // [Q, M, d]
        let (pooled, attention) = attention_pool(keys, query.clone(), nodes, mask);
        let h = relu(self.fuse.forward(Tensor::cat(vec![pooled.clone(), query.clone(), pooled.mul(query)], 1)));
        VqaOutput { logits: self.out.forward(h), attention }
    }
}

/// Text-conditioned attention pooling of each row's nodes: `α_k = softmax_k ⟨q, K_k⟩ / √d`
/// over the real nodes, `p = Σ_k α_k V'_k`. `keys` and `nodes` `[Q, M, d]`, `query` `[Q, d]`,
/// `mask` `[Q, M]` true on real nodes → (`p` `[Q, d]`, `α` `[Q, M]`, 0 on padding). The VQA,
/// entailment and NLVR² heads pool this way.
pub fn attention_pool(keys: Tensor<3>, query: Tensor<2>, nodes: Tensor<3>, mask: Tensor<2, Bool>) -> (Tensor<2>, Tensor<2>) {
    let [q, m, d] = nodes.dims();
    let scores: Tensor<2> = keys.matmul(query.reshape([q, d, 1])).reshape([q, m]).div_scalar((d as f64).sqrt());
    let attention = softmax(scores.mask_fill(mask.bool_not(), -1e9), 1);
    let pooled: Tensor<2> = attention.clone().reshape([q, 1, m]).matmul(nodes).reshape([q, d]);
    (pooled, attention)
}

/// VQA accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VqaMetrics {
    /// Questions asked.
    pub questions: usize,
    /// Fraction answered right.
    pub accuracy: f64,
    /// Per question type: (accuracy, questions).
    pub per_type: BTreeMap<String, (f64, usize)>,
}

impl VqaMetrics {
    /// Accuracy over `questions`, `right[i]` saying whether question `i` was answered right;
    /// `None` without questions.
    pub fn new(questions: &[&QaItem], right: &[bool]) -> Option<Self> {
        if questions.is_empty() {
            return None;
        }
        let mut per_type: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for (q, &ok) in questions.iter().zip(right) {
            let e = per_type.entry(q.kind.clone()).or_default();
            e.0 += ok as u8 as f64;
            e.1 += 1;
        }
        per_type.values_mut().for_each(|e| e.0 /= e.1 as f64);
        Some(Self { questions: questions.len(), accuracy: right.iter().filter(|&&b| b).count() as f64 / questions.len() as f64, per_type })
    }
}

/// What answering without looking achieves (from the training split's answers), per question
/// type and overall (`all`): the type's most frequent answer (answer prior), and the most
/// frequent answer to the same question text, else the type's (a question-text lookup table,
/// not a trained question-only model; named `question_only` in files).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct VqaBaselines {
    /// Answer-prior accuracy per type and `all`.
    pub prior: BTreeMap<String, f64>,
    /// Question-text lookup accuracy per type and `all`.
    pub question_only: BTreeMap<String, f64>,
}

impl VqaBaselines {
    /// The baselines on `questions`, from the answers of `train` (the training split's
    /// questions); `None` when either is empty.
    pub fn new(train: &[&QaItem], questions: &[&QaItem]) -> Option<Self> {
        let mut by_type: BTreeMap<&str, BTreeMap<usize, usize>> = BTreeMap::new();
        let mut by_text: BTreeMap<&str, BTreeMap<usize, usize>> = BTreeMap::new();
        for q in train {
            *by_type.entry(&q.kind).or_default().entry(q.answer).or_default() += 1;
            *by_text.entry(&q.text).or_default().entry(q.answer).or_default() += 1;
        }
        let top = |m: &BTreeMap<usize, usize>| m.iter().max_by_key(|(a, n)| (**n, std::cmp::Reverse(**a))).map(|(a, _)| *a);
        if questions.is_empty() || by_type.is_empty() {
            return None;
        }
        let mut tally: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new(); // prior right, question right, count
        for q in questions {
            let prior = by_type.get(q.kind.as_str()).and_then(top);
            let question = by_text.get(q.text.as_str()).and_then(top).or(prior);
            for key in [q.kind.as_str(), "all"] {
                let e = tally.entry(key.to_string()).or_default();
                e.0 += (prior == Some(q.answer)) as usize;
                e.1 += (question == Some(q.answer)) as usize;
                e.2 += 1;
            }
        }
        Some(Self {
            prior: tally.iter().map(|(k, v)| (k.clone(), v.0 as f64 / v.2 as f64)).collect(),
            question_only: tally.iter().map(|(k, v)| (k.clone(), v.1 as f64 / v.2 as f64)).collect(),
        })
    }
}

/// The answer-prior and question-text-lookup baselines on `data`'s questions, from `train`'s
/// answers.
pub fn vqa_baselines(train: &Dataset, data: &Dataset) -> Option<VqaBaselines> {
    let train: Vec<&QaItem> = train.items.iter().flat_map(|p| &p.questions).collect();
    let questions: Vec<&QaItem> = every_item(data, |p| &p.questions).into_iter().map(|(_, q)| q).collect();
    VqaBaselines::new(&train, &questions)
}

/// VQA's evaluation: the model's answer to every question of the split.
struct VqaScorer<'a> {
    data: &'a Dataset,
    questions: Vec<(usize, &'a QaItem)>,
    right: Vec<bool>,
    cursor: usize,
}

impl Scorer for VqaScorer<'_> {
    fn batch(&mut self, b: &EvalBatch) -> crate::error::Result<()> {
        let first = self.cursor;
        let qs = in_batch(&self.questions, &mut self.cursor, &b.range);
        if !qs.is_empty() {
            let pred = argmax_rows(b.model.answer(b.images, b.out, &b.batcher.questions(&qs, b.device)).logits)?;
            for (k, (_, q)) in qs.iter().enumerate() {
                self.right[first + k] = pred[k] == q.answer;
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>, train: Option<&Dataset>, scores: &mut TaskScores) -> crate::error::Result<()> {
        scores.vqa = VqaMetrics::new(&self.questions.iter().map(|(_, q)| *q).collect::<Vec<_>>(), &self.right);
        scores.vqa_baselines = train.and_then(|t| vqa_baselines(t, self.data));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(kind: &str, text: &str, answer: usize) -> QaItem {
        QaItem { kind: kind.into(), text: text.into(), answer }
    }

    #[test]
    fn accuracy_and_baselines_by_hand() {
        let asked = [q("colour", "what colour?", 1), q("colour", "what colour is it?", 2), q("count", "how many?", 3)];
        let refs: Vec<&QaItem> = asked.iter().collect();
        let m = VqaMetrics::new(&refs, &[true, false, true]).unwrap();
        assert_eq!((m.questions, m.per_type["colour"], m.per_type["count"]), (3, (0.5, 2), (1.0, 1)));
        assert!((m.accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert!(VqaMetrics::new(&[], &[]).is_none());
        // Training answers: colour → 1 twice, 2 once ("what colour is it?" → 2); count → 4.
        let train = [q("colour", "what colour?", 1), q("colour", "what colour?", 1), q("colour", "what colour is it?", 2), q("count", "how many?", 4)];
        let b = VqaBaselines::new(&train.iter().collect::<Vec<_>>(), &refs).unwrap();
        // Prior: colour → 1 (right on the first), count → 4 (wrong): 1 of 3.
        assert_eq!((b.prior["colour"], b.prior["count"]), (0.5, 0.0));
        assert!((b.prior["all"] - 1.0 / 3.0).abs() < 1e-12);
        // Question only: each colour text's own answer (both right), count wrong: 2 of 3.
        assert_eq!(b.question_only["colour"], 1.0);
        assert!((b.question_only["all"] - 2.0 / 3.0).abs() < 1e-12);
    }
}
