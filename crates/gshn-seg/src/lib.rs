//! # gshn-seg
//!
//! Images → panoptic segmentations → visual-token descriptors: COCO panoptic and instance
//! I/O, weight-free segmenters (Felzenszwalb–Huttenlocher, SLIC), grid-patch and box
//! baselines, per-segment descriptors and region adjacency. Built under issue 3; this crate
//! has no public items yet.

#![warn(missing_docs)]
