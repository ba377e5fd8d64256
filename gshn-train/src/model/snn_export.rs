//! The spiking branch as a deployable per-node network, for NIR export (`gshn snn export`).
//!
//! One branch layer is `S = LIF(norm(mean_{j ∈ N(i) ∪ {i}} x_j W))`. NIR holds feed-forward
//! graphs of fixed shape, so two parts of it do not carry over as they are:
//!
//! * the mean over a per-image segment graph, whose shape changes with every image. The export
//!   is the branch **per node** — each node its own neighbourhood, which is exactly the branch
//!   on a graph without edges (`N(i) = ∅`);
//! * LayerNorm, which rescales each step's current by statistics across features — not an
//!   affine map, and not a NIR node. The learned gain (`norm = "gain"`) and threshold-dependent
//!   BatchNorm at evaluation (running statistics) are per-channel affine maps, and fold into
//!   the layer's synapses: `W' = W·diag(s)`, `b' = b·s + c`. With LayerNorm the export is
//!   refused, naming the setting to train with instead.
//!
//! The readout `E_SNN = W_o·mean_t(S_L[t]) + b_o` is linear, so `W_o` runs per step and the
//! network's output, averaged over T, is `E_SNN` (`mean_t(W_o·S[t] + b_o)` equals it).
//! The encoding runs outside: direct coding feeds the node's token at every step; rate and
//! latency coding feed the encoder's spikes.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::Tensor;
use gshn_snn::network::{SpikingNetwork, Stage};

use super::config::{Encoding, Readout};
use super::spiking_graph::{SnnBranch, SpikingGraphConv};

/// Why a branch has no per-node NIR form.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SnnExportError {
    /// A setting of `model.snn` the export cannot express.
    #[error("model.snn.{field} = {value}: {why}")]
    Setting {
        /// The config field.
        field: &'static str,
        /// Its value.
        value: String,
        /// Why, and what to train with instead.
        why: &'static str,
    },
    /// The model has no spiking branch (`model.fusion.branches = "gat-only"` or `"tokens-only"`).
    #[error("the model has no spiking branch (model.fusion.branches = \"gat-only\" or \"tokens-only\")")]
    NoBranch,
    /// Building the network failed.
    #[error("{0}")]
    Snn(#[from] gshn_snn::SnnError),
}

/// The branch per node: for each layer its synapses (the norm folded in) and neurons, then the
/// readout's synapses; input `[T, N, d_model]` (the encoded tokens), output `[T, N, d_model]`
/// whose mean over T is `E_SNN`. Notes say what the caller should know.
pub fn per_node_network(branch: &SnnBranch) -> Result<(SpikingNetwork, Vec<String>), SnnExportError> {
    let setting = |field, value: String, why| SnnExportError::Setting { field, value, why };
    if branch.readout_kind != Readout::Rate {
        return Err(setting(
            "readout",
            format!("{:?}", branch.readout_kind),
            "only the firing-rate readout is a linear map of the spikes (train with readout = \"rate\")",
        ));
    }
    if branch.encoding == Encoding::Learned {
        return Err(setting(
            "encoding",
            "\"learned\"".into(),
            "the learned encoding scales each step differently, which a static NIR graph cannot (train with direct, rate or latency coding)",
        ));
    }
    let mut stages = Vec::new();
    let mut notes = Vec::new();
    for (i, layer) in branch.layers.iter().enumerate() {
        if layer.relu {
            return Err(setting("activation", "\"relu\"".into(), "the non-spiking twin has no spiking neurons to export"));
        }
        if layer.norm.is_some() {
            return Err(setting(
                "norm",
                "\"layer-norm\"".into(),
                "LayerNorm rescales each step's current by statistics across features, which NIR cannot express (train with norm = \"gain\", \"threshold-bn\" or \"none\" for a deployable branch)",
            ));
        }
        let linear = fold_norm(layer);
        if layer.gain.is_some() || layer.bn.is_some() {
            notes.push(format!(
                "layer {i}: the {} is folded into the synapses (W·diag(s), b·s + c)",
                if layer.gain.is_some() { "learned gain" } else { "threshold-BN's running statistics" }
            ));
        }
        stages.push(Stage::Linear(linear));
        stages.push(Stage::Neuron(layer.neuron.clone()));
    }
    stages.push(Stage::Linear(branch.readout.clone()));
    let d_model = branch.readout.weight.dims()[1];
    notes.push(format!("input: the encoded tokens [T, N, {d_model}] ({}); output: average it over T for E_SNN", encoding_note(branch.encoding)));
    notes.push("graph aggregation is left out: each node is its own neighbourhood (the branch on a graph without edges)".into());
    Ok((SpikingNetwork::new(d_model, stages)?, notes))
}

fn encoding_note(e: Encoding) -> &'static str {
    match e {
        Encoding::Direct => "direct coding: the token itself at every step",
        Encoding::Rate => "rate coding: Bernoulli spikes with probability σ(token)",
        Encoding::Latency => "latency coding: one spike at step ⌊(1 − σ(token))·T⌋",
        Encoding::Learned => "learned",
    }
}

/// The layer's synapses with its per-channel affine norm folded in: `y = (xW + b)·s + c`
/// becomes `x(W·diag(s)) + (b·s + c)`.
fn fold_norm(layer: &SpikingGraphConv) -> Linear {
    let (scale, shift): (Tensor<1>, Tensor<1>) = if let Some(g) = &layer.gain {
        let g = g.val();
        let d = g.dims()[1];
        (g.clone().narrow(0, 0, 1).reshape([d]), g.narrow(0, 1, 1).reshape([d]))
    } else if let Some(bn) = &layer.bn {
        // Evaluation: y = γ·V_th·(x − μ)/√(σ² + ε) + β (ThresholdBn::forward, ε = 1e-5).
        let s = bn.gamma.val().mul_scalar(bn.threshold).div(bn.running_var.value().add_scalar(1e-5).sqrt());
        let c = bn.beta.val().sub(bn.running_mean.value().mul(s.clone()));
        (s, c)
    } else {
        return layer.linear.clone();
    };
    let [d_in, d_out] = layer.linear.weight.dims();
    let w = layer.linear.weight.val().mul(scale.clone().reshape([1, d_out]));
    let b = match &layer.linear.bias {
        Some(b) => b.val().mul(scale).add(shift),
        None => shift,
    };
    debug_assert_eq!(w.dims(), [d_in, d_out]);
    Linear { weight: Param::from_tensor(w.detach()), bias: Some(Param::from_tensor(b.detach())) }
}
