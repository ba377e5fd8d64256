//! Leaky integrate-and-fire neuron (SpikingJelly `LIFNode`, snnTorch `Leaky`).

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::base::{NeuronBase, NeuronBaseConfig, ResetMode, SpikingNeuron};
use crate::error::check;
use crate::fused::Charge;

/// How the membrane leaks. In config files: `tau` (with `decay_input`) or `beta` in the
/// neuron's table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Leak {
    /// Time constant τ (SpikingJelly). With `decay_input`:
    /// `H = V + (X − (V − V_reset))/τ`; without: `H = V − (V − V_reset)/τ + X`.
    /// `V_reset` is 0 for soft or no reset.
    Tau {
        /// Membrane time constant τ ≥ 1 (in steps). Default 2.
        tau: f64,
        /// Whether the input is divided by τ too. SpikingJelly's default: true.
        decay_input: bool,
    },
    /// Decay factor β (snnTorch `Leaky`): `H = β·V + X`, β ∈ [0, 1].
    /// `β = 1 − 1/τ` gives the same leak as `Tau { decay_input: false }` with `V_reset = 0`.
    Beta {
        /// Decay per step β ∈ [0, 1].
        beta: f64,
    },
}

/// Configuration of a [`Lif`] neuron. In config files: `tau` and `decay_input`, or `beta`,
/// and the [`NeuronBaseConfig`] fields, each optional.
#[derive(Debug, Clone, PartialEq)]
pub struct LifConfig {
    /// The leak. Default τ = 2 with `decay_input` (SpikingJelly's defaults; ours, docs/paper-map.md).
    pub leak: Leak,
    /// Threshold, reset, surrogate.
    pub base: NeuronBaseConfig,
}

impl Default for LifConfig {
    fn default() -> Self {
        Self { leak: Leak::Tau { tau: 2.0, decay_input: true }, base: NeuronBaseConfig::new() }
    }
}

impl LifConfig {
    /// τ = 2 with `decay_input`, and the base defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the leak.
    pub fn with_leak(mut self, leak: Leak) -> Self {
        self.leak = leak;
        self
    }

    /// Sets the threshold, reset and surrogate.
    pub fn with_base(mut self, base: NeuronBaseConfig) -> Self {
        self.base = base;
        self
    }

    /// snnTorch's `Leaky(beta)`: `H = β·V + X`, `>` at threshold, delayed detached subtract reset.
    pub fn snntorch(beta: f64) -> Self {
        Self::new().with_leak(Leak::Beta { beta }).with_base(NeuronBaseConfig::snntorch())
    }

    /// Validates the config and builds the neuron (it has no parameters).
    pub fn init(&self, _device: &Device) -> crate::Result<Lif> {
        self.validate()?;
        Ok(Lif { base: NeuronBase::new(&self.base)?, leak: self.leak })
    }

    /// Checks every field (τ ≥ 1 or β ∈ [0, 1], and the base).
    pub fn validate(&self) -> crate::Result<()> {
        match self.leak {
            Leak::Tau { tau, .. } => check("tau", tau, |t| t >= 1.0, "the time constant must be finite and ≥ 1")?,
            Leak::Beta { beta } => check("beta", beta, |b| (0.0..=1.0).contains(&b), "the decay factor must lie in [0, 1]")?,
        }
        self.base.validate()
    }
}

/// Leaky integrate-and-fire neuron, multi-step or single-step.
#[derive(Module, Debug)]
pub struct Lif {
    /// Fire and reset.
    #[module(skip)]
    pub base: NeuronBase,
    /// The leak.
    #[module(skip)]
    pub leak: Leak,
}

/// The potential a leaky membrane relaxes to: `V_reset` for hard resets, else 0.
pub(crate) fn rest_potential(base: &NeuronBase) -> f64 {
    match base.config.reset {
        ResetMode::Hard => base.config.reset_value,
        _ => 0.0,
    }
}

impl SpikingNeuron for Lif {
    fn base(&self) -> &NeuronBase {
        &self.base
    }

    fn charge<const D: usize>(&self, v: Tensor<D>, x: Tensor<D>) -> Tensor<D> {
        let rest = rest_potential(&self.base);
        match self.leak {
            Leak::Tau { tau, decay_input: true } => {
                let drive = x.sub(v.clone().sub_scalar(rest));
                v.add(drive.div_scalar(tau))
            }
            Leak::Tau { tau, decay_input: false } => {
                let leak = v.clone().sub_scalar(rest).div_scalar(tau);
                v.sub(leak).add(x)
            }
            Leak::Beta { beta } => v.mul_scalar(beta).add(x),
        }
    }

    fn fused_charge(&self) -> Option<(Charge, Option<Tensor<1>>)> {
        let charge = match self.leak {
            Leak::Tau { tau, decay_input } => Charge::Tau { tau: tau as f32, decay_input },
            Leak::Beta { beta } => Charge::Beta { beta: beta as f32 },
        };
        Some((charge, None))
    }
}
