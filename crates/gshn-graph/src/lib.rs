//! # gshn-graph
//!
//! Segment graphs (region adjacency, k-NN, radius, full), batching of variable-size graphs,
//! and GAT/GATv2 layers with PyTorch Geometric's semantics on Burn. Built under issue 4; this
//! crate has no public items yet.

#![warn(missing_docs)]
