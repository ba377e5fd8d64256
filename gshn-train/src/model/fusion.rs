//! The fusion of the two branches, `V' = r·E_SNN + F_GAT`, with `r` one learned scalar (the
//! paper's), a learned weight per channel, or a constant; or one branch alone.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::config::{Branches, FusionConfig, FusionMode};

/// The fusion weight and which branches are fused.
#[derive(Module, Debug)]
pub struct Fusion {
    /// `r`, `[1]` or `[d_model]`.
    pub r: Param<Tensor<1>>,
    /// Whether `r` is trained.
    pub learned: bool,
    /// Which branches.
    #[module(skip)]
    pub branches: Branches,
}

impl Fusion {
    /// The fusion for `d_model`-wide nodes.
    pub fn new(cfg: &FusionConfig, d_model: usize, device: &Device) -> Self {
        let r = match cfg.mode {
            FusionMode::PerChannel => Tensor::<1>::full([d_model], cfg.r, device),
            FusionMode::Learned | FusionMode::Fixed => Tensor::<1>::from_floats([cfg.r as f32], device),
        };
        Self { r: Param::from_tensor(r), learned: cfg.mode != FusionMode::Fixed, branches: cfg.branches }
    }

    /// `V'` from the branches that run (`None` for a branch the config switches off).
    pub fn forward(&self, snn: Option<Tensor<2>>, gat: Option<Tensor<2>>) -> Tensor<2> {
        match (snn, gat) {
            (Some(e), Some(f)) => {
                let r = if self.learned { self.r.val() } else { self.r.val().detach() };
                e.mul(r.unsqueeze_dim(0)).add(f)
            }
            (Some(e), None) => e,
            (None, Some(f)) => f,
            (None, None) => unreachable!("a GSHN runs at least one branch"),
        }
    }

    /// The current fusion weight(s) `r`.
    pub fn values(&self) -> Vec<f32> {
        self.r.val().to_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default()
    }
}
