//! A multi-step spiking graph layer: `S[t] = LIF( LN( mean_{j → i} (x_j[t] W) ) )` over a leading
//! time axis, the linear map and the aggregation run once over all T steps folded into the
//! batch (`gshn-snn`'s `fold_time`), then the neuron over T.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, IndexingUpdateOp, Int, Tensor, TensorData};
use gshn_graph::EdgeList;
use gshn_snn::layer::{fold_time, unfold_time};
use gshn_snn::neuron::{Neuron, NeuronConfig, SpikingNeuron};

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
        let agg = Tensor::<2>::zeros([rows, f], &h.device()).select_assign(0, edges.dst.clone(), h.select(0, edges.src.clone()), IndexingUpdateOp::Add);
        let current = unfold_time(self.norm.forward(agg.mul(edges.inv_degree.clone())), t)?;
        debug_assert_eq!(current.dims()[1], n);
        self.neuron.forward(current)
    }
}
