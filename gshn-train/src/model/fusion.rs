//! The fusion of the two branches, `V' = r·N(E_SNN) + N(F_GAT)` (the paper's
//! `V' = r·E_SNN + F_GAT` with each branch normalised first, so that `r` stays the branches'
//! relative weight: without `N`, the linear readout after the spiking layers can scale
//! `E_SNN` freely and absorb `r`). `r` is one learned scalar (the paper's), a learned weight
//! per channel, a learned convex weight `V' = σ(a)·N(E) + (1 − σ(a))·N(F)`, or a constant; or
//! one branch alone.
//!
//! `N(x) = (x − mean(x)) / √(var(x) + 1e-5)` per node, with no learned scale.

use burn::module::{Module, Param};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// The fusion weight and which branches are fused.
#[derive(Module, Debug)]
pub struct Fusion {
    /// `r` (`[1]` or `[d_model]`), or the convex weight's logit `a` (`[1]`).
    pub r: Param<Tensor<1>>,
    /// Whether `r` is trained.
    pub learned: bool,
    /// Whether `r` is a convex weight `σ(a)`.
    pub convex: bool,
    /// Whether each branch is normalised before fusing.
    pub normalize: bool,
    /// Which branches.
    #[module(skip)]
    pub branches: Branches,
}

/// `N(x)`: each row to zero mean and unit variance, no learned scale.
pub fn normalize_rows(x: Tensor<2>) -> Tensor<2> {
    let mean = x.clone().mean_dim(1);
    let centred = x.sub(mean);
    let var = centred.clone().powf_scalar(2.0).mean_dim(1);
    centred.div(var.add_scalar(1e-5).sqrt())
}

impl Fusion {
    /// `V'` from the branches that run (`None` for a branch the config switches off), or from
    /// the visual tokens `v` when neither runs (`tokens-only`).
    pub fn forward(&self, snn: Option<Tensor<2>>, gat: Option<Tensor<2>>, v: Tensor<2>) -> Tensor<2> {
        let n = |x: Tensor<2>| if self.normalize { normalize_rows(x) } else { x };
        match (snn, gat) {
            (Some(e), Some(f)) => {
                let r = if self.learned { self.r.val() } else { self.r.val().detach() };
                if self.convex {
                    let w = sigmoid(r).unsqueeze_dim(0);
                    n(e).mul(w.clone()).add(n(f).mul(w.neg().add_scalar(1.0)))
                } else {
                    n(e).mul(r.unsqueeze_dim(0)).add(n(f))
                }
            }
            (Some(e), None) => n(e),
            (None, Some(f)) => n(f),
            (None, None) => n(v),
        }
    }

    /// The current fusion weight(s) `r` (for a convex weight, `σ(a)`).
    pub fn values(&self) -> Vec<f32> {
        let r = if self.convex { sigmoid(self.r.val()) } else { self.r.val() };
        r.to_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default()
    }
}

/// Which branches the encoder uses (the paper's hybrid, the two ablations, and a control
/// without either branch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Branches {
    /// `V' = r·E_SNN + F_GAT`. Default.
    #[default]
    Hybrid,
    /// `V' = F_GAT`.
    GatOnly,
    /// `V' = E_SNN`.
    SnnOnly,
    /// `V' = N(V)`: the visual tokens alone (row-normalised like a branch's output when
    /// `normalize`), no graph branch. A control for the branch ablations: what the tokens and
    /// the task heads achieve without either branch.
    TokensOnly,
}

impl Branches {
    /// Whether the GAT branch runs (hybrid, GAT-only).
    pub fn gat(self) -> bool {
        matches!(self, Self::Hybrid | Self::GatOnly)
    }

    /// Whether the spiking branch runs (hybrid, SNN-only).
    pub fn snn(self) -> bool {
        matches!(self, Self::Hybrid | Self::SnnOnly)
    }
}

/// How `r` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FusionMode {
    /// One learned scalar (the paper's): `V' = r·N(E_SNN) + N(F_GAT)`. Default.
    #[default]
    #[serde(alias = "learned")]
    Scalar,
    /// A learned weight per channel.
    PerChannel,
    /// A learned convex weight: `V' = σ(a)·N(E_SNN) + (1 − σ(a))·N(F_GAT)`, `r = σ(a)`.
    Convex,
    /// The constant `r`.
    Fixed,
}

/// The fusion of the two branches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FusionConfig {
    /// Branches. Default `hybrid`.
    pub branches: Branches,
    /// How `r` is set. Default `learned`.
    pub mode: FusionMode,
    /// Initial (or fixed) `r`; for `convex`, in (0, 1). Default 1.
    pub r: f64,
    /// Normalise each branch's node features (zero mean, unit variance per node, no learned
    /// scale) before fusing, so that no later layer can absorb `r`: it stays the branches'
    /// relative weight. Default true (false: the unnormalised fusion, for comparison).
    pub normalize: bool,
}

impl Default for FusionConfig {
    fn default() -> Self {
        Self { branches: Branches::Hybrid, mode: FusionMode::Scalar, r: 1.0, normalize: true }
    }
}

impl FusionConfig {
    /// The fusion for `d_model`-wide nodes.
    pub fn init(&self, d_model: usize, device: &Device) -> Fusion {
        let r = match self.mode {
            FusionMode::PerChannel => Tensor::<1>::full([d_model], self.r, device),
            FusionMode::Convex => Tensor::<1>::from_floats([(self.r / (1.0 - self.r)).ln() as f32], device),
            FusionMode::Scalar | FusionMode::Fixed => Tensor::<1>::from_floats([self.r as f32], device),
        };
        Fusion {
            r: Param::from_tensor(r),
            learned: self.mode != FusionMode::Fixed,
            convex: self.mode == FusionMode::Convex,
            normalize: self.normalize,
            branches: self.branches,
        }
    }
}
