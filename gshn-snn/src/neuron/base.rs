//! The part every neuron shares: threshold, fire condition, surrogate, reset.
//!
//! A neuron step follows SpikingJelly's three equations (Fang et al. 2021):
//!
//! ```text
//! H[t] = f(V[t−1], X[t])            charge   (neuron-specific)
//! S[t] = Θ(H[t] − V_th)             fire     (surrogate gradient backward)
//! V[t] = reset(H[t], S[t])          reset
//! ```
//!
//! with `reset` one of hard `V = H·(1 − S) + V_reset·S`, soft `V = H − V_th·S`, or none.
//! snnTorch applies the reset one step later, to the next charge ([`ResetTiming::Delayed`]):
//! `M[t] = reset(f(M[t−1], X[t]), S[t−1])`, `S[t] = Θ(M[t] − V_th)`.

use burn::tensor::{Device, Shape, Tensor};
use serde::{Deserialize, Serialize};

use crate::config_serde::builders;
use crate::error::{check, SnnError};
use crate::fused::Charge;
use crate::surrogate::{FireCondition, Surrogate};

/// How the membrane is reset after a spike. In config files: `"hard"`, `"soft"`, `"none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResetMode {
    /// Hard reset to `reset_value`: `V = H·(1 − S) + V_reset·S` (SpikingJelly `v_reset=0.`).
    Hard,
    /// Soft reset by subtraction: `V = H − V_th·S` (SpikingJelly `v_reset=None`, snnTorch `"subtract"`).
    Soft,
    /// No reset: `V = H` (snnTorch `"none"`).
    None,
}

/// When the reset is applied. In config files: `"immediate"`, `"delayed"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResetTiming {
    /// In the step that spiked, before the membrane is stored (SpikingJelly). Our default.
    Immediate,
    /// At the next step (snnTorch's `reset_delay=True`): a subtraction after that step's
    /// charge, a reset to a value before it. The reported membrane is then the value that
    /// was compared with the threshold.
    Delayed,
}

/// Settings shared by every neuron model. In config files these fields sit in the neuron's
/// own table (`[neuron.lif]` `threshold = 1.0`), each optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NeuronBaseConfig {
    /// Firing threshold `V_th`. Default 1.0 (both peers).
    pub threshold: f64,
    /// Reset after a spike. Default hard (SpikingJelly; our default, docs/paper-map.md).
    pub reset: ResetMode,
    /// `V_reset` for hard resets; also the initial membrane value. Default 0.0.
    pub reset_value: f64,
    /// Detach the spike used in the reset from the graph. Default false (SpikingJelly;
    /// snnTorch always detaches).
    pub detach_reset: bool,
    /// `≥` or `>` at the threshold. Default `≥` (SpikingJelly).
    pub fire_condition: FireCondition,
    /// Surrogate derivative. Default ATan, α = 2 (both peers).
    pub surrogate: Surrogate,
    /// Reset in the same step (SpikingJelly, default) or delayed to the next (snnTorch).
    pub reset_timing: ResetTiming,
    /// Run multi-step inputs through the fused kernel (one autodiff op for all `T` steps,
    /// [`crate::fused`]) where this build has one for the backend (gshn-snn features
    /// `fused-flex`, `fused-wgpu`). Default true; false always runs the per-step ops.
    pub fused: bool,
}

impl Default for NeuronBaseConfig {
    fn default() -> Self {
        Self {
            threshold: 1.0,
            reset: ResetMode::Hard,
            reset_value: 0.0,
            detach_reset: false,
            fire_condition: FireCondition::GreaterEqual,
            surrogate: Surrogate::ATan { alpha: 2.0 },
            reset_timing: ResetTiming::Immediate,
            fused: true,
        }
    }
}

impl burn::config::Config for NeuronBaseConfig {}

builders!(NeuronBaseConfig {
    with_threshold => threshold: f64,
    with_reset => reset: ResetMode,
    with_reset_value => reset_value: f64,
    with_detach_reset => detach_reset: bool,
    with_fire_condition => fire_condition: FireCondition,
    with_surrogate => surrogate: Surrogate,
    with_reset_timing => reset_timing: ResetTiming,
    with_fused => fused: bool,
});

impl NeuronBaseConfig {
    /// The defaults: `V_th = 1`, hard reset to 0 in the same step, `≥`, ATan α = 2.
    pub fn new() -> Self {
        Self::default()
    }

    /// snnTorch's conventions: `>` at the threshold, subtract reset delayed one step, detached.
    pub fn snntorch() -> Self {
        Self::new().with_fire_condition(FireCondition::Greater).with_reset(ResetMode::Soft).with_reset_timing(ResetTiming::Delayed).with_detach_reset(true)
    }

    /// Checks every field.
    pub fn validate(&self) -> crate::Result<()> {
        check("threshold", self.threshold, |_| true, "must be finite")?;
        check("reset_value", self.reset_value, |_| true, "must be finite")?;
        if self.reset == ResetMode::Hard && self.reset_value >= self.threshold {
            return Err(SnnError::InvalidParameter { name: "reset_value", value: self.reset_value, reason: "a hard reset value must lie below the threshold" });
        }
        self.surrogate.validate()
    }
}

/// The state a neuron carries from one time step to the next.
///
/// Passed in and returned explicitly: there is no hidden state to reset between batches.
#[derive(Debug, Clone)]
pub struct NeuronState<const D: usize> {
    /// Membrane potential `V[t]` (after the reset for [`ResetTiming::Immediate`]).
    pub v: Tensor<D>,
    /// Spikes of the last step, `S[t]` (used by [`ResetTiming::Delayed`]).
    pub spike: Tensor<D>,
}

/// The result of a multi-step run over a leading time axis `[T, …]`.
#[derive(Debug, Clone)]
pub struct MultiStepOutput<const D: usize> {
    /// Spikes `S[t]`, exactly 0 or 1, shape `[T, …]`.
    pub spikes: Tensor<D>,
    /// Membrane trace, shape `[T, …]`: `V[t]` after the reset (SpikingJelly's `v_seq`), or
    /// for delayed resets the value compared with the threshold (snnTorch's `mem`).
    pub membrane: Tensor<D>,
    /// The state after the last step, to continue the run.
    pub state: NeuronState<2>,
}

/// The shared machinery: fire and reset, given a neuron's charge equation.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronBase {
    /// The validated settings.
    pub config: NeuronBaseConfig,
}

impl NeuronBase {
    /// Validates the config and builds the base.
    pub fn new(config: &NeuronBaseConfig) -> crate::Result<Self> {
        config.validate()?;
        Ok(Self { config: config.clone() })
    }

    /// The membrane value a fresh neuron starts from: `V_reset` for hard resets, else 0.
    pub fn initial_v(&self) -> f64 {
        match self.config.reset {
            ResetMode::Hard => self.config.reset_value,
            _ => 0.0,
        }
    }

    /// A fresh state of the given shape.
    pub fn init_state<const D: usize>(&self, shape: impl Into<Shape>, device: &Device) -> NeuronState<D> {
        let shape = shape.into();
        NeuronState { v: Tensor::<D>::full(shape.clone(), self.initial_v(), device), spike: Tensor::<D>::zeros(shape, device) }
    }

    /// `S = Θ(H − V_th)` with the surrogate gradient.
    pub fn fire<const D: usize>(&self, h: Tensor<D>) -> Tensor<D> {
        self.config.surrogate.spike(h.sub_scalar(self.config.threshold), self.config.fire_condition)
    }

    /// Applies the reset to `h` given spikes `s` (detached first if `detach_reset`).
    pub fn reset<const D: usize>(&self, h: Tensor<D>, s: Tensor<D>) -> Tensor<D> {
        let s = if self.config.detach_reset { s.detach() } else { s };
        match self.config.reset {
            ResetMode::Hard => {
                let keep = s.clone().neg().add_scalar(1.0);
                h.mul(keep).add(s.mul_scalar(self.config.reset_value))
            }
            ResetMode::Soft => h.sub(s.mul_scalar(self.config.threshold)),
            ResetMode::None => h,
        }
    }

    /// One step, given the neuron's charge `H[t] = f(V[t−1], X[t])` as a closure.
    /// Returns the spikes, the membrane value to report and the next state.
    pub fn step<const D: usize>(&self, state: NeuronState<D>, charge: impl FnOnce(Tensor<D>) -> Tensor<D>) -> (Tensor<D>, Tensor<D>, NeuronState<D>) {
        match self.config.reset_timing {
            ResetTiming::Immediate => {
                let h = charge(state.v);
                let s = self.fire(h.clone());
                let v = self.reset(h, s.clone());
                (s.clone(), v.clone(), NeuronState { v, spike: s })
            }
            ResetTiming::Delayed => {
                // snnTorch: a reset to a value clears the membrane before the charge
                // (`mem = (1 − reset)·mem`, then `β·mem + x`); a subtraction comes after it
                // (`β·mem + x − reset·V_th`).
                let m = match self.config.reset {
                    ResetMode::Hard => charge(self.reset(state.v, state.spike)),
                    _ => self.reset(charge(state.v), state.spike),
                };
                let s = self.fire(m.clone());
                (s.clone(), m.clone(), NeuronState { v: m, spike: s })
            }
        }
    }
}

/// A spiking neuron model: a charge equation on top of [`NeuronBase`].
///
/// Single-step use passes the state in and gets it back; multi-step use runs over a leading
/// time axis `[T, …]` of any rank ≥ 2.
pub trait SpikingNeuron {
    /// The shared fire/reset machinery.
    fn base(&self) -> &NeuronBase;

    /// The charge equation `H[t] = f(V[t−1], X[t])`.
    fn charge<const D: usize>(&self, v: Tensor<D>, x: Tensor<D>) -> Tensor<D>;

    /// The same charge equation as data for the fused multi-step kernel, with PLIF's gain
    /// `k = 1/τ` (`[1]`). `None` (the default, for models the kernel does not know) always
    /// runs the per-step path.
    fn fused_charge(&self) -> Option<(Charge, Option<Tensor<1>>)> {
        None
    }

    /// A fresh state for inputs of `shape` (one time step).
    fn init_state<const D: usize>(&self, shape: impl Into<Shape>, device: &Device) -> NeuronState<D> {
        self.base().init_state(shape, device)
    }

    /// One time step: returns the spikes `S[t]` and the next state.
    fn step<const D: usize>(&self, x: Tensor<D>, state: NeuronState<D>) -> crate::Result<(Tensor<D>, NeuronState<D>)> {
        if x.dims() != state.v.dims() {
            return Err(SnnError::ShapeMismatch(format!("input {:?} does not match the state {:?}", x.dims(), state.v.dims())));
        }
        let (s, _, next) = self.base().step(state, |v| self.charge(v, x));
        Ok((s, next))
    }

    /// Multi-step spikes for an input `[T, …]` from a fresh state. Runs the fused kernel
    /// where there is one (see [`NeuronBaseConfig::fused`]), else the per-step ops.
    fn forward<const D: usize>(&self, x: Tensor<D>) -> crate::Result<Tensor<D>> {
        let dims = x.dims();
        let (t, n) = multi_step_dims(&dims)?;
        match fused_run(self, x.clone().reshape([t, n]), None, false) {
            Some(spikes) => Ok(spikes.reshape(dims)),
            None => Ok(self.forward_unfused(x, None)?.spikes),
        }
    }

    /// Multi-step run over `[T, …]`, from `state` (flattened to `[1, N]`) or a fresh one;
    /// returns spikes, the membrane trace and the final state. Runs the fused kernel where
    /// there is one (see [`NeuronBaseConfig::fused`]), else the per-step ops.
    fn forward_multi<const D: usize>(&self, x: Tensor<D>, state: Option<NeuronState<2>>) -> crate::Result<MultiStepOutput<D>> {
        let dims = x.dims();
        let (t, n) = multi_step_dims(&dims)?;
        if let Some(s) = &state {
            check_state(s, n)?;
        }
        let Some(out) = fused_run(self, x.clone().reshape([t, n]), state.clone(), true) else {
            return self.forward_unfused(x, state);
        };
        let spikes = out.clone().narrow(0, 0, t);
        let membrane = out.narrow(0, t, t);
        let state = NeuronState { v: membrane.clone().narrow(0, t - 1, 1), spike: spikes.clone().narrow(0, t - 1, 1) };
        Ok(MultiStepOutput { spikes: spikes.reshape(dims), membrane: membrane.reshape(dims), state })
    }

    /// [`SpikingNeuron::forward_multi`] through the per-step ops (about 17 tensor ops and
    /// autodiff nodes per step), whatever the config and backend: the reference the fused
    /// kernel is checked against.
    fn forward_unfused<const D: usize>(&self, x: Tensor<D>, state: Option<NeuronState<2>>) -> crate::Result<MultiStepOutput<D>> {
        let dims = x.dims();
        let (t, n) = multi_step_dims(&dims)?;
        let flat: Tensor<2> = x.reshape([t, n]);
        let mut state = match state {
            Some(s) => {
                check_state(&s, n)?;
                s
            }
            None => self.init_state::<2>([1, n], &flat.device()),
        };
        let mut spikes = Vec::with_capacity(t);
        let mut trace = Vec::with_capacity(t);
        for (i, xt) in flat.chunk(t, 0).into_iter().enumerate() {
            debug_assert_eq!(xt.dims(), [1, n], "time step {i}");
            let (s, v, next) = self.base().step(state, |v| self.charge(v, xt));
            spikes.push(s);
            trace.push(v);
            state = next;
        }
        Ok(MultiStepOutput { spikes: Tensor::cat(spikes, 0).reshape(dims), membrane: Tensor::cat(trace, 0).reshape(dims), state })
    }
}

/// `(T, N)` of a multi-step input `[T, …]`, or why it is not one.
fn multi_step_dims(dims: &[usize]) -> crate::Result<(usize, usize)> {
    if dims.len() < 2 {
        return Err(SnnError::ShapeMismatch(format!("multi-step input needs a leading time axis and at least one more, got {dims:?}")));
    }
    let t = dims[0];
    if t == 0 {
        return Err(SnnError::ZeroTimeSteps);
    }
    Ok((t, dims[1..].iter().product()))
}

fn check_state(state: &NeuronState<2>, n: usize) -> crate::Result<()> {
    if state.v.dims() != [1, n] || state.spike.dims() != [1, n] {
        return Err(SnnError::ShapeMismatch(format!("state {:?} does not match the per-step input [1, {n}]", state.v.dims())));
    }
    Ok(())
}

/// The fused op's first output for `x: [T, N]` (spikes, or spikes and membrane `[2T, N]`), or
/// `None` where the neuron, its config, the backend or the dtype has no fused kernel.
#[allow(unused_variables)]
fn fused_run<N: SpikingNeuron + ?Sized>(neuron: &N, x: Tensor<2>, state: Option<NeuronState<2>>, with_membrane: bool) -> Option<Tensor<2>> {
    #[cfg(any(feature = "fused-flex", feature = "fused-wgpu"))]
    {
        let config = &neuron.base().config;
        if !config.fused || !crate::fused::supports(&x) {
            return None;
        }
        let (charge, k) = neuron.fused_charge()?;
        let spec = crate::fused::FusedSpec::new(charge, config, with_membrane);
        Some(crate::fused::run(x, state, k, spec))
    }
    #[cfg(not(any(feature = "fused-flex", feature = "fused-wgpu")))]
    None
}
