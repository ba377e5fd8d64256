//! Partition agreement scores, to compare two segmentations of the same image.

use std::collections::HashMap;

/// Adjusted Rand index (Hubert & Arabie 1985) of two labelings of the same pixels: 1 for
/// identical partitions (up to renaming), about 0 for independent ones. Same formula as
/// scikit-learn's `adjusted_rand_score`. Panics if the lengths differ.
pub fn adjusted_rand_index(a: &[u32], b: &[u32]) -> f64 {
    assert_eq!(a.len(), b.len(), "labelings must cover the same pixels");
    let n = a.len() as f64;
    let mut pairs: HashMap<(u32, u32), u64> = HashMap::new();
    let mut ra: HashMap<u32, u64> = HashMap::new();
    let mut rb: HashMap<u32, u64> = HashMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *pairs.entry((x, y)).or_default() += 1;
        *ra.entry(x).or_default() += 1;
        *rb.entry(y).or_default() += 1;
    }
    let c2 = |k: u64| (k as f64) * (k as f64 - 1.0) / 2.0;
    let index: f64 = pairs.values().map(|&k| c2(k)).sum();
    let sa: f64 = ra.values().map(|&k| c2(k)).sum();
    let sb: f64 = rb.values().map(|&k| c2(k)).sum();
    let expected = sa * sb / c2(n as u64);
    let max = (sa + sb) / 2.0;
    if max == expected {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

/// Boundary recall: the fraction of `reference` boundary pixels that have a `pred` boundary
/// pixel within `tolerance` pixels (Chebyshev distance). A pixel is a boundary pixel when its
/// right or lower neighbour has another label.
pub fn boundary_recall(pred: &[u32], reference: &[u32], width: usize, height: usize, tolerance: usize) -> f64 {
    let boundary = |l: &[u32]| -> Vec<bool> {
        (0..width * height)
            .map(|i| {
                let (x, y) = (i % width, i / width);
                (x + 1 < width && l[i + 1] != l[i]) || (y + 1 < height && l[i + width] != l[i])
            })
            .collect()
    };
    let (bp, br) = (boundary(pred), boundary(reference));
    let (mut hit, mut total) = (0u64, 0u64);
    for i in (0..width * height).filter(|&i| br[i]) {
        total += 1;
        let (x, y) = (i % width, i / width);
        let found = (y.saturating_sub(tolerance)..(y + tolerance + 1).min(height))
            .any(|yy| (x.saturating_sub(tolerance)..(x + tolerance + 1).min(width)).any(|xx| bp[yy * width + xx]));
        hit += found as u64;
    }
    if total == 0 {
        1.0
    } else {
        hit as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ari_of_hand_computed_cases() {
        assert_eq!(adjusted_rand_index(&[0, 0, 1, 1], &[5, 5, 7, 7]), 1.0);
        // By hand: index 1, Σa 2, Σb 1, expected 2·1/6, max 1.5 → (1 − ⅓)/(1.5 − ⅓) = 4/7.
        assert!((adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 2]) - 0.571_428_571_428_571_5).abs() < 1e-12);
        // By hand: index 0, Σa 6, Σb 3, expected 18/15, max 4.5 → −1.2/3.3 = −4/11.
        assert!((adjusted_rand_index(&[0, 0, 0, 1, 1, 1], &[0, 1, 2, 0, 1, 2]) + 4.0 / 11.0).abs() < 1e-12);
    }

    #[test]
    fn boundary_recall_with_tolerance() {
        // Reference boundary between columns 1 and 2; the prediction's between 2 and 3.
        let r = [0, 0, 1, 1];
        let p = [0, 0, 0, 1];
        assert_eq!(boundary_recall(&p, &r, 4, 1, 0), 0.0);
        assert_eq!(boundary_recall(&p, &r, 4, 1, 1), 1.0);
    }
}
