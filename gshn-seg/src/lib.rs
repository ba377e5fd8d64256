//! # gshn-seg
//!
//! Images → panoptic segmentations → visual-token descriptors, for every token type a GSHN
//! ablation compares:
//!
//! * [`segmentation`]: the one [`Segmentation`] type (per-pixel segment index + per-segment
//!   info; overlapping tokens as per-segment masks);
//! * [`panoptic`]: COCO panoptic PNG + JSON, read and write, lossless;
//! * [`instances`]: COCO polygons and RLE to masks, and to panoptic tokens;
//! * [`rle`] and [`raster`]: RLE codecs and the polygon rasteriser, to compact pixel runs;
//! * [`felzenszwalb`] and [`slic`]: weight-free segmenters with scikit-image's semantics;
//! * [`agreement`]: adjusted Rand index and boundary recall between two partitions;
//! * [`baselines`]: grid patches and boxes, the paper's two baselines;
//! * [`descriptors`]: area, bbox, centroid, mean Lab colour, resized masks, region adjacency;
//! * [`pq`]: panoptic quality (PQ/SQ/RQ);
//! * [`overlay`]: pictures of segments, boundaries, ids and adjacency edges;
//! * [`image_io`]: image reading with size limits and typed errors;
//! * [`integrity`]: truncation checks for PNG and JPEG files;
//! * [`paths`]: file names from annotation files, kept inside the data folder.

#![warn(missing_docs)]

pub mod agreement;
pub mod baselines;
pub mod color;
pub mod descriptors;
pub mod error;
pub mod felzenszwalb;
pub mod filter;
pub mod image_io;
pub mod instances;
pub mod integrity;
pub mod overlay;
pub mod panoptic;
pub mod paths;
pub mod pq;
pub mod raster;
pub mod rle;
pub mod segmentation;
pub mod slic;

pub use error::{Result, SegError};
pub use segmentation::{SegmentInfo, Segmentation, VOID};
