//! Spiking neuron models, one per file, on a shared base (snnTorch's layout).

pub mod base;
mod fields;
pub mod if_node;
pub mod lif;
pub mod plif;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

pub use base::{MultiStepOutput, NeuronBase, NeuronBaseConfig, NeuronState, ResetMode, ResetTiming, SpikingNeuron};
pub use if_node::{IfConfig, IfNeuron};
pub use lif::{Leak, Lif, LifConfig};
pub use plif::{Plif, PlifConfig};

/// Any neuron model, chosen from a config file (for ablations over IF / LIF / PLIF): a name
/// (`neuron = "plif"`, every default) or a one-key table (`[neuron.lif]` `tau = 3.0`): the
/// model's own fields (`tau`/`decay_input` or `beta`; `init_tau`) and the
/// [`NeuronBaseConfig`] fields, each defaulting on its own (`docs/snn.md` lists them).
#[derive(Debug, Clone, PartialEq)]
pub enum NeuronConfig {
    /// Integrate-and-fire.
    If(IfConfig),
    /// Leaky integrate-and-fire.
    Lif(LifConfig),
    /// Parametric LIF.
    Plif(PlifConfig),
}

impl Default for NeuronConfig {
    /// LIF with τ = 2, V_th = 1, hard reset to 0, ATan α = 2 (docs/paper-map.md).
    fn default() -> Self {
        NeuronConfig::Lif(LifConfig::new())
    }
}

impl NeuronConfig {
    /// Short name, for tables.
    pub fn name(&self) -> &'static str {
        match self {
            NeuronConfig::If(_) => "if",
            NeuronConfig::Lif(_) => "lif",
            NeuronConfig::Plif(_) => "plif",
        }
    }

    /// The shared settings of whichever model this is.
    pub fn base(&self) -> &NeuronBaseConfig {
        match self {
            NeuronConfig::If(c) => &c.base,
            NeuronConfig::Lif(c) => &c.base,
            NeuronConfig::Plif(c) => &c.base,
        }
    }

    /// Checks every field without building anything.
    pub fn validate(&self) -> crate::Result<()> {
        match self {
            NeuronConfig::If(c) => c.base.validate(),
            NeuronConfig::Lif(c) => c.validate(),
            NeuronConfig::Plif(c) => c.validate(),
        }
    }

    /// Validates the config and builds the neuron.
    pub fn init(&self, device: &Device) -> crate::Result<Neuron> {
        Ok(match self {
            NeuronConfig::If(c) => Neuron::If(c.init(device)?),
            NeuronConfig::Lif(c) => Neuron::Lif(c.init(device)?),
            NeuronConfig::Plif(c) => Neuron::Plif(c.init(device)?),
        })
    }
}

/// Any neuron model, as one module type.
#[derive(Module, Debug)]
pub enum Neuron {
    /// Integrate-and-fire.
    If(IfNeuron),
    /// Leaky integrate-and-fire.
    Lif(Lif),
    /// Parametric LIF.
    Plif(Plif),
}

impl SpikingNeuron for Neuron {
    fn base(&self) -> &NeuronBase {
        match self {
            Neuron::If(n) => n.base(),
            Neuron::Lif(n) => n.base(),
            Neuron::Plif(n) => n.base(),
        }
    }

    fn charge<const D: usize>(&self, v: Tensor<D>, x: Tensor<D>) -> Tensor<D> {
        match self {
            Neuron::If(n) => n.charge(v, x),
            Neuron::Lif(n) => n.charge(v, x),
            Neuron::Plif(n) => n.charge(v, x),
        }
    }

    fn fused_charge(&self) -> Option<(crate::fused::Charge, Option<Tensor<1>>)> {
        match self {
            Neuron::If(n) => n.fused_charge(),
            Neuron::Lif(n) => n.fused_charge(),
            Neuron::Plif(n) => n.fused_charge(),
        }
    }
}
