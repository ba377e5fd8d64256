#!/usr/bin/env python3
"""Times scikit-image's felzenszwalb and slic on skimage.data.astronaut() (512x512).

Called by `cargo run --release -p gshn-bench --bin compare-seg`: writes the image to
--image-out (so both sides segment the same pixels) and prints JSON timings (median ms).
"""
import argparse
import json
import statistics
import time

import skimage
from skimage import data, io
from skimage.segmentation import felzenszwalb, slic


def median_ms(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--image-out", required=True)
    a = p.parse_args()
    img = data.astronaut()
    io.imsave(a.image_out, img, check_contrast=False)
    img = io.imread(a.image_out)
    fh_ms, fh = median_ms(lambda: felzenszwalb(img, scale=100.0, sigma=0.8, min_size=50), a.reps)
    sl_ms, sl = median_ms(lambda: slic(img, n_segments=100, compactness=10.0, start_label=0), a.reps)
    print(json.dumps({
        "skimage": skimage.__version__,
        "felzenszwalb": {"ms": fh_ms, "segments": int(fh.max() + 1)},
        "slic": {"ms": sl_ms, "segments": int(sl.max() + 1)},
    }))


if __name__ == "__main__":
    main()
