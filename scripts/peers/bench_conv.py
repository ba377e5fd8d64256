#!/usr/bin/env python3
"""Times a 3x3 convolution + bias + ReLU, forward+backward, in PyTorch (CPU).

Called by `compare-conv`; prints JSON {"layers": [ms, ...]} with the median of --reps runs,
one entry per --layers triple (in,out,side). The first layer's input takes no gradient (the
pixels), the others' do, as in gshn's CNN backbone.
"""
import argparse
import json

import torch

from timing import median_ms


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--layers", default="3,16,64;16,32,32;32,32,16")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = {"layers": [], "threads": a.threads, "torch": torch.__version__}
    for i, layer in enumerate(a.layers.split(";")):
        c, o, side = (int(s) for s in layer.split(","))
        conv = torch.nn.Conv2d(c, o, 3, padding=1)
        x = torch.randn(a.batch, c, side, side).requires_grad_(i > 0)

        def run():
            torch.relu(conv(x)).sum().backward()
            conv.zero_grad(set_to_none=True)
            x.grad = None

        out["layers"].append(median_ms(run, a.reps))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
