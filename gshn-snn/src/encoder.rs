//! Spike encoders: turn a static input `[…]` into a spike train or current `[T, …]`.

use burn::config::Config;
use burn::tensor::{Tensor, TensorData};

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
