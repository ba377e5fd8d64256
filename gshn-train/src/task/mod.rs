//! The tasks. A task module owns what is particular to it: its head (a
//! [`Module`](burn::module::Module) built from its config), its loss terms, its metrics with
//! their baselines, and — through the [`Task`] trait — what the training loop and the runner
//! need to know of it, declared once: when it trains, what data it needs, the terms it adds to
//! [`Gshn::losses`], and its columns of the metrics log.
//!
//! * [`retrieval`]: image–text retrieval (recall@K both ways, claim-aware recall,
//!   hard-negative accuracy); its loss is CLIP's InfoNCE (and, in its own stage, Spiked Text
//!   Learning), both in [`crate::loss`].
//! * [`vqa`]: visual question answering: the attention head, accuracy per question type and
//!   the answer-prior and question-only baselines.
//! * [`entailment`]: visual entailment (SNLI-VE as in ALBEF): image + hypothesis →
//!   contradiction / neutral / entailment, with ShapeWorld-VE
//!   ([`crate::data::shapeworld_ve`]) for exact labels.
//! * [`nlvr`]: NLVR² as in ALBEF and BLIP: two images + a statement → true / false, with
//!   ShapeWorld-NLVR ([`crate::data::shapeworld_nlvr`]) for exact truth.
//!
//! [`TASKS`] lists them. [`Gshn::losses_with`] sums the terms of every task in it (then the
//! model's own node-level term); the runner's evaluation runs each task's [`Scorer`] on every
//! batch and collects the results in [`TaskScores`] (the task fields of `eval.json`); the
//! report, the metrics log, the progress line, the charts, the "nothing to learn" checks and
//! `gshn ablate`'s metrics are built from it. Retrieval and VQA keep their older paths
//! (`crate::metrics`, `crate::model::vqa`) as re-exports; docs/architecture.md ("How to add
//! a task") lists the files a task touches.

use std::ops::Range;

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::batch::{GshnBatch, GshnBatcher, ImageBatch};
use crate::dataset::{Dataset, QaItem};
use crate::error::{GshnError, Result};
use crate::loss::{LossConfig, Losses};
use crate::model::{Gshn, ImageOutput};

pub mod entailment;
pub mod nlvr;
pub mod retrieval;
pub mod vqa;

/// A column of the metrics log: its key (`metrics.jsonl`, `metrics.csv`; a validation
/// metric's key is prefixed `val_` there) and its label in charts and progress lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Key in the log.
    pub key: &'static str,
    /// Label in charts and the progress line.
    pub label: &'static str,
    /// Whether the training progress line shows it (validation columns).
    pub brief: bool,
}

impl Column {
    /// A column shown in the progress line.
    pub const fn new(key: &'static str, label: &'static str) -> Self {
        Self { key, label, brief: true }
    }

    /// A column left out of the progress line (charts and the log only).
    pub const fn quiet(key: &'static str, label: &'static str) -> Self {
        Self { key, label, brief: false }
    }
}

/// What a task adds to training, declared once in its module.
pub trait Task: Sync {
    /// The task's name (`retrieval`, `vqa`, `entailment`, `nlvr`).
    fn name(&self) -> &'static str;

    /// The task and its examples as messages name them (`"VQA (questions)"`).
    fn title(&self) -> &'static str;

    /// Whether its weight in `w` is on (above 0): the model learns the task where the data
    /// carries it.
    fn weighted(&self, w: &LossConfig) -> bool;

    /// Whether `data` carries the task's examples.
    fn carried_by(&self, data: &Dataset) -> bool;

    /// Whether a model with loss weights `w` learns from the task on `data`: its weight is
    /// on and the data carries it (retrieval: captions, whatever the weights, since they train
    /// the STL stage too).
    fn learns(&self, data: &Dataset, w: &LossConfig) -> bool {
        self.weighted(w) && self.carried_by(data)
    }

    /// The task's examples as the "nothing to learn" message names them (`"questions (with
    /// model.loss.vqa > 0)"`).
    fn examples(&self) -> &'static str;

    /// When the task's weight is on but the training split lacks its examples: what to set
    /// (an error), or `None` where such data is normal (a default weight above 0).
    fn missing(&self, w: &LossConfig) -> Option<&'static str>;

    /// Adds the task's terms on `batch` — images encoded in `out` — to `losses` with the
    /// weights `w`; nothing where its weight is 0 or the batch lacks its input.
    fn add_losses(&self, model: &Gshn, batch: &GshnBatch, out: &ImageOutput, w: &LossConfig, losses: &mut Losses) -> Result<()>;

    /// Its loss terms' columns in the metrics log (the mean of each since the previous row).
    fn loss_columns(&self) -> &'static [Column];

    /// Its validation metrics' columns in the metrics log (`val_` + key).
    fn val_columns(&self) -> &'static [Column];

    /// The test metrics `gshn ablate` can compare and plot, `(name, label)`; the runner's
    /// evaluation report gives each by name.
    fn metrics(&self) -> &'static [(&'static str, &'static str)];

    /// The validation metric that stands for the task in learning curves (a key of
    /// [`val_columns`](Self::val_columns); by default the first: a task has at least one).
    fn headline(&self) -> Column {
        self.val_columns()[0]
    }

    /// Its evaluation of `model` on `data`, batch by batch; `None` where the model does not
    /// learn the task (its weight is 0: an untrained head's numbers would read as results).
    /// VQA's scorer always runs: the baselines need no model, and it scores the model only
    /// where VQA's weight is on.
    fn scorer<'a>(&self, model: &Gshn, data: &'a Dataset) -> Option<Box<dyn Scorer + 'a>>;

    /// Whether `scores` hold the task's results.
    fn scored(&self, scores: &TaskScores) -> bool;

    /// Its texts in `data` (captions, questions, …): the text encoder's energy is counted per
    /// text of the first scored task.
    fn texts<'a>(&self, data: &'a Dataset) -> Vec<&'a str>;

    /// What one of its texts is called (`caption`, `question`, …).
    fn text_unit(&self) -> &'static str;

    /// Its value of test metric `name` (one of [`metrics`](Self::metrics)).
    fn metric(&self, scores: &TaskScores, name: &str) -> Option<f64>;

    /// Its validation metrics by their [`val_columns`](Self::val_columns) keys.
    fn validation(&self, scores: &TaskScores) -> Vec<(&'static str, f64)>;

    /// Its section of the evaluation report (Markdown tables, each metric beside its
    /// baselines); empty where it was not scored.
    fn markdown(&self, scores: &TaskScores) -> String;
}

/// Every task's results on one split: the task fields of `eval.json` (`None` where the
/// split does not carry the task or the model does not learn it; VQA's baselines wherever the
/// split has questions and the training split is given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TaskScores {
    /// Retrieval with all captions of each image.
    #[serde(default)]
    pub retrieval: Option<retrieval::RetrievalMetrics>,
    /// Claim-aware retrieval and a truth-only ranker's standard recall (ShapeWorld).
    #[serde(default)]
    pub claim_retrieval: Option<retrieval::ClaimAwareMetrics>,
    /// Fraction of (source caption, hard negative) pairs where the true caption scores
    /// higher — each negative against the caption it was made from (against every true
    /// caption of its image where the data does not say).
    #[serde(default)]
    pub hard_negative_accuracy: Option<f64>,
    /// VQA.
    #[serde(default)]
    pub vqa: Option<vqa::VqaMetrics>,
    /// VQA without looking at the image (from the training split's answers).
    #[serde(default)]
    pub vqa_baselines: Option<vqa::VqaBaselines>,
    /// Visual entailment with its baselines.
    #[serde(default)]
    pub entailment: Option<entailment::EntailmentMetrics>,
    /// NLVR² with its baselines.
    #[serde(default)]
    pub nlvr: Option<nlvr::NlvrMetrics>,
}

impl TaskScores {
    /// The first task of [`TASKS`] with results here: the text encoder's energy is counted per
    /// text of this task (its [`Task::texts`], named by its [`Task::text_unit`]).
    pub fn first_scored(&self) -> Option<&'static dyn Task> {
        TASKS.iter().copied().find(|t| t.scored(self))
    }
}

/// One evaluation batch as a [`Scorer`] sees it: the images `range` of the split (batch row
/// `r` is image `range.start + r`), their batch and their encoding.
pub struct EvalBatch<'a> {
    /// The model (in evaluation mode).
    pub model: &'a Gshn,
    /// The split.
    pub data: &'a Dataset,
    /// The images of this batch, as indices into `data`.
    pub range: Range<usize>,
    /// Their batch.
    pub images: &'a ImageBatch,
    /// Their encoding.
    pub out: &'a ImageOutput,
    /// The batcher (texts, questions, pairs → device batches).
    pub batcher: &'a GshnBatcher,
    /// The device.
    pub device: &'a Device,
}

/// A task's evaluation over the batches of one split.
pub trait Scorer {
    /// Scores the task's items about the images of `batch`.
    fn batch(&mut self, batch: &EvalBatch) -> Result<()>;

    /// Writes the task's results into `scores`; `train` (when given) supplies the baselines'
    /// training items.
    fn finish(self: Box<Self>, train: Option<&Dataset>, scores: &mut TaskScores) -> Result<()>;
}

/// `(image, item)` of every item `of` each image of `data`, in image order.
pub(crate) fn every_item<'a>(data: &'a Dataset, of: impl Fn(&'a crate::dataset::Prepared) -> &'a [QaItem]) -> Vec<(usize, &'a QaItem)> {
    data.items.iter().enumerate().flat_map(|(i, p)| of(p).iter().map(move |q| (i, q))).collect()
}

/// The items of `(image, item)` pairs whose image lies in `range`, with their image as a row
/// of that batch; `cursor` (into `all`, in image order) moves past them.
pub(crate) fn in_batch<'a>(all: &[(usize, &'a QaItem)], cursor: &mut usize, range: &Range<usize>) -> Vec<(usize, &'a QaItem)> {
    let stop = all[*cursor..].iter().position(|q| q.0 >= range.end).map_or(all.len(), |p| *cursor + p);
    let out = all[*cursor..stop].iter().map(|&(i, q)| (i - range.start, q)).collect();
    *cursor = stop;
    out
}

/// A float tensor's values, row-major.
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.to_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| GshnError::Device(format!("reading a tensor: {e:?}")))
}

/// The index of the largest logit of each row.
pub fn argmax_rows(logits: Tensor<2>) -> Result<Vec<usize>> {
    let v = logits.argmax(1).to_data().convert::<i64>().try_to_vec::<i64>().map_err(|e| GshnError::Device(format!("reading a tensor: {e:?}")))?;
    Ok(v.into_iter().map(|i| i as usize).collect())
}

/// Every task, in the order their loss terms are added (retrieval, VQA, entailment, NLVR²).
pub static TASKS: [&dyn Task; 4] = [&retrieval::Retrieval, &vqa::Vqa, &entailment::Entailment, &nlvr::Nlvr];

/// The model's own loss term beside the tasks': node-level InfoNCE between the two branches.
pub const NODE_COLUMN: Column = Column::new("node", "node InfoNCE");

/// Every loss column of the metrics log: the tasks' in [`TASKS`] order, then the node-level
/// term.
pub fn loss_columns() -> Vec<Column> {
    TASKS.iter().flat_map(|t| t.loss_columns().iter().copied()).chain([NODE_COLUMN]).collect()
}

/// Every validation column of the metrics log, in [`TASKS`] order.
pub fn val_columns() -> Vec<Column> {
    TASKS.iter().flat_map(|t| t.val_columns().iter().copied()).collect()
}
