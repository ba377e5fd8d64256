//! The tasks. A task module owns what is particular to it: its head (a
//! [`Module`](burn::module::Module) built from its config), its loss term, its metrics with
//! their baselines, and its evaluation and report section.
//!
//! * [`retrieval`]: image–text retrieval (recall@K both ways, claim-aware recall,
//!   hard-negative accuracy); its loss is CLIP's InfoNCE in [`crate::loss`].
//! * [`vqa`]: visual question answering: the attention head, accuracy per question type and
//!   the answer-prior and question-only baselines.
//! * [`entailment`]: visual entailment (SNLI-VE as in ALBEF): image + hypothesis →
//!   contradiction / neutral / entailment, with ShapeWorld-VE
//!   ([`crate::data::shapeworld_ve`]) for exact labels.
//! * [`nlvr`]: NLVR² as in ALBEF and BLIP: two images + a statement → true / false, with
//!   ShapeWorld-NLVR ([`crate::data::shapeworld_nlvr`]) for exact truth.
//!
//! Retrieval and VQA keep their older paths (`crate::metrics`, `crate::model::vqa`) as
//! re-exports. Their evaluation still runs inside `eval::evaluate` and their report sections
//! in `report.rs`; docs/architecture.md ("How to add a task") lists the files a task touches
//! today.

pub mod entailment;
pub mod nlvr;
pub mod retrieval;
pub mod vqa;
