//! A feed-forward stack of synapses and neurons: the network that [`crate::nir`] exports and
//! imports.
//!
//! ```text
//! x[t] ──▶ W₁x + b₁ ──▶ LIF ──▶ W₂s + b₂ ──▶ IF ──▶ … ──▶ y[t]      for t = 1 … T
//! ```
//!
//! Each stage runs over a leading time axis `[T, N, F]`: a synapse once over the `T·N` rows
//! folded into the batch ([`fold_time`]), a neuron over T with its state carried from step to
//! step. Stages chain in any order (two synapses in a row, or a neuron first).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::error::SnnError;
use crate::layer::{fold_time, unfold_time, SpikingLinear};
use crate::neuron::{Neuron, NeuronConfig, SpikingNeuron};

/// One stage of a [`SpikingNetwork`].
#[derive(Module, Debug)]
pub enum Stage {
    /// Synapses `y = x W + b` (Burn's `Linear`, weight `[d_in, d_out]`; bias optional).
    Linear(Linear),
    /// A layer of neurons, one per feature, run over the time axis.
    Neuron(Neuron),
}

impl Stage {
    /// A synapse stage `d_input → d_output`, with or without bias (Burn's default init).
    pub fn linear(d_input: usize, d_output: usize, bias: bool, device: &Device) -> Self {
        Stage::Linear(LinearConfig::new(d_input, d_output).with_bias(bias).init(device))
    }

    /// A neuron stage.
    pub fn neuron(config: &NeuronConfig, device: &Device) -> crate::Result<Self> {
        Ok(Stage::Neuron(config.init(device)?))
    }

    /// `(d_in, d_out)` of a synapse stage; `None` for neurons (they keep the width).
    pub fn widths(&self) -> Option<(usize, usize)> {
        match self {
            Stage::Linear(l) => {
                let [i, o] = l.weight.dims();
                Some((i, o))
            }
            Stage::Neuron(_) => None,
        }
    }
}

/// A feed-forward spiking network: `stages` applied in order to `[T, N, d_input]`.
#[derive(Module, Debug)]
pub struct SpikingNetwork {
    /// The stages, input first.
    pub stages: Vec<Stage>,
    /// Input features per step.
    #[module(skip)]
    pub d_input: usize,
}

impl SpikingNetwork {
    /// A network from its stages, checking that the synapses' widths chain from `d_input`.
    pub fn new(d_input: usize, stages: Vec<Stage>) -> crate::Result<Self> {
        if d_input == 0 {
            return Err(SnnError::ShapeMismatch("a network needs at least one input feature".into()));
        }
        let mut width = d_input;
        for (i, stage) in stages.iter().enumerate() {
            if let Some((d_in, d_out)) = stage.widths() {
                if d_in != width {
                    return Err(SnnError::ShapeMismatch(format!("stage {i} (linear) takes {d_in} features, the stage before it gives {width}")));
                }
                width = d_out;
            }
        }
        Ok(Self { stages, d_input })
    }

    /// The usual stack: [`SpikingLinear`] layers (synapses, then neurons) in order.
    pub fn from_layers(layers: Vec<SpikingLinear>) -> crate::Result<Self> {
        let Some(first) = layers.first() else {
            return Err(SnnError::ShapeMismatch("a network needs at least one layer".into()));
        };
        let d_input = first.linear.weight.dims()[0];
        let stages = layers.into_iter().flat_map(|l| [Stage::Linear(l.linear), Stage::Neuron(l.neuron)]).collect();
        Self::new(d_input, stages)
    }

    /// Output features per step.
    pub fn d_output(&self) -> usize {
        self.stages.iter().rev().find_map(|s| s.widths().map(|(_, o)| o)).unwrap_or(self.d_input)
    }

    /// The output `[T, N, d_output]` of an input `[T, N, d_input]` (spikes after a neuron
    /// stage, currents after a synapse stage), every neuron starting from rest.
    pub fn forward(&self, x: Tensor<3>) -> crate::Result<Tensor<3>> {
        let mut trace = self.forward_trace(x.clone())?;
        Ok(trace.pop().unwrap_or(x))
    }

    /// The output of every stage for an input `[T, N, d_input]`, in order: what a
    /// layer-by-layer comparison with another simulator needs.
    pub fn forward_trace(&self, x: Tensor<3>) -> crate::Result<Vec<Tensor<3>>> {
        let [t, _, f] = x.dims();
        if f != self.d_input {
            return Err(SnnError::ShapeMismatch(format!("input has {f} features, the network expects {}", self.d_input)));
        }
        let mut out = Vec::with_capacity(self.stages.len());
        let mut x = x;
        for stage in &self.stages {
            x = match stage {
                Stage::Linear(l) => unfold_time(l.forward(fold_time(x)), t)?,
                Stage::Neuron(n) => n.forward(x)?,
            };
            out.push(x.clone());
        }
        Ok(out)
    }
}
