//! Evaluation: retrieval both ways with every caption, hard-negative discrimination, VQA
//! accuracy overall and per question type, spiking statistics (firing rate per layer, SOPs,
//! estimated energy) and the learned fusion weight `r`.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use gshn_snn::stats::{EnergyModel, LayerStats};
use serde::{Deserialize, Serialize};

use crate::batch::{Dataset, GshnBatcher, QaItem};
use crate::metrics::{pairwise_accuracy, retrieval, RetrievalMetrics};
use crate::model::{Branches, Gshn};
use crate::run_error::{DataError, RunError};

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

/// Everything measured on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Images evaluated.
    pub images: usize,
    /// Retrieval with all captions of each image (`None` without captions).
    pub retrieval: Option<RetrievalMetrics>,
    /// Fraction of (true caption, hard negative) pairs of an image where the true caption
    /// scores higher; `None` without negatives.
    pub hard_negative_accuracy: Option<f64>,
    /// VQA; `None` without questions.
    pub vqa: Option<VqaMetrics>,
    /// Spiking layers' counts over the split (empty without a spiking branch).
    pub layers: Vec<LayerStats>,
    /// Energy preset used.
    pub energy_preset: String,
    /// Synaptic operations per image (spiking layers).
    pub sops_per_image: f64,
    /// Multiply-accumulates per image (spiking layers fed by real values).
    pub macs_per_image: f64,
    /// Estimated energy of the spiking layers per image (pJ).
    pub energy_pj_per_image: f64,
    /// The fusion weight(s) `r`.
    pub r: Vec<f32>,
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

    /// The metrics as a Markdown table.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        s += &format!("Test images: {}\n\n", self.images);
        if let Some(m) = &self.retrieval {
            s += "| direction | R@1 | R@5 | R@10 | mean rank | median rank |\n|---|---|---|---|---|---|\n";
            s += &format!(
                "| image→text | {:.3} | {:.3} | {:.3} | {:.1} | {:.1} |\n",
                m.i2t_recall[0], m.i2t_recall[1], m.i2t_recall[2], m.i2t_rank[0], m.i2t_rank[1]
            );
            s += &format!(
                "| text→image | {:.3} | {:.3} | {:.3} | {:.1} | {:.1} |\n\n",
                m.t2i_recall[0], m.t2i_recall[1], m.t2i_recall[2], m.t2i_rank[0], m.t2i_rank[1]
            );
        }
        s += "| metric | value |\n|---|---|\n";
        if let Some(h) = self.hard_negative_accuracy {
            s += &format!("| hard-negative accuracy | {h:.3} |\n");
        }
        if let Some(v) = &self.vqa {
            s += &format!("| VQA accuracy ({} questions) | {:.3} |\n", v.questions, v.accuracy);
            for (k, (acc, n)) in &v.per_type {
                s += &format!("| VQA {k} ({n}) | {acc:.3} |\n");
            }
        }
        for l in &self.layers {
            s += &format!("| firing rate {} | {:.3} |\n", l.name, l.firing_rate());
        }
        if !self.layers.is_empty() {
            s += &format!("| SOPs / image | {:.3e} |\n| MACs / image (spiking branch) | {:.3e} |\n", self.sops_per_image, self.macs_per_image);
            s += &format!("| energy / image ({}) | {:.1} nJ |\n", self.energy_preset, self.energy_pj_per_image / 1000.0);
        }
        s += &format!("| r | {} |\n| logit scale | {:.2} |\n", self.r_text(), self.logit_scale);
        s
    }
}

/// `(image, question)` of every question of every image, in image order.
fn all_questions(data: &Dataset) -> Vec<(usize, &QaItem)> {
    data.items.iter().enumerate().flat_map(|(i, p)| p.questions.iter().map(move |q| (i, q))).collect()
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

/// Evaluates `model` on `data` with batches of `batch_size` images; `energy` names an
/// [`EnergyModel`] preset.
pub fn evaluate(model: &Gshn, data: &Dataset, batcher: &GshnBatcher, energy: &str, batch_size: usize, device: &Device) -> Result<EvalReport, RunError> {
    if data.len() < 2 {
        return Err(DataError::Unfit(format!("evaluation needs at least 2 images, got {}", data.len())).into());
    }
    let energy_model = EnergyModel::preset(energy).ok_or_else(|| DataError::Unfit(format!("unknown energy preset `{energy}`")))?;
    let model = model.clone().valid();
    let n = data.len();
    let (mut image_emb, mut text_emb, mut neg_emb) = (vec![], vec![], vec![]);
    let mut text_image = Vec::new();
    let mut neg_image = Vec::new();
    let mut layers: Vec<LayerStats> = Vec::new();
    let questions = all_questions(data);
    let mut vqa_right = vec![false; questions.len()];
    let mut q_cursor = 0;
    let d = model.config.d_model;
    for start in (0..n).step_by(batch_size.max(1)) {
        let idx: Vec<usize> = (start..(start + batch_size).min(n)).collect();
        let batch = batcher.images(&data.refs(&idx), device)?;
        let out = model.encode_images(&batch)?;
        image_emb.push(out.embedding.clone());
        // Spiking statistics: layer 1 is fed by the real-valued tokens (MACs), later layers
        // by the spikes of the layer before (SOPs); each input feeds d_model synapses.
        if !out.spikes.is_empty() {
            // Real nodes only: padding rows are not neurons of any image.
            let spikes: Vec<Tensor<3>> = out.spikes.iter().map(|s| batch.real_rows(s.clone(), 1)).collect();
            let [t, nn, _] = spikes[0].dims();
            let input = batch.real_rows(out.tokens.clone(), 0).unsqueeze_dim::<3>(0).expand([t, nn, d]);
            let stats: Vec<LayerStats> = spikes
                .iter()
                .enumerate()
                .map(|(l, s)| {
                    if l == 0 {
                        LayerStats::measure("sgc1", &input, false, d, s)
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
        let texts: Vec<&str> = idx.iter().flat_map(|&i| data[i].captions.iter().map(|s| s.as_str())).collect();
        if !texts.is_empty() {
            text_image.extend(idx.iter().flat_map(|&i| std::iter::repeat_n(i, data[i].captions.len())));
            text_emb.push(model.encode_text(&batcher.texts(&texts, device)));
        }
        let negs: Vec<&str> = idx.iter().flat_map(|&i| data[i].negatives.iter().map(|s| s.as_str())).collect();
        if !negs.is_empty() {
            neg_image.extend(idx.iter().flat_map(|&i| std::iter::repeat_n(i, data[i].negatives.len())));
            neg_emb.push(model.encode_text(&batcher.texts(&negs, device)));
        }
        // VQA on this batch's questions.
        let q_end = questions[q_cursor..].iter().position(|q| q.0 >= start + idx.len()).map_or(questions.len(), |p| q_cursor + p);
        if q_end > q_cursor {
            let qs: Vec<(usize, &QaItem)> = questions[q_cursor..q_end].iter().map(|&(i, q)| (i - start, q)).collect();
            let pred = argmax_rows(model.answer(&batch, &out, &batcher.questions(&qs, device)).logits)?;
            for (k, (_, q)) in qs.iter().enumerate() {
                vqa_right[q_cursor + k] = pred[k] == q.answer;
            }
            q_cursor = q_end;
        }
    }
    let images = Tensor::cat(image_emb, 0);
    let n_texts = text_image.len();
    let sim = if n_texts > 0 { to_vec(images.clone().matmul(Tensor::cat(text_emb, 0).transpose()))? } else { vec![] };
    let retrieval = (n_texts > 0).then(|| retrieval(&sim, n, &text_image));
    let hard_negative_accuracy = if neg_emb.is_empty() || n_texts == 0 {
        None
    } else {
        let negs = Tensor::cat(neg_emb, 0);
        let neg_sim = to_vec(images.matmul(negs.transpose()))?;
        let n_neg = neg_image.len();
        let mut pairs = Vec::new();
        for (j, &i) in neg_image.iter().enumerate() {
            let s_neg = neg_sim[i * n_neg + j];
            for (t, _) in text_image.iter().enumerate().filter(|(_, &ti)| ti == i) {
                pairs.push((sim[i * n_texts + t], s_neg));
            }
        }
        Some(pairwise_accuracy(&pairs))
    };
    let vqa = (!questions.is_empty()).then(|| {
        let mut per_type: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for ((_, q), &ok) in questions.iter().zip(&vqa_right) {
            let e = per_type.entry(q.kind.clone()).or_default();
            e.0 += ok as u8 as f64;
            e.1 += 1;
        }
        per_type.values_mut().for_each(|e| e.0 /= e.1 as f64);
        VqaMetrics { questions: questions.len(), accuracy: vqa_right.iter().filter(|&&b| b).count() as f64 / questions.len() as f64, per_type }
    });
    let (sops, macs) = layers.iter().fold((0.0, 0.0), |a, l| (a.0 + l.sops, a.1 + l.macs));
    let energy_pj: f64 = layers.iter().map(|l| l.energy_pj(&energy_model)).sum();
    Ok(EvalReport {
        images: n,
        retrieval,
        hard_negative_accuracy,
        vqa,
        layers,
        energy_preset: energy.to_string(),
        sops_per_image: sops / n as f64,
        macs_per_image: macs / n as f64,
        energy_pj_per_image: energy_pj / n as f64,
        r: if model.branches() == Branches::Hybrid { model.r_values() } else { vec![] },
        logit_scale: model.logit_scale.value(),
    })
}
