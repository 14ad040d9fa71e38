#!/usr/bin/env bash
# Peak resident memory of `qsim quantize` as the calibration set grows (issue #3).
#
#   bench/quantize_rss.sh [BUILD_DIR]      (default: build; needs targets qsim_cli, make_calib_npy)
#
# Writes the first 1000 and 10000 Fashion-MNIST training images as float32 [N,1,28,28] .npy
# calibration sets, runs `qsim quantize --per-channel` on both reference models with every
# histogram calibration method (and minmax for reference), and prints the peak RSS
# (/usr/bin/time %M) at each size with its growth. Histogram observers are fixed-size and the
# CLI streams the .npy one batch at a time, so the growth must stay under 10 %; the exit
# status is 1 when any row fails.
#
# The batch size divides both set sizes, so every batch has the same shape and the figures
# compare like with like. (The engine's plans share one arena sized for the largest batch, so
# a short last batch would add no arena either.)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
QSIM=$BUILD/src/qsim
MAKE_CALIB=$BUILD/samples/c/make_calib_npy
SMALL=1000
LARGE=10000
MAX_GROWTH_PCT=10
BATCH=100
METHODS=(minmax tf_enhanced percentile entropy mse)
MODELS=(resnet_fmnist mobilenet_fmnist)

[ -x /usr/bin/time ] || { echo "quantize_rss: needs GNU time (Debian package 'time')" >&2; exit 2; }
for tool in "$QSIM" "$MAKE_CALIB"; do
  [ -x "$tool" ] || { echo "quantize_rss: $tool is not built" >&2; exit 2; }
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for n in $SMALL $LARGE; do "$MAKE_CALIB" "$WORK/calib_$n.npy" "$n"; done

# peak_rss_kb MODEL METHOD N: the peak RSS in KiB of one quantize run.
peak_rss_kb() {
  local out=$WORK/out_$1_$2_$3
  if ! /usr/bin/time -f %M -o "$WORK/rss" "$QSIM" quantize "$SRC/models/$1.onnx" \
    --calib "$WORK/calib_$3.npy" --calib-method "$2" --per-channel --batch-size $BATCH \
    --out "$out" >"$WORK/log" 2>&1; then
    echo "quantize_rss: qsim quantize failed for $1 $2 $3:" >&2
    cat "$WORK/log" >&2
    exit 1
  fi
  rm -rf "$out"
  tail -n 1 "$WORK/rss"
}

failures=0
printf '%-18s %-12s %12s %12s %8s %s\n' model method "rss_${SMALL}_kb" "rss_${LARGE}_kb" growth% verdict
for model in "${MODELS[@]}"; do
  for method in "${METHODS[@]}"; do
    small=$(peak_rss_kb "$model" "$method" $SMALL)
    large=$(peak_rss_kb "$model" "$method" $LARGE)
    growth=$(awk -v a="$small" -v b="$large" 'BEGIN { printf "%.1f", 100 * (b - a) / a }')
    verdict=PASS
    if awk -v g="$growth" -v m=$MAX_GROWTH_PCT 'BEGIN { exit !(g >= m) }'; then
      verdict=FAIL
      failures=$((failures + 1))
    fi
    printf '%-18s %-12s %12s %12s %8s %s\n' "$model" "$method" "$small" "$large" "$growth" "$verdict"
  done
done
exit $((failures > 0))
