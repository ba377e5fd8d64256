//! Colour conversion: sRGB → CIE L*a*b* with scikit-image's constants (`rgb2lab`, D65, 2°).

/// One sRGB pixel in `[0, 1]` → `[L, a, b]` (skimage `rgb2lab`: sRGB gamma, the
/// `xyz_from_rgb` matrix, D65 white `(0.95047, 1, 1.08883)`, `7.787x + 16/116` below 0.008856).
pub fn rgb_to_lab(rgb: [f64; 3]) -> [f64; 3] {
    linear_to_lab(rgb.map(srgb_to_linear))
}

/// The sRGB transfer function inverted: one channel in `[0, 1]` → linear light. Pixels with
/// few distinct channel values (8-bit images) can look this up in a table and then call
/// [`linear_to_lab`], with the same result as [`rgb_to_lab`].
pub fn srgb_to_linear(c: f64) -> f64 {
    if c > 0.04045 {
        ((c + 0.055) / 1.055).powf(2.4)
    } else {
        c / 12.92
    }
}

/// Linear RGB → `[L, a, b]`: the second half of [`rgb_to_lab`].
pub fn linear_to_lab(lin: [f64; 3]) -> [f64; 3] {
    const M: [[f64; 3]; 3] = [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]];
    const WHITE: [f64; 3] = [0.95047, 1.0, 1.08883];
    let mut f = [0.0; 3];
    for r in 0..3 {
        let v = (M[r][0] * lin[0] + M[r][1] * lin[1] + M[r][2] * lin[2]) / WHITE[r];
        f[r] = if v > 0.008856 { v.cbrt() } else { 7.787 * v + 16.0 / 116.0 };
    }
    [116.0 * f[1] - 16.0, 500.0 * (f[0] - f[1]), 200.0 * (f[1] - f[2])]
}

/// An 8-bit RGB image as `f64` planes in `[0, 1]`, interleaved `[r, g, b]` per pixel.
pub fn rgb8_to_f64(pixels: &[u8]) -> Vec<f64> {
    pixels.iter().map(|&p| p as f64 / 255.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_colours_match_skimage() {
        // skimage.color.rgb2lab values.
        let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(rgb_to_lab([1.0, 1.0, 1.0]), [100.0, -2.45493786e-03, 4.65342115e-03]), "{:?}", rgb_to_lab([1.0; 3]));
        assert!(close(rgb_to_lab([0.0, 0.0, 0.0]), [0.0, 0.0, 0.0]));
        assert!(close(rgb_to_lab([1.0, 0.0, 0.0]), [53.2405879, 80.0923082, 67.2027510]), "{:?}", rgb_to_lab([1.0, 0.0, 0.0]));
    }
}
