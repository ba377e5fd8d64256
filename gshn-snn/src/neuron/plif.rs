//! Parametric LIF: a LIF neuron with a learnable time constant (Fang et al. 2021,
//! SpikingJelly `ParametricLIFNode`).

use burn::module::{Module, Param};
use burn::tensor::{activation, Device, Tensor};

use super::base::{NeuronBase, NeuronBaseConfig, SpikingNeuron};
use super::lif::rest_potential;
use crate::error::check;
use crate::fused::Charge;

/// Configuration of a [`Plif`] neuron. In config files: `init_tau`, `decay_input` and the
/// [`NeuronBaseConfig`] fields, each optional.
#[derive(Debug, Clone, PartialEq)]
pub struct PlifConfig {
    /// Initial time constant τ₀ > 1; the weight starts at `w = −ln(τ₀ − 1)` so that
    /// `1/τ = sigmoid(w)`. Default 2 (SpikingJelly).
    pub init_tau: f64,
    /// Whether the input is scaled by `1/τ` too. Default true (SpikingJelly).
    pub decay_input: bool,
    /// Threshold, reset, surrogate.
    pub base: NeuronBaseConfig,
}

impl Default for PlifConfig {
    fn default() -> Self {
        Self { init_tau: 2.0, decay_input: true, base: NeuronBaseConfig::new() }
    }
}

impl PlifConfig {
    /// Checks every field (τ₀ > 1, and the base).
    pub fn validate(&self) -> crate::Result<()> {
        check("init_tau", self.init_tau, |t| t > 1.0, "the initial time constant must be finite and > 1")?;
        self.base.validate()
    }

    /// τ₀ = 2 with `decay_input`, and the base defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the initial time constant τ₀.
    pub fn with_init_tau(mut self, init_tau: f64) -> Self {
        self.init_tau = init_tau;
        self
    }

    /// Sets whether the input is scaled by `1/τ`.
    pub fn with_decay_input(mut self, decay_input: bool) -> Self {
        self.decay_input = decay_input;
        self
    }

    /// Sets the threshold, reset and surrogate.
    pub fn with_base(mut self, base: NeuronBaseConfig) -> Self {
        self.base = base;
        self
    }

    /// Validates the config and builds the neuron with its one learnable weight.
    pub fn init(&self, device: &Device) -> crate::Result<Plif> {
        self.validate()?;
        let w0 = -(self.init_tau - 1.0).ln();
        Ok(Plif { w: Param::from_tensor(Tensor::<1>::from_floats([w0 as f32], device)), base: NeuronBase::new(&self.base)?, decay_input: self.decay_input })
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

    fn fused_charge(&self) -> Option<(Charge, Option<Tensor<1>>)> {
        Some((Charge::Learned { decay_input: self.decay_input }, Some(activation::sigmoid(self.w.val()))))
    }
}
