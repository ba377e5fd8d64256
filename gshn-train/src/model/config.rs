//! The model's configuration, nested by component and made of the component crates' own
//! configs: the visual tokens (backbone, feature-map stride, graph), the GAT branch
//! (`gshn-graph`'s `GatConvConfig` fields), the spiking branch (`gshn-snn`'s `NeuronConfig`
//! with its surrogate and reset), the fusion, the text encoder and the loss weights. Each
//! component's config is defined beside its module (`TokensConfig` in `tokens.rs`,
//! `GatBranchConfig` in `gat_branch.rs`, `SnnBranchConfig` in `spiking_graph.rs`,
//! `FusionConfig` in `fusion.rs`, `TextConfig` in `text.rs`, `LossConfig` in `crate::loss`) and
//! re-exported here; this file keeps [`GshnConfig`], the [`limits`] and the checks across fields.
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

use serde::{Deserialize, Serialize};

use super::efficientnet;

use crate::error::{invalid, Result};

// The components' configs live beside their modules; `GshnConfig` nests them.
pub use super::backbone::{Backbone, EfficientNetChoice};
pub use super::fusion::{Branches, FusionConfig, FusionMode};
pub use super::gat_branch::{GatBranchConfig, GatPathChoice, GatVariantChoice};
pub use super::spiking_graph::{Activation, Encoding, Readout, SnnBranchConfig, SpikeNorm};
pub use super::text::{MiniLmChoice, TextConfig, TextEncoderChoice};
pub use super::tokens::{GraphChoice, TokensConfig};
pub use crate::loss::{LossConfig, StlMode};

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

/// A variant without fields, written as a table (`{ cnn = {} }`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Empty {}

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
