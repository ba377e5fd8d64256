//! The spiking branch `E_SNN`: multi-step spiking graph layers
//! `S[t] = LIF( LN( mean_{j → i} (x_j[t] W) ) )` over a leading time axis — the linear map and
//! the aggregation run once over all T steps folded into the batch (`gshn-snn`'s
//! `fold_time`), then the neuron over T — and the branch that stacks them:
//!
//! ```text
//! E_SNN = W_o · rate(SGC_L(… SGC_1(repeat_T(V))))      direct encoding, rate readout
//! ```

use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use gshn_graph::scatter::segment_sum;
use gshn_graph::EdgeList;
use gshn_snn::layer::{fold_time, rate_readout, unfold_time};
use gshn_snn::neuron::{Neuron, NeuronConfig, SpikingNeuron};

use super::config::SnnBranchConfig;

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
}

/// Spiking graph convolution with mean aggregation over each node's in-neighbours and itself.
#[derive(Module, Debug)]
pub struct SpikingGraphConv {
    /// The synapses `W`.
    pub linear: Linear,
    /// Normalises each node's input current per time step (learned gain and bias), so that
    /// the membrane reaches the threshold at initialisation: without it the currents of a
    /// freshly initialised layer stay below `V_th = 1` and no neuron ever fires.
    pub norm: LayerNorm,
    /// The neurons.
    pub neuron: Neuron,
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
        }
    }
}

impl SpikingGraphConvConfig {
    /// Builds the layer.
    pub fn init(&self, device: &Device) -> gshn_snn::Result<SpikingGraphConv> {
        Ok(SpikingGraphConv {
            linear: LinearConfig::new(self.d_input, self.d_output).init(device),
            norm: LayerNormConfig::new(self.d_output).init(device),
            neuron: self.neuron.init(device)?,
        })
    }
}

impl SpikingGraphConv {
    /// Spikes `[T, N, d_output]` from inputs `[T, N, d_input]` over `edges` (folded for T).
    pub fn forward(&self, x: Tensor<3>, edges: &FoldedEdges) -> gshn_snn::Result<Tensor<3>> {
        let [t, n, _] = x.dims();
        let h = self.linear.forward(fold_time(x));
        let [rows, f] = h.dims();
        let agg = segment_sum(h.select(0, edges.src.clone()), edges.dst.clone(), rows);
        debug_assert_eq!(agg.dims()[1], f);
        let current = unfold_time(self.norm.forward(agg.mul(edges.inv_degree.clone())), t)?;
        debug_assert_eq!(current.dims()[1], n);
        self.neuron.forward(current)
    }
}

/// The spiking branch: `layers` spiking graph layers and the rate readout.
#[derive(Module, Debug)]
pub struct SnnBranch {
    /// The spiking graph layers.
    pub layers: Vec<SpikingGraphConv>,
    /// Firing rate → node features.
    pub readout: Linear,
    /// Time steps T.
    pub time_steps: usize,
}

/// What the spiking branch produced.
#[derive(Debug, Clone)]
pub struct SnnOutput {
    /// `E_SNN` `[ΣN, d_model]`.
    pub nodes: Tensor<2>,
    /// Spikes of each layer, `[T, ΣN, d_model]`.
    pub spikes: Vec<Tensor<3>>,
}

impl SnnBranch {
    /// The branch for `d_model`-wide nodes.
    pub fn new(cfg: &SnnBranchConfig, d_model: usize, device: &Device) -> gshn_snn::Result<Self> {
        let layers = (0..cfg.layers)
            .map(|_| SpikingGraphConvConfig::new(d_model, d_model).with_neuron(cfg.neuron.clone()).init(device))
            .collect::<gshn_snn::Result<_>>()?;
        Ok(Self { layers, readout: LinearConfig::new(d_model, d_model).init(device), time_steps: cfg.time_steps })
    }

    /// `E_SNN` of tokens `v` `[ΣN, d_model]` over `edges` (folded for T steps).
    pub fn forward(&self, v: Tensor<2>, edges: &FoldedEdges) -> gshn_snn::Result<SnnOutput> {
        let [n, d] = v.dims();
        let mut x = v.unsqueeze_dim::<3>(0).expand([self.time_steps, n, d]); // direct encoding
        let mut spikes = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            x = layer.forward(x, edges)?;
            spikes.push(x.clone());
        }
        Ok(SnnOutput { nodes: self.readout.forward(rate_readout(x)), spikes })
    }
}
