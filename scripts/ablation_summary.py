#!/usr/bin/env python3
"""Condenses an ablation's runs.csv (written by `gshn ablate`) into one Markdown table for
docs/results.md: per variant, mean and 95 % CI half-width (Student t) of the chosen metrics,
and the paired difference to the reference variant for the first metric. The full table with
every metric is the ablation's own table.md; this only picks columns.

    python3 scripts/ablation_summary.py runs/ablations/branches/runs.csv hybrid t2i_r10 vqa hard_negative
"""
import csv
import math
import sys

T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]


def summary(values):
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, T975[n - 2] * sd / math.sqrt(n)


def main():
    path, reference, metrics = sys.argv[1], sys.argv[2], sys.argv[3:]
    rows = list(csv.DictReader(open(path)))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    head = "| variant | " + " | ".join(metrics) + f" | Δ {metrics[0]} vs {reference} |"
    print(head)
    print("|" + "---|" * (len(metrics) + 2))
    ref = {r["seed"]: float(r[metrics[0]]) for r in rows if r["variant"] == reference and r[metrics[0]]}
    for v in variants:
        cells = []
        for m in metrics:
            vals = [float(r[m]) for r in rows if r["variant"] == v and r[m] != ""]
            if not vals:
                cells.append("–")
                continue
            mean, ci = summary(vals)
            fmt = (lambda x: f"{x:.3g}") if abs(mean) >= 100 else (lambda x: f"{x:.3f}")
            cells.append(f"{fmt(mean)} ± {fmt(ci)}")
        if v == reference:
            delta = "—"
        else:
            d = [float(r[metrics[0]]) - ref[r["seed"]] for r in rows if r["variant"] == v and r["seed"] in ref and r[metrics[0]]]
            mean, ci = summary(d)
            delta = f"{mean:+.3f} [{mean - ci:+.3f}, {mean + ci:+.3f}]"
        print(f"| {v} | " + " | ".join(cells) + f" | {delta} |")


if __name__ == "__main__":
    main()
