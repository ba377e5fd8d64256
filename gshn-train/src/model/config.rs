//! The model's configuration, nested by component and made of the component crates' own
//! configs: the visual tokens (backbone, feature-map stride, graph), the GAT branch
//! (`gshn-graph`'s `GatConvConfig` fields), the spiking branch (`gshn-snn`'s `NeuronConfig`
//! with its surrogate and reset), the fusion, the text encoder and the loss weights.
//!
//! Every field has a default (docs/paper-map.md says which are the paper's), so a config file names only what it changes; an
//! unknown field is an error. In an experiment file this is the `[model]` table:
//!
//! ```toml
//! [model]
//! d_model = 64
//! [model.gat]
//! variant = "v2"
//! [model.snn]
//! time_steps = 8
//! [model.snn.neuron.lif]
//! tau = 3.0
//! ```

use std::path::PathBuf;

use gshn_graph::{GatConvConfig, GatPath, GatVariant, GraphKind};
use gshn_snn::config_serde::{Tagged, TaggedVisitor};
use gshn_snn::neuron::NeuronConfig;
use serde::de;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{efficientnet, weights};

use crate::error::{invalid, Result};

/// Configuration of the [`Gshn`](super::Gshn) model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GshnConfig {
    /// Node feature width of both branches. Default 64.
    pub d_model: usize,
    /// Joint image–text embedding width. Default 64.
    pub embed_dim: usize,
    /// Visual tokens: backbone, feature-map stride and segment graph.
    pub tokens: TokensConfig,
    /// The graph attention branch `F_GAT`.
    pub gat: GatBranchConfig,
    /// The spiking branch `E_SNN`.
    pub snn: SnnBranchConfig,
    /// The fusion `V' = r·E_SNN + F_GAT`.
    pub fusion: FusionConfig,
    /// The text encoder.
    pub text: TextConfig,
    /// Loss weights of [`Gshn::losses`](super::Gshn::losses).
    pub loss: LossConfig,
    /// Words in the vocabulary (from the data; not a file field). Set with
    /// [`with_vocab_size`](Self::with_vocab_size).
    #[serde(skip)]
    pub vocab_size: usize,
    /// VQA answers (from the data; not a file field), at least 1.
    #[serde(skip)]
    pub answers: usize,
}

impl Default for GshnConfig {
    fn default() -> Self {
        Self {
            d_model: 64,
            embed_dim: 64,
            tokens: TokensConfig::default(),
            gat: GatBranchConfig::default(),
            snn: SnnBranchConfig::default(),
            fusion: FusionConfig::default(),
            text: TextConfig::default(),
            loss: LossConfig::default(),
            vocab_size: 0,
            answers: 1,
        }
    }
}

impl burn::config::Config for GshnConfig {}

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

/// A variant without fields, written as a table (`{ cnn = {} }`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// Which segment graph the tokens form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GraphChoice {
    /// Segments that touch (after a `dilation`-pixel dilation). Default.
    #[default]
    RegionAdjacency,
    /// Each segment to its `k` nearest centroids.
    Knn,
    /// Centroids within `radius` (a fraction of the image side).
    Radius,
    /// Every pair.
    Full,
}

/// Visual tokens: `V_k = W_v · masked-mean_k(CNN(I)) + W_g · geometry_k`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokensConfig {
    /// Backbone: `cnn` or `efficientnet-lite0`. Default `cnn`.
    pub backbone: Backbone,
    /// The CNN's output channels (EfficientNet-Lite0's are fixed by the tap). Default 32.
    pub cnn_channels: usize,
    /// Feature-map stride: one feature cell per `stride × stride` pixels (of the backbone's
    /// input), and the resolution the segment masks are resized to (a power of two, 1–16; 4, 8
    /// or 16 for EfficientNet-Lite0, tapped after its last block of that stride). Default 4.
    pub stride: usize,
    /// Add the box/centroid/area embedding to each token. Default true.
    pub geometry: bool,
    /// The segment graph. Default `region-adjacency`.
    pub graph: GraphChoice,
    /// Region adjacency: dilation in pixels (box tokens overlap and use none). Default 1.
    pub dilation: u32,
    /// k-NN: neighbours. Default 4.
    pub k: usize,
    /// Radius graph: radius as a fraction of the image side. Default 0.3.
    pub radius: f64,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self { backbone: Backbone::Cnn, cnn_channels: 32, stride: 4, geometry: true, graph: GraphChoice::RegionAdjacency, dilation: 1, k: 4, radius: 0.3 }
    }
}

impl TokensConfig {
    /// The graph kind for images of `side` pixels; `overlapping` segments (box tokens) take
    /// region adjacency without dilation (overlap or a shared border).
    pub fn graph_kind(&self, side: u32, overlapping: bool) -> GraphKind {
        match self.graph {
            GraphChoice::RegionAdjacency if overlapping => GraphKind::RegionAdjacency { dilation: 0 },
            GraphChoice::RegionAdjacency => GraphKind::RegionAdjacency { dilation: self.dilation },
            GraphChoice::Knn => GraphKind::Knn { k: self.k },
            GraphChoice::Radius => GraphKind::Radius { radius: self.radius * side as f64 },
            GraphChoice::Full => GraphKind::Full,
        }
    }

    /// The feature map's side for images of `side` pixels (EfficientNet-Lite0 resizes every
    /// image to its `input_size` first), or an error when the stride does not divide it.
    pub fn feature_side(&self, side: u32) -> Result<usize> {
        let (side, what) = match self.backbone.efficientnet() {
            Some(e) => (e.input_size as u32, "the backbone's input_size"),
            None => (side, "the image side"),
        };
        let s = self.stride as u32;
        if s == 0 || !side.is_multiple_of(s) {
            return Err(invalid("tokens.stride", format!("{} does not divide {what} {side}", self.stride)));
        }
        Ok((side / s) as usize)
    }

    /// Channels of the backbone's feature map: `cnn_channels`, or those of EfficientNet-Lite0
    /// at the tap (24, 40 or 112 at stride 4, 8 or 16).
    pub fn feature_channels(&self) -> usize {
        match &self.backbone {
            Backbone::Cnn => self.cnn_channels,
            Backbone::EfficientnetLite0(_) => efficientnet::tap(self.stride).map_or(0, |t| t.1),
        }
    }
}

/// GATConv or GATv2Conv, in config files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GatVariantChoice {
    /// GATConv (static attention). Default.
    #[default]
    V1,
    /// GATv2Conv (dynamic attention).
    V2,
}

/// Which implementation the GAT layers run, in config files (`gshn-graph`'s [`GatPath`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GatPathChoice {
    /// Dense where measured faster (small graphs, GATConv without edge features). Default.
    #[default]
    Auto,
    /// Masked dense attention over `[B, H, N_max, N_max]`.
    Dense,
    /// Gather/scatter over the edge list.
    EdgeList,
}

/// The GAT branch: `layers` GAT layers of `heads` heads each (`d_model / heads` channels per
/// head, concatenated), ELU between layers. The fields are those of `gshn-graph`'s
/// `GatConvConfig` (PyG's names and defaults), plus the depth and the implementation path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatBranchConfig {
    /// Layers. Default 2.
    pub layers: usize,
    /// Attention heads per layer. Default 4.
    pub heads: usize,
    /// `v1` (GATConv) or `v2` (GATv2Conv). Default `v1`.
    pub variant: GatVariantChoice,
    /// GATv2: one weight matrix for sources and targets. Default false (PyG).
    pub share_weights: bool,
    /// Concatenate the heads (else average them, each head `d_model` wide). Default true.
    pub concat: bool,
    /// LeakyReLU slope. Default 0.2.
    pub negative_slope: f64,
    /// Attention dropout (training only). Default 0.
    pub dropout: f64,
    /// Replace self loops with one per node. Default true.
    pub add_self_loops: bool,
    /// Output bias. Default true.
    pub bias: bool,
    /// Linear skip connection. Default false.
    pub residual: bool,
    /// Implementation. Default `auto`.
    pub path: GatPathChoice,
}

impl Default for GatBranchConfig {
    fn default() -> Self {
        Self {
            layers: 2,
            heads: 4,
            variant: GatVariantChoice::V1,
            share_weights: false,
            concat: true,
            negative_slope: 0.2,
            dropout: 0.0,
            add_self_loops: true,
            bias: true,
            residual: false,
            path: GatPathChoice::Auto,
        }
    }
}

impl GatBranchConfig {
    /// The layer config for `d_model`-wide nodes.
    pub fn conv(&self, d_model: usize) -> GatConvConfig {
        let out = if self.concat { d_model / self.heads.max(1) } else { d_model };
        GatConvConfig::new(d_model, out)
            .with_heads(self.heads)
            .with_concat(self.concat)
            .with_negative_slope(self.negative_slope)
            .with_dropout(self.dropout)
            .with_add_self_loops(self.add_self_loops)
            .with_bias(self.bias)
            .with_residual(self.residual)
            .with_variant(match self.variant {
                GatVariantChoice::V1 => GatVariant::V1,
                GatVariantChoice::V2 => GatVariant::V2 { share_weights: self.share_weights },
            })
    }

    /// The implementation path.
    pub fn gat_path(&self) -> GatPath {
        match self.path {
            GatPathChoice::Auto => GatPath::Auto,
            GatPathChoice::Dense => GatPath::Dense,
            GatPathChoice::EdgeList => GatPath::EdgeList,
        }
    }
}

/// How the tokens enter the spiking branch over its T steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// The token itself at every step (constant current). Default.
    #[default]
    Direct,
    /// Bernoulli spikes with probability `σ(V)` per step (straight-through gradient).
    Rate,
    /// One spike per feature at step `⌊(1 − σ(V))·T⌋`: stronger features fire earlier
    /// (straight-through gradient).
    Latency,
    /// `V ⊙ (1 + g_t) + b_t` with learned `g, b ∈ ℝ^{T×d}` (zero at start, so it starts as
    /// direct encoding and may learn to vary over time).
    Learned,
}

/// What the last spiking layer hands to the readout linear layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Readout {
    /// The mean firing rate over T. Default.
    #[default]
    Rate,
    /// The mean membrane potential over T.
    Membrane,
    /// The first spike's earliness, `Σ_t s_t Π_{k<t}(1 − s_k)·(T − t)/T` (0 without a spike).
    FirstSpike,
}

/// How each spiking layer's input current is normalised before the neurons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SpikeNorm {
    /// LayerNorm over each node's current at each step (learned gain and bias). Default.
    #[default]
    LayerNorm,
    /// Threshold-dependent BatchNorm (Zheng et al. 2021): per channel over the batch's real
    /// nodes and all T steps, scaled to `V_th`, learned gain and bias, running statistics for
    /// evaluation.
    ThresholdBn,
    /// A learned gain and bias per channel, no normalisation.
    Gain,
    /// The raw current.
    None,
}

/// The branch's nonlinearity: spiking neurons, or the equal-width non-spiking twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// The configured neuron over T steps. Default.
    #[default]
    Spiking,
    /// ReLU in place of the neurons and T = 1: the same layers and widths without spikes
    /// (the energy comparison's twin).
    Relu,
}

/// The spiking branch: `layers` spiking graph layers over `time_steps` steps, the tokens
/// encoded per `encoding`, each layer's current normalised per `norm`, the last layer read
/// out per `readout` by a linear layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SnnBranchConfig {
    /// Time steps T. Default 4.
    pub time_steps: usize,
    /// Spiking graph layers. Default 2.
    pub layers: usize,
    /// The neuron (model, leak, threshold, reset, surrogate). Default LIF τ = 2, V_th = 1,
    /// hard reset to 0, ATan α = 2.
    pub neuron: NeuronConfig,
    /// Input encoding. Default `direct`.
    pub encoding: Encoding,
    /// Readout. Default `rate`.
    pub readout: Readout,
    /// Current normalisation. Default `layer-norm`.
    pub norm: SpikeNorm,
    /// Spiking neurons or the ReLU twin. Default `spiking`.
    pub activation: Activation,
}

impl Default for SnnBranchConfig {
    fn default() -> Self {
        Self {
            time_steps: 4,
            layers: 2,
            neuron: NeuronConfig::default(),
            encoding: Encoding::Direct,
            readout: Readout::Rate,
            norm: SpikeNorm::LayerNorm,
            activation: Activation::Spiking,
        }
    }
}

/// Which branches the encoder uses (the paper's hybrid and the two ablations).
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

/// Which text encoder: one trained from scratch, or the pretrained all-MiniLM-L6-v2. In a
/// config file a name (`encoder = "minilm-l6"`, with its defaults) or a one-key table
/// (`[model.text.encoder.minilm-l6]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TextEncoderChoice {
    /// A small transformer trained from scratch over the data's word vocabulary (`width`,
    /// `layers`, `heads`, `dropout`). Default.
    #[default]
    Scratch,
    /// all-MiniLM-L6-v2 (sentence-transformers; 6 layers, width 384) over its WordPiece
    /// vocabulary.
    MinilmL6(MiniLmChoice),
}

/// The pretrained MiniLM-L6 text encoder's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MiniLmChoice {
    /// The folder `scripts/fetch-weights.sh minilm-l6` unpacked (relative paths from the
    /// working directory). Default `data/weights/minilm-l6`.
    pub weights: PathBuf,
    /// Keep the pretrained weights fixed (false fine-tunes all of them). Default true.
    pub frozen: bool,
}

impl Default for MiniLmChoice {
    fn default() -> Self {
        Self { weights: PathBuf::from(weights::MINILM_DIR), frozen: true }
    }
}

impl TextEncoderChoice {
    /// The pretrained encoder's settings, if it is one.
    pub fn minilm(&self) -> Option<&MiniLmChoice> {
        match self {
            TextEncoderChoice::Scratch => None,
            TextEncoderChoice::MinilmL6(c) => Some(c),
        }
    }
}

impl Tagged for TextEncoderChoice {
    const WHAT: &'static str = "text encoder";
    const NAMES: &'static [&'static str] = &["scratch", "minilm-l6"];

    fn by_name(name: &str) -> Option<Self> {
        Some(match name {
            "scratch" => TextEncoderChoice::Scratch,
            "minilm-l6" => TextEncoderChoice::MinilmL6(MiniLmChoice::default()),
            _ => return None,
        })
    }

    fn with_fields<'de, A: de::MapAccess<'de>>(name: &str, map: &mut A) -> std::result::Result<Self, A::Error> {
        Ok(match name {
            "scratch" => {
                map.next_value::<Empty>()?;
                TextEncoderChoice::Scratch
            }
            _ => TextEncoderChoice::MinilmL6(map.next_value()?),
        })
    }
}

impl Serialize for TextEncoderChoice {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            TextEncoderChoice::Scratch => s.serialize_str("scratch"),
            TextEncoderChoice::MinilmL6(c) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("minilm-l6", c)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for TextEncoderChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(TaggedVisitor::<TextEncoderChoice>::new())
    }
}

/// The text encoder: a small transformer trained from scratch (word and position embeddings,
/// a pre-norm transformer, the mean over real tokens), or the pretrained MiniLM-L6.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextConfig {
    /// `scratch` or `minilm-l6`. Default `scratch`.
    pub encoder: TextEncoderChoice,
    /// Width (scratch; MiniLM's is 384). Default 64.
    pub width: usize,
    /// Layers (scratch). Default 2.
    pub layers: usize,
    /// Attention heads (scratch; dividing `width`). Default 4.
    pub heads: usize,
    /// Longest text in tokens (MiniLM: word pieces with `[CLS]` and `[SEP]`, at most 512);
    /// longer texts are cut. Default 48.
    pub max_len: usize,
    /// Dropout (scratch). Default 0.1.
    pub dropout: f64,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self { encoder: TextEncoderChoice::Scratch, width: 64, layers: 2, heads: 4, max_len: 48, dropout: 0.1 }
    }
}

impl TextConfig {
    /// The width of the encoder's token and sentence features (384 for MiniLM).
    pub fn feature_width(&self) -> usize {
        match self.encoder {
            TextEncoderChoice::Scratch => self.width,
            TextEncoderChoice::MinilmL6(_) => super::minilm::MiniLmConfig::new().hidden,
        }
    }
}

/// Weights of the loss terms; a term with weight 0 is not computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossConfig {
    /// CLIP's symmetric InfoNCE between images and captions. Default 1.
    pub clip: f64,
    /// Spiked Text Learning (word–segment InfoNCE); the runner's pre-training stage uses it
    /// alone. Default 0 in the main stage.
    pub stl: f64,
    /// VQA cross-entropy. Default 0.5.
    pub vqa: f64,
    /// Visual-entailment cross-entropy (and its hypothesis-only probe's, which trains only
    /// the probe); > 0 builds the entailment head. Default 0.
    pub entailment: f64,
    /// NLVR² cross-entropy (and its text-only and single-image probes', which train only the
    /// probes); > 0 builds the NLVR head. Default 0.
    pub nlvr: f64,
    /// Node-level InfoNCE between the `E_SNN` and `F_GAT` views of each segment (hybrid
    /// only). Default 0.
    pub node: f64,
    /// Temperature of the node-level InfoNCE. Default 0.1.
    pub node_temperature: f64,
    /// Most node rows per batch in the node-level InfoNCE (its cost grows with their square).
    /// Default 512.
    pub node_max: usize,
    /// Which Spiked Text Learning objective. Default `word-segment`.
    pub stl_mode: StlMode,
    /// Leave out of the contrastive loss every in-batch pair whose caption is also true of
    /// the other image (where the data can tell: ShapeWorld's claims). Default false.
    pub mask_false_negatives: bool,
}

/// Readings of "Spiked Text Learning" (the paper gives only its outline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum StlMode {
    /// Each caption word's feature against each image's spiking segment features, max over
    /// segments, mean over words (FILIP-style), symmetric InfoNCE. Default.
    #[default]
    WordSegment,
    /// The caption's sentence feature against the mean of the image's spiking segment
    /// features, symmetric InfoNCE.
    Sentence,
    /// The caption's word features passed through spiking neurons (the branch's neuron, T
    /// steps, rate), then word–segment as above: text features made discrete.
    SpikedWords,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            clip: 1.0,
            stl: 0.0,
            vqa: 0.5,
            entailment: 0.0,
            nlvr: 0.0,
            node: 0.0,
            node_temperature: 0.1,
            node_max: 512,
            stl_mode: StlMode::WordSegment,
            mask_false_negatives: false,
        }
    }
}

impl LossConfig {
    /// The Spiked Text Learning stage's weights: STL alone, keeping this config's STL reading
    /// (`stl_mode`) and false-negative masking.
    pub fn stl_only(&self) -> Self {
        Self { clip: 0.0, stl: 1.0, vqa: 0.0, entailment: 0.0, nlvr: 0.0, node: 0.0, ..self.clone() }
    }
}

/// Upper bounds that keep a config from allocating without limit (every numeric field
/// finite and within a documented range).
pub mod limits {
    /// Widest layer (`d_model`, `embed_dim`, `cnn_channels`, text width).
    pub const MAX_WIDTH: usize = 4096;
    /// Deepest stack (GAT, spiking and text layers).
    pub const MAX_LAYERS: usize = 64;
    /// Most time steps.
    pub const MAX_TIME_STEPS: usize = 256;
    /// Most attention heads.
    pub const MAX_HEADS: usize = 64;
    /// Longest text.
    pub const MAX_TEXT: usize = 512;
}

impl GshnConfig {
    /// Sets the vocabulary size (the data's; the text encoder's embedding rows).
    pub fn with_vocab_size(mut self, vocab_size: usize) -> Self {
        self.vocab_size = vocab_size;
        self
    }

    /// Sets the number of VQA answers.
    pub fn with_answers(mut self, answers: usize) -> Self {
        self.answers = answers;
        self
    }

    /// Checks every field; errors name the field relative to this config (`gat.heads`).
    pub fn validate(&self) -> Result<()> {
        use limits::*;
        let width = |field: &str, v: usize| -> Result<()> {
            if v == 0 || v > MAX_WIDTH {
                return Err(invalid(field, format!("{v} must lie in 1..={MAX_WIDTH}")));
            }
            Ok(())
        };
        let layers = |field: &str, v: usize| -> Result<()> {
            if v == 0 || v > MAX_LAYERS {
                return Err(invalid(field, format!("{v} must lie in 1..={MAX_LAYERS}")));
            }
            Ok(())
        };
        let finite = |field: &str, v: f64, ok: bool, range: &str| -> Result<()> {
            if !v.is_finite() || !ok {
                return Err(invalid(field, format!("{v} must be {range}")));
            }
            Ok(())
        };
        width("d_model", self.d_model)?;
        width("embed_dim", self.embed_dim)?;
        let t = &self.tokens;
        width("tokens.cnn_channels", t.cnn_channels)?;
        if !t.stride.is_power_of_two() || t.stride > 16 {
            return Err(invalid("tokens.stride", format!("{} must be a power of two from 1 to 16", t.stride)));
        }
        if let Some(e) = t.backbone.efficientnet() {
            if efficientnet::tap(t.stride).is_none() {
                return Err(invalid("tokens.stride", format!("{} — EfficientNet-Lite0 is tapped at stride 4, 8 or 16", t.stride)));
            }
            if !(64..=1024).contains(&e.input_size) || !e.input_size.is_multiple_of(32) {
                return Err(invalid("tokens.backbone.efficientnet-lite0.input_size", format!("{} must be a multiple of 32 from 64 to 1024", e.input_size)));
            }
        }
        if t.k == 0 || t.k > 1024 {
            return Err(invalid("tokens.k", format!("{} must lie in 1..=1024", t.k)));
        }
        if t.dilation > 64 {
            return Err(invalid("tokens.dilation", format!("{} must lie in 0..=64 pixels", t.dilation)));
        }
        finite("tokens.radius", t.radius, t.radius > 0.0 && t.radius <= 2.0, "in (0, 2] (a fraction of the image side)")?;
        let g = &self.gat;
        layers("gat.layers", g.layers)?;
        if g.heads == 0 || g.heads > MAX_HEADS {
            return Err(invalid("gat.heads", format!("{} must lie in 1..={MAX_HEADS}", g.heads)));
        }
        if g.concat && !self.d_model.is_multiple_of(g.heads) {
            return Err(invalid(
                "gat.heads",
                format!("d_model ({}) must be a multiple of gat.heads ({}) when the heads are concatenated", self.d_model, g.heads),
            ));
        }
        finite("gat.negative_slope", g.negative_slope, true, "finite")?;
        finite("gat.dropout", g.dropout, (0.0..1.0).contains(&g.dropout), "in [0, 1)")?;
        if g.path == GatPathChoice::Dense && g.variant == GatVariantChoice::V2 {
            return Err(invalid("gat.path", "the dense path runs GATConv (variant v1) only; use auto or edge-list with v2"));
        }
        let s = &self.snn;
        if s.time_steps == 0 || s.time_steps > MAX_TIME_STEPS {
            return Err(invalid("snn.time_steps", format!("{} must lie in 1..={MAX_TIME_STEPS}", s.time_steps)));
        }
        layers("snn.layers", s.layers)?;
        s.neuron.validate().map_err(|e| invalid(format!("snn.neuron.{}", s.neuron.name()), e.to_string()))?;
        finite("fusion.r", self.fusion.r, self.fusion.r.abs() <= 1e4, "in [-1e4, 1e4] (a branch weight; the normalised branches have unit scale)")?;
        if self.fusion.mode == FusionMode::Convex && !(self.fusion.r > 0.0 && self.fusion.r < 1.0) {
            return Err(invalid("fusion.r", format!("{} — a convex weight starts strictly between 0 and 1", self.fusion.r)));
        }
        if s.activation == Activation::Relu && (s.time_steps != 1 || s.encoding != Encoding::Direct || s.readout != Readout::Rate) {
            return Err(invalid(
                "snn.activation",
                "the ReLU twin runs one step of the same layers: it needs snn.time_steps = 1, encoding = \"direct\" and readout = \"rate\"",
            ));
        }
        let x = &self.text;
        width("text.width", x.width)?;
        layers("text.layers", x.layers)?;
        if x.heads == 0 || x.heads > MAX_HEADS || !x.width.is_multiple_of(x.heads) {
            return Err(invalid("text.heads", format!("{} must divide text.width ({}) and lie in 1..={MAX_HEADS}", x.heads, x.width)));
        }
        if x.max_len == 0 || x.max_len > MAX_TEXT {
            return Err(invalid("text.max_len", format!("{} must lie in 1..={MAX_TEXT}", x.max_len)));
        }
        if x.encoder.minilm().is_some() && x.max_len < 3 {
            return Err(invalid("text.max_len", format!("{} leaves no word piece beside [CLS] and [SEP]: at least 3", x.max_len)));
        }
        finite("text.dropout", x.dropout, (0.0..1.0).contains(&x.dropout), "in [0, 1)")?;
        let l = &self.loss;
        for (field, w) in
            [("loss.clip", l.clip), ("loss.stl", l.stl), ("loss.vqa", l.vqa), ("loss.entailment", l.entailment), ("loss.nlvr", l.nlvr), ("loss.node", l.node)]
        {
            finite(field, w, (0.0..=1e6).contains(&w), "in [0, 1e6]")?;
        }
        finite("loss.node_temperature", l.node_temperature, l.node_temperature > 0.0 && l.node_temperature <= 1e3, "in (0, 1000]")?;
        if l.node_max < 2 || l.node_max > 65_536 {
            return Err(invalid("loss.node_max", format!("{} must lie in 2..=65536", l.node_max)));
        }
        if l.node > 0.0 && self.fusion.branches != Branches::Hybrid {
            return Err(invalid("loss.node", "the node-level InfoNCE contrasts E_SNN with F_GAT: it needs fusion.branches = \"hybrid\""));
        }
        Ok(())
    }
}
