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
    /// The image is larger than the configured limit; refused before its pixels are decoded.
    #[error("{}the image has {pixels} pixels, more than the limit of {limit} (raise `{knob}` to allow it)", path_prefix(.path))]
    TooLarge {
        /// The file, when known.
        path: Option<PathBuf>,
        /// Pixels in the image.
        pixels: u64,
        /// The configured limit.
        limit: u64,
        /// The setting that holds the limit, as its user spells it (e.g. `data.max_pixels`,
        /// `--max-pixels`); see [`crate::image_io::ImageLimits::knob`].
        knob: &'static str,
    },
    /// The image's pixel format is not the one required (e.g. a panoptic PNG must be 8-bit RGB).
    #[error("{}unsupported pixel format {found}: {expected}", path_prefix(.path))]
    PixelFormat {
        /// The file, when known.
        path: Option<PathBuf>,
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
    /// A file name taken from an annotation file would leave the data folder (a `..`
    /// component, an absolute path, a drive prefix) or is empty.
    #[error("file name `{file_name}`{} is refused: {reason}", json.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    UnsafeFileName {
        /// The file name as the annotation file spells it.
        file_name: String,
        /// The annotation file, when known.
        json: Option<PathBuf>,
        /// Why it is refused.
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

fn path_prefix(p: &Option<PathBuf>) -> String {
    p.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default()
}

impl SegError {
    /// The same error, naming `path` as the file it is about where it names none yet
    /// (an image's size, format or decoding, a JSON file; an empty image becomes a
    /// [`SegError::Decode`] error naming the file). Other errors are returned unchanged.
    pub fn in_file(self, path: &std::path::Path) -> Self {
        let fill = |p: Option<PathBuf>| p.or_else(|| Some(path.to_path_buf()));
        match self {
            Self::Decode { path: p, reason } => Self::Decode { path: fill(p), reason },
            Self::TooLarge { path: p, pixels, limit, knob } => Self::TooLarge { path: fill(p), pixels, limit, knob },
            Self::PixelFormat { path: p, found, expected } => Self::PixelFormat { path: fill(p), found, expected },
            Self::Json { path: p, reason } => Self::Json { path: fill(p), reason },
            Self::UnsafeFileName { file_name, json, reason } => Self::UnsafeFileName { file_name, json: fill(json), reason },
            Self::EmptyImage { width, height } => Self::Decode { path: Some(path.to_path_buf()), reason: format!("the image is empty ({width}×{height})") },
            other => other,
        }
    }
}

/// Shorthand for `Result<T, SegError>`.
pub type Result<T> = std::result::Result<T, SegError>;

pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> SegError {
    SegError::InvalidParameter { name, reason: reason.into() }
}
