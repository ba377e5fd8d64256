//! # gshn-train
//!
//! The GSHN model, data sets, training, evaluation and the `gshn` command line.
//! For now it holds [`snn_demo`], a small spiking network trained end to end with
//! surrogate gradients; the full hybrid model follows.

#![warn(missing_docs)]

pub mod snn_demo;
