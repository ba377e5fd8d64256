//! # gshn-graph
//!
//! Segment graphs, batching of variable-size graphs, and graph attention layers with
//! PyTorch Geometric's semantics on Burn — the continuous branch `F_GAT` of a GSHN.
//!
//! * [`build`]: segment graphs from a `gshn-seg` segmentation (region adjacency with
//!   dilation, k-NN, radius, full) on petgraph, and their edge lists;
//! * [`batch`]: batching of variable-size graphs, dense padding, pooling;
//! * [`edges`]: edge lists (`edge_index`, source → target) and PyG's self-loop handling;
//! * [`gat`]: `GATConv` and `GATv2Conv` ([`gat::GatConv`]), with attention weights returned;
//! * [`scatter`]: index tensors, segment sums, means and softmax, and the padded layout;
//! * [`fused`]: GAT's segment softmax + aggregation as one autodiff op with an analytic
//!   backward, on flex and WGPU (features `fused-flex`, `fused-wgpu`).

#![warn(missing_docs)]

pub mod batch;
pub mod build;
pub mod edges;
pub mod error;
pub mod fused;
pub mod gat;
pub mod scatter;

pub use batch::{pool, AttentionPool, GraphBatch, Pool};
pub use build::{GraphKind, SegmentGraph, SelfLoops};
pub use edges::EdgeList;
pub use error::{GraphError, Result};
pub use gat::{GatConv, GatConvConfig, GatOutput, GatPath, GatVariant, DENSE_MAX_NODES};
