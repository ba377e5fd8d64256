//! Data sets.

pub mod dataset;
pub mod shapeworld;

pub use dataset::{Dataset, QaItem};
