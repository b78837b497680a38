#!/usr/bin/env bash
# What crash isolation costs: whole audits of the 11 GRID clips (--jobs 1), each video in a
# runner process (the default) and in-process (--in-process), alternating, RUNS times each
# (default 4); prints each run's wall time and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/liveness
media=${LIVENESS_MEDIA:-../shared/media}
runs=${RUNS:-4}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/in"
python3 - "$media" "$tmp/in" <<'PY'
import json, os, sys
media, out = sys.argv[1], sys.argv[2]
for path, text in json.load(open(os.path.join(media, "truth.json")))["grid"].items():
    if path.startswith("_"):
        continue
    name = os.path.splitext(os.path.basename(path))[0]
    os.symlink(os.path.realpath(os.path.join(media, path)), os.path.join(out, name + ".mpg"))
    lv = {"id": name, "clientId": "bench", "language": "en-GB",
          "challenges": [{"type": "voice", "value": [text]}]}
    json.dump(lv, open(os.path.join(out, name + ".json"), "w"))
PY
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for i in $(seq "$runs"); do
  for mode in isolated in-process; do
    flag=(); [ "$mode" = in-process ] && flag=(--in-process)
    rm -rf "$tmp/out"
    start=$(date +%s.%N)
    "$bin" audit "$tmp/in" --out "$tmp/out" --jobs 1 "${flag[@]}" >/dev/null 2>&1
    end=$(date +%s.%N)
    secs=$(echo "$end - $start" | bc)
    echo "$mode $secs"
    echo "$secs" >> "$tmp/$mode"
  done
done
for mode in isolated in-process; do
  echo "median $mode: $(median < "$tmp/$mode") s"
done
