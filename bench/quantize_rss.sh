#!/usr/bin/env bash
# Peak resident memory of `qsim quantize` as the calibration set grows (issues #3 and #24).
#
#   bench/quantize_rss.sh [BUILD_DIR] [--scale] [--methods m1,m2] [--models n1,n2]
#                         [--threads T] [--batch B]
#
# BUILD_DIR defaults to build; it needs target qsim_cli (and make_calib_npy without --scale).
#
# Without --scale: writes the first 1000 and 10000 Fashion-MNIST training images as float32
# [N,1,28,28] .npy calibration sets and runs `qsim quantize --per-channel` on both reference
# models (models/NAME.onnx) with every histogram calibration method (and minmax for
# reference), batch 100.
#
# With --scale (issue 24): the ImageNet-sized models BUILD_DIR/bench/scale_models/
# {mobilenetv2,resnet50}_224.onnx (made by tools/make_scale_models.py if absent) on 1000 and
# 10000 Fashion-MNIST images upsampled to [3,224,224] (written by the same tool chunk by
# chunk into BUILD_DIR/bench/scale_models/calib_N.npy and kept there for later runs: the
# 10000-image set is 6 GB), methods minmax and tf_enhanced, batch 50.
#
# Prints, per model and method, the peak RSS (/usr/bin/time %M) and the wall seconds of the
# whole command at each size, the RSS growth, and the calibration seconds per 1000 samples
# ((wall_10000 - wall_1000) / 9: the loading, planning and export cost cancels). Histogram
# observers are fixed-size and the CLI streams the .npy one batch at a time (the data source
# reads it with ordinary reads, no memory map), so the growth must stay under 10 %; the exit
# status is 1 when any row fails.
#
# The batch size divides both set sizes, so every batch has the same shape and the figures
# compare like with like. (The engine's plans share one arena sized for the largest batch, so
# a short last batch would add no arena either.)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$SRC/build
SCALE=no
METHODS_OPT=
MODELS_OPT=
THREADS=
BATCH=
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE=yes ;;
    --methods | --models | --threads | --batch)
      [ $# -ge 2 ] || { echo "quantize_rss: $1 needs a value" >&2; exit 2; }
      case "$1" in
        --methods) METHODS_OPT=$2 ;;
        --models) MODELS_OPT=$2 ;;
        --threads) THREADS=$2 ;;
        --batch) BATCH=$2 ;;
      esac
      shift ;;
    -*) echo "quantize_rss: unknown option '$1' (see the header of $0)" >&2; exit 2 ;;
    *) BUILD=$1 ;;
  esac
  shift
done
BUILD=$(cd "$BUILD" && pwd)
QSIM=$BUILD/src/qsim
MAKE_CALIB=$BUILD/samples/c/make_calib_npy
SCALE_DIR=$BUILD/bench/scale_models
SMALL=1000
LARGE=10000
MAX_GROWTH_PCT=10
if [ $SCALE = yes ]; then
  : "${BATCH:=50}"
  METHODS=(minmax tf_enhanced)
  MODELS=(mobilenetv2_224 resnet50_224)
else
  : "${BATCH:=100}"
  METHODS=(minmax tf_enhanced percentile entropy mse)
  MODELS=(resnet_fmnist mobilenet_fmnist)
fi
[ -z "$METHODS_OPT" ] || IFS=, read -r -a METHODS <<<"$METHODS_OPT"
[ -z "$MODELS_OPT" ] || IFS=, read -r -a MODELS <<<"$MODELS_OPT"

[ -x /usr/bin/time ] || { echo "quantize_rss: needs GNU time (Debian package 'time')" >&2; exit 2; }
TOOLS=("$QSIM")
[ $SCALE = yes ] || TOOLS+=("$MAKE_CALIB")
for tool in "${TOOLS[@]}"; do
  [ -x "$tool" ] || { echo "quantize_rss: $tool is not built" >&2; exit 2; }
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [ $SCALE = yes ]; then
  MODEL_DIR=$SCALE_DIR
  CALIB_DIR=$SCALE_DIR
  for model in "${MODELS[@]}"; do
    [ -f "$SCALE_DIR/$model.onnx" ] ||
      /usr/bin/python3 "$SRC/tools/make_scale_models.py" "$SCALE_DIR" --models "${model%_224}"
  done
  for n in $SMALL $LARGE; do
    [ -f "$SCALE_DIR/calib_$n.npy" ] ||
      /usr/bin/python3 "$SRC/tools/make_scale_models.py" "$SCALE_DIR" --calib "calib_$n.npy" \
        --samples "$n"
  done
else
  MODEL_DIR=$SRC/models
  CALIB_DIR=$WORK
  for n in $SMALL $LARGE; do "$MAKE_CALIB" "$WORK/calib_$n.npy" "$n"; done
fi

# rss_and_seconds MODEL METHOD N: "<peak RSS KiB> <wall seconds>" of one quantize run.
rss_and_seconds() {
  local out=$WORK/out_$1_$2_$3 threads=()
  [ -z "$THREADS" ] || threads=(--threads "$THREADS")
  if ! /usr/bin/time -f '%M %e' -o "$WORK/rss" "$QSIM" quantize "$MODEL_DIR/$1.onnx" \
    --calib "$CALIB_DIR/calib_$3.npy" --calib-method "$2" --per-channel --batch-size "$BATCH" \
    "${threads[@]}" --out "$out" >"$WORK/log" 2>&1; then
    echo "quantize_rss: qsim quantize failed for $1 $2 $3:" >&2
    cat "$WORK/log" >&2
    exit 1
  fi
  rm -rf "$out"
  tail -n 1 "$WORK/rss"
}

failures=0
echo "batch $BATCH, threads ${THREADS:-default (all cores)}, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-18s %-12s %12s %12s %8s %9s %9s %12s %s\n' model method "rss_${SMALL}_kb" \
  "rss_${LARGE}_kb" growth% "s_$SMALL" "s_$LARGE" s_per_1000 verdict
for model in "${MODELS[@]}"; do
  for method in "${METHODS[@]}"; do
    result=$(rss_and_seconds "$model" "$method" $SMALL) # set -e stops on a failed run
    read -r small small_s <<<"$result"
    result=$(rss_and_seconds "$model" "$method" $LARGE)
    read -r large large_s <<<"$result"
    growth=$(awk -v a="$small" -v b="$large" 'BEGIN { printf "%.1f", 100 * (b - a) / a }')
    per_1000=$(awk -v a="$small_s" -v b="$large_s" -v n=$((LARGE - SMALL)) \
      'BEGIN { printf "%.1f", 1000 * (b - a) / n }')
    verdict=PASS
    if awk -v g="$growth" -v m=$MAX_GROWTH_PCT 'BEGIN { exit !(g >= m) }'; then
      verdict=FAIL
      failures=$((failures + 1))
    fi
    printf '%-18s %-12s %12s %12s %8s %9s %9s %12s %s\n' "$model" "$method" "$small" "$large" \
      "$growth" "$small_s" "$large_s" "$per_1000" "$verdict"
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $((failures > 0))
