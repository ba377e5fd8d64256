#!/usr/bin/env python3
"""Planned contrasts of one `gshn ablate` output folder against a variant other than its
reference, with the statistics `gshn ablate` prints for its own reference.

    python3 scripts/ablation_contrast.py runs/ablations/stl_pretrained no-stl-500-steps \
        stl-word-segment stl-sentence stl-spiked-words [--metric t2i_r10]

For each listed variant: the mean paired difference to REFERENCE over the (data seed, seed)
pairs both have, its 95 % CI (Student t, n − 1 df), Cohen's d_z, the paired t-test's two-sided
p-value, Holm's correction over the listed variants, and the minimum detectable effect at 80 %
power and level 0.05/k, (t_{1−α/2, n−1} + t_{0.8, n−1}) · s_d / √n — the formulas of
`gshn-train/src/cli/stats.rs`, so that with the folder's own reference it reproduces the
primary table of its `table.md`. Reads `runs.csv` only; only the standard library is used.
Use it for contrasts a grid was designed for but does not tabulate (an STL reading against the
control with the same main-stage length) — and say, where you report one, that it was chosen
before the runs were seen, or that it was not.
"""
import csv
import math
import sys


def betacf(a, b, x):
    """The continued fraction of the regularised incomplete beta (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betai(a, b, x):
    """The regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1.0 - x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t, df):
    """P(|T| ≥ |t|) for Student's t with df degrees of freedom."""
    return betai(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(q, df):
    """The q-quantile of Student's t (q > 0.5), by bisection on the two-sided tail."""
    lo, hi = 0.0, 1000.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if 1.0 - t_two_sided_p(mid, df) / 2.0 < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def runs(path, metric):
    out = {}
    for r in csv.DictReader(open(path)):
        if r.get(metric) not in (None, ""):
            out.setdefault(r["variant"], {})[(r["data_seed"], r["seed"])] = float(r[metric])
    return out


def main():
    args = sys.argv[1:]
    metric = "t2i_r10"
    if "--metric" in args:
        i = args.index("--metric")
        metric = args[i + 1]
        del args[i : i + 2]
    if len(args) < 3:
        sys.exit(__doc__)
    folder, reference, variants = args[0], args[1], args[2:]
    data = runs(f"{folder}/runs.csv", metric)
    for v in [reference] + variants:
        if v not in data:
            sys.exit(f"{folder}/runs.csv has no runs of `{v}` with {metric} (variants: {', '.join(data)})")
    k = len(variants)
    rows = []
    for v in variants:
        keys = sorted(set(data[v]) & set(data[reference]))
        d = [data[v][key] - data[reference][key] for key in keys]
        n = len(d)
        if n < 2:
            sys.exit(f"`{v}` and `{reference}` share {n} (data seed, seed) pair(s); a paired test needs two")
        mean = sum(d) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
        se = sd / math.sqrt(n)
        half = t_quantile(0.975, n - 1) * se
        p = t_two_sided_p(mean / se, n - 1) if se > 0 else (0.0 if mean != 0 else 1.0)
        mde = (t_quantile(1.0 - 0.05 / k / 2.0, n - 1) + t_quantile(0.8, n - 1)) * se
        rows.append([v, n, mean, mean - half, mean + half, mean / sd if sd > 0 else math.nan, p, mde])
    # Holm's step-down correction over the listed variants.
    order = sorted(range(k), key=lambda i: rows[i][6])
    running = 0.0
    holm = [0.0] * k
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (k - rank) * rows[i][6]))
        holm[i] = running
    print(f"{metric}: paired differences to `{reference}`, Holm over {k} variant(s); MDE at 80 % power, level 0.05/{k}\n")
    print(f"| variant | pairs | Δ vs {reference} [95 % CI] | d | p | p (Holm, {k}) | MDE (80 %) |")
    print("|---|---|---|---|---|---|---|")
    for (v, n, mean, lo, hi, dz, p, mde), ph in zip(rows, holm):
        print(f"| {v} | {n} | {mean:+.3f} [{lo:+.3f}, {hi:+.3f}] | {dz:+.2f} | {p:.4f} | {ph:.3f} | {mde:.3f} |")


if __name__ == "__main__":
    main()
