#!/usr/bin/env bash
# The GPU check behind docs/results.md's GPU row: the default experiment with `--device auto`
# on a machine with an NVIDIA GPU, from a binary built on the CPU machine and carried as
# runs/gshn.gz (strip + gzip), with the Vulkan loader carried as .gl/*.deb when the machine
# lacks it. Prints the step times of `gshn bench train --device wgpu`, the device gshn
# picked, the run's progress tail and the metrics table; copies the report's key files to $OUT.
set -uo pipefail
if ! ldconfig -p | grep -q libvulkan; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
gzip -dc runs/gshn.gz > /tmp/gshn && chmod +x /tmp/gshn
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
# Step times first (issue 12): the runner's step, warm-up and percentiles, distinct shapes.
timeout "${GSHN_BENCH_TIMEOUT:-180}" /tmp/gshn bench train --config configs/shapeworld.toml --device wgpu --steps 50 > "$OUT/bench.md" 2> "$OUT/bench.log"
echo "bench exit $?"; cat "$OUT/bench.md"
start=$(date +%s)
timeout "${GSHN_TIMEOUT:-420}" /tmp/gshn train --config configs/shapeworld.toml --out /tmp/gpu-run "$@" > "$OUT/table.md" 2> "$OUT/progress.log"
echo "exit $? after $(( $(date +%s) - start )) s"
head -3 "$OUT/progress.log"; tail -6 "$OUT/progress.log"; cat "$OUT/table.md"
for f in eval.json metrics.csv report/report.md report/validation.png report/examples.png; do
  [ -f "/tmp/gpu-run/$f" ] && cp "/tmp/gpu-run/$f" "$OUT/"
done
