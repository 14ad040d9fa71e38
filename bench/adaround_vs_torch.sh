#!/usr/bin/env bash
# qsim's AdaRound against the PyTorch implementation of the same algorithm
# (tools/adaround_torch.py, AIMET's way), issue #4.
#
#   bench/adaround_vs_torch.sh [--model NAME|PATH] [--samples N] [--iterations I]
#       [--threads T] [--bits B] [--act-bits A] [--seed S] [--repeats R] [--build DIR]
#       [--calib FILE.npy] [--memory-budget MB]
#
# Defaults: resnet_fmnist, 1024 samples, 10000 iterations, 1 thread, 4-bit per-channel
# weights, 8-bit activations (0: none), seed 0, 1 repeat, build dir build/ (targets qsim_cli,
# qsim_fmnist_eval, bench_sgemm_peak). Needs /usr/bin/python3 with python3-torch, python3-onnx.
#
# Both sides get the same model, the same calibration images (the first N Fashion-MNIST
# training images, written once by the torch side), bit width, iterations, seed and thread
# count. Each repeat runs torch, then qsim, back to back; times are medians over repeats.
# Times are AdaRound alone: the torch side's own clock (layer caching and optimization), and
# qsim's "adaround: ... <seconds> s ..." stats line on stderr (falling back to the whole
# `qsim quantize` wall time, marked as such, when the line is missing).
# Accuracy: top-1 over the 10000 test images of each side's AdaRounded weights with float
# activations (A32; qsim: its exported model.onnx through qsim_fmnist_eval) and with
# MinMax-calibrated activations (qsim: `qsim run --encodings` on its own export).
# CPU seconds (user + system) are printed too, as a check on the wall times when the shared
# machine is loaded: the torch side's for AdaRound alone, qsim's for the whole command.
# Targets (issue #4): torch / qsim time >= 10 at |top-1 difference| <= 0.3 points.
# Also prints the GFLOP/s of qsim's AdaRound inner loop (from its stats line) against the
# OpenBLAS sgemm peak (bench_sgemm_peak) on the same thread count.
#
# --calib FILE.npy (timing mode, issue 24): both sides take the first N samples of FILE.npy
# instead of Fashion-MNIST, and no top-1 is measured (the model need not be a Fashion-MNIST
# classifier: the ImageNet-sized scale models and tools/make_scale_models.py's calibration
# sets); then the speed target alone decides the exit status. It also prints each side's
# peak RSS and the per-layer times (torch: caching + optimization from its JSON; qsim: the
# "adaround: <layer> ..." progress lines, when it prints them). --memory-budget MB passes
# qsim's --memory-budget (cached samples held in memory; the rest go to a temporary file).
# Exit status: 0 when the targets are met, 1 when not, 2 on a usage or run error.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=/usr/bin/python3
MODEL=resnet_fmnist
SAMPLES=1024
ITERATIONS=10000
THREADS=1
BITS=4
ACT_BITS=8
SEED=0
REPEATS=1
BUILD=$SRC/build
CALIB=
MEMORY_BUDGET=
SPEED_TARGET=10
ACCURACY_TOLERANCE=0.3

die() {
  echo "adaround_vs_torch: $*" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || die "$1 needs a value (see the header of $0)"
  case "$1" in
    --model) MODEL=$2 ;;
    --samples) SAMPLES=$2 ;;
    --iterations) ITERATIONS=$2 ;;
    --threads) THREADS=$2 ;;
    --bits) BITS=$2 ;;
    --act-bits) ACT_BITS=$2 ;;
    --seed) SEED=$2 ;;
    --repeats) REPEATS=$2 ;;
    --build) BUILD=$2 ;;
    --calib) CALIB=$2 ;;
    --memory-budget) MEMORY_BUDGET=$2 ;;
    *) die "unknown option '$1' (see the header of $0)" ;;
  esac
  shift 2
done

case "$MODEL" in
  */* | *.onnx) ONNX=$MODEL ;;
  *) ONNX=$SRC/models/$MODEL.onnx ;;
esac
[ -f "$ONNX" ] || die "no model '$ONNX'"
BASENAME=$(basename "$ONNX" .onnx)
QSIM=$BUILD/src/qsim
EVAL=$BUILD/tools/compare/qsim_fmnist_eval
SGEMM=$BUILD/bench/bench_sgemm_peak
TOOLS=("$QSIM" "$SGEMM" /usr/bin/time)
[ -n "$CALIB" ] || TOOLS+=("$EVAL")
[ -z "$CALIB" ] || [ -f "$CALIB" ] || die "no calibration file '$CALIB'"
for tool in "${TOOLS[@]}"; do
  [ -x "$tool" ] || die "$tool is not built"
done

usage=$("$QSIM" --help 2>&1 || true)
[[ $usage == *--adaround* ]] || die "$QSIM has no 'quantize --adaround' yet"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# json FILE EXPRESSION: a value from a JSON file (EXPRESSION in Python, the object is `j`).
json() {
  "$PYTHON" -c "import json, sys; j = json.load(open(sys.argv[1])); print($2)" "$1"
}

median() {
  "$PYTHON" -c "import statistics, sys
print('%.3f' % statistics.median(map(float, sys.argv[1:])))" "$@"
}

now() { date +%s.%N; }

run_torch() {
  echo "== torch: $BASENAME, $ITERATIONS iterations, $SAMPLES samples, $THREADS thread(s)" >&2
  local data=(--write-calib "$WORK/calib.npy")
  [ -z "$CALIB" ] || data=(--calib "$CALIB" --no-eval)
  /usr/bin/time -f %M -o "$WORK/torch.rss" "$PYTHON" "$SRC/tools/adaround_torch.py" "$ONNX" \
    --samples "$SAMPLES" --iterations "$ITERATIONS" --bits "$BITS" --act-bits "$ACT_BITS" \
    --threads "$THREADS" --seed "$SEED" "${data[@]}" >"$WORK/torch.json" ||
    die "tools/adaround_torch.py failed"
  json "$WORK/torch.json" 'j["adaround_seconds"]'
}

# Prints the AdaRound seconds (from the stats line, else the command's wall time).
run_qsim() {
  echo "== qsim: $BASENAME, $ITERATIONS iterations, $SAMPLES samples, $THREADS thread(s)" >&2
  local act_bits=$ACT_BITS
  [ "$act_bits" -gt 0 ] || act_bits=8 # qsim always calibrates; A32 is read from model.onnx
  rm -rf "$WORK/qsim"
  local start
  start=$(now)
  local calib=${CALIB:-$WORK/calib.npy} budget=()
  [ -z "$MEMORY_BUDGET" ] || budget=(--memory-budget "$MEMORY_BUDGET")
  if ! /usr/bin/time -f '%U %S %M' -o "$WORK/qsim.cpu" "$QSIM" quantize "$ONNX" \
    --calib "$calib" "${budget[@]}" --weight-bits "$BITS" --act-bits "$act_bits" --per-channel \
    --calib-method minmax --adaround --adaround-iterations "$ITERATIONS" \
    --adaround-samples "$SAMPLES" --seed "$SEED" --threads "$THREADS" --out "$WORK/qsim" \
    >"$WORK/qsim.out" 2>"$WORK/qsim.err"; then
    tail -n 5 "$WORK/qsim.err" >&2
    die "qsim quantize --adaround failed"
  fi
  local wall
  wall=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
  stats_line >"$WORK/qsim.stats"
  if [ -s "$WORK/qsim.stats" ]; then
    awk '{ for (i = 2; i <= NF; ++i) if ($i == "s,") print $(i - 1) }' "$WORK/qsim.stats"
  else
    echo "$wall"
  fi
}

# qsim's final "adaround: <layers> layers, <iterations> iterations, <s> s, <gflop> GFLOP,
# <gflops> GFLOP/s" line, if it printed one.
stats_line() {
  tr '\r' '\n' <"$WORK/qsim.err" | grep -E '^adaround: .* GFLOP/s' | tail -n 1 || true
}

# top1_of_logits FILE: top-1 in percent of [10000,10] logits against the test labels.
top1_of_logits() {
  "$PYTHON" - "$1" "$SRC/tools" <<'EOF'
import sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from adaround_torch import fmnist_labels
labels = fmnist_labels("t10k").numpy()
print("%.2f" % (100.0 * np.mean(np.load(sys.argv[1]).argmax(1) == labels)))
EOF
}

qsim_top1_a32() {
  "$EVAL" "$WORK/qsim/$BASENAME.onnx" --threads "$THREADS" |
    sed -n 's/^qsim top-1: \([0-9.]*\)%.*/\1/p'
}

qsim_top1_quantized() {
  "$PYTHON" - "$WORK/test.npy" "$SRC/tools" <<'EOF'
import sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from adaround_torch import fmnist_images
np.save(sys.argv[1], fmnist_images("t10k").numpy())
EOF
  "$QSIM" run "$WORK/qsim/$BASENAME.onnx" --encodings "$WORK/qsim/$BASENAME.encodings.json" \
    --input "$WORK/test.npy" --output "$WORK/sim" --threads "$THREADS" >/dev/null
  top1_of_logits "$WORK/sim/logits.npy"
}

torch_times=()
qsim_times=()
for ((r = 1; r <= REPEATS; ++r)); do
  seconds=$(run_torch) # an assignment of its own, so that set -e stops on failure
  torch_times+=("$seconds")
  seconds=$(run_qsim)
  qsim_times+=("$seconds")
done
torch_s=$(median "${torch_times[@]}")
qsim_s=$(median "${qsim_times[@]}")
stats=$(stats_line)
qsim_clock="stats line"
[ -n "$stats" ] || qsim_clock="whole qsim quantize command: no stats line"

# The Fashion-MNIST report: times, then top-1 of each side's AdaRounded weights.
accuracy_report() {
  torch_a32=$(json "$WORK/torch.json" "'%.2f' % j['top1']['adaround']['a32']")
  qsim_a32=$(qsim_top1_a32)
  [ -n "$qsim_a32" ] || die "qsim_fmnist_eval printed no top-1"

  diff_a32=$(awk -v t="$torch_a32" -v q="$qsim_a32" 'BEGIN { printf "%+.2f", q - t }')

  echo
  echo "model $BASENAME: W${BITS} per-channel, $SAMPLES samples, $ITERATIONS iterations," \
    "$THREADS thread(s), seed $SEED, $REPEATS repeat(s)"
  printf '%-28s %12s %12s %14s\n' "" torch qsim "torch/qsim, qsim-torch"
  printf '%-28s %12s %12s %13sx\n' "AdaRound seconds (median)" "$torch_s" "$qsim_s" "$ratio"
  printf '%-28s %12s %12s %14s\n' "top-1 W${BITS}A32 AdaRound %" "$torch_a32" "$qsim_a32" "$diff_a32"
  diff_quantized=$diff_a32
  if [ "$ACT_BITS" -gt 0 ]; then
    torch_quantized=$(json "$WORK/torch.json" "'%.2f' % j['top1']['adaround']['a$ACT_BITS']")
    qsim_quantized=$(qsim_top1_quantized)
    diff_quantized=$(awk -v t="$torch_quantized" -v q="$qsim_quantized" \
      'BEGIN { printf "%+.2f", q - t }')
    printf '%-28s %12s %12s %14s\n' "top-1 W${BITS}A${ACT_BITS} AdaRound %" "$torch_quantized" \
      "$qsim_quantized" "$diff_quantized"
  fi
  printf '%-28s %12s %12s\n' "CPU seconds (last repeat)" \
    "$(json "$WORK/torch.json" 'j["adaround_cpu_seconds"]')" \
    "$(awk '{ printf "%.2f", $1 + $2 }' "$WORK/qsim.cpu")"
  printf '%-28s %12s\n' "top-1 float %" "$(json "$WORK/torch.json" "'%.2f' % j['top1']['float']")"
  printf '%-28s %12s\n' "top-1 W${BITS}A32 nearest %" \
    "$(json "$WORK/torch.json" "'%.2f' % j['top1']['nearest']['a32']")"
  echo "qsim seconds from: $qsim_clock; qsim CPU seconds: whole qsim quantize command"
  echo "torch times: ${torch_times[*]}; qsim times: ${qsim_times[*]}"
}

# The timing report (--calib): seconds in total and per layer, peak RSS; no accuracy.
timing_report() {
  local layers
  layers=$(json "$WORK/torch.json" 'j["layers"]')
  diff_a32=+0.00
  diff_quantized=+0.00
  echo
  echo "model $BASENAME: W${BITS} per-channel, $SAMPLES samples of $CALIB, $ITERATIONS" \
    "iterations, $THREADS thread(s), seed $SEED, $REPEATS repeat(s), memory budget" \
    "${MEMORY_BUDGET:-default} MB, $layers layers"
  printf '%-30s %12s %12s %14s\n' "" torch qsim "torch/qsim"
  printf '%-30s %12s %12s %13sx\n' "AdaRound seconds (median)" "$torch_s" "$qsim_s" "$ratio"
  printf '%-30s %12s %12s\n' "seconds per layer (mean)" \
    "$(awk -v t="$torch_s" -v n="$layers" 'BEGIN { printf "%.3f", t / n }')" \
    "$(awk -v t="$qsim_s" -v n="$layers" 'BEGIN { printf "%.3f", t / n }')"
  printf '%-30s %12s %12s\n' "CPU seconds (last repeat)" \
    "$(json "$WORK/torch.json" 'j["adaround_cpu_seconds"]')" \
    "$(awk '{ printf "%.2f", $1 + $2 }' "$WORK/qsim.cpu")"
  printf '%-30s %12s %12s\n' "peak RSS MB (last repeat)" \
    "$(awk '{ printf "%.0f", $1 / 1024 }' "$WORK/torch.rss")" \
    "$(awk '{ printf "%.0f", $3 / 1024 }' "$WORK/qsim.cpu")"
  echo "torch per layer (cache + optimize seconds, last repeat):"
  json "$WORK/torch.json" '"\n".join("  %-48s %7.2f %8.2f" % (l["layer"], l["cache_seconds"], l["optimize_seconds"]) for l in j["per_layer"])'
  echo "qsim seconds from: $qsim_clock; qsim CPU seconds and RSS: whole qsim quantize command"
  echo "torch times: ${torch_times[*]}; qsim times: ${qsim_times[*]}"
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}

ratio=$(awk -v t="$torch_s" -v q="$qsim_s" 'BEGIN { printf "%.2f", t / q }')
if [ -n "$CALIB" ]; then
  timing_report
else
  accuracy_report
fi
peak=$("$SGEMM" --threads "$THREADS" --repeats 5 --seconds 0.1 |
  sed -n 's/^sgemm peak: .*: \([0-9.]*\) GFLOP\/s.*/\1/p')
inner=$(echo "$stats" | sed -n 's/.*, \([0-9.]*\) GFLOP\/s.*/\1/p')
if [ -n "$inner" ]; then
  echo "qsim AdaRound inner loop: $inner GFLOP/s = $(awk -v a="$inner" -v p="$peak" \
    'BEGIN { printf "%.0f", 100 * a / p }')% of OpenBLAS sgemm peak ($peak GFLOP/s," \
    "$THREADS thread(s))"
else
  echo "qsim AdaRound inner loop: n/a GFLOP/s (no stats line); OpenBLAS sgemm peak" \
    "$peak GFLOP/s ($THREADS thread(s))"
fi

met=yes
awk -v r="$ratio" -v t=$SPEED_TARGET 'BEGIN { exit !(r >= t) }' || met=no
for d in "$diff_a32" "$diff_quantized"; do
  awk -v d="$d" -v tol=$ACCURACY_TOLERANCE 'BEGIN { exit !(d <= tol && d >= -tol) }' || met=no
done
echo "targets (>= ${SPEED_TARGET}x faster, top-1 within $ACCURACY_TOLERANCE points): $met"
[ "$met" = yes ]
