//! Multi-step spiking layers.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::error::SnnError;
use crate::neuron::{Neuron, NeuronConfig, SpikingNeuron};
use crate::stats::LayerStats;

/// Folds the time axis into the batch: `[T, N, F] → [T·N, F]` (SpikingJelly's
/// `SeqToANNContainer`), so that a stateless layer runs once over all steps.
pub fn fold_time(x: Tensor<3>) -> Tensor<2> {
    let [t, n, f] = x.dims();
    x.reshape([t * n, f])
}

/// Undoes [`fold_time`]: `[T·N, F] → [T, N, F]`.
pub fn unfold_time(x: Tensor<2>, time_steps: usize) -> crate::Result<Tensor<3>> {
    let [tn, f] = x.dims();
    if time_steps == 0 {
        return Err(SnnError::ZeroTimeSteps);
    }
    if tn % time_steps != 0 {
        return Err(SnnError::ShapeMismatch(format!("{tn} rows cannot be split into {time_steps} time steps")));
    }
    Ok(x.reshape([time_steps, tn / time_steps, f]))
}

/// Mean firing rate over time, the usual readout: `[T, N, F] → [N, F]`.
pub fn rate_readout(spikes: Tensor<3>) -> Tensor<2> {
    spikes.mean_dim(0).squeeze_dim(0)
}

/// Mean membrane potential over time: `[T, N, F] → [N, F]`.
pub fn membrane_readout(membrane: Tensor<3>) -> Tensor<2> {
    membrane.mean_dim(0).squeeze_dim(0)
}

/// The first spike's earliness, `Σ_t s_t · Π_{k<t}(1 − s_k) · (T − t)/T` (0 without a spike;
/// `t` from 0), `[T, N, F] → [N, F]`: differentiable through every spike.
pub fn first_spike_readout(spikes: Tensor<3>) -> Tensor<2> {
    let [t, n, f] = spikes.dims();
    let mut none_yet = Tensor::<2>::ones([n, f], &spikes.device());
    let mut acc = Tensor::<2>::zeros([n, f], &spikes.device());
    for (k, s) in spikes.chunk(t, 0).into_iter().enumerate() {
        let s: Tensor<2> = s.reshape([n, f]);
        acc = acc.add(s.clone().mul(none_yet.clone()).mul_scalar((t - k) as f64 / t as f64));
        none_yet = none_yet.mul(s.neg().add_scalar(1.0));
    }
    acc
}

/// Configuration of a [`SpikingLinear`] layer.
#[derive(Config, Debug)]
pub struct SpikingLinearConfig {
    /// Input features.
    pub d_input: usize,
    /// Output features (neurons).
    pub d_output: usize,
    /// Whether the linear map has a bias. Default true.
    #[config(default = true)]
    pub bias: bool,
    /// The neuron model. Default LIF (τ = 2, V_th = 1, hard reset, ATan).
    #[config(default = "NeuronConfig::default()")]
    pub neuron: NeuronConfig,
}

impl SpikingLinearConfig {
    /// Validates the config and builds the layer.
    pub fn init(&self, device: &Device) -> crate::Result<SpikingLinear> {
        if self.d_input == 0 || self.d_output == 0 {
            return Err(SnnError::ShapeMismatch(format!("a spiking linear layer needs d_input, d_output ≥ 1, got {} → {}", self.d_input, self.d_output)));
        }
        Ok(SpikingLinear { linear: LinearConfig::new(self.d_input, self.d_output).with_bias(self.bias).init(device), neuron: self.neuron.init(device)? })
    }
}

/// A multi-step spiking linear layer: `S = LIF(x W + b)` over `[T, N, F]`, the linear map run
/// once over `T·N` rows folded into the batch, then the neuron over T.
#[derive(Module, Debug)]
pub struct SpikingLinear {
    /// The synapses.
    pub linear: Linear,
    /// The neurons.
    pub neuron: Neuron,
}

impl SpikingLinear {
    /// Spikes `[T, N, d_output]` for an input `[T, N, d_input]` (spikes or currents).
    pub fn forward(&self, x: Tensor<3>) -> crate::Result<Tensor<3>> {
        let [t, _, f] = x.dims();
        let d_in = self.linear.weight.dims()[0];
        if f != d_in {
            return Err(SnnError::ShapeMismatch(format!("input has {f} features, the layer expects {d_in}")));
        }
        let current = unfold_time(self.linear.forward(fold_time(x)), t)?;
        self.neuron.forward(current)
    }

    /// Like [`forward`](Self::forward), also counting spikes, SOPs (if `input_is_spikes`)
    /// or MACs. Reads two sums back from the device.
    pub fn forward_with_stats(&self, x: Tensor<3>, input_is_spikes: bool, name: &str) -> crate::Result<(Tensor<3>, LayerStats)> {
        let fan_out = self.linear.weight.dims()[1];
        let input = x.clone();
        let spikes = self.forward(x)?;
        let stats = LayerStats::measure(name, &input, input_is_spikes, fan_out, &spikes);
        Ok((spikes, stats))
    }
}
