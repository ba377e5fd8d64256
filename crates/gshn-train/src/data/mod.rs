//! Data sets.

pub mod shapeworld;
