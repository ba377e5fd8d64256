//! # gshn-train
//!
//! The GSHN model, data sets, training, evaluation and the `gshn` command line.
//! For now it holds [`snn_demo`], a small spiking network trained end to end with
//! surrogate gradients, [`segment_cmd`], the `gshn segment` command, and [`data`], the
//! ShapeWorld generator; the full hybrid model follows.

#![warn(missing_docs)]

pub mod ablate;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod eval;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod plot;
pub mod report;
pub mod segment_cmd;
pub mod snn_demo;
pub mod stats;
pub mod train;
