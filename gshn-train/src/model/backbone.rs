//! The image backbone: a small CNN trained from scratch whose feature map the segment masks
//! pool (`V = CNN(I) ⊙ resize(mask)`).
//!
//! ```text
//! F = conv₃(pool(conv₂(pool(conv₁(I)))))      3×3 convolutions, ReLU, 2×2 average pools
//! ```
//!
//! with one pool per halving: stride `2^k` puts pools after the first `k` convolutions
//! (widths 16, 32, then `cnn_channels`; a stride above 4 adds `cnn_channels`-wide layers).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::PaddingConfig2d;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::config::TokensConfig;

/// The CNN backbone.
#[derive(Module, Debug)]
pub struct CnnBackbone {
    /// The convolutions, in order.
    pub convs: Vec<Conv2d>,
    /// The 2×2 average pool.
    pub pool: AvgPool2d,
    /// How many of the first convolutions are followed by a pool (`log₂ stride`).
    pub pools: usize,
}

impl CnnBackbone {
    /// The backbone for `cfg` (stride a power of two, validated by the model config).
    pub fn new(cfg: &TokensConfig, device: &Device) -> Self {
        let pools = cfg.stride.trailing_zeros() as usize;
        let c = cfg.cnn_channels;
        let mut widths = vec![16, 32, c];
        widths.extend(std::iter::repeat_n(c, pools.saturating_sub(2)));
        let mut inputs = 3;
        let convs = widths
            .iter()
            .map(|&w| {
                let conv = Conv2dConfig::new([inputs, w], [3, 3]).with_padding(PaddingConfig2d::Same).init(device);
                inputs = w;
                conv
            })
            .collect();
        Self { convs, pool: AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(), pools }
    }

    /// Feature map `[B, cnn_channels, H/stride, W/stride]` of pixels `[B, 3, H, W]`.
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<4> {
        let mut x = pixels;
        for (i, conv) in self.convs.iter().enumerate() {
            x = relu(conv.forward(x));
            if i < self.pools {
                x = self.pool.forward(x);
            }
        }
        x
    }
}
