//! Reading images with limits and clear errors.
//!
//! Every read checks, in this order: the format and the dimensions from the header; the
//! pixel count against [`ImageLimits::max_pixels`] (so a small file that declares a huge
//! image is refused before any pixel buffer is allocated); that a PNG or JPEG file is
//! complete ([`crate::integrity`]); and only then decodes. Decoding allocates at most a few
//! bytes per pixel of the limit.

use std::path::Path;

use image::{DynamicImage, ImageFormat, ImageReader, RgbImage};

use crate::error::{Result, SegError};
use crate::integrity::{check_jpeg_complete, check_png_complete};

/// The default [`ImageLimits::max_pixels`]: 16 million pixels (a 4000 × 4000 photo; COCO's
/// images have at most 640 × 640).
pub const DEFAULT_MAX_PIXELS: u64 = 16_000_000;

/// Limits and conversions applied when an image is read.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageLimits {
    /// Largest accepted image, in pixels. Default [`DEFAULT_MAX_PIXELS`].
    pub max_pixels: u64,
    /// Whether grayscale, RGBA and 16-bit images are converted to 8-bit RGB (default true);
    /// when false they are a [`SegError::PixelFormat`] error.
    pub convert_to_rgb8: bool,
    /// The name of the setting that holds `max_pixels`, as the program's user spells it
    /// (e.g. `data.max_pixels` in an experiment file, `--max-pixels` on a command line);
    /// [`SegError::TooLarge`] tells the user to raise it. Default `max_pixels`.
    pub knob: &'static str,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self { max_pixels: DEFAULT_MAX_PIXELS, convert_to_rgb8: true, knob: "max_pixels" }
    }
}

impl ImageLimits {
    /// No pixel limit (for code that receives images already in memory).
    pub fn unlimited() -> Self {
        Self { max_pixels: u64::MAX, ..Self::default() }
    }
}

/// Reads an image file as 8-bit RGB; every error names the file.
pub fn read_rgb(path: &Path, limits: &ImageLimits) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|source| SegError::Io { path: path.into(), source })?;
    decode_rgb(&bytes, limits).map_err(|e| e.in_file(path))
}

/// Decodes image bytes (PNG or JPEG) as 8-bit RGB, checking the size before decoding pixels.
pub fn decode_rgb(bytes: &[u8], limits: &ImageLimits) -> Result<RgbImage> {
    let img = decode(bytes, limits)?;
    match img {
        DynamicImage::ImageRgb8(rgb) => Ok(rgb),
        other if limits.convert_to_rgb8 => Ok(other.to_rgb8()),
        other => Err(SegError::PixelFormat {
            path: None,
            found: format!("{:?}", other.color()),
            expected: "8-bit RGB (set `ImageLimits::convert_to_rgb8` to convert)",
        }),
    }
}

/// Decodes image bytes with the size and completeness checks, keeping the pixel format.
pub fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<DynamicImage> {
    let decode_err = |reason: String| SegError::Decode { path: None, reason };
    let reader = || ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| decode_err(e.to_string()));
    let first = reader()?;
    let format = first.format();
    let (w, h) = first.into_dimensions().map_err(|e| decode_err(e.to_string()))?;
    check_size(w, h, limits)?;
    match format {
        Some(ImageFormat::Png) => check_png_complete(bytes).map_err(decode_err)?,
        Some(ImageFormat::Jpeg) => check_jpeg_complete(bytes).map_err(decode_err)?,
        _ => {}
    }
    reader()?.decode().map_err(|e| decode_err(e.to_string()))
}

/// Checks that `w × h` is non-empty and within the limit.
pub fn check_size(w: u32, h: u32, limits: &ImageLimits) -> Result<()> {
    if w == 0 || h == 0 {
        return Err(SegError::EmptyImage { width: w, height: h });
    }
    let pixels = w as u64 * h as u64;
    if pixels > limits.max_pixels {
        return Err(SegError::TooLarge { path: None, pixels, limit: limits.max_pixels, knob: limits.knob });
    }
    Ok(())
}
