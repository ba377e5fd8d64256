//! The spiking branch `E_SNN`: multi-step spiking graph layers
//! `S[t] = LIF( norm( mean_{j → i} (x_j[t] W) ) )` over a leading time axis — the linear map,
//! the aggregation and the norm run once over all T steps folded into the batch (`gshn-snn`'s
//! `fold_time`), or once in all when the input is the same at every step — and the branch that
//! stacks them:
//!
//! ```text
//! E_SNN = W_o · readout(SGC_L(… SGC_1(encode_T(V))))
//! ```
//!
//! with the encoding (direct, rate, latency, learned), the current's normalisation (LayerNorm,
//! threshold-dependent BatchNorm, a learned gain, none), the readout (firing rate, membrane,
//! first spike) and the nonlinearity (the neuron, or ReLU for the non-spiking twin) chosen by
//! [`SnnBranchConfig`].

use burn::config::Config;
use burn::module::{Module, Param, RunningState};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use gshn_graph::scatter::segment_sum;
use gshn_graph::EdgeList;
use gshn_snn::encoder::{latency_straight_through, learned_temporal, rate_straight_through};
use gshn_snn::layer::{first_spike_readout, fold_time, membrane_readout, rate_readout, unfold_time};
use gshn_snn::neuron::{Neuron, NeuronConfig, SpikingNeuron};
use serde::{Deserialize, Serialize};

/// Configuration of a [`SpikingGraphConv`].
#[derive(Config, Debug)]
pub struct SpikingGraphConvConfig {
    /// Input features.
    pub d_input: usize,
    /// Output features (neurons per node).
    pub d_output: usize,
    /// The neuron model. Default LIF (τ = 2, V_th = 1, hard reset, ATan).
    #[config(default = "NeuronConfig::default()")]
    pub neuron: NeuronConfig,
    /// The current's normalisation. Default LayerNorm.
    #[config(default = "SpikeNorm::LayerNorm")]
    pub norm: SpikeNorm,
    /// Spiking neurons or ReLU. Default spiking.
    #[config(default = "Activation::Spiking")]
    pub activation: Activation,
}

/// Threshold-dependent batch normalisation (Zheng et al. 2021, "Going deeper with directly
/// trained larger spiking neural networks"): per channel over the batch's real rows,
/// `y = γ·V_th·(x − μ)/√(σ² + ε) + β`; running statistics (momentum 0.1) serve evaluation.
#[derive(Module, Debug)]
pub struct ThresholdBn {
    /// Learned gain γ.
    pub gamma: Param<Tensor<1>>,
    /// Learned bias β.
    pub beta: Param<Tensor<1>>,
    /// Running mean μ.
    pub running_mean: RunningState<Tensor<1>>,
    /// Running variance σ².
    pub running_var: RunningState<Tensor<1>>,
    /// `V_th` (α = 1).
    pub threshold: f64,
}

impl ThresholdBn {
    fn new(d: usize, threshold: f64, device: &Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([d], device)),
            beta: Param::from_tensor(Tensor::zeros([d], device)),
            running_mean: RunningState::new(Tensor::zeros([d], device)),
            running_var: RunningState::new(Tensor::ones([d], device)),
            threshold,
        }
    }

    /// Normalises rows `[N, C]`; `weight` `[N, 1]` is 1 on real rows and 0 on padding (which
    /// takes no part in the statistics).
    pub fn forward(&self, x: Tensor<2>, weight: Tensor<2>) -> Tensor<2> {
        let [_, c] = x.dims();
        let device = x.device();
        let (mean, var) = if device.is_autodiff() {
            let n = weight.clone().sum().clamp_min(1.0).reshape([1, 1]);
            let mean = x.clone().mul(weight.clone()).sum_dim(0).div(n.clone());
            let var = x.clone().sub(mean.clone()).powf_scalar(2.0).mul(weight).sum_dim(0).div(n);
            let m = 0.1;
            let rm = self.running_mean.value_sync().to_device(&device).mul_scalar(1.0 - m).add(mean.clone().detach().reshape([c]).mul_scalar(m));
            let rv = self.running_var.value_sync().to_device(&device).mul_scalar(1.0 - m).add(var.clone().detach().reshape([c]).mul_scalar(m));
            self.running_mean.update(rm.detach());
            self.running_var.update(rv.detach());
            (mean, var)
        } else {
            (self.running_mean.value().to_device(&device).reshape([1, c]), self.running_var.value().to_device(&device).reshape([1, c]))
        };
        let xhat = x.sub(mean).div(var.add_scalar(1e-5).sqrt()).mul_scalar(self.threshold);
        xhat.mul(self.gamma.val().reshape([1, c])).add(self.beta.val().reshape([1, c]))
    }
}

/// Spiking graph convolution with mean aggregation over each node's in-neighbours and itself.
#[derive(Module, Debug)]
pub struct SpikingGraphConv {
    /// The synapses `W`.
    pub linear: Linear,
    /// LayerNorm of each node's current per step (learned gain and bias), so that the
    /// membrane reaches the threshold at initialisation (without it the currents of a freshly
    /// initialised layer stay below `V_th = 1` and no neuron fires).
    pub norm: Option<LayerNorm>,
    /// Threshold-dependent BatchNorm instead.
    pub bn: Option<ThresholdBn>,
    /// A learned per-channel gain and bias instead, `[2, d]`.
    pub gain: Option<Param<Tensor<2>>>,
    /// The neurons.
    pub neuron: Neuron,
    /// ReLU in place of the neurons (the non-spiking twin).
    pub relu: bool,
}

/// A spiking layer's input: the same at every step (computed once), or one per step.
#[derive(Debug, Clone)]
pub enum LayerInput {
    /// `[N, d]`, the same at each of `T` steps.
    Constant(Tensor<2>, usize),
    /// `[T, N, d]`.
    Steps(Tensor<3>),
}

/// What a spiking layer produced.
#[derive(Debug, Clone)]
pub struct LayerOutput {
    /// Spikes (or ReLU activations) `[T, N, d]`.
    pub spikes: Tensor<3>,
    /// Membrane potentials (or the normalised current) `[T, N, d]`.
    pub membrane: Tensor<3>,
}

/// Edges with a self loop per node, replicated for `t` time steps folded into the batch, and
/// the inverse in-degree of each (step, node) row.
#[derive(Debug, Clone)]
pub struct FoldedEdges {
    /// Source rows.
    pub src: Tensor<1, Int>,
    /// Target rows.
    pub dst: Tensor<1, Int>,
    /// `1 / in-degree` per row, `[t·n, 1]`.
    pub inv_degree: Tensor<2>,
    /// Edges (with self loops) per step: the first `per_step` entries are step 0's.
    pub per_step: usize,
}

impl FoldedEdges {
    /// Folds `edges` (self loops added) for `t` steps.
    pub fn new(edges: &EdgeList, t: usize, device: &Device) -> Self {
        let (looped, _) = edges.with_self_loops();
        let n = edges.num_nodes;
        let deg = looped.in_degree();
        let rows = |v: &[usize]| -> Vec<i64> { (0..t).flat_map(|s| v.iter().map(move |&i| (s * n + i) as i64)).collect() };
        let (src, dst) = (rows(&looped.src), rows(&looped.dst));
        let inv: Vec<f32> = (0..t).flat_map(|_| deg.iter().map(|&d| 1.0 / d.max(1) as f32)).collect();
        Self {
            src: Tensor::from_data(TensorData::new(src.clone(), [src.len()]), device),
            dst: Tensor::from_data(TensorData::new(dst.clone(), [dst.len()]), device),
            inv_degree: Tensor::from_data(TensorData::new(inv, [t * n, 1]), device),
            per_step: looped.len(),
        }
    }
}

impl SpikingGraphConvConfig {
    /// Builds the layer.
    pub fn init(&self, device: &Device) -> gshn_snn::Result<SpikingGraphConv> {
        let d = self.d_output;
        let threshold = self.neuron.base().threshold;
        Ok(SpikingGraphConv {
            linear: LinearConfig::new(self.d_input, d).init(device),
            norm: (self.norm == SpikeNorm::LayerNorm).then(|| LayerNormConfig::new(d).init(device)),
            bn: (self.norm == SpikeNorm::ThresholdBn).then(|| ThresholdBn::new(d, threshold, device)),
            gain: (self.norm == SpikeNorm::Gain).then(|| Param::from_tensor(Tensor::cat(vec![Tensor::ones([1, d], device), Tensor::zeros([1, d], device)], 0))),
            neuron: self.neuron.init(device)?,
            relu: self.activation == Activation::Relu,
        })
    }
}

impl SpikingGraphConv {
    /// The normalised current of rows `[N, d]` (`weight` `[N, 1]`: 1 on real rows).
    fn current(&self, agg: Tensor<2>, weight: Tensor<2>) -> Tensor<2> {
        if let Some(ln) = &self.norm {
            ln.forward(agg)
        } else if let Some(bn) = &self.bn {
            bn.forward(agg, weight)
        } else if let Some(g) = &self.gain {
            let [_, d] = agg.dims();
            let g = g.val();
            agg.mul(g.clone().narrow(0, 0, 1)).add(g.narrow(0, 1, 1).reshape([1, d]))
        } else {
            agg
        }
    }

    /// Mean over in-neighbours and self of the linear map of rows `[steps·n, d_in]` (the first
    /// `steps` of the folded steps).
    fn aggregate(&self, x: Tensor<2>, edges: &FoldedEdges, steps: usize) -> Tensor<2> {
        let h = self.linear.forward(x);
        let rows = h.dims()[0];
        let e = edges.per_step * steps;
        let (src, dst) = (edges.src.clone().narrow(0, 0, e), edges.dst.clone().narrow(0, 0, e));
        segment_sum(h.select(0, src), dst, rows).mul(edges.inv_degree.clone().narrow(0, 0, rows))
    }

    /// Spikes and membrane `[T, N, d_output]` of `input` over `edges` (folded for T);
    /// `weight` `[N, 1]` is 1 on real rows.
    pub fn forward(&self, input: LayerInput, edges: &FoldedEdges, weight: Tensor<2>) -> gshn_snn::Result<LayerOutput> {
        let current = match input {
            // Constant over time: the linear map, the aggregation and the norm once.
            LayerInput::Constant(x, t) => {
                let [n, _] = x.dims();
                let c = self.current(self.aggregate(x, edges, 1), weight);
                let d = c.dims()[1];
                c.unsqueeze_dim::<3>(0).expand([t, n, d])
            }
            LayerInput::Steps(x) => {
                let t = x.dims()[0];
                let rows = weight.dims()[0];
                let w = weight.unsqueeze_dim::<3>(0).expand([t, rows, 1]);
                let c = self.current(self.aggregate(fold_time(x), edges, t), fold_time(w));
                unfold_time(c, t)?
            }
        };
        if self.relu {
            return Ok(LayerOutput { spikes: relu(current.clone()), membrane: current });
        }
        let out = self.neuron.forward_multi(current, None)?;
        Ok(LayerOutput { spikes: out.spikes, membrane: out.membrane })
    }
}

/// The spiking branch: the encoding, `layers` spiking graph layers and the readout.
#[derive(Module, Debug)]
pub struct SnnBranch {
    /// The spiking graph layers.
    pub layers: Vec<SpikingGraphConv>,
    /// Readout → node features.
    pub readout: Linear,
    /// The learned temporal encoding `[2, T, d]` (gain offsets `g`, biases `b`).
    pub temporal: Option<Param<Tensor<3>>>,
    /// Time steps T.
    pub time_steps: usize,
    /// The input encoding.
    #[module(skip)]
    pub encoding: Encoding,
    /// The readout.
    #[module(skip)]
    pub readout_kind: Readout,
}

/// What the spiking branch produced.
#[derive(Debug, Clone)]
pub struct SnnOutput {
    /// `E_SNN` `[N, d_model]`.
    pub nodes: Tensor<2>,
    /// Spikes of each layer, `[T, N, d_model]`.
    pub spikes: Vec<Tensor<3>>,
    /// The encoded input of the first layer `[T, N, d_model]` (the tokens repeated, for direct
    /// and learned encodings; spikes for rate and latency).
    pub input: Tensor<3>,
}

impl SnnBranch {
    /// The first layer's input over T steps (gshn-snn's encoders).
    fn encode(&self, v: Tensor<2>) -> gshn_snn::Result<LayerInput> {
        let t = self.time_steps;
        Ok(match self.encoding {
            Encoding::Direct => LayerInput::Constant(v, t),
            Encoding::Learned => LayerInput::Steps(learned_temporal(v, self.temporal.as_ref().expect("a learned encoding has its parameters").val())?),
            Encoding::Rate => LayerInput::Steps(rate_straight_through(v, t)?),
            Encoding::Latency => LayerInput::Steps(latency_straight_through(v, t)?),
        })
    }

    /// `E_SNN` of tokens `v` `[N, d_model]` over `edges` (folded for T); `weight` `[N, 1]` is 1
    /// on real rows.
    pub fn forward(&self, v: Tensor<2>, edges: &FoldedEdges, weight: Tensor<2>) -> gshn_snn::Result<SnnOutput> {
        let [n, d] = v.dims();
        let t = self.time_steps;
        let mut x = self.encode(v)?;
        let input = match &x {
            LayerInput::Constant(c, _) => c.clone().unsqueeze_dim::<3>(0).expand([t, n, d]),
            LayerInput::Steps(s) => s.clone(),
        };
        let mut spikes = Vec::with_capacity(self.layers.len());
        let mut last = None;
        for layer in &self.layers {
            let out = layer.forward(x, edges, weight.clone())?;
            spikes.push(out.spikes.clone());
            x = LayerInput::Steps(out.spikes.clone());
            last = Some(out);
        }
        let out = last.expect("at least one layer");
        let read: Tensor<2> = match self.readout_kind {
            Readout::Rate => rate_readout(out.spikes.clone()),
            Readout::Membrane => membrane_readout(out.membrane),
            Readout::FirstSpike => first_spike_readout(out.spikes.clone()),
        };
        Ok(SnnOutput { nodes: self.readout.forward(read), spikes, input })
    }
}

/// How the tokens enter the spiking branch over its T steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// The token itself at every step (constant current). Default.
    #[default]
    Direct,
    /// Bernoulli spikes with probability `σ(V)` per step (straight-through gradient).
    Rate,
    /// One spike per feature at step `⌊(1 − σ(V))·T⌋`: stronger features fire earlier
    /// (straight-through gradient).
    Latency,
    /// `V ⊙ (1 + g_t) + b_t` with learned `g, b ∈ ℝ^{T×d}` (zero at start, so it starts as
    /// direct encoding and may learn to vary over time).
    Learned,
}

/// What the last spiking layer hands to the readout linear layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Readout {
    /// The mean firing rate over T. Default.
    #[default]
    Rate,
    /// The mean membrane potential over T.
    Membrane,
    /// The first spike's earliness, `Σ_t s_t Π_{k<t}(1 − s_k)·(T − t)/T` (0 without a spike).
    FirstSpike,
}

/// How each spiking layer's input current is normalised before the neurons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SpikeNorm {
    /// LayerNorm over each node's current at each step (learned gain and bias). Default.
    #[default]
    LayerNorm,
    /// Threshold-dependent BatchNorm (Zheng et al. 2021): per channel over the batch's real
    /// nodes and all T steps, scaled to `V_th`, learned gain and bias, running statistics for
    /// evaluation.
    ThresholdBn,
    /// A learned gain and bias per channel, no normalisation.
    Gain,
    /// The raw current.
    None,
}

/// The branch's nonlinearity: spiking neurons, or the equal-width non-spiking twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// The configured neuron over T steps. Default.
    #[default]
    Spiking,
    /// ReLU in place of the neurons and T = 1: the same layers and widths without spikes
    /// (the energy comparison's twin).
    Relu,
}

/// The spiking branch: `layers` spiking graph layers over `time_steps` steps, the tokens
/// encoded per `encoding`, each layer's current normalised per `norm`, the last layer read
/// out per `readout` by a linear layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SnnBranchConfig {
    /// Time steps T. Default 4.
    pub time_steps: usize,
    /// Spiking graph layers. Default 2.
    pub layers: usize,
    /// The neuron (model, leak, threshold, reset, surrogate). Default LIF τ = 2, V_th = 1,
    /// hard reset to 0, ATan α = 2.
    pub neuron: NeuronConfig,
    /// Input encoding. Default `direct`.
    pub encoding: Encoding,
    /// Readout. Default `rate`.
    pub readout: Readout,
    /// Current normalisation. Default `layer-norm`.
    pub norm: SpikeNorm,
    /// Spiking neurons or the ReLU twin. Default `spiking`.
    pub activation: Activation,
}

impl Default for SnnBranchConfig {
    fn default() -> Self {
        Self {
            time_steps: 4,
            layers: 2,
            neuron: NeuronConfig::default(),
            encoding: Encoding::Direct,
            readout: Readout::Rate,
            norm: SpikeNorm::LayerNorm,
            activation: Activation::Spiking,
        }
    }
}

impl SnnBranchConfig {
    /// The branch for `d_model`-wide nodes.
    pub fn init(&self, d_model: usize, device: &Device) -> gshn_snn::Result<SnnBranch> {
        let layer = SpikingGraphConvConfig::new(d_model, d_model).with_neuron(self.neuron.clone()).with_norm(self.norm).with_activation(self.activation);
        let layers = (0..self.layers).map(|_| layer.init(device)).collect::<gshn_snn::Result<_>>()?;
        let t = self.time_steps;
        Ok(SnnBranch {
            layers,
            readout: LinearConfig::new(d_model, d_model).init(device),
            temporal: (self.encoding == Encoding::Learned).then(|| Param::from_tensor(Tensor::zeros([2, t, d_model], device))),
            time_steps: t,
            encoding: self.encoding,
            readout_kind: self.readout,
        })
    }
}
