#!/usr/bin/env python3
"""Times PyG GATConv forward+backward on the graphs gshn wrote (--graphs JSON).

Called by gshn-bench's `compare-gat`; prints JSON {"pyg": {N: ms}} (median of --reps).
"""
import argparse
import json
import statistics
import time

import torch
import torch_geometric
from torch_geometric.nn import GATConv


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--graphs", required=True)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    spec = json.load(open(a.graphs))
    layer = GATConv(spec["features"], spec["channels"], heads=spec["heads"])
    out = {"pyg": {}, "torch": torch.__version__, "torch_geometric": torch_geometric.__version__}
    for case in spec["cases"]:
        edge_index = torch.tensor([case["src"], case["dst"]], dtype=torch.long)
        x = torch.randn(case["num_nodes"], spec["features"], requires_grad=True)

        def step():
            layer(x, edge_index).sum().backward()
            x.grad = None
            layer.zero_grad()

        step()
        times = []
        for _ in range(a.reps):
            t = time.perf_counter()
            step()
            times.append((time.perf_counter() - t) * 1e3)
        out["pyg"][str(case["nodes"])] = statistics.median(times)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
