//! # gshn-train
//!
//! The GSHN model as a library, and the `gshn` runner built on it.
//!
//! The library (always built; Burn without a backend, the gshn crates, serde, thiserror):
//! [`model`] (the nested [`GshnConfig`] and the [`Gshn`] module: segment tokens, the GAT and
//! spiking graph branches, the fusion `V' = r·E_SNN + F_GAT`, the text encoder, the VQA head),
//! [`batch`] (examples → device batches: [`GshnBatcher`]), [`loss`] (CLIP InfoNCE, Spiked
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
//! Behind the `cli` feature (on by default): [`experiment`] (TOML experiments with overrides),
//! [`train`] (the two-stage runner with atomic [`checkpoint`]s and exact resume), [`eval`]
//! (retrieval, hard negatives, VQA, firing rates, SOPs, energy), [`report`] and [`plot`],
//! [`ablate`] and [`stats`] (seeded ablation grids with confidence intervals), the data
//! loaders, and the `gshn` command line.

#![warn(missing_docs)]

pub mod batch;
pub mod data;
pub mod energy;
pub mod error;
pub mod loss;
/// Retrieval metrics, now in [`task::retrieval`] (this path is kept for existing imports).
pub use task::retrieval as metrics;
pub mod model;
pub mod task;

#[cfg(feature = "cli")]
pub mod ablate;
#[cfg(feature = "cli")]
pub mod bench_train;
#[cfg(feature = "cli")]
pub mod checkpoint;
#[cfg(feature = "cli")]
pub mod device;
#[cfg(feature = "cli")]
pub mod eval;
#[cfg(feature = "cli")]
pub mod experiment;
#[cfg(feature = "cli")]
pub mod nir_cmd;
#[cfg(feature = "cli")]
pub mod output;
#[cfg(feature = "cli")]
pub mod plot;
#[cfg(feature = "cli")]
pub mod report;
#[cfg(feature = "cli")]
pub mod run_error;
#[cfg(feature = "cli")]
pub mod run_folder;
#[cfg(feature = "cli")]
pub mod segment_cmd;
#[cfg(feature = "cli")]
pub mod snn_demo;
#[cfg(feature = "cli")]
pub mod stats;
#[cfg(feature = "cli")]
pub mod train;
#[cfg(feature = "cli")]
pub mod transfer;

pub use batch::{Dataset, Example, GshnBatch, GshnBatcher, Prepared, QaItem};
pub use error::{GshnError, Result};
pub use loss::Losses;
pub use model::{Gshn, GshnConfig};
