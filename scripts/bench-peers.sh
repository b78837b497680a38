#!/usr/bin/env bash
# Speed against the peers a user would run instead (../shared/peers), side by side in one run
# on this machine (a shared machine's speed drifts from hour to hour, so only ratios measured
# together mean anything):
#  1. short voice clips: the whole `liveness verify` process per clip (start, model load,
#     decode, faces analysis, speech, verdict) against faster-whisper's transcription alone
#     of the same audio (same whisper base weights, int8, 2 threads, model already loaded),
#     and the same `verify` on the file without its picture stream (whisper's share alone);
#  2. three kinds of video (voice only, actions only, both): whole `liveness verify` processes
#     against whole Python pipeline processes (PyAV, MediaPipe Face Mesh, faster-whisper).
# Usage: scripts/bench-peers.sh [ROUNDS]  (default 3; the peers set themselves up on first use)
# Extra arguments for every `liveness verify` (say `--whisper-weights q8_0`) come from
# LIVENESS_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
rounds=${1:-3}
bin=${LIVENESS_BIN:-target/release/liveness}
media=${LIVENESS_MEDIA:-../shared/media}
peers=${LIVENESS_PEERS:-../shared/peers}
read -r -a extra <<< "${LIVENESS_ARGS:-}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mean() { awk '{s+=$1} END {printf "%.3f", s/NR}'; }
wall() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
face=$media/video/faces/WDA_KatieHill_000.mp4

# 1. Eight four-digit recitals, two per language, each over the same length of a real
# talking-head video (512x512, 25 fps), 0.4 s of silence before and between the digits.
clips=()
for spec in de:3816 de:5092 es:7241 es:1953 fr:9448 fr:2675 ru:4719 ru:8361; do
  lang=${spec%%:*}; seq=${spec#*:}; name=$lang-$seq
  inputs=(-f lavfi -t 0.4 -i anullsrc=r=16000:cl=mono); n=1; parts="[0]"
  for d in $(echo "$seq" | grep -o .); do
    inputs+=(-i "$media/speech/digits/$lang/$d.wav" -f lavfi -t 0.4 -i anullsrc=r=16000:cl=mono)
    parts+="[$n][$((n + 1))]"; n=$((n + 2))
  done
  ffmpeg -loglevel error -y "${inputs[@]}" -filter_complex "${parts}concat=n=$n:v=0:a=1" "$tmp/$name.wav"
  ffmpeg -loglevel error -y -i "$face" -i "$tmp/$name.wav" -map 0:v -map 1:a -shortest \
    -c:v libx264 -preset ultrafast -c:a aac "$tmp/$name.mp4"
  # The same file without its picture: whisper's share (model load, speech), no faces analysis.
  ffmpeg -loglevel error -y -i "$tmp/$name.mp4" -map 0:a -c copy "$tmp/$name-sound.mp4"
  values=$(echo "$seq" | grep -o . | sed 's/.*/"&"/' | paste -sd,)
  echo "{\"id\":\"$name\",\"language\":\"$lang\",\"challenges\":[{\"type\":\"voice\",\"value\":[$values]}]}" > "$tmp/$name.json"
  clips+=("$name")
done
fw_args=(); for c in "${clips[@]}"; do fw_args+=("${c%%-*}:$tmp/$c.wav"); done
"$peers/faster-whisper" "${fw_args[0]}" >/dev/null 2>&1   # set up and warm the page cache
"$bin" verify "$tmp/${clips[0]}.mp4" --live-video "$tmp/${clips[0]}.json" "${extra[@]}" >/dev/null 2>&1 || true
for r in $(seq "$rounds"); do
  for c in "${clips[@]}"; do
    wall "$bin" verify "$tmp/$c.mp4" --live-video "$tmp/$c.json" --format json "${extra[@]}" >> "$tmp/ours-$c"
    wall "$bin" verify "$tmp/$c-sound.mp4" --live-video "$tmp/$c.json" --format json "${extra[@]}" >> "$tmp/sound-$c"
  done
  "$peers/faster-whisper" "${fw_args[@]}" 2>/dev/null | head -n -1 > "$tmp/fw-$r"
  i=0; for c in "${clips[@]}"; do i=$((i + 1)); sed -n "${i}p" "$tmp/fw-$r" | cut -f2 >> "$tmp/fw-$c"; done
done
echo "## Short voice clips: whole liveness verify process vs faster-whisper transcription (median of $rounds rounds)"
echo "(\"sound only\": the same file without its picture stream, so no faces analysis: whisper's share)"
printf '| clip | audio s | liveness verify s | faster-whisper s | ratio | sound only s | ratio |\n|---|---|---|---|---|---|---|\n'
for c in "${clips[@]}"; do
  o=$(median < "$tmp/ours-$c"); f=$(median < "$tmp/fw-$c"); so=$(median < "$tmp/sound-$c")
  a=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$tmp/$c.wav")
  echo "$o $f $so" >> "$tmp/pairs"
  printf '| %s | %.1f | %.3f | %.3f | %.2f | %.3f | %.2f |\n' "$c" "$a" "$o" "$f" \
    "$(echo "$o / $f" | bc -l)" "$so" "$(echo "$so / $f" | bc -l)"
done
read -r mo mf ms < <(awk '{o+=$1; f+=$2; s+=$3} END {printf "%.3f %.3f %.3f\n", o/NR, f/NR, s/NR}' "$tmp/pairs")
printf '| mean | | %.3f | %.3f | %.2f | %.3f | %.2f |\n\n' "$mo" "$mf" "$(echo "$mo / $mf" | bc -l)" \
  "$ms" "$(echo "$ms / $mf" | bc -l)"

# 2. The three kinds of video.
clip=$media/video/grid/sbwe5n.mpg
echo '{"id":"grid","language":"en-GB","challenges":[{"type":"voice","value":["set blue with e five now"]}]}' > "$tmp/grid.json"
echo '{"id":"turns","language":"en-GB","challenges":[{"type":"actions","value":["turnHeadRight","turnHeadLeft"]}]}' > "$tmp/turns.json"
make_phone_clip "$tmp" "$media"
kinds=("grid|$clip|GRID clip, 3 s 360x288, one phrase"
       "turns|$media/video/faces/webcam-turns.mov|webcam-turns.mov, 13 s 960x540, two head turns"
       "phone|$tmp/phone.mp4|lp-d13.mp4 cut to 10 s 720x1280, four digits + blink, smile, openMouth")
"$peers/python-pipeline/run" "$clip" "$tmp/grid.json" >/dev/null 2>&1   # set up and warm
for r in $(seq "$rounds"); do
  for k in "${kinds[@]}"; do
    IFS='|' read -r name video _ <<< "$k"
    wall "$bin" verify "$video" --live-video "$tmp/$name.json" --format json "${extra[@]}" >> "$tmp/ours-$name"
    wall "$peers/python-pipeline/run" "$video" "$tmp/$name.json" >> "$tmp/py-$name"
  done
done
echo "## Whole processes: liveness verify vs the Python pipeline (median of $rounds alternating runs)"
printf '| video | liveness verify s | Python pipeline s | ratio |\n|---|---|---|---|\n'
for k in "${kinds[@]}"; do
  IFS='|' read -r name _ what <<< "$k"
  o=$(median < "$tmp/ours-$name"); p=$(median < "$tmp/py-$name")
  printf '| %s | %.3f | %.3f | %.2f |\n' "$what" "$o" "$p" "$(echo "$o / $p" | bc -l)"
done
