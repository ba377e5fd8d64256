//! Integrate-and-fire neuron (SpikingJelly `IFNode`).

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::base::{NeuronBase, NeuronBaseConfig, SpikingNeuron};
use crate::fused::Charge;

/// Configuration of an [`IfNeuron`]. In config files: the [`NeuronBaseConfig`] fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IfConfig {
    /// Threshold, reset, surrogate.
    pub base: NeuronBaseConfig,
}

impl IfConfig {
    /// The defaults (see [`NeuronBaseConfig::new`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the threshold, reset and surrogate.
    pub fn with_base(mut self, base: NeuronBaseConfig) -> Self {
        self.base = base;
        self
    }

    /// Validates the config and builds the neuron (it has no parameters).
    pub fn init(&self, _device: &Device) -> crate::Result<IfNeuron> {
        Ok(IfNeuron { base: NeuronBase::new(&self.base)? })
    }
}

/// Integrate-and-fire: `H[t] = V[t−1] + X[t]` (no leak).
#[derive(Module, Debug)]
pub struct IfNeuron {
    /// Fire and reset.
    #[module(skip)]
    pub base: NeuronBase,
}

impl SpikingNeuron for IfNeuron {
    fn base(&self) -> &NeuronBase {
        &self.base
    }

    fn charge<const D: usize>(&self, v: Tensor<D>, x: Tensor<D>) -> Tensor<D> {
        v.add(x)
    }

    fn fused_charge(&self) -> Option<(Charge, Option<Tensor<1>>)> {
        Some((Charge::If, None))
    }
}
