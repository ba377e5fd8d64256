//! Surrogate gradients: an exact Heaviside step forward, a smooth derivative backward.
//!
//! Every surrogate is applied in the straight-through form measured to work on every Burn
//! backend (`BURN-NOTES.md`):
//!
//! ```text
//! spike(x) = Θ(x).detach() + (s(x) − s(x).detach())
//! ```
//!
//! where `x = v − V_th`, `Θ` is the Heaviside step and `s` is a primitive of the surrogate
//! derivative `s'`. The value is exactly 0 or 1 (the two `s` terms cancel exactly) and the
//! gradient is exactly `s'(x)`.

use burn::config::Config;
use burn::tensor::{activation, Tensor};

use crate::error::check;

/// Which side of the threshold counts as a spike.
///
/// The peers differ: SpikingJelly fires at `v − V_th ≥ 0`, snnTorch at `v − V_th > 0`.
/// At exactly the threshold the two give different spikes, so the choice is explicit.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum FireCondition {
    /// Fire when `v ≥ V_th` (SpikingJelly's `heaviside`: `(x >= 0)`). Our default.
    GreaterEqual,
    /// Fire when `v > V_th` (snnTorch's surrogates: `(x > 0)`).
    Greater,
}

impl FireCondition {
    /// The Heaviside step `Θ(x)` under this condition, as 0/1 floats (no gradient).
    pub fn heaviside<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            FireCondition::GreaterEqual => x.greater_equal_elem(0.0).float(),
            FireCondition::Greater => x.greater_elem(0.0).float(),
        }
    }

    /// The step on one value, for tests and reference implementations.
    pub fn heaviside_scalar(&self, x: f64) -> f64 {
        let fire = match self {
            FireCondition::GreaterEqual => x >= 0.0,
            FireCondition::Greater => x > 0.0,
        };
        if fire {
            1.0
        } else {
            0.0
        }
    }
}

/// A surrogate derivative for the Heaviside spike function.
///
/// Defaults and formulas follow the peers named in each variant; `x = v − V_th`.
#[derive(Config, Debug, Copy, PartialEq)]
pub enum Surrogate {
    /// Arctangent (Fang et al. 2021; SpikingJelly `surrogate.ATan`, snnTorch `surrogate.atan`).
    /// `s(x) = atan(π/2·α·x)/π + ½`, `s'(x) = (α/2) / (1 + (π/2·α·x)²)`. Default α = 2.
    ATan {
        /// Sharpness α (> 0). Peer default: 2.
        alpha: f64,
    },
    /// Logistic sigmoid (SpikingJelly `surrogate.Sigmoid`).
    /// `s(x) = σ(αx)`, `s'(x) = α·σ(αx)·(1 − σ(αx))`. Default α = 4.
    Sigmoid {
        /// Sharpness α (> 0). SpikingJelly default: 4 (snnTorch's `sigmoid` uses slope 25).
        alpha: f64,
    },
    /// Fast sigmoid / SuperSpike (Zenke & Ganguli 2018; snnTorch `surrogate.fast_sigmoid`).
    /// `s(x) = x / (1 + k|x|)`, `s'(x) = 1 / (1 + k|x|)²`. Default slope k = 25.
    FastSigmoid {
        /// Slope k (> 0). snnTorch default: 25.
        slope: f64,
    },
    /// Piecewise quadratic (Esser et al. 2016; SpikingJelly `surrogate.PiecewiseQuadratic`).
    /// `s'(x) = α − α²|x|` for `|x| ≤ 1/α`, else 0 (a triangle of height α and half-width 1/α).
    /// Default α = 1.
    PiecewiseQuadratic {
        /// Sharpness α (> 0). SpikingJelly default: 1.
        alpha: f64,
    },
    /// Straight-through estimator (Bengio et al. 2013): `s'(x) = 1` everywhere.
    StraightThrough,
}

impl Default for Surrogate {
    fn default() -> Self {
        Surrogate::ATan { alpha: 2.0 }
    }
}

impl Surrogate {
    /// ATan with the peers' default α = 2.
    pub const fn atan() -> Self {
        Surrogate::ATan { alpha: 2.0 }
    }
    /// Sigmoid with SpikingJelly's default α = 4.
    pub const fn sigmoid() -> Self {
        Surrogate::Sigmoid { alpha: 4.0 }
    }
    /// Fast sigmoid with snnTorch's default slope 25.
    pub const fn fast_sigmoid() -> Self {
        Surrogate::FastSigmoid { slope: 25.0 }
    }
    /// Piecewise quadratic with SpikingJelly's default α = 1.
    pub const fn piecewise_quadratic() -> Self {
        Surrogate::PiecewiseQuadratic { alpha: 1.0 }
    }

    /// Short name, for tables and file names.
    pub fn name(&self) -> &'static str {
        match self {
            Surrogate::ATan { .. } => "atan",
            Surrogate::Sigmoid { .. } => "sigmoid",
            Surrogate::FastSigmoid { .. } => "fast_sigmoid",
            Surrogate::PiecewiseQuadratic { .. } => "piecewise_quadratic",
            Surrogate::StraightThrough => "straight_through",
        }
    }

    /// Checks the sharpness parameter (finite and > 0).
    pub fn validate(&self) -> crate::Result<()> {
        match *self {
            Surrogate::ATan { alpha }
            | Surrogate::Sigmoid { alpha }
            | Surrogate::PiecewiseQuadratic { alpha } => {
                check("surrogate.alpha", alpha, |a| a > 0.0, "must be finite and > 0")
            }
            Surrogate::FastSigmoid { slope } => {
                check("surrogate.slope", slope, |k| k > 0.0, "must be finite and > 0")
            }
            Surrogate::StraightThrough => Ok(()),
        }
    }

    /// The primitive `s(x)` whose derivative is the surrogate gradient.
    pub fn primitive<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        use core::f64::consts::PI;
        match *self {
            Surrogate::ATan { alpha } => x.mul_scalar(PI / 2.0 * alpha).atan().div_scalar(PI).add_scalar(0.5),
            Surrogate::Sigmoid { alpha } => activation::sigmoid(x.mul_scalar(alpha)),
            Surrogate::FastSigmoid { slope } => {
                let denom = x.clone().abs().mul_scalar(slope).add_scalar(1.0);
                x.div(denom)
            }
            Surrogate::PiecewiseQuadratic { alpha } => {
                let xc = x.clamp(-1.0 / alpha, 1.0 / alpha);
                let quad = xc.clone().abs().mul(xc.clone()).mul_scalar(-0.5 * alpha * alpha);
                quad.add(xc.mul_scalar(alpha)).add_scalar(0.5)
            }
            Surrogate::StraightThrough => x,
        }
    }

    /// The spike function: exactly `Θ(x)` forward, `s'(x)` backward (Eq. of the
    /// straight-through form in the module docs).
    pub fn spike<const D: usize>(&self, x: Tensor<D>, condition: FireCondition) -> Tensor<D> {
        let step = condition.heaviside(x.clone().detach());
        if !x.is_tracked() {
            return step;
        }
        let s = self.primitive(x);
        step.add(s.clone().sub(s.detach()))
    }

    /// The analytic surrogate derivative `s'(x)` on one value: the formula the gradient
    /// tests check Burn's autodiff against.
    pub fn derivative(&self, x: f64) -> f64 {
        use core::f64::consts::PI;
        match *self {
            Surrogate::ATan { alpha } => {
                let u = PI / 2.0 * alpha * x;
                alpha / 2.0 / (1.0 + u * u)
            }
            Surrogate::Sigmoid { alpha } => {
                let s = 1.0 / (1.0 + (-alpha * x).exp());
                alpha * s * (1.0 - s)
            }
            Surrogate::FastSigmoid { slope } => {
                let d = 1.0 + slope * x.abs();
                1.0 / (d * d)
            }
            Surrogate::PiecewiseQuadratic { alpha } => {
                if x.abs() <= 1.0 / alpha {
                    alpha - alpha * alpha * x.abs()
                } else {
                    0.0
                }
            }
            Surrogate::StraightThrough => 1.0,
        }
    }
}
