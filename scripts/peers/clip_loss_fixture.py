#!/usr/bin/env python3
"""Golden fixture for gshn-train's CLIP loss from open_clip's ClipLoss.

Seeded random unit-norm image and text features (N = 8, D = 16) and the logit scale at its
initial value ln(1/0.07) (and a second case at a larger scale); records the loss and its
gradients with respect to both feature matrices and to ln(scale).

    .venv/bin/pip install open-clip-torch
    .venv/bin/python scripts/peers/clip_loss_fixture.py
"""
import json
import math
import pathlib
import importlib.metadata as md

import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss

OUT = pathlib.Path(__file__).resolve().parents[2] / "gshn-train/tests/fixtures/open_clip_loss.json"


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def main():
    cases = []
    for seed, ln_scale in [(0, math.log(1 / 0.07)), (1, math.log(50.0))]:
        g = torch.Generator().manual_seed(seed)
        img = F.normalize(torch.randn(8, 16, generator=g), dim=-1).requires_grad_(True)
        txt = F.normalize(torch.randn(8, 16, generator=g), dim=-1).requires_grad_(True)
        log_scale = torch.tensor(ln_scale, requires_grad=True)
        loss = ClipLoss()(img, txt, log_scale.exp())
        loss.backward()
        cases.append({
            "n": 8, "d": 16, "log_scale": ln_scale, "image": flat(img), "text": flat(txt),
            "loss": float(loss), "grad_image": flat(img.grad), "grad_text": flat(txt.grad),
            "grad_log_scale": float(log_scale.grad),
        })
    OUT.write_text(json.dumps({"open_clip": md.version("open_clip_torch"), "torch": torch.__version__, "cases": cases}))
    print(OUT, [c["loss"] for c in cases])


if __name__ == "__main__":
    main()
