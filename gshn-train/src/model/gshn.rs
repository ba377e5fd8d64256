//! The Graph Spiking Hybrid Network with its text encoder, joint space and losses.
//!
//! ```text
//! F        = CNN(I)  or  EfficientNet-Lite0(I)            [B, C, H/s, W/s]
//! V_k      = W_v · Σ_cells resize(mask_k) · F + W_g · geometry_k      masked mean per segment
//! F_GAT    = GAT_L(ELU(… GAT_1(V)))                       L layers × H heads, concatenated
//! E_SNN    = W_o · rate(SGC_L(… SGC_1(repeat_T(V))))      spiking graph layers, LIF, T steps
//! V'       = r · E_SNN + F_GAT                            r learned (the paper's fusion)
//! image    = normalise(P_i · mean_k V'_k),  text = normalise(P_t · TextEncoder(words))
//! ```
//!
//! The backbone and the text encoder are trained from scratch or pretrained
//! (EfficientNet-Lite0, MiniLM-L6), frozen or fine-tuned, per [`GshnConfig`]; a frozen
//! backbone's feature maps can be computed once ([`Gshn::attach_features`]).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Bool, Device, Int, Tensor};

use super::backbone::ImageBackbone;
use super::config::{Branches, GshnConfig};
use super::feature_cache::{CacheStats, FeatureCache};
use super::fusion::Fusion;
use super::gat_branch::GatBranch;
use super::minilm::{MiniLm, MiniLmConfig};
use super::spiking_graph::SnnBranch;
use super::text::{TextEncoderConfig, TextModel};
use super::tokens::GEOMETRY;
use super::vqa::{VqaHead, VqaHeadConfig, VqaOutput};
use crate::batch::{GshnBatch, ImageBatch, PairBatch, QuestionBatch, TextBatch, SPARE_ROWS};
use crate::dataset::{Dataset, Prepared};
use crate::error::{bad_input, invalid, Result};
use crate::loss::{l2_normalize, masked_symmetric_infonce, token_segment_similarity, LogitScale, Losses, LOGIT_SCALE_INIT};
use crate::model::config::{LossConfig, StlMode};
use crate::task::entailment::{EntailmentHead, EntailmentHeadConfig, EntailmentOutput};
use crate::task::nlvr::{NlvrHead, NlvrHeadConfig, NlvrOutput, PairSide};
use crate::task::{NODE_COLUMN, TASKS};

/// What the image encoder produced. Node rows are in the batch's padded layout (`B·M` rows,
/// row `b·M + k` node `k` of image `b`); [`ImageBatch::real_rows`] selects the real ones.
#[derive(Debug, Clone)]
pub struct ImageOutput {
    /// Unit-norm image embeddings `[B, embed_dim]`.
    pub embedding: Tensor<2>,
    /// Fused node features `V'` `[B·M, d_model]`.
    pub nodes: Tensor<2>,
    /// Spiking node features `E_SNN` `[B·M, d_model]` (when the SNN branch runs).
    pub snn_nodes: Option<Tensor<2>>,
    /// Graph-attention node features `F_GAT` `[B·M, d_model]` (when the GAT branch runs).
    pub gat_nodes: Option<Tensor<2>>,
    /// The visual tokens `V` `[B·M, d_model]` (the branches' input).
    pub tokens: Tensor<2>,
    /// Spikes of each spiking graph layer, `[T, B·M, d_model]` each.
    pub spikes: Vec<Tensor<3>>,
    /// The spiking branch's encoded input `[T, B·M, d_model]` (when it runs).
    pub snn_input: Option<Tensor<3>>,
}

/// The Graph Spiking Hybrid Network with its text encoder and joint space.
#[derive(Module, Debug)]
pub struct Gshn {
    /// The image backbone.
    pub backbone: ImageBackbone,
    /// Segment feature → node width.
    pub node_in: Linear,
    /// Geometry embedding (box, centroid, area).
    pub geometry: Option<Linear>,
    /// The graph attention branch (absent for `snn-only` and `tokens-only`).
    pub gat: Option<GatBranch>,
    /// The spiking branch (absent for `gat-only` and `tokens-only`).
    pub snn: Option<SnnBranch>,
    /// The fusion weight `r`.
    pub fusion: Fusion,
    /// Image projection into the joint space.
    pub image_proj: Linear,
    /// The text encoder.
    pub text: TextModel,
    /// Text projection into the joint space.
    pub text_proj: Linear,
    /// CLIP's learnable logit scale.
    pub logit_scale: LogitScale,
    /// The VQA head.
    pub vqa: VqaHead,
    /// Spiked Text Learning: word features → joint space.
    pub stl_words: Linear,
    /// Spiked Text Learning: spiking segment features → joint space.
    pub stl_segments: Linear,
    /// Spiked Text Learning (`spiked-words`): the neurons the projected words pass through.
    pub stl_neuron: Option<gshn_snn::Neuron>,
    /// Node-level InfoNCE: projection of the `E_SNN` view.
    pub node_snn: Linear,
    /// Node-level InfoNCE: projection of the `F_GAT` view.
    pub node_gat: Linear,
    /// The visual-entailment head (built when `loss.entailment > 0`).
    pub entailment: Option<EntailmentHead>,
    /// The NLVR² head (built when `loss.nlvr > 0`).
    pub nlvr: Option<NlvrHead>,
    /// The configuration the model was built from (loss weights, shapes).
    #[module(skip)]
    pub config: GshnConfig,
}

impl GshnConfig {
    /// Validates the config and builds the model (set the vocabulary size and the number of
    /// answers first: [`with_vocab_size`](Self::with_vocab_size),
    /// [`with_answers`](Self::with_answers)). Pretrained encoders get their weights from their
    /// folders (checked against their SHA-256; an error names the command that fetches them).
    pub fn init(&self, device: &Device) -> Result<Gshn> {
        self.build(device, true)
    }

    /// [`init`](Self::init) without reading any weight file: pretrained encoders start random
    /// (frozen as configured), for a checkpoint to fill.
    pub fn init_untrained(&self, device: &Device) -> Result<Gshn> {
        self.build(device, false)
    }

    fn build(&self, device: &Device, load: bool) -> Result<Gshn> {
        self.validate()?;
        if self.vocab_size <= 2 && self.text.encoder.minilm().is_none() {
            return Err(invalid(
                "vocab_size",
                format!("{} words: set the data's vocabulary size with with_vocab_size (at least 3 with <pad> and <unk>)", self.vocab_size),
            ));
        }
        if self.answers == 0 {
            return Err(invalid("answers", "the VQA head needs at least one answer"));
        }
        let d = self.d_model;
        let w = self.text.feature_width();
        let lin = |i, o| LinearConfig::new(i, o).init(device);
        let branches = self.fusion.branches;
        Ok(Gshn {
            backbone: ImageBackbone::new(&self.tokens, load, device)?,
            node_in: lin(self.tokens.feature_channels(), d),
            geometry: self.tokens.geometry.then(|| lin(GEOMETRY, d)),
            gat: branches.gat().then(|| self.gat.init(d, device)).transpose()?,
            snn: branches.snn().then(|| self.snn.init(d, device)).transpose()?,
            fusion: self.fusion.init(d, device),
            image_proj: lin(d, self.embed_dim),
            text: match self.text.encoder.minilm() {
                None => TextModel::Scratch(TextEncoderConfig::from_text(&self.text, self.vocab_size).init(device)),
                Some(m) => {
                    let net = if load { MiniLm::load(&m.weights, device)? } else { MiniLmConfig::new().init(device) };
                    TextModel::MiniLm(if m.frozen { net.freeze() } else { net })
                }
            },
            text_proj: lin(w, self.embed_dim),
            logit_scale: LogitScale::new(LOGIT_SCALE_INIT, device),
            vqa: VqaHeadConfig::new(d, w, self.answers).init(device),
            stl_words: lin(w, self.embed_dim),
            stl_segments: lin(d, self.embed_dim),
            stl_neuron: (self.loss.stl_mode == StlMode::SpikedWords).then(|| self.snn.neuron.init(device)).transpose()?,
            node_snn: lin(d, d),
            node_gat: lin(d, d),
            entailment: (self.loss.entailment > 0.0).then(|| EntailmentHeadConfig::new(d, w).init(device)),
            nlvr: (self.loss.nlvr > 0.0).then(|| NlvrHeadConfig::new(d, w).init(device)),
            config: self.clone(),
        })
    }
}

impl Gshn {
    /// Visual tokens `V` `[B, M, d_model]` in the padded layout: the feature map averaged
    /// under each segment's resized mask (one batched product `[B, M, cells] · [B, cells, C]`),
    /// plus the geometry embedding.
    pub fn tokens(&self, batch: &ImageBatch) -> Result<Tensor<3>> {
        // A frozen backbone's feature maps may come with the batch (computed once).
        let f = match (&batch.features, self.backbone.frozen()) {
            (Some(f), true) => f.clone(),
            _ => self.backbone.forward(batch.pixels.clone()), // [B, C, h, w]
        };
        let [b, c, h, w] = f.dims();
        let [_, _, k] = batch.masks.dims();
        if k != h * w {
            return Err(bad_input(format!(
                "masks were made for a {k}-cell feature map, the backbone gives {} cells ({h}×{w}); prepare the examples with this model's tokens.stride",
                h * w
            )));
        }
        let cells: Tensor<3> = f.reshape([b, c, h * w]).swap_dims(1, 2); // [B, cells, C]
        let v = self.node_in.forward(batch.masks.clone().matmul(cells));
        Ok(match &self.geometry {
            Some(g) => v.add(g.forward(batch.geometry.clone())),
            None => v,
        })
    }

    /// Encodes a batch of images.
    pub fn encode_images(&self, batch: &ImageBatch) -> Result<ImageOutput> {
        let v3 = self.tokens(batch)?;
        let [b, m, d] = v3.dims();
        let v = v3.clone().reshape([b * m, d]);
        let gat_nodes = match &self.gat {
            Some(gat) => Some(gat.forward(v3, batch)?),
            None => None,
        };
        let (snn_nodes, spikes, snn_input) = match &self.snn {
            Some(snn) => {
                // The spiking branch aggregates over the edge list of the padded rows and the
                // spare rows, then keeps the node rows.
                let rows = Tensor::cat(vec![v.clone(), Tensor::zeros([SPARE_ROWS, d], &v.device())], 0);
                let out = snn.forward(rows, &batch.folded, batch.row_weight.clone())?;
                let keep = |s: Tensor<3>| s.narrow(1, 0, b * m);
                (Some(out.nodes.narrow(0, 0, b * m)), out.spikes.into_iter().map(keep).collect::<Vec<_>>(), Some(keep(out.input)))
            }
            None => (None, vec![], None),
        };
        let nodes = self.fusion.forward(snn_nodes.clone(), gat_nodes.clone(), v.clone());
        let mean: Tensor<2> = nodes.clone().reshape([b, m, d]).mul(batch.weights.clone()).sum_dim(1).reshape([b, d]);
        Ok(ImageOutput { embedding: l2_normalize(self.image_proj.forward(mean)), nodes, snn_nodes, gat_nodes, tokens: v, spikes, snn_input })
    }

    /// Per-token features `[B, L, text_width]` and unit-norm sentence embeddings
    /// `[B, embed_dim]` of a text batch.
    pub fn encode_text_tokens(&self, text: &TextBatch) -> (Tensor<3>, Tensor<2>) {
        let (words, sentence) = self.text_features(text);
        (words, l2_normalize(self.text_proj.forward(sentence)))
    }

    /// The text encoder's token features `[B, L, width]` and sentence features `[B, width]`:
    /// a frozen MiniLM's from the batch when the batcher attached them, else computed.
    pub fn text_features(&self, text: &TextBatch) -> (Tensor<3>, Tensor<2>) {
        let frozen = self.config.text.encoder.minilm().is_some_and(|m| m.frozen);
        match (&text.frozen, frozen) {
            (Some((words, sentence)), true) => (words.clone(), sentence.clone()),
            _ => self.text.forward(text.ids.clone(), text.pad.clone()),
        }
    }

    /// Unit-norm text embeddings `[B, embed_dim]`.
    pub fn encode_text(&self, text: &TextBatch) -> Tensor<2> {
        self.encode_text_tokens(text).1
    }

    /// VQA: answers `questions` about the images of `batch`, attending over the fused nodes
    /// of `out`.
    pub fn answer(&self, batch: &ImageBatch, out: &ImageOutput, questions: &QuestionBatch) -> VqaOutput {
        let (_, sentence) = self.text_features(&questions.text);
        let (dense, mask) = self.node_rows(batch, out, &questions.image);
        self.vqa.forward(sentence, dense, mask)
    }

    /// Visual entailment: classifies `hypotheses` about the images of `batch` (their labels in
    /// `answers`) from the fused nodes of `out`; `None` without an entailment head.
    pub fn entail(&self, batch: &ImageBatch, out: &ImageOutput, hypotheses: &QuestionBatch) -> Option<EntailmentOutput> {
        let head = self.entailment.as_ref()?;
        let (_, sentence) = self.text_features(&hypotheses.text);
        let (dense, mask) = self.node_rows(batch, out, &hypotheses.image);
        Some(head.forward(sentence, dense, mask))
    }

    /// NLVR²: classifies the statements of `pairs` about the images of `batch` (left, fused
    /// nodes in `out`) and their partners (right, encoded here); `None` without an NLVR head.
    pub fn judge_pairs(&self, batch: &ImageBatch, out: &ImageOutput, pairs: &PairBatch) -> Result<Option<NlvrOutput>> {
        let Some(head) = self.nlvr.as_ref() else { return Ok(None) };
        let right = self.encode_images(&pairs.right)?;
        let st = &pairs.statements;
        let (_, sentence) = self.text_features(&st.text);
        let side = |b: &ImageBatch, o: &ImageOutput| {
            let (nodes, mask) = self.node_rows(b, o, &st.image);
            PairSide { nodes, mask }
        };
        Ok(Some(head.forward(sentence, &side(batch, out), &side(&pairs.right, &right), pairs.swap.clone())))
    }

    /// The fused nodes of the images `rows` (batch rows, one per text) padded, `[R, M, d]`,
    /// and their mask `[R, M]` (true on real nodes): what a text-conditioned head attends over.
    fn node_rows(&self, batch: &ImageBatch, out: &ImageOutput, rows: &Tensor<1, Int>) -> (Tensor<3>, Tensor<2, Bool>) {
        let d = self.config.d_model;
        let dense = out.nodes.clone().reshape([batch.len(), batch.max_nodes, d]).select(0, rows.clone());
        let mask = batch.mask.clone().int().select(0, rows.clone()).equal_elem(1);
        (dense, mask)
    }

    /// Spiked Text Learning similarity `[B_t, B_i]` (scaled by the logit scale): each word of
    /// each caption against the spiking segment features `E_SNN` of each image, max over
    /// segments, mean over words (FILIP-style). With no spiking branch the fused nodes stand
    /// in. `words` `[B_t, L, text_width]`, `pad` true on padding.
    pub fn stl_logits(&self, batch: &ImageBatch, out: &ImageOutput, words: Tensor<3>, pad: Tensor<2, Bool>) -> Tensor<2> {
        let [bt, l, w] = words.dims();
        let e = self.config.embed_dim;
        let mut wf = self.stl_words.forward(words.reshape([bt * l, w]));
        let mut word_mask = pad.bool_not();
        if let Some(neuron) = &self.stl_neuron {
            // Spiked words: the projected word features through spiking neurons over T steps
            // (the same input each step), read out as firing rates.
            let t = self.config.snn.time_steps;
            let steps = wf.unsqueeze_dim::<3>(0).expand([t, bt * l, e]);
            wf = match gshn_snn::SpikingNeuron::forward(neuron, steps) {
                Ok(s) => s.mean_dim(0).reshape([bt * l, e]),
                Err(_) => unreachable!("the STL neuron runs on a [T, N, e] input"),
            };
            // A word whose neurons never fired has no direction: it leaves its caption's mean,
            // as padding does, instead of sending a gradient scaled by 1/ε (1e12) back through
            // `l2_normalize` at the zero vector.
            let fired = wf.clone().detach().abs().sum_dim(1).reshape([bt, l]).greater_elem(0.0);
            word_mask = word_mask.bool_and(fired);
        }
        let wf = l2_normalize(wf).reshape([bt, l, e]);
        let sf = self.stl_segment_features(batch, out);
        token_segment_similarity(wf, word_mask, sf, batch.mask.clone()).mul(self.logit_scale.scale().unsqueeze_dim(0))
    }

    /// The spiking segment features `E_SNN` (the fused nodes without a spiking branch)
    /// projected into the joint space, unit norm, `[B, M, embed_dim]`.
    fn stl_segment_features(&self, batch: &ImageBatch, out: &ImageOutput) -> Tensor<3> {
        let seg = out.snn_nodes.clone().unwrap_or_else(|| out.nodes.clone());
        l2_normalize(self.stl_segments.forward(seg)).reshape([batch.len(), batch.max_nodes, self.config.embed_dim])
    }

    /// Sentence-level STL similarity `[B_t, B_i]` (scaled): each caption's sentence feature
    /// against the mean of each image's spiking segment features.
    pub fn stl_sentence_logits(&self, batch: &ImageBatch, out: &ImageOutput, sentence: Tensor<2>) -> Tensor<2> {
        let e = self.config.embed_dim;
        let text = l2_normalize(self.stl_words.forward(sentence));
        let seg = self.stl_segment_features(batch, out);
        let image = l2_normalize(seg.mul(batch.weights.clone()).sum_dim(1).reshape([batch.len(), e]));
        text.matmul(image.transpose()).mul(self.logit_scale.scale().unsqueeze_dim(0))
    }

    /// Node-level InfoNCE between the `E_SNN` and `F_GAT` views of each segment (hybrid only):
    /// projected, unit-norm, `logits = e·fᵀ / temperature` over the batch's node rows (the
    /// first `max_rows` of the padded layout, padding masked out), symmetric cross-entropy
    /// with the same segment as the positive.
    pub fn node_infonce(&self, batch: &ImageBatch, out: &ImageOutput, temperature: f64, max_rows: usize) -> Option<Tensor<1>> {
        let (e, f) = (out.snn_nodes.clone()?, out.gat_nodes.clone()?);
        let n = e.dims()[0].min(max_rows);
        let e = l2_normalize(self.node_snn.forward(e.narrow(0, 0, n)));
        let f = l2_normalize(self.node_gat.forward(f.narrow(0, 0, n)));
        let real = batch.mask.clone().reshape([batch.rows()]).narrow(0, 0, n);
        Some(masked_symmetric_infonce(e.matmul(f.transpose()).div_scalar(temperature), real))
    }

    /// Every loss term of a batch with the config's weights (`config.loss`), and their
    /// weighted total.
    pub fn losses(&self, batch: &GshnBatch) -> Result<Losses> {
        self.losses_with(batch, &self.config.loss)
    }

    /// Every loss term with weights `w`: each task's in [`TASKS`] (retrieval's CLIP and
    /// Spiked Text Learning, VQA, visual entailment and its hypothesis-only probe, NLVR² and
    /// its two probes; [`crate::task::Task::add_losses`]), then node-level InfoNCE (needs both
    /// branches). A term with weight 0, or whose input the batch lacks, is not computed.
    pub fn losses_with(&self, batch: &GshnBatch, w: &LossConfig) -> Result<Losses> {
        let images = &batch.images;
        let out = self.encode_images(images)?;
        let mut losses = Losses::new(&images.pixels.device());
        for task in TASKS {
            task.add_losses(self, batch, &out, w, &mut losses)?;
        }
        if w.node > 0.0 {
            if let Some(n) = self.node_infonce(images, &out, w.node_temperature, w.node_max) {
                losses.add(NODE_COLUMN.key, n, w.node);
            }
        }
        Ok(losses)
    }

    /// With a frozen pretrained backbone, gives every example of `data` (and every pair's
    /// partner) its feature map —
    /// read from the on-disk cache in the config's `cache_dir` (when `cache` is on) or computed
    /// in batches of `batch` images and written there — so that batches carry them and the
    /// backbone does not run again. `None` (nothing done) for a trained backbone.
    pub fn attach_features(&self, data: &mut Dataset, batch: usize, device: &Device) -> Result<Option<CacheStats>> {
        self.attach_features_with_progress(data, batch, device, &|_, _| {})
    }

    /// [`Gshn::attach_features`], calling `progress(computed, to_compute)` after each batch the
    /// backbone runs on.
    pub fn attach_features_with_progress(
        &self,
        data: &mut Dataset,
        batch: usize,
        device: &Device,
        progress: &dyn Fn(usize, usize),
    ) -> Result<Option<CacheStats>> {
        let (Some(net), Some(choice)) = (self.backbone.frozen_pretrained(), self.config.tokens.backbone.efficientnet()) else {
            return Ok(None);
        };
        let cache = FeatureCache::new(net, choice.cache.then_some(choice.cache_dir.as_path()));
        let mut stats = cache.attach(net, &mut data.items, batch, device, progress)?;
        // The partners of image pairs (NLVR²) get theirs too.
        let had: Vec<bool> = data.items.iter().map(|p| p.partner.is_some()).collect();
        let mut partners: Vec<Prepared> = data.items.iter_mut().filter_map(|p| p.partner.take().map(|b| *b)).collect();
        if !partners.is_empty() {
            let more = cache.attach(net, &mut partners, batch, device, progress)?;
            stats.merge(more);
            let mut back = partners.into_iter();
            for (p, _) in data.items.iter_mut().zip(&had).filter(|(_, h)| **h) {
                p.partner = back.next().map(Box::new);
            }
        }
        Ok(Some(stats))
    }

    /// The learned time constant τ = 1/sigmoid(w) of each spiking graph layer whose neuron is
    /// PLIF, in layer order (empty for other neurons or without a spiking branch).
    pub fn plif_tau(&self) -> Vec<f64> {
        let layers = self.snn.as_ref().map_or(&[][..], |b| &b.layers[..]);
        layers
            .iter()
            .filter_map(|l| match &l.neuron {
                gshn_snn::neuron::Neuron::Plif(p) => Some(p.tau()),
                _ => None,
            })
            .collect()
    }

    /// The current fusion weight(s) `r`.
    pub fn r_values(&self) -> Vec<f32> {
        self.fusion.values()
    }

    /// Which branches run.
    pub fn branches(&self) -> Branches {
        self.config.fusion.branches
    }

    /// Spiking time steps.
    pub fn time_steps(&self) -> usize {
        self.config.snn.time_steps
    }
}
