//! Surrogate gradients: an exact Heaviside step forward, a smooth derivative backward.
//!
//! Every surrogate is applied in the straight-through form measured to work on every Burn
//! backend (flex, ndarray, wgpu-Vulkan and wgpu-GL; `tests/surrogate_gradients.rs`):
//!
//! ```text
//! spike(x) = Θ(x).detach() + (s(x) − s(x).detach())
//! ```
//!
//! where `x = v − V_th`, `Θ` is the Heaviside step and `s` is a primitive of the surrogate
//! derivative `s'`. The value is exactly 0 or 1 (the two `s` terms cancel exactly) and the
//! gradient is exactly `s'(x)`.

use burn::tensor::{activation, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::check;

/// Which side of the threshold counts as a spike.
///
/// The peers differ: SpikingJelly fires at `v − V_th ≥ 0`, snnTorch at `v − V_th > 0`.
/// At exactly the threshold the two give different spikes, so the choice is explicit.
/// In config files: `"greater-equal"` or `"greater"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
///
/// In config files a surrogate is its name with the peer default (`surrogate = "sigmoid"`) or
/// a one-key table with its parameter (`surrogate = { sigmoid = { alpha = 4.0 } }`); names:
/// `atan`, `sigmoid`, `fast-sigmoid`, `piecewise-quadratic`, `straight-through`.
#[derive(Debug, Clone, Copy, PartialEq)]
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

    /// Every config name, in declaration order.
    pub const NAMES: [&'static str; 5] = ["atan", "sigmoid", "fast-sigmoid", "piecewise-quadratic", "straight-through"];

    /// The surrogate called `name` in config files (see [`Surrogate::NAMES`]) with its peer
    /// default parameter.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "atan" => Self::atan(),
            "sigmoid" => Self::sigmoid(),
            "fast-sigmoid" => Self::fast_sigmoid(),
            "piecewise-quadratic" => Self::piecewise_quadratic(),
            "straight-through" => Surrogate::StraightThrough,
            _ => return None,
        })
    }

    /// The config name (one of [`Surrogate::NAMES`]).
    pub fn config_name(&self) -> &'static str {
        match self {
            Surrogate::ATan { .. } => "atan",
            Surrogate::Sigmoid { .. } => "sigmoid",
            Surrogate::FastSigmoid { .. } => "fast-sigmoid",
            Surrogate::PiecewiseQuadratic { .. } => "piecewise-quadratic",
            Surrogate::StraightThrough => "straight-through",
        }
    }

    /// The sharpness parameter's name and value (`alpha`, or `slope` for the fast sigmoid).
    pub fn parameter(&self) -> Option<(&'static str, f64)> {
        match *self {
            Surrogate::ATan { alpha } | Surrogate::Sigmoid { alpha } | Surrogate::PiecewiseQuadratic { alpha } => Some(("alpha", alpha)),
            Surrogate::FastSigmoid { slope } => Some(("slope", slope)),
            Surrogate::StraightThrough => None,
        }
    }

    /// This surrogate with its sharpness parameter set to `value` (no change for the
    /// straight-through estimator).
    pub fn with_parameter(self, value: f64) -> Self {
        match self {
            Surrogate::ATan { .. } => Surrogate::ATan { alpha: value },
            Surrogate::Sigmoid { .. } => Surrogate::Sigmoid { alpha: value },
            Surrogate::FastSigmoid { .. } => Surrogate::FastSigmoid { slope: value },
            Surrogate::PiecewiseQuadratic { .. } => Surrogate::PiecewiseQuadratic { alpha: value },
            Surrogate::StraightThrough => Surrogate::StraightThrough,
        }
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
            Surrogate::ATan { alpha } | Surrogate::Sigmoid { alpha } | Surrogate::PiecewiseQuadratic { alpha } => {
                check("surrogate.alpha", alpha, |a| a > 0.0, "must be finite and > 0")
            }
            Surrogate::FastSigmoid { slope } => check("surrogate.slope", slope, |k| k > 0.0, "must be finite and > 0"),
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

impl Serialize for Surrogate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.parameter() {
            None => serializer.serialize_str(self.config_name()),
            Some((key, value)) => {
                let mut inner = std::collections::BTreeMap::new();
                inner.insert(key, value);
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(self.config_name(), &inner)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Surrogate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(crate::config_serde::TaggedVisitor::<Surrogate>::new())
    }
}

impl crate::config_serde::Tagged for Surrogate {
    const WHAT: &'static str = "surrogate";
    const NAMES: &'static [&'static str] = &Surrogate::NAMES;

    fn by_name(name: &str) -> Option<Self> {
        Self::from_name(name)
    }

    fn with_fields<'de, A: serde::de::MapAccess<'de>>(name: &str, map: &mut A) -> Result<Self, A::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Alpha {
            alpha: Option<f64>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Slope {
            slope: Option<f64>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Nothing {}
        let default = Self::from_name(name).expect("checked by the visitor");
        Ok(match default {
            Surrogate::FastSigmoid { .. } => map.next_value::<Slope>()?.slope.map_or(default, |v| default.with_parameter(v)),
            Surrogate::StraightThrough => {
                map.next_value::<Nothing>()?;
                default
            }
            _ => map.next_value::<Alpha>()?.alpha.map_or(default, |v| default.with_parameter(v)),
        })
    }
}
