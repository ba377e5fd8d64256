//! Separable Gaussian smoothing with SciPy's `ndimage.gaussian_filter` semantics
//! (truncate 4σ, `mode='reflect'`), as scikit-image's segmenters use it.

/// The normalised 1-D kernel: radius `⌊4σ + 0.5⌋`, `exp(−x²/2σ²)` normalised to sum 1.
pub fn gaussian_kernel(sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as i64;
    let mut k: Vec<f64> = (-radius..=radius).map(|x| (-0.5 / (sigma * sigma) * (x * x) as f64).exp()).collect();
    let s: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    k
}

/// SciPy's `reflect` boundary: `d c b a | a b c d | d c b a`.
fn reflect(mut i: i64, n: i64) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * n;
    i = i.rem_euclid(period);
    if i >= n {
        i = period - 1 - i;
    }
    i as usize
}

/// Smooths an interleaved `height × width × channels` image in place, rows (y) first, then
/// columns (x), each channel separately. `sigma ≤ 0` leaves it unchanged.
pub fn gaussian_blur(img: &mut [f64], width: usize, height: usize, channels: usize, sigma: f64) {
    if sigma <= 0.0 {
        return;
    }
    let k = gaussian_kernel(sigma);
    let mut tmp = vec![0.0; img.len()];
    convolve_axis(img, &mut tmp, width, height, channels, &k, true);
    convolve_axis(&tmp, img, width, height, channels, &k, false);
}

/// One separable pass of `kernel` along y (`along_y`) or x, reflecting at the borders.
fn convolve_axis(src: &[f64], dst: &mut [f64], width: usize, height: usize, channels: usize, kernel: &[f64], along_y: bool) {
    let r = (kernel.len() / 2) as i64;
    let n = if along_y { height } else { width } as i64;
    for y in 0..height {
        for x in 0..width {
            let at = if along_y { y } else { x } as i64;
            for c in 0..channels {
                let mut acc = 0.0;
                for (j, w) in kernel.iter().enumerate() {
                    let p = reflect(at + j as i64 - r, n);
                    let (sx, sy) = if along_y { (x, p) } else { (p, y) };
                    acc += w * src[(sy * width + sx) * channels + c];
                }
                dst[(y * width + x) * channels + c] = acc;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_is_normalised_with_scipy_radius() {
        let k = gaussian_kernel(0.8);
        assert_eq!(k.len(), 2 * 3 + 1); // ⌊3.2 + 0.5⌋ = 3
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(reflect(-1, 5), 0);
        assert_eq!(reflect(-2, 5), 1);
        assert_eq!(reflect(5, 5), 4);
        assert_eq!(reflect(6, 5), 3);
    }

    #[test]
    fn blur_keeps_a_constant_image_and_the_mean() {
        let mut img = vec![0.5; 7 * 5 * 3];
        gaussian_blur(&mut img, 7, 5, 3, 1.2);
        assert!(img.iter().all(|v| (v - 0.5).abs() < 1e-12));
    }
}
