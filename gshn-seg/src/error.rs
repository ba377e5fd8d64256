//! Typed errors for bad images, bad annotation files and bad parameters.

use std::path::PathBuf;

/// Everything that can go wrong while reading, segmenting or describing an image.
#[derive(Debug, thiserror::Error)]
pub enum SegError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bytes are not a decodable image (truncated, corrupt, unknown format).
    #[error("cannot decode image{}: {reason}", path_suffix(.path))]
    Decode {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The decoder's message.
        reason: String,
    },
    /// The image has zero width or height.
    #[error("the image is empty ({width}×{height})")]
    EmptyImage {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The image is larger than the configured limit.
    #[error("the image has {pixels} pixels, more than the limit of {limit} (raise `max_pixels` to allow it)")]
    TooLarge {
        /// Pixels in the image.
        pixels: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The image's pixel format is not the one required (e.g. a panoptic PNG must be 8-bit RGB).
    #[error("unsupported pixel format {found}: {expected}")]
    PixelFormat {
        /// What the file holds.
        found: String,
        /// What is required.
        expected: &'static str,
    },
    /// A JSON file is malformed or lacks a required field.
    #[error("malformed JSON{}: {reason}", path_suffix(.path))]
    Json {
        /// The file, when known.
        path: Option<PathBuf>,
        /// What is wrong.
        reason: String,
    },
    /// A panoptic PNG and its JSON disagree.
    #[error("panoptic annotation `{file}` is inconsistent: {reason}")]
    Inconsistent {
        /// The annotation's file name.
        file: String,
        /// What disagrees.
        reason: String,
    },
    /// An instance annotation (polygon or RLE) is malformed.
    #[error("bad instance annotation {id}: {reason}")]
    Annotation {
        /// The annotation id.
        id: u64,
        /// What is wrong.
        reason: String,
    },
    /// A segmenter or descriptor parameter is out of range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// What the valid range is.
        reason: String,
    },
}

fn path_suffix(p: &Option<PathBuf>) -> String {
    p.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default()
}

/// Shorthand for `Result<T, SegError>`.
pub type Result<T> = std::result::Result<T, SegError>;

pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> SegError {
    SegError::InvalidParameter { name, reason: reason.into() }
}
