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
//! [`TASKS`] lists them; [`Gshn::losses_with`] sums the terms of every task in it (then the
//! model's own node-level term), and the runner's log, progress line, charts and "nothing to
//! learn" checks are built from it. Retrieval and VQA keep their older paths
//! (`crate::metrics`, `crate::model::vqa`) as re-exports. Their evaluation still runs inside
//! `cli::eval::evaluate`; docs/architecture.md ("How to add a task") lists the files a task
//! touches.

use crate::batch::GshnBatch;
use crate::dataset::Dataset;
use crate::error::Result;
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

    /// Whether `data` carries the task's examples.
    fn carried_by(&self, data: &Dataset) -> bool;

    /// Whether a model with loss weights `w` learns from the task on `data`: its weight is
    /// above 0 and the data carries it.
    fn learns(&self, data: &Dataset, w: &LossConfig) -> bool;

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
    /// [`val_columns`](Self::val_columns); by default the first).
    fn headline(&self) -> Column {
        self.val_columns()[0]
    }
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
