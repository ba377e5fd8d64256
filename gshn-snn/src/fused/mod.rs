//! The fused multi-step neuron: the whole `[T, N]` run of an IF, LIF or PLIF neuron as one
//! custom autodiff operation (Burn's backend extension), with a hand-written surrogate backward.
//!
//! The unfused path (`SpikingNeuron::forward_multi` with `fused = false`) builds about 17
//! element-wise Burn ops per time step, each a tensor and an autodiff node. Here the forward is
//! one pass over the input — each neuron's `T` steps in a loop — that writes the spikes (and
//! the membrane trace when asked); the backward is one reverse pass that needs the values
//! compared with the threshold, `H[t]`, and from them recomputes `S[t]`, `V[t]` and the
//! surrogate derivative.
//!
//! * Flex (feature `fused-flex`): Rust over slices, neurons split into chunks that rayon runs
//!   in parallel; inside a chunk the loop over `t` is outside the loop over the chunk's
//!   neurons, so every row access is contiguous, the state stays in L1 and the inner loops
//!   vectorise. The backward recomputes `H[t]` chunk by chunk from the input rather than
//!   saving a `[T, N]` buffer, and writes `∂L/∂x` over the incoming gradient when it may.
//! * CubeCL (feature `fused-wgpu`, any CubeCL runtime behind Burn's fusion backend): one thread
//!   per neuron looping over `T`; the forward saves `H[t]`. The configuration is compile-time,
//!   so each combination is its own specialised kernel.
//!
//! Every other backend, dtype or neuron model runs the unfused path. The results match it:
//! spikes exactly (the forward repeats its f32 operations in the same order), membrane and
//! gradients to float rounding (`tests/fused_parity.rs`).
//!
//! # The backward pass
//!
//! With `H = a·V + b·X (+ const)` the charge (a, b per model; PLIF adds `∂H/∂k`),
//! `S = Θ(H − V_th)` with surrogate derivative `σ'`, and `V = R(H, S)` the reset, a reverse
//! sweep carries `∂L/∂V[t]` (and for delayed resets `∂L/∂S[t]`) from step `t + 1` to `t`:
//!
//! ```text
//! immediate:  dV = gV[t] + a·dH[t+1]
//!             dS = gS[t] + dV·∂R/∂S            (0 when detach_reset)
//!             dH[t] = dV·∂R/∂H + dS·σ'(H[t] − V_th)
//!             ∂L/∂X[t] = b·dH[t]               ∂L/∂k += dH[t]·∂H/∂k
//! ```
//!
//! hard reset: `∂R/∂H = 1 − S`, `∂R/∂S = V_reset − H`; soft: `1`, `−V_th`; none: `1`, `0`.
//! Delayed resets apply `R` to the previous step's membrane and spike before (hard) or after
//! (soft) the charge; their sweep is written out in `flex.rs` and `cube.rs`.
//!
//! Without the `fused-flex` and `fused-wgpu` features only the data types below exist and every
//! neuron runs the unfused path.

#[cfg(any(feature = "fused-flex", feature = "fused-wgpu"))]
mod autodiff;
#[cfg(feature = "fused-wgpu")]
mod cube;
#[cfg(feature = "fused-flex")]
mod flex;
#[cfg(any(feature = "fused-flex", feature = "fused-wgpu"))]
mod ops;

#[cfg(any(feature = "fused-flex", feature = "fused-wgpu"))]
pub use ops::{FusedNeuronOps, LeakGain, StartState};

#[cfg(any(feature = "fused-flex", feature = "fused-wgpu"))]
use burn::tensor::{DType, Tensor};

#[cfg(any(feature = "fused-flex", feature = "fused-wgpu"))]
use crate::neuron::base::NeuronState;
use crate::neuron::base::{NeuronBaseConfig, ResetMode, ResetTiming};
use crate::surrogate::{FireCondition, Surrogate};

/// A neuron model's charge equation `H = f(V, X)` as data, for the fused kernels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Charge {
    /// IF: `H = V + X`.
    If,
    /// LIF, τ form: `H = V + (X − (V − V_rest))/τ` (`decay_input`) or `V − (V − V_rest)/τ + X`.
    Tau {
        /// The time constant τ.
        tau: f32,
        /// Whether the input is divided by τ.
        decay_input: bool,
    },
    /// LIF, β form: `H = β·V + X`.
    Beta {
        /// The decay factor β.
        beta: f32,
    },
    /// PLIF: `H = V + (X − (V − V_rest))·k` (`decay_input`) or `V − (V − V_rest)·k + X`, with
    /// `k = sigmoid(w)` a `[1]` tensor passed as [`LeakGain::Learned`].
    Learned {
        /// Whether the input is scaled by `k`.
        decay_input: bool,
    },
}

impl Charge {
    /// `∂H/∂V` and `∂H/∂X` for a given `k` (PLIF's; ignored otherwise).
    pub fn partials(&self, k: f32) -> (f32, f32) {
        match *self {
            Charge::If => (1.0, 1.0),
            Charge::Tau { tau, decay_input } => (1.0 - 1.0 / tau, if decay_input { 1.0 / tau } else { 1.0 }),
            Charge::Beta { beta } => (beta, 1.0),
            Charge::Learned { decay_input } => (1.0 - k, if decay_input { k } else { 1.0 }),
        }
    }
}

/// Everything the fused kernels need to know about a neuron, as plain host values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusedSpec {
    /// The charge equation.
    pub charge: Charge,
    /// The potential the leak relaxes to (`V_reset` for hard resets, else 0).
    pub rest: f32,
    /// `V_th`.
    pub threshold: f32,
    /// The reset.
    pub reset: ResetMode,
    /// `V_reset` (hard resets).
    pub reset_value: f32,
    /// No gradient through the spike inside the reset.
    pub detach_reset: bool,
    /// `≥` or `>` at the threshold.
    pub fire: FireCondition,
    /// The surrogate derivative of the backward pass.
    pub surrogate: Surrogate,
    /// Immediate or delayed reset.
    pub timing: ResetTiming,
    /// The forward's first output also holds the membrane trace: `[2T, N]` (spikes, then
    /// membrane) instead of the spikes `[T, N]`.
    pub with_membrane: bool,
    /// The forward's second output is `H[t]`, `[T, N]`, for the backward; otherwise a `[1, 1]`
    /// placeholder. Set by the autodiff backend when the op is tracked; a backend that
    /// recomputes `H[t]` (flex) returns the placeholder anyway.
    pub save_h: bool,
}

impl FusedSpec {
    /// The spec of a neuron with this charge and base config.
    pub fn new(charge: Charge, base: &NeuronBaseConfig, with_membrane: bool) -> Self {
        let rest = match base.reset {
            ResetMode::Hard => base.reset_value as f32,
            _ => 0.0,
        };
        Self {
            charge,
            rest,
            threshold: base.threshold as f32,
            reset: base.reset,
            reset_value: base.reset_value as f32,
            detach_reset: base.detach_reset,
            fire: base.fire_condition,
            surrogate: base.surrogate,
            timing: base.reset_timing,
            with_membrane,
            save_h: false,
        }
    }

    /// Rows of the forward's first output per time step: 1 (spikes) or 2 (and membrane).
    pub fn out_rows(&self) -> usize {
        if self.with_membrane {
            2
        } else {
            1
        }
    }

    /// Rows of the backward's second output `[rows, N]`: `∂L/∂V₀` and `∂L/∂S₀` when a start
    /// state was given, then the per-neuron partial sums of `∂L/∂k` for PLIF; at least 1.
    pub fn aux_rows(&self, given: bool) -> usize {
        let rows = 2 * given as usize + matches!(self.charge, Charge::Learned { .. }) as usize;
        rows.max(1)
    }

    /// The surrogate derivative `σ'(z)` in f32.
    #[inline(always)]
    pub fn surrogate_derivative(&self, z: f32) -> f32 {
        match self.surrogate {
            Surrogate::ATan { alpha } => {
                let alpha = alpha as f32;
                let u = core::f32::consts::FRAC_PI_2 * alpha * z;
                alpha / 2.0 / (1.0 + u * u)
            }
            Surrogate::Sigmoid { alpha } => {
                let alpha = alpha as f32;
                let s = 1.0 / (1.0 + (-alpha * z).exp());
                alpha * s * (1.0 - s)
            }
            Surrogate::FastSigmoid { slope } => {
                let d = 1.0 + slope as f32 * z.abs();
                1.0 / (d * d)
            }
            Surrogate::PiecewiseQuadratic { alpha } => {
                let alpha = alpha as f32;
                if z.abs() <= 1.0 / alpha {
                    alpha - alpha * alpha * z.abs()
                } else {
                    0.0
                }
            }
            Surrogate::StraightThrough => 1.0,
        }
    }
}

#[cfg(any(feature = "fused-flex", feature = "fused-wgpu"))]
/// Whether a fused kernel exists for `x`: an f32 tensor on a backend whose kernel this build
/// has (`fused-flex`: flex; `fused-wgpu`: the CubeCL backends, WGPU among them).
pub fn supports<const D: usize>(x: &Tensor<D>) -> bool {
    if x.dtype() != DType::F32 {
        return false;
    }
    let device = x.device().inner();
    #[allow(unreachable_patterns)]
    match device.as_dispatch() {
        #[cfg(feature = "fused-flex")]
        burn::backend::DispatchDevice::Flex(_) => true,
        #[cfg(feature = "fused-wgpu")]
        burn::backend::DispatchDevice::Cube(_) => true,
        _ => false,
    }
}

#[cfg(any(feature = "fused-flex", feature = "fused-wgpu"))]
/// Runs the fused op on `x: [T, N]` from `start` (each `[1, N]`) or a fresh state; `k` is
/// PLIF's `[1]` gain. Returns the first output: spikes `[T, N]`, or spikes and membrane
/// `[2T, N]` with `with_membrane`.
pub(crate) fn run(x: Tensor<2>, start: Option<NeuronState<2>>, k: Option<Tensor<1>>, spec: FusedSpec) -> Tensor<2> {
    let start = match start {
        None => StartState::Fresh,
        Some(s) => StartState::Given { v: s.v.into_dispatch(), s: s.spike.into_dispatch() },
    };
    let gain = match k {
        None => LeakGain::Fixed,
        Some(k) => LeakGain::Learned(k.into_dispatch()),
    };
    let (out, _h) = <burn::backend::Dispatch as FusedNeuronOps>::neuron_multi_forward(x.into_dispatch(), start, gain, spec);
    Tensor::from_dispatch(out)
}
