#!/usr/bin/env bash
# Fetches a data set from a package registry, checks its hash and unpacks it outside the
# repository's tracked files.
#   bash scripts/fetch-data.sh easy-vqa [DIR]     (default DIR: data/easy-vqa)
set -euo pipefail
what="${1:-}"
case "$what" in
  easy-vqa)
    dir="${2:-data/easy-vqa}"
    wheel="easy_vqa-1.0-py3-none-any.whl"
    sha256="fcb51b309b78c7b00f97b64cdbcbcf5c105f94da1b39c0796cee5a787c4f650f"
    mkdir -p "$dir"
    if [ ! -f "$dir/$wheel" ]; then
      python3 -m pip download --no-deps --only-binary=:all: -d "$dir" easy-vqa==1.0
    fi
    echo "$sha256  $dir/$wheel" | sha256sum --check --status || {
      echo "error: $dir/$wheel does not have the expected SHA-256 ($sha256); delete it and run again" >&2
      exit 1
    }
    python3 - "$dir/$wheel" "$dir" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.startswith("easy_vqa/data/")]
    z.extractall(out, members)
print(f"unpacked {len(members)} files into {out}/easy_vqa/data")
PY
    echo "set data.dir = \"$dir\" (configs/easy-vqa.toml uses data/easy-vqa)"
    ;;
  *)
    echo "usage: bash scripts/fetch-data.sh easy-vqa [DIR]" >&2
    exit 2
    ;;
esac
