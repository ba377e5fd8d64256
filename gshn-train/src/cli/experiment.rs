//! Experiments as data: the TOML experiment file, its validation, and `key=value` overrides.
//!
//! Every choice the paper leaves open is a field here, with our default (docs/paper-map.md).
//! Files only need the fields they change: everything else takes the default, and an unknown
//! field is an error naming it (a typo never silently falls back to a default). The `[model]`
//! table is the library's [`GshnConfig`], nested by component. The resolved config — every
//! field, defaults filled in — is saved beside each checkpoint.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::segments::{SegmentSource, SegmentsConfig};
use crate::model::config::{Branches, GshnConfig};
use crate::GshnError;

/// The fields `--resume` may change: the optimiser's and the progress intervals'.
pub const RESUMABLE_FIELDS: [&str; 7] =
    ["train.lr", "train.warmup", "train.grad_clip", "train.weight_decay", "train.log_every", "train.eval_every", "train.checkpoint_every"];

/// A config that cannot be used, with the field and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML does not parse or does not fit the schema (unknown field, wrong type).
    #[error("{origin}: {message}")]
    Parse {
        /// File name, or `--set KEY=VALUE` for an override.
        origin: String,
        /// What is wrong, with the line or the field.
        message: String,
    },
    /// A field was renamed; the message names the new field.
    #[error("{origin}: config field `{old}` is now `{new}`")]
    Renamed {
        /// File name or override.
        origin: String,
        /// The old dotted name.
        old: String,
        /// The new dotted name.
        new: String,
    },
    /// A command-line flag holds an impossible value.
    #[error("{flag}: {reason}")]
    Flag {
        /// The flag, e.g. `--image-size`.
        flag: String,
        /// What is wrong and what would do.
        reason: String,
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

/// A [`ConfigError::Flag`].
pub fn bad_flag(flag: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Flag { flag: flag.into(), reason: reason.into() }
}

/// The most images of one split (`data.*_images`, `gshn data shapeworld --train/--val/--test`).
pub const MAX_IMAGES: usize = 1_000_000;

/// Checks a ShapeWorld image side (`data.image_size`, `--image-size`): a multiple of 4 from
/// 32 to 1024.
pub fn check_image_size(size: u32) -> Result<(), String> {
    if !(32..=1024).contains(&size) || !size.is_multiple_of(4) {
        return Err(format!("{size} must be a multiple of 4 from 32 to 1024"));
    }
    Ok(())
}

/// Checks ShapeWorld hold-out pairs (`data.holdout`, `--holdout`): each parses, and they
/// leave at least one colour–shape pair to train on.
pub fn check_holdout(holdout: &[String]) -> Result<Vec<(String, String)>, String> {
    let pairs = holdout.iter().map(|h| crate::data::shapeworld::parse_holdout(h)).collect::<Result<Vec<_>, _>>()?;
    let kinds = crate::data::shapeworld::COLOURS.len() * crate::data::shapeworld::SHAPES.len();
    let mut distinct = pairs.clone();
    distinct.sort();
    distinct.dedup();
    if distinct.len() >= kinds {
        return Err(format!("holding out all {kinds} colour–shape pairs leaves no object to train on"));
    }
    Ok(pairs)
}

/// Every float of `value` (a serialised config), by dotted path, that a `f32` cannot hold:
/// beyond ±3.4e38 (it would become infinite) or nonzero below 1.2e-38 in magnitude (it would
/// become 0 or lose its precision). The model computes in `f32`, so such a value passes an
/// `f64` range check yet breaks the run later.
pub fn f32_unrepresentable(value: &toml::Value, path: &str, out: &mut Vec<(String, f64)>) {
    match value {
        toml::Value::Float(x) if x.is_finite() && (x.abs() > f32::MAX as f64 || (*x != 0.0 && x.abs() < f32::MIN_POSITIVE as f64)) => {
            out.push((path.to_string(), *x))
        }
        toml::Value::Table(t) => {
            for (k, v) in t {
                f32_unrepresentable(v, &if path.is_empty() { k.clone() } else { format!("{path}.{k}") }, out);
            }
        }
        toml::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                f32_unrepresentable(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The dotted fields whose values differ between two serialised configs (a field present in
/// one only counts), each as `field: old → new`.
pub fn differences(old: &toml::Value, new: &toml::Value, path: &str, out: &mut Vec<String>) {
    match (old, new) {
        (toml::Value::Table(a), toml::Value::Table(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => differences(x, y, &p, out),
                    (x, y) => out.push(format!("{p}: {} → {}", x.map_or("(absent)".into(), |v| v.to_string()), y.map_or("(absent)".into(), |v| v.to_string()))),
                }
            }
        }
        (a, b) if a != b => out.push(format!("{path}: {a} → {b}")),
        _ => {}
    }
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

impl DeviceChoice {
    /// Parses a `--device` value: `auto`, `flex` (or `cpu`), `wgpu`.
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        Ok(match s {
            "auto" => DeviceChoice::Auto,
            "flex" | "cpu" => DeviceChoice::Flex,
            "wgpu" => DeviceChoice::Wgpu,
            other => return Err(ConfigError::Parse { origin: "--device".into(), message: format!("unknown device `{other}` (auto, flex or wgpu)") }),
        })
    }
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
    /// SNLI-VE in ALBEF's json files over a folder of images (`data::albef`).
    SnliVe,
    /// NLVR² in ALBEF's json files over a folder of images (`data::albef`).
    Nlvr2,
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
    /// A multiple of 4 (and of `model.tokens.stride`), 32–1024. Default 64.
    pub image_size: u32,
    /// ShapeWorld: fewest objects per scene. Default 1.
    pub min_objects: usize,
    /// ShapeWorld: most objects per scene (≤ 6). Default 6.
    pub max_objects: usize,
    /// ShapeWorld: colour–shape pairs held out of training, as `"colour:shape"`. Default none.
    pub holdout: Vec<String>,
    /// ShapeWorld-VE: fraction of scenes with an occluder (a plain band some objects hide
    /// behind), in `[0, 1]`. Default 0.
    pub occluders: f64,
    /// ShapeWorld-VE: visual-entailment hypotheses per image, 0–16 (the task trains with
    /// `model.loss.entailment > 0`). Default 0.
    pub hypotheses: usize,
    /// ShapeWorld-NLVR: statements per image pair, 0–16; > 0 makes every example a pair of
    /// scenes (the task trains with `model.loss.nlvr > 0`). Default 0.
    pub statements: usize,
    /// How images are cut into segments (the graph's nodes).
    pub segments: SegmentsConfig,
    /// The data seed: ShapeWorld's scenes and the splits of file sources. Unset: the
    /// experiment's `seed` (which always drives initialisation, batches and dropout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// `coco` and `easy-vqa`: the largest image file accepted, in pixels (width × height).
    /// A larger one is refused before its pixels are decoded, with an error naming the file
    /// and this field. Loading holds about 16 bytes per pixel of the largest image (the
    /// decoded RGB and, for panoptic tokens, the full-size label map). From 1 to 2^28
    /// (16384²). Default 16,000,000 (COCO's images have at most 640 × 640).
    pub max_pixels: u64,
}

/// The largest `data.max_pixels` accepted: 2^28 pixels (16384 × 16384).
pub const MAX_PIXELS_CEILING: u64 = 1 << 28;

impl DataConfig {
    /// The limits the file loaders read images with (errors name `data.max_pixels`).
    pub fn image_limits(&self) -> gshn_seg::image_io::ImageLimits {
        gshn_seg::image_io::ImageLimits { max_pixels: self.max_pixels, knob: "data.max_pixels", ..Default::default() }
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            source: DataSource::Shapeworld,
            dir: None,
            train_images: 4000,
            val_images: 200,
            test_images: 1000,
            image_size: 64,
            min_objects: 1,
            max_objects: 6,
            holdout: vec![],
            occluders: 0.0,
            hypotheses: 0,
            statements: 0,
            segments: SegmentsConfig::default(),
            seed: None,
            max_pixels: gshn_seg::image_io::DEFAULT_MAX_PIXELS,
        }
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

/// CubeCL's autotune effort (`runtime.autotune`): how finely shapes are bucketed into tuning
/// keys and how many candidates are benchmarked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AutotuneChoice {
    /// Coarse buckets (steps of 2.5), least tuning.
    Minimal,
    /// Power-of-two buckets (CubeCL's default).
    Balanced,
    /// Finer buckets (steps of 1.5).
    Extensive,
    /// Exact shapes, every candidate.
    Full,
}

/// Settings of the WGPU runtime (CubeCL and Burn's fusion) for this run; flex ignores them.
/// A field left out keeps what `cubecl.toml` / `burn.toml` (searched from the working
/// directory up) and the `CUBECL_*` / `BURN_*` environment variables say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSettings {
    /// Autotune effort.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autotune: Option<AutotuneChoice>,
    /// Keep the autotune results between runs (false: tune again in every process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autotune_cache: Option<bool>,
    /// Where the cache lives: `global` (one per machine, ~/.cache/cubecl), `target` (the
    /// project's target/environment), `local` (the working directory) or a directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    /// Burn's kernel fusion (false: every operation runs unfused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fusion: Option<bool>,
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
    /// The model (the library's [`GshnConfig`]).
    pub model: GshnConfig,
    /// Training.
    pub train: TrainConfig,
    /// Evaluation.
    pub eval: EvalConfig,
    /// The WGPU runtime (autotune, its cache, fusion).
    pub runtime: RuntimeSettings,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            name: "shapeworld".into(),
            seed: 0,
            device: DeviceChoice::Auto,
            data: DataConfig::default(),
            model: GshnConfig::default(),
            train: TrainConfig::default(),
            eval: EvalConfig::default(),
            runtime: RuntimeSettings::default(),
        }
    }
}

/// Fields that moved when the model config became nested: `(old, new)`. `<neuron>` stands for
/// the neuron's name (`lif`, `if`, `plif`).
pub const RENAMED: [(&str, &str); 27] = [
    ("tokens", "data.segments (segmenter) and model.tokens (graph)"),
    ("tokens.source", "data.segments.source"),
    ("tokens.fh_scale", "data.segments.fh_scale"),
    ("tokens.fh_sigma", "data.segments.fh_sigma"),
    ("tokens.fh_min_size", "data.segments.fh_min_size"),
    ("tokens.slic_segments", "data.segments.slic_segments"),
    ("tokens.slic_compactness", "data.segments.slic_compactness"),
    ("tokens.grid", "data.segments.grid"),
    ("tokens.graph", "model.tokens.graph"),
    ("tokens.dilation", "model.tokens.dilation"),
    ("tokens.k", "model.tokens.k"),
    ("tokens.radius", "model.tokens.radius"),
    ("model.branches", "model.fusion.branches"),
    ("model.r", "model.fusion.r"),
    ("model.time_steps", "model.snn.time_steps"),
    ("model.neuron", "model.snn.neuron"),
    ("model.tau", "model.snn.neuron.<neuron>.tau"),
    ("model.threshold", "model.snn.neuron.<neuron>.threshold"),
    ("model.surrogate", "model.snn.neuron.<neuron>.surrogate"),
    ("model.surrogate_alpha", "model.snn.neuron.<neuron>.surrogate (e.g. { atan = { alpha = 2.0 } })"),
    ("model.cnn_channels", "model.tokens.cnn_channels"),
    ("model.heads", "model.gat.heads"),
    ("model.text_width", "model.text.width"),
    ("model.text_layers", "model.text.layers"),
    ("train.vqa_weight", "model.loss.vqa"),
    ("train.node_loss_weight", "model.loss.node"),
    ("train.node_temperature", "model.loss.node_temperature"),
];

fn renamed(key: &str) -> Option<&'static str> {
    RENAMED.iter().find(|(old, _)| *old == key).map(|(_, new)| *new)
}

/// Refuses old field names in a parsed table, naming the new one.
fn check_renamed(table: &toml::Table, origin: &str) -> Result<(), ConfigError> {
    let err = |old: &str, new: &str| ConfigError::Renamed { origin: origin.into(), old: old.into(), new: new.into() };
    if let Some(toml::Value::Table(t)) = table.get("tokens") {
        if let Some(k) = t.keys().next() {
            let old = format!("tokens.{k}");
            return Err(err(&old, renamed(&old).unwrap_or(renamed("tokens").expect("listed"))));
        }
        return Err(err("tokens", renamed("tokens").expect("listed")));
    }
    for section in ["model", "train"] {
        if let Some(toml::Value::Table(t)) = table.get(section) {
            for (k, v) in t {
                let old = format!("{section}.{k}");
                // `model.fusion` was a string; it is a table now.
                if old == "model.fusion" && v.is_str() {
                    return Err(err("model.fusion (a string)", "model.fusion.mode"));
                }
                if let Some(new) = renamed(&old) {
                    return Err(err(&old, new));
                }
            }
        }
    }
    Ok(())
}

/// Config positions whose value names one variant: a string (`"plif"`) or a one-key table
/// (`{ plif = { … } }`). `*` matches any one key.
const TAGGED: [&str; 4] = ["model.snn.neuron", "model.snn.neuron.*.surrogate", "model.tokens.backbone", "model.text.encoder"];

fn is_tagged(path: &[&str]) -> bool {
    TAGGED.iter().any(|t| {
        let parts: Vec<&str> = t.split('.').collect();
        parts.len() == path.len() && parts.iter().zip(path).all(|(p, k)| *p == "*" || p == k)
    })
}

impl ExperimentConfig {
    /// The seed of the data: `data.seed`, else `seed`.
    pub fn data_seed(&self) -> u64 {
        self.data.seed.unwrap_or(self.seed)
    }

    /// What the loaders of files on disk need from this experiment.
    pub fn load_config(&self) -> crate::data::LoadConfig {
        let d = &self.data;
        crate::data::LoadConfig {
            dir: d.dir.clone().unwrap_or_default(),
            image_size: d.image_size,
            limits: d.image_limits(),
            segments: d.segments.clone(),
            tokens: self.model.tokens.clone(),
            train_images: d.train_images,
            val_images: d.val_images,
            test_images: d.test_images,
            seed: self.data_seed(),
        }
    }

    /// Reads, overrides (`key=value`, see [`apply_override`]) and validates a config file.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::from_toml(&text, &path.display().to_string(), overrides)
    }

    /// Parses, overrides and validates TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str, overrides: &[String]) -> Result<Self, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse { origin: origin.into(), message: e.to_string() })?;
        check_renamed(&table, origin)?;
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        let origin = if overrides.is_empty() { origin.to_string() } else { format!("{origin} with --set {}", overrides.join(" --set ")) };
        let cfg: Self = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let path = e.path().to_string();
            ConfigError::Parse { origin: origin.clone(), message: format!("config field `{path}`: {}", e.into_inner()) }
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The resolved config as TOML (every field).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("an experiment config always serialises")
    }

    /// The resolved config as a TOML value (every field), for walking or comparing fields.
    pub fn to_value(&self) -> toml::Value {
        toml::Value::try_from(self).expect("an experiment config always serialises")
    }

    /// Checks every field for an impossible value, upper bounds included.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_folder_name(&self.name).map_err(|reason| invalid("name", reason))?;
        let mut narrow = Vec::new();
        f32_unrepresentable(&self.to_value(), "", &mut narrow);
        if let Some((field, x)) = narrow.first() {
            return Err(invalid(field, format!("{x:e} cannot be held by the model's 32-bit floats (magnitudes from 1.2e-38 to 3.4e38, or 0)")));
        }
        let d = &self.data;
        check_image_size(d.image_size).map_err(|e| invalid("data.image_size", e))?;
        if self.model.tokens.backbone.efficientnet().is_none() && !d.image_size.is_multiple_of(self.model.tokens.stride as u32) {
            return Err(invalid("model.tokens.stride", format!("{} must divide data.image_size ({})", self.model.tokens.stride, d.image_size)));
        }
        if d.min_objects == 0 || d.max_objects > 6 || d.min_objects > d.max_objects {
            return Err(invalid("data.min_objects", format!("need 1 ≤ min_objects ({}) ≤ max_objects ({}) ≤ 6", d.min_objects, d.max_objects)));
        }
        for (field, n) in [("data.train_images", d.train_images), ("data.val_images", d.val_images), ("data.test_images", d.test_images)] {
            if n > MAX_IMAGES {
                return Err(invalid(field, format!("{n} exceeds {MAX_IMAGES} images")));
            }
        }
        if !(1..=MAX_PIXELS_CEILING).contains(&d.max_pixels) {
            return Err(invalid("data.max_pixels", format!("{} must lie in 1..={MAX_PIXELS_CEILING} (16384²)", d.max_pixels)));
        }
        if d.test_images < 2 {
            return Err(invalid("data.test_images", "need at least 2 test images"));
        }
        if !(0.0..=1.0).contains(&d.occluders) {
            return Err(invalid("data.occluders", format!("{} must be a fraction in [0, 1]", d.occluders)));
        }
        for (field, n) in [("data.hypotheses", d.hypotheses), ("data.statements", d.statements)] {
            if n > 16 {
                return Err(invalid(field, format!("{n} must lie in 0..=16")));
            }
            if n > 0 && d.source != DataSource::Shapeworld {
                return Err(invalid(field, "entailment hypotheses and NLVR statements are generated with ShapeWorld scenes: set data.source = \"shapeworld\""));
            }
        }
        if d.occluders > 0.0 && d.statements > 0 {
            return Err(invalid("data.occluders", "occluders belong to single scenes (ShapeWorld-VE); image pairs (data.statements > 0) have none"));
        }
        if d.occluders > 0.0 && d.source != DataSource::Shapeworld {
            return Err(invalid("data.occluders", "occluders are drawn into ShapeWorld scenes: set data.source = \"shapeworld\""));
        }
        if d.source != DataSource::Shapeworld && d.dir.is_none() {
            return Err(invalid("data.dir", "the coco, easy-vqa, snli-ve and nlvr2 sources read a folder: set data.dir"));
        }
        check_holdout(&d.holdout).map_err(|e| invalid("data.holdout", e))?;
        d.segments.validate().map_err(|e| prefixed("data.segments", e))?;
        if matches!(d.source, DataSource::EasyVqa | DataSource::SnliVe | DataSource::Nlvr2) && d.segments.needs_reference() {
            return Err(invalid(
                "data.segments.source",
                format!("{:?} has no ground-truth segments for {:?} tokens; use felzenszwalb, slic or grid", d.source, d.segments.source),
            ));
        }
        let cells = self.model.tokens.feature_side(d.image_size).unwrap_or(0);
        if d.segments.source == SegmentSource::Grid && d.segments.grid as usize > cells {
            return Err(invalid("data.segments.grid", format!("{} patches per side do not fit a {cells}-cell feature map", d.segments.grid)));
        }
        self.model.validate().map_err(|e| prefixed("model", e))?;
        let tr = &self.train;
        if tr.batch_size < 2 || tr.batch_size > 65_536 {
            return Err(invalid("train.batch_size", format!("{} — contrastive learning needs 2 to 65536 images per batch", tr.batch_size)));
        }
        if d.source == DataSource::Shapeworld && d.train_images < tr.batch_size {
            return Err(invalid("data.train_images", format!("{} training images cannot fill a batch of {}", d.train_images, tr.batch_size)));
        }
        if tr.steps == 0 || tr.steps > 100_000_000 || tr.stl_steps > 100_000_000 {
            return Err(invalid("train.steps", "steps must lie in 1..=1e8 and stl_steps in 0..=1e8"));
        }
        if !(tr.lr > 0.0 && tr.lr.is_finite() && tr.lr <= 1e6) {
            return Err(invalid("train.lr", format!("{} — the learning rate must lie in (0, 1e6]", tr.lr)));
        }
        if !(tr.grad_clip > 0.0 && tr.grad_clip.is_finite()) {
            return Err(invalid("train.grad_clip", format!("{} must be positive and finite", tr.grad_clip)));
        }
        if !(tr.weight_decay >= 0.0 && tr.weight_decay.is_finite()) {
            return Err(invalid("train.weight_decay", format!("{} must be non-negative and finite", tr.weight_decay)));
        }
        if tr.lr * tr.weight_decay as f64 >= 1.0 {
            return Err(invalid(
                "train.weight_decay",
                format!("{} × train.lr {} ≥ 1: AdamW's decoupled decay (w ← w − lr·λ·w) would flip or zero every weight each step", tr.weight_decay, tr.lr),
            ));
        }
        if tr.log_every == 0 || tr.eval_every == 0 || tr.checkpoint_every == 0 {
            return Err(invalid("train.log_every", "log_every, eval_every and checkpoint_every must be at least 1"));
        }
        if gshn_snn::stats::EnergyModel::preset(&self.eval.energy).is_none() {
            return Err(invalid("eval.energy", format!("unknown preset `{}` (45nm-fp32, 45nm-fp16, 45nm-int8)", self.eval.energy)));
        }
        if self.eval.batch_size == 0 || self.eval.batch_size > 65_536 {
            return Err(invalid("eval.batch_size", format!("{} must lie in 1..=65536", self.eval.batch_size)));
        }
        if self.eval.report_images > 64 {
            return Err(invalid("eval.report_images", format!("{} must lie in 0..=64 (0 draws no example sheet)", self.eval.report_images)));
        }
        if self.model.loss.node > 0.0 && self.model.fusion.branches != Branches::Hybrid {
            return Err(invalid("model.loss.node", "the node-level InfoNCE contrasts E_SNN with F_GAT: it needs model.fusion.branches = \"hybrid\""));
        }
        Ok(())
    }
}

/// Whether `name` is safe as one folder name under a runs folder: 1–128 letters, digits and
/// `- _ . = ,`, not starting with a dot (so no `..`, no separators, no absolute paths).
pub fn check_folder_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty() && name.len() <= 128 && !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.=,".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` must be 1–128 letters, digits and - _ . = , not starting with a dot (it names a folder under runs/)"))
    }
}

fn prefixed(prefix: &str, e: GshnError) -> ConfigError {
    match e {
        GshnError::InvalidConfig { field, reason } => ConfigError::Invalid { field: format!("{prefix}.{field}"), reason },
        other => ConfigError::Invalid { field: prefix.into(), reason: other.to_string() },
    }
}

/// Applies `section.field=value` to a parsed config. The value is TOML (`8`, `"slic"`,
/// `true`, `[1, 2]`, `{ atan = { alpha = 3.0 } }`); a bare word that is not TOML is taken as a
/// string. Tables on the way are created; at a position that names one variant
/// (`model.snn.neuron`, a surrogate) a different variant replaces the old one. Whether the
/// field exists is checked when the whole config is read, with the field's path in the error.
pub fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), ConfigError> {
    let origin = format!("--set {assignment}");
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| ConfigError::Parse { origin: origin.clone(), message: format!("`{assignment}` is not KEY=VALUE (e.g. model.snn.time_steps=8)") })?;
    let (key, raw) = (key.trim(), raw.trim());
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(ConfigError::Parse { origin, message: format!("`{key}` is not a dotted field name") });
    }
    if let Some(new) = renamed(key).or_else(|| key.starts_with("tokens.").then(|| renamed("tokens").expect("listed"))) {
        return Err(ConfigError::Renamed { origin, old: key.into(), new: new.into() });
    }
    let value: toml::Value =
        toml::from_str::<toml::Table>(&format!("v = {raw}")).ok().and_then(|mut t| t.remove("v")).unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    let mut node = table;
    for (i, p) in parts[..parts.len() - 1].iter().enumerate() {
        let path = &parts[..=i];
        let entry = node.entry(p.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if is_tagged(path) {
            let next = parts[i + 1];
            let same = match &*entry {
                toml::Value::String(s) => s == next,
                toml::Value::Table(t) => t.is_empty() || t.contains_key(next),
                _ => false,
            };
            if !same {
                *entry = toml::Value::Table(toml::Table::new());
            }
        }
        if entry.is_str() && is_tagged(path) {
            *entry = toml::Value::Table(toml::Table::new());
        }
        node = match entry {
            toml::Value::Table(t) => t,
            other => {
                return Err(ConfigError::Parse { origin, message: format!("cannot set `{key}`: `{}` is {other}, not a table", path.join(".")) });
            }
        };
    }
    node.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gshn_snn::neuron::{Leak, NeuronConfig};

    #[test]
    fn defaults_round_trip_through_toml() {
        let cfg = ExperimentConfig::default();
        let back = ExperimentConfig::from_toml(&cfg.to_toml(), "resolved", &[]).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn partial_files_take_defaults_and_unknown_fields_fail_with_their_path() {
        let cfg = ExperimentConfig::from_toml("[model.snn]\ntime_steps = 8\n", "t", &[]).unwrap();
        assert_eq!(cfg.model.snn.time_steps, 8);
        assert_eq!(cfg.train, TrainConfig::default());
        let err = ExperimentConfig::from_toml("[model.gat]\nhedas = 8\n", "t.toml", &[]).unwrap_err().to_string();
        assert!(err.contains("model.gat.hedas") && err.contains("t.toml") && err.contains("unknown field"), "{err}");
        let err = ExperimentConfig::from_toml("[model.snn]\nneuron = \"hodgkin\"\n", "t", &[]).unwrap_err().to_string();
        assert!(err.contains("hodgkin") && err.contains("model.snn.neuron"), "{err}");
    }

    #[test]
    fn old_names_say_the_new_name() {
        for (text, old, new) in [
            ("[model]\ntime_steps = 8", "model.time_steps", "model.snn.time_steps"),
            ("[model]\nneuron = \"if\"", "model.neuron", "model.snn.neuron"),
            ("[model]\nfusion = \"fixed\"", "model.fusion", "model.fusion.mode"),
            ("[tokens]\nsource = \"slic\"", "tokens.source", "data.segments.source"),
            ("[tokens]\ngraph = \"knn\"", "tokens.graph", "model.tokens.graph"),
            ("[train]\nvqa_weight = 0.1", "train.vqa_weight", "model.loss.vqa"),
        ] {
            let err = ExperimentConfig::from_toml(text, "t", &[]).unwrap_err();
            assert!(matches!(&err, ConfigError::Renamed { .. }), "{text}: {err}");
            let msg = err.to_string();
            assert!(msg.contains(old) && msg.contains(new), "{text}: {msg}");
        }
        let err = ExperimentConfig::from_toml("", "t", &["model.heads=2".into()]).unwrap_err().to_string();
        assert!(err.contains("model.gat.heads"), "{err}");
    }

    #[test]
    fn impossible_values_name_their_field() {
        for (text, field) in [
            ("[model.snn]\ntime_steps = 0", "model.snn.time_steps"),
            ("[model.snn]\ntime_steps = 100000", "model.snn.time_steps"),
            ("[model.gat]\nheads = 3", "model.gat.heads"),
            ("[model.snn.neuron.lif]\ntau = 0.5", "model.snn.neuron.lif"),
            ("[model]\nd_model = 1000000", "model.d_model"),
            ("[train]\nbatch_size = 1", "train.batch_size"),
            ("[train]\nlr = -1.0", "train.lr"),
            ("[train]\nlr = nan", "train.lr"),
            ("[data]\nimage_size = 30", "data.image_size"),
            ("[data]\nimage_size = 100000", "data.image_size"),
            ("[data]\nholdout = [\"red-triangle\"]", "data.holdout"),
            ("[data.segments]\nfh_sigma = inf", "data.segments.fh_sigma"),
            ("[model.fusion]\nbranches = \"gat-only\"\n[model.loss]\nnode = 0.1", "model.loss.node"),
            ("[eval]\nenergy = \"7nm\"", "eval.energy"),
            ("[model.tokens]\nstride = 3", "model.tokens.stride"),
            ("name = \"../elsewhere\"", "name"),
            ("name = \"/tmp/x\"", "name"),
        ] {
            let err = ExperimentConfig::from_toml(text, "t", &[]).unwrap_err();
            assert!(matches!(&err, ConfigError::Invalid { field: f, .. } if f == field), "{text}: {err}");
        }
    }

    #[test]
    fn overrides_reach_any_nested_field_and_reject_typos() {
        let o = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cfg = ExperimentConfig::from_toml("", "t", &o(&["model.snn.time_steps=8", "model.gat.variant=v2", "data.segments.source=slic"])).unwrap();
        assert_eq!(cfg.model.snn.time_steps, 8);
        assert_eq!(cfg.model.gat.variant, crate::model::config::GatVariantChoice::V2);
        assert_eq!(cfg.data.segments.source, SegmentSource::Slic);
        let cfg = ExperimentConfig::from_toml("", "t", &o(&["model.snn.neuron.lif.tau=3"])).unwrap();
        assert!(matches!(&cfg.model.snn.neuron, NeuronConfig::Lif(l) if l.leak == Leak::Tau { tau: 3.0, decay_input: true }));
        // A file's LIF table gives way to another neuron named by an override.
        let file = "[model.snn.neuron.lif]\ntau = 3.0\n";
        let cfg = ExperimentConfig::from_toml(file, "t", &o(&["model.snn.neuron.plif.init_tau=4"])).unwrap();
        assert!(matches!(&cfg.model.snn.neuron, NeuronConfig::Plif(p) if p.init_tau == 4.0));
        let cfg = ExperimentConfig::from_toml(file, "t", &o(&["model.snn.neuron=if"])).unwrap();
        assert!(matches!(&cfg.model.snn.neuron, NeuronConfig::If(_)));
        let cfg = ExperimentConfig::from_toml("", "t", &o(&["model.snn.neuron.lif.surrogate.sigmoid.alpha=3"])).unwrap();
        assert_eq!(cfg.model.snn.neuron.base().surrogate, gshn_snn::Surrogate::Sigmoid { alpha: 3.0 });
        let err = ExperimentConfig::from_toml("", "t", &o(&["model.snn.time_step=8"])).unwrap_err().to_string();
        assert!(err.contains("model.snn.time_step") && err.contains("--set"), "{err}");
        assert!(ExperimentConfig::from_toml("", "t", &o(&["nosuch.field=1"])).unwrap_err().to_string().contains("nosuch"));
        assert!(ExperimentConfig::from_toml("", "t", &o(&["model.snn.time_steps"])).is_err());
        assert!(ExperimentConfig::from_toml("", "t", &o(&["model..x=1"])).is_err());
    }

    #[test]
    fn pretrained_encoders_by_name_or_table_and_by_override() {
        use crate::model::config::{Backbone, EfficientNetChoice, MiniLmChoice, TextEncoderChoice};
        let o = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cfg =
            ExperimentConfig::from_toml("[model.tokens]\nbackbone = \"efficientnet-lite0\"\nstride = 16\n[model.text]\nencoder = \"minilm-l6\"\n", "t", &[])
                .unwrap();
        assert_eq!(cfg.model.tokens.backbone, Backbone::EfficientnetLite0(EfficientNetChoice::default()));
        assert_eq!(cfg.model.text.encoder, TextEncoderChoice::MinilmL6(MiniLmChoice::default()));
        assert_eq!(cfg.model.tokens.feature_side(64).unwrap(), 16);
        assert_eq!(cfg.model.tokens.feature_channels(), 112);
        assert_eq!(cfg.model.text.feature_width(), 384);
        let back = ExperimentConfig::from_toml(&cfg.to_toml(), "resolved", &[]).unwrap();
        assert_eq!(back, cfg);
        let file = "[model.tokens]\nstride = 8\n[model.tokens.backbone.efficientnet-lite0]\nweights = \"w\"\nfrozen = false\ninput_size = 224\n";
        let cfg = ExperimentConfig::from_toml(file, "t", &o(&["model.tokens.backbone.efficientnet-lite0.cache=false"])).unwrap();
        let e = cfg.model.tokens.backbone.efficientnet().unwrap();
        assert!(!e.frozen && !e.cache && e.input_size == 224 && e.weights == std::path::Path::new("w"));
        assert_eq!(cfg.model.tokens.feature_side(64).unwrap(), 28);
        let cfg = ExperimentConfig::from_toml(file, "t", &o(&["model.tokens.backbone=cnn", "model.tokens.stride=4"])).unwrap();
        assert_eq!(cfg.model.tokens.backbone, Backbone::Cnn);
        let cfg = ExperimentConfig::from_toml("", "t", &o(&["model.text.encoder.minilm-l6.frozen=false"])).unwrap();
        assert!(!cfg.model.text.encoder.minilm().unwrap().frozen);
        for (text, field) in [
            ("[model.tokens]\nbackbone = \"efficientnet-lite0\"\nstride = 2", "model.tokens.stride"),
            (
                "[model.tokens]\nstride = 16\n[model.tokens.backbone.efficientnet-lite0]\ninput_size = 100",
                "model.tokens.backbone.efficientnet-lite0.input_size",
            ),
            ("[model.text]\nencoder = \"minilm-l6\"\nmax_len = 2", "model.text.max_len"),
        ] {
            let err = ExperimentConfig::from_toml(text, "t", &[]).unwrap_err();
            assert!(matches!(&err, ConfigError::Invalid { field: f, .. } if f == field), "{text}: {err}");
        }
        let err = ExperimentConfig::from_toml("[model.tokens]\nbackbone = \"resnet\"", "t", &[]).unwrap_err().to_string();
        assert!(err.contains("resnet") && err.contains("efficientnet-lite0"), "{err}");
        let err = ExperimentConfig::from_toml("[model.tokens.backbone.efficientnet-lite0]\nfrozn = true", "t", &[]).unwrap_err().to_string();
        assert!(err.contains("frozn"), "{err}");
    }
}
