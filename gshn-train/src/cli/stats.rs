//! Summary statistics for ablation tables: mean, sample standard deviation, Student-t 95 %
//! confidence intervals, and paired differences over shared seeds. Student's t comes from
//! `statrs` (its quantile and tail agree with mpmath at 40 digits to 5e-13 on the reference
//! table in the tests; the hand-written incomplete beta it replaced agreed to 4e-13, and the
//! rounded quantile table it replaced was off by up to 0.04 for 31–120 degrees of freedom).

use statrs::distribution::{ContinuousCDF, StudentsT};

/// The 0.975 quantile of Student's t with `df` degrees of freedom (statrs' `StudentsT`;
/// NaN for `df = 0`): the factor of a two-sided 95 % confidence interval.
pub fn t975(df: usize) -> f64 {
    match StudentsT::new(0.0, 1.0, df as f64) {
        Ok(d) if df > 0 => d.inverse_cdf(0.975),
        _ => f64::NAN,
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

/// The two-sided p-value of a Student-t statistic `t` with `df` degrees of freedom.
pub fn t_two_sided_p(t: f64, df: usize) -> f64 {
    match StudentsT::new(0.0, 1.0, df as f64) {
        Ok(d) if df > 0 && t.is_finite() => (2.0 * d.sf(t.abs())).min(1.0),
        _ => f64::NAN,
    }
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

/// The minimum detectable effect of a paired comparison: the true mean difference a paired
/// t-test at two-sided level `alpha` finds with 80 % power, given the spread of the paired
/// differences, `(t_{1−α/2, n−1} + t_{0.8, n−1}) · s_d / √n` (NaN for fewer than two pairs).
pub fn mde80(diff: &Summary, alpha: f64) -> f64 {
    if diff.n < 2 || !diff.std.is_finite() {
        return f64::NAN;
    }
    match StudentsT::new(0.0, 1.0, (diff.n - 1) as f64) {
        Ok(d) => (d.inverse_cdf(1.0 - alpha / 2.0) + d.inverse_cdf(0.8)) * diff.std / (diff.n as f64).sqrt(),
        Err(_) => f64::NAN,
    }
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
    fn minimum_detectable_effect_by_hand() {
        // Five paired differences with sd 0.02: (t_{0.975,4} 2.7764 + t_{0.8,4} 0.9410) · 0.02/√5.
        let d = Summary { n: 5, mean: 0.0, std: 0.02, ci95: f64::NAN };
        assert!((mde80(&d, 0.05) - (2.776_445 + 0.940_965) * 0.02 / 5f64.sqrt()).abs() < 1e-5);
        // A stricter level needs a larger effect; one pair has none.
        assert!(mde80(&d, 0.01) > mde80(&d, 0.05));
        assert!(mde80(&Summary { n: 1, ..d }, 0.05).is_nan());
    }

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
        // 2, 4, 6: mean 4, s = 2, CI = t₀.₉₇₅(2) · 2 / √3 = 4.302653 · 2 / √3 = 4.9683.
        let s = summarise(&[2.0, 4.0, 6.0]);
        assert_eq!((s.n, s.mean, s.std), (3, 4.0, 2.0));
        assert!((s.ci95 - 4.302_652_729_749_464 * 2.0 / 3f64.sqrt()).abs() < 1e-9);
        assert!((s.ci95 - 4.968_3).abs() < 1e-4);
        let one = summarise(&[0.5]);
        assert_eq!(one.mean, 0.5);
        assert!(one.std.is_nan() && one.ci95.is_nan());
        // Paired over the shared seeds 0 and 2 only: differences 0.1 and 0.3.
        let d = paired_difference(&[(0, 0.5), (1, 0.9), (2, 0.7)], &[(0, 0.4), (2, 0.4), (5, 0.0)]);
        assert_eq!(d.n, 2);
        assert!((d.mean - 0.2).abs() < 1e-12);
        assert!((d.std - 0.02f64.sqrt()).abs() < 1e-12);
        assert!((d.ci95 - 12.706_204_736_174_705 * 0.02f64.sqrt() / 2f64.sqrt()).abs() < 1e-9);
        assert!((t975(2) - 4.302_652_729_749_464).abs() < 1e-9);
        assert!((t975(1000) - 1.962_339_080_826_408_5).abs() < 1e-9);
    }
    /// Two-sided p-values of Student's t, `(t, df, p)`, computed with mpmath at 40 digits as
    /// `I_{df/(df+t²)}(df/2, 1/2)` (scripts/peers/student_t_reference.py).
    const P_REF: [(f64, usize, f64); 72] = [
        (0.0, 1, 1.0),
        (0.5, 1, 0.7048327646991335),
        (1.0, 1, 0.5),
        (1.96, 1, 0.3003428917760331),
        (2.5, 1, 0.2422378831816868),
        (4.0, 1, 0.15595826075473865),
        (10.0, 1, 0.06345103486110713),
        (-2.0, 1, 0.2951672353008665),
        (0.0, 2, 1.0),
        (0.5, 2, 0.6666666666666666),
        (1.0, 2, 0.4226497308103742),
        (1.96, 2, 0.18905730960173228),
        (2.5, 2, 0.1296117202215108),
        (4.0, 2, 0.05719095841793664),
        (10.0, 2, 0.00985245702332569),
        (-2.0, 2, 0.18350341907227397),
        (0.0, 3, 1.0),
        (0.5, 3, 0.651447964848151),
        (1.0, 3, 0.39100221895577064),
        (1.96, 3, 0.14485220856485365),
        (2.5, 3, 0.08770664700806555),
        (4.0, 3, 0.028008456010146166),
        (10.0, 3, 0.0021283990584141503),
        (-2.0, 3, 0.1393259685588432),
        (0.0, 5, 1.0),
        (0.5, 5, 0.638298871640929),
        (1.0, 5, 0.3632174676491226),
        (1.96, 5, 0.10728795250529417),
        (2.5, 5, 0.05449009934237624),
        (4.0, 5, 0.010323415480831453),
        (10.0, 5, 0.0001709475757429636),
        (-2.0, 5, 0.10193947882985836),
        (0.0, 10, 1.0),
        (0.5, 10, 0.6278936057429729),
        (1.0, 10, 0.34089313230205986),
        (1.96, 10, 0.07843624024769971),
        (2.5, 10, 0.031446844236608804),
        (4.0, 10, 0.0025183326247366924),
        (10.0, 10, 1.5895531755964119e-06),
        (-2.0, 10, 0.07338803477074037),
        (0.0, 29, 1.0),
        (0.5, 29, 0.6208480841937813),
        (1.0, 29, 0.32558198801619354),
        (1.96, 29, 0.059667795519591324),
        (2.5, 29, 0.018325344338426076),
        (4.0, 29, 0.0004000639456524914),
        (10.0, 29, 6.599862576433512e-11),
        (-2.0, 29, 0.05494363718296719),
        (0.0, 31, 1.0),
        (0.5, 31, 0.6206059512477189),
        (1.0, 31, 0.32505273272353347),
        (1.96, 31, 0.059037994721611725),
        (2.5, 31, 0.01792022681338622),
        (4.0, 31, 0.0003653050535646448),
        (10.0, 31, 3.204795491830886e-11),
        (-2.0, 31, 0.054327215367175705),
        (0.0, 100, 1.0),
        (0.5, 100, 0.6181735658308866),
        (1.0, 100, 0.3197241557841234),
        (1.96, 100, 0.05277890136622967),
        (2.5, 100, 0.014045789124077177),
        (4.0, 100, 0.00012152364430076168),
        (10.0, 100, 9.901688984594139e-17),
        (-2.0, 100, 0.04821217873113368),
        (0.0, 1000, 1.0),
        (0.5, 1000, 0.6171850808338748),
        (1.0, 1000, 0.3175524180846723),
        (1.96, 1000, 0.05027318495574872),
        (2.5, 1000, 0.012578567801090797),
        (4.0, 1000, 6.800991920878158e-05),
        (10.0, 1000, 1.6670702958600067e-22),
        (-2.0, 1000, 0.04577034649325164),
    ];
    /// The 0.975 quantiles of Student's t, `(df, q)`, the same way.
    const Q975_REF: [(usize, f64); 15] = [
        (1, 12.706204736174705),
        (2, 4.302652729749464),
        (3, 3.1824463052837095),
        (4, 2.7764451051977943),
        (5, 2.5705818356363155),
        (10, 2.228138851986275),
        (20, 2.085963447265865),
        (30, 2.042272456301238),
        (31, 2.0395134463964086),
        (45, 2.0141033888808466),
        (60, 2.0002978220142604),
        (61, 1.9996235849949398),
        (120, 1.979930405082441),
        (121, 1.979763762505387),
        (1000, 1.9623390808264085),
    ];

    #[test]
    fn student_t_equals_the_mpmath_reference() {
        for &(t, df, p) in &P_REF {
            assert!((t_two_sided_p(t, df) - p).abs() < 1e-10, "t = {t}, df = {df}: {} vs {p}", t_two_sided_p(t, df));
        }
        for &(df, q) in &Q975_REF {
            assert!((t975(df) - q).abs() < 1e-10, "df = {df}: {} vs {q}", t975(df));
        }
        assert!(t975(0).is_nan() && t_two_sided_p(1.0, 0).is_nan() && t_two_sided_p(f64::NAN, 3).is_nan());
    }
}
