//! The image backbone whose feature map the segment masks pool (`V = CNN(I) ⊙ resize(mask)`):
//! a small CNN trained from scratch ([`CnnBackbone`]), or the pretrained EfficientNet-Lite0
//! tapped at stride 4, 8 or 16 ([`EfficientNetBackbone`]), one of the two in an
//! [`ImageBackbone`].
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
use burn::tensor::{Device, Tensor};

use super::config::Empty;
use super::efficientnet::{self, EfficientNetLite0};
use super::fused_conv;
use super::tokens::TokensConfig;
use super::weights;
use super::weights::WeightsError;
use gshn_snn::config_serde::{Tagged, TaggedVisitor};
use serde::de;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::PathBuf;

/// The CNN backbone.
#[derive(Module, Debug)]
pub struct CnnBackbone {
    /// The convolutions, in order.
    pub convs: Vec<Conv2d>,
    /// The 2×2 average pool.
    pub pool: AvgPool2d,
    /// How many of the first convolutions are followed by a pool (`log₂ stride`).
    pub pools: usize,
    /// Run each convolution, its bias and its ReLU as one fused op where the build has one
    /// for the device ([`super::fused_conv`]); `TokensConfig::fused_conv`.
    #[module(skip)]
    pub fused: bool,
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
        Self { convs, pool: AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(), pools, fused: cfg.fused_conv }
    }

    /// Feature map `[B, cnn_channels, H/stride, W/stride]` of pixels `[B, 3, H, W]`.
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<4> {
        let mut x = pixels;
        for (i, conv) in self.convs.iter().enumerate() {
            x = fused_conv::conv_relu(conv, x, self.fused);
            if i < self.pools {
                x = self.pool_2x2(x);
            }
        }
        x
    }

    /// The 2×2 average pool as a reshape and two sums: the same values as [`AvgPool2d`] (to
    /// float rounding), 2.5–3.5× faster forward + backward on flex (measured on the default
    /// model's two pools, 1 thread: 95 → 27 ms and 45 → 13 ms). Odd sides take `AvgPool2d`.
    fn pool_2x2(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        if h % 2 != 0 || w % 2 != 0 {
            return self.pool.forward(x);
        }
        x.reshape([b, c, h / 2, 2, w / 2, 2]).sum_dim(5).sum_dim(3).mul_scalar(0.25).reshape([b, c, h / 2, w / 2])
    }
}

/// EfficientNet-Lite0 up to its last block of output stride `stride`, on images resized to
/// `input_size`.
#[derive(Module, Debug)]
pub struct EfficientNetBackbone {
    /// The network, truncated after the tapped block.
    pub net: EfficientNetLite0,
    /// The tapped block.
    pub tap_block: usize,
    /// The side images are resized to.
    pub input_size: usize,
    /// Whether the weights are fixed (the frozen-feature cache may stand in for it).
    pub frozen: bool,
}

impl EfficientNetBackbone {
    /// The backbone for `choice` tapped at `stride` (4, 8 or 16) with random weights, frozen
    /// as configured (for a checkpoint to fill).
    pub fn untrained(choice: &EfficientNetChoice, stride: usize, device: &Device) -> Self {
        Self::wrap(EfficientNetLite0::new(device), choice, stride)
    }

    /// The backbone for `choice` tapped at `stride` with the ImageNet weights from
    /// `choice.weights`.
    pub fn load(choice: &EfficientNetChoice, stride: usize, device: &Device) -> Result<Self, WeightsError> {
        Ok(Self::wrap(EfficientNetLite0::load(&choice.weights, device)?, choice, stride))
    }

    /// The feature map `[C, H', W']` it gives every image: images are resized to
    /// `input_size` first, so `H' = W' = ⌈input_size / stride⌉` (TensorFlow's SAME padding).
    pub fn feature_shape(&self) -> Option<[usize; 3]> {
        efficientnet::TAPS.iter().find(|t| t.1 == self.tap_block).map(|&(stride, _, c)| [c, self.input_size.div_ceil(stride), self.input_size.div_ceil(stride)])
    }

    fn wrap(net: EfficientNetLite0, choice: &EfficientNetChoice, stride: usize) -> Self {
        let (tap_block, _) = efficientnet::tap(stride).expect("a validated tap stride");
        let net = net.truncate(tap_block);
        // Frozen: nothing trains. Fine-tuning: the convolutions train, BatchNorm keeps the
        // ImageNet statistics (batch statistics of small batches would wreck them).
        let net = if choice.frozen { net.freeze() } else { net.freeze_norms() };
        Self { net, tap_block, input_size: choice.input_size, frozen: choice.frozen }
    }

    /// Feature map `[B, C, input_size/stride, input_size/stride]` of pixels `[B, 3, H, W]`
    /// scaled to `[−0.5, 0.5]` (the batcher's): back to 0–255, resized (bilinear, half-pixel
    /// centres) to `input_size` when `H, W` differ from it, mapped by `(v − 127) / 128`.
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<4> {
        self.net.features(efficientnet::preprocess(pixels, self.input_size), self.tap_block)
    }
}

/// The image backbone of a [`Gshn`](super::Gshn).
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum ImageBackbone {
    /// The small CNN trained from scratch.
    Cnn(CnnBackbone),
    /// The pretrained EfficientNet-Lite0.
    EfficientNet(EfficientNetBackbone),
}

impl ImageBackbone {
    /// The backbone of `cfg`, its pretrained weights read when `load` (else random, for a
    /// checkpoint to fill).
    pub fn new(cfg: &TokensConfig, load: bool, device: &Device) -> Result<Self, WeightsError> {
        Ok(match &cfg.backbone {
            Backbone::Cnn => ImageBackbone::Cnn(CnnBackbone::new(cfg, device)),
            Backbone::EfficientnetLite0(c) if load => ImageBackbone::EfficientNet(EfficientNetBackbone::load(c, cfg.stride, device)?),
            Backbone::EfficientnetLite0(c) => ImageBackbone::EfficientNet(EfficientNetBackbone::untrained(c, cfg.stride, device)),
        })
    }

    /// Feature map `[B, C, h, w]` of pixels `[B, 3, H, W]` in `[−0.5, 0.5]`.
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<4> {
        match self {
            ImageBackbone::Cnn(c) => c.forward(pixels),
            ImageBackbone::EfficientNet(e) => e.forward(pixels),
        }
    }

    /// Whether the weights are fixed (a pretrained backbone in frozen mode).
    pub fn frozen(&self) -> bool {
        matches!(self, ImageBackbone::EfficientNet(e) if e.frozen)
    }
}

/// The image backbone whose feature map the segment masks pool. In a config file a name
/// (`backbone = "cnn"`, `backbone = "efficientnet-lite0"` with its defaults) or a one-key table
/// from the name to its fields (`[model.tokens.backbone.efficientnet-lite0]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Backbone {
    /// A small CNN trained from scratch: 3×3 convolutions with ReLU, one 2×2 average pool per
    /// halving of the resolution (so the stride is a power of two). Default.
    #[default]
    Cnn,
    /// EfficientNet-Lite0 with its ImageNet weights, tapped at output stride
    /// `tokens.stride` (4, 8 or 16).
    EfficientnetLite0(EfficientNetChoice),
}

/// The pretrained EfficientNet-Lite0 backbone's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EfficientNetChoice {
    /// The folder `scripts/fetch-weights.sh efficientnet-lite0` unpacked (relative paths from
    /// the working directory). Default `data/weights/efficientnet-lite0`.
    pub weights: PathBuf,
    /// Keep the ImageNet weights fixed (and compute each image's feature map once, see
    /// `cache`); false fine-tunes the convolutions (BatchNorm keeps its ImageNet statistics).
    /// Default true.
    pub frozen: bool,
    /// The side the images are resized to (bilinear) before the network, a multiple of 32
    /// from 64 to 1024; the feature map has `input_size / tokens.stride` cells a side.
    /// Default 256.
    pub input_size: usize,
    /// Frozen only: keep each image's feature map on disk under `cache_dir`, keyed by the
    /// image's pixels, the backbone and a hash of its weights, so that later runs skip the
    /// network. Default true.
    pub cache: bool,
    /// Where the frozen feature maps are kept. Default `data/feature-cache`.
    pub cache_dir: PathBuf,
}

impl Default for EfficientNetChoice {
    fn default() -> Self {
        Self {
            weights: PathBuf::from(weights::EFFICIENTNET_LITE0_DIR),
            frozen: true,
            input_size: 256,
            cache: true,
            cache_dir: PathBuf::from("data/feature-cache"),
        }
    }
}

impl Backbone {
    /// The pretrained backbone's settings, if it is one.
    pub fn efficientnet(&self) -> Option<&EfficientNetChoice> {
        match self {
            Backbone::Cnn => None,
            Backbone::EfficientnetLite0(c) => Some(c),
        }
    }
}

impl Tagged for Backbone {
    const WHAT: &'static str = "backbone";
    const NAMES: &'static [&'static str] = &["cnn", "efficientnet-lite0"];

    fn by_name(name: &str) -> Option<Self> {
        Some(match name {
            "cnn" => Backbone::Cnn,
            "efficientnet-lite0" => Backbone::EfficientnetLite0(EfficientNetChoice::default()),
            _ => return None,
        })
    }

    fn with_fields<'de, A: de::MapAccess<'de>>(name: &str, map: &mut A) -> std::result::Result<Self, A::Error> {
        Ok(match name {
            "cnn" => {
                map.next_value::<Empty>()?;
                Backbone::Cnn
            }
            _ => Backbone::EfficientnetLite0(map.next_value()?),
        })
    }
}

impl Serialize for Backbone {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Backbone::Cnn => s.serialize_str("cnn"),
            Backbone::EfficientnetLite0(c) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("efficientnet-lite0", c)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Backbone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(TaggedVisitor::<Backbone>::new())
    }
}
