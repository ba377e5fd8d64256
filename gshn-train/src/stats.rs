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

/// The regularised incomplete beta function `I_x(a, b)` (continued fraction, Numerical Recipes
/// §6.4), for the Student-t distribution.
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_beta = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b);
    let front = (ln_beta + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The continued fraction converges fast for x < (a + 1) / (a + b + 2); else use symmetry.
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_fraction(1.0 - x, b, a) / b
    }
}

fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    let tiny = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < tiny {
        d = tiny;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        for aa in [m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))] {
            d = 1.0 + aa * d;
            if d.abs() < tiny {
                d = tiny;
            }
            c = 1.0 + aa / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// `ln Γ(x)` (Lanczos, g = 7).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = G[0] + (1..9).map(|i| G[i] / (x + i as f64)).sum::<f64>();
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The two-sided p-value of a Student-t statistic `t` with `df` degrees of freedom.
pub fn t_two_sided_p(t: f64, df: usize) -> f64 {
    if df == 0 || !t.is_finite() {
        return f64::NAN;
    }
    let v = df as f64;
    incomplete_beta(v / (v + t * t), v / 2.0, 0.5)
}

/// A paired comparison of a variant with the reference: the mean difference, its 95 % CI,
/// the effect size (Cohen's `d_z`, mean over standard deviation of the differences), the
/// paired t-test's p-value, and that p-value after the Holm correction over every variant
/// compared with the same reference (filled in by [`holm`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// The paired differences' summary.
    pub diff: Summary,
    /// Cohen's `d_z`.
    pub effect: f64,
    /// Two-sided p-value of the paired t-test.
    pub p: f64,
    /// Holm-adjusted p-value.
    pub p_holm: f64,
}

/// Compares `a` with `b` over their shared seeds (before the multiple-comparison correction).
pub fn compare(a: &[(u64, f64)], b: &[(u64, f64)]) -> Comparison {
    let diff = paired_difference(a, b);
    let effect = diff.mean / diff.std;
    let p = if diff.n < 2 {
        f64::NAN
    } else if diff.std == 0.0 {
        if diff.mean == 0.0 {
            1.0
        } else {
            0.0
        }
    } else {
        t_two_sided_p(diff.mean / (diff.std / (diff.n as f64).sqrt()), diff.n - 1)
    };
    Comparison { diff, effect, p, p_holm: p }
}

/// Holm's step-down correction of the p-values of several comparisons (in place): sorted
/// ascending, the k-th smallest of m is multiplied by `m − k` (k from 0), made monotone, and
/// capped at 1. NaN p-values take no part.
pub fn holm(comparisons: &mut [Comparison]) {
    let mut order: Vec<usize> = (0..comparisons.len()).filter(|&i| !comparisons[i].p.is_nan()).collect();
    order.sort_by(|&a, &b| comparisons[a].p.total_cmp(&comparisons[b].p));
    let m = order.len();
    let mut running: f64 = 0.0;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(((m - k) as f64 * comparisons[i].p).min(1.0));
        comparisons[i].p_holm = running;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_test_p_values_and_holm_by_hand() {
        // t = 2.776 with 4 df is the two-sided 5 % point; t = 4.604 the 1 % point.
        assert!((t_two_sided_p(2.776, 4) - 0.05).abs() < 2e-4);
        assert!((t_two_sided_p(4.604, 4) - 0.01).abs() < 2e-4);
        assert!((t_two_sided_p(0.0, 7) - 1.0).abs() < 1e-12);
        // df = 1 is Cauchy: p = 1 − 2·atan(t)/π.
        assert!((t_two_sided_p(1.0, 1) - 0.5).abs() < 1e-9);
        // Paired differences 0.1, 0.2, 0.3 (mean 0.2, sd 0.1): t = 0.2 / (0.1/√3) = 3.464, df 2.
        let c = compare(&[(0, 0.6), (1, 0.7), (2, 0.8)], &[(0, 0.5), (1, 0.5), (2, 0.5)]);
        assert!((c.effect - 2.0).abs() < 1e-9);
        assert!((c.p - t_two_sided_p(12f64.sqrt(), 2)).abs() < 1e-12 && c.p > 0.05 && c.p < 0.1);
        // Holm over p = 0.01, 0.04, 0.03: sorted 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 → 0.06.
        let mk = |p| Comparison { diff: summarise(&[]), effect: 0.0, p, p_holm: p };
        let mut cs = vec![mk(0.01), mk(0.04), mk(0.03)];
        holm(&mut cs);
        let adj: Vec<f64> = cs.iter().map(|c| c.p_holm).collect();
        assert!((adj[0] - 0.03).abs() < 1e-12 && (adj[1] - 0.06).abs() < 1e-12 && (adj[2] - 0.06).abs() < 1e-12, "{adj:?}");
    }

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
