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

/// The widest Gaussian the segmenters accept: σ = 1000 pixels (a kernel of 8001 taps; a
/// larger σ only flattens the image further and would allocate without bound).
pub const MAX_SIGMA: f64 = 1000.0;

/// Smooths an interleaved `height × width × channels` image in place, rows (y) first, then
/// columns (x), each channel separately. `sigma ≤ 0` leaves it unchanged.
///
/// Every output value is `Σⱼ kernel[j] · src[…]` accumulated from `0.0` in kernel order (the
/// textbook loop), but computed a whole row at a time (`row += kernel[j] · shifted row`), which
/// keeps that order per value, needs no per-tap border arithmetic and vectorises.
pub fn gaussian_blur(img: &mut [f64], width: usize, height: usize, channels: usize, sigma: f64) {
    if sigma <= 0.0 || width == 0 || height == 0 || channels == 0 {
        return;
    }
    let k = gaussian_kernel(sigma);
    let mut tmp = vec![0.0; img.len()];
    convolve_y(img, &mut tmp, width * channels, height, &k);
    convolve_x(&tmp, img, width, channels, &k);
}

/// `dst` (zeroed) row `y` = `Σⱼ kernel[j] · src` row `reflect(y + j − r)`; rows are `row` long.
fn convolve_y(src: &[f64], dst: &mut [f64], row: usize, height: usize, kernel: &[f64]) {
    let r = (kernel.len() / 2) as i64;
    for (y, out) in dst.chunks_exact_mut(row).enumerate() {
        for (j, &w) in kernel.iter().enumerate() {
            let sy = reflect(y as i64 + j as i64 - r, height as i64);
            axpy(out, w, &src[sy * row..(sy + 1) * row]);
        }
    }
}

/// Each row of `dst` = the same row of `src` convolved along x: the row is copied once with
/// its reflected borders, then `out += kernel[j] · padded[j·channels..]` for each tap.
fn convolve_x(src: &[f64], dst: &mut [f64], width: usize, channels: usize, kernel: &[f64]) {
    let r = kernel.len() / 2;
    let row = width * channels;
    let mut padded = vec![0.0; (width + 2 * r) * channels];
    for (s, out) in src.chunks_exact(row).zip(dst.chunks_exact_mut(row)) {
        padded[r * channels..r * channels + row].copy_from_slice(s);
        for i in (0..r).chain(r + width..width + 2 * r) {
            let sx = reflect(i as i64 - r as i64, width as i64);
            for c in 0..channels {
                padded[i * channels + c] = s[sx * channels + c];
            }
        }
        out.fill(0.0);
        for (j, &w) in kernel.iter().enumerate() {
            axpy(out, w, &padded[j * channels..j * channels + row]);
        }
    }
}

/// `out[i] += w · x[i]` (no fused multiply–add: the same rounding as the scalar loop).
fn axpy(out: &mut [f64], w: f64, x: &[f64]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o += w * v;
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
