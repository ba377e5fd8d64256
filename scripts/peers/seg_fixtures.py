#!/usr/bin/env python3
"""Golden fixtures for gshn-seg's Felzenszwalb and SLIC from scikit-image 0.26.

Images: three of scikit-image's own samples (astronaut, coffee, chelsea; public domain / CC0),
downscaled to at most 256 px and committed as PNG, plus four real COCO images read from
../shared/data (not copied). For each image, skimage's label maps are stored run-length
encoded in raster order: [label, run, label, run, ...].

    .venv/bin/pip install scikit-image
    .venv/bin/python scripts/peers/seg_fixtures.py
"""
import json
import pathlib

import numpy as np
import skimage
from skimage import data, io, transform
from skimage.segmentation import felzenszwalb, slic

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "gshn-seg/tests/fixtures"
SHARED = ROOT.parent / "shared/data"

FH = dict(scale=100.0, sigma=0.8, min_size=50)
SLIC = dict(n_segments=100, compactness=10.0, max_num_iter=10, sigma=0.0, enforce_connectivity=True)

COCO = [
    "coco-panoptic-sample/input_images/000000142238.jpg",
    "coco-panoptic-sample/input_images/000000439180.jpg",
    "coco-mini/train2017/000000000790.jpg",
    "coco-mini/train2017/000000030752.jpg",
]


def rle(labels):
    flat = labels.ravel()
    out, start = [], 0
    for i in range(1, len(flat) + 1):
        if i == len(flat) or flat[i] != flat[start]:
            out += [int(flat[start]), i - start]
            start = i
    return out


def small(img, limit=256):
    h, w = img.shape[:2]
    s = limit / max(h, w)
    if s >= 1:
        return img
    out = transform.resize(img, (round(h * s), round(w * s)), anti_aliasing=True)
    return (out * 255).round().astype(np.uint8)


def main():
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    cases = []
    for name in ["astronaut", "coffee", "chelsea"]:
        img = small(getattr(data, name)())
        path = OUT / "images" / f"{name}.png"
        io.imsave(path, img, check_contrast=False)
        cases.append((f"tests/fixtures/images/{name}.png", io.imread(path)))
    for rel in COCO:
        cases.append((f"../../shared/data/{rel}", io.imread(SHARED / rel)))
    fixtures = []
    for rel, img in cases:
        img = img[..., :3]
        fh = felzenszwalb(img, **FH)
        sl = slic(img, start_label=0, **SLIC)
        fixtures.append({
            "image": rel, "height": int(img.shape[0]), "width": int(img.shape[1]),
            "felzenszwalb": {"segments": int(fh.max() + 1), "labels_rle": rle(fh)},
            "slic": {"segments": int(sl.max() + 1), "labels_rle": rle(sl)},
        })
        print(f"{rel}: {img.shape[1]}x{img.shape[0]}  FH {fh.max() + 1}  SLIC {sl.max() + 1}")
    (OUT / "skimage_segmenters.json").write_text(json.dumps({
        "skimage": skimage.__version__, "felzenszwalb_params": FH, "slic_params": SLIC, "cases": fixtures,
    }, separators=(",", ":")))


if __name__ == "__main__":
    main()
