//! Typed errors for bad graphs and bad layer inputs.

/// Everything that can go wrong when building graphs or running graph layers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphError {
    /// An edge names a node that does not exist.
    #[error("edge {edge} ({src} → {dst}) is out of range for {num_nodes} nodes")]
    EdgeOutOfRange {
        /// Edge position.
        edge: usize,
        /// Source node.
        src: usize,
        /// Target node.
        dst: usize,
        /// Nodes in the graph.
        num_nodes: usize,
    },
    /// A graph has no nodes.
    #[error("graph {0} has zero nodes")]
    EmptyGraph(usize),
    /// Feature widths or tensor shapes do not match.
    #[error("shape mismatch: {0}")]
    ShapeMismatch(String),
    /// A configuration value is out of range.
    #[error("invalid `{name}`: {reason}")]
    InvalidParameter {
        /// Field name.
        name: &'static str,
        /// The valid range.
        reason: String,
    },
}

/// Shorthand for `Result<T, GraphError>`.
pub type Result<T> = core::result::Result<T, GraphError>;
