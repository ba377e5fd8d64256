#!/usr/bin/env python3
"""Condenses one `gshn ablate` output folder into the Markdown tables of docs/results.md.

    python3 scripts/ablation_summary.py runs/ablations/branches [METRIC ...]

Prints (1) the ablation's own table for text→image R@10 (mean ± std, 95 % CI, paired Δ to the
reference with its CI, Cohen's d_z and the Holm-corrected p-value, all computed by `gshn
ablate` and copied from its table.md), and (2) one row per variant with the means of the
chosen runs.csv metrics (default: vqa hard_negative firing_rate energy_nj r train_s) and,
read from every run's eval.json, the claim-aware text→image R@10 with its oracle ceiling, the
VQA answer-prior baseline. `energy_nj` is the whole image encoder's count, so a
`hybrid-relu-twin` row is the equal-width non-spiking twin's. Only the standard library is used.
"""
import csv
import json
import math
import os
import sys

DEFAULT = ["vqa", "hard_negative", "firing_rate", "energy_nj", "r", "train_s"]


def mean_std(values):
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return float("nan"), float("nan")
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, float("nan")
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def section(table_md, title):
    """The lines of one `### title` table in the ablation's table.md."""
    out, inside = [], False
    for line in table_md.splitlines():
        if line.startswith("### "):
            inside = line[4:].strip() == title
            continue
        if inside and line.startswith("|"):
            out.append(line)
    return out


def fmt(m, s=None):
    if math.isnan(m):
        return "—"
    big = abs(m) >= 1000
    core = f"{m:.3g}" if big else f"{m:.3f}"
    if s is None or math.isnan(s):
        return core
    return core + " ± " + (f"{s:.2g}" if big else f"{s:.3f}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    folder, metrics = sys.argv[1], sys.argv[2:] or DEFAULT
    table_md = open(os.path.join(folder, "table.md")).read()
    # The primary metric's table ("Primary: text→image R@10" since grids declare one).
    lines = section(table_md, "Primary: text→image R@10") or section(table_md, "text→image R@10")
    print("\n".join(lines))
    print()
    rows = list(csv.DictReader(open(os.path.join(folder, "runs.csv"))))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    head = ["variant", "claim-aware t→i R@10 (ceiling)"] + metrics + ["VQA prior"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for v in variants:
        runs = [r for r in rows if r["variant"] == v]
        claim, ceiling, prior = [], [], []
        for r in runs:
            path = os.path.join(folder, "runs", v, f"data-{r['data_seed']}-seed-{r['seed']}", "eval.json")
            if not os.path.exists(path):
                continue
            e = json.load(open(path))
            c = e.get("claim_retrieval") or {}
            if c:
                claim.append(c["t2i_recall"][2])
                ceiling.append(c["t2i_ceiling"][2])
            b = e.get("vqa_baselines") or {}
            if b:
                prior.append(b["prior"]["all"])
        cells = [v, f"{fmt(*mean_std(claim))} ({fmt(mean_std(ceiling)[0])})"]
        for m in metrics:
            cells.append(fmt(*mean_std([float(r[m]) for r in runs if r.get(m) not in (None, "")])))
        cells.append(fmt(mean_std(prior)[0]))
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
