#!/usr/bin/env bash
# Audit throughput on this machine over the shared real clips (11 GRID clips with their true
# sentence, the 10 face clips with an action they show), with --jobs 1 and --jobs 2; and the
# peak memory with 1,000 videos queued against 20 (the queue holds paths, not decoded data).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/liveness
media=$(cd "${LIVENESS_MEDIA:-../shared/media}" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/in"
python3 - "$media" "$tmp/in" <<'PY'
import json, os, sys
media, out = sys.argv[1], sys.argv[2]
truth = json.load(open(os.path.join(media, "truth.json")))
def add(name, path, challenges):
    ext = os.path.splitext(path)[1]
    os.symlink(os.path.join(media, path), os.path.join(out, name + ext))
    json.dump({"id": name, "language": "en-GB", "challenges": challenges}, open(os.path.join(out, name + ".json"), "w"))
for path, sentence in truth["grid"].items():
    if not path.startswith("video/"): continue
    add("grid-" + os.path.basename(path).split(".")[0], path, [{"type": "voice", "value": [sentence]}])
for path, t in truth["videos"].items():
    if t.get("spoof"): continue
    present = [p["action"] for p in t["present"]][:1] or ["blink"]
    add("face-" + os.path.basename(path).split(".")[0], path, [{"type": "actions", "value": present}])
PY
n=$(ls "$tmp/in"/*.json | wc -l)
for jobs in 1 2; do
  s=$(date +%s.%N)
  "$bin" audit "$tmp/in" --out "$tmp/out$jobs" --jobs "$jobs" >/dev/null 2>&1
  e=$(date +%s.%N)
  printf 'audit of %d real videos, --jobs %d: %.1f s, %.1f videos/min\n' "$n" "$jobs" "$(echo "$e - $s" | bc -l)" "$(echo "$n * 60 / ($e - $s)" | bc -l)"
done
# Memory: 1,000 queued videos (one short GRID clip linked 1,000 times) against 20, read from
# /proc every half second for at most 25 s of each run: the audit process's peak resident
# memory (it holds the queue: paths, not decoded data) and its runner's (where the videos are
# verified), with the runner's resident memory after its 10th and its last video of the run
# (it must not grow from one video to the next).
clip="$media/video/grid/sbwe5n.mpg"
for count in 20 1000; do
  mkdir "$tmp/q$count"
  for i in $(seq "$count"); do
    ln -s "$clip" "$tmp/q$count/v$i.mpg"
    echo "{\"id\":\"v$i\",\"language\":\"en-GB\",\"challenges\":[{\"type\":\"voice\",\"value\":[\"set blue with e five now\"]}]}" > "$tmp/q$count/v$i.json"
  done
  "$bin" audit "$tmp/q$count" --out "$tmp/qo$count" --jobs 1 >/dev/null 2>&1 &
  pid=$!
  hwm=0 runner_hwm=0 at10="" last="" done_now=0
  for _ in $(seq 50); do
    v=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$v" ] && [ "$v" -gt "$hwm" ] && hwm=$v
    runner=$(pgrep -P "$pid" | head -1 || true)
    if [ -n "$runner" ]; then
      r=$(awk '/VmRSS/ {print $2}' "/proc/$runner/status" 2>/dev/null || true)
      h=$(awk '/VmHWM/ {print $2}' "/proc/$runner/status" 2>/dev/null || true)
      [ -n "$h" ] && [ "$h" -gt "$runner_hwm" ] && runner_hwm=$h
      done_now=$(wc -l < "$tmp/qo$count/results.jsonl" 2>/dev/null || echo 0)
      if [ -n "$r" ]; then
        [ -z "$at10" ] && [ "$done_now" -ge 10 ] && at10="$r KiB after $done_now"
        last="$r KiB after $done_now"
      fi
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  echo "$count videos queued, first 25 s ($(wc -l < "$tmp/qo$count/results.jsonl") done): audit process peak RSS $hwm KiB, runner peak $runner_hwm KiB; runner RSS ${at10:-n/a}, ${last:-n/a} videos"
done
