//! Data: the generated ShapeWorld set and segment sources (library); COCO-style folders,
//! easy-VQA and the ShapeWorld export (behind the `cli` feature).

pub mod segments;
pub mod shapeworld;
pub mod shapeworld_nlvr;
pub mod shapeworld_ve;

#[cfg(feature = "cli")]
pub mod albef;
#[cfg(feature = "cli")]
pub mod coco;
#[cfg(feature = "cli")]
pub mod easy_vqa;
#[cfg(feature = "cli")]
pub mod export;
pub mod files;

pub use files::{DataError, LoadConfig};
pub use segments::{segment, DatasetBuilder, SegmentSource, SegmentsConfig};
