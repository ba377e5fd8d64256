//! Parametric LIF: a LIF neuron with a learnable time constant (Fang et al. 2021,
//! SpikingJelly `ParametricLIFNode`).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{activation, Device, Tensor};

use super::base::{NeuronBase, NeuronBaseConfig, SpikingNeuron};
use super::lif::rest_potential;
use crate::error::check;

/// Configuration of a [`Plif`] neuron.
#[derive(Config, Debug, PartialEq)]
pub struct PlifConfig {
    /// Initial time constant τ₀ > 1; the weight starts at `w = −ln(τ₀ − 1)` so that
    /// `1/τ = sigmoid(w)`. Default 2 (SpikingJelly).
    #[config(default = 2.0)]
    pub init_tau: f64,
    /// Whether the input is scaled by `1/τ` too. Default true (SpikingJelly).
    #[config(default = true)]
    pub decay_input: bool,
    /// Threshold, reset, surrogate.
    #[config(default = "NeuronBaseConfig::new()")]
    pub base: NeuronBaseConfig,
}

impl PlifConfig {
    /// Validates the config and builds the neuron with its one learnable weight.
    pub fn init(&self, device: &Device) -> crate::Result<Plif> {
        check("init_tau", self.init_tau, |t| t > 1.0, "the initial time constant must be finite and > 1")?;
        let w0 = -(self.init_tau - 1.0).ln();
        Ok(Plif {
            w: Param::from_tensor(Tensor::<1>::from_floats([w0 as f32], device)),
            base: NeuronBase::new(&self.base)?,
            decay_input: self.decay_input,
        })
    }
}

/// Parametric LIF: `k = sigmoid(w) = 1/τ` learned; with `decay_input`
/// `H = V + (X − (V − V_reset))·k`, without `H = V − (V − V_reset)·k + X`.
#[derive(Module, Debug)]
pub struct Plif {
    /// The weight `w`, shape `[1]`; `τ = 1 / sigmoid(w)`.
    pub w: Param<Tensor<1>>,
    /// Fire and reset.
    #[module(skip)]
    pub base: NeuronBase,
    /// Whether the input is scaled by `1/τ`.
    #[module(skip)]
    pub decay_input: bool,
}

impl Plif {
    /// The current time constant `τ = 1 / sigmoid(w)`.
    pub fn tau(&self) -> f64 {
        let w: f32 = self.w.val().into_scalar();
        1.0 + (-(w as f64)).exp()
    }
}

impl SpikingNeuron for Plif {
    fn base(&self) -> &NeuronBase {
        &self.base
    }

    fn charge<const D: usize>(&self, v: Tensor<D>, x: Tensor<D>) -> Tensor<D> {
        let k: Tensor<D> = activation::sigmoid(self.w.val()).reshape([1; D]);
        let rest = rest_potential(&self.base);
        if self.decay_input {
            let drive = x.sub(v.clone().sub_scalar(rest));
            v.add(drive.mul(k))
        } else {
            let leak = v.clone().sub_scalar(rest).mul(k);
            v.sub(leak).add(x)
        }
    }
}
