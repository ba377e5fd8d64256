//! Reading images with limits and clear errors.

use std::path::Path;

use image::{DynamicImage, ImageReader, RgbImage};

use crate::error::{Result, SegError};

/// Limits and conversions applied when an image is read.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageLimits {
    /// Largest accepted image, in pixels. Default 64 Mpx.
    pub max_pixels: u64,
    /// Whether grayscale, RGBA and 16-bit images are converted to 8-bit RGB (default true);
    /// when false they are a [`SegError::PixelFormat`] error.
    pub convert_to_rgb8: bool,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self { max_pixels: 64 * 1024 * 1024, convert_to_rgb8: true }
    }
}

/// Reads an image file as 8-bit RGB.
pub fn read_rgb(path: &Path, limits: &ImageLimits) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|source| SegError::Io { path: path.into(), source })?;
    decode_rgb(&bytes, limits).map_err(|e| match e {
        SegError::Decode { reason, .. } => SegError::Decode { path: Some(path.into()), reason },
        other => other,
    })
}

/// Decodes image bytes (PNG or JPEG) as 8-bit RGB, checking the size before decoding pixels.
pub fn decode_rgb(bytes: &[u8], limits: &ImageLimits) -> Result<RgbImage> {
    let img = decode(bytes, limits)?;
    match img {
        DynamicImage::ImageRgb8(rgb) => Ok(rgb),
        other if limits.convert_to_rgb8 => Ok(other.to_rgb8()),
        other => Err(SegError::PixelFormat { found: format!("{:?}", other.color()), expected: "8-bit RGB (enable `convert_to_rgb8` to convert)" }),
    }
}

/// Decodes image bytes with the size checks, keeping the pixel format.
pub fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<DynamicImage> {
    let decode_err = |e: image::ImageError| SegError::Decode { path: None, reason: e.to_string() };
    let reader = ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| SegError::Decode { path: None, reason: e.to_string() })?;
    let (w, h) = reader.into_dimensions().map_err(decode_err)?;
    check_size(w, h, limits)?;
    let reader = ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| SegError::Decode { path: None, reason: e.to_string() })?;
    reader.decode().map_err(decode_err)
}

/// Checks that `w × h` is non-empty and within the limit.
pub fn check_size(w: u32, h: u32, limits: &ImageLimits) -> Result<()> {
    if w == 0 || h == 0 {
        return Err(SegError::EmptyImage { width: w, height: h });
    }
    let pixels = w as u64 * h as u64;
    if pixels > limits.max_pixels {
        return Err(SegError::TooLarge { pixels, limit: limits.max_pixels });
    }
    Ok(())
}
