//! Data sets.

pub mod coco;
pub mod dataset;
pub mod easy_vqa;
pub mod shapeworld;

pub use dataset::{Dataset, QaItem};
