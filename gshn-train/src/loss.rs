//! Contrastive losses: CLIP's symmetric InfoNCE with a learnable logit scale, the same
//! objective between the two views of each segment (node-level), and Spiked Text Learning's
//! FILIP-style word–segment alignment.

use burn::module::{Module, Param};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Bool, Device, Int, Tensor};
use serde::{Deserialize, Serialize};

/// The loss terms of one batch and their weighted total: each task's terms under their names
/// (`clip`, `stl`, `vqa`, `entailment` and `entailment_probe`, `nlvr` and `nlvr_probes`;
/// [`crate::task::Task::add_losses`]) and the model's own (`node`).
#[derive(Debug, Clone)]
pub struct Losses {
    /// `Σ weight · term` over the computed terms, `[1]`, summed in the order they were added.
    pub total: Tensor<1>,
    /// Every computed term `[1]` by name, in the order added (a term not computed is absent).
    pub terms: Vec<(&'static str, Tensor<1>)>,
}

impl Losses {
    /// No term yet: a zero total.
    pub fn new(device: &Device) -> Self {
        Self { total: Tensor::zeros([1], device), terms: Vec::new() }
    }

    /// Whether no term was computed (nothing to learn from the batch).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Adds the term `name` with `weight` to the total. A probe (a baseline trained beside
    /// the model on detached features) is added like any term: its gradient reaches only
    /// the probe.
    pub fn add(&mut self, name: &'static str, term: Tensor<1>, weight: f64) {
        self.total = self.total.clone().add(term.clone().mul_scalar(weight));
        self.terms.push((name, term));
    }

    /// The term `name`, if it was computed.
    pub fn get(&self, name: &str) -> Option<&Tensor<1>> {
        self.terms.iter().find(|(n, _)| *n == name).map(|(_, t)| t)
    }

    /// `[total, names…]` as one detached tensor `[1 + names.len()]` (0 for a term not
    /// computed), to be read back from the device only when needed.
    pub fn stacked(&self, names: &[&str]) -> Tensor<1> {
        let device = self.total.device();
        let part = |name: &&str| self.get(name).map_or_else(|| Tensor::zeros([1], &device), |t| t.clone().detach());
        Tensor::cat(std::iter::once(self.total.clone().detach()).chain(names.iter().map(part)).collect(), 0)
    }
}

/// CLIP's initial temperature: `logit_scale = ln(1/0.07)`.
pub const LOGIT_SCALE_INIT: f64 = 2.659_260_036_932_779; // ln(1 / 0.07)
/// CLIP's ceiling on the logit scale: `ln 100`.
pub const LOGIT_SCALE_MAX: f64 = 4.605_170_185_988_092; // ln 100

/// A learnable logit scale (Radford et al. 2021; open_clip): stored as `ln s`, initialised to
/// `ln(1/0.07)`, and clamped to `[0, ln 100]` where it is used (open_clip clamps the
/// parameter after each step; within the range both are the same). Kept in f32.
#[derive(Module, Debug)]
pub struct LogitScale {
    /// `ln s`, shape `[1]`.
    pub log_scale: Param<Tensor<1>>,
}

impl LogitScale {
    /// A logit scale starting at `ln_init` (use [`LOGIT_SCALE_INIT`]).
    pub fn new(ln_init: f64, device: &Device) -> Self {
        Self { log_scale: Param::from_tensor(Tensor::from_floats([ln_init as f32], device)) }
    }

    /// `s = exp(clamp(ln s, 0, ln 100))`, shape `[1]`.
    pub fn scale(&self) -> Tensor<1> {
        self.log_scale.val().clamp(0.0, LOGIT_SCALE_MAX).exp()
    }

    /// The current value of `s`.
    pub fn value(&self) -> f64 {
        let v: f32 = self.scale().into_scalar();
        v as f64
    }
}

/// Rows scaled to unit L2 norm, `x / max(‖x‖, 1e-12)` (PyTorch's `F.normalize`), computed
/// as `x / sqrt(max(Σx², 1e-24))` so that an all-zero row (a word whose spiking neurons stay
/// silent) gets a zero gradient: `sqrt` at 0 has an infinite derivative, and `‖x‖ + ε` gave
/// `0 · ∞ = NaN` there.
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powf_scalar(2.0).sum_dim(1).clamp_min(1e-24).sqrt();
    x.div(norm)
}

/// Mean cross-entropy of `logits` `[N, C]` against class `targets` `[N]`.
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [n, _] = logits.dims();
    let picked = log_softmax(logits, 1).gather(1, targets.reshape([n, 1]));
    picked.mean().neg()
}

/// Symmetric InfoNCE on a similarity matrix `logits` `[N, N]` whose diagonal holds the
/// positive pairs: `(CE(logits, arange) + CE(logitsᵀ, arange)) / 2` — open_clip's `ClipLoss`.
pub fn symmetric_infonce(logits: Tensor<2>) -> Tensor<1> {
    let [n, m] = logits.dims();
    assert_eq!(n, m, "InfoNCE needs a square similarity matrix");
    let targets = Tensor::<1, Int>::arange(0..n as i64, &logits.device());
    cross_entropy(logits.clone(), targets.clone()).add(cross_entropy(logits.transpose(), targets)).div_scalar(2.0)
}

/// [`symmetric_infonce`] over the rows and columns marked `valid` `[N]` only: invalid
/// columns are left out of every softmax and invalid rows out of the mean (padding rows of a
/// padded batch).
pub fn masked_symmetric_infonce(logits: Tensor<2>, valid: Tensor<1, Bool>) -> Tensor<1> {
    let [n, _] = logits.dims();
    let keep = valid.clone().float();
    let count = keep.clone().sum().clamp_min(1.0);
    let one_way = |l: Tensor<2>| {
        let masked = l.mask_fill(valid.clone().reshape([1, n]).expand([n, n]).bool_not(), -1e9);
        let diag: Tensor<1> = log_softmax(masked, 1).mul(Tensor::<2>::eye(n, &keep.device())).sum_dim(1).reshape([n]);
        diag.mul(keep.clone()).sum().div(count.clone()).neg()
    };
    one_way(logits.clone()).add(one_way(logits.transpose())).div_scalar(2.0)
}

/// CLIP's loss for unit-norm image and text features `[N, D]` (row `i` of each is a pair):
/// `logits = s · image · textᵀ`, then [`contrast`] — [`symmetric_infonce`], with the
/// off-diagonal (image, caption) pairs marked in `exclude` `[N, N]` left out (in-batch false
/// negatives). The model's CLIP term.
pub fn clip_loss(image: Tensor<2>, text: Tensor<2>, scale: Tensor<1>, exclude: Option<Tensor<2, Bool>>) -> Tensor<1> {
    let logits = image.matmul(text.transpose()).mul(scale.unsqueeze_dim(0));
    contrast(logits, exclude)
}

/// Symmetric InfoNCE over `logits` `[N, N]` (the diagonal the positives), with the
/// off-diagonal pairs marked in `exclude` `[N, N]` left out of both softmaxes (in-batch false
/// negatives).
pub fn contrast(logits: Tensor<2>, exclude: Option<Tensor<2, Bool>>) -> Tensor<1> {
    match exclude {
        None => symmetric_infonce(logits),
        Some(x) => {
            let [n, _] = logits.dims();
            let off_diagonal = Tensor::<2>::eye(n, &logits.device()).equal_elem(0.0);
            symmetric_infonce(logits.mask_fill(x.bool_and(off_diagonal), -1e9))
        }
    }
}

/// FILIP-style late interaction (Yao et al. 2022), the Spiked Text Learning similarity:
/// for words `[B_t, K, D]` (mask `[B_t, K]`) and segments `[B_i, J, D]` (mask `[B_i, J]`),
/// `sim[t, i] = mean over t's words k of max over i's segments j of ⟨w_tk, s_ij⟩`.
/// Returns `[B_t, B_i]`.
pub fn token_segment_similarity(words: Tensor<3>, word_mask: Tensor<2, Bool>, segments: Tensor<3>, segment_mask: Tensor<2, Bool>) -> Tensor<2> {
    let [bt, k, d] = words.dims();
    let [bi, j, _] = segments.dims();
    let dots: Tensor<4> = words.reshape([bt * k, d]).matmul(segments.reshape([bi * j, d]).transpose()).reshape([bt, k, bi, j]);
    let seg_pad = segment_mask.bool_not().reshape([1, 1, bi, j]).expand([bt, k, bi, j]);
    let best: Tensor<3> = dots.mask_fill(seg_pad, -1e9).max_dim(3).reshape([bt, k, bi]);
    let wm = word_mask.float().reshape([bt, k, 1]);
    let summed: Tensor<2> = best.mul(wm.clone()).sum_dim(1).reshape([bt, bi]);
    let count: Tensor<2> = wm.sum_dim(1).reshape([bt, 1]).clamp_min(1.0);
    summed.div(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn constants_are_clips() {
        assert!((LOGIT_SCALE_INIT - (1.0f64 / 0.07).ln()).abs() < 1e-12);
        assert!((LOGIT_SCALE_MAX - 100f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn token_segment_similarity_by_hand() {
        let d = Device::flex();
        // One caption with words (1,0) and (0,1); image 0 has segments (1,0), (0,2);
        // image 1 has (0,1) and a padded segment (5,5) that must be ignored.
        let words = Tensor::<3>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0], [1, 2, 2]), &d);
        let wmask = Tensor::<2, Bool>::from_data(TensorData::new(vec![true, true], [1, 2]), &d);
        let segs = Tensor::<3>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0, 2.0, 0.0, 1.0, 5.0, 5.0], [2, 2, 2]), &d);
        let smask = Tensor::<2, Bool>::from_data(TensorData::new(vec![true, true, true, false], [2, 2]), &d);
        let sim = token_segment_similarity(words, wmask, segs, smask).to_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        // image 0: word 1 → max(1, 0) = 1, word 2 → max(0, 2) = 2 → 1.5; image 1: (0 + 1)/2.
        assert_eq!(sim, vec![1.5, 0.5]);
    }

    #[test]
    fn l2_normalize_has_a_finite_gradient_at_a_zero_row() {
        let d = Device::flex().autodiff();
        // Row 0 is all zero (a silent spiked word); row 1 is (3, 4).
        let x = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 0.0, 3.0, 4.0], [2, 2]), &d).require_grad();
        let y = l2_normalize(x.clone());
        let v = y.to_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        assert_eq!(v, vec![0.0, 0.0, 0.6, 0.8]);
        // d/dx of Σ w·(x/‖x‖) with w = (1, 2): at (3, 4), u = (0.6, 0.8), w·u = 2.2,
        // (w − (w·u)u)/‖x‖ = (−0.32, 0.24)/5 = (−0.064, 0.048).
        let w = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0, 1.0, 2.0], [2, 2]), &d);
        let grads = y.mul(w).sum().backward();
        let g = x.grad(&grads).unwrap().to_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
        assert!((g[2] + 0.064).abs() < 1e-5 && (g[3] - 0.048).abs() < 1e-5, "{g:?}");
        // A zero row passes the gradient through scaled by 1/ε, as F.normalize does (large but
        // finite; training clips gradient norms).
        assert!((g[0] / 1e12 - 1.0).abs() < 1e-5 && (g[1] / 2e12 - 1.0).abs() < 1e-5, "{g:?}");
    }
}

/// Weights of the loss terms; a term with weight 0 is not computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossConfig {
    /// CLIP's symmetric InfoNCE between images and captions. Default 1.
    pub clip: f64,
    /// Spiked Text Learning (word–segment InfoNCE); the runner's pre-training stage uses it
    /// alone. Default 0 in the main stage.
    pub stl: f64,
    /// VQA cross-entropy. Default 0.5.
    pub vqa: f64,
    /// Visual-entailment cross-entropy (and its hypothesis-only probe's, which trains only
    /// the probe); > 0 builds the entailment head. Default 0.
    pub entailment: f64,
    /// NLVR² cross-entropy (and its text-only and single-image probes', which train only the
    /// probes); > 0 builds the NLVR head. Default 0.
    pub nlvr: f64,
    /// Node-level InfoNCE between the `E_SNN` and `F_GAT` views of each segment (hybrid
    /// only). Default 0.
    pub node: f64,
    /// Temperature of the node-level InfoNCE. Default 0.1.
    pub node_temperature: f64,
    /// Most node rows per batch in the node-level InfoNCE (its cost grows with their square).
    /// Default 512.
    pub node_max: usize,
    /// Which Spiked Text Learning objective. Default `word-segment`.
    pub stl_mode: StlMode,
    /// Leave out of the contrastive loss every in-batch pair whose caption is also true of
    /// the other image (where the data can tell: ShapeWorld's claims). Default false.
    pub mask_false_negatives: bool,
}

/// Readings of "Spiked Text Learning" (the paper gives only its outline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum StlMode {
    /// Each caption word's feature against each image's spiking segment features, max over
    /// segments, mean over words (FILIP-style), symmetric InfoNCE. Default.
    #[default]
    WordSegment,
    /// The caption's sentence feature against the mean of the image's spiking segment
    /// features, symmetric InfoNCE.
    Sentence,
    /// The caption's word features passed through spiking neurons (the branch's neuron, T
    /// steps, rate), then word–segment as above: text features made discrete.
    SpikedWords,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            clip: 1.0,
            stl: 0.0,
            vqa: 0.5,
            entailment: 0.0,
            nlvr: 0.0,
            node: 0.0,
            node_temperature: 0.1,
            node_max: 512,
            stl_mode: StlMode::WordSegment,
            mask_false_negatives: false,
        }
    }
}

impl LossConfig {
    /// The Spiked Text Learning stage's weights: STL alone, keeping this config's STL reading
    /// (`stl_mode`) and false-negative masking. Every field is named (no `..self`), so that a
    /// new task's weight cannot stay on in the STL stage unnoticed.
    pub fn stl_only(&self) -> Self {
        Self {
            clip: 0.0,
            stl: 1.0,
            vqa: 0.0,
            entailment: 0.0,
            nlvr: 0.0,
            node: 0.0,
            node_temperature: self.node_temperature,
            node_max: self.node_max,
            stl_mode: self.stl_mode,
            mask_false_negatives: self.mask_false_negatives,
        }
    }
}
