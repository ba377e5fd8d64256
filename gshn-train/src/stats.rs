//! Summary statistics for ablation tables: mean, sample standard deviation, Student-t 95 %
//! confidence intervals, and paired differences over shared seeds.

/// Two-sided 97.5 % quantiles of Student's t for 1–30 degrees of freedom.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074,
    2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/// The 0.975 quantile of Student's t with `df` degrees of freedom (normal beyond 30:
/// 1.96 would understate slightly, so 30+ uses the df = 30 to 120 interpolation's 2.0 → 1.98).
pub fn t975(df: usize) -> f64 {
    match df {
        0 => f64::NAN,
        1..=30 => T975[df - 1],
        31..=60 => 2.000,
        61..=120 => 1.980,
        _ => 1.960,
    }
}

/// Mean, sample standard deviation (n − 1) and the half-width of the 95 % confidence
/// interval of the mean (`t · s / √n`; NaN for fewer than two values).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Values.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation.
    pub std: f64,
    /// 95 % CI half-width.
    pub ci95: f64,
}

/// Summarises `values`.
pub fn summarise(values: &[f64]) -> Summary {
    let n = values.len();
    if n == 0 {
        return Summary { n, mean: f64::NAN, std: f64::NAN, ci95: f64::NAN };
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return Summary { n, mean, std: f64::NAN, ci95: f64::NAN };
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let std = var.sqrt();
    Summary { n, mean, std, ci95: t975(n - 1) * std / (n as f64).sqrt() }
}

/// The paired difference `a − b` over the keys (seeds) both have: its summary.
pub fn paired_difference(a: &[(u64, f64)], b: &[(u64, f64)]) -> Summary {
    let diffs: Vec<f64> = a.iter().filter_map(|(k, va)| b.iter().find(|(kb, _)| kb == k).map(|(_, vb)| va - vb)).collect();
    summarise(&diffs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_summaries() {
        // 2, 4, 6: mean 4, s = 2, CI = 4.303 · 2 / √3 = 4.9687.
        let s = summarise(&[2.0, 4.0, 6.0]);
        assert_eq!((s.n, s.mean, s.std), (3, 4.0, 2.0));
        assert!((s.ci95 - 4.303 * 2.0 / 3f64.sqrt()).abs() < 1e-12);
        assert!((s.ci95 - 4.968_7).abs() < 1e-4);
        let one = summarise(&[0.5]);
        assert_eq!(one.mean, 0.5);
        assert!(one.std.is_nan() && one.ci95.is_nan());
        // Paired over the shared seeds 0 and 2 only: differences 0.1 and 0.3.
        let d = paired_difference(&[(0, 0.5), (1, 0.9), (2, 0.7)], &[(0, 0.4), (2, 0.4), (5, 0.0)]);
        assert_eq!(d.n, 2);
        assert!((d.mean - 0.2).abs() < 1e-12);
        assert!((d.std - 0.02f64.sqrt()).abs() < 1e-12);
        assert!((d.ci95 - 12.706 * 0.02f64.sqrt() / 2f64.sqrt()).abs() < 1e-9);
        assert_eq!(t975(2), 4.303);
        assert_eq!(t975(1000), 1.96);
    }
}
