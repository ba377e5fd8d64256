//! # gshn-train
//!
//! The GSHN model as a library, and the `gshn` runner built on it.
//!
//! The library (always built; Burn without a backend, the gshn crates, serde, thiserror):
//! [`model`] (the nested [`GshnConfig`] and the [`Gshn`] module: segment tokens, the GAT and
//! spiking graph branches, the fusion `V' = r·E_SNN + F_GAT`, the text encoder, the VQA head),
//! [`dataset`] (examples, prepared examples, datasets: what loaders make and every task reads),
//! [`batch`] (prepared examples → device batches: [`GshnBatcher`]), [`task`] (retrieval, VQA,
//! entailment, NLVR²: heads, metrics and baselines), [`loss`] (CLIP InfoNCE, Spiked
//! Text Learning, node-level InfoNCE, [`Losses`]), [`metrics`] (retrieval), [`data`]
//! (ShapeWorld and segment sources). A training loop needs three calls:
//!
//! ```no_run
//! # fn main() -> Result<(), gshn_train::GshnError> {
//! use burn::optim::{AdamWConfig, GradientsParams};
//! use burn::tensor::Device;
//! use gshn_snn::rng::SeedRng;
//! use gshn_train::data::shapeworld::{generate, ShapeWorldConfig, Split};
//! use gshn_train::model::Vocab;
//! use gshn_train::{GshnBatcher, GshnConfig};
//!
//! let device = Device::flex().autodiff();
//! let examples: Vec<_> = generate(&ShapeWorldConfig::default(), 0, Split::Train, 64).iter().map(|e| e.to_example()).collect();
//! let vocab = Vocab::build(examples.iter().flat_map(|e| e.captions.iter().map(String::as_str)));
//! let config = GshnConfig::default().with_vocab_size(vocab.len()).with_answers(18);
//! let mut model = config.init(&device)?;                                   // 1
//! let batcher = GshnBatcher::new(&config, vocab);
//! let items = examples.into_iter().map(|e| batcher.prepare(e)).collect::<Result<Vec<_>, _>>()?;
//! let mut optim = AdamWConfig::new().init();
//! let batch = batcher.batch(&items.iter().collect::<Vec<_>>(), &mut SeedRng::new(0), &device)?; // 2
//! let losses = model.losses(&batch)?;                                      // 3
//! let grads = GradientsParams::from_grads(losses.total.backward(), &model);
//! model = optim.step(1e-3, model, grads);
//! # Ok(()) }
//! ```
//!
//! Behind the `cli` feature (on by default), [`cli`]: [`cli::experiment`] (TOML experiments
//! with overrides), [`cli::train`] (the two-stage runner with atomic [`cli::checkpoint`]s and
//! exact resume), [`cli::eval`] (every task's metrics, firing rates, SOPs, energy),
//! [`cli::report`] and [`cli::plot`], [`cli::ablate`] and [`cli::stats`] (seeded ablation grids
//! with paired statistics), and the `gshn` command line. The library never depends on it.

#![warn(missing_docs)]

pub mod batch;
#[cfg(feature = "cli")]
pub mod cli;
pub mod data;
pub mod dataset;
pub mod energy;
pub mod error;
pub mod loss;
/// Retrieval metrics, now in [`task::retrieval`] (this path is kept for existing imports).
pub use task::retrieval as metrics;
pub mod model;
pub mod task;

pub use batch::{GshnBatch, GshnBatcher};
pub use dataset::{Dataset, Example, Prepared, QaItem};
pub use error::{GshnError, Result};
pub use loss::Losses;
pub use model::{Gshn, GshnConfig};
