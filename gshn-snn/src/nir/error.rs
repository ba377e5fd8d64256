//! Typed errors of NIR files, graphs, exports and imports. Each names the file, the node or
//! the field it is about.

use std::path::PathBuf;

use crate::error::SnnError;

/// Everything that can go wrong reading, writing, exporting or importing NIR.
#[derive(Debug, thiserror::Error)]
pub enum NirError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a readable HDF5 file (truncated, corrupt, or something else).
    #[error("{path}: not a readable HDF5 file: {reason}")]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// What the HDF5 reader or writer said.
        reason: String,
    },
    /// The HDF5 file does not have NIR's layout (`/node` group, `type` strings, …).
    #[error("{path}: not a NIR file: {reason}")]
    Layout {
        /// The file.
        path: PathBuf,
        /// What is missing or wrong, naming the HDF5 path.
        reason: String,
    },
    /// A node lacks a field its type requires.
    #[error("node `{node}` ({kind}): missing field `{field}`")]
    MissingField {
        /// The node's name.
        node: String,
        /// The node's NIR type.
        kind: String,
        /// The field.
        field: &'static str,
    },
    /// A field has the wrong type, shape or value.
    #[error("node `{node}`: field `{field}`: {reason}")]
    BadField {
        /// The node's name.
        node: String,
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The node's `type` is not a NIR node type at all.
    #[error("node `{node}`: unknown NIR node type `{kind}`")]
    UnknownType {
        /// The node's name.
        node: String,
        /// The type string found.
        kind: String,
    },
    /// A NIR node type gshn-snn cannot run.
    #[error("node `{node}`: gshn-snn cannot run NIR `{kind}` nodes{why}; it runs {}", super::SUPPORTED_NODES.join(", "))]
    Unsupported {
        /// The node's name.
        node: String,
        /// The node's NIR type.
        kind: String,
        /// Why, when there is more to say (starts with "; ").
        why: String,
    },
    /// The edges do not form one chain from the input to the output.
    #[error("the graph is not a feed-forward chain: {0}")]
    NotAChain(String),
    /// Shapes do not chain from one node to the next.
    #[error("node `{node}`: {reason}")]
    Shape {
        /// The node's name.
        node: String,
        /// What does not fit.
        reason: String,
    },
    /// The network cannot be written to NIR without changing what it computes.
    #[error("stage {stage}: {what}; NIR cannot express this exactly (export with `allow_lossy` / `--allow-lossy` to write it anyway, with the loss noted)")]
    Lossy {
        /// The stage index.
        stage: usize,
        /// What would change.
        what: String,
    },
    /// A neuron's parameters could not build a gshn-snn neuron.
    #[error("node `{node}`: {source}")]
    Neuron {
        /// The node's name.
        node: String,
        /// Why.
        source: SnnError,
    },
}

/// Shorthand for `Result<T, NirError>`.
pub type Result<T> = core::result::Result<T, NirError>;
