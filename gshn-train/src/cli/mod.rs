//! The runner half of gshn-train (the `cli` feature, on by default): what the `gshn` command
//! does with the library above it. Nothing outside this folder depends on it.
//!
//! Experiments and their files: [`experiment`] (TOML experiments with overrides), [`device`],
//! [`output`] (which folders a command may write), [`run_folder`], [`run_log`] (the metrics
//! log), [`checkpoint`] (atomic checkpoints and their `SHA256SUMS`), [`run_error`] (the typed
//! errors). Work: [`train`] (the two-stage runner with exact resume), [`eval`] (every task's
//! metrics beside its baselines, firing rates, SOPs, energy), [`transfer`] (a checkpoint on
//! other data), [`ablate`] and [`stats`] (seeded ablation grids with paired statistics),
//! [`report`] and [`plot`], [`bench_train`], [`segment_cmd`], [`snn_demo`], [`nir_cmd`].

pub mod ablate;
pub mod bench_train;
pub mod checkpoint;
pub mod device;
pub mod eval;
pub mod experiment;
pub mod nir_cmd;
pub mod output;
pub mod plot;
pub mod report;
pub mod run_error;
pub mod run_folder;
pub mod run_log;
pub mod segment_cmd;
pub mod snn_demo;
pub mod stats;
pub mod train;
pub mod transfer;
