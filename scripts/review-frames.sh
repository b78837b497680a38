#!/usr/bin/env bash
# Contact sheet of every frame of a clip between two times, each stamped with its time, for
# checking a detected event (or an annotation) by eye.
#
#   bash scripts/review-frames.sh VIDEO FROM TO [OUT.png] [CROP]
#
# CROP is FFmpeg's w:h:x:y in source pixels (for example the band across the eyes); without
# it whole frames are shown. Prints the sheet's path. tests/data/reviewed_events.json was
# checked this way.
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 VIDEO FROM TO [OUT.png] [CROP w:h:x:y]" >&2
    exit 2
fi
video=$1 from=$2 to=$3
out=${4:-review-$(basename "${video%.*}")-$from-$to.png}
crop=${5:-}
[ -f "$video" ] || { echo "no such file: $video" >&2; exit 2; }

rate=$(ffprobe -v error -select_streams v:0 -show_entries stream=r_frame_rate -of csv=p=0 "$video")
frames=$(awk -v a="$from" -v b="$to" -v r="$rate" 'BEGIN {
    split(r, q, "/"); fps = q[1] / (q[2] ? q[2] : 1); n = int((b - a) * fps + 0.5);
    if (n < 1) n = 1; print n }')
columns=6
rows=$(((frames + columns - 1) / columns))
filters="scale=320:-2"
[ -n "$crop" ] && filters="crop=$crop,$filters"
ffmpeg -v error -y -ss "$from" -to "$to" -copyts -i "$video" -vf \
    "$filters,drawtext=text='%{pts\:flt}':x=4:y=4:fontsize=16:fontcolor=yellow:box=1:boxcolor=black,tile=${columns}x${rows}" \
    -frames:v 1 "$out"
echo "$out"
