#!/usr/bin/env bash
# End-to-end wall time and peak RSS of `liveness verify` (release build, models installed):
# a GRID clip with a phrase challenge, a 10 s 720x1280 phone clip with a digit recital and
# three actions, and the peak memory of a 10 s vs a 60 s video.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
bin=target/release/liveness
media=${LIVENESS_MEDIA:-../shared/media}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo '{"id":"bench","language":"en-GB","challenges":[{"type":"voice","value":["set blue with e five now"]}]}' > "$tmp/lv.json"
clip="$media/video/grid/sbwe5n.mpg"
# The phone selfie (scripts/lib.sh make_phone_clip): 10 s 720x1280, 1 voice + 3 actions.
make_phone_clip "$tmp" "$media"
# Wall time per clip, median of 5 runs. With BASELINE=/path/to/another/liveness, that binary
# runs too, alternating with this one, so that both see the same machine (a shared machine's
# speed drifts by tens of per cent from hour to hour).
bins=("$bin"); [ -n "${BASELINE:-}" ] && bins+=("$BASELINE")
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for b in "${bins[@]}"; do "$b" verify "$clip" --live-video "$tmp/lv.json" --format json >/dev/null; done   # warm the page cache
for name in grid phone; do
  case $name in
    grid) video=$clip; lv=$tmp/lv.json; what="GRID 3 s clip, phrase challenge" ;;
    phone) video=$tmp/phone.mp4; lv=$tmp/phone.json; what="10 s 720x1280 phone clip, 1 voice + 3 actions" ;;
  esac
  for i in 1 2 3 4 5; do
    for k in "${!bins[@]}"; do
      s=$(date +%s.%N); "${bins[$k]}" verify "$video" --live-video "$lv" --format json >/dev/null; e=$(date +%s.%N)
      echo "$e - $s" | bc -l >> "$tmp/wall-$name-$k"
    done
  done
  for k in "${!bins[@]}"; do
    printf 'e2e verify, %s, %s: %.3f s median wall of 5 (process start, model load, decode, ASR, vision, lip sync)\n' \
      "$what" "${bins[$k]}" "$(median < "$tmp/wall-$name-$k")"
  done
done
# Peak RSS: the same 3 s recital under 10 s and 60 s of real video (looped GRID frames,
# the clip's audio once, then silence), so only the video's length differs.
for secs in 10 60; do
  ffmpeg -loglevel error -y -stream_loop -1 -i "$clip" -i "$clip" -map 0:v -map 1:a -af apad -t "$secs" \
    -c:v libx264 -preset ultrafast -c:a aac "$tmp/v$secs.mp4"
  /usr/bin/time -f "%M" -o "$tmp/rss$secs" "$bin" verify "$tmp/v$secs.mp4" --live-video "$tmp/lv.json" --format json >/dev/null
  echo "peak RSS, ${secs} s video: $(cat "$tmp/rss$secs") KiB"
done
# Actions: the webcam clip (13 s, 960x540) with two head turns; and the peak memory of a 10 s
# against a 60 s video with an actions challenge (the same real clip looped).
echo '{"id":"bench","language":"en-GB","challenges":[{"type":"actions","value":["turnHeadRight","turnHeadLeft"]}]}' > "$tmp/lv-act.json"
turns="$media/video/faces/webcam-turns.mov"
s=$(date +%s.%N); "$bin" verify "$turns" --live-video "$tmp/lv-act.json" --format json >/dev/null; e=$(date +%s.%N)
printf 'e2e verify, webcam-turns 13 s 960x540, two head turns: %.3f s wall\n' "$(echo "$e - $s" | bc -l)"
for secs in 10 60; do
  ffmpeg -loglevel error -y -stream_loop -1 -i "$turns" -map 0:v -t "$secs" -c:v libx264 -preset ultrafast "$tmp/a$secs.mp4"
  /usr/bin/time -f "%M" -o "$tmp/arss$secs" "$bin" verify "$tmp/a$secs.mp4" --live-video "$tmp/lv-act.json" --format json >/dev/null
  echo "peak RSS with actions, ${secs} s video: $(cat "$tmp/arss$secs") KiB"
done
