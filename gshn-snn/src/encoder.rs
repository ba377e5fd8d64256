//! Spike encoders: turn a static input `[…]` into a spike train or current `[T, …]`.
//!
//! Two families. [`Encoder`] codes data as SpikingJelly's and snnTorch's encoders do (inputs
//! read as intensities in `[0, 1]`, no gradient). The `*_straight_through` functions and
//! [`learned_temporal`] code *features inside a trained network* (the GSHN spiking branch calls
//! them): a sigmoid maps any real feature to a probability or a latency, and the spikes pass
//! the sigmoid's gradient straight through, so the layers before the encoder learn.

use burn::config::Config;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Distribution, Tensor, TensorData};

use crate::error::SnnError;
use crate::rng::SeedRng;

/// Latency code: how intensity maps to the time of the single spike.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum LatencyMode {
    /// `t_f = round((T − 1)·(1 − x))` (SpikingJelly `LatencyEncoder('linear')`).
    Linear,
    /// `t_f = round((T − 1) − ln(α·x + 1))`, `α = e^{T−1} − 1` (SpikingJelly `'log'`).
    Log,
}

/// How a static input becomes `T` steps of input.
#[derive(Config, Debug, Copy, PartialEq)]
pub enum Encoding {
    /// Direct (constant-current) coding: the input itself at every step. Our default (docs/paper-map.md).
    Direct,
    /// Rate coding: at each step a spike with probability `clamp(x, 0, 1)` (Bernoulli).
    Rate,
    /// Latency (time-to-first-spike) coding of `clamp(x, 0, 1)`: one spike, earlier for larger x.
    Latency(LatencyMode),
}

/// Encoder configuration.
#[derive(Config, Debug, PartialEq)]
pub struct EncoderConfig {
    /// Number of time steps T ≥ 1. Default 4 (docs/paper-map.md).
    #[config(default = 4)]
    pub time_steps: usize,
    /// The code. Default direct.
    #[config(default = "Encoding::Direct")]
    pub encoding: Encoding,
}

impl EncoderConfig {
    /// Validates the config and builds the encoder.
    pub fn init(&self) -> crate::Result<Encoder> {
        if self.time_steps == 0 {
            return Err(SnnError::ZeroTimeSteps);
        }
        Ok(Encoder { time_steps: self.time_steps, encoding: self.encoding })
    }
}

/// A validated encoder (no parameters).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Encoder {
    /// T.
    pub time_steps: usize,
    /// The code.
    pub encoding: Encoding,
}

impl Encoder {
    /// Encodes `x` of rank D into `[T, …]` of rank `D2 = D + 1`. Rate coding draws its
    /// Bernoulli noise from `rng` on the host, so a seed repeats bit for bit on every backend.
    pub fn encode<const D: usize, const D2: usize>(&self, x: Tensor<D>, rng: &mut SeedRng) -> crate::Result<Tensor<D2>> {
        if D2 != D + 1 {
            return Err(SnnError::ShapeMismatch(format!("an encoder adds one leading time axis: rank {D} in needs rank {} out, not {D2}", D + 1)));
        }
        let t = self.time_steps;
        let repeated = || x.clone().unsqueeze_dim::<D2>(0).repeat_dim(0, t);
        Ok(match self.encoding {
            Encoding::Direct => repeated(),
            Encoding::Rate => {
                let p = repeated().clamp(0.0, 1.0);
                let shape = p.shape();
                let u: Vec<f32> = (0..shape.num_elements()).map(|_| rng.next_f32()).collect();
                let u = Tensor::<D2>::from_data(TensorData::new(u, shape), &p.device());
                u.lower(p).float()
            }
            Encoding::Latency(mode) => {
                let x = x.detach().clamp(0.0, 1.0);
                let last = (t - 1) as f64;
                let tf = match mode {
                    LatencyMode::Linear => x.neg().add_scalar(1.0).mul_scalar(last),
                    LatencyMode::Log => {
                        let alpha = last.exp() - 1.0;
                        x.mul_scalar(alpha).add_scalar(1.0).log().neg().add_scalar(last)
                    }
                }
                .round();
                let steps: Vec<Tensor<D>> = (0..t).map(|i| tf.clone().equal_elem(i as f32).float()).collect();
                Tensor::stack(steps, 0)
            }
        })
    }
}

fn check_steps(time_steps: usize) -> crate::Result<()> {
    if time_steps == 0 {
        return Err(SnnError::ZeroTimeSteps);
    }
    Ok(())
}

/// `x` `[N, F]` repeated over `t` steps, `[T, N, F]`.
fn repeat_steps(x: Tensor<2>, t: usize) -> Tensor<3> {
    let [n, f] = x.dims();
    x.unsqueeze_dim::<3>(0).expand([t, n, f])
}

/// Rate coding with a straight-through gradient, `[N, F] → [T, N, F]`: `p = σ(x)` and
/// `s_t = [u_t < p]` with `u_t ~ U(0, 1)` drawn from the device's seeded stream; the forward
/// value is the spikes, the gradient `∂s_t/∂x = σ'(x)` (the spikes' expectation's).
pub fn rate_straight_through(x: Tensor<2>, time_steps: usize) -> crate::Result<Tensor<3>> {
    check_steps(time_steps)?;
    let [n, f] = x.dims();
    let p = sigmoid(x);
    let u = Tensor::<3>::random([time_steps, n, f], Distribution::Uniform(0.0, 1.0), &p.device());
    let s = u.lower(repeat_steps(p.clone().detach(), time_steps)).float();
    Ok(s.add(repeat_steps(p.clone().sub(p.detach()), time_steps)))
}

/// Latency coding with a straight-through gradient, `[N, F] → [T, N, F]`: one spike per
/// feature at step `⌊(1 − σ(x))·T⌋` (the last step for `σ(x) → 0`), so stronger features fire
/// earlier; the gradient `σ'(x)` passes to every step.
pub fn latency_straight_through(x: Tensor<2>, time_steps: usize) -> crate::Result<Tensor<3>> {
    check_steps(time_steps)?;
    let t = time_steps;
    let p = sigmoid(x);
    let at = p.clone().detach().neg().add_scalar(1.0).mul_scalar(t as f64).floor().clamp(0.0, (t - 1) as f64);
    let one_hot: Vec<Tensor<2>> = (0..t).map(|k| at.clone().equal_elem(k as f64).float()).collect();
    let s = Tensor::stack::<3>(one_hot, 0);
    Ok(s.add(repeat_steps(p.clone().sub(p.detach()), t)))
}

/// A learned temporal encoding, `[N, F] → [T, N, F]`: `x ⊙ (1 + g_t) + b_t` with
/// `gain_bias = [g; b]` of shape `[2, T, F]` (trained; zero gives direct coding).
pub fn learned_temporal(x: Tensor<2>, gain_bias: Tensor<3>) -> crate::Result<Tensor<3>> {
    let [two, t, f] = gain_bias.dims();
    let [_, d] = x.dims();
    if two != 2 || f != d {
        return Err(SnnError::ShapeMismatch(format!("a learned encoding of {d} features needs gains and biases [2, T, {d}], got [{two}, {t}, {f}]")));
    }
    check_steps(t)?;
    let g = gain_bias.clone().narrow(0, 0, 1).reshape([t, 1, d]);
    let b = gain_bias.narrow(0, 1, 1).reshape([t, 1, d]);
    Ok(repeat_steps(x, t).mul(g.add_scalar(1.0)).add(b))
}
