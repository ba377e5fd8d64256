//! Evaluation: every task's metrics beside their baselines, each where the data carries the
//! task and the model learns it (each task's [`Scorer`], run batch by
//! batch: retrieval both ways with every caption and hard-negative discrimination, VQA
//! accuracy overall and per question type, visual entailment and NLVR²), spiking statistics
//! (firing rate per layer, SOPs, estimated energy) and the learned fusion weight `r`.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use gshn_snn::stats::{EnergyModel, LayerStats};
use serde::{Deserialize, Serialize};

use crate::batch::GshnBatcher;
use crate::cli::run_error::{DataError, RunError};
use crate::dataset::Dataset;
use crate::energy::{image_ops, snn_ops, text_ops, total_memory_pj, total_pj, twin_of, LayerOps, Measured, MEM_ACCESS_PJ};
use crate::model::{Branches, Gshn};
use crate::task::{EvalBatch, Scorer, TaskScores, TASKS};

pub use crate::task::retrieval::caption_truth;
pub use crate::task::vqa::{vqa_baselines, VqaBaselines, VqaMetrics};

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
    /// Every task's results: retrieval, claim-aware retrieval, hard negatives, VQA and its
    /// baselines, visual entailment, NLVR² (flattened: `eval.json` keeps its fields).
    #[serde(flatten)]
    pub tasks: TaskScores,
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

    /// The validation metrics the metrics log records, by their column keys: each task's
    /// ([`crate::task::Task::validation`]).
    pub fn validation(&self) -> Vec<(&'static str, f64)> {
        TASKS.iter().flat_map(|t| t.validation(&self.tasks)).collect()
    }

    /// A task's test metric by its name ([`crate::task::Task::metrics`]); `None` where the
    /// split does not carry the task or the name is not a task's.
    pub fn task_metric(&self, name: &str) -> Option<f64> {
        TASKS.iter().find_map(|t| t.metric(&self.tasks, name))
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
        for t in TASKS {
            s += &t.markdown(&self.tasks);
        }
        s += "| metric | value | baseline |\n|---|---|---|\n";
        for l in &self.layers {
            s += &format!("| firing rate {} | {:.3} | |\n", l.name, l.firing_rate());
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
        self.tasks.first_scored().map_or("caption", |t| t.text_unit())
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
    let mut layers: Vec<LayerStats> = Vec::new();
    let mut input_spikes = 0.0;
    // Nonzero outputs of each layer of a ReLU twin's branch (empty for a spiking model).
    let twin_model = model.config.snn.activation == crate::model::config::Activation::Relu;
    let mut nonzero: Vec<f64> = Vec::new();
    // A task is scored where the data carries it and the model learns it (its loss weight
    // is > 0): an untrained head's numbers would read as results.
    let mut scorers: Vec<Box<dyn Scorer + '_>> = TASKS.iter().filter_map(|t| t.scorer(&model, data)).collect();
    let d = model.config.d_model;
    let spiking_input = matches!(model.config.snn.encoding, crate::model::config::Encoding::Rate | crate::model::config::Encoding::Latency);
    for start in (0..n).step_by(batch_size.max(1)) {
        let idx: Vec<usize> = (start..(start + batch_size).min(n)).collect();
        let batch = batcher.images(&data.refs(&idx), device)?;
        let out = model.encode_images(&batch)?;
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
        let scoring = EvalBatch { model: &model, data, range: start..start + idx.len(), images: &batch, out: &out, batcher, device };
        for scorer in &mut scorers {
            scorer.batch(&scoring)?;
        }
    }
    let mut tasks = TaskScores::default();
    for scorer in scorers {
        scorer.finish(train, &mut tasks)?;
    }
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
    let snn_layers: Vec<LayerOps> = if cfg.fusion.branches.snn() { snn_ops(cfg, &measured) } else { vec![] };
    // The twin beside a spiking model was not run (`nonzero` is empty): counted dense, an upper
    // bound. A twin model's own counts skip its measured zero outputs.
    let twin_layers: Vec<LayerOps> = if cfg.fusion.branches.snn() { snn_ops(&twin, &measured) } else { vec![] };
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
    let caption_len = tasks.first_scored().map_or(0.0, |t| text_len(&mut t.texts(data).into_iter()));
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
        tasks,
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
