//! Experiments as data: the TOML experiment file, its validation, and `key=value` overrides.
//!
//! Every choice of DESIGN §1 that the paper leaves open is a field here, with our default.
//! Files only need the fields they change: everything else takes the default below, and an
//! unknown field is an error (a typo never silently falls back to a default). The resolved
//! config — every field, defaults filled in — is saved beside each checkpoint.

use std::path::{Path, PathBuf};

use gshn_graph::GraphKind;
use gshn_snn::neuron::{IfConfig, Leak, LifConfig, NeuronBaseConfig, NeuronConfig, PlifConfig};
use gshn_snn::surrogate::Surrogate;
use serde::{Deserialize, Serialize};

use crate::model::hybrid::{Branches, FusionWeight, GshnConfig};

/// A config that cannot be used, with the field and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML does not parse or does not fit the schema (unknown field, wrong type).
    #[error("{origin}: {message}")]
    Parse {
        /// File name or `override`.
        origin: String,
        /// The parser's message, with the line and the field.
        message: String,
    },
    /// A field holds an impossible value.
    #[error("config field `{field}`: {reason}")]
    Invalid {
        /// Dotted field path.
        field: String,
        /// What is wrong and what would do.
        reason: String,
    },
}

fn invalid(field: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field: field.into(), reason: reason.into() }
}

/// Which compute device runs the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceChoice {
    /// A real GPU adapter through WGPU when there is one, else flex. Default.
    #[default]
    Auto,
    /// Burn's flex CPU backend (bit-for-bit repeatable).
    Flex,
    /// WGPU: Vulkan (NVIDIA/AMD/Mesa), Metal or DX12.
    Wgpu,
}

/// Where the images and texts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DataSource {
    /// Generated ShapeWorld scenes (`data::shapeworld`). Default.
    #[default]
    Shapeworld,
    /// A COCO-style folder (`data::coco`): `captions_*.json`, `instances_*.json`, images.
    Coco,
    /// The easy-VQA data set (`data::easy_vqa`), unpacked by `scripts/fetch-data.sh`.
    EasyVqa,
}

/// The data section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Source. Default `shapeworld`.
    pub source: DataSource,
    /// Folder for `coco` and `easy-vqa` (relative paths are resolved from the working
    /// directory). Unused by ShapeWorld.
    pub dir: Option<PathBuf>,
    /// Training images (at most; file sources may have fewer). Default 4000.
    pub train_images: usize,
    /// Validation images, evaluated during training. Default 200.
    pub val_images: usize,
    /// Test images for the final evaluation. Default 1000.
    pub test_images: usize,
    /// Image side in pixels (ShapeWorld renders at this size; file sources are resized).
    /// A multiple of 4, at least 32. Default 64.
    pub image_size: u32,
    /// ShapeWorld: fewest objects per scene. Default 1.
    pub min_objects: usize,
    /// ShapeWorld: most objects per scene (≤ 6). Default 6.
    pub max_objects: usize,
    /// ShapeWorld: colour–shape pairs held out of training, as `"colour:shape"`. Default none.
    pub holdout: Vec<String>,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self { source: DataSource::Shapeworld, dir: None, train_images: 4000, val_images: 200, test_images: 1000, image_size: 64, min_objects: 1, max_objects: 6, holdout: vec![] }
    }
}

/// How images become visual tokens (DESIGN §1: the paper uses panoptic segments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TokenSource {
    /// Ground-truth panoptic segments (the paper's, with a perfect segmenter). Default.
    #[default]
    Panoptic,
    /// Felzenszwalb–Huttenlocher graph segmentation (weight-free).
    Felzenszwalb,
    /// SLIC superpixels (weight-free).
    Slic,
    /// A regular grid of patches (ViT-style baseline).
    Grid,
    /// Boxes around the panoptic segments (detector-style baseline, overlapping).
    Boxes,
}

/// Which segment graph.
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

/// The visual-token section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// Token source. Default `panoptic`.
    pub source: TokenSource,
    /// Graph. Default `region-adjacency`.
    pub graph: GraphChoice,
    /// Region adjacency: dilation in pixels. Default 1.
    pub dilation: u32,
    /// k-NN: neighbours. Default 4.
    pub k: usize,
    /// Radius graph: radius as a fraction of the image side. Default 0.3.
    pub radius: f64,
    /// Felzenszwalb scale `k`. Default 100 (64-px images).
    pub fh_scale: f64,
    /// Felzenszwalb smoothing σ. Default 0.5.
    pub fh_sigma: f64,
    /// Felzenszwalb minimum segment size in pixels. Default 30.
    pub fh_min_size: usize,
    /// SLIC: approximate number of superpixels. Default 16.
    pub slic_segments: usize,
    /// SLIC compactness. Default 10.
    pub slic_compactness: f64,
    /// Grid: patches per side. Default 4.
    pub grid: u32,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            source: TokenSource::Panoptic,
            graph: GraphChoice::RegionAdjacency,
            dilation: 1,
            k: 4,
            radius: 0.3,
            fh_scale: 100.0,
            fh_sigma: 0.5,
            fh_min_size: 30,
            slic_segments: 16,
            slic_compactness: 10.0,
            grid: 4,
        }
    }
}

impl TokenConfig {
    /// The graph kind for images of `side` pixels. Box tokens overlap, so their region
    /// adjacency is overlap or a shared border, without dilation.
    pub fn graph_kind(&self, side: u32) -> GraphKind {
        match self.graph {
            GraphChoice::RegionAdjacency if self.source == TokenSource::Boxes => GraphKind::RegionAdjacency { dilation: 0 },
            GraphChoice::RegionAdjacency => GraphKind::RegionAdjacency { dilation: self.dilation },
            GraphChoice::Knn => GraphKind::Knn { k: self.k },
            GraphChoice::Radius => GraphKind::Radius { radius: self.radius * side as f64 },
            GraphChoice::Full => GraphKind::Full,
        }
    }
}

/// The neuron model of the spiking branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NeuronChoice {
    /// Integrate-and-fire.
    If,
    /// Leaky integrate-and-fire (τ form). Default.
    #[default]
    Lif,
    /// Parametric LIF (learned τ).
    Plif,
}

/// The surrogate gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SurrogateChoice {
    /// ATan (α = 2). Default.
    #[default]
    Atan,
    /// Sigmoid (α = 4).
    Sigmoid,
    /// Fast sigmoid (slope 25).
    FastSigmoid,
    /// Piecewise quadratic (α = 1).
    PiecewiseQuadratic,
    /// Straight-through.
    StraightThrough,
}

/// How `r` is set in `V' = r·E_SNN + F_GAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FusionChoice {
    /// One learned scalar (the paper's). Default.
    #[default]
    Learned,
    /// A learned weight per channel.
    PerChannel,
    /// The constant `r`.
    Fixed,
}

/// The branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BranchChoice {
    /// GAT and SNN fused (the paper's). Default.
    #[default]
    Hybrid,
    /// F_GAT only.
    GatOnly,
    /// E_SNN only.
    SnnOnly,
}

/// The model section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Branches. Default `hybrid`.
    pub branches: BranchChoice,
    /// Fusion weight mode. Default `learned`.
    pub fusion: FusionChoice,
    /// Initial (or fixed) `r`. Default 1.
    pub r: f64,
    /// Spiking time steps T. Default 4.
    pub time_steps: usize,
    /// Neuron. Default `lif`.
    pub neuron: NeuronChoice,
    /// Membrane time constant τ of LIF (and PLIF's initial τ). Default 2.
    pub tau: f64,
    /// Firing threshold. Default 1.
    pub threshold: f64,
    /// Surrogate gradient. Default `atan`.
    pub surrogate: SurrogateChoice,
    /// Surrogate sharpness (α, or the slope of the fast sigmoid); unset = the peer default.
    pub surrogate_alpha: Option<f64>,
    /// CNN output channels. Default 32.
    pub cnn_channels: usize,
    /// Node width of both branches. Default 64.
    pub d_model: usize,
    /// GAT heads. Default 4.
    pub heads: usize,
    /// Joint embedding width. Default 64.
    pub embed_dim: usize,
    /// Text encoder width. Default 64.
    pub text_width: usize,
    /// Text encoder layers. Default 2.
    pub text_layers: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            branches: BranchChoice::Hybrid,
            fusion: FusionChoice::Learned,
            r: 1.0,
            time_steps: 4,
            neuron: NeuronChoice::Lif,
            tau: 2.0,
            threshold: 1.0,
            surrogate: SurrogateChoice::Atan,
            surrogate_alpha: None,
            cnn_channels: 32,
            d_model: 64,
            heads: 4,
            embed_dim: 64,
            text_width: 64,
            text_layers: 2,
        }
    }
}

impl ModelConfig {
    /// The surrogate, with the peer default sharpness unless `surrogate_alpha` is set.
    pub fn surrogate(&self) -> Surrogate {
        let a = self.surrogate_alpha;
        match self.surrogate {
            SurrogateChoice::Atan => Surrogate::ATan { alpha: a.unwrap_or(2.0) },
            SurrogateChoice::Sigmoid => Surrogate::Sigmoid { alpha: a.unwrap_or(4.0) },
            SurrogateChoice::FastSigmoid => Surrogate::FastSigmoid { slope: a.unwrap_or(25.0) },
            SurrogateChoice::PiecewiseQuadratic => Surrogate::PiecewiseQuadratic { alpha: a.unwrap_or(1.0) },
            SurrogateChoice::StraightThrough => Surrogate::StraightThrough,
        }
    }

    /// The neuron config (hard reset to 0, SpikingJelly's immediate reset).
    pub fn neuron(&self) -> NeuronConfig {
        let base = NeuronBaseConfig::new().with_threshold(self.threshold).with_surrogate(self.surrogate());
        match self.neuron {
            NeuronChoice::If => NeuronConfig::If(IfConfig::new().with_base(base)),
            NeuronChoice::Lif => NeuronConfig::Lif(LifConfig::new().with_leak(Leak::Tau { tau: self.tau, decay_input: true }).with_base(base)),
            NeuronChoice::Plif => NeuronConfig::Plif(PlifConfig::new().with_init_tau(self.tau).with_base(base)),
        }
    }

    /// The model's Burn config for a vocabulary of `vocab_size` words and `answers` VQA answers.
    pub fn gshn(&self, vocab_size: usize, answers: usize) -> GshnConfig {
        GshnConfig::new(vocab_size)
            .with_answers(answers.max(1))
            .with_cnn_channels(self.cnn_channels)
            .with_d_model(self.d_model)
            .with_heads(self.heads)
            .with_time_steps(self.time_steps)
            .with_neuron(self.neuron())
            .with_branches(match self.branches {
                BranchChoice::Hybrid => Branches::Hybrid,
                BranchChoice::GatOnly => Branches::GatOnly,
                BranchChoice::SnnOnly => Branches::SnnOnly,
            })
            .with_fusion(match self.fusion {
                FusionChoice::Learned => FusionWeight::Learned { init: self.r },
                FusionChoice::PerChannel => FusionWeight::LearnedPerChannel { init: self.r },
                FusionChoice::Fixed => FusionWeight::Fixed { value: self.r },
            })
            .with_embed_dim(self.embed_dim)
            .with_text_width(self.text_width)
            .with_text_layers(self.text_layers)
    }
}

/// The training section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Optimiser steps of the main (contrastive + VQA) stage. Default 1200.
    pub steps: usize,
    /// Spiked Text Learning pre-training steps before the main stage; 0 switches it off.
    /// Default 150.
    pub stl_steps: usize,
    /// Images per step. Default 64.
    pub batch_size: usize,
    /// Peak learning rate (both stages). Default 2e-3.
    pub lr: f64,
    /// Linear warm-up steps at the start of each stage. Default 100.
    pub warmup: usize,
    /// AdamW weight decay. Default 1e-4.
    pub weight_decay: f32,
    /// Gradient-norm clip. Default 1.0.
    pub grad_clip: f32,
    /// Weight of the VQA cross-entropy in the main stage; 0 switches the head off. Default 0.5.
    pub vqa_weight: f64,
    /// Weight of the node-level InfoNCE between E_SNN and F_GAT (hybrid only); 0 = off.
    /// Default 0.
    pub node_loss_weight: f64,
    /// Temperature of the node-level InfoNCE. Default 0.1.
    pub node_temperature: f64,
    /// Print a progress line every this many steps. Default 50.
    pub log_every: usize,
    /// Evaluate on the validation split every this many steps (and at the end). Default 300.
    pub eval_every: usize,
    /// Write a checkpoint every this many steps (and at the end). Default 300.
    pub checkpoint_every: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 1200,
            stl_steps: 150,
            batch_size: 64,
            lr: 2e-3,
            warmup: 100,
            weight_decay: 1e-4,
            grad_clip: 1.0,
            vqa_weight: 0.5,
            node_loss_weight: 0.0,
            node_temperature: 0.1,
            log_every: 50,
            eval_every: 300,
            checkpoint_every: 300,
        }
    }
}

impl TrainConfig {
    /// Steps of both stages.
    pub fn total_steps(&self) -> usize {
        self.stl_steps + self.steps
    }
}

/// The evaluation section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Energy preset for the SOP/MAC estimate: `45nm-fp32`, `45nm-fp16` or `45nm-int8`.
    pub energy: String,
    /// Test images drawn in the report. Default 4.
    pub report_images: usize,
    /// Images per evaluation batch. Default 100.
    pub batch_size: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self { energy: "45nm-fp32".into(), report_images: 4, batch_size: 100 }
    }
}

/// A whole experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExperimentConfig {
    /// Name (the run folder's default name). Default `shapeworld`.
    pub name: String,
    /// The one seed: data generation, initialisation, batches, captions, dropout.
    pub seed: u64,
    /// Device. Default `auto`.
    pub device: DeviceChoice,
    /// Data.
    pub data: DataConfig,
    /// Visual tokens and graph.
    pub tokens: TokenConfig,
    /// Model.
    pub model: ModelConfig,
    /// Training.
    pub train: TrainConfig,
    /// Evaluation.
    pub eval: EvalConfig,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            name: "shapeworld".into(),
            seed: 0,
            device: DeviceChoice::Auto,
            data: DataConfig::default(),
            tokens: TokenConfig::default(),
            model: ModelConfig::default(),
            train: TrainConfig::default(),
            eval: EvalConfig::default(),
        }
    }
}

impl ExperimentConfig {
    /// Reads, overrides (`key=value`, see [`apply_override`]) and validates a config file.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::from_toml(&text, &path.display().to_string(), overrides)
    }

    /// Parses, overrides and validates TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str, overrides: &[String]) -> Result<Self, ConfigError> {
        let mut value: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse { origin: origin.into(), message: e.to_string() })?;
        for o in overrides {
            apply_override(&mut value, o)?;
        }
        let cfg: Self = value.try_into().map_err(|e: toml::de::Error| ConfigError::Parse { origin: origin.into(), message: e.to_string() })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The resolved config as TOML (every field).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("an experiment config always serialises")
    }

    /// Checks every field for an impossible value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let d = &self.data;
        if d.image_size < 32 || d.image_size % 4 != 0 {
            return Err(invalid("data.image_size", format!("{} must be a multiple of 4 and at least 32", d.image_size)));
        }
        if d.min_objects == 0 || d.max_objects > 6 || d.min_objects > d.max_objects {
            return Err(invalid("data.min_objects", format!("need 1 ≤ min_objects ({}) ≤ max_objects ({}) ≤ 6", d.min_objects, d.max_objects)));
        }
        if d.test_images < 2 {
            return Err(invalid("data.test_images", "need at least 2 test images"));
        }
        if d.source != DataSource::Shapeworld && d.dir.is_none() {
            return Err(invalid("data.dir", "the coco and easy-vqa sources read a folder: set data.dir"));
        }
        for h in &d.holdout {
            crate::data::shapeworld::parse_holdout(h).map_err(|e| invalid("data.holdout", e))?;
        }
        let t = &self.tokens;
        if t.k == 0 {
            return Err(invalid("tokens.k", "must be at least 1"));
        }
        if !(t.radius > 0.0) {
            return Err(invalid("tokens.radius", "must be positive"));
        }
        if !(t.fh_scale > 0.0) || t.fh_sigma < 0.0 {
            return Err(invalid("tokens.fh_scale", "fh_scale must be positive and fh_sigma non-negative"));
        }
        if t.slic_segments == 0 || !(t.slic_compactness > 0.0) {
            return Err(invalid("tokens.slic_segments", "slic_segments ≥ 1 and slic_compactness > 0"));
        }
        if t.grid == 0 || t.grid > d.image_size / 4 {
            return Err(invalid("tokens.grid", format!("{} patches per side do not fit a {}-cell feature map", t.grid, d.image_size / 4)));
        }
        let m = &self.model;
        if m.time_steps == 0 {
            return Err(invalid("model.time_steps", "must be at least 1"));
        }
        if m.heads == 0 || m.d_model % m.heads != 0 {
            return Err(invalid("model.heads", format!("d_model ({}) must be a multiple of heads ({})", m.d_model, m.heads)));
        }
        if m.text_width % 4 != 0 || m.text_width == 0 {
            return Err(invalid("model.text_width", "must be a positive multiple of 4 (4 attention heads)"));
        }
        if [m.cnn_channels, m.d_model, m.embed_dim, m.text_layers].contains(&0) {
            return Err(invalid("model", "cnn_channels, d_model, embed_dim and text_layers must be at least 1"));
        }
        if !(m.tau >= 1.0) {
            return Err(invalid("model.tau", format!("{} — τ must be at least 1 step", m.tau)));
        }
        if m.neuron == NeuronChoice::Plif && !(m.tau > 1.0) {
            return Err(invalid("model.tau", "PLIF's initial τ must exceed 1"));
        }
        if !(m.threshold > 0.0) || !m.r.is_finite() {
            return Err(invalid("model.threshold", "threshold must be positive and r finite"));
        }
        m.surrogate().validate().map_err(|e| invalid("model.surrogate_alpha", e.to_string()))?;
        let tr = &self.train;
        if tr.batch_size < 2 {
            return Err(invalid("train.batch_size", "contrastive learning needs at least 2 images per batch"));
        }
        if d.source == DataSource::Shapeworld && d.train_images < tr.batch_size {
            return Err(invalid("data.train_images", format!("{} training images cannot fill a batch of {}", d.train_images, tr.batch_size)));
        }
        if tr.steps == 0 {
            return Err(invalid("train.steps", "must be at least 1"));
        }
        if !(tr.lr > 0.0 && tr.lr.is_finite()) {
            return Err(invalid("train.lr", format!("{} — the learning rate must be positive and finite", tr.lr)));
        }
        if !(tr.grad_clip > 0.0) || tr.weight_decay < 0.0 {
            return Err(invalid("train.grad_clip", "grad_clip must be positive and weight_decay non-negative"));
        }
        if tr.vqa_weight < 0.0 || tr.node_loss_weight < 0.0 || !(tr.node_temperature > 0.0) {
            return Err(invalid("train.vqa_weight", "loss weights must be non-negative and node_temperature positive"));
        }
        if tr.node_loss_weight > 0.0 && m.branches != BranchChoice::Hybrid {
            return Err(invalid("train.node_loss_weight", "the node-level InfoNCE contrasts E_SNN with F_GAT: it needs branches = \"hybrid\""));
        }
        if tr.log_every == 0 || tr.eval_every == 0 || tr.checkpoint_every == 0 {
            return Err(invalid("train.log_every", "log_every, eval_every and checkpoint_every must be at least 1"));
        }
        if gshn_snn::stats::EnergyModel::preset(&self.eval.energy).is_none() {
            return Err(invalid("eval.energy", format!("unknown preset `{}` (45nm-fp32, 45nm-fp16, 45nm-int8)", self.eval.energy)));
        }
        if self.eval.batch_size == 0 {
            return Err(invalid("eval.batch_size", "must be at least 1"));
        }
        Ok(())
    }
}

/// Applies `section.field=value` to a parsed config. The value is TOML (`8`, `"slic"`,
/// `true`, `[1, 2]`); a bare word that is not TOML is taken as a string. The field must exist
/// in the schema (checked against the defaults), so a typo is an error.
pub fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), ConfigError> {
    let (key, raw) = assignment.split_once('=').ok_or_else(|| ConfigError::Parse {
        origin: "override".into(),
        message: format!("`{assignment}` is not key=value (e.g. model.time_steps=8)"),
    })?;
    let (key, raw) = (key.trim(), raw.trim());
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let defaults = toml::Table::try_from(ExperimentConfig::default()).expect("defaults serialise");
    let parts: Vec<&str> = key.split('.').collect();
    let mut schema = &defaults;
    for p in &parts[..parts.len() - 1] {
        schema = schema.get(*p).and_then(|v| v.as_table()).ok_or_else(|| unknown_key(key))?;
    }
    let last = parts[parts.len() - 1];
    // Optional fields are absent from the serialised defaults; allow the known ones.
    const OPTIONAL: [&str; 2] = ["data.dir", "model.surrogate_alpha"];
    if !schema.contains_key(last) && !OPTIONAL.contains(&key) {
        return Err(unknown_key(key));
    }
    let mut node = table;
    for p in &parts[..parts.len() - 1] {
        node = node.entry(p.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new())).as_table_mut().ok_or_else(|| unknown_key(key))?;
    }
    node.insert(last.to_string(), value);
    Ok(())
}

fn unknown_key(key: &str) -> ConfigError {
    ConfigError::Parse { origin: "override".into(), message: format!("unknown config field `{key}` (see configs/shapeworld.toml for every field)") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let cfg = ExperimentConfig::default();
        let back = ExperimentConfig::from_toml(&cfg.to_toml(), "resolved", &[]).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn partial_files_take_defaults_and_unknown_fields_fail() {
        let cfg = ExperimentConfig::from_toml("[model]\ntime_steps = 8\n", "t", &[]).unwrap();
        assert_eq!(cfg.model.time_steps, 8);
        assert_eq!(cfg.train, TrainConfig::default());
        let err = ExperimentConfig::from_toml("[model]\ntime_step = 8\n", "t.toml", &[]).unwrap_err().to_string();
        assert!(err.contains("time_step") && err.contains("t.toml"), "{err}");
        let err = ExperimentConfig::from_toml("[model]\nneuron = \"hodgkin\"\n", "t", &[]).unwrap_err().to_string();
        assert!(err.contains("hodgkin"), "{err}");
    }

    #[test]
    fn impossible_values_name_their_field() {
        for (text, field) in [
            ("[model]\ntime_steps = 0", "model.time_steps"),
            ("[model]\nheads = 3", "model.heads"),
            ("[model]\ntau = 0.5", "model.tau"),
            ("[train]\nbatch_size = 1", "train.batch_size"),
            ("[train]\nlr = -1.0", "train.lr"),
            ("[data]\nimage_size = 30", "data.image_size"),
            ("[data]\nholdout = [\"red-triangle\"]", "data.holdout"),
            ("[model]\nbranches = \"gat-only\"\n[train]\nnode_loss_weight = 0.1", "train.node_loss_weight"),
            ("[eval]\nenergy = \"7nm\"", "eval.energy"),
        ] {
            let err = ExperimentConfig::from_toml(text, "t", &[]).unwrap_err();
            assert!(matches!(&err, ConfigError::Invalid { field: f, .. } if f == field), "{text}: {err}");
        }
    }

    #[test]
    fn overrides_reach_any_field_and_reject_typos() {
        let o = |s: &str| vec![s.to_string()];
        let cfg = ExperimentConfig::from_toml("", "t", &o("model.time_steps=8")).unwrap();
        assert_eq!(cfg.model.time_steps, 8);
        let cfg = ExperimentConfig::from_toml("", "t", &o("tokens.source=slic")).unwrap();
        assert_eq!(cfg.tokens.source, TokenSource::Slic);
        let cfg = ExperimentConfig::from_toml("", "t", &o("model.surrogate_alpha=3.0")).unwrap();
        assert_eq!(cfg.model.surrogate_alpha, Some(3.0));
        assert!(ExperimentConfig::from_toml("", "t", &o("model.time_step=8")).unwrap_err().to_string().contains("model.time_step"));
        assert!(ExperimentConfig::from_toml("", "t", &o("nosuch.field=1")).is_err());
        assert!(ExperimentConfig::from_toml("", "t", &o("model.time_steps")).is_err());
    }
}
