//! What loaders of files on disk share: their own configuration ([`LoadConfig`], not the
//! experiment's) and their typed error ([`DataError`], naming the file).

use std::path::{Path, PathBuf};

use gshn_seg::image_io::ImageLimits;

use crate::data::segments::SegmentsConfig;
use crate::model::config::TokensConfig;
use crate::GshnError;

/// What a loader of images and texts on disk needs, whatever the experiment around it.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The data folder.
    pub dir: PathBuf,
    /// Images are resized to `image_size × image_size`.
    pub image_size: u32,
    /// The largest image a file may decode to (its knob is named in the error).
    pub limits: ImageLimits,
    /// Where segments come from (ground truth or a segmenter).
    pub segments: SegmentsConfig,
    /// The model's token settings (feature-map stride, graph).
    pub tokens: TokensConfig,
    /// Most training images.
    pub train_images: usize,
    /// Most validation images.
    pub val_images: usize,
    /// Most test images.
    pub test_images: usize,
    /// The seed of split shuffles.
    pub seed: u64,
}

/// A data folder or file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The folder or a required file is missing.
    #[error("{what} not found at {path}{hint}")]
    Missing {
        /// What was looked for.
        what: String,
        /// Where.
        path: PathBuf,
        /// How to get it.
        hint: String,
    },
    /// A file does not parse or holds impossible values.
    #[error("malformed file {path}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column), or what is wrong.
        reason: String,
    },
    /// The data does not fit the experiment (too few images, no captions, …).
    #[error("{0}")]
    Unfit(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An image or segmentation that the model's inputs refuse.
    #[error(transparent)]
    Model(#[from] GshnError),
}

/// `map_err` for I/O on `path`.
pub fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io { path: path.to_path_buf(), source }
}

impl From<gshn_seg::SegError> for DataError {
    fn from(e: gshn_seg::SegError) -> Self {
        DataError::Model(GshnError::from(e))
    }
}
