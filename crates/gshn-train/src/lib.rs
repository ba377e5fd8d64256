//! # gshn-train
//!
//! The GSHN model and everything around it: [`config`] (TOML experiments with overrides),
//! [`data`] (ShapeWorld, COCO-style folders, easy-VQA), [`model`] (segment tokens, the GAT and
//! spiking graph branches, the fusion `V' = r·E_SNN + F_GAT`, the text encoder, the VQA head),
//! [`loss`] (CLIP InfoNCE, Spiked Text Learning similarity), [`train`] (the two-stage loop
//! with atomic [`checkpoint`]s and exact resume), [`eval`] (retrieval, hard negatives, VQA,
//! firing rates, SOPs, energy), [`report`] and [`plot`] (report folders with PNG/SVG plots),
//! [`ablate`] and [`stats`] (seeded ablation grids with confidence intervals), and the
//! `gshn` command line. [`snn_demo`] and [`segment_cmd`] back `gshn snn-demo` and
//! `gshn segment`.

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
