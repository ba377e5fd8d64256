//! Tasks beside image–text retrieval and VQA. A task module owns what is particular to it:
//! its head (a [`Module`](burn::module::Module) built from its config), its loss term, its
//! metrics with their baselines, and its evaluation and report section.
//!
//! * [`entailment`]: visual entailment (SNLI-VE as in ALBEF): image + hypothesis →
//!   contradiction / neutral / entailment, with ShapeWorld-VE
//!   ([`crate::data::shapeworld_ve`]) for exact labels.
//! * [`nlvr`]: NLVR² as in ALBEF and BLIP: two images + a statement → true / false, with
//!   ShapeWorld-NLVR ([`crate::data::shapeworld_nlvr`]) for exact truth.
//!
//! Retrieval (`crate::metrics`, `Gshn::losses`' CLIP term) and VQA (`crate::model::vqa`)
//! have not moved into this shape yet; docs/architecture.md ("How to add a task") lists the
//! files a task touches today.

pub mod entailment;
pub mod nlvr;
