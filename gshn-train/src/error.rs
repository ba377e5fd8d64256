//! Typed errors of the library: bad configurations, bad inputs, and the component crates'
//! errors, each saying which field or input is wrong.

use gshn_graph::GraphError;
use gshn_seg::SegError;
use gshn_snn::SnnError;

/// Everything the GSHN library can refuse.
#[derive(Debug, thiserror::Error)]
pub enum GshnError {
    /// A configuration field holds an impossible value.
    #[error("config field `{field}`: {reason}")]
    InvalidConfig {
        /// Dotted field path, e.g. `gat.heads`.
        field: String,
        /// What is wrong and what would do.
        reason: String,
    },
    /// An input (image, segmentation, text, batch) cannot be used.
    #[error("{0}")]
    InvalidInput(String),
    /// From gshn-graph.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// From gshn-snn.
    #[error(transparent)]
    Snn(#[from] SnnError),
    /// From gshn-seg.
    #[error(transparent)]
    Seg(#[from] SegError),
    /// The device could not give back a tensor's values.
    #[error("device: {0}")]
    Device(String),
    /// Pretrained weights that are missing, damaged or do not fit.
    #[error(transparent)]
    Weights(#[from] crate::model::weights::WeightsError),
}

/// Shorthand for `Result<T, GshnError>`.
pub type Result<T> = core::result::Result<T, GshnError>;

pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> GshnError {
    GshnError::InvalidConfig { field: field.into(), reason: reason.into() }
}

pub(crate) fn bad_input(reason: impl Into<String>) -> GshnError {
    GshnError::InvalidInput(reason.into())
}
