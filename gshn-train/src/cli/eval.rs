//! Evaluation: retrieval both ways with every caption, hard-negative discrimination, VQA
//! accuracy overall and per question type, visual entailment and NLVR² beside their
//! baselines (each task where the data carries it and the model learns it), spiking
//! statistics (firing rate per layer, SOPs, estimated energy) and the learned fusion weight
//! `r`.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use gshn_snn::stats::{EnergyModel, LayerStats};
use serde::{Deserialize, Serialize};

use crate::batch::GshnBatcher;
use crate::cli::run_error::{DataError, RunError};
use crate::dataset::{CaptionClaims, Dataset, QaItem};
use crate::energy::{image_ops, snn_ops, text_ops, total_memory_pj, total_pj, twin_of, LayerOps, Measured, MEM_ACCESS_PJ};
use crate::model::{Branches, Gshn};
use crate::task::entailment::EntailmentMetrics;
use crate::task::nlvr::NlvrMetrics;
use crate::task::retrieval::{claim_aware, pairwise_accuracy, retrieval, ClaimAwareMetrics, RetrievalMetrics};

pub use crate::task::vqa::{VqaBaselines, VqaMetrics};

/// What the energy model counts: every layer of the image side, the text encoder, and the
/// equal-width non-spiking twin (docs: [`crate::energy`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EnergyReport {
    /// Per layer, per image.
    pub image_layers: Vec<LayerOps>,
    /// The text encoder per text of the first scored task: per caption (mean caption length),
    /// else per question, hypothesis or statement.
    pub text_layers: Vec<LayerOps>,
    /// The spiking branch's twin per image (ReLU, T = 1).
    pub twin_layers: Vec<LayerOps>,
    /// The whole image side per image (pJ).
    pub image_pj: f64,
    /// The spiking branch per image (pJ).
    pub snn_pj: f64,
    /// The twin's branch per image (pJ).
    pub twin_snn_pj: f64,
    /// The whole image side with the twin in place of the spiking branch, per image (pJ).
    pub twin_image_pj: f64,
    /// The text encoder per caption, or per question, hypothesis or statement (pJ).
    pub text_pj: f64,
    /// Memory accesses of the whole image side per image (pJ, beside `image_pj`).
    #[serde(default)]
    pub image_mem_pj: f64,
    /// Memory accesses of the spiking branch per image (pJ).
    #[serde(default)]
    pub snn_mem_pj: f64,
    /// Memory accesses of the twin's branch per image (pJ).
    #[serde(default)]
    pub twin_snn_mem_pj: f64,
    /// Memory accesses of the image side with the twin in place of the spiking branch (pJ).
    #[serde(default)]
    pub twin_image_mem_pj: f64,
    /// Whether the twin's counts come from running it (its zero outputs free), rather than
    /// dense counts beside a spiking model (an upper bound).
    #[serde(default)]
    pub twin_measured: bool,
}

/// Everything measured on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Images evaluated.
    pub images: usize,
    /// Retrieval with all captions of each image (`None` without captions).
    pub retrieval: Option<RetrievalMetrics>,
    /// Claim-aware retrieval and the ceilings of standard recall (ShapeWorld).
    #[serde(default)]
    pub claim_retrieval: Option<ClaimAwareMetrics>,
    /// Fraction of (source caption, hard negative) pairs where the true caption scores
    /// higher — each negative against the caption it was made from (against every true
    /// caption of its image where the data does not say); `None` without negatives.
    pub hard_negative_accuracy: Option<f64>,
    /// VQA; `None` without questions.
    pub vqa: Option<VqaMetrics>,
    /// VQA without looking at the image (needs the training split's answers).
    #[serde(default)]
    pub vqa_baselines: Option<VqaBaselines>,
    /// Visual entailment with its baselines; `None` without hypotheses or without the
    /// entailment head.
    #[serde(default)]
    pub entailment: Option<EntailmentMetrics>,
    /// NLVR² with its baselines; `None` without image pairs with statements or without the
    /// NLVR head.
    #[serde(default)]
    pub nlvr: Option<NlvrMetrics>,
    /// Spiking layers' counts over the split (empty without a spiking branch).
    pub layers: Vec<LayerStats>,
    /// Energy preset used.
    pub energy_preset: String,
    /// Spike-driven accumulates per image (spiking branch): input spikes × fan-out. (Before
    /// this field was split from `acs_per_image`, it counted every accumulate.)
    pub sops_per_image: f64,
    /// Every accumulate per image (spiking branch): the SOPs, edge aggregation, the mean over T.
    #[serde(default)]
    pub acs_per_image: f64,
    /// Multiply-accumulates per image (spiking branch).
    pub macs_per_image: f64,
    /// Estimated energy of the whole image side per image (pJ).
    pub energy_pj_per_image: f64,
    /// Per-layer operations and energy, and the non-spiking twin's.
    #[serde(default)]
    pub energy: EnergyReport,
    /// The fusion weight(s) `r`.
    pub r: Vec<f32>,
    /// The learned time constant τ of each PLIF spiking layer (empty for other neurons).
    #[serde(default)]
    pub plif_tau: Vec<f64>,
    /// CLIP's logit scale.
    pub logit_scale: f64,
}

impl EvalReport {
    /// Mean firing rate over the spiking layers (0 without them).
    pub fn mean_firing_rate(&self) -> f64 {
        let (s, n) = self.layers.iter().fold((0.0, 0.0), |a, l| (a.0 + l.spikes, a.1 + l.neuron_steps));
        if n == 0.0 {
            0.0
        } else {
            s / n
        }
    }

    /// The validation metrics the metrics log records, by their column keys
    /// ([`crate::task::Task::val_columns`]): retrieval's R@1 both ways and text→image R@5/10,
    /// and each other task's accuracy, where the split carries the task.
    pub fn validation(&self) -> Vec<(&'static str, f64)> {
        let mut v = Vec::new();
        if let Some(r) = &self.retrieval {
            v.extend([("i2t_r1", r.i2t_recall[0]), ("t2i_r1", r.t2i_recall[0]), ("t2i_r5", r.t2i_recall[1]), ("t2i_r10", r.t2i_recall[2])]);
        }
        v.extend(self.vqa.as_ref().map(|q| ("vqa", q.accuracy)));
        v.extend(self.entailment.as_ref().map(|e| ("entailment", e.accuracy)));
        v.extend(self.nlvr.as_ref().map(|n| ("nlvr", n.accuracy)));
        v
    }

    /// A task's test metric by its name ([`crate::task::Task::metrics`]); `None` where the
    /// split does not carry the task or the name is not a task's.
    pub fn task_metric(&self, name: &str) -> Option<f64> {
        let r = self.retrieval.as_ref();
        match name {
            "t2i_r1" => r.map(|r| r.t2i_recall[0]),
            "t2i_r5" => r.map(|r| r.t2i_recall[1]),
            "t2i_r10" => r.map(|r| r.t2i_recall[2]),
            "i2t_r1" => r.map(|r| r.i2t_recall[0]),
            "i2t_r10" => r.map(|r| r.i2t_recall[2]),
            "hard_negative" => self.hard_negative_accuracy,
            "vqa" => self.vqa.as_ref().map(|v| v.accuracy),
            "ve" => self.entailment.as_ref().map(|v| v.accuracy),
            "ve_hypothesis_only" => self.entailment.as_ref().map(|v| v.hypothesis_only),
            "nlvr" => self.nlvr.as_ref().map(|v| v.accuracy),
            "nlvr_text_only" => self.nlvr.as_ref().map(|v| v.text_only),
            "nlvr_single_image" => self.nlvr.as_ref().map(|v| v.single_image),
            _ => None,
        }
    }

    /// `r` as text: the scalar, or the mean and range of a per-channel `r`.
    pub fn r_text(&self) -> String {
        match self.r.len() {
            0 => "–".into(),
            1 => format!("{:.3}", self.r[0]),
            n => {
                let mean = self.r.iter().sum::<f32>() / n as f32;
                let (lo, hi) = self.r.iter().fold((f32::MAX, f32::MIN), |a, &v| (a.0.min(v), a.1.max(v)));
                format!("mean {mean:.3} (range {lo:.3}–{hi:.3}, {n} channels)")
            }
        }
    }

    /// The metrics as Markdown tables, each beside its baseline or ceiling.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        s += &format!("Test images: {} (chance text→image R@1 {:.4})\n\n", self.images, 1.0 / self.images as f64);
        if let Some(m) = &self.retrieval {
            let c = self.claim_retrieval.as_ref();
            let ceil = |v: Option<[f64; 3]>| v.map_or(String::new(), |v| format!(" | {:.3} | {:.3} | {:.3}", v[0], v[1], v[2]));
            let head = if c.is_some() { " | truth-only ranker R@1 | R@5 | R@10" } else { "" };
            let rule = if c.is_some() { "|---|---|---" } else { "" };
            s += &format!("| direction | R@1 | R@5 | R@10 | mean rank | median rank{head} |\n|---|---|---|---|---|---{rule}|\n");
            s += &format!(
                "| image→text | {:.3} | {:.3} | {:.3} | {:.1} | {:.1}{} |\n",
                m.i2t_recall[0],
                m.i2t_recall[1],
                m.i2t_recall[2],
                m.i2t_rank[0],
                m.i2t_rank[1],
                ceil(c.map(|c| c.i2t_ceiling))
            );
            s += &format!(
                "| text→image | {:.3} | {:.3} | {:.3} | {:.1} | {:.1}{} |\n",
                m.t2i_recall[0],
                m.t2i_recall[1],
                m.t2i_recall[2],
                m.t2i_rank[0],
                m.t2i_rank[1],
                ceil(c.map(|c| c.t2i_ceiling))
            );
            if let Some(c) = c {
                s += &format!(
                    "| image→text, claim-aware | {:.3} | {:.3} | {:.3} | | | 1 | 1 | 1 |\n| text→image, claim-aware | {:.3} | {:.3} | {:.3} | | | 1 | 1 | 1 |\n\n",
                    c.i2t_recall[0], c.i2t_recall[1], c.i2t_recall[2], c.t2i_recall[0], c.t2i_recall[1], c.t2i_recall[2]
                );
                s += &format!(
                    "Claim-aware: a caption counts as found at any image it is true of; its chance level (a random ranking) is R@1/5/10 {:.3}/{:.3}/{:.3} image→text and {:.3}/{:.3}/{:.3} text→image. Truth-only ranker: the standard recall of a model that ranks by truth alone, ties broken at random — a reference, not an upper bound. {:.1} % of the captions are true of their own image only.\n\n",
                    c.i2t_chance[0], c.i2t_chance[1], c.i2t_chance[2], c.t2i_chance[0], c.t2i_chance[1], c.t2i_chance[2],
                    100.0 * c.unique_captions
                );
            } else {
                s += "\n";
            }
        }
        s += "| metric | value | baseline |\n|---|---|---|\n";
        if let Some(h) = self.hard_negative_accuracy {
            s += &format!("| hard-negative accuracy (vs the caption each negative was made from) | {h:.3} | 0.5 (chance) |\n");
        }
        if let Some(v) = &self.vqa {
            let b = self.vqa_baselines.as_ref();
            let base = |k: &str| {
                b.map_or("–".to_string(), |b| {
                    format!(
                        "prior {:.3}, question-text lookup {:.3}",
                        b.prior.get(k).copied().unwrap_or(f64::NAN),
                        b.question_only.get(k).copied().unwrap_or(f64::NAN)
                    )
                })
            };
            s += &format!("| VQA accuracy ({} questions) | {:.3} | {} |\n", v.questions, v.accuracy, base("all"));
            for (k, (acc, n)) in &v.per_type {
                s += &format!("| VQA {k} ({n}) | {acc:.3} | {} |\n", base(k));
            }
        }
        for l in &self.layers {
            s += &format!("| firing rate {} | {:.3} | |\n", l.name, l.firing_rate());
        }
        let tasks: Vec<String> = self.entailment.iter().map(|e| e.markdown()).chain(self.nlvr.iter().map(|n| n.markdown())).collect();
        if !tasks.is_empty() {
            s += &format!("\n{}\n| metric | value | baseline |\n|---|---|---|\n", tasks.join("\n"));
        }
        let e = &self.energy;
        if !self.layers.is_empty() {
            s += &format!(
                "| spiking branch: SOPs (spike-driven) · all ACs · MACs / image | {:.3e} · {:.3e} · {:.3e} | |\n",
                self.sops_per_image, self.acs_per_image, self.macs_per_image
            );
            if e.twin_snn_pj > 0.0 {
                let twin = if e.twin_measured { "ReLU twin" } else { "ReLU twin, dense (not run)" };
                s += &format!(
                    "| spiking branch energy / image ({}): compute · + memory | {:.1} · {:.1} nJ | {twin} {:.1} · {:.1} nJ ({:.2}× · {:.2}×) |\n",
                    self.energy_preset,
                    e.snn_pj / 1000.0,
                    (e.snn_pj + e.snn_mem_pj) / 1000.0,
                    e.twin_snn_pj / 1000.0,
                    (e.twin_snn_pj + e.twin_snn_mem_pj) / 1000.0,
                    e.snn_pj / e.twin_snn_pj,
                    (e.snn_pj + e.snn_mem_pj) / (e.twin_snn_pj + e.twin_snn_mem_pj)
                );
            }
        }
        if e.image_pj > 0.0 {
            s += &format!(
                "| image side energy / image ({}): compute · + memory | {:.1} · {:.1} nJ | with the twin {:.1} · {:.1} nJ |\n",
                self.energy_preset,
                e.image_pj / 1000.0,
                (e.image_pj + e.image_mem_pj) / 1000.0,
                e.twin_image_pj / 1000.0,
                (e.twin_image_pj + e.twin_image_mem_pj) / 1000.0
            );
            s += &format!("| text encoder energy / {} | {:.1} nJ | |\n", self.text_unit(), e.text_pj / 1000.0);
        }
        s += &format!("| r | {} | |\n| logit scale | {:.2} | |\n", self.r_text(), self.logit_scale);
        if !self.plif_tau.is_empty() {
            let taus: Vec<String> = self.plif_tau.iter().map(|t| format!("{t:.3}")).collect();
            s += &format!("| PLIF τ per spiking layer (learned) | {} | |\n", taus.join(" / "));
        }
        s
    }

    /// What the text encoder's energy is counted per: a caption, or a question on a split
    /// without captions.
    fn text_unit(&self) -> &'static str {
        match (&self.retrieval, &self.vqa, &self.entailment, &self.nlvr) {
            (None, Some(_), _, _) => "question",
            (None, None, Some(_), _) => "hypothesis",
            (None, None, None, Some(_)) => "statement",
            _ => "caption",
        }
    }

    /// The per-layer operation table (Markdown).
    pub fn energy_markdown(&self) -> String {
        let model = EnergyModel::preset(&self.energy_preset).unwrap_or_else(EnergyModel::fp32_45nm);
        let mut s = format!(
            "Operations and energy per image ({}; MAC {} pJ, AC {} pJ; memory {MEM_ACCESS_PJ} pJ per 32-bit access: one per operation, a membrane read and write per spiking neuron and step):\n\n| layer | MACs | ACs | of which SOPs | memory accesses | compute (nJ) | memory (nJ) |\n|---|---|---|---|---|---|---|\n",
            self.energy_preset, model.e_mac_pj, model.e_ac_pj
        );
        let rows = |s: &mut String, ops: &[LayerOps]| {
            for o in ops {
                *s += &format!(
                    "| {} | {:.3e} | {:.3e} | {:.3e} | {:.3e} | {:.2} | {:.2} |\n",
                    o.name,
                    o.macs,
                    o.acs,
                    o.sops,
                    o.mem,
                    o.energy_pj(&model) / 1000.0,
                    o.memory_pj() / 1000.0
                );
            }
        };
        rows(&mut s, &self.energy.image_layers);
        s += if self.energy.twin_measured {
            "| **the twin's branch (run: zero outputs free)** | | | | | | |\n"
        } else {
            "| **the twin's branch (not run: dense, an upper bound)** | | | | | | |\n"
        };
        rows(&mut s, &self.energy.twin_layers);
        s += &format!("| **text encoder, per {}** | | | | | | |\n", self.text_unit());
        rows(&mut s, &self.energy.text_layers);
        s
    }
}

/// `(image, question)` of every question of every image, in image order.
fn all_questions(data: &Dataset) -> Vec<(usize, &QaItem)> {
    data.items.iter().enumerate().flat_map(|(i, p)| p.questions.iter().map(move |q| (i, q))).collect()
}

/// `(image, hypothesis)` of every entailment hypothesis of every image, in image order.
fn all_hypotheses(data: &Dataset) -> Vec<(usize, &QaItem)> {
    data.items.iter().enumerate().flat_map(|(i, p)| p.hypotheses.iter().map(move |q| (i, q))).collect()
}

/// The items of `(image, item)` pairs whose image lies in `start..end`, with their image as
/// a row of that batch; `cursor` (into `all`, in image order) moves past them.
fn in_batch<'a>(all: &[(usize, &'a QaItem)], cursor: &mut usize, start: usize, end: usize) -> Vec<(usize, &'a QaItem)> {
    let stop = all[*cursor..].iter().position(|q| q.0 >= end).map_or(all.len(), |p| *cursor + p);
    let out = all[*cursor..stop].iter().map(|&(i, q)| (i - start, q)).collect();
    *cursor = stop;
    out
}

/// A float tensor's values, row-major.
pub(crate) fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, RunError> {
    t.to_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| RunError::Device(format!("reading a tensor: {e:?}")))
}

/// The index of the largest logit of each row.
pub(crate) fn argmax_rows(logits: Tensor<2>) -> Result<Vec<usize>, RunError> {
    let v = logits.argmax(1).to_data().convert::<i64>().try_to_vec::<i64>().map_err(|e| RunError::Device(format!("reading a tensor: {e:?}")))?;
    Ok(v.into_iter().map(|i| i as usize).collect())
}

/// The answer-prior and question-text-lookup baselines on `data`'s questions, from `train`'s
/// answers.
pub fn vqa_baselines(train: &Dataset, data: &Dataset) -> Option<VqaBaselines> {
    let train: Vec<&QaItem> = train.items.iter().flat_map(|p| &p.questions).collect();
    let questions: Vec<&QaItem> = all_questions(data).into_iter().map(|(_, q)| q).collect();
    VqaBaselines::new(&train, &questions)
}

/// For each caption of `data` (in image order), the images of `data` it is true of, when
/// every example carries checkable claims.
pub fn caption_truth(data: &Dataset) -> Option<Vec<Vec<usize>>> {
    let claims: Vec<&dyn CaptionClaims> = data.items.iter().map(|p| p.claims.as_deref()).collect::<Option<Vec<_>>>()?;
    Some(
        claims
            .iter()
            .flat_map(|c| (0..c.captions()).map(|k| claims.iter().enumerate().filter(|(_, o)| c.holds_of(k, **o) == Some(true)).map(|(i, _)| i).collect()))
            .collect(),
    )
}

/// Evaluates `model` on `data` with batches of `batch_size` images; `energy` names an
/// [`EnergyModel`] preset; `train` (when given) supplies the VQA baselines' answer counts.
pub fn evaluate(
    model: &Gshn,
    data: &Dataset,
    batcher: &GshnBatcher,
    energy: &str,
    batch_size: usize,
    device: &Device,
    train: Option<&Dataset>,
) -> Result<EvalReport, RunError> {
    if data.len() < 2 {
        return Err(DataError::Unfit(format!("evaluation needs at least 2 images, got {}", data.len())).into());
    }
    let energy_model = EnergyModel::preset(energy).ok_or_else(|| DataError::Unfit(format!("unknown energy preset `{energy}`")))?;
    let preset = energy.to_string();
    let model = model.clone().valid();
    let n = data.len();
    let (mut image_emb, mut text_emb, mut neg_emb) = (vec![], vec![], vec![]);
    let mut text_image = Vec::new();
    let mut neg_image = Vec::new();
    let mut neg_source = Vec::new();
    let mut layers: Vec<LayerStats> = Vec::new();
    let mut input_spikes = 0.0;
    // Nonzero outputs of each layer of a ReLU twin's branch (empty for a spiking model).
    let twin_model = model.config.snn.activation == crate::model::config::Activation::Relu;
    let mut nonzero: Vec<f64> = Vec::new();
    // A task is scored where the data carries it and the model learns it (its loss weight
    // is > 0): an untrained head's numbers would read as results.
    let w = &model.config.loss;
    let scores_retrieval = w.clip > 0.0;
    let questions = if w.vqa > 0.0 { all_questions(data) } else { vec![] };
    let mut vqa_right = vec![false; questions.len()];
    let mut q_cursor = 0;
    let hypotheses = if model.entailment.is_some() && w.entailment > 0.0 { all_hypotheses(data) } else { vec![] };
    let (mut ve_pred, mut ve_probe, mut h_cursor) = (Vec::with_capacity(hypotheses.len()), Vec::with_capacity(hypotheses.len()), 0);
    let pairs = model.nlvr.is_some() && w.nlvr > 0.0 && data.has_statements();
    let (mut nlvr_items, mut nlvr_pred, mut nlvr_text, mut nlvr_single) = (vec![], vec![], vec![], vec![]);
    let d = model.config.d_model;
    let spiking_input = matches!(model.config.snn.encoding, crate::model::config::Encoding::Rate | crate::model::config::Encoding::Latency);
    for start in (0..n).step_by(batch_size.max(1)) {
        let idx: Vec<usize> = (start..(start + batch_size).min(n)).collect();
        let batch = batcher.images(&data.refs(&idx), device)?;
        let out = model.encode_images(&batch)?;
        image_emb.push(out.embedding.clone());
        // Spiking statistics of real nodes only (padding rows are not neurons of any image):
        // layer 1 is fed the encoded tokens (SOPs when they are spikes), later layers the
        // spikes of the layer before; each input feeds d_model synapses.
        if !out.spikes.is_empty() {
            let spikes: Vec<Tensor<3>> = out.spikes.iter().map(|s| batch.real_rows(s.clone(), 1)).collect();
            // A ReLU twin's nonzero outputs (its successors' real work); a spiking layer's are its
            // spikes, counted below.
            if twin_model {
                nonzero.resize(spikes.len(), 0.0);
                for (acc, s) in nonzero.iter_mut().zip(&spikes) {
                    *acc += s.clone().not_equal_elem(0.0).float().sum().into_scalar::<f32>() as f64;
                }
            }
            let input = batch.real_rows(out.snn_input.clone().expect("a spiking branch has an input"), 1);
            if spiking_input {
                input_spikes += input.clone().sum().into_scalar::<f32>() as f64;
            }
            let stats: Vec<LayerStats> = spikes
                .iter()
                .enumerate()
                .map(|(l, s)| {
                    if l == 0 {
                        LayerStats::measure("sgc1", &input, spiking_input, d, s)
                    } else {
                        LayerStats::measure(format!("sgc{}", l + 1), &spikes[l - 1], true, d, s)
                    }
                })
                .collect();
            if layers.is_empty() {
                layers = stats;
            } else {
                layers.iter_mut().zip(&stats).for_each(|(a, b)| a.accumulate(b));
            }
        }
        let texts: Vec<&str> = if scores_retrieval { idx.iter().flat_map(|&i| data[i].captions.iter().map(|s| s.as_str())).collect() } else { vec![] };
        if !texts.is_empty() {
            text_image.extend(idx.iter().flat_map(|&i| std::iter::repeat_n(i, data[i].captions.len())));
            text_emb.push(model.encode_text(&batcher.texts(&texts, device)));
        }
        let negs: Vec<&str> = if scores_retrieval { idx.iter().flat_map(|&i| data[i].negatives.iter().map(|s| s.as_str())).collect() } else { vec![] };
        if !negs.is_empty() {
            for &i in &idx {
                neg_image.extend(std::iter::repeat_n(i, data[i].negatives.len()));
                let sources = &data[i].negative_sources;
                neg_source.extend((0..data[i].negatives.len()).map(|j| sources.get(j).copied()));
            }
            neg_emb.push(model.encode_text(&batcher.texts(&negs, device)));
        }
        // VQA on this batch's questions.
        let first = q_cursor;
        let qs = in_batch(&questions, &mut q_cursor, start, start + idx.len());
        if !qs.is_empty() {
            let pred = argmax_rows(model.answer(&batch, &out, &batcher.questions(&qs, device)).logits)?;
            for (k, (_, q)) in qs.iter().enumerate() {
                vqa_right[first + k] = pred[k] == q.answer;
            }
        }
        // Entailment on this batch's hypotheses: the model and the hypothesis-only probe.
        let hs = in_batch(&hypotheses, &mut h_cursor, start, start + idx.len());
        if let Some(e) = (!hs.is_empty()).then(|| model.entail(&batch, &out, &batcher.questions(&hs, device))).flatten() {
            ve_pred.extend(argmax_rows(e.logits)?);
            ve_probe.extend(argmax_rows(e.text_only)?);
        }
        // NLVR² on every statement of this batch's pairs, unswapped.
        if pairs {
            let items = data.refs(&idx);
            let chosen: Vec<(usize, &crate::dataset::PairStatement, bool)> =
                items.iter().enumerate().flat_map(|(r, p)| p.statements.iter().map(move |s| (r, s, false))).collect();
            if !chosen.is_empty() {
                let pb = batcher.pair_statements(&items, &chosen, device)?;
                if let Some(o) = model.judge_pairs(&batch, &out, &pb)? {
                    nlvr_pred.extend(argmax_rows(o.logits)?);
                    nlvr_text.extend(argmax_rows(o.text_only)?);
                    nlvr_single.extend(argmax_rows(o.single_image)?);
                    nlvr_items.extend(chosen.iter().map(|c| c.1));
                }
            }
        }
    }
    let images = Tensor::cat(image_emb, 0);
    let n_texts = text_image.len();
    let sim = if n_texts > 0 { to_vec(images.clone().matmul(Tensor::cat(text_emb, 0).transpose()))? } else { vec![] };
    let retrieval = (n_texts > 0).then(|| retrieval(&sim, n, &text_image));
    let claim_retrieval = if n_texts > 0 { caption_truth(data).map(|truth| claim_aware(&sim, n, &text_image, &truth)) } else { None };
    let hard_negative_accuracy = if neg_emb.is_empty() || n_texts == 0 {
        None
    } else {
        let negs = Tensor::cat(neg_emb, 0);
        let neg_sim = to_vec(images.matmul(negs.transpose()))?;
        let n_neg = neg_image.len();
        // The first caption of each image, to find caption k of image i.
        let mut first = vec![usize::MAX; n];
        for (t, &i) in text_image.iter().enumerate().rev() {
            first[i] = t;
        }
        let mut pairs = Vec::new();
        for (j, (&i, source)) in neg_image.iter().zip(&neg_source).enumerate() {
            let s_neg = neg_sim[i * n_neg + j];
            match source {
                Some(k) => pairs.push((sim[i * n_texts + first[i] + k], s_neg)),
                None => {
                    for (t, _) in text_image.iter().enumerate().filter(|(_, &ti)| ti == i) {
                        pairs.push((sim[i * n_texts + t], s_neg));
                    }
                }
            }
        }
        Some(pairwise_accuracy(&pairs))
    };
    let vqa = VqaMetrics::new(&questions.iter().map(|(_, q)| *q).collect::<Vec<_>>(), &vqa_right);
    let entailment = (!hypotheses.is_empty()).then(|| {
        let items: Vec<&QaItem> = hypotheses.iter().map(|(_, q)| *q).collect();
        let train_items: Option<Vec<&QaItem>> = train.map(|t| t.items.iter().flat_map(|p| &p.hypotheses).collect());
        EntailmentMetrics::new(&items, &ve_pred, &ve_probe, train_items.as_deref().filter(|t| !t.is_empty()))
    });
    let nlvr = (!nlvr_items.is_empty()).then(|| {
        let train_items: Option<Vec<&crate::dataset::PairStatement>> = train.map(|t| t.items.iter().flat_map(|p| &p.statements).collect());
        NlvrMetrics::new(&nlvr_items, &nlvr_pred, &nlvr_text, &nlvr_single, train_items.as_deref().filter(|t| !t.is_empty()))
    });
    // Whole-model operation counts from what the split measured.
    let cfg = &model.config;
    let side = data[0].image.width() as usize;
    let measured = Measured {
        image_side: side,
        cells: data[0].tokens.cells,
        nodes: data.items.iter().map(|p| p.tokens.n).sum::<usize>() as f64 / n as f64,
        edges: data.items.iter().map(|p| p.tokens.edges.len()).sum::<usize>() as f64 / n as f64,
        spikes: layers.iter().map(|l| l.spikes / n as f64).collect(),
        input_spikes: input_spikes / n as f64,
        nonzero: nonzero.iter().map(|k| k / n as f64).collect(),
    };
    let image_layers = image_ops(cfg, &measured);
    let twin = twin_of(cfg);
    let snn_layers: Vec<LayerOps> = if cfg.fusion.branches == Branches::GatOnly { vec![] } else { snn_ops(cfg, &measured) };
    // The twin beside a spiking model was not run (`nonzero` is empty): counted dense, an upper
    // bound. A twin model's own counts skip its measured zero outputs.
    let twin_layers: Vec<LayerOps> = if cfg.fusion.branches == Branches::GatOnly { vec![] } else { snn_ops(&twin, &measured) };
    // The text encoder is counted per text it reads: per caption, or per question where the
    // split has no captions (easy-VQA).
    let text_len = |texts: &mut dyn Iterator<Item = &str>| {
        // Counted in the pieces the text encoder reads: WordPiece for MiniLM, else words.
        let len = |t: &str| match &batcher.wordpiece {
            Some(wp) => wp.encode(t, batcher.max_text).len(),
            None => batcher.vocab.encode(t).len().min(batcher.max_text),
        };
        let (sum, count) = texts.fold((0usize, 0usize), |(s, c), t| (s + len(t), c + 1));
        sum as f64 / count.max(1) as f64
    };
    // Per text of the first scored task: caption, question, hypothesis or statement.
    let caption_len = if n_texts > 0 {
        text_len(&mut data.items.iter().flat_map(|p| p.captions.iter().map(String::as_str)))
    } else if !questions.is_empty() {
        text_len(&mut questions.iter().map(|(_, q)| q.text.as_str()))
    } else if !hypotheses.is_empty() {
        text_len(&mut hypotheses.iter().map(|(_, q)| q.text.as_str()))
    } else {
        text_len(&mut nlvr_items.iter().map(|s| s.text.as_str()))
    };
    let text_layers = text_ops(cfg, caption_len);
    let image_pj = total_pj(&image_layers, &energy_model);
    let (snn_pj, twin_snn_pj) = (total_pj(&snn_layers, &energy_model), total_pj(&twin_layers, &energy_model));
    let (image_mem_pj, snn_mem_pj, twin_snn_mem_pj) = (total_memory_pj(&image_layers), total_memory_pj(&snn_layers), total_memory_pj(&twin_layers));
    let energy = EnergyReport {
        twin_image_pj: image_pj - snn_pj + twin_snn_pj,
        image_mem_pj,
        snn_mem_pj,
        twin_snn_mem_pj,
        twin_image_mem_pj: image_mem_pj - snn_mem_pj + twin_snn_mem_pj,
        twin_measured: twin_model,
        image_pj,
        snn_pj,
        twin_snn_pj,
        text_pj: total_pj(&text_layers, &energy_model),
        image_layers,
        text_layers,
        twin_layers,
    };
    Ok(EvalReport {
        images: n,
        retrieval,
        claim_retrieval,
        hard_negative_accuracy,
        vqa,
        vqa_baselines: train.and_then(|t| vqa_baselines(t, data)),
        entailment,
        nlvr,
        sops_per_image: snn_layers.iter().map(|o| o.sops).sum(),
        acs_per_image: snn_layers.iter().map(|o| o.acs).sum(),
        macs_per_image: snn_layers.iter().map(|o| o.macs).sum(),
        energy_pj_per_image: energy.image_pj,
        layers,
        energy_preset: preset,
        energy,
        r: if model.branches() == Branches::Hybrid { model.r_values() } else { vec![] },
        plif_tau: model.plif_tau(),
        logit_scale: model.logit_scale.value(),
    })
}
